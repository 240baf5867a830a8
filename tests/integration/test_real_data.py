"""Real public data, published as CSV with an index column, and realistic faults in it.

scikit-learn ships the data sets (no network). Every corruption goes through what
the pipeline runs before a model is registered (load, validation, split, leakage
guard), as plain functions, in both modes: features listed in the config (pasted
from ``--describe-data``) and features inferred then locked by the profile of a
registered reference version. A run stopped at any of these gates registers no
version (tests/integration/test_training_pipeline.py and tests/e2e prove that for
a few of them through ZenML and run.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from configs.schema import DataChecks, DataConfig, FeatureSpec, FileSource, SplitConfig
from steps.data.info import DatasetInfo, describe_dataset
from steps.data.loading import DataLoadError, load_source
from steps.training.training import split_holdout
from steps.validation.errors import DataValidationError
from steps.validation.leakage import probe_leakage
from steps.validation.profile import ReferenceProfile, profile_frame
from steps.validation.validate import validate_dataset

PUBLIC = {
    "iris": (load_iris, "multiclass"),
    "breast_cancer": (load_breast_cancer, "binary"),
    "wine": (load_wine, "multiclass"),
    "diabetes": (load_diabetes, "regression"),
}


def publish(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame the way data sets are often published: with pandas' index column."""
    frame.to_csv(path)
    return path


def base_frame() -> pd.DataFrame:
    """Breast cancer (569 rows, binary) plus a clinic-site category, as one hospital would."""
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(5)
    frame.insert(0, "site", rng.choice(["north", "south", "east", "west"], len(frame)))
    return frame


@dataclass(frozen=True)
class Mode:
    """How the config describes the features, and the reference the run is compared with."""

    name: str
    features: list[FeatureSpec] | None


def data_config(path: Path, features: list[FeatureSpec] | None, **checks: object) -> DataConfig:
    return DataConfig(
        source=FileSource(kind="file", path=str(path)),
        target="target",
        task="binary",
        features=features,
        min_rows=100,
        checks=DataChecks(**checks),
    )


def gates(path: Path, data_cfg: DataConfig, reference: ReferenceProfile | None) -> str | None:
    """Run what precedes registration; the failure message, or None if every gate passed."""
    try:
        frame, source = load_source(data_cfg.source, str(path.parent))
    except DataLoadError as error:
        return str(error)
    info = describe_dataset(frame, source, data_cfg)
    report = validate_dataset(frame, info, data_cfg, reference)
    if not report.success:
        return report.summary()
    try:
        train, _ = split_holdout(frame, info.target, info.task, SplitConfig())
    except DataValidationError as error:
        return str(error)
    findings, _ = probe_leakage(
        train,
        info.features,
        info.target,
        info.task,
        data_cfg.checks.leakage,
        positive_class=info.positive_class,
    )
    return "; ".join(f.describe() for f in findings) or None


def reference_of(path: Path, data_cfg: DataConfig) -> tuple[ReferenceProfile, DatasetInfo]:
    """The reference a registered version of the good file would give later runs."""
    frame, source = load_source(data_cfg.source, str(path.parent))
    info = describe_dataset(frame, source, data_cfg)
    profile = profile_frame(
        frame, info.features, data_cfg, sha256=info.sha256, excluded=info.excluded
    )
    return ReferenceProfile(model="m", version="1", profile=profile, note="v1"), info


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish(base_frame(), tmp_path_factory.mktemp("good") / "patients.csv")


@pytest.fixture(scope="module")
def listed_features(good: Path) -> list[FeatureSpec]:
    """The features a user pastes from --describe-data of the good file."""
    from steps.data.describe import render_yaml

    frame, source = load_source(FileSource(kind="file", path=str(good)), str(good.parent))
    cfg = data_config(good, None)
    info = describe_dataset(frame, source, cfg)
    profile = profile_frame(frame, info.features, cfg, sha256=info.sha256, excluded={})
    pasted = yaml.safe_load(render_yaml(info, profile.features))["features"]
    return [FeatureSpec(**feature) for feature in pasted]


# --- the corruptions: each reads the published file's frame and returns the bad file's bytes --


def _read(good: Path) -> pd.DataFrame:
    return pd.read_csv(good)  # keeps the 'Unnamed: 0' index column as the file has it


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def missing_column(good: Path) -> bytes:
    return _csv(_read(good).drop(columns=["mean area"]))


