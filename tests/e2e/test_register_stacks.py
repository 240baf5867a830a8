"""``run.py --register-stacks`` as a user runs it, against a ZenML store of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.e2e.test_cli import run_cli
from tests.integration.test_stack_registration import SHIPPED_STACKS


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh ZenML store, so this module sees registration from nothing."""
    return {"ZENML_CONFIG_PATH": str(tmp_path_factory.mktemp("zenml-register"))}


def create_secrets(env: dict[str, str]) -> None:
    """The secrets the shipped stack files reference, with test values (no stack file given)."""
    subprocess.run(
        [sys.executable, "-m", "tests.integration.remote.client_setup"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


def test_register_all_then_again(store_env: dict[str, str]) -> None:
    missing = run_cli("--register-stacks", env=store_env)
    assert missing.returncode == 2
    assert "ZenML secret 'aws_credentials' does not exist" in missing.stderr
    assert "Nothing was registered." in missing.stderr

    create_secrets(store_env)
    first = run_cli("--register-stacks", env=store_env)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in SHIPPED_STACKS:
        assert f"  {name}: registered" in first.stdout

    second = run_cli("--register-stacks", env=store_env)
    assert second.returncode == 0, second.stderr[-3000:]
    for name in SHIPPED_STACKS:
        assert f"  {name}: already registered, unchanged" in second.stdout
    assert "Nothing changed." in second.stdout

    for name in ("kubeflow-seldon", "local"):
        assert zenml_cli(store_env, "stack", "set", name).returncode == 0
        shown = zenml_cli(store_env, "stack", "get")
        assert f"'{name}'" in shown.stdout + shown.stderr, shown.stdout + shown.stderr


def zenml_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The ``zenml`` command of this venv, against the module's own store."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("zenml")), *args],
        cwd=PROJECT_ROOT,
        # The stack this process chose lives in another store than the module's.
        env={**{k: v for k, v in os.environ.items() if k != "ZENML_ACTIVE_STACK_ID"}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_file_exits_2_naming_file_and_field(store_env: dict[str, str], tmp_path: Path) -> None:
    raw = yaml.safe_load((PROJECT_ROOT / "stacks" / "sagemaker-seldon.yaml").read_text())
    raw["stack_name"] = "sagemaker-typo"
    raw["components"]["orchestrator"][0]["name"] = "sagemaker-typo"
    raw["components"]["orchestrator"][0]["configuration"]["instance_typ"] = "ml.m5.large"
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = run_cli("--register-stacks", str(bad), env=store_env)
    assert result.returncode == 2
    assert str(bad) in result.stderr
    assert "'components.orchestrator.0.configuration.instance_typ'" in result.stderr
    assert "Nothing was registered." in result.stderr


def test_pipeline_without_config_is_a_usage_error() -> None:
    result = run_cli("--pipeline", "train")
    assert result.returncode == 2
    assert "--config" in result.stderr


def test_unreachable_server_exits_1_with_one_message(tmp_path: Path) -> None:
    """Nothing listens on port 9; ZenML retries for about half a minute, then we say so."""
    env = {"ZENML_CONFIG_PATH": str(tmp_path), "ZENML_STORE_URL": "http://127.0.0.1:9"}
    result = run_cli("--register-stacks", "local", env=env)
    assert result.returncode == 1
    assert "error: the ZenML store failed" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
