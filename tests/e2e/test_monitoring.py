"""Batch inference and monitoring as a user drives them: run.py subprocesses, one model's life.

In order: with no production version both commands exit 2; a trained version
is put in production (through the Model Control Plane, as a deploy would: the
serving path is test_deploy.py's); a labelled CSV batch written the usual way
(pandas' index column) is scored into one prediction per row equal to the
in-process model's; corrupt, empty and incomplete batches are refused before
anything is scored; a batch from the training distribution is monitored
without retraining; a shifted one retrains, the new version names the
monitoring run that caused it, and the deployment gates judge it (the config's
bar is set so the threshold gate refuses it: exit 5, nothing served).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from zenml.client import Client

from steps.data.synthetic import generate_transactions
from tests.conftest import write_config
from tests.e2e.deployed import free_port, local_tracking_uri, stages
from tests.e2e.test_cli import run_cli

pytestmark = pytest.mark.timeout(900)

MODEL = "e2e-monitor"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small config whose retrained versions the threshold gate refuses."""
    path = write_config(tmp_path_factory.mktemp("monitor"), model_name=MODEL, rows=6000)
    raw = yaml.safe_load(path.read_text())
    raw["deployment"] = {
        "serving": {"port": free_port(), "startup_timeout": 120},
        "load_test": None,
        "canary": None,
        "thresholds": {"roc_auc": 0.9999},
    }
    raw["monitoring"] = {
        "drift": {"method": "psi", "drift_share": 0.3},
        "report": {"sample_rows": 2000, "seed": 3},
        "retrain": {"data": "reference_and_batch", "deploy": True},
        "chunk_rows": 1000,
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    yield path
    run_cli("--undeploy", "--config", str(path))


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CSV batches as they are usually published (with the index column)."""
    directory = tmp_path_factory.mktemp("batches")
    same = generate_transactions(3000, seed=11, fraud_rate=0.05)
    shifted = generate_transactions(3000, seed=12, fraud_rate=0.05, shift=0.8)
    corrupt = same.drop(columns=["is_fraud"]).astype({"amount": object})
    corrupt.loc[1234, "amount"] = "twelve"
    corrupt.loc[1500, "customer_age"] = 120  # the rule says 18..95; same chunk as row 1234
    paths = {
        "same": directory / "same.csv",
        "shifted": directory / "shifted.csv",
        "unlabelled": directory / "unlabelled.csv",
        "corrupt": directory / "corrupt.csv",
        "empty": directory / "empty.csv",
    }
    same.to_csv(paths["same"])
    shifted.to_csv(paths["shifted"])
    same.drop(columns=["is_fraud"]).to_csv(paths["unlabelled"])
    corrupt.to_csv(paths["corrupt"])
    same.head(0).to_csv(paths["empty"])
    return paths


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-5000:] + result.stderr[-5000:]


def _recorded(metadata: Any, key: str) -> dict[str, Any]:
    """One dict-valued metadata entry (ZenML types metadata values as a union)."""
    value = metadata[key]
    assert isinstance(value, dict), f"{key}: {value!r}"
    return value


def _versions() -> dict[str, str]:
    return stages(MODEL)


def test_without_a_production_version_both_commands_exit_2(
    config: Path, batches: dict[str, Path], tmp_path: Path
) -> None:
    for pipeline in ("batch-inference", "monitor"):
        result = run_cli(
            "--pipeline",
            pipeline,
            "--config",
            str(config),
            "--data",
            str(batches["same"]),
            "--output",
            str(tmp_path / "p.csv"),
        )
        assert result.returncode == 2, _out(result)
        assert f"model '{MODEL}' has no production version" in result.stderr
    assert not (tmp_path / "p.csv").exists()


def test_a_trained_version_becomes_production(config: Path) -> None:
    result = run_cli("--pipeline", "train", "--config", str(config))
    assert result.returncode == 0, _out(result)
    from steps.promotion.stages import (
        configure_mlflow_from_stack,
        get_version,
        set_stage,
        sync_mlflow,
    )

    local_tracking_uri()  # makes the local stack active in this process
    configure_mlflow_from_stack()
    set_stage(get_version(MODEL, "1"), "production")
    sync_mlflow(MODEL)
    assert _versions() == {"1": "production"}


def _in_process(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    artifact = Client().get_model_version(MODEL, "1").get_artifact("model")
    assert artifact is not None
    model = artifact.load()
    features = frame.drop(columns=["is_fraud", "Unnamed: 0"], errors="ignore")
    positive = list(model.classes_).index(1)
    return model.predict(features), model.predict_proba(features)[:, positive]


def test_batch_inference_writes_one_prediction_per_row_in_order(
    config: Path, batches: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "predictions.parquet"  # CSV output: tests/unit/inference
    result = run_cli(
        "--pipeline", "batch-inference", "--config", str(config),
        "--data", str(batches["unlabelled"]), "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, _out(result)
    assert "3,000 rows scored in 3 chunk(s)" in result.stdout
    written = pd.read_parquet(output)
    source = pd.read_csv(batches["unlabelled"])
    assert len(written) == len(source)
    assert written["row"].tolist() == list(range(len(source)))
    assert written["Unnamed: 0"].tolist() == source["Unnamed: 0"].tolist()
    labels, proba = _in_process(source)
    assert written["prediction"].tolist() == labels.tolist()
    np.testing.assert_allclose(written["probability"].to_numpy(), proba, rtol=1e-9)
    assert set(written["model_version"].astype(str)) == {"1"}
    assert written["predicted_at"].nunique() == 1
    version = Client().get_model_version(MODEL, "1")
    linked = version.get_artifact("batch_predictions")
    assert linked is not None, "the predictions artifact is linked to the production version"


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (
            "corrupt",
            [
                "data rows 1000-1999",
                "column 'amount'",
                "'twelve' (row 234)",
                "column 'customer_age'",
            ],
        ),
        ("empty", ["header", "no data rows"]),
    ],
)
def test_a_bad_batch_is_refused_before_anything_is_scored(
    config: Path, batches: dict[str, Path], tmp_path: Path, batch: str, expected: list[str]
) -> None:
    output = tmp_path / "predictions.csv"
    output.write_text("an earlier file\n")
    result = run_cli(
        "--pipeline",
        "batch-inference",
        "--config",
        str(config),
        "--data",
        str(batches[batch]),
        "--output",
        str(output),
    )
    assert result.returncode == 3, _out(result)
    for text in expected:
        assert text in result.stderr, _out(result)
    assert output.read_text() == "an earlier file\n", "an earlier output is left as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"], "no partial file"


def test_monitor_refuses_a_corrupt_batch_before_comparing(
    config: Path, batches: dict[str, Path]
) -> None:
    before = len(_monitoring_runs())
    result = run_cli(
        "--pipeline", "monitor", "--config", str(config), "--data", str(batches["corrupt"])
    )
    assert result.returncode == 3, _out(result)
    assert "no drift was computed and nothing was retrained" in result.stderr
    assert "'twelve' (row 1234)" in result.stderr, "the whole batch is validated: file rows"
    runs = _monitoring_runs()
    assert len(runs) == before + 1
    assert "drift_decision" not in Client().get_pipeline_run(runs[0].id).run_metadata
    assert _versions() == {"1": "production"}


def _monitoring_runs() -> list[Any]:
    runs = Client().list_pipeline_runs(pipeline_name="monitoring", sort_by="desc:created", size=20)
    return list(runs.items)


def test_a_batch_like_the_training_data_does_not_retrain(
    config: Path, batches: dict[str, Path]
) -> None:
    result = run_cli(
        "--pipeline", "monitor", "--config", str(config), "--data", str(batches["same"])
    )
    assert result.returncode == 0, _out(result)
    assert "Nothing to retrain." in result.stdout
    assert _versions() == {"1": "production"}
    run = Client().get_pipeline_run(_monitoring_runs()[0].id)
    decision = _recorded(run.run_metadata, "drift_decision")
    assert decision["retrain"] is False and decision["drifted_columns"] == []
    assert set(decision["columns"]) >= {"amount", "day_of_week"}
    assert set(decision["quality"]) == set()  # no floors configured; labels were used below
    figures = _recorded(run.run_metadata, "drift_report")
    assert figures["current_sample"] == {"rows": 2000, "of_rows": 3000, "seed": 3}
    report = run.steps["drift_report"].outputs["drift_report"][0]
    assert report.visualizations, "the report is a dashboard visualization"
    assert "<html" in str(report.load())[:2000].lower()
    mlflow_run = _mlflow_run_of(run.name)
    artifacts = [a.path for a in MlflowClient(local_tracking_uri()).list_artifacts(mlflow_run)]
    assert "drift_report.html" in artifacts


def _mlflow_run_of(run_name: str) -> str:
    client = MlflowClient(local_tracking_uri())
    experiment = client.get_experiment_by_name("monitoring")
    assert experiment is not None
    found = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.runName = '{run_name}'"
    )
    assert found, f"no MLflow run named {run_name}"
    return str(found[0].info.run_id)


def test_no_retrain_reports_drift_and_changes_nothing(
    config: Path, batches: dict[str, Path]
) -> None:
    result = run_cli(
        "--pipeline",
        "monitor",
        "--config",
        str(config),
        "--data",
        str(batches["shifted"]),
        "--no-retrain",
    )
    assert result.returncode == 0, _out(result)
    assert "Decision: retrain:" in result.stdout
    assert "--no-retrain: the rule fired, nothing is retrained." in result.stdout
    assert "drifted  amount" in result.stdout
    assert _versions() == {"1": "production"}


def test_a_shifted_batch_retrains_and_the_new_version_meets_the_gates(
    config: Path, batches: dict[str, Path]
) -> None:
    result = run_cli(
        "--pipeline", "monitor", "--config", str(config), "--data", str(batches["shifted"])
    )
    assert result.returncode == 5, _out(result)  # the threshold gate refused version 2
    assert "Retraining on reference and batch" in result.stdout
    assert "threshold" in result.stderr
    assert _versions() == {"1": "production", "2": "none"}
    monitor = _monitoring_runs()[0]
    version = Client().get_model_version(MODEL, "2")
    trigger = _recorded(version.run_metadata, "trigger")
    assert trigger["kind"] == "monitoring"
    assert trigger["monitoring_run_id"] == str(monitor.id)
    assert trigger["production_version"] == "1"
    assert version.run_metadata["dataset_rows"] == 6000 + 3000, "reference plus batch"
    gates = _recorded(version.run_metadata, "deployment_gates")
    assert gates["decision"] == "rejected", gates
    assert gates["failed_gate"] == "absolute_thresholds", gates
    tags = (
        MlflowClient(local_tracking_uri())
        .get_model_version(MODEL, str(version.run_metadata["mlflow_registered_version"]))
        .tags
    )
    assert tags["trigger.monitoring_run_id"] == str(monitor.id)
