"""The local TrafficSplitter for real: supervisord, HAProxy, replicas of MLflow models, HTTP.

The tests run in file order on the session's endpoint (see conftest.py):
version 1 serves (two replicas); version 2 joins at weight 0 while requests
flow and the refusals leave routing alone; the switch to version 2 under load;
``kill -9`` of a replica and of HAProxy under load, each back by itself; a
``kill -9`` of everything and the recovery that ``--serve`` does.
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
from stacks.flavors.haproxy import SplitterFiles, VersionRecord, pid_alive
from stacks.flavors.local_endpoint import LocalEndpoint, ping
from stacks.flavors.supervision import Supervisor
from stacks.flavors.traffic import (
    EndpointSettings,
    ServingError,
    SplitterMissingError,
    VersionToServe,
)
from tests.integration.serving.conftest import (
    MODEL_NAME,
    REPLICAS,
    SERVER_TIMEOUT,
    Endpoint,
    RequestLoop,
    free_port,
)


def supervised_tree(supervisor: Supervisor) -> list[int]:
    pid = supervisor.pid()
    if pid is None:
        return []
    process = psutil.Process(pid)
    return [pid, *(child.pid for child in process.children(recursive=True))]


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


def test_an_endpoint_opens_with_a_long_state_dir(tmp_path: Path) -> None:
    """Directories far past the 107-byte socket limit still get working sockets."""
    root = tmp_path / ("long-store-path-" * 8)
    endpoint = LocalEndpoint(
        SplitterFiles(root / "splitter" / "m"),
        Supervisor(root / "supervisor"),
        shutil.which("haproxy"),
    )
    assert len(str(endpoint.files.directory)) > 140
    port = free_port()
    try:
        endpoint.supervisor.ensure_running()
        assert (
            endpoint.open("m", EndpointSettings(port=port))
            == f"http://127.0.0.1:{port}/invocations"
        )
        assert endpoint.admin().show_stat() == []
        answer = requests.get(f"http://127.0.0.1:{port}/nowhere", timeout=5)
        assert answer.status_code == 404 and answer.json()["error_code"] == "NOT_FOUND"
        pids = supervised_tree(endpoint.supervisor)
        assert len(pids) >= 3  # supervisord, HAProxy, the guard
    finally:
        endpoint.shut_down()
        endpoint.supervisor.shutdown()
    assert not any(pid_alive(pid) for pid in pids) and not endpoint.files.socket.exists()
    assert not haproxy.port_in_use("127.0.0.1", port)


def test_port_taken_by_another_program_is_named(endpoint: Endpoint) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ServingError, match=rf"port {port}.*another program.*serving\.port"):
            endpoint.deployer.open_endpoint("port-clash-test", EndpointSettings(port=port))
    assert endpoint.deployer.endpoint_url("port-clash-test") is None
    assert endpoint.deployer.supervisor().names("port-clash-test") == []


def test_port_of_another_model_is_named_as_that_model(endpoint: Endpoint) -> None:
    """Two models cannot share a port: the message names the model holding it."""
    with pytest.raises(
        ServingError, match=rf"port {endpoint.port} is the endpoint of model '{MODEL_NAME}'"
    ):
        endpoint.deployer.open_endpoint("second-model", EndpointSettings(port=endpoint.port))
    assert endpoint.deployer.supervisor().names("second-model") == []


def test_check_ready_says_how_to_install_haproxy(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SplitterMissingError, match=r"sudo apt-get install haproxy.*brew"):
        endpoint.deployer.check_ready()


def test_a_model_that_cannot_be_fetched_leaves_nothing(endpoint: Endpoint) -> None:
    """A model URI MLflow cannot resolve: ServingError naming it, no program, routing as it was."""
    deployer = endpoint.deployer
    before = endpoint.weights()
    broken = VersionToServe(MODEL_NAME, "2", f"models:/{MODEL_NAME}/99")
    with pytest.raises(ServingError, match=f"cannot download models:/{MODEL_NAME}/99"):
        deployer.serve_version(broken, timeout=20)
    assert deployer.supervisor().names(f"{MODEL_NAME}--v2") == []
    assert endpoint.weights() == before
    assert [b.version for b in deployer.backends(MODEL_NAME)] == ["1"]


def test_a_replica_that_cannot_start_leaves_nothing(endpoint: Endpoint) -> None:
    """Files that are no model: ServingError with the replica's log, nothing left over."""
    deployer = endpoint.deployer
    before = endpoint.weights()
    local = deployer.endpoint(MODEL_NAME, with_binary=True)
    broken = local.model_directory("7")
    broken.mkdir(parents=True)
    (broken / "MLmodel").write_text("not: a model\n")
    started = time.monotonic()
    with pytest.raises(ServingError, match=r"replica 1 .*does not answer /ping") as caught:
        local.serve_version("7", "lean", timeout=15)
    print(f"\nbroken replica refused in {time.monotonic() - started:.1f} s: {caught.value}"[:600])
    assert deployer.supervisor().names(f"{MODEL_NAME}--v7") == []
    assert endpoint.weights() == before
    assert [b.version for b in deployer.backends(MODEL_NAME)] == ["1"]
    shutil.rmtree(broken)


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
    assert len(backend.replicas) == REPLICAS
    for replica in backend.replicas:
        assert replica.state == "RUNNING" and replica.healthy and replica.restarts == 0
        assert replica.pid is not None and pid_alive(replica.pid)
        direct = requests.post(
            f"http://127.0.0.1:{replica.port}/invocations",
            json=endpoint.model.payload(1),
            timeout=10,
        )
        assert direct.status_code == 200 and "X-Served-By" not in direct.headers
    assert len({r.port for r in backend.replicas}) == REPLICAS
    assert endpoint.weights() == {"1": 100}
    metrics = deployer.metrics_url(MODEL_NAME)
    assert metrics is not None and str(endpoint.port) not in metrics
    assert "haproxy_process" in requests.get(metrics, timeout=5).text
    on_clients_port = requests.get(endpoint.url.replace("/invocations", "/metrics"), timeout=5)
    assert on_clients_port.status_code == 404


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
        stopped_tree = [
            p.pid
            for replica in backend.replicas
            for p in psutil.Process(replica.pid or 0).children(recursive=True)
        ] + [replica.pid for replica in backend.replicas if replica.pid]
        for pid in stopped_tree:  # v2's replicas stop answering: their checks fail
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
            for pid in stopped_tree:
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
    assert deployer.supervisor().names(f"{MODEL_NAME}--v1") == []
    for replica in old_v1.replicas:
        _wait_for(lambda r=replica: not pid_alive(r.pid or 0), 10, "v1's replica gone")
        assert replica.port is not None and not haproxy.port_in_use("127.0.0.1", replica.port)
    assert _predict(endpoint).headers["X-Served-By"] == "v2"


