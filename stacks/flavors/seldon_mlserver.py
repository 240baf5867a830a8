"""A Seldon model deployer flavor whose deployments say ``protocol: v2`` (MLServer).

ZenML 0.98's Seldon deployer never sets ``spec.protocol``; Seldon Core then
uses its default ``seldon`` protocol, which serves ``MLFLOW_SERVER`` with the
old Seldon-protocol MLflow server instead of MLServer, and our clients speak
the V2 inference protocol. This flavor is ZenML's own deployer with one
change: the client it talks to the cluster with stamps ``spec.protocol: v2`` on
every SeldonDeployment it creates or updates. Everything else (the manifest,
the storage secret, service bookkeeping) is ZenML's code, unchanged.

It is also the project's :class:`~stacks.flavors.traffic.TrafficSplitter` on
a cluster, mapped onto Seldon Core like this:

- each served version is its own SeldonDeployment ``<model>-v<version>``,
  deployed through ZenML's ``deploy_model`` (so ZenML tracks it as a service);
  its URL is the version's own server, for smoke tests;
- the model's stable endpoint is one SeldonDeployment ``<model>`` whose
  predictors (``v<version>``) carry the weighted versions, each with Seldon's
  ``traffic`` share. ZenML's manifest model has no ``traffic`` field and one
  predictor only, so the flavor builds that manifest itself, from the graphs of
  the versions' own deployments, and replaces it to change the weights;
- the canary's figures (``traffic_counters``) are what Seldon's executor
  exports to Prometheus for the endpoint's predictors, read from the
  ``prometheus_url`` the component is configured with (``seldon_metrics.py``).

Register it once per ZenML store, before a stack that uses ``flavor: seldon_mlserver``::

    zenml model-deployer flavor register stacks.flavors.seldon_mlserver.SeldonMLServerModelDeployerFlavor
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from zenml.integrations.seldon.flavors import SeldonModelDeployerConfig, SeldonModelDeployerFlavor
from zenml.integrations.seldon.model_deployers import SeldonModelDeployer
from zenml.integrations.seldon.seldon_client import SeldonClient, SeldonDeployment
from zenml.integrations.seldon.services import SeldonDeploymentService
from zenml.model_deployers import BaseModelDeployerFlavor

from stacks.flavors import seldon_metrics
from stacks.flavors.seldon_config import model_storage_uri, seldon_deployment_config
from stacks.flavors.traffic import (
    Backend,
    EndpointSettings,
    Interruption,
    ServingError,
    SplitterMissingError,
    TrafficCounters,
    VersionToServe,
)

FLAVOR_NAME = "seldon_mlserver"
FLAVOR_SOURCE = f"{__name__}.SeldonMLServerModelDeployerFlavor"
#: The Seldon Core data plane that runs prepackaged servers on MLServer.
PROTOCOL = "v2"
#: Seldon's custom resource, as the Kubernetes API addresses it.
SDEP_GROUP, SDEP_VERSION, SDEP_PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"
#: Labels the flavor finds its deployments by: the model, and what the deployment is.
MODEL_LABEL, ROLE_LABEL, VERSION_LABEL = "fraudops/model", "fraudops/role", "fraudops/version"
ROLE_ENDPOINT, ROLE_VERSION = "endpoint", "version"
#: Annotations of the endpoint manifest: the roll-out in progress, and ones that were cut off.
LEASE_ANNOTATION = "fraudops/rollout-lease"
INTERRUPTED_ANNOTATION = "fraudops/interrupted"
#: MLServer's V2 path for the graph node ZenML always names ``classifier``.
INFER_PATH = "v2/models/classifier/infer"
#: ZenML model version run metadata holding the MLflow registry version (steps/registry).
MLFLOW_VERSION_KEY = "mlflow_registered_version"
#: Longest Kubernetes name Seldon can derive its Services from (a DNS-1035 label).
MAX_NAME = 63


def k8s_name(*parts: str) -> str:
    """A DNS-1035 label from ``parts`` (lowercase, ``-``-joined, at most 63 characters).

    Seldon names Services after the deployment, so the name must be a valid
    label; a name too long keeps a hash of the full text so two long model
    names cannot end up on the same deployment.
    """
    text = "-".join(parts).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", text).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"
    return name


def endpoint_deployment_name(model_name: str) -> str:
    """The model's stable endpoint: one SeldonDeployment named after the model."""
    return k8s_name(model_name)


