"""The canary as a user meets it: run.py subprocesses, real MLflow servers, HAProxy and Locust.

One model's history, in order: version 1 is released (its load test runs,
there is no champion, so no canary); version 2, better offline, is then
deployed five times while the endpoint serves version 1:

1. served slow: Locust's p99 misses the SLA, the challenger gets no request;
2. served with a fault on some inputs: the canary sees its error rate under
   the replayer's traffic and rolls it back;
3. served slow with the load test off: the canary rolls it back on latency;
4. with no traffic at all and ``too_little_traffic: hold``: held, staging;
5. as trained, with the replayer running: 20% then 50% then production.

A request loop runs through every deploy and must see zero failures; its
X-Served-By headers show where requests went. The faulty versions are
real MLflow models (tests/e2e/faulty_models.py), so the fault is in the
served process, where canaries find faults.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml
from zenml.client import Client

from tests.conftest import PROJECT_ROOT, write_config
from tests.e2e.deployed import free_port, local_tracking_uri, stages
from tests.e2e.faulty_models import serve_faulty_copy, serve_original
from tests.e2e.test_cli import run_cli
from tests.e2e.traffic import RequestLoop

MODEL = "e2e-canary"



PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}/invocations"

BASE_DEPLOYMENT: dict[str, Any] = {
    # a slow challenger's queued requests must finish before its server stops
    "serving": {"port": PORT, "startup_timeout": 120, "drain_timeout": 40, "smoke_rows": 20},
    "load_test": {"rate": 20, "users": 2, "duration": 3, "max_p99_ms": 2000, "min_requests": 20},
    "canary": {
        "steps": [20, 50],
        "min_requests": 20,
        "max_wait": 60,
        "poll_interval": 0.5,
        "max_latency_ms": 300,  # a healthy server answers in tens of ms, even on a busy machine
        "max_failed_checks": 2,
        "too_little_traffic": "rollback",
    },
}


def _config(directory: Path, file: str, *, strong: bool = True, **changes: Any) -> Path:
    """A small config for MODEL with BASE_DEPLOYMENT, sections replaced by ``changes``."""
    path = write_config(directory, model_name=MODEL, rows=6000, name=file)
    raw = yaml.safe_load(path.read_text())
    raw["training"]["params"] = (
        {"max_iter": 60} if strong else {"max_iter": 3, "max_depth": 2, "learning_rate": 0.05}
    )
    deployment = {**BASE_DEPLOYMENT}
    for section, value in changes.items():
        if isinstance(value, dict) and isinstance(deployment.get(section), dict):
            deployment[section] = {**deployment[section], **value}
        else:
            deployment[section] = value
    raw["deployment"] = deployment
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Config files by purpose; every server started is stopped at the end."""
    directory = tmp_path_factory.mktemp("canary")
    paths = {
        "weak": _config(directory, "weak.yaml", strong=False),
        "strong": _config(directory, "strong.yaml"),
        "tight_sla": _config(
            directory, "tight_sla.yaml", load_test={"max_p99_ms": 100, "users": 5, "duration": 4}
        ),
        "canary_only": _config(directory, "canary_only.yaml", load_test=None),
        "slow": _config(directory, "slow.yaml", load_test=None, canary={"max_failed_checks": 1}),
        "hold": _config(
            directory,
            "hold.yaml",
            load_test=None,
            canary={"max_wait": 3, "too_little_traffic": "hold"},
        ),
        # stays in its first step (the loop never brings enough requests) until stopped
        "long_canary": _config(
            directory,
            "long_canary.yaml",
            load_test=None,
            canary={"min_requests": 100_000, "max_wait": 300, "too_little_traffic": "hold"},
        ),
    }
    yield paths
    run_cli("--undeploy", "--config", str(paths["weak"]))


@pytest.fixture(scope="module")
def tracking_uri() -> str:
    """The local stack's MLflow store (where run.py's steps register the versions)."""
    return local_tracking_uri()