def _first_answer_after(
    endpoint: Endpoint, since: float, loop: RequestLoop, timeout: float
) -> float:
    """Seconds from ``since`` until the endpoint answers 200 again (the loop keeps running)."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        try:
            answer = requests.post(endpoint.url, json=endpoint.model.payload(1), timeout=2)
            if answer.status_code == 200:
                return time.monotonic() - since
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"the endpoint did not answer within {timeout} s; loop: {loop.statuses}")


def _serving_workers(arbiter_pid: int) -> list[int]:
    """The worker processes a replica's gunicorn arbiter forked (they answer the requests)."""
    return [child.pid for child in psutil.Process(arbiter_pid).children()]


def test_kill_9_of_a_replica_s_worker_under_load_costs_no_request(endpoint: Endpoint) -> None:
    """The process that answers dies: HAProxy retries what never got an answer on the other
    replica, and the replica's arbiter forks a replacement from the loaded model at once."""
    deployer, model = endpoint.deployer, endpoint.model
    [backend] = deployer.backends(MODEL_NAME)
    replica = backend.replicas[0]
    assert replica.pid is not None and replica.port is not None
    [worker] = _serving_workers(replica.pid)
    with RequestLoop(endpoint.url, model.payload(1), rate=30) as loop:
        time.sleep(2)
        killed_at = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        answering = None
        while time.monotonic() - killed_at < 10 and answering is None:
            replacement = [pid for pid in _serving_workers(replica.pid) if pid != worker]
            if replacement and ping(replica.port, timeout=0.5):
                answering = time.monotonic() - killed_at
            time.sleep(0.02)
        time.sleep(2)
    print(
        f"\nkill -9 of {replica.name}'s worker at 30 req/s: {loop.sent} sent, {loop.failed} "
        f"failed ({dict(loop.statuses)}), replacement answering after {answering} s"
    )
    assert answering is not None and answering <= 10, "no replacement answering within 10 s"
    assert loop.failed <= 1, (loop.statuses, loop.errors[:5])
    assert not pid_alive(worker)