def version_deployment_name(model_name: str, version: str) -> str:
    """The SeldonDeployment serving one version on its own: ``<model>-v<version>``."""
    return k8s_name(model_name, f"v{version}")


def predictor_name(version: str) -> str:
    """The endpoint predictor carrying a version."""
    return k8s_name(f"v{version}")


def mlflow_version_from_uri(model_uri: str, model_name: str) -> str | None:
    """The registry version in ``models:/<model_name>/<number>``, else None (an alias,
    a stage or a ``runs:/`` URI names no version)."""
    match = re.fullmatch(r"models:/(.+)/(\d+)", model_uri)
    if match and match.group(1) == model_name:
        return match.group(2)
    return None


def mlflow_version_from_zenml(model_name: str, version: str) -> str:
    """The MLflow registry version that the registration step recorded on the ZenML version."""
    from zenml.client import Client

    try:
        metadata = Client().get_model_version(model_name, version).run_metadata
    except KeyError as error:
        raise ServingError(f"model {model_name!r} has no ZenML version {version!r}") from error
    value = metadata.get(MLFLOW_VERSION_KEY)
    if value is None:
        raise ServingError(
            f"model {model_name!r} version {version} has no {MLFLOW_VERSION_KEY!r} metadata: "
            "it was never registered in MLflow (did the training pipeline finish?)"
        )
    return str(getattr(value, "value", value))


