"""The drift rule as plain functions: share, trigger columns, quality floors, k of n."""

from __future__ import annotations

import math

import pytest

from configs.schema import DriftRule, DriftWindow
from steps.monitoring.decision import decide, judge_columns, judge_quality, window_figures

SCORES = [
    ("amount", "psi", 0.35),
    ("hour_of_day", "psi", 0.25),
    ("day_of_week", "psi", 0.01),
    ("customer_age", "psi", 0.02),
]


def test_a_column_drifts_at_its_threshold_and_a_nan_score_never_does() -> None:
    verdicts = judge_columns([*SCORES, ("text", "psi", math.nan)], 0.25)
    assert [v.drifted for v in verdicts] == [True, True, False, False, False]
    assert {v.threshold for v in verdicts} == {0.25}


def test_share_of_drifted_columns_fires_the_rule() -> None:
    columns = judge_columns(SCORES, 0.2)
    fired = decide("m", "3", 1000, columns, [], DriftRule(drift_share=0.5))
    assert fired.retrain and fired.batch_drifted
    assert fired.drifted_columns == ["amount", "hour_of_day"]
    assert fired.drift_share == 0.5
    assert "drift share 0.50 >= 0.50" in fired.summary()
    quiet = decide("m", "3", 1000, columns, [], DriftRule(drift_share=0.75))
    assert not quiet.retrain
    assert "no retraining" in quiet.summary()


def test_a_trigger_column_alone_fires_the_rule() -> None:
    columns = judge_columns(SCORES, 0.3)  # only amount drifted: share 0.25
    rule = DriftRule(drift_share=0.9, columns=["amount"])
    decision = decide("m", "3", 1000, columns, [], rule)
    assert decision.retrain
    assert "trigger column(s) drifted: amount" in decision.summary()
    other = decide("m", "3", 1000, columns, [], DriftRule(drift_share=0.9, columns=["day_of_week"]))
    assert not other.retrain


def test_quality_floor_direction_follows_the_metric() -> None:
    verdicts = judge_quality({"pr_auc": 0.12, "rmse": 3.0}, {"pr_auc": 0.15, "rmse": 2.5})
    assert [(v.metric, v.passed) for v in verdicts] == [("pr_auc", False), ("rmse", False)]
    held = judge_quality({"pr_auc": 0.2, "rmse": 2.0}, {"pr_auc": 0.15, "rmse": 2.5})
    assert all(v.passed for v in held)
    missing = judge_quality({}, {"roc_auc": 0.8})
    assert not missing[0].passed and math.isnan(missing[0].value)


def test_a_missed_quality_floor_fires_without_any_drift() -> None:
    columns = judge_columns(SCORES, 0.9)
    decision = decide(
        "m", "3", 1000, columns, judge_quality({"pr_auc": 0.1}, {"pr_auc": 0.15}), DriftRule()
    )
    assert decision.retrain
    assert "pr_auc 0.1000 misses the floor (>= 0.1500)" in decision.summary()


def test_k_of_n_needs_enough_drifted_runs_including_this_one() -> None:
    columns = judge_columns(SCORES, 0.2)
    rule = DriftRule(drift_share=0.5, window=DriftWindow(k=2, n=3))
    first = decide("m", "3", 1000, columns, [], rule, history=[])
    assert first.batch_drifted and not first.retrain
    assert first.window is not None and (first.window.drifted_runs, first.window.runs_seen) == (
        1,
        1,
    )
    second = decide("m", "3", 1000, columns, [], rule, history=[False, True, True])
    assert second.retrain  # this one and the previous-but-one: 2 of the last 3
    assert second.window is not None and second.window.runs_seen == 3
    quiet = decide("m", "3", 1000, judge_columns(SCORES, 0.9), [], rule, history=[True, True])
    assert quiet.retrain and not quiet.batch_drifted  # two earlier drifted runs are 2 of 3


def test_window_looks_at_only_the_newest_runs() -> None:
    figures = window_figures(False, [False, False, True, True, True], k=2, n=3)
    assert (figures.drifted_runs, figures.runs_seen) == (0, 3)


def test_metadata_is_what_a_script_queries() -> None:
    decision = decide("m", "3", 1000, judge_columns(SCORES, 0.2), [], DriftRule())
    metadata = decision.metadata()
    assert metadata["drifted_columns"] == ["amount", "hour_of_day"]
    assert metadata["columns"]["amount"] == {
        "method": "psi",
        "score": 0.35,
        "threshold": 0.2,
        "drifted": True,
    }
    assert metadata["retrain"] is True and metadata["production_version"] == "3"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"drift": {"window": {"k": 3, "n": 2}}}, "k (3) cannot be larger than n (2)"),
        ({"drift": {"method": "ks"}}, "monitoring.drift.method"),
        ({"drift": {"quality_floor": {"rmse": 1.0}}}, "unknown metric(s) ['rmse']"),
        ({"drift": {"columns": ["nope"]}}, "['nope'] are not features"),
        ({"schedule": {"cron": "every day"}}, "not a cron expression"),
        ({"retrain": {"data": "all"}}, "monitoring.retrain.data"),
        ({"chunk_rows": 10}, "monitoring.chunk_rows"),
        ({"report": {"sample_rows": 10}}, "monitoring.report.sample_rows"),
    ],
)
def test_bad_monitoring_config_names_the_field(section: dict[str, object], message: str) -> None:
    from pathlib import Path

    import yaml

    from configs.loader import ConfigError, parse_run_config

    path = Path(__file__).resolve().parents[3] / "configs" / "local.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["monitoring"] = section
    with pytest.raises(ConfigError) as error:
        parse_run_config(raw, path)
    assert message in str(error.value)


def test_default_thresholds_per_method() -> None:
    assert DriftRule().column_threshold == 0.2
    assert DriftRule(method="wasserstein").column_threshold == 0.1
    assert DriftRule(method="psi", threshold=0.25).column_threshold == 0.25