def test_kill_9_of_a_whole_replica_under_load_the_others_carry_it(endpoint: Endpoint) -> None:
    """The replica's arbiter and workers die together: the other replica answers everything;
    supervisord starts the replica again (a cold start: the model loads again)."""
    deployer, model = endpoint.deployer, endpoint.model
    [backend] = deployer.backends(MODEL_NAME)
    victim = backend.replicas[0]
    assert victim.pid is not None and victim.port is not None
    with RequestLoop(endpoint.url, model.payload(1), rate=30) as loop:
        time.sleep(2)
        killed_at = time.monotonic()
        _kill_tree(victim.pid)
        answering = healthy = None
        while time.monotonic() - killed_at < 90 and healthy is None:
            if answering is None and ping(victim.port, timeout=0.5):
                answering = time.monotonic() - killed_at
            [now] = deployer.backends(MODEL_NAME)
            replica = now.replicas[0]
            if replica.pid not in (None, victim.pid) and replica.healthy:
                healthy = time.monotonic() - killed_at
            time.sleep(0.1)
        time.sleep(2)
    print(
        f"\nkill -9 of all of {victim.name} at 30 req/s: {loop.sent} sent, {loop.failed} failed "
        f"({dict(loop.statuses)}), restarted replica answering after {answering} s, healthy in "
        f"HAProxy after {healthy} s"
    )
    assert healthy is not None, "supervisord did not bring the replica back"
    assert loop.failed <= 1, (loop.statuses, loop.errors[:5])
    assert replica.restarts >= 1 and replica.state == "RUNNING"


def test_kill_9_of_haproxy_under_load_is_back_without_a_command(endpoint: Endpoint) -> None:
    deployer, model = endpoint.deployer, endpoint.model
    supervisor = deployer.supervisor()
    local = deployer.endpoint(MODEL_NAME)
    before = supervisor.info(local.haproxy_program)
    assert before is not None and before.pid is not None
    with RequestLoop(endpoint.url, model.payload(1), rate=30) as loop:
        time.sleep(2)
        killed_at = time.monotonic()
        _kill_tree(before.pid)
        recovery = _first_answer_after(endpoint, killed_at, loop, 10)
        time.sleep(2)
    after = supervisor.info(local.haproxy_program)
    print(
        f"\nkill -9 of HAProxy at 30 req/s: {loop.sent} sent, {loop.failed} failed, answering "
        f"again after {recovery:.2f} s"
    )
    assert after is not None and after.pid not in (None, before.pid) and after.restarts >= 1
    assert endpoint.weights() == {"2": 100}, "the restarted HAProxy routes as before"
    assert _predict(endpoint).headers["X-Served-By"] == "v2"
    assert loop.failed <= 30 * 10, loop.statuses


