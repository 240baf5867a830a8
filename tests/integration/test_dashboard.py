"""The local ZenML dashboard server shows a training run through its API.

Starts the real server (`zenml login --local`) on a free port on 127.0.0.1,
looks the run up over HTTP, and always stops the server again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import run
from configs.loader import load_run_config
from tests.conftest import write_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _zenml(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZENML_AUTO_OPEN_DASHBOARD": "false"}
    env.pop("ZENML_ACTIVE_STACK_ID", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "zenml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def run_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_config(tmp_path_factory.mktemp("dash"), model_name="dash-fraud", rows=2000)
    run.select_stack(None)
    return run.run_training(load_run_config(path), path, no_cache=False).name


@pytest.fixture()
def dashboard(run_name: str) -> Iterator[str]:
    port = _free_port()
    started = _zenml("login", "--local", "--port", str(port))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = _zenml("logout", "--local")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "dashboard still listening"


def test_dashboard_finds_the_run_and_stops(dashboard: str, run_name: str) -> None:
    status, body = _get(f"{dashboard}/api/v1/info")
    assert status == 200 and json.loads(body)["deployment_type"] == "local"
    status, body = _get(f"{dashboard}/api/v1/runs?name={run_name}&hydrate=true")
    runs = json.loads(body)["items"]
    assert [r["name"] for r in runs] == [run_name]
    assert runs[0]["body"]["status"] == "completed"
    status, page = _get(f"{dashboard}/")
    assert status == 200 and b"<html" in page.lower()


def test_mlflow_ui_command_from_the_readme_shows_the_run(run_name: str) -> None:
    """`mlflow ui --backend-store-uri <the stack's URI> --host 127.0.0.1` lists the run."""
    import time

    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    assert tracker is not None
    uri = tracker.get_tracking_uri()  # type: ignore[attr-defined]
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, "mlflow ui exited"
            assert time.monotonic() < deadline, "mlflow ui did not come up in 90 s"
            time.sleep(0.5)
        _, body = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=training")
        experiment_id = json.loads(body)["experiment"]["experiment_id"]
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search",
            data=json.dumps(
                {
                    "experiment_ids": [experiment_id],
                    "filter": f"tags.mlflow.runName = '{run_name}'",
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            runs = json.loads(response.read())["runs"]
        assert len(runs) == 1
        metrics = {m["key"] for m in runs[0]["data"]["metrics"]}
        assert {"roc_auc", "pr_auc"} <= metrics
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
