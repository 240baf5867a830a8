"""A local model deployer flavor: ZenML's MLflow prediction servers behind one HAProxy endpoint.

ZenML's MLflow deployer starts one prediction server per deployment on a port
of its choosing; a client would have to follow the port from version to
version. This flavor is that deployer (same services, same daemons, same
``zenml model-deployer`` commands) plus a :class:`~stacks.flavors.traffic.TrafficSplitter`:
one HAProxy process per model listens on the configured port and shares
requests between the versions' servers by weight (see :mod:`stacks.flavors.haproxy`).

Where things live: HAProxy's files under ``<local_path>/splitter/<model>/``
(``state.json`` is what survives a reboot), the MLflow servers are ordinary
ZenML services (the store's service list, their daemons' files under
``local_path``). Every server this flavor starts has ``pipeline_name``
:data:`SERVICE_PIPELINE` and ``pipeline_step_name`` ``serve-v<version>``, which
is how :meth:`MLflowHAProxyModelDeployer.shut_down` finds them and nothing else.

Known limits, left alone: the daemon's ``service.log`` gets every access log
line and ZenML never rotates it; ZenML's health check asks only whether
*something* answers /ping on the service's port (servers here get a
kernel-assigned port to make a clash with another store's server unlikely); two processes changing one endpoint at the
same moment are not serialized (the deployment steps run one at a time).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, cast
from uuid import UUID

import psutil
from pydantic import Field
from zenml.client import Client
from zenml.integrations.mlflow.flavors.mlflow_model_deployer_flavor import (
    MLFlowModelDeployerConfig,
    MLFlowModelDeployerFlavor,
)
from zenml.integrations.mlflow.model_deployers.mlflow_model_deployer import MLFlowModelDeployer
from zenml.integrations.mlflow.services.mlflow_deployment import (
    MLFLOW_HEALTHCHECK_URL_PATH,
    MLFLOW_PREDICTION_URL_PATH,
    MLFlowDeploymentConfig,
    MLFlowDeploymentEndpoint,
    MLFlowDeploymentEndpointConfig,
    MLFlowDeploymentService,
)
from zenml.model_deployers import BaseModelDeployerFlavor
from zenml.model_deployers.base_model_deployer import get_model_version_id_if_exists
from zenml.services import (
    BaseService,
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
    ServiceEndpointProtocol,
)

from stacks.flavors import haproxy
from stacks.flavors.haproxy import (
    AdminSocket,
    ServerStat,
    SplitterFiles,
    SplitterState,
    VersionRecord,
)
from stacks.flavors.lean_service import LeanMLflowDeploymentService
from stacks.flavors.traffic import (
    Backend,
    EndpointSettings,
    ServingError,
    SplitterMissingError,
    TrafficCounters,
    VersionToServe,
)

FLAVOR_NAME = "mlflow_haproxy"
FLAVOR_SOURCE = f"{__name__}.MLflowHAProxyModelDeployerFlavor"
#: ``pipeline_name`` of every MLflow service this flavor starts: its mark on them.
SERVICE_PIPELINE = "fraudops-traffic-splitter"
#: Once a server is started, how long HAProxy may take to see it healthy (rise 2, inter 1s).
HEALTH_WAIT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10


def process_tree(pid: int | None) -> list[psutil.Process]:
    """``pid`` and every process below it, while they run (empty if ``pid`` is gone)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def end_processes(processes: list[psutil.Process], timeout: float) -> None:
    """SIGTERM what still runs of ``processes``, then SIGKILL what outlives ``timeout``."""
    alive = [p for p in processes if p.is_running()]
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, survivors = psutil.wait_procs(alive, timeout=timeout)
    for process in survivors:
        with contextlib.suppress(psutil.Error):
            process.kill()


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
            "scoring server, as `mlflow models serve` runs it)."
        ),
    )


class MLflowHAProxyModelDeployerFlavor(MLFlowModelDeployerFlavor):
    """ZenML's MLflow deployer flavor with HAProxy as the stable endpoint in front."""

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
        """MLflow's config plus ``haproxy_binary``."""
        return MLflowHAProxyModelDeployerConfig

    @property
    def implementation_class(self) -> type[MLflowHAProxyModelDeployer]:
        """The deployer below."""
        return MLflowHAProxyModelDeployer


def step_name(version: str) -> str:
    """The ``pipeline_step_name`` of a version's service.

    One step name per version, so two versions of a model run side by side;
    :meth:`MLflowHAProxyModelDeployer.find_version_service` matches it together
    with the model name and the deployer component that started it.
    """
    return f"serve-v{version}"


