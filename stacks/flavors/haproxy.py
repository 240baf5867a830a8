"""HAProxy as one model's stable endpoint: its files, its process, its admin socket.

No ZenML here: :mod:`stacks.flavors.mlflow_haproxy` decides *what* to route,
this module knows *how* HAProxy is told. One HAProxy process per model, its
files in one directory (``<deployer local_path>/splitter/<model>/``):

- ``state.json``: the truth that survives restarts (endpoint settings, and for
  every live version its server's port and weight). Runtime changes over the
  admin socket are lost when HAProxy restarts, so every change is written
  here too, and ``haproxy.cfg`` is rendered from it whenever HAProxy starts;
- ``haproxy.cfg``, ``haproxy.pid`` and ``haproxy.log`` (what HAProxy printed
  while starting: config warnings and errors; HAProxy cannot write access
  logs to a file, the per-server figures are on ``/metrics`` and ``show stat``).

The admin socket lives outside that directory, at a short per-user path:
a Unix socket path is limited to 107 bytes, and ZenML's local store under a
temp directory can exceed that on its own.

The frontend refuses what MLflow's scoring server handles badly (no
Content-Type gives a 500 there, and it has no body size limit), and what no
client should send. Payload *content* (nulls, NaN, unknown categories,
numbers as strings) is left to MLflow and the model, which accept it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field

from stacks.flavors.traffic import EndpointSettings, ServingError

#: The one backend of every endpoint; its servers are named ``v<version>``.
BACKEND = "model"
FRONTEND = "endpoint"
#: Paths the endpoint forwards to MLflow's scoring server; anything else is a 404 at HAProxy.
FORWARDED_PATHS = ("/invocations", "/ping", "/health", "/version")
METRICS_PATH = "/metrics"
#: Longest Unix socket path the kernel accepts (``sun_path`` is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107
#: Health checks: a dead server is out after 2 s, a new one in after 2 s.
CHECK_PARAMS = "check inter 1s fall 2 rise 2"


class VersionRecord(BaseModel):
    """One version's server behind the endpoint, as the state file keeps it."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(gt=0, lt=65536)
    weight: int = Field(default=0, ge=0, le=100)
    #: The ZenML service that runs the MLflow server, if ZenML started it.
    service_uuid: str | None = None


class SplitterState(BaseModel):
    """Everything needed to render one model's HAProxy config from scratch."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=5080, gt=0, lt=65536)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    workers: int = Field(default=1, ge=1)
    versions: dict[str, VersionRecord] = Field(default_factory=dict)

    @classmethod
    def for_endpoint(cls, model_name: str, settings: EndpointSettings) -> SplitterState:
        """A state with no versions yet, for a newly opened endpoint."""
        return cls(
            model_name=model_name,
            host=settings.host,
            port=settings.port,
            max_body_bytes=settings.max_body_bytes,
            workers=settings.workers,
        )

    def with_settings(self, settings: EndpointSettings) -> SplitterState:
        """The same versions under (possibly) new endpoint settings."""
        return self.model_copy(
            update={
                "host": settings.host,
                "port": settings.port,
                "max_body_bytes": settings.max_body_bytes,
                "workers": settings.workers,
            }
        )

    def settings(self) -> EndpointSettings:
        """The endpoint settings this state was opened with."""
        return EndpointSettings(
            port=self.port,
            host=self.host,
            max_body_bytes=self.max_body_bytes,
            workers=self.workers,
        )

    def url(self) -> str:
        """The stable scoring URL clients call (loopback when HAProxy binds every address)."""
        host = "127.0.0.1" if self.host in {"", "0.0.0.0"} else self.host
        return f"http://{host}:{self.port}/invocations"


def server_name(version: str) -> str:
    """HAProxy's name for a version's server: ``v3`` for version "3"."""
    return f"v{version}"


def version_of(server: str) -> str | None:
    """The version a server name stands for, or None for something that is not ours."""
    return server[1:] if server.startswith("v") and len(server) > 1 else None


def admin_socket_path(state_dir: Path, runtime_root: Path | None = None) -> Path:
    """A short per-user path for the admin socket of the endpoint whose files are in ``state_dir``.

    ``<tmp>/fraudops-<uid>/<hash of state_dir>.sock``: the hash keeps two
    deployers (two ZenML stores) apart, the per-user directory (mode 0700)
    keeps other users off a socket that can reroute traffic.
    """
    root = runtime_root if runtime_root is not None else Path(tempfile.gettempdir())
    directory = root / f"fraudops-{os.getuid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    path = directory / f"{digest}.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        raise ServingError(
            f"the admin socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
            "set TMPDIR to a shorter directory"
        )
    return path


@dataclass(frozen=True)
class SplitterFiles:
    """Where one model's endpoint keeps its files."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "haproxy.cfg"

    @property
    def state(self) -> Path:
        return self.directory / "state.json"

    @property
    def pidfile(self) -> Path:
        return self.directory / "haproxy.pid"

    @property
    def log(self) -> Path:
        return self.directory / "haproxy.log"

    @property
    def socket(self) -> Path:
        return admin_socket_path(self.directory)


