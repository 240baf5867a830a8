"""What the deployment e2e tests read back: a free port, stages, the local MLflow store.

Shared by test_deploy.py and test_canary.py, which each drive one model's
history through run.py and check what ZenML and MLflow then say.
"""

from __future__ import annotations

import socket

from mlflow import MlflowClient
from zenml.client import Client


def free_port() -> int:
    """A port nothing listens on now (the endpoint of one test module)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stages(model: str) -> dict[str, str]:
    """Version number -> ZenML stage ("none" when unset) of every version of ``model``."""
    versions = Client().list_model_versions(model=model, size=100)
    return {str(v.number): str(v.stage or "none") for v in versions.items}


def local_tracking_uri() -> str:
    """The local stack's MLflow store: where run.py's steps register the versions."""
    client = Client()
    if client.active_stack_model.name != "local":
        client.activate_stack("local")
    tracker = client.active_stack.experiment_tracker
    assert tracker is not None
    return str(tracker.get_tracking_uri())  # type: ignore[attr-defined]


def local_mlflow() -> MlflowClient:
    """A client on :func:`local_tracking_uri`."""
    return MlflowClient(local_tracking_uri())
