"""supervisord as the keeper of the local endpoint's processes: start, restart, query, stop.

Why supervisord (``supervisor`` 4.3 on PyPI) and not a loop of our own or circus: it is
the long-maintained, widely deployed choice for exactly this (restart a program whenever it
exits, with back-off; start everything again when it starts), it is pure Python with no
service of its own to install, and its XML-RPC API over a Unix socket (``addProcessGroup``,
``getProcessInfo``, ``stopProcess``) lets the deployer add and remove one program per
process at runtime without restarting the others. circus would do too, but needs ZeroMQ
and is less maintained.

One supervisord per deployer component (its files under ``<local_path>/supervisor/``);
each program is one ``programs/<name>.conf`` file that supervisord includes, so after a
reboot ``supervisord -c supervisord.conf`` alone brings every program back. No ZenML here.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

from stacks.flavors.traffic import ServingError

#: Longest Unix socket path the kernel accepts (``sun_path`` is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107
#: A program name supervisord accepts and a file name on every system.
PROGRAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,120}$")
#: supervisord's states of a program that mean a process is (or is about to be) alive.
LIVE_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF"})
START_TIMEOUT_SECONDS = 15.0


def runtime_socket_path(directory: Path, suffix: str, runtime_root: Path | None = None) -> Path:
    """A short per-user path for a Unix socket belonging to the files in ``directory``.

    ``<tmp>/fraudops-<uid>/<hash of directory><suffix>``: the hash keeps two
    deployers (two ZenML stores) apart, the per-user directory (mode 0700)
    keeps other users off a socket that can reroute traffic. ZenML's local
    store under a temp directory can alone exceed the 107-byte limit.
    """
    root = runtime_root if runtime_root is not None else Path(tempfile.gettempdir())
    folder = root / f"fraudops-{os.getuid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    path = folder / f"{digest}{suffix}"
    if len(str(path)) > MAX_SOCKET_PATH:
        raise ServingError(
            f"the socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
            "set TMPDIR to a shorter directory"
        )
    return path


@dataclass(frozen=True)
class Program:
    """One supervised process: what runs, where its output goes, how it is stopped."""

    name: str
    command: list[str]
    directory: Path
    environment: dict[str, str] = field(default_factory=dict)
    #: Seconds a process must stay up to count as started (supervisord's ``startsecs``).
    start_seconds: int = 1
    #: Seconds between SIGTERM and SIGKILL when it is stopped.
    stop_seconds: int = 10

    def render(self, log_directory: Path) -> str:
        """The program's ``[program:x]`` section.

        ``autorestart=true`` with a large ``startretries``: a program that keeps
        failing to start (its port taken for a while) is retried with
        supervisord's growing back-off instead of given up after three tries.
        ``stopasgroup``/``killasgroup``: uvicorn with several workers and
        anything else that forks is stopped whole.
        """
        if not PROGRAM_NAME.match(self.name):
            raise ValueError(f"not a valid supervisor program name: {self.name!r}")
        environment = ",".join(
            f'{key}="{_quoted(value)}"' for key, value in sorted(self.environment.items())
        )
        lines = [
            f"[program:{self.name}]",
            "command=" + " ".join(_quoted_argument(part) for part in self.command),
            f"directory={self.directory}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={self.start_seconds}",
            "startretries=1000",
            "stopsignal=TERM",
            f"stopwaitsecs={self.stop_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={log_directory / (self.name + '.log')}",
            "stdout_logfile_maxbytes=5MB",
            "stdout_logfile_backups=2",
        ]
        if environment:
            lines.append(f"environment={environment}")
        return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    """A value inside supervisord's double-quoted environment syntax (``%`` is its expansion)."""
    return value.replace("%", "%%").replace('"', '\\"')