def load_state(files: SplitterFiles) -> SplitterState | None:
    """The endpoint's saved state, or None if it was never opened (or was shut down)."""
    try:
        text = files.state.read_text()
    except FileNotFoundError:
        return None
    return SplitterState.model_validate_json(text)


def save_state(files: SplitterFiles, state: SplitterState) -> None:
    """Write the state atomically: a crash mid-write must not lose the routing."""
    files.directory.mkdir(parents=True, exist_ok=True)
    temporary = files.state.with_suffix(".json.tmp")
    temporary.write_text(state.model_dump_json(indent=2))
    os.replace(temporary, files.state)


# --- configuration -----------------------------------------------------------------------


def _refusal(status: int, code: str, message: str) -> str:
    """A JSON body in MLflow's own error shape, so clients parse one format for every error."""
    body = json.dumps({"error_code": code, "message": message})
    if "'" in body:
        raise ValueError(f"a refusal message cannot hold a single quote: {message}")
    return f"http-request return status {status} content-type application/json string '{body}'"


def render_frontend(state: SplitterState) -> list[str]:
    """The frontend: request checks first (first match wins), then the backend.

    Chunked uploads are refused with 411 rather than measured: HAProxy can
    only measure a body it buffers, and buffering up to ``max_body_bytes``
    would mean a buffer that large for every connection. Clients (requests,
    httpx, curl with a file) send Content-Length for a body they hold.
    ``text/csv``, which MLflow also accepts, is refused on purpose: the
    endpoint's contract is JSON.
    """
    invocations = "{ path /invocations }"
    limit = state.max_body_bytes
    return [
        f"frontend {FRONTEND}",
        f"    bind {state.host}:{state.port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    acl forwarded path " + " ".join(FORWARDED_PATHS),
        "    acl json_body req.hdr(content-type) -m reg -i ^application/json([[:space:]]*;.*)?$",
        "    acl chunked req.hdr(transfer-encoding) -m found",
        "    "
        + _refusal(
            404,
            "NOT_FOUND",
            "unknown path: use POST /invocations (or GET /ping, /health, /version)",
        )
        + " unless forwarded",
        "    "
        + _refusal(405, "METHOD_NOT_ALLOWED", "use POST for /invocations")
        + f" if {invocations} !METH_POST",
        "    "
        + _refusal(411, "LENGTH_REQUIRED", "send the body with a Content-Length, not chunked")
        + f" if {invocations} chunked",
        "    "
        + _refusal(413, "PAYLOAD_TOO_LARGE", f"request body over {limit} bytes")
        + f" if {invocations} {{ req.hdr_val(content-length) gt {limit} }}",
        "    "
        + _refusal(415, "UNSUPPORTED_MEDIA_TYPE", "send Content-Type: application/json")
        + f" if {invocations} !json_body",
        f"    default_backend {BACKEND}",
    ]


def render_backend(state: SplitterState) -> list[str]:
    """The backend: one health-checked server per live version, at its saved weight.

    Every response says which server answered (``X-Served-By: v3``), so a
    client, a smoke test or a canary can tell the versions apart.
    """
    lines = [
        f"backend {BACKEND}",
        "    balance roundrobin",
        "    option httpchk GET /ping",
        "    http-check expect status 200",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on all-retryable-errors",
        "    http-response set-header X-Served-By %[srv_name]",
    ]
    for version, record in sorted(state.versions.items(), key=lambda item: item[0]):
        lines.append(
            f"    server {server_name(version)} 127.0.0.1:{record.port} "
            f"weight {record.weight} {CHECK_PARAMS}"
        )
    return lines


