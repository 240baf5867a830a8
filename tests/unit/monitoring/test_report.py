"""The Evidently report's figures: real Evidently runs on small synthetic frames.

Each report is built once per module (Evidently's import alone takes 5-7 s) and
shared by the tests that read it. The parsing functions are also tested on
hand-made snapshot dicts, for the cases a real run does not show at this size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.schema import FeatureSpec
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.monitoring.report import (
    DRIFTED_COLUMNS_COUNT,
    VALUE_DRIFT,
    ReportFigures,
    ReportInputs,
    SampleInfo,
    build_report,
    drift_figures,
    drift_preset_options,
    quality_figures,
    quality_wanted,
    seeded_sample,
)

ROWS = 3_000
PREDICTION = "prediction"
SHIFTED = {
    "amount",
    "avg_amount_30d",
    "hour_of_day",
    "account_age_days",
    "device_score",
    "distance_from_home_km",
    "txn_count_24h",
    "channel",
    "country",
}
UNSHIFTED = {"day_of_week", "customer_age"}
CLASSIFICATION_QUALITY = {"accuracy", "precision", "recall", "f1"}


def _with_predictions(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A stand-in model: the true label, flipped on 5 % of rows."""
    flip = np.random.default_rng(seed).random(len(frame)) < 0.05
    scored = frame.copy()
    scored[PREDICTION] = np.where(flip, 1 - frame[FRAUD_TARGET], frame[FRAUD_TARGET]).astype("int8")
    return scored


def _as_csv_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """What a batch read from CSV looks like: categoricals as plain object strings."""
    converted = frame.copy()
    for spec in fraud_feature_specs():
        if spec.kind == "categorical":
            converted[spec.name] = frame[spec.name].astype(str).astype(object)
    return converted


def _inputs(**changes: object) -> ReportInputs:
    settings: dict[str, object] = {
        "features": fraud_feature_specs(),
        "target": FRAUD_TARGET,
        "task": "binary",
        "prediction": PREDICTION,
    }
    return ReportInputs.model_validate(settings | changes)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _with_predictions(generate_transactions(ROWS, seed=1), seed=11)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    return _with_predictions(generate_transactions(ROWS, seed=2, shift=0.8), seed=12)


@pytest.fixture(scope="module")
def labelled(reference: pd.DataFrame, shifted: pd.DataFrame) -> tuple[str, ReportFigures]:
    """Evidently's own per-column methods, labels and predictions in both frames."""
    return build_report(reference, shifted, _inputs())


@pytest.fixture(scope="module")
def psi_unlabelled(reference: pd.DataFrame, shifted: pd.DataFrame) -> ReportFigures:
    """PSI at 0.2; the batch has no labels (the target is named but absent)."""
    batch = shifted.drop(columns=[FRAUD_TARGET, PREDICTION])
    return build_report(reference, batch, _inputs(method="psi", threshold=0.2))[1]


def test_shifted_columns_are_flagged_and_stable_ones_are_not(
    labelled: tuple[str, ReportFigures],
) -> None:
    figures = labelled[1]
    drifted = {c.column for c in figures.columns if c.drifted}
    assert drifted >= SHIFTED
    assert not drifted & UNSHIFTED
    assert figures.drifted_count == len(drifted)
    assert figures.drifted_share == pytest.approx(len(drifted) / len(figures.columns))


def test_columns_are_the_features_in_order_never_the_target(
    labelled: tuple[str, ReportFigures], psi_unlabelled: ReportFigures
) -> None:
    names = [f.name for f in fraud_feature_specs()]
    for figures in (labelled[1], psi_unlabelled):
        assert [c.column for c in figures.columns] == names
        assert FRAUD_TARGET not in {c.column for c in figures.columns}
        assert PREDICTION not in {c.column for c in figures.columns}