def _quoted_argument(value: str) -> str:
    """One command-line argument as supervisord's shlex-style parser reads it back."""
    escaped = value.replace("%", "%%")
    if escaped and re.fullmatch(r"[A-Za-z0-9_./:=@+,-]+", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class ProcessInfo:
    """What supervisord says of one program now."""

    name: str
    state: str  # RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ...
    pid: int | None
    uptime_seconds: float | None
    restarts: int  # times supervisord started it again after it first started

    @property
    def running(self) -> bool:
        return self.state == "RUNNING" and self.pid is not None


class UnixStreamTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's Unix socket (the standard library speaks only TCP)."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = _UnixHTTPConnection(str(self.socket_path), self.timeout)
        return connection


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


@dataclass(frozen=True)
class Supervisor:
    """One supervisord and its programs, kept in ``directory``."""

    directory: Path
    timeout: float = 10.0

    @property
    def config(self) -> Path:
        return self.directory / "supervisord.conf"

    @property
    def programs(self) -> Path:
        return self.directory / "programs"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def log(self) -> Path:
        return self.directory / "supervisord.log"

    @property
    def pidfile(self) -> Path:
        return self.directory / "supervisord.pid"

    @property
    def socket(self) -> Path:
        return runtime_socket_path(self.directory, ".supervisor.sock")

    # --- supervisord itself --------------------------------------------------------

    def render_config(self) -> str:
        """supervisord's own config: a private socket, its log, and every program file."""
        return "\n".join(
            [
                "; Written by stacks/flavors/supervision.py; edits are overwritten.",
                "[unix_http_server]",
                f"file={self.socket}",
                "chmod=0700",
                "",
                "[supervisord]",
                f"logfile={self.log}",
                "logfile_maxbytes=5MB",
                "logfile_backups=2",
                f"pidfile={self.pidfile}",
                f"childlogdir={self.logs}",
                f"directory={self.directory}",
                "loglevel=info",
                "",
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "",
                "[supervisorctl]",
                f"serverurl=unix://{self.socket}",
                "",
                "[include]",
                f"files = {self.programs}/*.conf",
                "",
            ]
        )

    def _proxy(self, timeout: float | None = None) -> Any:
        transport = UnixStreamTransport(self.socket, timeout or self.timeout)
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport)

    def is_running(self) -> bool:
        """Whether supervisord answers on its socket."""
        try:
            return bool(self._proxy(2.0).supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return False

    def pid(self) -> int | None:
        """supervisord's own pid, if it runs."""
        try:
            return int(self._proxy(2.0).supervisor.getPID())
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return None

    def ensure_running(self) -> bool:
        """Start supervisord if it is not running (it then starts every program); True if started.

        It daemonizes itself, so it outlives the command that started it, as
        HAProxy and the servers must.
        """
        if self.is_running():
            return False
        for folder in (self.directory, self.programs, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.config.write_text(self.render_config())
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise ServingError(
                f"supervisord did not start (exit {result.returncode}): {result.stdout.strip()}"
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.is_running():
                return True
            time.sleep(0.1)
        raise ServingError(f"supervisord started but does not answer on {self.socket}")

    def shutdown(self) -> int | None:
        """Stop supervisord and every program it runs; its pid if it ran."""
        pid = self.pid()
        if pid is None:
            return None
        with contextlib.suppress(OSError, xmlrpc.client.Error, http.client.HTTPException):
            self._proxy(60.0).supervisor.stopAllProcesses(True)
        with contextlib.suppress(OSError, xmlrpc.client.Error, http.client.HTTPException):
            self._proxy().supervisor.shutdown()
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=15)
        return pid

    # --- programs ------------------------------------------------------------------

    def program_file(self, name: str) -> Path:
        return self.programs / f"{name}.conf"

    def add(self, program: Program) -> None:
        """Write the program's file and have supervisord start it (replacing an older one).

        A program of the same name whose definition changed is stopped and
        replaced; an identical running one is left alone.
        """
        self.ensure_running()
        text = program.render(self.logs)
        path = self.program_file(program.name)
        known = self.info(program.name)
        if known is not None and path.is_file() and path.read_text() == text:
            if known.state not in LIVE_STATES:
                self._call("startProcess", program.name, False)
            return
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
        proxy = self._proxy()
        proxy.supervisor.reloadConfig()
        with contextlib.suppress(xmlrpc.client.Fault):
            proxy.supervisor.stopProcess(program.name, True)
        with contextlib.suppress(xmlrpc.client.Fault):
            proxy.supervisor.removeProcessGroup(program.name)
        self._call("addProcessGroup", program.name)

    def remove(self, name: str) -> int | None:
        """Stop the program and forget it (its file too); the pid it had, if it ran."""
        info = self.info(name) if self.is_running() else None
        if self.is_running():
            proxy = self._proxy(60.0)
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.supervisor.stopProcess(name, True)
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.supervisor.removeProcessGroup(name)
        self.program_file(name).unlink(missing_ok=True)
        return info.pid if info is not None and info.pid else None

    def restart(self, name: str) -> None:
        """Stop and start one program (e.g. HAProxy after its config changed)."""
        with contextlib.suppress(xmlrpc.client.Fault):
            self._proxy(60.0).supervisor.stopProcess(name, True)
        self._call("startProcess", name, False)

    def names(self, prefix: str = "") -> list[str]:
        """The programs whose files exist (what supervisord runs after a restart)."""
        if not self.programs.is_dir():
            return []
        return sorted(
            path.stem for path in self.programs.glob("*.conf") if path.stem.startswith(prefix)
        )

    def info(self, name: str) -> ProcessInfo | None:
        """supervisord's view of one program, or None if it does not know it (or is down)."""
        try:
            raw = self._proxy().supervisor.getProcessInfo(name)
        except xmlrpc.client.Fault:
            return None
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return None
        return self._process_info(raw)

    def all_info(self) -> dict[str, ProcessInfo]:
        """Every program supervisord runs, by name (empty if it is down)."""
        try:
            raw = self._proxy().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return {}
        return {item["name"]: self._process_info(item) for item in raw}

    def wait_running(self, name: str, timeout: float) -> ProcessInfo:
        """Wait until the program is RUNNING (up ``startsecs``); ServingError with its log if not."""
        deadline = time.monotonic() + timeout
        info = self.info(name)
        while time.monotonic() < deadline:
            info = self.info(name)
            if info is not None and info.running:
                return info
            time.sleep(0.1)
        state = info.state if info is not None else "unknown"
        raise ServingError(
            f"{name} is not running after {timeout:.0f} s (supervisor says {state}); its log "
            f"ends:\n{self.tail(name, 20)}"
        )

    def tail(self, name: str, lines: int) -> str:
        """The last lines the program printed."""
        path = self.logs / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _call(self, method: str, *arguments: Any) -> Any:
        try:
            return getattr(self._proxy().supervisor, method)(*arguments)
        except xmlrpc.client.Fault as fault:
            raise ServingError(f"supervisord refused {method}{arguments}: {fault.faultString}") from fault
        except (OSError, http.client.HTTPException) as error:
            raise ServingError(f"cannot reach supervisord at {self.socket}: {error}") from error

    def _process_info(self, raw: dict[str, Any]) -> ProcessInfo:
        name = cast(str, raw["name"])
        running = raw["statename"] == "RUNNING" and raw.get("pid")
        return ProcessInfo(
            name=name,
            state=cast(str, raw["statename"]),
            pid=int(raw["pid"]) if running else None,
            uptime_seconds=float(raw["now"] - raw["start"]) if running else None,
            restarts=max(self._spawns(name) - 1, 0),
        )

    def _spawns(self, name: str) -> int:
        """How often supervisord started the program, from its own log ("spawned: 'x'")."""
        marker = f"spawned: '{name}' with pid"
        count = 0
        for path in (self.log.with_name(self.log.name + ".1"), self.log):
            with contextlib.suppress(OSError), path.open(errors="replace") as lines:
                count += sum(1 for line in lines if marker in line)
        return count
