"""The deployment pipeline as a user drives it: run.py subprocesses, real servers and HAProxy.

One model's life, in order: a first version becomes production; a better
challenger is refused by each gate in turn when the config asks too much,
then replaces the champion while requests keep flowing; a failure injected
halfway through a switch leaves ZenML, MLflow and the routing as they were;
a rollback brings the old champion back; --status, --serve (after killing
every process) and --undeploy do what they say.

The tests depend on their order (one module, one model's history), as a
user's commands do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from mlflow import MlflowClient
from zenml.client import Client

from tests.conftest import PROJECT_ROOT, write_config
from tests.e2e.deployed import free_port, local_mlflow, stages
from tests.e2e.test_cli import run_cli
from tests.e2e.traffic import RequestLoop, request_body

MODEL = "e2e-deploy"



PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}/invocations"


def _config(directory: Path, file: str, *, strong: bool, deployment: dict[str, Any]) -> Path:
    """A small config for MODEL: a weak (3 trees) or a strong model, the given deployment rules."""
    path = write_config(directory, model_name=MODEL, rows=6000, name=file)
    raw = yaml.safe_load(path.read_text())
    raw["training"]["params"] = (
        {"max_iter": 60} if strong else {"max_iter": 3, "max_depth": 2, "learning_rate": 0.05}
    )
    raw["deployment"] = {
        "serving": {"port": PORT, "startup_timeout": 120, "drain_timeout": 5, "smoke_rows": 20},
        # part 1's switch at once; the load test and canary are tests/e2e/test_canary.py's
        "load_test": None,
        "canary": None,
        **deployment,
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Config files by purpose; every server started is stopped at the end."""
    directory = tmp_path_factory.mktemp("deploy")
    paths = {
        "weak": _config(directory, "weak.yaml", strong=False, deployment={}),
        "strong": _config(directory, "strong.yaml", strong=True, deployment={}),
        "few_rows": _config(
            directory, "few_rows.yaml", strong=True, deployment={"comparison": {"min_rows": 10**6}}
        ),
        "high_bar": _config(
            directory, "high_bar.yaml", strong=True, deployment={"thresholds": {"roc_auc": 0.9999}}
        ),
        "unfair": _config(
            directory,
            "unfair.yaml",
            strong=True,
            deployment={
                "fairness": {
                    "segment": "channel",
                    "metric": "roc_auc",
                    "max_gap": 0.0001,
                    "min_rows": 20,
                }
            },
        ),
    }
    yield paths
    run_cli("--undeploy", "--config", str(paths["weak"]))


def _ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _stages() -> dict[str, str]:
    return stages(MODEL)


def _mlflow_version(version: str) -> str:
    meta = Client().get_model_version(MODEL, version).run_metadata
    return str(meta["mlflow_registered_version"])


def _mlflow() -> MlflowClient:
    return local_mlflow()


def _aliases() -> dict[str, str]:
    return {k: str(v) for k, v in _mlflow().get_registered_model(MODEL).aliases.items()}