def inference_url(base_url: str, namespace: str, deployment: str) -> str:
    """The V2 inference URL Seldon's ingress exposes for a deployment."""
    return f"{base_url.rstrip('/')}/seldon/{namespace}/{deployment}/{INFER_PATH}"


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

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        """One CustomObjectsApi call on SeldonDeployments; an API error becomes a
        ServingError carrying the server's message (a CRD rejection says which field)."""
        from kubernetes.client.rest import ApiException

        call = getattr(self._custom_objects_api, method)
        try:
            return call(
                group=SDEP_GROUP,
                version=SDEP_VERSION,
                namespace=self.namespace,
                plural=SDEP_PLURAL,
                **kwargs,
            )
        except ApiException as error:
            detail = error.body or error.reason
            with_message = json.loads(detail).get("message", detail) if _is_json(detail) else detail
            raise ServingError(
                f"{what}: the cluster answered {error.status}: {with_message}"
            ) from error

    def read_manifest(self, name: str) -> dict[str, Any] | None:
        """The SeldonDeployment as stored, every field kept (ZenML's model drops ``traffic``)."""
        from kubernetes.client.rest import ApiException

        try:
            found = self._custom_objects_api.get_namespaced_custom_object(
                SDEP_GROUP, SDEP_VERSION, self.namespace, SDEP_PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise ServingError(
                f"reading SeldonDeployment {name}: {error.status} {error.reason}"
            ) from error
        return cast(dict[str, Any], found)

    def list_manifests(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """SeldonDeployments in the namespace carrying every label given."""
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        found = self._call(
            "listing SeldonDeployments", "list_namespaced_custom_object", label_selector=selector
        )
        return list(found.get("items") or [])

    def apply_manifest(self, manifest: dict[str, Any]) -> None:
        """Create the SeldonDeployment, or replace the stored one (protocol v2 either way)."""
        body = copy.deepcopy(manifest)
        body["spec"]["protocol"] = PROTOCOL
        name = body["metadata"]["name"]
        stored = self.read_manifest(name)
        if stored is None:
            self._call(f"creating {name}", "create_namespaced_custom_object", body=body)
            return
        body["metadata"]["resourceVersion"] = stored["metadata"].get("resourceVersion")
        body["metadata"] = {k: v for k, v in body["metadata"].items() if v is not None}
        self._call(f"updating {name}", "replace_namespaced_custom_object", name=name, body=body)

    def delete_manifest(self, name: str) -> bool:
        """Delete the SeldonDeployment; False if there was none."""
        if self.read_manifest(name) is None:
            return False
        self._call(f"deleting {name}", "delete_namespaced_custom_object", name=name)
        return True


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (TypeError, ValueError):
        return False


class VersionDeploymentService(SeldonDeploymentService):
    """ZenML's Seldon service for one model version, under a name a person can read.

    ZenML names a deployment ``zenml-<service uuid>``; ours is
    ``<model>-v<version>`` so the cluster shows what it serves and serving a
    version twice finds the same deployment. ZenML reloads a service by its
    class's source, so these names hold after a restart too.
    """

    @property
    def seldon_deployment_name(self) -> str:
        """``<model>-v<version>`` (see :func:`version_deployment_name`)."""
        return version_deployment_name(self.config.model_name, self.config.model_version)

    def _get_seldon_deployment_labels(self) -> dict[str, str]:
        """ZenML's labels plus the flavor's, which ``backends`` selects versions by."""
        labels = super()._get_seldon_deployment_labels()
        labels[MODEL_LABEL] = endpoint_deployment_name(self.config.model_name)
        labels[ROLE_LABEL] = ROLE_VERSION
        labels[VERSION_LABEL] = self.config.model_version
        return labels

    @property
    def prediction_url(self) -> str | None:
        """The V2 inference URL (ZenML's would be the Seldon protocol's), once running."""
        if not self.is_running:
            return None
        deployer = cast(SeldonModelDeployer, SeldonModelDeployer.get_active_model_deployer())
        return inference_url(
            deployer.config.base_url, self._get_client().namespace, self.seldon_deployment_name
        )


class SeldonMLServerModelDeployerConfig(SeldonModelDeployerConfig):
    """ZenML's Seldon deployer config, plus where the canary reads the endpoint's figures.

    Seldon's ingress keeps no counters the flavor can read, so the figures
    come from Prometheus, which scrapes every predictor's executor. The URL
    must be reachable from wherever the deployment step runs (a pod, a
    SageMaker job, a laptop), hence a setting rather than a fixed in-cluster
    address. Unset, serving works and only ``traffic_counters`` refuses.

    ``secret`` and ``kubernetes_secret_name`` get a default of None here:
    ZenML declares them Optional with no default (so required), and
    ``zenml model-deployer update`` drops None values before validating the
    merged settings, so any update of a component that sets one of them to
    null (as our stack files do) failed with "Field required".
    """

    secret: str | None = None
    kubernetes_secret_name: str | None = None

    #: The Prometheus server's base URL, e.g. ``http://prometheus.seldon-system.svc:9090``.
    prometheus_url: str | None = None
    #: The window of the latency figure (a PromQL duration; at least 2 scrape intervals).
    prometheus_lookback: str = "2m"
    #: Seconds to wait for one Prometheus answer before the read is a ServingError.
    prometheus_timeout: float = Field(default=10.0, gt=0)

    @field_validator("prometheus_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host (a bare host name would fail only at the first read)."""
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(
                f"prometheus_url {value!r} must be an http:// or https:// URL with a host, "
                "e.g. http://prometheus.seldon-system.svc:9090"
            )
        return value

    @field_validator("prometheus_lookback")
    @classmethod
    def _duration(cls, value: str) -> str:
        """A PromQL duration (checked here so a typo fails at registration)."""
        return seldon_metrics.check_lookback(value)


class SeldonMLServerModelDeployerFlavor(SeldonModelDeployerFlavor):
    """ZenML's Seldon flavor with the Prometheus settings, and the protocol-v2 deployer."""

    @property
    def name(self) -> str:
        """The name stack files use: ``flavor: seldon_mlserver``."""
        return FLAVOR_NAME

    @property
    def config_class(self) -> type[SeldonMLServerModelDeployerConfig]:
        """ZenML's Seldon settings plus ``prometheus_url``/``_lookback``/``_timeout``."""
        return SeldonMLServerModelDeployerConfig

    @property
    def implementation_class(self) -> type[SeldonMLServerModelDeployer]:
        """The deployer below."""
        return SeldonMLServerModelDeployer


class SeldonMLServerModelDeployer(SeldonModelDeployer):
    """ZenML's Seldon model deployer talking to the cluster through MLServerSeldonClient,
    and the project's TrafficSplitter on Seldon Core (see the module docstring)."""

    FLAVOR: ClassVar[type[BaseModelDeployerFlavor]] = SeldonMLServerModelDeployerFlavor

    @property
    def config(self) -> SeldonMLServerModelDeployerConfig:
        """The component's settings, Prometheus's included."""
        return cast(SeldonMLServerModelDeployerConfig, self._config)

    @property
    def seldon_client(self) -> MLServerSeldonClient:
        """ZenML's client (connector, context and namespace handling), wrapped once."""
        client = super().seldon_client
        if not isinstance(client, MLServerSeldonClient):
            client = MLServerSeldonClient.from_client(client)
            self._client = client
        return client

    # --- TrafficSplitter ------------------------------------------------------------------

    def check_ready(self) -> None:
        """The cluster answers and Seldon Core's CRD is installed in the namespace.

        Listing SeldonDeployments checks both in one call: a cluster without
        Seldon Core answers 404 for the resource.
        """
        try:
            client = self.seldon_client
        except Exception as error:  # ZenML raises RuntimeError or SeldonClientError
            raise ServingError(f"cannot configure the Kubernetes client: {error}") from error
        try:
            client.list_manifests({ROLE_LABEL: ROLE_ENDPOINT})
        except ServingError as error:
            if " 404:" in str(error):
                raise SplitterMissingError(
                    f"Seldon Core is not installed on the cluster (namespace "
                    f"{client.namespace!r}): install Seldon Core v1 (helm install seldon-core "
                    "seldon-core-operator --repo https://storage.googleapis.com/seldon-charts)"
                ) from error
            raise
        except Exception as error:  # urllib3 raises its own errors for an unreachable host
            raise ServingError(
                f"the Kubernetes cluster is not reachable for namespace {client.namespace!r}: "
                f"{error}"
            ) from error

    def open_endpoint(self, model_name: str, settings: EndpointSettings) -> str:
        """The stable URL; the deployment behind it is created by the first ``set_weights``.

        A SeldonDeployment needs at least one predictor, so there is nothing to
        start before a version is weighted. ``settings`` (host, port, workers)
        describe the local HAProxy endpoint; on a cluster the ingress decides.
        """
        self.check_ready()
        return self._url(endpoint_deployment_name(model_name))

    def endpoint_url(self, model_name: str) -> str | None:
        """The stable URL if the model's endpoint deployment exists."""
        name = endpoint_deployment_name(model_name)
        return self._url(name) if self.seldon_client.read_manifest(name) else None

    def serve_version(self, version: VersionToServe, timeout: int) -> Backend:
        """Deploy the version as its own SeldonDeployment through ZenML's ``deploy_model``.

        It joins the endpoint at weight 0, i.e. not as a predictor yet: an
        endpoint predictor runs its own pods, which a version taking no traffic
        does not need. If it is not Available within ``timeout`` (0: do not
        wait), its deployment is removed again and ServingError raised.
        """
        existing = self._running_or_reusable(version)
        service = existing or self._deploy_version(version, timeout)
        if timeout > 0 and not service.is_running:
            self.retire_version(version.model_name, version.version, drain_timeout=0)
            raise ServingError(
                f"{version.model_name} v{version.version} was not Available within {timeout} s: "
                f"{service.status.last_error or service.status.state.value}"
            )
        return self._backend(version.model_name, version.version, weights={})

    def _running_or_reusable(self, version: VersionToServe) -> Any | None:
        """The version's ZenML service if its deployment is still on the cluster."""
        name = version_deployment_name(version.model_name, version.version)
        services = self._version_services(version.model_name, version.version)
        if services and self.seldon_client.read_manifest(name) is not None:
            services[0].update_status()
            return services[0]
        return None

    def _deploy_version(self, version: VersionToServe, timeout: int) -> Any:
        """ZenML's ``deploy_model`` for one version; nothing of a failed attempt is left.

        ZenML's store ignores the config when deploy_model looks for an
        "identical" service (ServiceFilter excludes ``config``), so it would hand
        back any Seldon service, another version's included. Continuous mode
        matches on pipeline step, pipeline and model instead; a step key of the
        version's deployment name makes that match exactly this version.
        """
        mlflow_version = mlflow_version_from_uri(
            version.model_uri, version.model_name
        ) or mlflow_version_from_zenml(version.model_name, version.version)
        try:
            storage_uri = model_storage_uri(version.model_name, mlflow_version)
        except ValueError as error:
            raise ServingError(str(error)) from error
        config = seldon_deployment_config(
            version.model_name, storage_uri, model_version=version.version
        )
        name = version_deployment_name(version.model_name, version.version)
        config.pipeline_step_name = f"serve-{name}"
        try:
            return self.deploy_model(
                config,
                service_type=VersionDeploymentService.SERVICE_TYPE,
                continuous_deployment_mode=True,
                timeout=timeout,
            )
        except RuntimeError as error:
            self._remove_version_deployment(version.model_name, version.version)
            raise ServingError(
                f"serving {version.model_name} v{version.version}: {error}"
            ) from error

    def perform_deploy_model(self, id: Any, config: Any, timeout: int = 300) -> Any:
        """ZenML's deploy, with the service named ``<model>-v<version>`` when a version is given."""
        if not getattr(config, "model_version", ""):
            return super().perform_deploy_model(id, config, timeout)
        config.secret_name = config.secret_name or self._create_or_update_kubernetes_secret()
        service = VersionDeploymentService(uuid=id, config=config)
        service.start(timeout=timeout)
        return service

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        """Make the endpoint's predictors the weighted versions, with ``traffic`` = weight.

        Every weighted version must be served (its own deployment gives the
        predictor's graph); a version weighted 0 leaves the endpoint. The API
        server checks the manifest before anything changes, so a refusal leaves
        the routing as it was.
        """
        _check_weights(model_name, weights)
        _check_predictor_names(model_name, [v for v, w in weights.items() if w > 0])
        client = self.seldon_client
        predictors = []
        for version, weight in sorted(weights.items(), key=lambda item: _version_key(item[0])):
            if weight == 0:
                continue
            served = client.read_manifest(version_deployment_name(model_name, version))
            if served is None:
                raise ServingError(
                    f"{model_name} v{version} is not served: serve_version it before weighting it"
                )
            predictors.append(_endpoint_predictor(version, weight, served))
        client.apply_manifest(self._endpoint_manifest(model_name, predictors))

    def retire_version(self, model_name: str, version: str, drain_timeout: float) -> None:
        """Delete the version's deployment (and ZenML service) once it takes no traffic.

        A version still weighted on the endpoint is refused: set_weights moves
        its traffic first, so retiring never takes a weighted backend away.
        Seldon drains a removed predictor's pods itself (terminationGracePeriod).
        """
        weight = self._weights(model_name).get(version, 0)
        if weight > 0:
            raise ServingError(
                f"{model_name} v{version} still takes {weight}% of the endpoint's traffic: "
                "move it to another version with set_weights before retiring it"
            )
        for service in self._version_services(model_name, version):
            self.delete_model_server(service.uuid, timeout=int(drain_timeout), force=False)
        self._remove_version_deployment(model_name, version)

    def backends(self, model_name: str) -> list[Backend]:
        """Every served version of the model, with its share of the endpoint."""
        weights = self._weights(model_name)
        served = self.seldon_client.list_manifests(
            {MODEL_LABEL: endpoint_deployment_name(model_name), ROLE_LABEL: ROLE_VERSION}
        )
        versions = sorted(
            (m["metadata"]["labels"][VERSION_LABEL] for m in served), key=_version_key
        )
        by_version = {m["metadata"]["labels"][VERSION_LABEL]: m for m in served}
        return [self._backend(model_name, v, weights, by_version[v]) for v in versions]

    def traffic_counters(self, model_name: str) -> dict[str, TrafficCounters]:
        """The executor's figures per endpoint predictor, from Prometheus (see seldon_metrics.py).

        Two instant queries: cumulative requests by predictor and status, and
        the mean response time over ``prometheus_lookback``. Every version the
        endpoint routes to is in the answer, with zeros until its first
        request reaches Prometheus (a scrape interval behind the traffic).
        """
        base_url = self._prometheus_url()
        name = endpoint_deployment_name(model_name)
        endpoint = self.seldon_client.read_manifest(name)
        if endpoint is None:
            raise ServingError(
                f"{model_name}: the endpoint SeldonDeployment "
                f"{self.seldon_client.namespace}/{name} does not exist (set_weights creates it)"
            )
        by_name = {str(p["name"]): _predictor_version(p) for p in endpoint["spec"]["predictors"]}
        timeout = self.config.prometheus_timeout
        counts = seldon_metrics.instant_query(base_url, seldon_metrics.counts_query(name), timeout)
        latencies = seldon_metrics.instant_query(
            base_url, seldon_metrics.latency_query(name, self.config.prometheus_lookback), timeout
        )
        return seldon_metrics.traffic_counters(
            counts,
            latencies,
            version_of=lambda predictor: (
                by_name.get(predictor) or _predictor_version({"name": predictor})
            ),
            versions=by_name.values(),
        )

    def _prometheus_url(self) -> str:
        """The configured Prometheus, or a ServingError saying how to configure one."""
        if not self.config.prometheus_url:
            raise ServingError(
                f"model deployer {self.name!r} has no prometheus_url, so the canary cannot read "
                "the endpoint's request and error counts: set it to the Prometheus that scrapes "
                f"Seldon (zenml model-deployer update {self.name} "
                "--prometheus_url=http://prometheus.seldon-system.svc:9090), or in the stack file"
            )
        return self.config.prometheus_url

    def shut_down(self, model_name: str | None = None) -> list[str]:
        """Delete the endpoint deployment(s), then every version deployment, of one model or
        of all models this flavor served."""
        client = self.seldon_client
        selector = {MODEL_LABEL: endpoint_deployment_name(model_name)} if model_name else {}
        stopped = []
        for endpoint in client.list_manifests({**selector, ROLE_LABEL: ROLE_ENDPOINT}):
            name = endpoint["metadata"]["name"]
            client.delete_manifest(name)
            stopped.append(f"endpoint SeldonDeployment {client.namespace}/{name}")
        for served in client.list_manifests({**selector, ROLE_LABEL: ROLE_VERSION}):
            labels = served["metadata"]["labels"]
            model = json.loads(served["metadata"]["annotations"]["zenml.service_config"])[
                "model_name"
            ]
            self.retire_version(model, labels[VERSION_LABEL], drain_timeout=0)
            name = served["metadata"]["name"]
            stopped.append(f"version SeldonDeployment {client.namespace}/{name}")
        return stopped

    # --- roll-out lease ---------------------------------------------------------------------
    #
    # The lease lives on the endpoint SeldonDeployment (an annotation), so it outlives the
    # deploy. Nothing in the cluster acts on it by itself: the next deploy, --status or
    # --serve of the model (recover_rollout) restores the single-predictor manifest.

    def begin_rollout(
        self, model_name: str, champion: str | None, challenger: str, lease_seconds: float
    ) -> None:
        """Write the lease on the endpoint manifest (none yet: nothing to restore, no lease)."""
        lease = {
            "champion": champion,
            "challenger": challenger,
            "expires_at": time.time() + lease_seconds,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._annotate(model_name, {LEASE_ANNOTATION: json.dumps(lease)})

    def renew_rollout(self, model_name: str, lease_seconds: float) -> None:
        """Push the lease's expiry ahead."""
        lease = self._lease(model_name)
        if lease is not None:
            lease["expires_at"] = time.time() + lease_seconds
            self._annotate(model_name, {LEASE_ANNOTATION: json.dumps(lease)})

    def end_rollout(self, model_name: str) -> None:
        """Remove the lease."""
        if self._lease(model_name) is not None:
            self._annotate(model_name, {LEASE_ANNOTATION: None})

    def recover_rollout(self, model_name: str) -> list[Interruption]:
        """Restore the champion's single predictor if the lease expired; unrecorded interruptions."""
        lease = self._lease(model_name)
        if lease is not None and time.time() > float(lease["expires_at"]):
            champion, challenger = lease.get("champion"), str(lease["challenger"])
            if champion:
                self.set_weights(model_name, {str(champion): 100})
            with contextlib.suppress(ServingError):
                self.retire_version(model_name, challenger, drain_timeout=0)
            interruption = Interruption(
                version=challenger,
                champion=str(champion) if champion else None,
                at=datetime.now(UTC).isoformat(timespec="seconds"),
                reason=(
                    f"roll-out of version {challenger} started {lease.get('started_at')} was "
                    "interrupted (its lease expired); every request went back to "
                    f"version {champion} and version {challenger} was removed"
                ),
            )
            records = [*self._interruption_records(model_name), asdict(interruption)]
            self._annotate(
                model_name,
                {LEASE_ANNOTATION: None, INTERRUPTED_ANNOTATION: json.dumps(records[-20:])},
            )
        return [
            Interruption(**record)
            for record in self._interruption_records(model_name)
            if not record.get("recorded")
        ]

    def mark_recorded(self, model_name: str, versions: set[str]) -> None:
        """Note on the manifest that these interruptions are in the model registry."""
        records = [
            {**record, "recorded": record.get("recorded") or record["version"] in versions}
            for record in self._interruption_records(model_name)
        ]
        if records:
            self._annotate(model_name, {INTERRUPTED_ANNOTATION: json.dumps(records)})

    def _lease(self, model_name: str) -> dict[str, Any] | None:
        raw = self._endpoint_annotations(model_name).get(LEASE_ANNOTATION)
        return cast(dict[str, Any], json.loads(raw)) if raw else None

    def _interruption_records(self, model_name: str) -> list[dict[str, Any]]:
        raw = self._endpoint_annotations(model_name).get(INTERRUPTED_ANNOTATION)
        return cast(list[dict[str, Any]], json.loads(raw)) if raw else []

    def _endpoint_annotations(self, model_name: str) -> dict[str, str]:
        endpoint = self.seldon_client.read_manifest(endpoint_deployment_name(model_name))
        if endpoint is None:
            return {}
        return dict(endpoint["metadata"].get("annotations") or {})

    def _annotate(self, model_name: str, changes: Mapping[str, str | None]) -> None:
        endpoint = self.seldon_client.read_manifest(endpoint_deployment_name(model_name))
        if endpoint is None:
            return
        annotations = dict(endpoint["metadata"].get("annotations") or {})
        for key, value in changes.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        endpoint["metadata"]["annotations"] = annotations
        self.seldon_client.apply_manifest(endpoint)

    # --- helpers ----------------------------------------------------------------------------

    def _url(self, deployment: str) -> str:
        return inference_url(self.config.base_url, self.seldon_client.namespace, deployment)

    def _weights(self, model_name: str) -> dict[str, int]:
        """version -> traffic on the endpoint (absent: not weighted)."""
        endpoint = self.seldon_client.read_manifest(endpoint_deployment_name(model_name))
        if endpoint is None:
            return {}
        return {
            _predictor_version(p): int(p.get("traffic", 100))
            for p in endpoint["spec"]["predictors"]
        }

    def _backend(
        self,
        model_name: str,
        version: str,
        weights: Mapping[str, int],
        manifest: dict[str, Any] | None = None,
    ) -> Backend:
        name = version_deployment_name(model_name, version)
        found = manifest or self.seldon_client.read_manifest(name) or {}
        available = (found.get("status") or {}).get("state") == "Available"
        weight = weights.get(version, 0)
        return Backend(
            version=version,
            weight=weight,
            state="ready" if found else "stopped",
            healthy=available,
            url=self._url(name),
            protocol=PROTOCOL,
        )

    def _version_services(self, model_name: str, version: str) -> list[Any]:
        services = self.find_model_server(service_type=VersionDeploymentService.SERVICE_TYPE)
        return [
            s
            for s in services
            if s.config.model_name == model_name and s.config.model_version == version
        ]

    def _remove_version_deployment(self, model_name: str, version: str) -> None:
        self.seldon_client.delete_manifest(version_deployment_name(model_name, version))

    def _endpoint_manifest(
        self, model_name: str, predictors: list[dict[str, Any]]
    ) -> dict[str, Any]:
        name = endpoint_deployment_name(model_name)
        kept = {
            key: value
            for key, value in self._endpoint_annotations(model_name).items()
            if key in {LEASE_ANNOTATION, INTERRUPTED_ANNOTATION}
        }
        return {
            "apiVersion": f"{SDEP_GROUP}/{SDEP_VERSION}",
            "kind": "SeldonDeployment",
            "metadata": {
                "name": name,
                "labels": {"app": "zenml", MODEL_LABEL: name, ROLE_LABEL: ROLE_ENDPOINT},
                "annotations": {"fraudops/model-name": model_name, **kept},
            },
            "spec": {"name": name, "protocol": PROTOCOL, "predictors": predictors},
        }


def _version_key(version: str) -> tuple[int, str]:
    """Numeric versions in numeric order ("2" before "10")."""
    return (int(version), version) if version.isdigit() else (1 << 62, version)


def _check_weights(model_name: str, weights: Mapping[str, int]) -> None:
    """Shares are whole percentages that sum to 100 (Seldon's rule for traffic, too).

    The CRD only types ``traffic`` as an integer; the sum is Seldon's
    admission webhook's rule (``checkTraffic``: "Traffic must sum to 100 for
    multiple predictors"). Checking it here as well refuses a wrong split
    before anything is sent, with a message naming the weights, and holds
    where no webhook answers (the offline tests' fake API server).
    ``True`` is an int to Python, not a share.
    """
    bad = {
        v: w
        for v, w in weights.items()
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 100
    }
    if bad:
        raise ServingError(f"{model_name}: weights must be integers 0..100, got {bad}")
    if sum(weights.values()) != 100:
        raise ServingError(
            f"{model_name}: weights must sum to 100, got {dict(weights)} "
            f"(sum {sum(weights.values())})"
        )


def _check_predictor_names(model_name: str, versions: list[str]) -> None:
    """Weighted versions get distinct predictor names (Seldon's webhook refuses duplicates,
    and the figures are told apart by predictor name)."""
    names: dict[str, str] = {}
    for version in versions:
        name = predictor_name(version)
        if name in names:
            raise ServingError(
                f"{model_name}: versions {names[name]!r} and {version!r} would both be "
                f"predictor {name!r}"
            )
        names[name] = version


def _endpoint_predictor(version: str, weight: int, served: dict[str, Any]) -> dict[str, Any]:
    """The endpoint predictor for a version: its own deployment's graph and replicas."""
    source = served["spec"]["predictors"][0]
    return {
        "name": predictor_name(version),
        "replicas": source.get("replicas", 1),
        "traffic": weight,
        "labels": {VERSION_LABEL: version},
        "graph": copy.deepcopy(source["graph"]),
    }


def _predictor_version(predictor: Mapping[str, Any]) -> str:
    """The version an endpoint predictor carries (its label, else its ``v<version>`` name)."""
    labels = predictor.get("labels") or {}
    return str(labels.get(VERSION_LABEL) or str(predictor["name"]).removeprefix("v"))
