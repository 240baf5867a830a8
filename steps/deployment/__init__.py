"""Serving: what the stack's model deployer needs to serve a registered model."""