def directory_name(model_name: str) -> str:
    """A file-system-safe directory name for a model's endpoint files."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model_name)


#: Set in a prediction server's environment unless the environment already sets them.
#: scikit-learn's histogram gradient boosting predicts with OpenMP, by default one thread
#: per core in every worker process: a small request gains nothing from threads, and on a
#: machine with few cores the threads of the workers (and of their neighbours) contend.
#: Measured with bench/serving.py on 2 cores (see bench/README.md, "Serving").
SERVER_ENV_DEFAULTS: Mapping[str, str] = {"OMP_NUM_THREADS": "1"}


def server_env_changes(environ: Mapping[str, str], executable: str) -> dict[str, str]:
    """The variables to set while a server daemon is spawned (it inherits the environment).

    This interpreter's bin directory goes first on PATH: MLflow's scoring server
    runs ``uvicorn`` by name, and from a venv that is not activated the daemon
    would exit 127 and ZenML would wait out its timeout. Each of
    :data:`SERVER_ENV_DEFAULTS` is added unless ``environ`` sets it: an
    explicit setting wins.
    """
    changes = {}
    bin_dir = str(Path(executable).parent)
    path = environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        changes["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir
    for name, value in SERVER_ENV_DEFAULTS.items():
        if name not in environ:
            changes[name] = value
    return changes


@contextlib.contextmanager
def server_environment() -> Iterator[None]:
    """This process's environment with :func:`server_env_changes` while a daemon is spawned."""
    changes = server_env_changes(os.environ, sys.executable)
    previous = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def started_under(local_path: str, root_runtime_path: str | None, status: Any) -> bool:
    """Whether a service was started by the deployer component whose files are ``local_path``.

    Services this flavor starts carry ``root_runtime_path`` in their stored config; ones
    stored by earlier versions of it (ZenML stored the config before the deployer set it)
    read back ``None``, and their status, stored after the start, has the daemon's
    ``runtime_path`` (``<root>/<service uuid>``). Without this check every
    deployer component in a store would manage every other one's servers (one component's
    ``--undeploy`` stopping another's). A service with neither (it never got as far as a
    daemon) counts as this component's, so cleaning up can still remove it.
    """
    if root_runtime_path is not None:
        return Path(root_runtime_path) == Path(local_path)
    runtime_path = getattr(status, "runtime_path", None)
    if not runtime_path:
        return True
    return Path(runtime_path).parent == Path(local_path)


def backend_state(stat: ServerStat | None, server_running: bool) -> str:
    """The protocol's state word for one server: ready, drain, maint or stopped."""
    if stat is None or not server_running:
        return "stopped"
    if stat.status == "DRAIN":
        return "drain"
    if stat.status == "MAINT":
        return "maint"
    return "ready"


def passes_check(stat: ServerStat | None) -> bool:
    """Whether HAProxy sees the server UP after a real health check (not just initially)."""
    return stat is not None and stat.up and "L7OK" in stat.check_status


def normalized_weights(weights: Mapping[str, int]) -> dict[str, int]:
    """Weights scaled to sum to 100 (largest remainder), as HAProxy's relative weights route.

    Used when a weighted version leaves: HAProxy already shares its traffic
    among the others in proportion, the state file should say the same.
    """
    total = sum(weights.values())
    if total == 0:
        return dict(weights)
    exact = {version: weight * 100 / total for version, weight in weights.items()}
    result = {version: int(share) for version, share in exact.items()}
    missing = 100 - sum(result.values())
    by_remainder = sorted(exact, key=lambda v: (result[v] - exact[v], v))
    for version in by_remainder[:missing]:
        result[version] += 1
    return result


