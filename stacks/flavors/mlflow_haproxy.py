"""A local model deployer flavor: supervised MLflow model replicas behind one HAProxy endpoint.

ZenML's MLflow deployer starts one prediction server per deployment, as a daemon that
nothing restarts, on a port of its choosing; a client would have to follow the port from
version to version, and a crash stays a crash. This flavor keeps ZenML's MLflow deployer
configuration (so ``zenml model-deployer`` commands and stack files work as before) and
serves differently:

- every live version runs ``deployment.serving.replicas`` prediction servers
  (:mod:`stacks.flavors.replica`), each a supervisord program restarted when it dies;
- one HAProxy per model, also supervised, is the stable endpoint (:mod:`stacks.flavors.haproxy`);
- a guard per model ends a roll-out whose deploy died (:mod:`stacks.flavors.rollout_guard`).

Why supervisord: see :mod:`stacks.flavors.supervision`. The model is downloaded from
MLflow once, into the endpoint's directory, so a replica restarts without ZenML or the
tracking server. Where things live: ``<local_path>/splitter/<model>/`` (state, HAProxy
config, models, lease), ``<local_path>/supervisor/`` (supervisord, one file per program,
logs). After a reboot, ``python run.py --serve`` starts supervisord, which starts the rest.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal, cast

from pydantic import Field
from zenml.integrations.mlflow.flavors.mlflow_model_deployer_flavor import (
    MLFlowModelDeployerConfig,
    MLFlowModelDeployerFlavor,
)
from zenml.integrations.mlflow.model_deployers.mlflow_model_deployer import MLFlowModelDeployer
from zenml.model_deployers import BaseModelDeployerFlavor

from stacks.flavors.haproxy import SplitterFiles
from stacks.flavors.local_endpoint import LocalEndpoint
from stacks.flavors.ports import assign_ports, endpoint_states
from stacks.flavors.supervision import Supervisor
from stacks.flavors.traffic import (
    Backend,
    EndpointSettings,
    Interruption,
    ServingError,
    SplitterMissingError,
    TrafficCounters,
    VersionToServe,
)

FLAVOR_NAME = "mlflow_haproxy"
FLAVOR_SOURCE = f"{__name__}.MLflowHAProxyModelDeployerFlavor"

INSTALL_HINT = (
    "install it with 'sudo apt-get install haproxy' (Debian/Ubuntu) or 'brew install haproxy' "
    "(macOS), or set the model deployer's haproxy_binary to its path"
)


class MLflowHAProxyModelDeployerConfig(MLFlowModelDeployerConfig):
    """ZenML's MLflow deployer settings plus where HAProxy is; the defaults need no setting."""

    haproxy_binary: str | None = Field(
        default=None,
        description="Path of the haproxy executable; found on PATH if not set.",
    )
    scoring_server: Literal["lean", "mlflow"] = Field(
        default="lean",
        description=(
            "What serves each version: 'lean' (the project's scoring app: MLflow's model, "
            "contract and answers at less cost per request) or 'mlflow' (MLflow's own "
            "scoring app, as `mlflow models serve` runs it)."
        ),
    )


class MLflowHAProxyModelDeployerFlavor(MLFlowModelDeployerFlavor):
    """ZenML's MLflow deployer flavor with supervised replicas and HAProxy in front."""

    @property
    def name(self) -> str:
        """The name stack files use: ``flavor: mlflow_haproxy``."""
        return FLAVOR_NAME

    @property
    def display_name(self) -> str:
        """Shown by ZenML's dashboard and CLI."""
        return "MLflow behind HAProxy"

    @property
    def config_class(self) -> type[MLflowHAProxyModelDeployerConfig]:
        """MLflow's config plus ``haproxy_binary`` and ``scoring_server``."""
        return MLflowHAProxyModelDeployerConfig

    @property
    def implementation_class(self) -> type[MLflowHAProxyModelDeployer]:
        """The deployer below."""
        return MLflowHAProxyModelDeployer


