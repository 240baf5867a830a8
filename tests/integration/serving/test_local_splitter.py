"""The local TrafficSplitter for real: HAProxy, MLflow servers started by ZenML, HTTP.

The tests run in file order on the session's endpoint (see conftest.py):
version 1 serves; version 2 joins at weight 0 while requests flow and the
refusals leave routing alone; the switch to version 2 under load; a kill -9 of
everything and the recovery. Three MLflow server starts in all.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest
import requests

from stacks.flavors import haproxy
from stacks.flavors.haproxy import SplitterFiles, SplitterState, VersionRecord, pid_alive
from stacks.flavors.traffic import ServingError, SplitterMissingError, VersionToServe
from tests.integration.serving.conftest import (
    MODEL_NAME,
    SERVER_TIMEOUT,
    Endpoint,
    RequestLoop,
    free_port,
)


def _predict(endpoint: Endpoint) -> requests.Response:
    response = requests.post(endpoint.url, json=endpoint.model.payload(3), timeout=10)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3
    return response


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {timeout} s: {what}")


def _kill_tree(pid: int) -> list[int]:
    """kill -9 a process and everything under it; the pids killed."""
    process = psutil.Process(pid)
    victims = [process, *process.children(recursive=True)]
    for victim in victims:
        victim.kill()
    psutil.wait_procs(victims, timeout=5)
    return [victim.pid for victim in victims]


def test_haproxy_starts_with_a_long_state_dir(tmp_path: Path) -> None:
    """A state dir far past the 107-byte socket limit still gets a working admin socket."""
    files = SplitterFiles(tmp_path / ("long-store-path-" * 8) / "splitter" / "m")
    assert len(str(files.directory)) > 140
    state = SplitterState(model_name="m", port=free_port())
    binary = shutil.which("haproxy")
    assert binary is not None
    pid = haproxy.start_haproxy(binary, files, state)
    try:
        assert haproxy.running_pid(files) == pid
        assert haproxy.AdminSocket(files.socket).show_stat() == []
        answer = requests.get(f"http://127.0.0.1:{state.port}/nowhere", timeout=5)
        assert answer.status_code == 404 and answer.json()["error_code"] == "NOT_FOUND"
    finally:
        assert haproxy.stop_haproxy(files) == pid
    assert not pid_alive(pid) and not files.socket.exists()


def test_port_taken_by_another_program_is_named(endpoint: Endpoint) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        state = SplitterState(model_name="other", port=port)
        files = endpoint.deployer.splitter_files("port-clash-test")
        with pytest.raises(ServingError, match=rf"port {port}.*deployment\.serving\.port"):
            haproxy.start_haproxy("haproxy", files, state)
    assert haproxy.running_pid(files) is None


def test_check_ready_says_how_to_install_haproxy(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SplitterMissingError, match=r"sudo apt-get install haproxy.*brew"):
        endpoint.deployer.check_ready()


def test_a_server_that_cannot_start_leaves_nothing(endpoint: Endpoint) -> None:
    """A model URI MLflow cannot load: ServingError with the server's log, nothing left over."""
    deployer = endpoint.deployer
    before = endpoint.weights()
    broken = VersionToServe(MODEL_NAME, "2", f"models:/{MODEL_NAME}/99")
    started = time.monotonic()
    with pytest.raises(ServingError, match="did not become healthy") as caught:
        deployer.serve_version(broken, timeout=20)
    print(f"\nbroken server refused in {time.monotonic() - started:.1f} s: {caught.value}"[:600])
    assert deployer.find_version_service(MODEL_NAME, "2") is None
    assert endpoint.weights() == before
    assert [b.version for b in deployer.backends(MODEL_NAME)] == ["1"]


def test_version_1_serves_through_the_endpoint(endpoint: Endpoint) -> None:
    deployer = endpoint.deployer
    assert deployer.endpoint_url(MODEL_NAME) == endpoint.url
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/invocations"
    response = _predict(endpoint)
    assert response.headers["X-Served-By"] == "v1"
    [backend] = deployer.backends(MODEL_NAME)
    assert (backend.version, backend.weight, backend.state, backend.healthy) == (
        "1",
        100,
        "ready",
        True,
    )
    assert backend.url is not None and backend.pid is not None and pid_alive(backend.pid)
    direct = requests.post(backend.url, json=endpoint.model.payload(1), timeout=10)
    assert direct.status_code == 200 and "X-Served-By" not in direct.headers
    assert endpoint.weights() == {"1": 100}


def test_version_2_joins_at_weight_0_and_refusals_change_nothing(endpoint: Endpoint) -> None:
    deployer, model = endpoint.deployer, endpoint.model
    state_file = deployer.splitter_files(MODEL_NAME).state
    with RequestLoop(endpoint.url, model.payload(1), rate=30) as loop:
        started = time.monotonic()
        backend = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
        print(f"\nMLflow server v2 ready behind HAProxy in {time.monotonic() - started:.1f} s")
        assert (backend.version, backend.weight, backend.healthy) == ("2", 0, True)
        assert endpoint.weights() == {"1": 100, "2": 0}
        saved = state_file.read_text()
        refusals = [
            ({"3": 100}, "no server for version"),
            ({"1": 60, "2": 30}, "sum to 100"),
            ({"1": 50.5, "2": 49.5}, "whole number"),
        ]
        for weights, message in refusals:
            with pytest.raises(ServingError, match=message):
                deployer.set_weights(MODEL_NAME, weights)  # type: ignore[arg-type]
        with pytest.raises(ServingError, match="only weighted version"):
            deployer.retire_version(MODEL_NAME, "1", drain_timeout=5)
        assert backend.pid is not None
        os.kill(backend.pid, signal.SIGSTOP)  # v2's daemon stops answering: its check fails
        stopped_tree = [p.pid for p in psutil.Process(backend.pid).children(recursive=True)]
        for pid in stopped_tree:
            os.kill(pid, signal.SIGSTOP)
        try:
            _wait_for(
                lambda: (
                    not any(b.healthy for b in deployer.backends(MODEL_NAME) if b.version == "2")
                ),
                15,
                "HAProxy sees a stopped v2 as unhealthy",
            )
            with pytest.raises(ServingError, match="fail their health check"):
                deployer.set_weights(MODEL_NAME, {"1": 50, "2": 50})
        finally:
            for pid in [backend.pid, *stopped_tree]:
                os.kill(pid, signal.SIGCONT)
        assert endpoint.weights() == {"1": 100, "2": 0}
        assert state_file.read_text() == saved
        _wait_for(
            lambda: all(b.healthy for b in deployer.backends(MODEL_NAME)), 15, "v2 healthy again"
        )
    assert loop.failed == 0, (loop.statuses, loop.errors[:5])
    assert set(loop.served_by) == {"v1"}, loop.served_by
    print(f"while v2 started: {loop.sent} requests sent, {loop.failed} failed")


