"""Local serving: HAProxy in front of MLflow prediction servers, through the stack's deployer."""