def test_kill_everything_then_serve_brings_it_back(endpoint: Endpoint) -> None:
    """A reboot's worth: supervisord and all below it killed; opening the endpoint again
    starts supervisord, which starts HAProxy and the replicas from their files."""
    deployer, model = endpoint.deployer, endpoint.model
    files = deployer.splitter_files(MODEL_NAME)
    supervisor = deployer.supervisor()
    root = supervisor.pid()
    assert root is not None
    killed = _kill_tree(root)
    assert not any(pid_alive(pid) for pid in killed)

    assert deployer.endpoint_url(MODEL_NAME) is None
    [down] = deployer.backends(MODEL_NAME)
    assert (down.version, down.weight, down.state, down.healthy) == ("2", 100, "stopped", False)
    with pytest.raises(requests.ConnectionError):
        requests.post(endpoint.url, json=model.payload(1), timeout=5)

    settings = haproxy.load_state(files)
    assert settings is not None
    started = time.monotonic()
    assert deployer.open_endpoint(MODEL_NAME, settings.settings()) == endpoint.url
    served = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
    print(f"\nrecovery: v2 served again in {time.monotonic() - started:.1f} s")
    assert served.healthy and served.weight == 100 and served.pid not in killed
    assert _predict(endpoint).headers["X-Served-By"] == "v2"

    state_before = files.state.read_text()
    pids_before = {r.pid for r in served.replicas}
    haproxy_before = supervisor.info(deployer.endpoint(MODEL_NAME).haproxy_program)
    assert deployer.open_endpoint(MODEL_NAME, settings.settings()) == endpoint.url
    same = deployer.serve_version(model.to_serve("2"), timeout=SERVER_TIMEOUT)
    assert {r.pid for r in same.replicas} == pids_before
    assert supervisor.info(deployer.endpoint(MODEL_NAME).haproxy_program) is not None
    assert haproxy_before is not None
    assert supervisor.info(deployer.endpoint(MODEL_NAME).haproxy_program).pid == haproxy_before.pid  # type: ignore[union-attr]
    assert files.state.read_text() == state_before
    assert endpoint.weights() == {"2": 100}
    assert [b.healthy for b in deployer.backends(MODEL_NAME)] == [True]


def test_state_file_lists_what_runs(endpoint: Endpoint) -> None:
    state = haproxy.load_state(endpoint.deployer.splitter_files(MODEL_NAME))
    assert state is not None and state.port == endpoint.port
    assert list(state.versions) == ["2"]
    record = state.versions["2"]
    assert isinstance(record, VersionRecord) and record.weight == 100
    assert len(record.ports) == REPLICAS


def test_two_models_serve_side_by_side_and_undeploy_one_at_a_time(endpoint: Endpoint) -> None:
    """A second model without a configured port gets a free one, kept for it; stopping it
    leaves the first model serving, and the port comes back the same after a restart."""
    deployer, model = endpoint.deployer, endpoint.model
    other = "second-fraud-model"
    url = deployer.open_endpoint(other, EndpointSettings(port=None, replicas=1))
    port = int(url.split(":")[2].split("/")[0])
    assert 5100 <= port < 6000 and port != endpoint.port
    served = deployer.serve_version(
        VersionToServe(other, "1", model.uris["1"]), timeout=SERVER_TIMEOUT
    )
    assert len(served.replicas) == 1
    deployer.set_weights(other, {"1": 100})
    first = requests.post(url, json=model.payload(2), timeout=10)
    assert first.status_code == 200 and first.headers["X-Served-By"] == "v1"
    assert _predict(endpoint).headers["X-Served-By"] == "v2"
    assert sorted(deployer.model_names()) == sorted([MODEL_NAME, other])

    stopped = deployer.shut_down(other)
    assert any("haproxy" in line for line in stopped) and all(
        MODEL_NAME + " " not in line for line in stopped
    )
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=model.payload(1), timeout=5)
    assert _predict(endpoint).headers["X-Served-By"] == "v2"
    assert deployer.supervisor().names(other) == []

    again = deployer.open_endpoint(other, EndpointSettings(port=None, replicas=1))
    assert again == url, "the port chosen for a model is kept for it"
    deployer.shut_down(other)
    assert deployer.supervisor().is_running() and _predict(endpoint).status_code == 200
