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

import csv
import json
import math
import os
import re
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stacks.flavors.supervision import runtime_socket_path
from stacks.flavors.traffic import EndpointSettings, ServingError

#: The one backend of every endpoint; its servers are named ``v<version>_r<replica>``.
BACKEND = "model"
FRONTEND = "endpoint"
STATS_FRONTEND = "stats"
#: Paths the endpoint forwards to the scoring servers; anything else is a 404 at HAProxy.
FORWARDED_PATHS = ("/invocations", "/ping", "/health", "/version")
METRICS_PATH = "/metrics"
STATS_PATH = "/stats"
#: Longest Unix socket path the kernel accepts (``sun_path`` is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107
#: Health checks every second; while a server changes state (and while it is down) every
#: quarter second, so a dead replica is out within about 0.5 s after its first failed
#: check and a restarted one is back about 0.5 s after it answers.
CHECK_PARAMS = "check inter 1s fastinter 250ms downinter 250ms fall 2 rise 2"
#: HAProxy's largest server weight.
MAX_SERVER_WEIGHT = 256
SERVER_NAME = re.compile(r"^v(?P<version>[^_]+?)(?:_r(?P<replica>\d+))?$")


class VersionRecord(BaseModel):
    """One version's servers behind the endpoint, as the state file keeps it."""

    model_config = ConfigDict(extra="forbid")

    #: One port per replica, in replica order (replica 1 first).
    ports: list[int] = Field(min_length=1)
    weight: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _from_single_server(cls, data: Any) -> Any:
        """Read a state written before replicas (``port`` and ``service_uuid``) as one replica."""
        if isinstance(data, dict) and "port" in data and "ports" not in data:
            port = data["port"]
            data = {k: v for k, v in data.items() if k not in {"port", "service_uuid"}}
            data["ports"] = [port]
        return data

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, ports: list[int]) -> list[int]:
        if any(not 0 < port < 65536 for port in ports):
            raise ValueError(f"ports must be 1..65535, got {ports}")
        return ports


class SplitterState(BaseModel):
    """Everything needed to render one model's HAProxy config from scratch."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=5080, gt=0, lt=65536)
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    workers: int = Field(default=1, ge=1)
    replicas: int = Field(default=1, ge=1)
    max_in_flight: int = Field(default=2, ge=1)
    max_queue: int = Field(default=20, ge=0)
    queue_timeout: float = Field(default=1.0, gt=0.0)
    retry_after: int = Field(default=1, ge=1)
    versions: dict[str, VersionRecord] = Field(default_factory=dict)

    @classmethod
    def for_endpoint(cls, model_name: str, settings: EndpointSettings) -> SplitterState:
        """A state with no versions yet, for a newly opened endpoint."""
        return cls(model_name=model_name, **_settings_fields(settings))

    def with_settings(self, settings: EndpointSettings) -> SplitterState:
        """The same versions under (possibly) new endpoint settings."""
        return self.model_copy(update=_settings_fields(settings))

    def settings(self) -> EndpointSettings:
        """The endpoint settings this state was opened with."""
        return EndpointSettings(
            port=self.port,
            host=self.host,
            max_body_bytes=self.max_body_bytes,
            workers=self.workers,
            replicas=self.replicas,
            max_in_flight=self.max_in_flight,
            max_queue=self.max_queue,
            queue_timeout=self.queue_timeout,
            retry_after=self.retry_after,
            metrics_port=self.metrics_port,
        )

    def url(self) -> str:
        """The stable scoring URL clients call (loopback when HAProxy binds every address)."""
        host = "127.0.0.1" if self.host in {"", "0.0.0.0"} else self.host
        return f"http://{host}:{self.port}/invocations"

    def metrics_url(self) -> str | None:
        """Where HAProxy's Prometheus exporter answers (loopback only), if a port is set."""
        return f"http://127.0.0.1:{self.metrics_port}{METRICS_PATH}" if self.metrics_port else None


def _settings_fields(settings: EndpointSettings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "metrics_port": settings.metrics_port,
        "max_body_bytes": settings.max_body_bytes,
        "workers": settings.workers,
        "replicas": settings.replicas,
        "max_in_flight": settings.max_in_flight,
        "max_queue": settings.max_queue,
        "queue_timeout": settings.queue_timeout,
        "retry_after": settings.retry_after,
    }


def server_name(version: str, replica: int = 1) -> str:
    """HAProxy's name for a replica of a version's servers: ``v3_r1`` for version "3"."""
    return f"v{version}_r{replica}"


def version_of(server: str) -> str | None:
    """The version a server name stands for, or None for something that is not ours."""
    match = SERVER_NAME.match(server)
    return match.group("version") if match else None