def _served_by(version: str) -> None:
    """ZenML says production, MLflow's champion alias agrees, the endpoint answers."""
    stages = _stages()
    assert [v for v, s in stages.items() if s == "production"] == [version], stages
    assert _aliases().get("champion") == _mlflow_version(version)
    assert "challenger" not in _aliases()
    response = requests.post(
        ENDPOINT, data=request_body(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 200, response.text


def test_release_trains_and_makes_the_first_version_production(configs: dict[str, Path]) -> None:
    result = run_cli("--pipeline", "release", "--config", str(configs["weak"]))
    _ok(result)
    assert f"Model: {MODEL} version 1" in result.stdout
    assert "Challenger: version 1; champion: none" in result.stdout
    assert f"serves 100% at {ENDPOINT}" in result.stdout
    _served_by("1")
    tags = _mlflow().get_model_version(MODEL, _mlflow_version("1")).tags
    assert tags["zenml.model_version"] == "1"
    assert (
        tags["dataset_sha256"]
        == Client().get_model_version(MODEL, "1").run_metadata["dataset_sha256"]
    )
    assert tags["zenml.stage"] == "production"


@pytest.mark.parametrize(
    ("config", "gate"),
    [
        ("few_rows", "fair_comparison"),
        ("high_bar", "absolute_thresholds"),
        ("unfair", "fairness"),
    ],
)
def test_each_gate_refuses_a_challenger_and_changes_nothing(
    configs: dict[str, Path], config: str, gate: str
) -> None:
    if "2" not in _stages():
        _ok(run_cli("--pipeline", "train", "--config", str(configs["strong"])))
    result = run_cli(
        "--pipeline", "deploy", "--config", str(configs[config]), "--model-version", "2"
    )
    assert result.returncode == 5, result.stdout[-3000:] + result.stderr[-3000:]
    assert "not promoted" in result.stderr
    assert "Traceback" not in result.stderr
    _served_by("1")
    assert _stages()["2"] == "none"
    gates: Any = Client().get_model_version(MODEL, "2").run_metadata["deployment_gates"]
    assert gates["decision"] == "rejected" and gates["failed_gate"] == gate
    tags = _mlflow().get_model_version(MODEL, _mlflow_version("2")).tags
    assert tags["deployment.rejected_by"] == gate


def test_an_equal_challenger_is_refused_by_the_champion_gate(configs: dict[str, Path]) -> None:
    _ok(run_cli("--pipeline", "train", "--config", str(configs["weak"])))  # version 3, as v1
    result = run_cli(
        "--pipeline", "deploy", "--config", str(configs["weak"]), "--model-version", "3"
    )
    assert result.returncode == 5, result.stdout[-3000:] + result.stderr[-3000:]
    assert "champion_vs_challenger" in result.stderr or "champion" in result.stderr
    _served_by("1")


def test_a_better_challenger_replaces_the_champion_without_a_failed_request(
    configs: dict[str, Path],
) -> None:
    with RequestLoop(ENDPOINT) as loop:
        result = run_cli(
            "--pipeline", "deploy", "--config", str(configs["strong"]), "--model-version", "2"
        )
        time.sleep(1)
    _ok(result)
    assert loop.sent > 50
    assert loop.failures == [], loop.failures[:5]
    _served_by("2")
    assert _stages()["1"] == "archived"
    report = PROJECT_ROOT / "reports" / "deployment" / f"{MODEL}-v2.html"
    assert report.exists() and "PASSED EVERY GATE" in report.read_text()
    status = run_cli("--status", "--config", str(configs["strong"]))
    _ok(status)
    assert ENDPOINT in status.stdout
    serving = [line for line in status.stdout.splitlines() if line.strip().startswith("version")]
    assert len(serving) == 1 and "version 2" in serving[0] and "100%" in serving[0], status.stdout


def test_a_failure_halfway_leaves_zenml_mlflow_and_routing_as_they_were(
    configs: dict[str, Path],
) -> None:
    """Inject a failure after the routing moved to the new version, before its stage did."""
    from configs.loader import load_run_config
    from stacks.flavors.traffic import TrafficSplitter
    from steps.deployment.candidates import load_version
    from steps.deployment.platform import active_splitter
    from steps.deployment.rollout import switch_to
    from steps.promotion.stages import configure_mlflow_from_stack, get_version, version_in_stage

    Client().activate_stack("local")
    configure_mlflow_from_stack()
    splitter = active_splitter()

    class FailsAfterRouting:
        """The real splitter, except that routing to the new version then fails."""

        def __getattr__(self, name: str) -> Any:
            return getattr(splitter, name)

        def set_weights(self, model_name: str, weights: dict[str, int]) -> None:
            splitter.set_weights(model_name, weights)
            if weights.get("3") == 100:
                raise RuntimeError("injected failure after routing")

    config = load_run_config(configs["weak"])
    new, old = get_version(MODEL, "3"), version_in_stage(MODEL, "production")
    loaded = load_version(new, train_set=False, holdout_set=True)
    assert loaded.holdout_set is not None
    failing: TrafficSplitter = FailsAfterRouting()  # type: ignore[assignment]
    with RequestLoop(ENDPOINT) as loop, pytest.raises(RuntimeError, match="injected"):
        switch_to(
            failing,
            new,
            old,
            loaded.model,
            loaded.holdout_set.head(10),
            "is_fraud",
            config.deployment.serving,
        )
    assert loop.failures == [], loop.failures[:5]
    _served_by("2")
    assert _stages()["3"] == "none"
    assert [b.version for b in splitter.backends(MODEL)] == ["2"]


def test_rollback_serves_the_previous_champion_again_and_records_why(
    configs: dict[str, Path],
) -> None:
    missing = run_cli("--pipeline", "rollback", "--config", str(configs["strong"]))
    assert missing.returncode == 2 and "--reason" in missing.stderr
    with RequestLoop(ENDPOINT) as loop:
        result = run_cli(
            "--pipeline", "rollback", "--config", str(configs["strong"]), "--reason", "alert 4711"
        )
        time.sleep(1)
    _ok(result)
    assert loop.sent > 50 and loop.failures == [], loop.failures[:5]
    _served_by("1")
    assert _stages()["2"] == "archived"
    record: Any = Client().get_model_version(MODEL, "1").run_metadata["rollback"]
    assert record["reason"] == "alert 4711" and record["rolled_back_from"] == "2"
    assert record["by"]


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a server's daemon forks its uvicorn workers)."""
    found = [pid]
    for child in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split():
        found += _descendants(int(child))
    return found


def _pids() -> list[int]:
    """Every process serving MODEL's endpoint: supervisord and everything below it."""
    from steps.deployment.platform import active_splitter

    _mlflow()  # activates the local stack in this process
    splitter: Any = active_splitter()
    root = splitter.supervisor().pid()
    return _descendants(root) if root else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_brings_production_back_after_every_process_is_killed(
    configs: dict[str, Path],
) -> None:
    pids = _pids()
    assert len(pids) >= 4, "expected supervisord, HAProxy, the guard and the replicas running"
    for pid in pids:  # a reboot's worth: the supervisor too
        os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    with pytest.raises(requests.ConnectionError):
        requests.post(ENDPOINT, data=request_body(), timeout=5)
    _ok(run_cli("--serve", "--config", str(configs["strong"])))
    _served_by("1")
    again = run_cli("--serve", "--config", str(configs["strong"]))
    _ok(again)
    assert "Routed" not in again.stdout  # nothing to change the second time
    _served_by("1")


def test_undeploy_stops_every_server_and_the_splitter(configs: dict[str, Path]) -> None:
    pids = _pids()
    _ok(run_cli("--undeploy", "--config", str(configs["strong"])))
    time.sleep(1)
    assert not [pid for pid in pids if _alive(pid)]
    with pytest.raises(requests.ConnectionError):
        requests.post(ENDPOINT, data=request_body(), timeout=5)
    assert _stages()["1"] == "production"  # stages are kept: --serve brings it back


def test_undeploy_all_needs_no_config_and_all_alone_is_refused(configs: dict[str, Path]) -> None:
    misplaced = run_cli("--status", "--all", "--config", str(configs["strong"]))
    assert misplaced.returncode == 2 and "--all goes with --undeploy only" in misplaced.stderr
    everything = run_cli("--undeploy", "--all")
    _ok(everything)
    from steps.deployment.platform import active_splitter

    _mlflow()  # activates the local stack in this process
    splitter: Any = active_splitter()
    assert splitter.model_names() == [] and not splitter.supervisor().is_running()
    assert _pids() == []


def test_bad_deploy_requests_exit_2_and_change_nothing(configs: dict[str, Path]) -> None:
    before = _stages()
    unknown = run_cli(
        "--pipeline", "deploy", "--config", str(configs["strong"]), "--model-version", "99"
    )
    assert unknown.returncode == 2 and "no such version" in unknown.stderr
    no_haproxy = run_cli(
        "--pipeline",
        "deploy",
        "--config",
        str(configs["strong"]),
        "--model-version",
        "2",
        env={"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"},
    )
    assert no_haproxy.returncode == 2, no_haproxy.stderr[-2000:]
    assert "apt-get install haproxy" in no_haproxy.stderr
    assert _stages() == before


def test_replay_refuses_what_it_cannot_do_and_says_why(
    configs: dict[str, Path], tmp_path: Path
) -> None:
    """No endpoint, no production version, a rate of 0: exit 2, nothing sent."""
    down = run_cli("--replay", "--config", str(configs["strong"]), "--duration", "2")
    assert down.returncode == 2, down.stderr[-2000:]
    assert "endpoint is not running" in down.stderr and "--serve" in down.stderr
    other = write_config(tmp_path, model_name="never-deployed", name="other.yaml")
    nothing = run_cli("--replay", "--config", str(other), "--duration", "2")
    assert nothing.returncode == 2 and "has no production version" in nothing.stderr
    zero = run_cli("--replay", "--config", str(configs["strong"]), "--rate", "0")
    assert zero.returncode == 2 and "expected a number above 0, got 0" in zero.stderr
