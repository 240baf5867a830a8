"""MLServer on 127.0.0.1, configured the way Seldon Core configures the pod's server.

For ``implementation: MLFLOW_SERVER`` with ``protocol: v2``, Seldon Core runs
MLServer with the MLflow runtime and describes the one model through
environment variables: its name (the graph node's name), its implementation
and its URI (``/mnt/models``, where the storage initializer copied
``graph.modelUri``). Here the same variables point at a local copy, the ports
are free ones on 127.0.0.1, and the process is stopped by its own process
group id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

MLFLOW_RUNTIME = "mlserver_mlflow.MLflowRuntime"
#: MLflow column types -> V2 datatypes, as MLServer's MLflow runtime maps a signature.
V2_DATATYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
}


@dataclass(frozen=True)
class MLServer:
    """A running MLServer: where to reach it and how to stop it."""

    process: subprocess.Popen[bytes]
    http_url: str
    model_name: str
    model_dir: Path
    log: Path

    def infer_url(self) -> str:
        """The V2 inference endpoint of the served model."""
        return f"{self.http_url}/v2/models/{self.model_name}/infer"


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(log: Path, lines: int = 40) -> str:
    """The end of a server log, to put in a failure message."""
    if not log.exists():
        return "<no log written>"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start_mlserver(venv: Path, model_dir: Path, model_name: str, workdir: Path) -> MLServer:
    """Start ``mlserver start`` from ``venv`` serving ``model_dir`` as ``model_name``.

    The working directory is an empty model repository, as in the pod: the
    model comes only from the MLSERVER_MODEL_* variables.
    """
    repository = workdir / "repository"
    repository.mkdir(parents=True, exist_ok=True)
    http_port = free_port()
    env = {
        **os.environ,
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(http_port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_MODEL_NAME": model_name,
        "MLSERVER_MODEL_IMPLEMENTATION": MLFLOW_RUNTIME,
        "MLSERVER_MODEL_URI": str(model_dir),
    }
    log = workdir / "mlserver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "mlserver"), "start", str(repository)],
            cwd=repository,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return MLServer(process, f"http://127.0.0.1:{http_port}", model_name, model_dir, log)


def wait_until_ready(server: MLServer, timeout: float = 120.0) -> None:
    """Poll ``/v2/health/ready`` (ready = the model loaded); fail with the log tail."""
    url = f"{server.http_url}/v2/health/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"MLServer exited with {server.process.returncode} before it was ready; "
                f"log {server.log}:\n{log_tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"MLServer was not ready at {url} within {timeout:.0f} s; "
        f"log {server.log}:\n{log_tail(server.log)}"
    )


def stop_mlserver(server: MLServer, grace: float = 20.0) -> None:
    """Stop the server and its worker processes (its own process group)."""
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=grace)


def v2_request(rows: pd.DataFrame, signature: list[dict[str, Any]]) -> dict[str, Any]:
    """A V2 request with one input per signature column, decoded into a DataFrame.

    ``content_type: pd`` asks MLServer to build a DataFrame from the inputs;
    ``str`` and ``np`` say how each column decodes, as the model's own
    metadata does, so the request does not depend on server defaults.
    """
    inputs = []
    for column in signature:
        name, kind = column["name"], column["type"]
        values = rows[name]
        if kind == "string":
            data: list[Any] = [None if pd.isna(v) else str(v) for v in values]
        elif kind in ("float", "double"):
            data = [float(v) for v in values]
        else:
            data = [int(v) for v in values]
        inputs.append(
            {
                "name": name,
                "shape": [len(rows)],
                "datatype": V2_DATATYPES[kind],
                "parameters": {"content_type": "str" if kind == "string" else "np"},
                "data": data,
            }
        )
    return {"inputs": inputs, "parameters": {"content_type": "pd"}}


def post_json(url: str, body: dict[str, Any], timeout: float = 60.0) -> tuple[int, Any]:
    """POST ``body``; return the status and the decoded answer, errors included."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, text
