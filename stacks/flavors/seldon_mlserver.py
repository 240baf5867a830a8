"""A Seldon model deployer flavor whose deployments say ``protocol: v2`` (MLServer).

ZenML 0.98's Seldon deployer never sets ``spec.protocol``; Seldon Core then
uses its default ``seldon`` protocol, which serves ``MLFLOW_SERVER`` with the
old Seldon-protocol MLflow server instead of MLServer, and our clients speak
the V2 inference protocol. This flavor is ZenML's own deployer with one
change: the client it talks to the cluster with stamps ``spec.protocol: v2`` on
every SeldonDeployment it creates or updates. Everything else (the manifest,
the storage secret, service bookkeeping) is ZenML's code, unchanged.

Register it once per ZenML store, before a stack that uses ``flavor: seldon_mlserver``::

    zenml model-deployer flavor register stacks.flavors.seldon_mlserver.SeldonMLServerModelDeployerFlavor
"""

from __future__ import annotations

from typing import ClassVar

from zenml.integrations.seldon.flavors import SeldonModelDeployerFlavor
from zenml.integrations.seldon.model_deployers import SeldonModelDeployer
from zenml.integrations.seldon.seldon_client import SeldonClient, SeldonDeployment
from zenml.model_deployers import BaseModelDeployerFlavor

FLAVOR_NAME = "seldon_mlserver"
FLAVOR_SOURCE = f"{__name__}.SeldonMLServerModelDeployerFlavor"
#: The Seldon Core data plane that runs prepackaged servers on MLServer.
PROTOCOL = "v2"


class MLServerSeldonClient(SeldonClient):
    """ZenML's Seldon client, except that every deployment it applies uses protocol v2."""

    @classmethod
    def from_client(cls, client: SeldonClient) -> MLServerSeldonClient:
        """The same cluster connection and namespace as ``client``, which ZenML set up.

        Reusing its Kubernetes ApiClient keeps ZenML's choice between a service
        connector, an in-cluster config and a kubeconfig context. ZenML keeps
        that ApiClient only on its (private) API objects, hence the one
        private attribute read here.
        """
        api_client = client._custom_objects_api.api_client
        return cls(context=None, namespace=client.namespace, kube_client=api_client)

    def create_deployment(
        self, deployment: SeldonDeployment, poll_timeout: int = 0
    ) -> SeldonDeployment:
        """Create the deployment with ``spec.protocol`` set to v2."""
        deployment.spec.protocol = PROTOCOL
        return super().create_deployment(deployment, poll_timeout=poll_timeout)

    def update_deployment(
        self, deployment: SeldonDeployment, poll_timeout: int = 0
    ) -> SeldonDeployment:
        """Update the deployment with ``spec.protocol`` set to v2 (a rollout keeps MLServer)."""
        deployment.spec.protocol = PROTOCOL
        return super().update_deployment(deployment, poll_timeout=poll_timeout)


class SeldonMLServerModelDeployerFlavor(SeldonModelDeployerFlavor):
    """ZenML's Seldon flavor and config, with the protocol-v2 deployer as implementation."""

    @property
    def name(self) -> str:
        """The name stack files use: ``flavor: seldon_mlserver``."""
        return FLAVOR_NAME

    @property
    def implementation_class(self) -> type[SeldonMLServerModelDeployer]:
        """The deployer below."""
        return SeldonMLServerModelDeployer


class SeldonMLServerModelDeployer(SeldonModelDeployer):
    """ZenML's Seldon model deployer talking to the cluster through MLServerSeldonClient."""

    FLAVOR: ClassVar[type[BaseModelDeployerFlavor]] = SeldonMLServerModelDeployerFlavor

    @property
    def seldon_client(self) -> SeldonClient:
        """ZenML's client (connector, context and namespace handling), wrapped once."""
        client = super().seldon_client
        if not isinstance(client, MLServerSeldonClient):
            client = MLServerSeldonClient.from_client(client)
            self._client = client
        return client
