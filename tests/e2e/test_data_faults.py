"""Real data through run.py, as a user runs it: inferred, then locked, then a deliberate change.

A public data set (breast cancer, shipped with scikit-learn) published as CSV with its
index column, a config with no features listed, then faults in later files of the same
model. Each fault exits 3 with one readable message and registers no version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from zenml.client import Client

from tests.e2e.test_cli import run_cli

MODEL = "e2e-real-patients"


def _versions() -> int:
    try:
        return Client().list_model_versions(MODEL, size=100).total
    except KeyError:
        return 0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("real")
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "patients.csv")  # with the index
    config = {
        "data": {
            "source": {"kind": "file", "path": "patients.csv"},  # relative to the config
            "target": "target",
            "task": "binary",
            "positive_class": "0",  # malignant
        },
        "training": {"estimator": "logistic_regression"},
        "evaluation": {"primary_metric": "roc_auc", "thresholds": {"roc_auc": 0.9}},
        "model": {"name": MODEL},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def _write(workspace: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(workspace / "patients.csv", index=False)


def test_describe_data_prints_the_inferred_schema_and_registers_nothing(workspace: Path) -> None:
    result = run_cli("--describe-data", "--config", str(workspace / "config.yaml"))
    assert result.returncode == 0, result.stderr
    pasted = yaml.safe_load(result.stdout)
    names = [feature["name"] for feature in pasted["features"]]
    assert len(names) == 30 and "Unnamed: 0" not in names
    assert "Unnamed: 0: an unnamed leading column" in result.stdout
    assert "Positive class: '0'" in result.stdout
    assert _versions() == 0


def test_first_run_infers_leaves_the_index_out_and_registers(workspace: Path) -> None:
    result = run_cli("--pipeline", "train", "--config", str(workspace / "config.yaml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Left out 'Unnamed: 0': an unnamed leading column" in output
    assert _versions() == 1
    meta = Client().get_model_version(MODEL, "1").run_metadata
    assert meta["positive_class"] == "0"


def test_a_scaled_column_fails_against_the_locked_profile(workspace: Path) -> None:
    frame = pd.read_csv(workspace / "patients.csv")
    original = frame.copy()
    frame["mean radius"] = frame["mean radius"] * 1000
    _write(workspace, frame)
    try:
        result = run_cli("--pipeline", "train", "--config", str(workspace / "config.yaml"))
    finally:
        _write(workspace, original)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert "mean radius" in result.stderr
    assert "--accept-data-change" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _versions() == 1


def test_a_single_class_file_fails_with_exit_3_and_no_traceback(workspace: Path) -> None:
    frame = pd.read_csv(workspace / "patients.csv")
    original = frame.copy()
    _write(workspace, frame[frame["target"] == 1])
    try:
        result = run_cli("--pipeline", "train", "--config", str(workspace / "config.yaml"))
    finally:
        _write(workspace, original)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 class" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _versions() == 1


def test_a_deliberate_change_is_accepted_and_becomes_the_reference(workspace: Path) -> None:
    frame = pd.read_csv(workspace / "patients.csv")
    rng = np.random.default_rng(3)
    frame["clinic"] = rng.choice(["north", "south"], len(frame))  # a new column
    _write(workspace, frame)
    config = str(workspace / "config.yaml")
    refused = run_cli("--pipeline", "train", "--config", config)
    assert refused.returncode == 3 and "new columns: clinic" in refused.stderr
    accepted = run_cli("--pipeline", "train", "--config", config, "--accept-data-change")
    assert accepted.returncode == 0, accepted.stdout[-3000:] + accepted.stderr[-3000:]
    assert _versions() == 2
    artifact = Client().get_model_version(MODEL, "2").get_artifact("data_profile")
    assert artifact is not None
    profile = artifact.load()
    assert "clinic" in {column.name for column in profile.features}
