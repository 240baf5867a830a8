"""Real servers on 127.0.0.1 that stand in for the cloud: a ZenML server, moto, MLflow.

Each runs in its own process on a free port and is stopped by the fixture that
started it, by its own process id (the ZenML daemon by the pid it wrote),
never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent

#: Variables of the pytest process that must not leak into a server or client process:
#: conftest points them at the session's local ZenML store and MLflow file.
SESSION_ONLY_VARIABLES = (
    "ZENML_CONFIG_PATH",
    "ZENML_STORE_URL",
    "ZENML_ACTIVE_STACK_ID",
    "MLFLOW_TRACKING_URI",
)


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it, so parallel sessions differ)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def base_env(**overrides: str) -> dict[str, str]:
    """This process's environment without the test session's ZenML/MLflow pointers.

    Loopback traffic must never go through a proxy a CI machine may define.
    """
    env = {k: v for k, v in os.environ.items() if k not in SESSION_ONLY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(overrides)
    return env


def wait_until_up(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Poll ``url`` until it answers; fail early with the log if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answered, even if not with 200
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it came up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")
        time.sleep(0.3)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it forked."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def start_server(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a server process in its own session, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


@dataclass(frozen=True)
class Moto:
    """A moto server (S3 and SageMaker) that records every request it serves."""

    process: subprocess.Popen[bytes]
    url: str
    recording: Path

    def requests(self) -> list[dict[str, object]]:
        """Every request served so far: method, url, headers, body."""
        if not self.recording.exists():
            return []
        lines = self.recording.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def start_moto(directory: Path) -> Moto:
    """``python -m moto.server`` on a free port, with moto's request recorder on."""
    port = free_port()
    recording = directory / "moto-requests.jsonl"
    env = base_env(MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(recording))
    process = start_server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        directory / "moto.log",
        env,
    )
    return Moto(process=process, url=f"http://127.0.0.1:{port}", recording=recording)


def start_mlflow(
    directory: Path, artifact_root: str, s3_endpoint: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``mlflow server`` with a SQLite backend in ``directory``, on a free port.

    Artifacts go to ``artifact_root`` in the object store and are not proxied
    (``--no-serve-artifacts``), as the README asks of a production MLflow
    server: a Seldon pod must fetch the model from the bucket itself.
    """
    port = free_port()
    process = start_server(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{directory / 'mlflow.db'}",
            "--default-artifact-root",
            artifact_root,
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        directory / "mlflow.log",
        base_env(
            MLFLOW_S3_ENDPOINT_URL=s3_endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        ),
    )
    return process, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class ZenServer:
    """A local ZenML server daemon and the config directory that owns it."""

    config_dir: Path
    port: int

    @property
    def url(self) -> str:
        """Where clients reach it."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment of the ``zenml`` commands that start and stop it."""
        return base_env(
            ZENML_CONFIG_PATH=str(self.config_dir),
            ZENML_AUTO_OPEN_DASHBOARD="false",
            ZENML_ANALYTICS_OPT_IN="false",
        )


def begin_zenml_server(config_dir: Path) -> tuple[ZenServer, subprocess.Popen[str]]:
    """Start ``zenml login --local`` on a free port; the caller waits for it.

    Clients must use another config directory: from this one ZenML treats the
    server as local and refuses remote stack components.
    """
    server = ZenServer(config_dir=config_dir, port=free_port())
    login = subprocess.Popen(
        [str(BIN / "zenml"), "login", "--local", "--port", str(server.port)],
        env=server.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, login


def finish_zenml_server(login: subprocess.Popen[str], timeout: float = 240) -> None:
    """Wait for ``zenml login --local`` to report the server up."""
    output, _ = login.communicate(timeout=timeout)
    if login.returncode != 0:
        raise RuntimeError(f"zenml login --local failed:\n{output[-3000:]}")


def stop_zenml_server(server: ZenServer) -> None:
    """Stop the server daemon by the pid it wrote, then check the port is free.

    SIGTERM is what ``zenml logout --local`` sends too, without a second ZenML
    start-up; the command is the fallback when there is no pid file.
    """
    pid_file = server.config_dir / "zen_server" / "daemon" / "service.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    else:
        result = subprocess.run(
            [str(BIN / "zenml"), "logout", "--local"],
            env=server.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"zenml logout --local failed:\n{result.stdout}{result.stderr}")
    deadline = time.monotonic() + 30
    while is_listening(server.port) or (pid is not None and _alive(pid)):
        if time.monotonic() > deadline:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"the ZenML server (pid {pid}) still runs on port {server.port}")
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Whether a process with this pid still runs (the daemon is not our child: no wait()).

    A zombie has exited; whether it is reaped depends on the machine's init.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
