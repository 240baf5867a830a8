"""Safe feature inference: row indexes and identifiers are never features.

Real public data sets (they ship with scikit-learn, no network) are written to CSV
the way they are usually published, with pandas' index as a leading column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from configs.loader import parse_run_config
from configs.schema import DataConfig, FeatureSpec, FileSource
from steps.data.describe import describe_data
from steps.data.inference import (
    choose_features,
    identifier_reason,
    label_text,
    resolve_positive_class,
    row_index_reason,
)
from steps.data.info import describe_dataset, inference_lines

PUBLIC = {
    "iris": (load_iris, "multiclass"),
    "breast_cancer": (load_breast_cancer, "binary"),
    "wine": (load_wine, "multiclass"),
    "diabetes": (load_diabetes, "regression"),
}


def _config(task: str = "binary", target: str = "target", **extra: object) -> DataConfig:
    return DataConfig(
        source=FileSource(kind="file", path="data.csv"), target=target, task=task, **extra
    )


def published_csv(tmp_path: Path, name: str, sort_by_target: bool = False) -> Path:
    """A public data set as a CSV with pandas' index column, as it is often published."""
    frame = PUBLIC[name][0](as_frame=True).frame
    if sort_by_target:
        frame = frame.sort_values("target", kind="stable").reset_index(drop=True)
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path)  # index=True: the leading unnamed column
    return path


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_published_index_column_is_left_out_with_its_reason(tmp_path, name):
    path = published_csv(tmp_path, name)
    frame = pd.read_csv(path)
    assert frame.columns[0] == "Unnamed: 0"
    choice = choose_features(frame, _config(PUBLIC[name][1]))
    names = [f.name for f in choice.features]
    assert "Unnamed: 0" not in names
    assert "target" not in names
    assert "row index" in choice.excluded["Unnamed: 0"]
    assert len(names) == frame.shape[1] - 2  # every genuine feature is kept


def test_a_row_number_of_a_file_sorted_by_its_target_is_left_out(tmp_path):
    frame = pd.read_csv(published_csv(tmp_path, "diabetes", sort_by_target=True))
    frame = frame[[*frame.columns[1:], "Unnamed: 0"]].rename(columns={"Unnamed: 0": "row"})
    choice = choose_features(frame, _config("regression"))
    assert "row" not in [f.name for f in choice.features]
    assert choice.excluded["row"] == f"a row number (0..{len(frame) - 1} in file order)"


@pytest.mark.parametrize("start", [0, 1])
def test_row_numbers_from_zero_or_one_are_indexes(start):
    values = pd.Series(np.arange(start, start + 50), name="n")
    assert row_index_reason(values, position=3) is not None


def test_shuffled_integers_are_not_a_row_number():
    values = pd.Series(np.random.default_rng(0).permutation(50), name="n")
    assert row_index_reason(values, position=3) is None


def test_an_unnamed_column_elsewhere_is_not_taken_for_the_index():
    values = pd.Series(np.random.default_rng(0).normal(size=50), name="Unnamed: 0")
    assert row_index_reason(values, position=0) is not None
    assert row_index_reason(values, position=2) is None


def test_distinct_labels_and_integers_are_identifiers_but_measurements_are_not():
    n = 200
    rng = np.random.default_rng(1)
    assert identifier_reason(pd.Series([f"C{i:05d}" for i in rng.permutation(n)])) is not None
    assert identifier_reason(pd.Series(rng.permutation(n) * 7 + 1000)) is not None
    assert identifier_reason(pd.Series(rng.normal(size=n))) is None  # floats are measurements
    assert identifier_reason(pd.Series(rng.integers(0, 20, n))) is None  # repeats
    reviews = pd.Series([f"the product number {i} was fine and arrived late" for i in range(n)])
    assert identifier_reason(reviews) is None  # free text is distinct by nature
    with_null = pd.Series([f"C{i}" for i in range(n - 1)] + [None])
    assert identifier_reason(with_null) is None
    assert identifier_reason(pd.Series([f"C{i}" for i in range(10)])) is None  # too few rows


def test_an_id_column_is_left_out_and_the_run_output_says_why(tmp_path):
    frame = pd.read_csv(published_csv(tmp_path, "breast_cancer"))
    frame.insert(1, "patient_id", [f"P-{i:06d}" for i in range(len(frame))])
    info = describe_dataset(frame, "bc.csv", _config())
    assert "patient_id" not in [f.name for f in info.features]
    lines = inference_lines(info)
    assert any(line.startswith("Left out 'patient_id': an identifier") for line in lines)
    assert any(line.startswith("Left out 'Unnamed: 0'") for line in lines)