class MLflowHAProxyModelDeployer(MLFlowModelDeployer):
    """ZenML's MLflow deployer that also keeps one HAProxy endpoint per model (TrafficSplitter)."""

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
        """Where the endpoint of ``model_name`` keeps its config, state, pidfile and log."""
        return SplitterFiles(self.splitter_root() / directory_name(model_name))

    def _state(self, model_name: str) -> tuple[SplitterFiles, SplitterState]:
        """The endpoint's files and saved state; ServingError if it was never opened."""
        files = self.splitter_files(model_name)
        state = haproxy.load_state(files)
        if state is None:
            raise ServingError(
                f"{model_name}: no endpoint is open; call open_endpoint (python run.py --serve) "
                "first"
            )
        return files, state

    def _admin(self, files: SplitterFiles, model_name: str) -> AdminSocket:
        """The running endpoint's admin socket; ServingError if HAProxy is not running."""
        if haproxy.running_pid(files) is None:
            raise ServingError(
                f"{model_name}: the endpoint's HAProxy is not running; open_endpoint restarts it"
            )
        return AdminSocket(files.socket)

    # --- TrafficSplitter -------------------------------------------------------------

    def check_ready(self) -> None:
        """Raise SplitterMissingError (saying how to install it) if HAProxy is missing."""
        self.haproxy_binary()

    def open_endpoint(self, model_name: str, settings: EndpointSettings) -> str:
        """Start the model's HAProxy from its state file if it is not running; return its URL.

        After a reboot (or a kill) the state file still lists the versions and
        weights; HAProxy comes back with them, each server DOWN until
        :meth:`serve_version` brings it back. A running endpoint with other
        settings is restarted with the new ones (in-flight requests are cut).
        """
        binary = self.haproxy_binary()
        files = self.splitter_files(model_name)
        saved = haproxy.load_state(files)
        state = (
            saved.with_settings(settings)
            if saved is not None
            else SplitterState.for_endpoint(model_name, settings)
        )
        if haproxy.running_pid(files) is not None:
            if saved is not None and saved == state:
                return state.url()
            haproxy.stop_haproxy(files)
        haproxy.start_haproxy(binary, files, state)
        haproxy.save_state(files, state)
        return state.url()

    def endpoint_url(self, model_name: str) -> str | None:
        """The stable scoring URL if the model's HAProxy runs, else None."""
        files = self.splitter_files(model_name)
        state = haproxy.load_state(files)
        if state is None or haproxy.running_pid(files) is None:
            return None
        return state.url()

    def serve_version(self, version: VersionToServe, timeout: int) -> Backend:
        """Reuse the version's running server or start one; it joins the endpoint at weight 0.

        Never restarts a version whose server runs (its traffic would drop while
        it starts again). A server that ZenML records but
        that is not running (killed, rebooted) is deleted and started afresh.
        """
        files, state = self._state(version.model_name)
        if haproxy.running_pid(files) is None:
            self.open_endpoint(version.model_name, state.settings())
        admin = AdminSocket(files.socket)
        service = self.find_version_service(version.model_name, version.version)
        started = service is None or not service.is_running
        if started:
            if service is not None:
                self._remove_service(service)
            service = self._start_server(version, state.workers, timeout)
        assert service is not None
        port = service.endpoint.status.port
        if port is None:
            self._remove_service(service)
            raise ServingError(f"{version.model_name} v{version.version}: the server has no port")
        was_member = version.version in haproxy.model_servers(admin.show_stat())
        try:
            self._join_endpoint(admin, version.version, port)
            self._wait_until_up(admin, version.model_name, version.version)
        except ServingError:
            if started:
                if not was_member:
                    self._leave_endpoint(admin, version.version)
                self._remove_service(service)
            raise
        record = state.versions.get(version.version)
        weight = record.weight if record is not None else 0
        state.versions[version.version] = VersionRecord(
            port=port, weight=weight, service_uuid=str(service.uuid)
        )
        haproxy.save_state(files, state)
        return Backend(
            version=version.version,
            weight=weight,
            state="ready",
            healthy=True,
            url=f"http://127.0.0.1:{port}/invocations",
            port=port,
            pid=service.status.pid,
        )

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        """Route new requests by ``weights``; ServingError with nothing changed if refused.

        Raised weights are applied before lowered ones, so at every moment
        some healthy server carries weight.
        """
        files, state = self._state(model_name)
        admin = self._admin(files, model_name)
        stats = haproxy.model_servers(admin.show_stat())
        healthy = {version: passes_check(stats.get(version)) for version in state.versions}
        new = haproxy.validate_weights(weights, healthy, model_name)
        old = {version: record.weight for version, record in state.versions.items()}
        order = sorted(new, key=lambda version: new[version] - old[version], reverse=True)
        applied: list[str] = []
        try:
            for version in order:
                self._set_weight(admin, version, new[version])
                applied.append(version)
        except ServingError:
            for version in reversed(applied):
                with contextlib.suppress(ServingError):
                    self._set_weight(admin, version, old[version])
            raise
        for version, weight in new.items():
            state.versions[version].weight = weight
        haproxy.save_state(files, state)

    def retire_version(self, model_name: str, version: str, drain_timeout: float) -> None:
        """Drain the version, wait for its in-flight requests, remove it and stop its server.

        Refused for the only weighted version (the endpoint would have nowhere
        to route). A weighted version among others leaves its share to them in
        proportion, as HAProxy routes it. Retiring an unknown version only
        makes sure no server of it is left.
        """
        files, state = self._state(model_name)
        record = state.versions.get(version)
        if record is None:
            service = self.find_version_service(model_name, version)
            if service is not None:
                self._remove_service(service)
            return
        others = {v: r.weight for v, r in state.versions.items() if v != version and r.weight}
        if record.weight > 0 and not others:
            raise ServingError(
                f"{model_name}: version {version} is the only weighted version; weight another "
                "version first (set_weights), then retire this one"
            )
        admin = AdminSocket(files.socket)
        if haproxy.running_pid(files) is not None and version in haproxy.model_servers(
            admin.show_stat()
        ):
            self._set_weight(admin, version, 0)
            admin.checked(f"set server {self._server(version)} state drain")
            self._wait_drained(admin, version, drain_timeout)
            self._leave_endpoint(admin, version)
        del state.versions[version]
        for other, weight in normalized_weights(others).items():
            state.versions[other].weight = weight
        haproxy.save_state(files, state)
        service = self.find_version_service(model_name, version)
        if service is not None:
            self._remove_service(service)

    def backends(self, model_name: str) -> list[Backend]:
        """Every version in the state file, with HAProxy's view of it (stopped if it is down)."""
        files = self.splitter_files(model_name)
        state = haproxy.load_state(files)
        if state is None:
            return []
        stats: dict[str, ServerStat] = {}
        if haproxy.running_pid(files) is not None:
            with contextlib.suppress(ServingError, OSError):
                stats = haproxy.model_servers(AdminSocket(files.socket).show_stat())
        found = []
        for version, record in sorted(state.versions.items()):
            service = self.find_version_service(model_name, version)
            running = service is not None and service.is_running
            stat = stats.get(version)
            found.append(
                Backend(
                    version=version,
                    weight=record.weight,
                    state=backend_state(stat, running),
                    healthy=running and passes_check(stat),
                    url=f"http://127.0.0.1:{record.port}/invocations" if running else None,
                    port=record.port,
                    pid=service.status.pid if service is not None and running else None,
                )
            )
        return found

    def traffic_counters(self, model_name: str) -> dict[str, TrafficCounters]:
        """HAProxy's own figures per version's server (``show stat``: req_tot, hrsp_4xx/5xx, rtime).

        ``rtime`` rather than ``ttime``: the total time includes the idle time
        of kept-alive connections, which says nothing about the model.
        """
        files = self.splitter_files(model_name)
        if haproxy.running_pid(files) is None:
            raise ServingError(f"{model_name}: the HAProxy endpoint is not running")
        try:
            stats = haproxy.model_servers(AdminSocket(files.socket).show_stat())
        except OSError as error:
            raise ServingError(f"{model_name}: cannot read HAProxy's figures: {error}") from error
        return {
            version: TrafficCounters(
                version=version,
                requests=stat.total_requests,
                responses_4xx=stat.responses_4xx,
                responses_5xx=stat.responses_5xx,
                recent_latency_ms=stat.response_ms if stat.total_requests else None,
            )
            for version, stat in stats.items()
        }

    def shut_down(self, model_name: str | None = None) -> list[str]:
        """Stop the HAProxy endpoint(s) and every MLflow server this flavor started; nothing else.

        The state file goes too: a shut-down endpoint is gone, not paused (a
        reboot, unlike this, keeps it for open_endpoint).
        """
        lines: list[str] = []
        if model_name is not None:
            models = [model_name]
        elif self.splitter_root().is_dir():
            models = sorted(
                state.model_name
                for path in self.splitter_root().iterdir()
                if (state := haproxy.load_state(SplitterFiles(path))) is not None
            )
        else:
            models = []
        for model in models:
            files = self.splitter_files(model)
            state = haproxy.load_state(files)
            pid = haproxy.stop_haproxy(files)
            if pid is not None and state is not None:
                lines.append(f"stopped HAProxy for {model} (pid {pid}, {state.url()})")
            files.state.unlink(missing_ok=True)
        for service in self.splitter_services(model_name):
            config = cast(MLFlowDeploymentConfig, service.config)
            pid, port = service.status.pid, service.endpoint.status.port
            was_running = service.is_running
            self._remove_service(service)
            if was_running:
                lines.append(
                    f"stopped MLflow server for {config.model_name} v{config.model_version} "
                    f"(pid {pid}, port {port})"
                )
        return lines

    # --- servers ---------------------------------------------------------------------

    def _create_new_service(
        self, id: UUID, timeout: int, config: MLFlowDeploymentConfig
    ) -> MLFlowDeploymentService:
        """ZenML's service creation, on a port the kernel picked instead of the first free from 8000.

        ZenML scans 8000 upward, machine-wide: two ZenML stores on one machine
        (two users, two test sessions) race for the same ports, and its health
        check only asks whether *something* answers /ping there, so a server
        that failed can look healthy. A kernel-assigned ephemeral port makes
        that collision unlikely; ``allocate_port`` still falls back to a scan.
        """
        config.root_runtime_path = self.local_path
        endpoint = MLFlowDeploymentEndpoint(
            config=MLFlowDeploymentEndpointConfig(
                protocol=ServiceEndpointProtocol.HTTP,
                prediction_url_path=MLFLOW_PREDICTION_URL_PATH,
                port=haproxy.free_port(),
                allocate_port=True,
            ),
            monitor=HTTPEndpointHealthMonitor(
                config=HTTPEndpointHealthMonitorConfig(
                    healthcheck_uri_path=MLFLOW_HEALTHCHECK_URL_PATH, use_head_request=False
                )
            ),
        )
        service_class = (
            LeanMLflowDeploymentService
            if self.config.scoring_server == "lean"
            else MLFlowDeploymentService
        )
        service = service_class(uuid=id, config=config, endpoint=endpoint)
        service.start(timeout=timeout)
        return service

    def splitter_services(self, model_name: str | None = None) -> list[MLFlowDeploymentService]:
        """MLflow services this flavor started (for one model or all), newest first."""
        services = self.find_model_server(
            pipeline_name=SERVICE_PIPELINE, service_type=MLFlowDeploymentService.SERVICE_TYPE
        )
        found = []
        for service in services:
            if not isinstance(service, MLFlowDeploymentService):
                continue
            config = service.config
            if config.pipeline_name != SERVICE_PIPELINE:
                continue
            if not started_under(self.local_path, config.root_runtime_path, service.status):
                continue
            if model_name is not None and config.model_name != model_name:
                continue
            found.append(service)
        return found

    def find_version_service(self, model_name: str, version: str) -> MLFlowDeploymentService | None:
        """The service of exactly this version, if ZenML knows one.

        ZenML's model-version filter only applies when the ZenML model version
        exists, so the version is also matched on the service's own config.
        """
        for service in self.splitter_services(model_name):
            config = service.config
            if config.model_version == version and config.pipeline_step_name == step_name(version):
                return service
        return None

    def _start_server(
        self, version: VersionToServe, workers: int, timeout: int
    ) -> MLFlowDeploymentService:
        """Start an MLflow prediction server for ``version``; ServingError if it does not run.

        The caller has already removed any earlier service of this version.
        ``root_runtime_path`` is set before ZenML stores the config, so the
        stored service says which deployer component started it.
        """
        config = MLFlowDeploymentConfig(
            model_uri=version.model_uri,
            model_name=version.model_name,
            model_version=version.version,
            pipeline_name=SERVICE_PIPELINE,
            pipeline_step_name=step_name(version.version),
            workers=workers,
            root_runtime_path=self.local_path,
        )
        try:
            with server_environment():
                service = self._deploy_new(config, timeout)
        except RuntimeError as error:
            leftover = self.find_version_service(version.model_name, version.version)
            log = haproxy.tail(leftover.status.log_file if leftover else None, 20)
            if leftover is not None:
                self._remove_service(leftover)
            raise ServingError(
                f"{version.model_name} v{version.version}: the MLflow server did not start "
                f"({error}); its log ends:\n{log}"
            ) from error
        served = cast(MLFlowDeploymentService, service)
        if not served.is_running:
            log = haproxy.tail(served.status.log_file, 20)
            self._remove_service(served)
            raise ServingError(
                f"{version.model_name} v{version.version}: the MLflow server for "
                f"{version.model_uri} did not become healthy within {timeout} s; its log "
                f"ends:\n{log}"
            )
        return served

    def _deploy_new(self, config: MLFlowDeploymentConfig, timeout: int) -> BaseService:
        """ZenML's ``deploy_model`` without its search for a service to replace or reuse.

        Its continuous mode replaces the newest service with the same pipeline
        and step name *of any model* (the model filter needs a ZenML model
        version), so serving v1 of one model stopped v1 of another; its exact
        mode returned another deployer component's service of the same version.
        This flavor finds its own services (:meth:`find_version_service`).
        """
        client = Client()
        response = client.create_service(
            config=config,
            service_type=MLFlowDeploymentService.SERVICE_TYPE,
            model_version_id=get_model_version_id_if_exists(
                config.model_name, config.model_version
            ),
        )
        try:
            service = self.perform_deploy_model(id=response.id, config=config, timeout=timeout)
        except Exception as error:
            client.delete_service(response.id)
            raise RuntimeError(
                f"failed to deploy a server for {config.model_name}: {error}"
            ) from error
        client.update_service(
            id=service.uuid,
            name=service.config.service_name,
            service_source=service.model_dump().get("type"),
            admin_state=service.admin_state,
            status=service.status.model_dump(),
            endpoint=service.endpoint.model_dump() if service.endpoint else None,
            prediction_url=service.get_prediction_url(),
            health_check_url=service.get_healthcheck_url(),
        )
        return service

    def _remove_service(self, service: MLFlowDeploymentService) -> None:
        """Stop the server and delete its ZenML service and daemon files.

        ZenML stops the daemon process; the uvicorn it started can outlive it
        (seen after a server was stopped while still starting: an orphan kept
        answering on its port). Every process below the daemon is therefore
        collected first and ended after ZenML's stop.
        """
        tree = process_tree(service.status.pid)
        with contextlib.suppress(RuntimeError):
            self.stop_model_server(service.uuid, timeout=STOP_TIMEOUT_SECONDS)
        with contextlib.suppress(RuntimeError):
            self.delete_model_server(service.uuid, timeout=STOP_TIMEOUT_SECONDS, force=True)
        end_processes(tree, timeout=STOP_TIMEOUT_SECONDS)

    # --- HAProxy runtime -------------------------------------------------------------

    @staticmethod
    def _server(version: str) -> str:
        return f"{haproxy.BACKEND}/{haproxy.server_name(version)}"

    def _set_weight(self, admin: AdminSocket, version: str, weight: int) -> None:
        admin.checked(f"set server {self._server(version)} weight {weight}")

    def _join_endpoint(self, admin: AdminSocket, version: str, port: int) -> None:
        """Make HAProxy's server for ``version`` point at ``port``, checked and enabled.

        A server already in HAProxy (from the static config after a restart,
        or from an earlier call) is re-pointed and keeps its weight; a new one
        is added at weight 0 (runtime servers start in maintenance with checks off).
        """
        server = self._server(version)
        existing = haproxy.model_servers(admin.show_stat()).get(version)
        if existing is not None:
            if existing.address != f"127.0.0.1:{port}":
                admin.checked(
                    f"set server {server} addr 127.0.0.1 port {port}",
                    confirmations=("IP changed from", "no need to change the addr"),
                )
            if existing.status in {"MAINT", "DRAIN"}:
                admin.checked(f"set server {server} state ready")
        else:
            admin.checked(f"add server {server} 127.0.0.1:{port} weight 0 {haproxy.CHECK_PARAMS}")
            admin.checked(f"enable health {server}")
            admin.checked(f"enable server {server}")

    def _leave_endpoint(self, admin: AdminSocket, version: str) -> None:
        """Take the version's server out of HAProxy (if it is there)."""
        if version not in haproxy.model_servers(admin.show_stat()):
            return
        server = self._server(version)
        admin.checked(f"set server {server} state maint")
        admin.checked(f"del server {server}")

    def _wait_until_up(self, admin: AdminSocket, model_name: str, version: str) -> None:
        """Wait until HAProxy's own health check passes for the version's server."""
        deadline = time.monotonic() + HEALTH_WAIT_SECONDS
        stat: ServerStat | None = None
        while time.monotonic() < deadline:
            stat = haproxy.model_servers(admin.show_stat()).get(version)
            if passes_check(stat):
                return
            time.sleep(0.2)
        seen = f"{stat.status} ({stat.check_status})" if stat else "absent"
        raise ServingError(
            f"{model_name} v{version}: HAProxy's health check (GET /ping) does not pass after "
            f"{HEALTH_WAIT_SECONDS:.0f} s: {seen}"
        )

    def _wait_drained(self, admin: AdminSocket, version: str, timeout: float) -> None:
        """Wait until the version's server has no request in flight, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stat = haproxy.model_servers(admin.show_stat()).get(version)
            if stat is None or stat.current_sessions == 0:
                return
            time.sleep(0.1)