def server_weights(weights: Mapping[str, int], replicas: Mapping[str, int]) -> dict[str, int]:
    """HAProxy's weight for each replica of each version, so versions share by ``weights``.

    HAProxy's round robin shares by server weight, so a version's share is its
    replicas' weights summed: each replica gets ``weight * L / replicas`` with
    ``L`` the least common multiple of the versions' replica counts (exact, and
    equal to the version's weight when every version has as many replicas),
    scaled down to HAProxy's 256 when needed (then shares are within a percent).
    """
    common = math.lcm(*replicas.values()) if replicas else 1
    raw = {v: weights.get(v, 0) * common // replicas[v] for v in replicas}
    largest = max(raw.values(), default=0)
    if largest <= MAX_SERVER_WEIGHT:
        return raw
    return {
        v: max(round(w * MAX_SERVER_WEIGHT / largest), 1 if w else 0) for v, w in raw.items()
    }


def admin_socket_path(state_dir: Path, runtime_root: Path | None = None) -> Path:
    """A short per-user path for the admin socket of the endpoint whose files are in ``state_dir``.

    ``<tmp>/fraudops-<uid>/<hash of state_dir>.sock``: the hash keeps two
    deployers (two ZenML stores) apart, the per-user directory (mode 0700)
    keeps other users off a socket that can reroute traffic.
    """
    return runtime_socket_path(state_dir, ".sock", runtime_root)


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
    def lease(self) -> Path:
        """The roll-out in progress and until when its deploy has promised to renew it."""
        return self.directory / "rollout-lease.json"

    @property
    def interrupted(self) -> Path:
        """Roll-outs the guard ended because their lease expired, for the next command to tell."""
        return self.directory / "interrupted.json"

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
    """Write the state and the config rendered from it, each atomically.

    The config on disk always says what the runtime API last set, so when the
    supervisor restarts a killed HAProxy it comes back with today's routing
    (runtime changes over the admin socket are lost with the process).
    """
    files.directory.mkdir(parents=True, exist_ok=True)
    _write_atomically(files.config, render_config(state, files.socket))
    _write_atomically(files.state, state.model_dump_json(indent=2))


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


# --- configuration -----------------------------------------------------------------------


def _answer(status: int, code: str, message: str) -> str:
    """The arguments of an HAProxy-made answer in MLflow's error shape (one format for clients)."""
    body = json.dumps({"error_code": code, "message": message})
    if "'" in body:
        raise ValueError(f"a refusal message cannot hold a single quote: {message}")
    return f"status {status} content-type application/json string '{body}'"


def _refusal(status: int, code: str, message: str) -> str:
    return "http-request return " + _answer(status, code, message)


def shed_answer(state: SplitterState) -> str:
    """The fast 503 for a request beyond what the replicas and the queue hold."""
    return (
        _answer(
            503,
            "OVERLOADED",
            f"the endpoint is at capacity; retry after {state.retry_after} s",
        )
        + f" hdr Retry-After {state.retry_after}"
    )


def render_frontend(state: SplitterState) -> list[str]:
    """The clients' frontend: request checks first (first match wins), then the backend.

    Chunked uploads are refused with 411 rather than measured: HAProxy can
    only measure a body it buffers, and buffering up to ``max_body_bytes``
    would mean a buffer that large for every connection. Clients (requests,
    httpx, curl with a file) send Content-Length for a body they hold.
    ``text/csv``, which MLflow also accepts, is refused on purpose: the
    endpoint's contract is JSON. Past the checks, a request that would wait
    behind more than ``max_queue`` others is shed at once (503, Retry-After)
    instead of queueing: the replicas keep answering at their capacity.
    """
    invocations = "{ path /invocations }"
    limit = state.max_body_bytes
    return [
        f"frontend {FRONTEND}",
        f"    bind {state.host}:{state.port}",
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
        f"    http-request return {shed_answer(state)} if {{ queue({BACKEND}) ge {state.max_queue} }}",
        f"    default_backend {BACKEND}",
    ]


def render_stats_frontend(state: SplitterState) -> list[str]:
    """HAProxy's Prometheus exporter and stats page, on their own loopback port.

    Never on the clients' port: the figures (and HAProxy's build version) are
    for the machine's operators and the monitoring that scrapes them.
    """
    if state.metrics_port is None:
        return []
    return [
        f"frontend {STATS_FRONTEND}",
        f"    bind 127.0.0.1:{state.metrics_port}",
        f"    http-request use-service prometheus-exporter if {{ path {METRICS_PATH} }}",
        "    stats enable",
        f"    stats uri {STATS_PATH}",
        "    stats refresh 5s",
        "",
    ]


def server_params(state: SplitterState) -> str:
    """What every replica's server line carries beyond address and weight.

    ``maxconn``: the replica holds at most ``max_in_flight`` requests, the rest
    wait in HAProxy (bounded by ``timeout queue`` and the frontend's shedding),
    so a health check reaches a replica that is busy but not buried and a busy
    server is never marked DOWN.
    """
    return f"maxconn {state.max_in_flight} {CHECK_PARAMS}"


def render_backend(state: SplitterState) -> list[str]:
    """The backend: health-checked replicas of every live version, at their version's share.

    Every response says which version answered (``X-Served-By: v3``), so a
    client, a smoke test or a canary can tell the versions apart. A request is
    sent again, to another replica, only when it never got an answer: the
    connection failed (``conn-failure``) or the replica closed it without a
    byte of answer because it died under it (``empty-response``; scoring has
    no side effects). An answer, 5xx included, is never retried.
    """
    replicas = {version: len(record.ports) for version, record in state.versions.items()}
    weights = server_weights({v: r.weight for v, r in state.versions.items()}, replicas)
    lines = [
        f"backend {BACKEND}",
        "    balance roundrobin",
        "    option httpchk GET /ping",
        "    http-check expect status 200",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        f"    timeout queue {int(state.queue_timeout * 1000)}ms",
        f"    http-error {shed_answer(state)}",
        "    http-response set-header X-Served-By %[srv_name,field(1,_)]",
    ]
    for version, record in sorted(state.versions.items(), key=lambda item: item[0]):
        for replica, port in enumerate(record.ports, start=1):
            lines.append(
                f"    server {server_name(version, replica)} 127.0.0.1:{port} "
                f"weight {weights[version]} {server_params(state)}"
            )
    return lines


def render_config(state: SplitterState, socket_path: Path) -> str:
    """The whole static config of one model's endpoint, from its state.

    Timeouts are for prediction requests: a scoring call takes milliseconds,
    a slow client or a stuck server is cut after 30 s; ``timeout http-request``
    bounds the time to send headers and body. ``http-buffer-request`` keeps
    the body so a request can be retried on another replica (``retry-on``)
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
        "    timeout check 2s",
        "",
        *render_frontend(state),
        "",
        *render_stats_frontend(state),
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


# --- ports and processes -----------------------------------------------------------------


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
    down_transitions: int = 0  # chkdown: UP -> DOWN transitions since HAProxy started
    queued: int = 0  # qcur: requests waiting in HAProxy's queue for this server

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
                down_transitions=_int(row.get("chkdown")),
                queued=_int(row.get("qcur")),
            )
        )
    return stats


def model_servers(stats: list[ServerStat]) -> dict[str, ServerStat]:
    """The endpoint's replica servers by HAProxy name (``v3_r1``), ours only."""
    return {
        stat.server: stat
        for stat in stats
        if stat.backend == BACKEND and version_of(stat.server) is not None
    }


@dataclass(frozen=True)
class VersionStat:
    """One version's replicas taken together, as routing and the canary see the version."""

    version: str
    replicas: tuple[ServerStat, ...]

    @property
    def healthy(self) -> bool:
        """Whether at least one replica is UP after a real health check (it can take traffic)."""
        return any(passes_check(stat) for stat in self.replicas)

    @property
    def status(self) -> str:
        """UP if any replica is UP, else the first replica's word (DRAIN, MAINT, DOWN)."""
        if any(stat.up for stat in self.replicas):
            return "UP"
        return self.replicas[0].status if self.replicas else "DOWN"

    @property
    def total_requests(self) -> int:
        return sum(stat.total_requests for stat in self.replicas)

    @property
    def responses_4xx(self) -> int:
        return sum(stat.responses_4xx for stat in self.replicas)

    @property
    def responses_5xx(self) -> int:
        return sum(stat.responses_5xx for stat in self.replicas)

    @property
    def current_sessions(self) -> int:
        return sum(stat.current_sessions for stat in self.replicas)

    @property
    def weight(self) -> int:
        """HAProxy's weight summed over the replicas."""
        return sum(stat.weight for stat in self.replicas)

    @property
    def response_ms(self) -> float | None:
        """The replicas' recent mean response times, weighted by the requests each answered."""
        timed = [s for s in self.replicas if s.response_ms is not None and s.total_requests]
        total = sum(s.total_requests for s in timed)
        if not total:
            return None
        return sum(s.response_ms * s.total_requests for s in timed if s.response_ms) / total


def passes_check(stat: ServerStat | None) -> bool:
    """Whether HAProxy sees the server UP after a real health check (not just initially)."""
    return stat is not None and stat.up and "L7OK" in stat.check_status


def version_stats(stats: list[ServerStat]) -> dict[str, VersionStat]:
    """The endpoint's servers grouped by version."""
    grouped: dict[str, list[ServerStat]] = {}
    for name, stat in sorted(model_servers(stats).items()):
        version = version_of(name)
        assert version is not None
        grouped.setdefault(version, []).append(stat)
    return {version: VersionStat(version, tuple(found)) for version, found in grouped.items()}


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
