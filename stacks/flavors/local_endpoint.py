"""One model's endpoint on this machine: supervised replicas behind a supervised HAProxy.

No ZenML here, so the roll-out guard (a supervised process of its own) can use it as
the deploy does. The ZenML flavor (:mod:`stacks.flavors.mlflow_haproxy`) downloads the
model and calls this; :mod:`stacks.flavors.haproxy` renders HAProxy's config and speaks
its admin socket; :mod:`stacks.flavors.supervision` keeps the processes alive.

Per model, supervisord runs (program names start with the model's directory name):

- ``<model>--haproxy``: the stable endpoint, in the foreground (``-db``), its config
  rendered from ``state.json`` at every change, so a restarted HAProxy routes as before;
- ``<model>--v<N>-r<i>``: replica ``i`` of version ``N`` (:mod:`stacks.flavors.replica`: a
  gunicorn arbiter that loaded the model once, over uvicorn workers forked from it), each on
  its own loopback port recorded in the state;
- ``<model>--guard``: :mod:`stacks.flavors.rollout_guard`, which ends a roll-out whose
  deploy stopped renewing its lease (killed, or the machine slept).

Changes to one endpoint are serialized with a lock file, since the deploy and the
guard may both change it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from stacks.flavors import haproxy
from stacks.flavors.haproxy import AdminSocket, SplitterFiles, SplitterState, VersionRecord
from stacks.flavors.ports import check_port_free
from stacks.flavors.replica import replica_command, replica_environment
from stacks.flavors.supervision import Program, Supervisor
from stacks.flavors.traffic import (
    Backend,
    EndpointSettings,
    Interruption,
    Replica,
    ServingError,
    TrafficCounters,
)

#: Once every replica answers, how long HAProxy may take to see them healthy (rise 2, inter 1s).
HEALTH_WAIT_SECONDS = 15.0
#: How long HAProxy may take to answer on its admin socket after it was (re)started.
HAPROXY_START_SECONDS = 10.0
#: What the guard gives a challenger's in-flight requests before it stops its servers.
GUARD_DRAIN_SECONDS = 5.0
#: The project's root: replicas and the guard run its modules with this interpreter.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lease:
    """A roll-out in progress: who serves, who is being tried, and until when it is vouched for."""

    champion: str | None
    challenger: str
    expires_at: float  # wall-clock seconds (time.time): a machine that slept has expired it
    pid: int  # the deploy process
    pid_started_at: float  # its start time, so a reused pid is not taken for it
    started_at: str

    def holder_alive(self) -> bool:
        """Whether the process that took the lease still runs (on this machine)."""
        try:
            process = psutil.Process(self.pid)
            return abs(process.create_time() - self.pid_started_at) < 1.0
        except psutil.Error:
            return False


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def process_started_at(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


@dataclass(frozen=True)
class LocalEndpoint:
    """One model's endpoint: its files, its supervised processes, its routing."""

    files: SplitterFiles
    supervisor: Supervisor
    haproxy_binary: str | None = None

    # --- names and paths -------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"{self.files.directory.name}--"

    @property
    def haproxy_program(self) -> str:
        return f"{self.prefix}haproxy"

    @property
    def guard_program(self) -> str:
        return f"{self.prefix}guard"

    def replica_program(self, version: str, replica: int) -> str:
        return f"{self.prefix}v{version}-r{replica}"

    def model_directory(self, version: str) -> Path:
        """Where version's MLflow model files are kept for its replicas to load."""
        return self.files.directory / "models" / f"v{version}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize changes to this endpoint between processes (deploy, guard, --serve)."""
        self.files.directory.mkdir(parents=True, exist_ok=True)
        with (self.files.directory / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def state(self) -> SplitterState | None:
        return haproxy.load_state(self.files)

    def _state(self) -> SplitterState:
        state = self.state()
        if state is None:
            raise ServingError(
                f"{self.files.directory.name}: no endpoint is open; python run.py --serve opens it"
            )
        return state

    def admin(self) -> AdminSocket:
        return AdminSocket(self.files.socket)

    # --- the endpoint ----------------------------------------------------------------

    def haproxy_running(self) -> bool:
        info = self.supervisor.info(self.haproxy_program) if self.supervisor.is_running() else None
        return info is not None and info.running

    def open(self, model_name: str, settings: EndpointSettings) -> str:
        """Start (or keep) the endpoint's HAProxy and guard under the supervisor; its URL.

        ``settings.port`` must be resolved (see :func:`assign_ports`). A running
        endpoint with the same settings is left alone; with other settings its
        HAProxy is restarted with them (in-flight requests are cut).
        """
        with self.locked():
            saved = self.state()
            state = (
                saved.with_settings(settings)
                if saved is not None
                else SplitterState.for_endpoint(model_name, settings)
            )
            running = self.haproxy_running()
            on_disk = self.files.config.read_text() if self.files.config.is_file() else None
            unchanged = on_disk == haproxy.render_config(state, self.files.socket)
            if running and saved == state and unchanged:
                self._ensure_guard()
                return state.url()
            if not running or (saved is not None and saved.port != state.port):
                check_port_free(state.host, state.port, self.files.directory.parent, model_name)
            haproxy.save_state(self.files, state)
            haproxy.check_config(self._binary(), self.files.config)
            self.supervisor.add(self._haproxy_definition())
            if running:
                self.supervisor.restart(self.haproxy_program)
            self._wait_for_haproxy()
            self._ensure_guard()
            return state.url()

    def url(self) -> str | None:
        state = self.state()
        if state is None or not self.haproxy_running():
            return None
        return state.url()

    def _binary(self) -> str:
        if self.haproxy_binary is None:
            raise ServingError("no HAProxy binary was given to start the endpoint with")
        return self.haproxy_binary

    def _haproxy_definition(self) -> Program:
        return Program(
            name=self.haproxy_program,
            command=[self._binary(), "-db", "-f", str(self.files.config)],
            directory=self.files.directory,
            start_seconds=1,
        )

    def _ensure_guard(self) -> None:
        self.supervisor.add(
            Program(
                name=self.guard_program,
                command=[
                    sys.executable,
                    "-m",
                    "stacks.flavors.rollout_guard",
                    "--endpoint",
                    str(self.files.directory),
                    "--supervisor",
                    str(self.supervisor.directory),
                ],
                directory=PROJECT_ROOT,
                start_seconds=1,
            )
        )

    def _wait_for_haproxy(self) -> None:
        """Until HAProxy answers on its admin socket (it has bound its ports)."""
        deadline = time.monotonic() + HAPROXY_START_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.admin().show_stat()
                return
            except (ServingError, OSError) as error:
                last = error
                time.sleep(0.1)
        raise ServingError(
            f"HAProxy did not come up within {HAPROXY_START_SECONDS:.0f} s ({last}); it printed:\n"
            f"{self.supervisor.tail(self.haproxy_program, 20)}"
        )

    # --- versions --------------------------------------------------------------------

    def serve_version(self, version: str, app: str, timeout: float) -> Backend:
        """Run the version's replicas (reusing running ones); they join the endpoint at its weight.

        The model's files must be in :meth:`model_directory`. Returns once every
        replica answers and HAProxy's health check passes for each; on failure
        what this call started is stopped again and ServingError says why.
        """
        with self.locked():
            state = self._state()
            if not self.haproxy_running():
                self.supervisor.add(self._haproxy_definition())
                self._wait_for_haproxy()
            record = state.versions.get(version)
            ports = list(record.ports[: state.replicas]) if record else []
            while len(ports) < state.replicas:
                ports.append(haproxy.free_port())
            programs = [
                self._replica_definition(version, replica, port, app, state.workers)
                for replica, port in enumerate(ports, start=1)
            ]
            before = set(self.supervisor.names(self.prefix))
            for program in programs:
                self.supervisor.add(program)
            started = [p.name for p in programs if p.name not in before]
            admin = self.admin()
            members_before = set(haproxy.model_servers(admin.show_stat()))
            try:
                self._wait_answering(version, ports, timeout)
                weight = record.weight if record else 0
                state.versions[version] = VersionRecord(ports=ports, weight=weight)
                self._sync_servers(admin, state)
                self._wait_until_up(admin, version)
            except (ServingError, OSError) as error:
                self._undo_serve(admin, state, version, record, started, members_before)
                raise ServingError(str(error)) from error
            haproxy.save_state(self.files, state)
            return self._backend(version, state, admin_stats(admin), self.supervisor.all_info())

    def _replica_definition(
        self, version: str, replica: int, port: int, app: str, workers: int
    ) -> Program:
        return Program(
            name=self.replica_program(version, replica),
            command=replica_command(port, workers, app),
            directory=PROJECT_ROOT,
            environment=replica_environment(str(self.model_directory(version)), dict(os.environ)),
            start_seconds=2,
        )

    def _wait_answering(self, version: str, ports: list[int], timeout: float) -> None:
        """Until every replica answers GET /ping with 200 (the model is loaded)."""
        deadline = time.monotonic() + timeout
        waiting = dict(enumerate(ports, start=1))
        while waiting and time.monotonic() < deadline:
            for replica, port in list(waiting.items()):
                if ping(port):
                    del waiting[replica]
            if waiting:
                time.sleep(0.25)
        if waiting:
            replica = next(iter(waiting))
            name = self.replica_program(version, replica)
            raise ServingError(
                f"{self.files.directory.name} v{version}: replica {replica} (port "
                f"{waiting[replica]}) does not answer /ping after {timeout:.0f} s; its log ends:\n"
                f"{self.supervisor.tail(name, 20)}"
            )

    def _undo_serve(
        self,
        admin: AdminSocket,
        state: SplitterState,
        version: str,
        record: VersionRecord | None,
        started: list[str],
        members_before: set[str],
    ) -> None:
        """Take back what a failed serve_version did: new servers out, new programs stopped."""
        with contextlib.suppress(ServingError, OSError):
            for name in set(haproxy.model_servers(admin.show_stat())) - members_before:
                _remove_server(admin, name)
        for name in started:
            self.supervisor.remove(name)
        if record is None:
            state.versions.pop(version, None)
        else:
            state.versions[version] = record

    def _sync_servers(self, admin: AdminSocket, state: SplitterState) -> None:
        """Make HAProxy's servers what the state says: addresses, members, weights.

        New replicas join in maintenance-free ready state at their weight; a
        replica the state no longer lists is taken out. Raised weights go
        before lowered ones, so some healthy server carries weight throughout.
        """
        current = haproxy.model_servers(admin.show_stat())
        wanted: dict[str, int] = {}
        for version, record in state.versions.items():
            for replica, port in enumerate(record.ports, start=1):
                wanted[haproxy.server_name(version, replica)] = port
        for name, port in sorted(wanted.items()):
            existing = current.get(name)
            if existing is None:
                admin.checked(
                    f"add server {haproxy.BACKEND}/{name} 127.0.0.1:{port} weight 0 "
                    f"{haproxy.server_params(state)}"
                )
                admin.checked(f"enable health {haproxy.BACKEND}/{name}")
                admin.checked(f"enable server {haproxy.BACKEND}/{name}")
                continue
            if existing.address != f"127.0.0.1:{port}":
                admin.checked(
                    f"set server {haproxy.BACKEND}/{name} addr 127.0.0.1 port {port}",
                    confirmations=("IP changed from", "no need to change the addr"),
                )
            if existing.status in {"MAINT", "DRAIN"}:
                admin.checked(f"set server {haproxy.BACKEND}/{name} state ready")
        self._apply_weights(admin, state, current)
        for name in sorted(set(current) - set(wanted)):
            _remove_server(admin, name)

    def _apply_weights(
        self,
        admin: AdminSocket,
        state: SplitterState,
        current: Mapping[str, haproxy.ServerStat] | None = None,
    ) -> None:
        current = current if current is not None else haproxy.model_servers(admin.show_stat())
        replicas = {v: len(r.ports) for v, r in state.versions.items()}
        per_server = haproxy.server_weights(
            {v: r.weight for v, r in state.versions.items()}, replicas
        )
        targets = {
            haproxy.server_name(v, i): per_server[v]
            for v, count in replicas.items()
            for i in range(1, count + 1)
        }

        def change(name: str) -> int:
            stat = current.get(name)
            return targets[name] - (stat.weight if stat else 0)

        for name in sorted(targets, key=change, reverse=True):
            admin.checked(f"set server {haproxy.BACKEND}/{name} weight {targets[name]}")

    def _wait_until_up(self, admin: AdminSocket, version: str) -> None:
        """Until HAProxy's own health check passes for every replica of the version."""
        deadline = time.monotonic() + HEALTH_WAIT_SECONDS
        down: list[str] = []
        while time.monotonic() < deadline:
            servers = haproxy.model_servers(admin.show_stat())
            mine = {n: s for n, s in servers.items() if haproxy.version_of(n) == version}
            down = sorted(n for n, s in mine.items() if not haproxy.passes_check(s))
            if mine and not down:
                return
            time.sleep(0.2)
        raise ServingError(
            f"{self.files.directory.name} v{version}: HAProxy's health check (GET /ping) does "
            f"not pass after {HEALTH_WAIT_SECONDS:.0f} s for {', '.join(down) or 'any replica'}"
        )

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        """Route new requests by ``weights``; ServingError with nothing changed if refused."""
        with self.locked():
            state = self._state()
            admin = self._running_admin(model_name)
            stats = haproxy.version_stats(admin.show_stat())
            healthy = {v: v in stats and stats[v].healthy for v in state.versions}
            new = haproxy.validate_weights(weights, healthy, model_name)
            self._route(admin, state, new)

    def _route(self, admin: AdminSocket, state: SplitterState, weights: Mapping[str, int]) -> None:
        old = {v: r.weight for v, r in state.versions.items()}
        for version, weight in weights.items():
            state.versions[version].weight = weight
        try:
            self._apply_weights(admin, state)
        except ServingError:
            for version, weight in old.items():
                state.versions[version].weight = weight
            with contextlib.suppress(ServingError, OSError):
                self._apply_weights(admin, state)
            raise
        haproxy.save_state(self.files, state)

    def _running_admin(self, model_name: str) -> AdminSocket:
        if not self.haproxy_running():
            raise ServingError(
                f"{model_name}: the endpoint's HAProxy is not running; python run.py --serve "
                "starts it"
            )
        return self.admin()

    def retire_version(self, model_name: str, version: str, drain_timeout: float) -> None:
        """Drain the version's replicas, wait for their in-flight requests, then stop them.

        Refused for the only weighted version. A weighted version among others
        leaves its share to them in proportion, as HAProxy routes it.
        """
        with self.locked():
            self._retire(model_name, version, drain_timeout)

    def _retire(self, model_name: str, version: str, drain_timeout: float) -> None:
        state = self._state()
        record = state.versions.get(version)
        if record is not None:
            others = {v: r.weight for v, r in state.versions.items() if v != version and r.weight}
            if record.weight > 0 and not others:
                raise ServingError(
                    f"{model_name}: version {version} is the only weighted version; weight "
                    "another version first (set_weights), then retire this one"
                )
            if self.haproxy_running():
                admin = self.admin()
                self._drain(admin, version, drain_timeout)
            del state.versions[version]
            for other, weight in normalized_weights(others).items():
                state.versions[other].weight = weight
            haproxy.save_state(self.files, state)
        for name in self.supervisor.names(f"{self.prefix}v{version}-r"):
            self.supervisor.remove(name)
        shutil.rmtree(self.model_directory(version), ignore_errors=True)

    def _drain(self, admin: AdminSocket, version: str, timeout: float) -> None:
        mine = [
            n for n in haproxy.model_servers(admin.show_stat()) if haproxy.version_of(n) == version
        ]
        for name in mine:
            admin.checked(f"set server {haproxy.BACKEND}/{name} weight 0")
            admin.checked(f"set server {haproxy.BACKEND}/{name} state drain")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            servers = haproxy.model_servers(admin.show_stat())
            if all(servers[n].current_sessions == 0 for n in mine if n in servers):
                break
            time.sleep(0.1)
        for name in mine:
            _remove_server(admin, name)

    # --- what is there ---------------------------------------------------------------

    def backends(self) -> list[Backend]:
        """Every version in the state, with its replicas' real state (supervisor and HAProxy)."""
        state = self.state()
        if state is None:
            return []
        stats: list[haproxy.ServerStat] = []
        if self.haproxy_running():
            stats = admin_stats(self.admin())
        programs = self.supervisor.all_info()
        return [self._backend(v, state, stats, programs) for v in sorted(state.versions)]

    def _backend(
        self,
        version: str,
        state: SplitterState,
        stats: list[haproxy.ServerStat],
        programs: Mapping[str, object],
    ) -> Backend:
        record = state.versions[version]
        servers = haproxy.model_servers(stats)
        replicas = []
        for replica, port in enumerate(record.ports, start=1):
            info = programs.get(self.replica_program(version, replica))
            stat = servers.get(haproxy.server_name(version, replica))
            replicas.append(
                Replica(
                    name=self.replica_program(version, replica),
                    state=getattr(info, "state", "UNKNOWN") if info else "ABSENT",
                    pid=getattr(info, "pid", None),
                    port=port,
                    uptime_seconds=getattr(info, "uptime_seconds", None),
                    restarts=getattr(info, "restarts", 0),
                    healthy=haproxy.passes_check(stat),
                )
            )
        running = [r for r in replicas if r.pid is not None]
        version_stat = haproxy.version_stats(stats).get(version)
        first = running[0] if running else None
        return Backend(
            version=version,
            weight=record.weight,
            state=backend_state(version_stat, bool(running)),
            healthy=bool(running) and version_stat is not None and version_stat.healthy,
            url=f"http://127.0.0.1:{first.port}/invocations" if first else None,
            port=first.port if first else record.ports[0],
            pid=first.pid if first else None,
            replicas=tuple(replicas),
        )

    def counters(self, model_name: str) -> dict[str, TrafficCounters]:
        """HAProxy's own cumulative figures per version (its replicas summed)."""
        admin = self._running_admin(model_name)
        try:
            stats = haproxy.version_stats(admin.show_stat())
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

    def shut_down(self) -> list[str]:
        """Stop every process of this endpoint and forget its routing; what was stopped."""
        with self.locked():
            state = self.state()
            lines = []
            for name in self.supervisor.names(self.prefix):
                pid = self.supervisor.remove(name)
                if pid is not None:
                    what = name[len(self.prefix) :]
                    lines.append(
                        f"stopped {what} of {state.model_name if state else name} (pid {pid})"
                    )
            if state is not None and lines:
                lines.append(f"{state.model_name}: endpoint {state.url()} closed")
            for path in (self.files.state, self.files.lease, self.files.config):
                path.unlink(missing_ok=True)
            with contextlib.suppress(ServingError):  # HAProxy leaves its socket behind
                self.files.socket.unlink(missing_ok=True)
            shutil.rmtree(self.files.directory / "models", ignore_errors=True)
            return lines

    # --- roll-out lease --------------------------------------------------------------

    def begin_rollout(self, champion: str | None, challenger: str, seconds: float) -> None:
        """Record that this process is trying ``challenger`` and vouches for it ``seconds``."""
        pid = os.getpid()
        lease = Lease(
            champion=champion,
            challenger=challenger,
            expires_at=time.time() + seconds,
            pid=pid,
            pid_started_at=process_started_at(pid),
            started_at=now_iso(),
        )
        _write_json(self.files.lease, asdict(lease))

    def renew_rollout(self, seconds: float) -> None:
        """Push the lease's expiry ``seconds`` ahead (while this process still holds it)."""
        lease = self.lease()
        if lease is None or lease.pid != os.getpid():
            return
        _write_json(self.files.lease, {**asdict(lease), "expires_at": time.time() + seconds})

    def end_rollout(self) -> None:
        """The roll-out finished (either way) and restored or moved routing itself."""
        lease = self.lease()
        if lease is not None and lease.pid == os.getpid():
            self.files.lease.unlink(missing_ok=True)

    def lease(self) -> Lease | None:
        try:
            return Lease(**json.loads(self.files.lease.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def recover_abandoned_rollout(self, model_name: str) -> Interruption | None:
        """If a roll-out's lease expired (or its deploy is gone), route back and record it.

        All traffic goes back to the champion (weight 100, even if its health
        check is failing right now: it is what served before), the challenger's
        replicas are drained briefly and stopped, and the version is recorded as
        interrupted for the next command to report. With no champion the
        challenger is stopped and the endpoint answers 503 until a deploy.
        """
        lease = self.lease()
        if lease is None:
            return None
        expired = time.time() > lease.expires_at
        if not expired and lease.holder_alive():
            return None
        with self.locked():
            if self.lease() != lease:
                return None
            why = "its lease expired" if expired else f"its deploy (pid {lease.pid}) is gone"
            state = self.state()
            if state is not None and self.haproxy_running():
                admin = self.admin()
                if lease.champion is not None and lease.champion in state.versions:
                    weights = {v: 0 for v in state.versions}
                    weights[lease.champion] = 100
                    self._route(admin, state, weights)
                else:
                    self._route(admin, state, {v: 0 for v in state.versions})
            if state is not None and lease.challenger in state.versions:
                record = state.versions[lease.challenger]
                if record.weight and lease.champion is None:
                    record.weight = 0
                    haproxy.save_state(self.files, state)
                self._retire(model_name, lease.challenger, GUARD_DRAIN_SECONDS)
            interruption = Interruption(
                version=lease.challenger,
                champion=lease.champion,
                at=now_iso(),
                reason=(
                    f"roll-out of version {lease.challenger} started {lease.started_at} was "
                    f"interrupted ({why}); every request went back to "
                    + (f"version {lease.champion}" if lease.champion else "no version")
                    + f" and version {lease.challenger}'s servers were stopped"
                ),
            )
            self._append_interruption(interruption)
            self.files.lease.unlink(missing_ok=True)
            return interruption

    def interruptions(self) -> list[Interruption]:
        """Roll-outs the guard ended, oldest first."""
        try:
            raw = json.loads(self.files.interrupted.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [Interruption(**item) for item in raw]

    def mark_recorded(self, versions: set[str]) -> None:
        """Note that these interruptions were written to the model registry."""
        updated = [
            asdict(i) | ({"recorded": True} if i.version in versions else {})
            for i in self.interruptions()
        ]
        _write_json(self.files.interrupted, updated)

    def _append_interruption(self, interruption: Interruption) -> None:
        records = [asdict(i) for i in self.interruptions()]
        records.append(asdict(interruption))
        _write_json(self.files.interrupted, records[-50:])


def _remove_server(admin: AdminSocket, name: str) -> None:
    admin.checked(f"set server {haproxy.BACKEND}/{name} state maint")
    admin.checked(f"del server {haproxy.BACKEND}/{name}")


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=2))
    os.replace(temporary, path)


def admin_stats(admin: AdminSocket) -> list[haproxy.ServerStat]:
    """``show stat``, or nothing if HAProxy does not answer right now."""
    try:
        return admin.show_stat()
    except (ServingError, OSError):
        return []


def ping(port: int, timeout: float = 2.0) -> bool:
    """Whether a replica on ``port`` answers GET /ping with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def backend_state(stat: haproxy.VersionStat | None, running: bool) -> str:
    """The protocol's state word for one version: ready, drain, maint or stopped."""
    if stat is None or not running:
        return "stopped"
    if stat.status == "DRAIN":
        return "drain"
    if stat.status == "MAINT":
        return "maint"
    return "ready"


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