def directory_name(model_name: str) -> str:
    """A file-system-safe directory name for a model's endpoint files."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model_name)


class MLflowHAProxyModelDeployer(MLFlowModelDeployer):
    """ZenML's MLflow deployer serving through supervised replicas and HAProxy (TrafficSplitter)."""

    FLAVOR: ClassVar[type[BaseModelDeployerFlavor]] = MLflowHAProxyModelDeployerFlavor

    @property
    def config(self) -> MLflowHAProxyModelDeployerConfig:
        """The flavor's configuration."""
        return cast(MLflowHAProxyModelDeployerConfig, self._config)

    # --- where things are ------------------------------------------------------------

    def haproxy_binary(self) -> str:
        """The haproxy executable to run; SplitterMissingError if there is none."""
        configured = self.config.haproxy_binary
        if configured:
            if Path(configured).is_file() and os.access(configured, os.X_OK):
                return configured
            raise SplitterMissingError(
                f"haproxy_binary '{configured}' (model deployer '{self.name}') is not an "
                f"executable file; {INSTALL_HINT}"
            )
        found = shutil.which("haproxy")
        if found is None:
            raise SplitterMissingError(
                f"HAProxy is not installed (no 'haproxy' on PATH); the local model deployer "
                f"needs it as the stable endpoint: {INSTALL_HINT}"
            )
        return found

    def splitter_root(self) -> Path:
        """The directory holding one subdirectory of endpoint files per model."""
        return Path(self.local_path) / "splitter"

    def splitter_files(self, model_name: str) -> SplitterFiles:
        """Where the endpoint of ``model_name`` keeps its config, state, models and lease."""
        return SplitterFiles(self.splitter_root() / directory_name(model_name))

    def supervisor(self) -> Supervisor:
        """The supervisord that keeps this deployer's processes."""
        return Supervisor(Path(self.local_path) / "supervisor")

    def endpoint(self, model_name: str, with_binary: bool = False) -> LocalEndpoint:
        """The model's endpoint on this machine."""
        binary = self.haproxy_binary() if with_binary else shutil.which("haproxy")
        return LocalEndpoint(self.splitter_files(model_name), self.supervisor(), binary)

    def model_names(self) -> list[str]:
        """Every model with an endpoint (open or with processes left) under this deployer."""
        return sorted({state.model_name for state in endpoint_states(self.splitter_root())})

    # --- TrafficSplitter -------------------------------------------------------------

    def check_ready(self) -> None:
        """Raise SplitterMissingError (saying how to install it) if HAProxy is missing."""
        self.haproxy_binary()

    def open_endpoint(self, model_name: str, settings: EndpointSettings) -> str:
        """Start the model's supervised HAProxy (and supervisord) if needed; its URL.

        After a reboot the state file still lists the versions and weights;
        supervisord starts every program again, and this makes sure it runs.
        """
        endpoint = self.endpoint(model_name, with_binary=True)
        endpoint.supervisor.ensure_running()
        resolved = assign_ports(self.splitter_root(), model_name, settings)
        return endpoint.open(model_name, resolved)

    def endpoint_url(self, model_name: str) -> str | None:
        """The stable scoring URL if the model's HAProxy runs, else None."""
        return self.endpoint(model_name).url()

    def metrics_url(self, model_name: str) -> str | None:
        """Where the endpoint's Prometheus metrics answer (loopback), if it is open."""
        state = self.endpoint(model_name).state()
        return state.metrics_url() if state is not None else None

    def serve_version(self, version: VersionToServe, timeout: int) -> Backend:
        """Run the version's replicas (reusing running ones); they join the endpoint at weight 0.

        Never restarts a replica that runs (its traffic would drop while it
        starts again). The model is downloaded from MLflow into the endpoint's
        directory first, once.
        """
        endpoint = self.endpoint(version.model_name, with_binary=True)
        self._download_model(version, endpoint.model_directory(version.version))
        return endpoint.serve_version(version.version, self.config.scoring_server, timeout)

    def _download_model(self, version: VersionToServe, target: Path) -> None:
        """The version's MLflow model files in ``target`` (atomically: a partial copy never counts)."""
        if (target / "MLmodel").is_file():
            return
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri
        from zenml.client import Client
        from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker

        tracker = Client().active_stack.experiment_tracker
        if not isinstance(tracker, MLFlowExperimentTracker):
            raise ServingError(
                "serving an MLflow model needs an MLflow experiment tracker in the active stack"
            )
        tracker.configure_mlflow()
        # no progress bar in the deploy's output: a few files, copied in milliseconds
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            try:
                local = Path(_download_artifact_from_uri(version.model_uri, output_path=scratch))
            except Exception as error:
                raise ServingError(
                    f"{version.model_name} v{version.version}: cannot download {version.model_uri} "
                    f"from MLflow: {error}"
                ) from error
            shutil.rmtree(target, ignore_errors=True)
            os.replace(local, target)

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        """Route new requests by ``weights``; ServingError with nothing changed if refused."""
        self.endpoint(model_name).set_weights(model_name, weights)

    def retire_version(self, model_name: str, version: str, drain_timeout: float) -> None:
        """Drain the version's replicas, wait for in-flight requests, then stop them."""
        self.endpoint(model_name).retire_version(model_name, version, drain_timeout)

    def backends(self, model_name: str) -> list[Backend]:
        """Every version in the state, with its replicas' real state."""
        return self.endpoint(model_name).backends()

    def traffic_counters(self, model_name: str) -> dict[str, TrafficCounters]:
        """HAProxy's own figures per version (``show stat`` of its replicas, summed)."""
        return self.endpoint(model_name).counters(model_name)

    def shut_down(self, model_name: str | None = None) -> list[str]:
        """Stop the endpoint(s) and every process this flavor started for them; nothing else.

        With no model named, every model's; supervisord itself stops when it has
        nothing left to keep.
        """
        models = [model_name] if model_name is not None else self.model_names()
        lines: list[str] = []
        for model in models:
            lines += self.endpoint(model).shut_down()
        supervisor = self.supervisor()
        if supervisor.is_running() and not supervisor.names():
            pid = supervisor.shutdown()
            if pid is not None:
                lines.append(f"stopped supervisord (pid {pid})")
        return lines

    # --- roll-out lease --------------------------------------------------------------

    def begin_rollout(
        self, model_name: str, champion: str | None, challenger: str, lease_seconds: float
    ) -> None:
        """Hold a lease on the roll-out; the guard ends it if nobody renews it."""
        self.endpoint(model_name).begin_rollout(champion, challenger, lease_seconds)

    def renew_rollout(self, model_name: str, lease_seconds: float) -> None:
        """Push the lease's expiry ahead."""
        self.endpoint(model_name).renew_rollout(lease_seconds)

    def end_rollout(self, model_name: str) -> None:
        """Release the lease: the roll-out finished or restored routing itself."""
        self.endpoint(model_name).end_rollout()

    def recover_rollout(self, model_name: str) -> list[Interruption]:
        """End an abandoned roll-out now (if any), and every interruption not yet recorded."""
        endpoint = self.endpoint(model_name)
        with contextlib.suppress(ServingError, OSError):
            endpoint.recover_abandoned_rollout(model_name)
        return [i for i in endpoint.interruptions() if not i.recorded]

    def mark_recorded(self, model_name: str, versions: set[str]) -> None:
        """The interruptions of these versions are now in the model registry."""
        self.endpoint(model_name).mark_recorded(versions)
