"""run.py as a user runs it: a subprocess, checked through ZenML and MLflow afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient
from zenml.client import Client

from steps.registry.provenance import file_sha256
from tests.conftest import PROJECT_ROOT, write_config

MODEL = "e2e-fraud"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python run.py ARGS`` from the project root, as a user would."""
    child_env = {k: v for k, v in os.environ.items() if k != "ZENML_ACTIVE_STACK_ID"}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=PROJECT_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    path = write_config(tmp_path_factory.mktemp("e2e"), model_name=MODEL)
    return path, run_cli("--pipeline", "train", "--config", str(path))


def test_train_exits_zero_and_says_what_it_made(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = trained
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Model: {MODEL} version 1" in result.stdout
    assert "mlflow ui --backend-store-uri 'sqlite:///" in result.stdout
    assert "roc_auc=" in result.stdout


def test_model_version_has_every_lineage_field(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    path, _ = trained
    meta: dict[str, Any] = Client().get_model_version(MODEL, "1").run_metadata
    for field in (
        "dataset_sha256",
        "dataset_rows",
        "dataset_source",
        "config_file",
        "config_sha256",
        "git_commit",
        "stack",
        "package_versions",
        "holdout_metrics",
        "mlflow_model_uri",
    ):
        assert field in meta, f"model version lacks {field}"
    assert meta["config_sha256"] == file_sha256(path)
    assert meta["stack"] == "local"
    assert set(meta["package_versions"]) >= {"zenml", "mlflow", "scikit-learn", "pandas"}


def test_mlflow_run_has_metrics_and_model(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = trained
    # The URI the user is told to open the MLflow UI on is the one to check.
    uri = result.stdout.split("--backend-store-uri '")[1].split("'")[0]
    client = MlflowClient(uri)
    meta: dict[str, Any] = Client().get_model_version(MODEL, "1").run_metadata
    mlflow_run = client.get_run(meta["mlflow_run_id"])
    assert mlflow_run.data.metrics["roc_auc"] == pytest.approx(meta["holdout_metrics"]["roc_auc"])
    assert "pr_auc" in mlflow_run.data.metrics
    mlflow.set_tracking_uri(uri)
    model = mlflow.sklearn.load_model(meta["mlflow_model_uri"])
    assert hasattr(model, "predict_proba")


def test_bad_data_exits_3_names_the_problem_and_registers_nothing(tmp_path: Path) -> None:
    from steps.data.synthetic import generate_transactions

    frame = generate_transactions(2000, seed=5, fraud_rate=0.05)
    frame = frame.drop(columns=["device_score"])
    data = tmp_path / "transactions.csv"
    frame.to_csv(data, index=False)
    path = write_config(
        tmp_path, model_name="e2e-bad-data", source={"kind": "file", "path": "transactions.csv"}
    )
    result = run_cli("--pipeline", "train", "--config", str(path))
    assert result.returncode == 3, result.stderr[-3000:]
    assert "column 'device_score'" in result.stderr
    assert "No model version was registered" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr, (
        "a gate stopping the run is not a crash"
    )
    with pytest.raises(KeyError):
        Client().get_model("e2e-bad-data")


def test_unreadable_data_file_exits_3_naming_the_path(tmp_path: Path) -> None:
    data = tmp_path / "transactions.parquet"
    data.write_bytes(b"this is not a parquet file\n" * 100)
    path = write_config(
        tmp_path, model_name="e2e-garbage", source={"kind": "file", "path": "transactions.parquet"}
    )
    result = run_cli("--pipeline", "train", "--config", str(path))
    assert result.returncode == 3, result.stderr[-3000:]
    assert "step 'ingest_data' (DataLoadError)" in result.stderr
    assert str(data) in result.stderr and "not Parquet" in result.stderr
    with pytest.raises(KeyError):
        Client().get_model("e2e-garbage")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"training": {"estimator": "xgboost"}}, "training.estimator"),
        ({"split": {"test_size": 2}}, "split.test_size"),
    ],
)
def test_bad_config_exits_2_naming_file_and_field_with_nothing_run(
    tmp_path: Path, change: dict[str, dict[str, object]], field: str
) -> None:
    raw = yaml.safe_load((PROJECT_ROOT / "configs" / "local.yaml").read_text())
    for section, values in change.items():
        raw[section].update(values)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    untouched = tmp_path / "zenml-state"
    result = run_cli(
        "--pipeline", "train", "--config", str(path), env={"ZENML_CONFIG_PATH": str(untouched)}
    )
    assert result.returncode == 2
    assert str(path) in result.stderr and field in result.stderr
    assert not untouched.exists(), "ZenML was started for an invalid config"


def test_unknown_pipeline_exits_2(tmp_path: Path) -> None:
    result = run_cli("--pipeline", "deploy-everything", "--config", "configs/local.yaml")
    assert result.returncode == 2
    assert "--pipeline" in result.stderr and "train" in result.stderr


def test_unknown_stack_exits_2_and_lists_registered_stacks(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    path, _ = trained
    result = run_cli("--pipeline", "train", "--config", str(path), "--stack", "no-such-stack")
    assert result.returncode == 2
    assert "no-such-stack" in result.stderr
    assert "registered stacks:" in result.stderr and "local" in result.stderr


def test_stack_without_an_experiment_tracker_exits_2_naming_it(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    path, _ = trained
    runs_before = Client().list_pipeline_runs(size=1).total
    result = run_cli("--pipeline", "train", "--config", str(path), "--stack", "default")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "experiment tracker" in result.stderr and "'default'" in result.stderr
    assert Client().list_pipeline_runs(size=1).total == runs_before


def test_stack_option_applies_to_one_run_only(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    from stacks.registration import StackSpec, load_stack_spec, register_stack

    local = load_stack_spec(PROJECT_ROOT / "stacks" / "local.yaml")
    register_stack(StackSpec(stack_name="local-copy", components=local.components))
    active_before = Client().active_stack_model.name
    path, _ = trained
    result = run_cli("--pipeline", "train", "--config", str(path), "--stack", "local-copy")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on stack 'local-copy'" in result.stdout
    runs = Client().list_pipeline_runs(pipeline_name="training", sort_by="desc:created", size=1)
    assert runs.items[0].stack is not None and runs.items[0].stack.name == "local-copy"
    assert Client().active_stack_model.name == active_before


def test_help_explains_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for text in ("--pipeline", "--config", "--stack", "--no-cache", "exit codes", "train"):
        assert text in result.stdout