def test_evidently_names_its_own_method_when_it_picks_one(
    labelled: tuple[str, ReportFigures],
) -> None:
    methods = {c.column: c.method for c in labelled[1].columns}
    assert methods["amount"] == "Wasserstein distance (normed)"
    assert methods["channel"] == "Jensen-Shannon distance"


def test_psi_and_its_threshold_reach_every_column(psi_unlabelled: ReportFigures) -> None:
    assert {(c.method, c.threshold) for c in psi_unlabelled.columns} == {("psi", 0.2)}
    for column in psi_unlabelled.columns:
        assert column.drifted == (column.score >= 0.2)


def test_labels_give_plausible_classification_quality(
    labelled: tuple[str, ReportFigures],
) -> None:
    quality = labelled[1].quality
    assert set(quality) >= CLASSIFICATION_QUALITY
    assert all(0.0 <= v <= 1.0 for v in quality.values())
    assert quality["accuracy"] == pytest.approx(0.95, abs=0.02)  # 5 % of labels flipped
    assert quality["recall"] > 0.8


def test_no_labels_in_the_batch_means_no_quality(psi_unlabelled: ReportFigures) -> None:
    assert psi_unlabelled.quality == {}


def test_csv_strings_and_categoricals_give_the_same_figures(
    reference: pd.DataFrame, shifted: pd.DataFrame, psi_unlabelled: ReportFigures
) -> None:
    batch = _as_csv_strings(shifted.drop(columns=[FRAUD_TARGET, PREDICTION]))
    _, figures = build_report(reference, batch, _inputs(method="psi", threshold=0.2))
    assert figures == psi_unlabelled