def test_exclude_and_segments_are_never_features_and_are_recorded(tmp_path):
    frame = pd.read_csv(published_csv(tmp_path, "breast_cancer"))
    frame["site"] = np.resize(["north", "south", "east"], len(frame))
    cfg = _config(exclude=["mean area"], segments=["site"])
    info = describe_dataset(frame, "bc.csv", cfg)
    names = [f.name for f in info.features]
    assert "mean area" not in names and "site" not in names
    assert info.excluded["mean area"] == "listed in data.exclude"
    assert "segment" in info.excluded["site"]
    assert info.segments == ["site"]


def test_listed_features_record_what_else_the_file_holds():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "target": [0, 1]})
    cfg = _config(features=[FeatureSpec(name="a", kind="numeric")], exclude=["b"])
    choice = choose_features(frame, cfg)
    assert [f.name for f in choice.features] == ["a"]
    assert choice.inferred is False
    assert choice.excluded == {"b": "listed in data.exclude"}


@pytest.mark.parametrize(
    ("labels", "config", "expected"),
    [
        ([0, 1, 1], {}, "1"),
        ([0.0, 1.0], {}, "1"),
        ([False, True], {}, "True"),
        (["no", "yes"], {}, "yes"),
        (["benign", "malignant"], {}, "malignant"),
        ([0, 1], {"positive_class": "0"}, "0"),
        (["a", "b"], {"target_classes": ["b", "a"]}, "a"),
    ],
)
def test_positive_class_rule(labels, config, expected):
    frame = pd.DataFrame({"target": labels})
    assert resolve_positive_class(frame, _config(**config)) == expected


def test_positive_class_is_none_for_other_tasks():
    frame = pd.DataFrame({"target": [0, 1, 2]})
    assert resolve_positive_class(frame, _config("multiclass")) is None


def test_label_text_spells_numbers_as_the_config_does():
    assert label_text(1.0) == "1"
    assert label_text(np.int64(3)) == "3"
    assert label_text(np.float64(2.5)) == "2.5"
    assert label_text("x") == "x"


def _run_config(data: dict[str, object]) -> object:
    raw = {
        "data": data,
        "training": {"estimator": "random_forest"},
        "evaluation": {"primary_metric": "accuracy"},
        "model": {"name": "describe-test"},
    }
    return parse_run_config(raw, Path("config.yaml"))


def test_describe_data_prints_yaml_that_pastes_into_a_valid_config(tmp_path):
    path = published_csv(tmp_path, "wine")
    frame = pd.read_csv(path)
    frame["region"] = np.resize(["north", "south", None], len(frame))
    frame.to_csv(path, index=False)
    config_path = tmp_path / "config.yaml"
    data = {"source": {"kind": "file", "path": str(path)}, "target": "target"}
    config = _run_config({**data, "task": "multiclass"})
    text = describe_data(config, config_path)  # type: ignore[arg-type]
    assert "#   Unnamed: 0: an unnamed leading column" in text
    pasted = yaml.safe_load(text)
    by_name = {f["name"]: f for f in pasted["features"]}
    assert "Unnamed: 0" not in by_name
    assert by_name["alcohol"] == {
        "name": "alcohol",
        "kind": "numeric",
        "min": float(frame["alcohol"].min()),
        "max": float(frame["alcohol"].max()),
    }
    assert by_name["region"]["allowed"] == ["north", "south"]
    assert 0.33 <= by_name["region"]["max_null_fraction"] <= 0.34
    explicit = _run_config({**data, "task": "multiclass", **pasted})
    assert [f.name for f in explicit.data.features] == list(by_name)  # type: ignore[attr-defined]


def test_describe_data_on_the_generator_lists_its_contract(tmp_path):
    config = _run_config(
        {"source": {"kind": "synthetic", "rows": 500}, "target": "is_fraud", "task": "binary"}
    )
    text = describe_data(config, tmp_path / "config.yaml")  # type: ignore[arg-type]
    pasted = yaml.safe_load(text)
    assert {f["name"] for f in pasted["features"]} >= {"amount", "channel", "device_score"}
    assert "# Positive class: '1'" in text
