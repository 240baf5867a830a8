"""The deployment's modelUri is where MLflow keeps the files, and only if a pod can fetch
them: a model stored on the MLflow server's disk or behind its artifact proxy is refused
with a message saying what to change, instead of a pod failing in its init container."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient

from stacks.flavors.seldon_config import ModelNotInObjectStorageError, model_storage_uri


def _register(source: str) -> tuple[str, str]:
    """A registry version whose files MLflow says are at ``source`` (real registry)."""
    client = MlflowClient()
    name = f"storage-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    return name, str(client.create_model_version(name, source=source).version)


def test_an_object_store_uri_is_passed_through() -> None:
    name, version = _register("s3://fraudops-artifacts/mlflow/models/m-1/artifacts")
    assert model_storage_uri(name, version) == "s3://fraudops-artifacts/mlflow/models/m-1/artifacts"


@pytest.mark.parametrize(
    "source",
    [
        "file:///srv/mlflow/artifacts/models/m-1/artifacts",
        "mlflow-artifacts:/1/models/m-1/artifacts",
    ],
    ids=["server-disk", "artifact-proxy"],
)
def test_a_uri_a_pod_cannot_fetch_is_refused(source: str) -> None:
    name, version = _register(source)
    with pytest.raises(ModelNotInObjectStorageError) as caught:
        model_storage_uri(name, version)
    message = str(caught.value)
    assert name in message and source in message and "--default-artifact-root" in message