def renamed_target(good: Path) -> bytes:
    return _csv(_read(good).rename(columns={"target": "diagnosis"}))


def text_in_numeric(good: Path) -> bytes:
    frame = _read(good)
    frame["mean texture"] = frame["mean texture"].astype(object)
    frame.loc[17, "mean texture"] = "unknown"
    return _csv(frame)


def all_null_column(good: Path) -> bytes:
    return _csv(_read(good).assign(**{"mean smoothness": np.nan}))


def unseen_category(good: Path) -> bytes:
    frame = _read(good)
    frame.loc[3, "site"] = "mars"
    return _csv(frame)


def scaled_1000x(good: Path) -> bytes:
    frame = _read(good)
    frame["mean radius"] = frame["mean radius"] * 1000
    return _csv(frame)


def every_row_10x(good: Path) -> bytes:
    return _csv(pd.concat([_read(good)] * 10, ignore_index=True))


def truncated_at_row(good: Path) -> bytes:
    lines = good.read_bytes().splitlines(keepends=True)
    return b"".join(lines[: len(lines) // 2])


def truncated_mid_line(good: Path) -> bytes:
    content = good.read_bytes()
    cut = int(len(content) * 0.8)
    while content[cut : cut + 1] != b",":  # cut after a field, inside a row
        cut += 1
    return content[:cut]


def header_only(good: Path) -> bytes:
    return good.read_bytes().splitlines(keepends=True)[0]


def single_class(good: Path) -> bytes:
    frame = _read(good)
    return _csv(frame[frame["target"] == 1])


def one_class_only_in_holdout(good: Path) -> bytes:
    frame = _read(good)
    return _csv(pd.concat([frame[frame["target"] == 1], frame[frame["target"] == 0].head(1)]))


def non_utf8_byte(good: Path) -> bytes:
    content = good.read_bytes()
    at = content.index(b"north", len(content) // 2)
    return content[:at] + b"n\xe9rth" + content[at + 5 :]


def index_sorted_by_target(good: Path) -> bytes:
    frame = _read(good).sort_values("target", kind="stable").reset_index(drop=True)
    frame["row_id"] = np.arange(len(frame))
    return _csv(frame)


def id_column(good: Path) -> bytes:
    frame = _read(good)
    frame["patient_id"] = [f"P-{i:06d}" for i in np.random.default_rng(1).permutation(len(frame))]
    return _csv(frame)


#: Each corruption, extra listed features in the explicit mode (a user listing the new column),
#: extra checks config, and what the message must name in each mode.
Corruption = tuple[
    Callable[[Path], bytes], list[FeatureSpec], dict[str, object], list[str], list[str]
]
CORRUPTIONS: dict[str, Corruption] = {
    "missing column": (missing_column, [], {}, ["mean area", "missing"], ["mean area", "missing"]),
    "renamed target": (renamed_target, [], {}, ["'target'", "missing"], ["'target'", "missing"]),
    "text in a numeric column": (
        text_in_numeric,
        [],
        {},
        ["mean texture", "'unknown'"],
        ["mean texture", "'unknown'"],
    ),
    "all-null column": (
        all_null_column,
        [],
        {},
        ["mean smoothness", "null"],
        ["mean smoothness", "null"],
    ),
    "unseen category": (unseen_category, [], {}, ["site", "'mars'"], ["site", "'mars'"]),
    "1000x scale": (scaled_1000x, [], {}, ["mean radius", "max"], ["mean radius", "max"]),
    "every row 10x": (every_row_10x, [], {}, ["duplicate", "90.0%"], ["duplicate", "90.0%"]),
    "truncated at a row boundary": (
        truncated_at_row,
        [],
        {},
        ["rows against 569", "--accept-data-change"],
        ["rows against 569", "--accept-data-change"],
    ),
    "truncated mid-line": (truncated_mid_line, [], {}, ["null"], ["null"]),
    "header only": (header_only, [], {}, ["no data rows"], ["no data rows"]),
    "single-class target": (single_class, [], {}, ["1 class", "'1'"], ["1 class", "'1'"]),
    "one class only in the holdout": (
        one_class_only_in_holdout,
        [],
        {"min_class_rows": 1},
        ["class '0'", "holdout"],
        ["class '0'", "holdout"],
    ),
    "non-UTF-8 byte": (non_utf8_byte, [], {}, ["UTF-8", "line"], ["UTF-8", "line"]),
    "index column sorted by target": (
        index_sorted_by_target,
        [FeatureSpec(name="row_id", kind="numeric")],
        {},
        ["row_id", "row number"],
        ["new columns: row_id"],
    ),
    "ID column": (
        id_column,
        [FeatureSpec(name="patient_id", kind="categorical")],
        {},
        ["patient_id", "identifier"],
        ["new columns: patient_id"],
    ),
}


@pytest.mark.parametrize("mode", ["listed", "inferred-then-locked"])
@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupted_file_stops_before_registration_naming_the_fault(
    tmp_path: Path, good: Path, listed_features: list[FeatureSpec], case: str, mode: str
) -> None:
    corrupt, extra_features, checks, named_listed, named_locked = CORRUPTIONS[case]
    features = [*listed_features, *extra_features] if mode == "listed" else None
    reference, _ = reference_of(good, data_config(good, listed_features if features else None))
    bad = tmp_path / "patients.csv"
    bad.write_bytes(corrupt(good))
    message = gates(bad, data_config(bad, features, **checks), reference)
    assert message is not None, f"{case} ({mode}) passed every gate and would be registered"
    for text in named_listed if mode == "listed" else named_locked:
        assert text in message, f"{case} ({mode}): {text!r} not in:\n{message}"


@pytest.mark.parametrize("mode", ["listed", "inferred-then-locked"])
def test_the_good_file_passes_every_gate_in_both_modes(
    good: Path, listed_features: list[FeatureSpec], mode: str
) -> None:
    features = listed_features if mode == "listed" else None
    reference, info = reference_of(good, data_config(good, features))
    assert gates(good, data_config(good, features), reference) is None
    assert "Unnamed: 0" not in [f.name for f in info.features]


def test_a_copy_of_the_target_under_another_name_is_caught_by_the_leakage_guard(
    tmp_path: Path, good: Path, listed_features: list[FeatureSpec]
) -> None:
    frame = _read(good)
    frame["diagnosis_code"] = frame["target"] * 3 + np.random.default_rng(0).normal(
        0, 0.1, len(frame)
    )
    bad = tmp_path / "patients.csv"
    bad.write_bytes(_csv(frame))
    features = [*listed_features, FeatureSpec(name="diagnosis_code", kind="numeric")]
    message = gates(bad, data_config(bad, features), None)
    assert message is not None and "diagnosis_code" in message


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_data_set_passes_inferred_then_locked(tmp_path: Path, name: str) -> None:
    """No false alarms on real data: inference, validation, split and leakage guard all pass."""
    loader, task = PUBLIC[name]
    path = publish(loader(as_frame=True).frame, tmp_path / f"{name}.csv")
    cfg = DataConfig(
        source=FileSource(kind="file", path=str(path)), target="target", task=task, min_rows=100
    )
    reference, info = reference_of(path, cfg)
    assert "Unnamed: 0" in info.excluded
    frame, _ = load_source(cfg.source, str(tmp_path))
    report = validate_dataset(frame, info, cfg, reference)
    assert report.success, report.summary()
    train, holdout = split_holdout(frame, "target", task, SplitConfig())
    assert len(train) + len(holdout) == len(frame)
    findings, scores = probe_leakage(train, info.features, "target", task, cfg.checks.leakage)
    assert not findings, [f.describe() for f in findings]
    assert set(scores) <= {f.name for f in info.features}


def test_a_public_file_sorted_by_target_with_a_fresh_index_does_not_leak(tmp_path: Path) -> None:
    """The index pandas writes after sorting counts 0..n-1 and predicts the target; left out."""
    frame = load_diabetes(as_frame=True).frame.sort_values("target").reset_index(drop=True)
    path = publish(frame, tmp_path / "diabetes.csv")
    cfg = DataConfig(
        source=FileSource(kind="file", path=str(path)), target="target", task="regression"
    )
    loaded, source = load_source(cfg.source, str(tmp_path))
    info = describe_dataset(loaded, source, cfg)
    assert "Unnamed: 0" in info.excluded
    train, _ = split_holdout(loaded, "target", "regression", SplitConfig())
    listed = [*info.features, FeatureSpec(name="Unnamed: 0", kind="numeric")]
    findings, _ = probe_leakage(train, listed, "target", "regression", cfg.checks.leakage)
    assert [f.column for f in findings] == ["Unnamed: 0"]  # what inference protected against