def test_categories_read_as_numbers_still_match_their_strings() -> None:
    """CSV infers "1", "2", "3" as integers; unconverted, Evidently scores JS 0.83 (drifted)."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"grade": pd.Categorical(rng.choice(["1", "2", "3"], 2_000))})
    current = pd.DataFrame({"grade": rng.choice([1, 2, 3], 2_000)})
    inputs = ReportInputs(
        features=[FeatureSpec(name="grade", kind="categorical")], target=None, task="binary"
    )
    [column] = build_report(reference, current, inputs)[1].columns
    assert not column.drifted
    assert column.score < 0.05


def test_wasserstein_leaves_categoricals_to_jensen_shannon_on_a_sample(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    html, figures = build_report(
        reference, shifted, _inputs(method="wasserstein", sample_rows=1_000, seed=3, target=None)
    )
    kinds = {f.name: f.kind for f in fraud_feature_specs()}
    for column in figures.columns:
        expected = "wasserstein" if kinds[column.column] == "numeric" else "jensenshannon"
        assert column.method == expected
    assert figures.quality == {}
    assert figures.current_sample == SampleInfo(rows=1_000, of_rows=ROWS, seed=3)
    assert figures.reference_sample == SampleInfo(rows=1_000, of_rows=ROWS, seed=3)
    assert html.lstrip().lower().startswith("<!doctype html>")


def test_figures_round_trip_through_json(labelled: tuple[str, ReportFigures]) -> None:
    figures = labelled[1]
    assert ReportFigures.model_validate_json(figures.model_dump_json()) == figures
    assert figures.reference_sample == SampleInfo(rows=ROWS, of_rows=ROWS, seed=0)


# --- seeded_sample ---------------------------------------------------------------------


def _numbered(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"n": np.arange(rows)}, index=np.arange(rows) * 10)


def test_sample_is_deterministic_ordered_and_recorded() -> None:
    frame = _numbered(10_000)
    first, info = seeded_sample(frame, 500, seed=7)
    again, _ = seeded_sample(frame, 500, seed=7)
    other, _ = seeded_sample(frame, 500, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first.index.equals(other.index)
    assert first["n"].is_monotonic_increasing and first["n"].is_unique
    assert (first.index == first["n"] * 10).all()  # rows kept whole, with their labels
    assert info == SampleInfo(rows=500, of_rows=10_000, seed=7)


def test_small_frame_is_returned_whole() -> None:
    frame = _numbered(300)
    sample, info = seeded_sample(frame, 300, seed=1)
    assert sample is frame
    assert info == SampleInfo(rows=300, of_rows=300, seed=1)


def test_sample_needs_a_row() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        seeded_sample(_numbered(10), 0, seed=0)


# --- settings and parsing (no Evidently run) -------------------------------------------


def test_preset_options_route_a_numeric_only_method() -> None:
    assert drift_preset_options(None, None, 0.5) == {"drift_share": 0.5}
    assert drift_preset_options("psi", 0.2, 0.3) == {
        "drift_share": 0.3,
        "threshold": 0.2,
        "method": "psi",
    }
    assert drift_preset_options("wasserstein", 0.1, 0.5) == {
        "drift_share": 0.5,
        "threshold": 0.1,
        "num_method": "wasserstein",
        "cat_method": "jensenshannon",
    }


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        _inputs(method="ks")


def test_quality_needs_the_prediction_in_the_reference_too() -> None:
    current = pd.DataFrame({"x": [1.0], "y": [1], "p": [1]})
    reference = current.drop(columns=["p"])
    inputs = ReportInputs(
        features=[FeatureSpec(name="x", kind="numeric")], target="y", task="binary", prediction="p"
    )
    with pytest.raises(ValueError, match=r"reference frame has no column\(s\) \['p'\]"):
        quality_wanted(reference, current, inputs)
    assert not quality_wanted(reference, current.drop(columns=["y"]), inputs)
    assert not quality_wanted(reference, current, inputs.model_copy(update={"prediction": None}))


def _drift_metric(metric_id: str, column: str, method: str, threshold: float, score: float) -> dict:
    config = {"type": VALUE_DRIFT, "column": column, "method": method, "threshold": threshold}
    return {"id": metric_id, "config": config, "value": np.float64(score)}


def _drift_test(metric_id: str, status: str) -> dict:
    params = {"type": VALUE_DRIFT}
    return {"metric_config": {"metric_id": metric_id, "params": params}, "status": status}


def test_verdict_comes_from_the_test_not_the_score() -> None:
    """A p-value method drifts *below* its threshold; only the test status knows."""
    snapshot = {
        "metrics": [
            {
                "id": "c",
                "config": {"type": DRIFTED_COLUMNS_COUNT},
                "value": {"count": 1.0, "share": 0.5},
            },
            _drift_metric("a", "x", "K-S p_value", 0.05, 0.01),
            _drift_metric("b", "y", "Jensen-Shannon distance", 0.1, 0.02),
        ],
        "tests": [_drift_test("a", "FAIL"), _drift_test("b", "SUCCESS")],
    }
    share, count, columns = drift_figures(snapshot)
    assert (share, count) == (0.5, 1)
    assert [(c.column, c.drifted, c.score) for c in columns] == [
        ("x", True, 0.01),
        ("y", False, 0.02),
    ]


def test_a_column_without_a_verdict_is_an_error() -> None:
    snapshot = {"metrics": [_drift_metric("a", "x", "psi", 0.2, 0.3)], "tests": []}
    with pytest.raises(ValueError, match="include_tests=True"):
        drift_figures(snapshot)


def test_quality_names_follow_the_project_and_take_the_mean_of_mae() -> None:
    snapshot = {
        "metrics": [
            {"config": {"type": "evidently:metric_v2:RMSE"}, "value": 1.5},
            {"config": {"type": "evidently:metric_v2:MAE"}, "value": {"mean": 1.0, "std": 0.3}},
            {"config": {"type": "evidently:metric_v2:R2Score"}, "value": 0.8},
            {"config": {"type": "evidently:metric_v2:MAPE"}, "value": {"mean": 1e16}},
            {"config": {"type": "evidently:metric_v2:F1ByLabel"}, "value": {0: 0.9, 1: 0.2}},
        ]
    }
    assert quality_figures(snapshot) == {"rmse": 1.5, "mae": 1.0, "r2": 0.8}