class Replayer:
    """``run.py --replay`` in the background: holdout rows at a steady rate, as a user runs it."""

    def __init__(self, config: Path, rate: float = 15, duration: int = 150) -> None:
        env = {k: v for k, v in os.environ.items() if k != "ZENML_ACTIVE_STACK_ID"}
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "--replay", "--config", str(config),
             "--rate", str(rate), "--duration", str(duration)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        """SIGTERM, as CI's ``kill`` sends: run.py must stop its Locust process too."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.terminate()
        try:
            self.output = self.process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output = self.process.communicate()[0]
        _, alive = psutil.wait_procs(children, timeout=15)
        for process in alive:
            process.kill()
        assert not alive, f"run.py --replay left {alive} running:\n{self.output[-2000:]}"


def _deploy(config: Path, replay: bool = False) -> tuple[Any, RequestLoop]:
    """``--pipeline deploy`` of version 2 while a request loop (and the replayer) run."""
    with RequestLoop(ENDPOINT) as loop:
        if replay:
            with Replayer(config):
                result = run_cli("--pipeline", "deploy", "--config", str(config),
                                 "--model-version", "2")
        else:
            result = run_cli("--pipeline", "deploy", "--config", str(config),
                             "--model-version", "2")
        time.sleep(0.5)
    return result, loop


def _stages() -> dict[str, str]:
    return stages(MODEL)


def _metadata(version: str) -> dict[str, Any]:
    return dict(Client().get_model_version(MODEL, version).run_metadata)


def _output(result: Any) -> str:
    return result.stdout[-5000:] + result.stderr[-5000:]


def _champion_untouched(loop: RequestLoop) -> None:
    """Version 1 production and serving, and not one request of the loop failed."""
    assert loop.sent > 20
    assert loop.failures == [], loop.failures[:5]
    stages = _stages()
    assert stages["1"] == "production", stages
    response = requests.post(
        ENDPOINT,
        data="{}",  # any answer carries the header of the server that gave it
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.headers.get("X-Served-By") == "v1"


def test_release_load_tests_the_first_version_and_serves_it(
    configs: dict[str, Path],
) -> None:
    result = run_cli("--pipeline", "release", "--config", str(configs["weak"]))
    assert result.returncode == 0, _output(result)
    assert "Load test: " in result.stdout and "p99" in result.stdout
    load = _metadata("1")["deployment"]["load_test"]
    assert load["passed"] is True and load["requests"] >= 20
    assert Path(PROJECT_ROOT / load["report"]).is_file()
    assert "canary" not in _metadata("1")["deployment"]  # no champion: nothing to compare with
    _ok = run_cli("--pipeline", "train", "--config", str(configs["strong"]))
    assert _ok.returncode == 0, _output(_ok)
    assert _stages() == {"1": "production", "2": "none"}


def test_a_challenger_missing_the_load_test_sla_gets_no_traffic(
    configs: dict[str, Path], tracking_uri: str
) -> None:
    serve_faulty_copy(tracking_uri, MODEL, "2", delay_s=0.25)
    result, loop = _deploy(configs["tight_sla"])
    assert result.returncode == 7, _output(result)
    assert "> limit 100 ms" in result.stderr, result.stderr
    assert set(loop.served_by) == {"v1"}, loop.served_by  # not one request reached version 2
    _champion_untouched(loop)
    checks = _metadata("2")["release_checks"]
    assert checks["rejected_by"] == "load_test" and checks["load_test"]["p99_ms"] > 100
    assert _stages()["2"] == "none"


def test_a_challenger_failing_on_some_inputs_is_rolled_back_by_the_canary(
    configs: dict[str, Path], tracking_uri: str
) -> None:
    serve_faulty_copy(tracking_uri, MODEL, "2", raise_above_amount=60.0)
    result, loop = _deploy(configs["canary_only"], replay=True)
    assert result.returncode == 7, _output(result)
    assert "error rate" in result.stderr and "failed 2 check(s) in a row at 20%" in result.stderr
    assert loop.served_by["v2"] > 0  # it did get real traffic before the rollback
    _champion_untouched(loop)
    checks = _metadata("2")["release_checks"]
    assert checks["decision"] == "rejected" and checks["rejected_by"] == "canary"
    assert [c["outcome"] for c in checks["checks"]] == ["fail", "fail"]
    assert checks["checks"][0]["challenger"]["error_rate"] > 0.05
    tags = _mlflow_tags(tracking_uri, "2")
    assert tags["deployment.rejected_by"] == "canary"


def test_a_slow_challenger_is_rolled_back_on_latency(
    configs: dict[str, Path], tracking_uri: str
) -> None:
    serve_faulty_copy(tracking_uri, MODEL, "2", delay_s=0.5)
    result, loop = _deploy(configs["slow"], replay=True)
    assert result.returncode == 7, _output(result)
    assert "response time" in result.stderr and "limit 300 ms" in result.stderr
    _champion_untouched(loop)


def test_too_little_traffic_holds_the_challenger_in_staging(configs: dict[str, Path]) -> None:
    serve_original(MODEL, "2")
    result = run_cli("--pipeline", "deploy", "--config", str(configs["hold"]),
                     "--model-version", "2")
    assert result.returncode == 8, _output(result)
    assert "could not be judged" in result.stderr and "stays in staging" in result.stderr
    assert _stages() == {"1": "production", "2": "staging"}
    assert _metadata("2")["release_checks"]["decision"] == "held"


def _deploy_until_the_canary_routes(config: Path) -> subprocess.Popen[str]:
    """``run.py --pipeline deploy`` of version 2 in the background, once it printed step 1."""
    env = {k: v for k, v in os.environ.items() if k != "ZENML_ACTIVE_STACK_ID"}
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is printed, not when a buffer fills
    env["ZENML_LOGGING_VERBOSITY"] = "INFO"  # what a user sees (the session runs quieter)
    process = subprocess.Popen(
        [sys.executable, "run.py", "--pipeline", "deploy", "--config", str(config),
         "--model-version", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in process.stdout:
        seen.append(line)
        if "Canary step 1 of 2" in line:
            return process
        assert time.monotonic() < deadline, "".join(seen[-40:])
    pytest.fail("the deploy ended before its canary started:\n" + "".join(seen[-60:]))


def _seconds_until_only_v1_answers(limit: float) -> float:
    """Time until 20 answers in a row come from version 1 (nothing routed to version 2)."""
    started = time.monotonic()
    in_a_row = 0
    while time.monotonic() - started < limit:
        answer = requests.post(
            ENDPOINT, data="{}", headers={"Content-Type": "application/json"}, timeout=10
        )
        in_a_row = in_a_row + 1 if answer.headers.get("X-Served-By") == "v1" else 0
        if in_a_row >= 20:
            return time.monotonic() - started
    pytest.fail(f"version 2 still gets requests {limit} s after its deploy died")


def _v2_processes() -> list[str]:
    from steps.deployment.platform import active_splitter

    local_tracking_uri()  # activates the local stack in this process
    splitter: Any = active_splitter()
    return splitter.supervisor().names(f"{MODEL}--v2")


def _seconds_until_v2_is_stopped(limit: float) -> float:
    """Version 2's replicas drain (their in-flight requests finish), then stop."""
    started = time.monotonic()
    while _v2_processes():
        assert time.monotonic() - started < limit, f"still running: {_v2_processes()}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_kill_9_of_the_deploy_mid_canary_routes_back_to_the_champion_by_itself(
    configs: dict[str, Path],
) -> None:
    """No command typed: the guard sees the deploy gone, routes every request to version 1,
    stops version 2's replicas; the next --status records and says it; a later deploy may
    try version 2 again."""
    serve_original(MODEL, "2")
    with RequestLoop(ENDPOINT) as loop:
        deploy = _deploy_until_the_canary_routes(configs["long_canary"])
        time.sleep(3)  # version 2 takes its 20% of the loop's requests
        assert loop.served_by["v2"] > 0, loop.served_by
        deploy.kill()
        deploy.wait(timeout=30)
        recovery = _seconds_until_only_v1_answers(30)
        stopped = recovery + _seconds_until_v2_is_stopped(30)
    print(f"\nkill -9 of the deploy mid-canary: only version 1 answers after {recovery:.2f} s, "
          f"version 2 stopped after {stopped:.1f} s; loop {dict(loop.outcomes)}")
    assert loop.failures == [], loop.failures[:5]
    status = run_cli("--status", "--config", str(configs["strong"]))
    assert status.returncode == 0, _output(status)
    assert "Interrupted roll-out: roll-out of version 2" in status.stdout, status.stdout
    assert "Last decision: version 2: interrupted" in status.stdout, status.stdout
    assert _stages() == {"1": "production", "2": "staging"}
    assert _metadata("2")["rollout_interrupted"]["champion"] == "1"
    again = run_cli("--status", "--config", str(configs["strong"]))
    assert "Interrupted roll-out" not in again.stdout  # recorded once, then history