def render_config(state: SplitterState, socket_path: Path) -> str:
    """The whole static config of one model's endpoint, from its state.

    Timeouts are for prediction requests: a scoring call takes milliseconds,
    a slow client or a stuck server is cut after 30 s; ``timeout http-request``
    bounds the time to send headers and body. ``http-buffer-request`` keeps
    the body so a request can be retried on another server (``retry-on``)
    when one dies under it.
    """
    lines = [
        "# Rendered from state.json by stacks/flavors/haproxy.py; edits are overwritten.",
        "global",
        f"    stats socket {socket_path} mode 600 level admin",
        "    maxconn 2000",
        "",
        "defaults",
        "    mode http",
        "    option http-buffer-request",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "    timeout queue 10s",
        "    timeout check 2s",
        "",
        *render_frontend(state),
        "",
        *render_backend(state),
        "",
    ]
    return "\n".join(lines)


def check_config(binary: str, path: Path) -> None:
    """Have HAProxy itself validate a config; ServingError with its words if it is wrong."""
    result = subprocess.run(
        [binary, "-c", "-f", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        alerts = [line for line in result.stdout.splitlines() if "[ALERT]" in line]
        raise ServingError(f"HAProxy rejects {path}: " + "\n".join(alerts or [result.stdout]))


# --- process -----------------------------------------------------------------------------


def running_pid(files: SplitterFiles) -> int | None:
    """The pid of this endpoint's HAProxy if it runs (a stale pidfile or a reused pid is not)."""
    try:
        pid = int(files.pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = process.cmdline()
    except psutil.Error:
        return None
    return pid if str(files.config) in cmdline else None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel reports free now (ephemeral range); another process may take it later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def start_haproxy(binary: str, files: SplitterFiles, state: SplitterState) -> int:
    """Render the config from ``state``, validate it, and start HAProxy in the background.

    ``-D`` makes HAProxy daemonize itself (it outlives this process and is
    not our child, so killing it leaves no zombie); the foreground part exits
    once the listeners are bound, so its exit status says whether it started.
    """
    if port_in_use(state.host, state.port):
        raise ServingError(
            f"port {state.port} on {state.host} is already in use by another program; "
            "stop it or choose another port with deployment.serving.port in the run config"
        )
    files.directory.mkdir(parents=True, exist_ok=True)
    socket_path = files.socket
    socket_path.unlink(missing_ok=True)
    files.config.write_text(render_config(state, socket_path))
    check_config(binary, files.config)
    with files.log.open("a") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting HAProxy\n")
        log.flush()
        result = subprocess.run(
            [binary, "-D", "-f", str(files.config), "-p", str(files.pidfile)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=30,
        )
    if result.returncode != 0:
        raise ServingError(
            f"HAProxy did not start (exit {result.returncode}): {tail(files.log, 20)}"
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pid = running_pid(files)
        if pid is not None and socket_path.exists():
            return pid
        time.sleep(0.05)
    raise ServingError(f"HAProxy started but wrote no pid or socket: {tail(files.log, 20)}")


def stop_haproxy(files: SplitterFiles, timeout: float = 5.0) -> int | None:
    """Stop this endpoint's HAProxy (SIGTERM, then SIGKILL); return its pid if it ran."""
    pid = running_pid(files)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_for_exit(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_for_exit(pid, timeout)
    files.pidfile.unlink(missing_ok=True)
    with contextlib.suppress(ServingError):
        files.socket.unlink(missing_ok=True)
    return pid


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def tail(path: Path | str | None, lines: int) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    if not path:
        return "(no log)"
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --- admin socket ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminSocket:
    """HAProxy's runtime API: one command per connection (no socat needed)."""

    path: Path
    timeout: float = 5.0

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(self.timeout)
            try:
                connection.connect(str(self.path))
            except OSError as error:
                raise ServingError(
                    f"cannot reach HAProxy's admin socket {self.path}: {error}"
                ) from error
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def checked(self, line: str, confirmations: tuple[str, ...] = ()) -> str:
        """Send a command that answers nothing (or a confirmation) on success; raise otherwise.

        HAProxy answers errors in plain words on the same channel, so any
        answer that does not start with a known confirmation is an error.
        """
        answer = self.command(line).strip()
        known = ("New server registered.", "Server deleted.", *confirmations)
        if answer and not answer.startswith(known):
            raise ServingError(f"HAProxy refused '{line}': {answer}")
        return answer

    def show_stat(self) -> list[ServerStat]:
        """Per-server figures of every backend."""
        return parse_show_stat(self.command("show stat"))


@dataclass(frozen=True)
class ServerStat:
    """One server's line of ``show stat``; counters are cumulative since HAProxy started."""

    backend: str
    server: str
    status: str  # first word: UP, DOWN, MAINT, DRAIN, NOLB, "no" (no check)
    weight: int
    current_sessions: int  # scur: requests in flight
    total_sessions: int  # stot
    total_requests: int  # req_tot (HTTP requests sent to this server)
    check_status: str
    address: str = ""  # "127.0.0.1:8001"
    responses_4xx: int = 0  # hrsp_4xx
    responses_5xx: int = 0  # hrsp_5xx (HAProxy's own 503s for a dead server included)
    response_ms: float | None = None  # rtime: mean time to response headers, last 1024

    @property
    def up(self) -> bool:
        """Whether the server takes traffic when weighted (HAProxy's checks pass)."""
        return self.status == "UP"


def _int(value: str | None) -> int:
    return int(value) if value else 0


def parse_show_stat(text: str) -> list[ServerStat]:
    """The server lines (not FRONTEND/BACKEND totals) of a ``show stat`` CSV answer."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ServingError(f"unexpected answer to 'show stat': {text[:200]!r}")
    header = lines[0][2:]
    rows = csv.DictReader([header, *lines[1:]])
    stats = []
    for row in rows:
        if row.get("svname") in {"FRONTEND", "BACKEND"} or not row.get("svname"):
            continue
        status = (row.get("status") or "").split(" ")[0]
        stats.append(
            ServerStat(
                backend=row["pxname"],
                server=row["svname"],
                status=status,
                weight=_int(row.get("weight")),
                current_sessions=_int(row.get("scur")),
                total_sessions=_int(row.get("stot")),
                total_requests=_int(row.get("req_tot")),
                check_status=row.get("check_status") or "",
                address=row.get("addr") or "",
                responses_4xx=_int(row.get("hrsp_4xx")),
                responses_5xx=_int(row.get("hrsp_5xx")),
                response_ms=float(row["rtime"]) if row.get("rtime") else None,
            )
        )
    return stats


def model_servers(stats: list[ServerStat]) -> dict[str, ServerStat]:
    """The endpoint's servers by version."""
    found = {}
    for stat in stats:
        version = version_of(stat.server)
        if stat.backend == BACKEND and version is not None:
            found[version] = stat
    return found


# --- weights -----------------------------------------------------------------------------


def validate_weights(
    weights: Mapping[str, object], known: Mapping[str, bool], model_name: str
) -> dict[str, int]:
    """Every known version's new weight (unnamed ones get 0), or ServingError.

    ``known`` maps each live version to whether HAProxy reports it UP. The
    rule: only known versions, whole numbers 0..100 summing to 100, and every
    weighted version healthy, so the endpoint always has somewhere to send a
    request.
    """
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ServingError(
            f"{model_name}: no server for version(s) {', '.join(unknown)}; "
            f"serving: {', '.join(sorted(known)) or 'none'} (serve a version before weighting it)"
        )
    checked: dict[str, int] = {}
    for version, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            raise ServingError(
                f"{model_name}: weight of version {version} must be a whole number 0..100, "
                f"got {weight!r}"
            )
        checked[version] = weight
    total = sum(checked.values())
    if total != 100:
        raise ServingError(f"{model_name}: weights must sum to 100, got {total} ({checked})")
    unhealthy = sorted(v for v, w in checked.items() if w > 0 and not known[v])
    if unhealthy:
        raise ServingError(
            f"{model_name}: version(s) {', '.join(unhealthy)} fail their health check; "
            "they cannot take traffic"
        )
    return {version: checked.get(version, 0) for version in known}
