"""What ZenML's Seldon model deployer needs to serve a model from our MLflow registry.

Two facts shape it. First, a Seldon pod fetches the model itself: its storage
initializer copies ``graph.modelUri`` from object storage into ``/mnt/models``,
so the URI must be where MLflow really keeps the files (``s3://...``), not a
``models:/`` name or a ``mlflow-artifacts:/`` path only the MLflow server can
read. Second, MLflow models are served by Seldon's prepackaged
``MLFLOW_SERVER``, which with ``protocol: v2`` (set by the deployer flavor in
``stacks/flavors/seldon_mlserver.py``) is MLServer with its MLflow runtime,
under the model name ``classifier`` (the graph node ZenML always builds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

#: Seldon Core's prepackaged server for MLflow models.
MLFLOW_SERVER = "MLFLOW_SERVER"
#: URI schemes Seldon's rclone storage initializer can copy a model from.
STORAGE_SCHEMES = frozenset({"s3", "gs", "az"})


class ModelNotInObjectStorageError(ValueError):
    """The registered model lives where a Seldon pod cannot fetch it."""


def model_storage_uri(registered_model_name: str, version: str) -> str:
    """Where MLflow stores the files of a registered model version, as a pod can fetch them.

    Raises ModelNotInObjectStorageError naming the model and the URI when the
    files are not in object storage, which happens when the MLflow server
    proxies artifacts or stores them on its own disk.
    """
    from mlflow import MlflowClient

    uri = MlflowClient().get_model_version_download_uri(registered_model_name, version)
    scheme = urlsplit(uri).scheme
    if scheme not in STORAGE_SCHEMES:
        raise ModelNotInObjectStorageError(
            f"MLflow stores model {registered_model_name!r} version {version} at {uri!r}; a "
            f"Seldon pod can only fetch models from {sorted(STORAGE_SCHEMES)} URIs. Start the "
            "MLflow server with --default-artifact-root set to the artifact store's bucket and "
            "--no-serve-artifacts, then register the model again."
        )
    return uri


def seldon_deployment_config(
    model_name: str, storage_uri: str, replicas: int = 1, model_version: str = ""
) -> SeldonDeploymentConfig:
    """The service config to pass to the stack's Seldon model deployer ``deploy_model``.

    ``secret_name`` stays empty on purpose: the deployer then creates the
    Kubernetes secret for the storage initializer from the ZenML secret its
    stack component names, so credentials live in one place. ``model_version``
    (the ZenML version number) links the service to that ZenML model version
    and names the version's own SeldonDeployment (see seldon_mlserver.py).
    """
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    return SeldonDeploymentConfig(
        model_name=model_name,
        model_version=model_version,
        model_uri=storage_uri,
        implementation=MLFLOW_SERVER,
        replicas=replicas,
        parameters=None,
        resources=None,
        secret_name=None,
    )
