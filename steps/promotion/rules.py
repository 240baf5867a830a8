"""The promotion gate rules: figures in, verdict and reasons out.

Pure functions so every rule is unit-tested on hand-made figures; the ZenML steps only stop
the run when a verdict fails. Each failure reason names the figures and the config key that
sets the rule, so whoever reads it knows whether to fix the model or the config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from configs.schema import LOWER_IS_BETTER
from steps.evaluation.gate import quality_verdict
from steps.promotion.comparison import ComparisonFigures, FairRows, SegmentFigure

GateName = Literal["fair_comparison", "champion_vs_challenger", "absolute_thresholds", "fairness"]

#: Significant digits kept in recorded figures: beyond them a metric is noise.
FIGURE_DIGITS = 6


class GateVerdict(BaseModel):
    """One gate's decision, why it failed, what it noticed, and the figures it judged."""

    gate: GateName
    passed: bool
    reasons: list[str] = Field(default_factory=list, description="Why it failed; one per line.")
    notes: list[str] = Field(default_factory=list, description="Informational, never failing.")
    figures: dict[str, Any] = Field(
        default_factory=dict, description="JSON-safe figures for model-version metadata."
    )

    def summary(self) -> str:
        """What the user reads when this gate stops a run: the outcome, reasons, then notes."""
        outcome = "passed" if self.passed else "FAILED"
        lines = [f"{self.gate.replace('_', ' ')} gate {outcome}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """``value`` with floats rounded to FIGURE_DIGITS significant digits and NaN/inf as None.

    Model-version metadata is JSON: NaN is not valid JSON, and 0.91234567891 reads no better
    than 0.912346.
    """
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{FIGURE_DIGITS}g}")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return str(value)


def _number(value: float | None) -> str:
    """A figure as people read it in a reason: four decimals, or 'undefined'."""
    if value is None or math.isnan(value):
        return "undefined"
    return f"{value:.4f}"


# --- fair comparison ------------------------------------------------------------------------


def fair_comparison_verdict(fair: FairRows, min_rows: int, has_champion: bool) -> GateVerdict:
    """Enough rows unseen by both models, or the comparison (and every later gate) means nothing.

    With no champion the holdout is checked against the same minimum: the absolute thresholds
    then decide alone, and they need as many rows to be trusted.
    """
    compared = fair.compared_rows
    figures = json_safe(
        {
            "compared_rows": compared,
            "holdout_rows": fair.holdout_rows,
            "seen_by_champion": fair.seen_by_champion,
            "min_rows": min_rows,
            "hashed_columns": list(fair.hashed_columns),
        }
    )
    notes: list[str] = []
    reasons: list[str] = []
    if has_champion:
        if fair.seen_by_champion:
            notes.append(
                f"{fair.seen_by_champion} of {fair.holdout_rows} holdout rows left out: the "
                "champion trained on rows with the same content"
            )
        if compared < min_rows:
            reasons.append(
                f"only {compared} rows could be compared ({fair.holdout_rows} in the "
                f"challenger's holdout, {fair.seen_by_champion} of them seen by the champion "
                f"in training), fewer than deployment.comparison.min_rows={min_rows}"
            )
    else:
        notes.append("no production champion yet: every holdout row is compared")
        if compared < min_rows:
            reasons.append(
                f"the challenger's holdout has only {compared} rows, fewer than "
                f"deployment.comparison.min_rows={min_rows}"
            )
    return GateVerdict(
        gate="fair_comparison",
        passed=not reasons,
        reasons=reasons,
        notes=notes,
        figures=figures,
    )


# --- champion vs challenger -----------------------------------------------------------------


def champion_verdict(comparison: ComparisonFigures | None, min_improvement: float) -> GateVerdict:
    """The challenger must beat the champion: improvement > 0 and >= min_improvement.

    With a bootstrap interval its lower end must clear the same bar, so "better" holds beyond
    the noise of the compared rows. An equal challenger does not pass: replacing a model costs
    a rollout and buys nothing. A metric that could not be measured fails.
    """
    if comparison is None:
        return GateVerdict(
            gate="champion_vs_challenger",
            passed=True,
            notes=["no production champion yet: the absolute thresholds alone decide"],
            figures={"champion": None, "min_improvement": json_safe(min_improvement)},
        )
    figures = json_safe({**comparison.model_dump(), "min_improvement": min_improvement})
    reasons = _point_reasons(comparison, min_improvement)
    if not reasons and comparison.interval is not None:
        reasons = _interval_reasons(comparison, min_improvement)
    notes = []
    if comparison.skipped_resamples:
        notes.append(
            f"{comparison.skipped_resamples} of {comparison.resamples} bootstrap resamples left "
            f"out: {comparison.metric} is undefined on them (e.g. a single class)"
        )
    return GateVerdict(
        gate="champion_vs_challenger",
        passed=not reasons,
        reasons=reasons,
        notes=notes,
        figures=figures,
    )


def _direction(metric: str) -> str:
    return "lower is better" if metric in LOWER_IS_BETTER else "higher is better"


def _point_reasons(comparison: ComparisonFigures, min_improvement: float) -> list[str]:
    """Why the point estimate fails: unmeasurable, not better, or better by too little."""
    metric = comparison.metric
    values = (
        f"challenger {_number(comparison.challenger)}, champion {_number(comparison.champion)} "
        f"on {comparison.rows} rows ({_direction(metric)})"
    )
    if any(math.isnan(v) for v in (comparison.champion, comparison.challenger)) or math.isnan(
        comparison.improvement
    ):
        return [
            f"{metric} could not be measured on the compared rows ({values}); a comparison "
            "that cannot measure must not promote"
        ]
    if comparison.improvement <= 0:
        return [
            f"the challenger does not improve on the champion: {metric} {values}, improvement "
            f"{comparison.improvement:+.4f}; it must improve (deployment.comparison.metric "
            "chooses the metric)"
        ]
    if comparison.improvement < min_improvement:
        return [
            f"{metric} improves by {comparison.improvement:+.4f} ({values}), less than "
            f"deployment.comparison.min_improvement={min_improvement}"
        ]
    return []


def _interval_reasons(comparison: ComparisonFigures, min_improvement: float) -> list[str]:
    """Why the bootstrap interval's lower end fails: the gain may be noise."""
    assert comparison.interval is not None
    low, high = comparison.interval
    level = f"{comparison.confidence:.0%}" if comparison.confidence is not None else "the"
    if math.isnan(low):
        return [
            f"the bootstrap interval of the {comparison.metric} improvement could not be "
            f"computed: all {comparison.resamples} resamples were undefined "
            "(deployment.comparison.bootstrap)"
        ]
    bar = max(min_improvement, 0.0)
    if low > 0 and low >= bar:
        return []
    needed = (
        "above 0"
        if min_improvement == 0
        else f"at least deployment.comparison.min_improvement={min_improvement}"
    )
    return [
        f"the {comparison.metric} improvement {comparison.improvement:+.4f} is within noise: "
        f"its {level} bootstrap interval is [{low:+.4f}, {high:+.4f}] and the lower end must "
        f"be {needed} (more compared rows narrow it; deployment.comparison.bootstrap sets "
        "the confidence)"
    ]


# --- absolute thresholds --------------------------------------------------------------------


def threshold_verdict(
    challenger_metrics: dict[str, float], thresholds: dict[str, float]
) -> GateVerdict:
    """The challenger meets every absolute threshold, by the training quality gate's rule.

    The rule (minima, maxima for rmse/mae, NaN fails) is :func:`quality_verdict` itself, so a
    model that passed training's gate on one holdout is judged the same way here.
    """
    quality = quality_verdict(challenger_metrics, thresholds)
    reasons = [
        f"{failure} (deployment.thresholds; default evaluation.thresholds)"
        for failure in quality.failures
    ]
    notes = (
        []
        if thresholds
        else ["no absolute thresholds configured (deployment.thresholds, evaluation.thresholds)"]
    )
    figures = json_safe(
        {
            "thresholds": dict(sorted(thresholds.items())),
            "values": {m: challenger_metrics.get(m, math.nan) for m in sorted(thresholds)},
            "lower_is_better": sorted(m for m in thresholds if m in LOWER_IS_BETTER),
        }
    )
    return GateVerdict(
        gate="absolute_thresholds",
        passed=quality.passed,
        reasons=reasons,
        notes=notes,
        figures=figures,
    )


# --- fairness -------------------------------------------------------------------------------


def fairness_verdict(
    segments: list[SegmentFigure] | None, metric: str, max_gap: float, lower_is_better: bool
) -> GateVerdict:
    """The gap between the best and the worst judged segment stays within ``max_gap``.

    Segments too small or with an undefined metric are reported, not judged. With fewer than
    two judged segments there is no gap to measure, so the gate passes with a note rather than
    inventing a failure.
    """
    if segments is None:
        return GateVerdict(
            gate="fairness",
            passed=True,
            notes=["fairness gate not configured (deployment.fairness)"],
        )
    notes = [
        f"segment '{s.value}' ({s.rows} rows) reported, not judged: {s.note}"
        for s in segments
        if not s.judged
    ]
    judged = [s for s in segments if s.judged and s.metric is not None]
    figures: dict[str, Any] = {
        "metric": metric,
        "max_gap": max_gap,
        "segments": [s.model_dump() for s in segments],
    }
    if len(judged) < 2:
        notes.append(
            f"{len(judged)} segment(s) could be judged, fewer than 2: no {metric} gap was measured"
        )
        return GateVerdict(gate="fairness", passed=True, notes=notes, figures=json_safe(figures))

    def value(segment: SegmentFigure) -> float:
        return segment.metric if segment.metric is not None else math.nan

    ranked = sorted(judged, key=value, reverse=not lower_is_better)
    best, worst = ranked[0], ranked[-1]
    gap = abs(value(best) - value(worst))
    figures.update({"gap": gap, "best": best.value, "worst": worst.value})
    reasons = []
    if gap > max_gap:
        reasons.append(
            f"{metric} differs by {gap:.4f} between segments: best '{best.value}' "
            f"{_number(best.metric)} ({best.rows} rows), worst '{worst.value}' "
            f"{_number(worst.metric)} ({worst.rows} rows); more than "
            f"deployment.fairness.max_gap={max_gap}"
        )
    return GateVerdict(
        gate="fairness",
        passed=not reasons,
        reasons=reasons,
        notes=notes,
        figures=json_safe(figures),
    )


# --- the decision ---------------------------------------------------------------------------


class PromotionDecision(BaseModel):
    """Whether the challenger is promoted, the first gate that refused it, and every verdict."""

    promoted: bool
    failed_gate: GateName | None
    verdicts: list[GateVerdict]

    def reason(self) -> str:
        """One paragraph: promoted and on what, or rejected by which gate and why."""
        if self.promoted:
            gates = ", ".join(v.gate for v in self.verdicts)
            return f"cleared for roll-out: all {len(self.verdicts)} gates passed ({gates})"
        failed = next(v for v in self.verdicts if v.gate == self.failed_gate)
        return f"rejected by the {failed.gate} gate: " + "; ".join(failed.reasons)

    def summary(self) -> str:
        """Every gate's summary, in order, under the decision."""
        return "\n".join([self.reason(), *(v.summary() for v in self.verdicts)])


def decide(verdicts: Sequence[GateVerdict]) -> PromotionDecision:
    """Promoted iff every gate passed; the first failing gate, in the given order, is the reason.

    Every verdict is kept, so the report and the metadata show all figures even when an early
    gate already refused. No verdicts at all is an error: nothing checked must not promote.
    """
    if not verdicts:
        raise ValueError("no gate verdicts to decide on")
    failed = next((v for v in verdicts if not v.passed), None)
    return PromotionDecision(
        promoted=failed is None,
        failed_gate=failed.gate if failed is not None else None,
        verdicts=list(verdicts),
    )
