"""The training pipeline on a real (isolated) ZenML store with a real MLflow tracking store."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from zenml.client import Client

import run
from configs.loader import load_run_config
from steps.data.loading import fingerprint
from steps.data.synthetic import generate_transactions
from steps.registry.mlflow_model import serving_example
from steps.registry.provenance import file_sha256
from steps.validation.suite import ValidationReport
from tests.conftest import write_config

MODEL = "it-fraud"
STEPS = [
    "reference_profile",
    "ingest_data",
    "validate_data",
    "data_validation_gate",
    "split_dataset",
    "leakage_gate",
    "train_model",
    "evaluate_model",
    "quality_gate",
    "register_model",
]


def _train(path: Path, no_cache: bool = True) -> Any:
    config = load_run_config(path)
    run.select_stack(None)
    finished = run.run_training(config, path, no_cache=no_cache)
    return Client().get_pipeline_run(finished.id)


def _output(pipeline_run: Any, step: str, name: str) -> Any:
    return pipeline_run.steps[step].outputs[name][0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    path = write_config(tmp_path_factory.mktemp("train"), model_name=MODEL)
    pipeline_run = _train(path)
    return SimpleNamespace(run=pipeline_run, path=path, config=load_run_config(path))


def test_every_step_ran_and_succeeded(trained: SimpleNamespace) -> None:
    assert trained.run.status.value == "completed"
    assert sorted(trained.run.steps) == sorted(STEPS)
    started = {name: s.start_time for name, s in trained.run.steps.items()}
    ended = {name: s.end_time for name, s in trained.run.steps.items()}
    # Steps that are not a chain run in ZenML's order; each still follows what it needs.
    for before, after in [
        ("reference_profile", "validate_data"),
        ("ingest_data", "validate_data"),
        ("data_validation_gate", "split_dataset"),
        ("leakage_gate", "train_model"),
        ("quality_gate", "register_model"),
    ]:
        assert ended[before] <= started[after], f"{after} started before {before} ended"
    assert all(s.status.value == "completed" for s in trained.run.steps.values())


def test_model_version_records_full_lineage(trained: SimpleNamespace) -> None:
    version_ = trained.run.steps["register_model"].model_version
    assert version_ is not None and version_.model.name == MODEL
    meta: dict[str, Any] = Client().get_model_version(MODEL, version_.name).run_metadata
    source = trained.config.data.source
    expected_frame = generate_transactions(
        source.rows, seed=source.seed, fraud_rate=source.fraud_rate
    )
    assert meta["dataset_sha256"] == fingerprint(expected_frame)
    assert meta["dataset_rows"] == source.rows
    assert meta["config_file"] == str(trained.path.resolve())
    assert meta["config_sha256"] == file_sha256(trained.path)
    assert meta["git_commit"]  # a commit hash, or "unknown" outside a checkout
    assert meta["stack"] == "local"
    for package in ("zenml", "mlflow", "scikit-learn", "pandas"):
        assert meta["package_versions"][package] == version(package)
    assert meta["holdout_metrics"]["roc_auc"] > 0.7
    assert meta["mlflow_model_uri"].startswith("models:/")


def test_model_version_links_the_exact_artifacts(trained: SimpleNamespace) -> None:
    version_ = trained.run.steps["register_model"].model_version
    links = Client().list_model_version_artifact_links(model_version_id=version_.id, size=100)
    linked = {link.artifact_version.id for link in links.items}
    for step, output in [
        ("ingest_data", "dataset"),
        ("validate_data", "validation_report"),
        ("ingest_data", "data_profile"),
        ("split_dataset", "holdout_set"),
        ("train_model", "model"),
        ("evaluate_model", "metrics"),
    ]:
        assert _output(trained.run, step, output).id in linked, f"{step}.{output} not linked"


def test_dataset_artifact_carries_its_metadata(trained: SimpleNamespace) -> None:
    dataset = Client().get_artifact_version(_output(trained.run, "ingest_data", "dataset").id)
    meta: dict[str, Any] = dataset.run_metadata
    assert meta["rows"] == trained.config.data.source.rows
    assert len(meta["sha256"]) == 64
    assert meta["source"].startswith("synthetic://transactions?rows=")
    assert meta["columns"]["merchant_category"] == "category"


def test_validation_result_is_kept_with_a_dashboard_visualisation(trained: SimpleNamespace) -> None:
    report = _output(trained.run, "validate_data", "validation_report").load()
    assert isinstance(report, ValidationReport)
    assert report.success and report.evaluated > 40
    html = Client().get_artifact_version(
        _output(trained.run, "validate_data", "validation_report_html").id
    )
    assert html.visualizations, "the HTML report should be visible in the dashboard"


def test_holdout_is_an_artifact_of_the_configured_share(trained: SimpleNamespace) -> None:
    holdout = _output(trained.run, "split_dataset", "holdout_set").load()
    assert len(holdout) == int(trained.config.data.source.rows * trained.config.split.test_size)


def test_mlflow_has_the_run_with_params_metrics_plots_and_model(trained: SimpleNamespace) -> None:
    tracking_uri = Client().active_stack.experiment_tracker.get_tracking_uri()  # type: ignore[union-attr]
    assert tracking_uri.startswith("sqlite:///")
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("training")
    assert experiment is not None, "no MLflow experiment named after the pipeline"
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.runName = '{trained.run.name}'"
    )
    assert len(runs) == 1
    mlflow_run = runs[0]
    zenml_metrics = _output(trained.run, "evaluate_model", "metrics").load()
    assert mlflow_run.data.metrics["roc_auc"] == pytest.approx(zenml_metrics["roc_auc"])
    assert mlflow_run.data.params["estimator"] == "hist_gradient_boosting"
    plots = {a.path for a in client.list_artifacts(mlflow_run.info.run_id, "plots")}
    assert {"plots/roc_curve.png", "plots/pr_curve.png", "plots/confusion_matrix.png"} <= plots
    assert client.search_model_versions(f"name = '{MODEL}'"), "no MLflow registry version"
    model_uri = (
        Client()
        .get_model_version(MODEL, trained.run.steps["register_model"].model_version.name)
        .run_metadata["mlflow_model_uri"]
    )
    served = mlflow.pyfunc.load_model(model_uri)
    in_process = _output(trained.run, "train_model", "model").load()
    holdout = _output(trained.run, "split_dataset", "holdout_set").load().head(200)
    features = holdout.drop(columns=["is_fraud"])
    # What a JSON client sends: strings for categories, floats for integers.
    as_sent = serving_example(features)
    np.testing.assert_array_equal(served.predict(as_sent), in_process.predict(features))


def test_same_data_config_and_seed_give_the_same_metrics(trained: SimpleNamespace) -> None:
    again = _train(trained.path, no_cache=True)
    first = _output(trained.run, "evaluate_model", "metrics").load()
    second = _output(again, "evaluate_model", "metrics").load()
    assert first == second
    assert all(s.status.value == "completed" for s in again.steps.values())


def test_cached_rerun_reuses_steps_and_still_registers_a_version(trained: SimpleNamespace) -> None:
    before = Client().list_model_versions(MODEL, size=100).total
    cached = _train(trained.path, no_cache=False)
    statuses = {name: s.status.value for name, s in cached.steps.items()}
    assert statuses["train_model"] == "cached"
    assert statuses["register_model"] == "completed"
    assert Client().list_model_versions(MODEL, size=100).total == before + 1


def _model_versions(name: str) -> int:
    try:
        return Client().list_model_versions(name, size=100).total
    except KeyError:
        return 0


def test_invalid_data_stops_before_training_and_registers_nothing(tmp_path: Path) -> None:
    frame = generate_transactions(3000, seed=3, fraud_rate=0.05)
    frame["amount"] = frame["amount"].astype("float64")
    frame.loc[5, "amount"] = 99_999_999.0
    frame["channel"] = frame["channel"].astype(str)
    frame.loc[7, "channel"] = "carrier_pigeon"
    data = tmp_path / "bad.csv"
    frame.to_csv(data, index=False)
    path = write_config(
        tmp_path, model_name="it-bad-data", source={"kind": "file", "path": str(data)}
    )
    with pytest.raises(RuntimeError):
        _train(path)
    failed = run.latest_run("training")
    assert failed is not None
    statuses = {name: s.status.value for name, s in failed.steps.items()}
    assert statuses["validate_data"] == "completed"
    assert statuses["data_validation_gate"] == "failed"
    assert "train_model" not in statuses or statuses["train_model"] != "completed"
    report = _output(failed, "validate_data", "validation_report").load()
    columns = {f.column for f in report.failures}
    assert {"amount", "channel"} <= columns
    assert "carrier_pigeon" in report.summary()
    assert _model_versions("it-bad-data") == 0
    message = run.step_failures(failed)[0].message
    assert "amount" in message and "channel" in message


def test_quality_gate_failure_registers_nothing(tmp_path: Path) -> None:
    path = write_config(tmp_path, model_name="it-low-quality", thresholds={"roc_auc": 0.9999})
    with pytest.raises(RuntimeError):
        _train(path)
    failed = run.latest_run("training")
    assert failed is not None
    failures = run.step_failures(failed)
    assert [f.step for f in failures] == ["quality_gate"]
    assert "roc_auc" in failures[0].message and "below the minimum 0.9999" in failures[0].message
    assert _model_versions("it-low-quality") == 0


def test_holdout_is_stratified_on_the_target(trained: SimpleNamespace) -> None:
    """Exactly the configured share of the positives, not just about 5% of rows."""
    dataset = _output(trained.run, "ingest_data", "dataset").load()
    holdout = _output(trained.run, "split_dataset", "holdout_set").load()
    assert isinstance(holdout, pd.DataFrame)
    expected = dataset["is_fraud"].sum() * trained.config.split.test_size
    assert abs(int(holdout["is_fraud"].sum()) - expected) <= 1


def test_the_version_carries_its_data_profile_and_the_next_run_compares_with_it(
    trained: SimpleNamespace,
) -> None:
    version_ = trained.run.steps["register_model"].model_version
    profile = Client().get_model_version(MODEL, version_.name).get_artifact("data_profile")
    assert profile is not None, "the data profile is not linked to the model version"
    loaded = profile.load()
    assert loaded.rows == trained.config.data.source.rows
    assert {c.name for c in loaded.features} == {f.name for f in trained.config.data.features}
    again = _train(trained.path, no_cache=False)
    assert again.steps["reference_profile"].status.value == "completed"  # never cached
    reference = _output(again, "reference_profile", "reference_profile").load()
    assert reference.version is not None and int(reference.version) >= int(version_.name)
    linked = Client().get_model_version(MODEL, reference.version).get_artifact("data_profile")
    assert linked is not None and reference.profile == linked.load()
