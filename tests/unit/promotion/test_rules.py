"""The promotion gate rules on hand-made figures."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from configs.schema import FairnessConfig
from steps.promotion.comparison import ComparisonFigures, FairRows, SegmentFigure
from steps.promotion.rules import (
    GateVerdict,
    champion_verdict,
    decide,
    fair_comparison_verdict,
    fairness_verdict,
    json_safe,
    threshold_verdict,
)


def _fair(compared: int, holdout: int, seen: int) -> FairRows:
    return FairRows(
        rows=pd.DataFrame({"x": range(compared)}),
        holdout_rows=holdout,
        seen_by_champion=seen,
        hashed_columns=["x"],
    )


def _comparison(
    champion: float,
    challenger: float,
    metric: str = "roc_auc",
    interval: tuple[float, float] | None = None,
) -> ComparisonFigures:
    sign = -1 if metric in ("rmse", "mae") else 1
    return ComparisonFigures(
        metric=metric,
        rows=1000,
        champion=champion,
        challenger=challenger,
        improvement=sign * (challenger - champion),
        interval=interval,
        confidence=0.95 if interval else None,
        resamples=1000 if interval else None,
        skipped_resamples=0 if interval else None,
        seed=0 if interval else None,
    )


# --- fair comparison ------------------------------------------------------------------------


def test_too_few_unseen_rows_fail_with_all_three_counts() -> None:
    verdict = fair_comparison_verdict(_fair(150, 900, 750), min_rows=200, has_champion=True)
    assert not verdict.passed
    (reason,) = verdict.reasons
    assert "150 rows" in reason and "900" in reason and "750" in reason
    assert "deployment.comparison.min_rows=200" in reason
    assert verdict.figures["seen_by_champion"] == 750


def test_enough_unseen_rows_pass_and_note_what_was_left_out() -> None:
    verdict = fair_comparison_verdict(_fair(200, 300, 100), min_rows=200, has_champion=True)
    assert verdict.passed
    assert any("100 of 300" in note for note in verdict.notes)


def test_without_a_champion_the_holdout_size_is_checked() -> None:
    small = fair_comparison_verdict(_fair(50, 50, 0), min_rows=200, has_champion=False)
    assert not small.passed
    assert "holdout has only 50 rows" in small.reasons[0]
    assert fair_comparison_verdict(_fair(500, 500, 0), 200, has_champion=False).passed


# --- champion vs challenger -----------------------------------------------------------------


def test_no_champion_passes_with_a_note() -> None:
    verdict = champion_verdict(None, 0.01)
    assert verdict.passed
    assert verdict.notes == ["no production champion yet: the absolute thresholds alone decide"]


def test_a_better_challenger_passes() -> None:
    assert champion_verdict(_comparison(0.80, 0.85), 0.01).passed


def test_an_equal_challenger_must_improve() -> None:
    verdict = champion_verdict(_comparison(0.8, 0.8), 0.0)
    assert not verdict.passed
    assert "must improve" in verdict.reasons[0]


def test_a_worse_challenger_fails() -> None:
    verdict = champion_verdict(_comparison(0.85, 0.80), 0.0)
    assert not verdict.passed
    assert "-0.0500" in verdict.reasons[0]


def test_an_improvement_below_the_minimum_names_the_key() -> None:
    verdict = champion_verdict(_comparison(0.80, 0.805), 0.01)
    assert not verdict.passed
    assert "deployment.comparison.min_improvement=0.01" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("champion", "challenger", "passed"), [(2.0, 1.5, True), (1.5, 2.0, False), (1.5, 1.5, False)]
)
def test_error_metrics_improve_downwards(champion: float, challenger: float, passed: bool) -> None:
    verdict = champion_verdict(_comparison(champion, challenger, metric="rmse"), 0.0)
    assert verdict.passed is passed
    if not passed:
        assert "lower is better" in verdict.reasons[0]


def test_the_interval_lower_end_must_clear_the_bar() -> None:
    noisy = champion_verdict(_comparison(0.80, 0.82, interval=(-0.004, 0.04)), 0.0)
    assert not noisy.passed
    assert "within noise" in noisy.reasons[0] and "95%" in noisy.reasons[0]
    short = champion_verdict(_comparison(0.80, 0.83, interval=(0.005, 0.05)), 0.01)
    assert not short.passed
    assert "deployment.comparison.min_improvement=0.01" in short.reasons[0]
    assert champion_verdict(_comparison(0.80, 0.83, interval=(0.012, 0.05)), 0.01).passed


@pytest.mark.parametrize(
    "comparison",
    [
        _comparison(math.nan, 0.8),
        _comparison(0.8, math.nan),
        _comparison(0.8, 0.9, interval=(math.nan, math.nan)),
    ],
)
def test_an_unmeasurable_comparison_fails(comparison: ComparisonFigures) -> None:
    verdict = champion_verdict(comparison, 0.0)
    assert not verdict.passed
    assert "could not be" in verdict.reasons[0]
    json.dumps(verdict.figures, allow_nan=False)


# --- absolute thresholds --------------------------------------------------------------------


def test_thresholds_follow_the_training_gate_rule() -> None:
    verdict = threshold_verdict(
        {"rmse": 2.5, "mae": 0.1, "r2": 0.7}, {"rmse": 2.0, "mae": 0.2, "r2": 0.5}
    )
    assert not verdict.passed
    assert verdict.reasons == [
        "rmse = 2.5000, above the maximum 2.0 (deployment.thresholds; default evaluation.thresholds)"
    ]
    assert verdict.figures["lower_is_better"] == ["mae", "rmse"]


def test_a_nan_metric_misses_its_threshold() -> None:
    verdict = threshold_verdict({"roc_auc": math.nan}, {"roc_auc": 0.7})
    assert not verdict.passed
    assert verdict.figures["values"] == {"roc_auc": None}


def test_no_thresholds_pass_with_a_note() -> None:
    verdict = threshold_verdict({"roc_auc": 0.1}, {})
    assert verdict.passed and verdict.notes


# --- fairness -------------------------------------------------------------------------------


def _segment(
    value: str, metric: float | None, rows: int = 500, judged: bool = True
) -> SegmentFigure:
    return SegmentFigure(
        value=value,
        rows=rows,
        metric=metric,
        judged=judged,
        note="" if judged else "fewer than deployment.fairness.min_rows=100",
    )


def _rule(metric: str, max_gap: float, **changes: object) -> FairnessConfig:
    return FairnessConfig.model_validate(
        {"segment": "card_type", "metric": metric, "max_gap": max_gap} | changes
    )


def test_fairness_not_configured_passes_with_a_note() -> None:
    verdict = fairness_verdict(None, None)
    assert verdict.passed and "not configured" in verdict.notes[0]


def test_a_gap_beyond_the_limit_names_best_and_worst() -> None:
    segments = [
        _segment("debit", 0.82),
        _segment("credit", 0.70),
        _segment("prepaid", 0.2, 37, False),
    ]
    verdict = fairness_verdict(segments, _rule("recall", 0.1))
    assert not verdict.passed
    reason = verdict.reasons[0]
    assert "best 'debit' 0.8200" in reason and "worst 'credit' 0.7000" in reason
    assert "deployment.fairness.max_gap=0.1" in reason
    assert verdict.figures["gap"] == pytest.approx(0.12)
    assert (
        "segment 'prepaid' (37 rows) reported, not judged: fewer than "
        "deployment.fairness.min_rows=100"
    ) in verdict.notes


def test_lower_is_better_segments_rank_the_smallest_error_best() -> None:
    verdict = fairness_verdict([_segment("a", 1.0), _segment("b", 1.5)], _rule("mae", 0.2))
    assert not verdict.passed
    assert verdict.figures["best"] == "a" and verdict.figures["worst"] == "b"
    assert fairness_verdict([_segment("a", 1.0), _segment("b", 1.1)], _rule("mae", 0.2)).passed


def test_fewer_than_two_judged_segments_fail_rather_than_pass_unjudged() -> None:
    """No gap can be measured; passing would call fair what was never looked at.

    The whole rule (the message, ``insufficient: warn``, the report) is
    tests/unit/promotion/test_fairness_insufficient.py.
    """
    segments = [_segment("a", 0.9), _segment("b", 0.1, 20, False), _segment("c", None, 300, False)]
    verdict = fairness_verdict(segments, _rule("recall", 0.05))
    assert not verdict.passed
    assert "1 of 3 segments has enough rows" in verdict.reasons[0]


# --- decision and figures -------------------------------------------------------------------


def _verdict(gate: str, passed: bool) -> GateVerdict:
    return GateVerdict(gate=gate, passed=passed, reasons=[] if passed else [f"{gate} said no"])


def test_the_first_failing_gate_in_order_is_the_reason() -> None:
    verdicts = [
        _verdict("fair_comparison", True),
        _verdict("champion_vs_challenger", False),
        _verdict("absolute_thresholds", False),
    ]
    decision = decide(verdicts)
    assert not decision.promoted
    assert decision.failed_gate == "champion_vs_challenger"
    assert (
        decision.reason()
        == "rejected by the champion_vs_challenger gate: champion_vs_challenger said no"
    )
    assert len(decision.verdicts) == 3
    assert "absolute_thresholds said no" in decision.summary()


def test_all_gates_passing_promote() -> None:
    decision = decide([_verdict("fair_comparison", True), _verdict("fairness", True)])
    assert decision.promoted and decision.failed_gate is None
    assert "all 2 gates passed" in decision.reason()


def test_deciding_on_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no gate verdicts"):
        decide([])


def test_an_unknown_gate_name_is_refused() -> None:
    with pytest.raises(ValueError):
        GateVerdict(gate="vibes", passed=True)


def test_figures_are_json_safe_and_rounded() -> None:
    assert json_safe({"a": 0.123456789123, "b": math.nan, "c": (1.0, math.inf)}) == {
        "a": 0.123457,
        "b": None,
        "c": [1.0, None],
    }


def test_summary_lists_reasons_and_notes() -> None:
    verdict = champion_verdict(_comparison(0.85, 0.80), 0.0)
    text = verdict.summary()
    assert text.startswith("champion vs challenger gate FAILED")
    assert verdict.reasons[0] in text