def test_switch_to_version_2_under_load(endpoint: Endpoint) -> None:
    deployer, model = endpoint.deployer, endpoint.model
    with RequestLoop(endpoint.url, model.payload(1), rate=40) as loop:
        again = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
        old_v1 = {b.version: b for b in deployer.backends(MODEL_NAME)}["1"]
        assert again.weight == 0 and again.healthy
        time.sleep(1)
        deployer.set_weights(MODEL_NAME, {"1": 50, "2": 50})
        time.sleep(1)  # the window starts once both new weights route (they are set one by one)
        before, seen_before = endpoint.requests_by_version(), loop.snapshot()
        time.sleep(8)
        after, seen_after = endpoint.requests_by_version(), loop.snapshot()
        split = {v: after[v] - before[v] for v in ("1", "2")}
        seen = {v: seen_after[f"v{v}"] - seen_before[f"v{v}"] for v in ("1", "2")}
        assert min(split.values()) > 0 and abs(split["1"] - split["2"]) <= 2, split
        assert min(seen.values()) > 0, seen
        deployer.set_weights(MODEL_NAME, {"2": 100})
        assert endpoint.weights() == {"1": 0, "2": 100}
        time.sleep(1)
        deployer.retire_version(MODEL_NAME, "1", drain_timeout=10)
        time.sleep(2)
    assert loop.failed == 0, (loop.statuses, loop.errors[:5])
    assert loop.served_by["v1"] > 0 and loop.served_by["v2"] > 0
    print(
        f"switch: {loop.sent} requests sent, {loop.failed} failed; 50/50 phase "
        f"req_tot diff {split}, responses seen {seen}; all {dict(loop.served_by)}"
    )
    assert [b.version for b in deployer.backends(MODEL_NAME)] == ["2"]
    assert endpoint.weights() == {"2": 100}
    assert deployer.find_version_service(MODEL_NAME, "1") is None
    assert old_v1.pid is not None and old_v1.port is not None
    _wait_for(lambda: not pid_alive(old_v1.pid or 0), 10, "v1's server process gone")
    assert not haproxy.port_in_use("127.0.0.1", old_v1.port)
    assert _predict(endpoint).headers["X-Served-By"] == "v2"


def test_kill_everything_then_serve_brings_it_back(endpoint: Endpoint) -> None:
    deployer, model = endpoint.deployer, endpoint.model
    files = deployer.splitter_files(MODEL_NAME)
    [backend] = deployer.backends(MODEL_NAME)
    haproxy_pid = haproxy.running_pid(files)
    assert haproxy_pid is not None and backend.pid is not None
    killed = _kill_tree(haproxy_pid) + _kill_tree(backend.pid)
    assert not any(pid_alive(pid) for pid in killed)

    assert deployer.endpoint_url(MODEL_NAME) is None
    [down] = deployer.backends(MODEL_NAME)
    assert (down.version, down.weight, down.state, down.healthy) == ("2", 100, "stopped", False)
    with pytest.raises(requests.ConnectionError):
        requests.post(endpoint.url, json=model.payload(1), timeout=5)

    settings = haproxy.load_state(files)
    assert settings is not None
    assert deployer.open_endpoint(MODEL_NAME, settings.settings()) == endpoint.url
    [restarted] = deployer.backends(MODEL_NAME)
    assert restarted.weight == 100 and not restarted.healthy  # HAProxy back, server not yet
    started = time.monotonic()
    served = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
    print(f"\nrecovery: v2 served again in {time.monotonic() - started:.1f} s")
    assert served.healthy and served.weight == 100 and served.pid not in killed
    assert _predict(endpoint).headers["X-Served-By"] == "v2"

    state_before = files.state.read_text()
    pid_before = haproxy.running_pid(files)
    assert deployer.open_endpoint(MODEL_NAME, settings.settings()) == endpoint.url
    same = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
    assert (same.pid, same.port) == (served.pid, served.port)
    assert haproxy.running_pid(files) == pid_before
    assert files.state.read_text() == state_before
    assert endpoint.weights() == {"2": 100}
    assert [b.healthy for b in deployer.backends(MODEL_NAME)] == [True]


def test_state_file_lists_what_runs(endpoint: Endpoint) -> None:
    state = haproxy.load_state(endpoint.deployer.splitter_files(MODEL_NAME))
    assert state is not None and state.port == endpoint.port
    assert list(state.versions) == ["2"]
    record = state.versions["2"]
    assert isinstance(record, VersionRecord) and record.weight == 100
    assert record.service_uuid is not None
