"""The table-level rules and the recorded profile, as plain functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.schema import DataChecks, DataConfig, FeatureSpec, FileSource, SyntheticSource
from steps.data.info import describe_dataset
from steps.validation.profile import (
    MAX_PROFILED_CATEGORIES,
    DataProfile,
    ReferenceProfile,
    profile_frame,
    widened_range,
)
from steps.validation.table_checks import (
    duplicate_check,
    feature_role_checks,
    new_column_check,
    row_count_check,
    segment_checks,
    target_checks,
)
from steps.validation.validate import validate_dataset


def _cfg(task: str = "binary", **extra: object) -> DataConfig:
    return DataConfig(
        source=SyntheticSource(kind="synthetic", rows=100), target="y", task=task, **extra
    )


def _failed(records):
    return [r for r in records if not r.passed]


def test_a_single_class_target_fails_naming_the_class():
    frame = pd.DataFrame({"y": [1] * 50})
    (failure,) = _failed(target_checks(frame, _cfg(), "1"))
    assert failure.expectation == "target_has_two_classes"
    assert "1 class: '1': 50 rows" in failure.observed


def test_a_class_with_too_few_rows_fails_with_the_counts():
    frame = pd.DataFrame({"y": [0] * 50 + [1] * 3})
    cfg = _cfg(checks=DataChecks(min_class_rows=5))
    (failure,) = _failed(target_checks(frame, cfg, "1"))
    assert failure.expectation == "target_class_rows"
    assert "'1': 3 rows" in failure.observed
    assert not _failed(target_checks(frame, _cfg(checks=DataChecks(min_class_rows=3)), "1"))


def test_a_configured_positive_class_must_occur():
    frame = pd.DataFrame({"y": ["no"] * 20 + ["maybe"] * 20})
    (failure,) = _failed(target_checks(frame, _cfg(), "yes"))
    assert failure.expectation == "positive_class_present"
    assert "'yes'" in failure.expected


def test_numeric_labels_count_under_their_config_spelling():
    frame = pd.DataFrame({"y": [0.0] * 20 + [1.0] * 20})
    assert not _failed(target_checks(frame, _cfg(), "1"))


@pytest.mark.parametrize(
    ("values", "rule", "shown"),
    [
        ([1.0, np.inf, 2.0, 3.0], "target_is_finite", "1 infinite"),
        ([4.2] * 30, "target_varies", "1 distinct value (4.2)"),
    ],
)
def test_a_regression_target_must_be_finite_and_vary(values, rule, shown):
    (failure,) = _failed(target_checks(pd.DataFrame({"y": values}), _cfg("regression"), None))
    assert failure.expectation == rule
    assert shown in failure.observed


def test_a_missing_target_is_left_to_the_column_rules():
    assert target_checks(pd.DataFrame({"x": [1, 2]}), _cfg(), "1") == []


def test_duplicates_over_the_limit_fail_and_an_index_does_not_hide_them():
    base = pd.DataFrame({"a": np.arange(100.0), "y": np.arange(100) % 2})
    tenfold = pd.concat([base] * 10, ignore_index=True)
    tenfold.insert(0, "row", np.arange(len(tenfold)))  # unique per row
    record = duplicate_check(tenfold, ["a", "y"], limit=0.05)
    assert not record.passed
    assert "900 of 1000 rows (90.0%) repeat an earlier row" in record.observed
    assert "rows 100, 101" in record.observed
    assert duplicate_check(base, ["a", "y"], limit=0.05).passed
    assert not duplicate_check(tenfold, ["row", "a", "y"], limit=0.05).observed.startswith("900")


def test_duplicates_at_the_limit_pass():
    frame = pd.DataFrame({"a": [1.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})  # 1 of 4 repeats
    assert duplicate_check(frame, ["a", "y"], limit=0.25).passed
    assert not duplicate_check(frame, ["a", "y"], limit=0.2).passed


def _profile(rows: int, columns: list[str]) -> DataProfile:
    return DataProfile(
        rows=rows,
        sha256="0" * 64,
        target="y",
        task="binary",
        features=[],
        columns=columns,
        margin=0.1,
    )


@pytest.mark.parametrize(
    ("rows", "passed"), [(500, True), (1000, True), (2000, True), (499, False), (2001, False)]
)
def test_row_count_against_the_reference(rows, passed):
    record = row_count_check(rows, _profile(1000, []), "3", _cfg())
    assert record.passed is passed
    assert f"{rows} rows against 1000 in the reference (version 3)" in record.observed
    if not passed:
        assert "--accept-data-change" in record.observed


def test_listed_features_that_number_rows_or_name_entities_fail():
    n = 60
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "customer": [f"C{i}" for i in range(n)],
            "stamp": np.arange(n) * 1000 + 1_700_000_000,
            "x": np.random.default_rng(0).normal(size=n),
        }
    )
    features = [
        FeatureSpec(name="row_id", kind="numeric"),
        FeatureSpec(name="customer", kind="categorical"),
        FeatureSpec(name="stamp", kind="numeric"),
        FeatureSpec(name="x", kind="numeric"),
    ]
    failed = {r.column: r.observed for r in feature_role_checks(frame, features)}
    assert set(failed) == {"row_id", "customer"}  # an integer timestamp listed on purpose is kept
    assert "row number" in failed["row_id"] and "identifier" in failed["customer"]


def test_segment_columns_must_be_present():
    records = segment_checks(pd.DataFrame({"site": ["a"]}), ["site", "gender"])
    assert [r.passed for r in records] == [True, False]
    assert "column 'gender' is missing" in records[1].observed


def test_new_columns_since_the_reference_fail_with_the_way_to_accept_them():
    frame = pd.DataFrame({"a": [1], "y": [0], "customer_id": ["x"]})
    record = new_column_check(frame, _profile(10, ["a", "y"]), "2", _cfg())
    assert not record.passed
    assert "new columns: customer_id" in record.observed
    assert "--accept-data-change" in record.observed
    assert new_column_check(
        frame.drop(columns="customer_id"), _profile(10, ["a", "y"]), "2", _cfg()
    ).passed


@pytest.mark.parametrize(
    ("low", "high", "margin", "expected"),
    [
        (0.0, 100.0, 0.1, (0.0, 110.0)),  # a floor of 0 stays 0
        (10.0, 20.0, 0.1, (9.0, 21.0)),
        (-5.0, 5.0, 0.5, (-10.0, 10.0)),
        (3.0, 3.0, 0.1, (2.7, 3.3)),  # constant: widened by its magnitude
    ],
)
def test_widened_range(low, high, margin, expected):
    assert widened_range(low, high, margin) == pytest.approx(expected)


def test_the_profile_locks_ranges_categories_and_nulls():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.uniform(1, 100, 500),
            "channel": rng.choice(["pos", "web"], 500),
            "note_id": [f"n{i}" for i in range(500)],
            "sparse": np.where(rng.random(500) < 0.05, np.nan, 1.0),
            "y": rng.integers(0, 2, 500),
        }
    )
    features = [
        FeatureSpec(name="amount", kind="numeric"),
        FeatureSpec(name="channel", kind="categorical"),
        FeatureSpec(name="note_id", kind="categorical"),
        FeatureSpec(name="sparse", kind="numeric", max_null_fraction=0.1),
    ]
    profile = profile_frame(frame, features, _cfg(), sha256="0" * 64, excluded={})
    assert profile.rows == 500 and profile.target_classes == ["0", "1"]
    specs = {s.name: s for s in profile.locked_specs()}
    span = frame["amount"].max() - frame["amount"].min()
    assert specs["amount"].max == pytest.approx(frame["amount"].max() + 0.1 * span, rel=1e-5)
    assert specs["amount"].max >= frame["amount"].max()
    assert specs["channel"].allowed == ["pos", "web"]
    assert specs["note_id"].allowed is not None  # 500 < MAX_PROFILED_CATEGORIES
    assert specs["amount"].max_null_fraction == 0.0
    assert frame["sparse"].isna().mean() <= specs["sparse"].max_null_fraction <= 0.1
    assert DataProfile.model_validate_json(profile.model_dump_json()) == profile


def test_an_open_set_of_categories_is_not_locked():
    n = MAX_PROFILED_CATEGORIES + 10
    frame = pd.DataFrame({"zip": [str(i) for i in range(n)], "y": [0, 1] * (n // 2)})
    profile = profile_frame(
        frame, [FeatureSpec(name="zip", kind="categorical")], _cfg(), sha256="0" * 64, excluded={}
    )
    assert profile.locked_specs()[0].allowed is None


def test_the_row_count_is_compared_for_files_not_for_generated_data():
    frame = pd.DataFrame({"a": np.arange(200.0), "y": np.arange(200) % 2})
    features = [FeatureSpec(name="a", kind="numeric")]
    profile = profile_frame(frame, features, _cfg(), sha256="0" * 64, excluded={})
    reference = ReferenceProfile(model="m", version="1", profile=profile, note="v1")
    half = frame.head(90)
    generated = _cfg(features=features, min_rows=10)
    from_file = generated.model_copy(update={"source": FileSource(kind="file", path="x.csv")})
    for cfg, compared in [(generated, False), (from_file, True)]:
        report = validate_dataset(half, describe_dataset(half, "x", cfg), cfg, reference)
        rules = {c.expectation: c.passed for c in report.checks}
        assert ("row_count_against_reference" in rules) is compared
        assert report.success is not compared