def test_sigterm_of_the_deploy_mid_canary_restores_at_once_in_one_line(
    configs: dict[str, Path],
) -> None:
    serve_original(MODEL, "2")
    with RequestLoop(ENDPOINT) as loop:
        deploy = _deploy_until_the_canary_routes(configs["long_canary"])
        time.sleep(2)
        deploy.terminate()
        rest, _ = deploy.communicate(timeout=60)
        recovery = _seconds_until_only_v1_answers(5)
        _seconds_until_v2_is_stopped(5)  # the deploy stopped them before it exited
    assert deploy.returncode == 130, rest[-3000:]
    assert "Traceback" not in rest, rest[-3000:]
    assert "Interrupted." in rest
    print(f"\nSIGTERM of the deploy mid-canary: only version 1 answers after {recovery:.2f} s")
    assert loop.failures == [], loop.failures[:5]
    assert _stages()["1"] == "production" and _stages()["2"] != "production"
    status = run_cli("--status", "--config", str(configs["strong"]))
    assert "Last decision: version 2: interrupted" in status.stdout, status.stdout
    assert "cleared for roll-out" not in status.stdout.split("Last decision")[1]


def test_a_good_challenger_goes_through_every_step_to_production(
    configs: dict[str, Path],
) -> None:
    serve_original(MODEL, "2")
    result, loop = _deploy(configs["strong"], replay=True)
    assert result.returncode == 0, _output(result)
    assert "Canary step 1 (20%)" in result.stdout and "Canary step 2 (50%)" in result.stdout
    assert loop.failures == [], loop.failures[:5]
    assert loop.served_by["v1"] > 0 and loop.served_by["v2"] > 0
    assert _stages()["2"] == "production" and _stages()["1"] == "archived"
    checks = _metadata("2")["deployment"]["canary"]
    assert [(c["share"], c["outcome"]) for c in checks] == [(20, "pass"), (50, "pass")]
    for check, (low, high) in zip(checks, [(0.1, 0.32), (0.38, 0.62)], strict=True):
        mine, theirs = check["challenger"]["requests"], check["champion"]["requests"]
        assert low <= mine / (mine + theirs) <= high, check  # HAProxy routed by the step's weight
    response = requests.post(
        ENDPOINT, data="{}", headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.headers.get("X-Served-By") == "v2"


def _mlflow_tags(tracking_uri: str, zenml_version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    from tests.e2e.faulty_models import original_mlflow_version

    version = original_mlflow_version(MODEL, zenml_version)
    served = _metadata(zenml_version)["mlflow_registered_version"]
    client = MlflowClient(tracking_uri)
    tags = dict(client.get_model_version(MODEL, str(served)).tags)
    tags.update({k: v for k, v in client.get_model_version(MODEL, version).tags.items()
                 if k not in tags})
    return tags
