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

from configs.schema import LOWER_IS_BETTER, FairnessConfig
from steps.evaluation.gate import quality_verdict
from steps.promotion.comparison import ComparisonFigures, FairRows, SegmentFigure

GateName = Literal["fair_comparison", "champion_vs_challenger", "absolute_thresholds", "fairness"]

#: Significant digits kept in recorded figures: beyond them a metric is noise.
FIGURE_DIGITS = 6


class GateVerdict(BaseModel):
    """One gate's decision, why it failed, what it could not judge, and the figures it judged."""

    gate: GateName
    passed: bool
    reasons: list[str] = Field(default_factory=list, description="Why it failed; one per line.")
    warnings: list[str] = Field(
        default_factory=list,
        description="What the gate passed without judging, because the config says to (e.g. "
        "deployment.fairness.insufficient: warn); shown wherever the outcome is.",
    )
    notes: list[str] = Field(default_factory=list, description="Informational, never failing.")
    figures: dict[str, Any] = Field(
        default_factory=dict, description="JSON-safe figures for model-version metadata."
    )

    def outcome(self) -> str:
        """'passed', 'passed with a warning' (or N warnings) or 'FAILED'."""
        if not self.passed:
            return "FAILED"
        count = len(self.warnings)
        if count == 0:
            return "passed"
        return "passed with a warning" if count == 1 else f"passed with {count} warnings"

    def summary(self) -> str:
        """What the user reads when this gate stops or warns: outcome, reasons, warnings, notes."""
        lines = [f"{self.gate.replace('_', ' ')} gate {self.outcome()}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += [f"  WARNING: {warning}" for warning in self.warnings]
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
    segments: list[SegmentFigure] | None, rule: FairnessConfig | None
) -> GateVerdict:
    """The gap between the best and the worst judged segment stays within ``rule.max_gap``.

    Segments too small or with an undefined metric are reported, not judged. With fewer
    than two judged segments there is no gap to measure, and a gate that passed then would
    say "fair" about what it never looked at (one of two segments with 38 rows and ROC AUC
    0.31 passed that way). So it fails, naming every segment with its rows and why it was
    not judged, unless ``rule.insufficient`` is ``warn``: then it passes with that message
    as a warning, shown wherever the outcome is.
    """
    if rule is None:
        return GateVerdict(
            gate="fairness",
            passed=True,
            notes=["fairness gate not configured (deployment.fairness)"],
        )
    if segments is None:
        raise ValueError("deployment.fairness is configured but no segment figures were given")
    judged = [s for s in segments if _is_judged(s)]
    figures: dict[str, Any] = {
        "segment": rule.segment,
        "metric": rule.metric,
        "max_gap": rule.max_gap,
        "min_rows": rule.min_rows,
        "insufficient": rule.insufficient,
        "judged_segments": len(judged),
        "segments": [s.model_dump() for s in segments],
    }
    if len(judged) < 2:
        return _insufficient_verdict(segments, judged, rule, json_safe(figures))
    notes = [
        f"segment '{s.value}' ({s.rows} rows) reported, not judged: {s.note}"
        for s in segments
        if not _is_judged(s)
    ]

    def value(segment: SegmentFigure) -> float:
        return segment.metric if segment.metric is not None else math.nan

    lower_is_better = rule.metric in LOWER_IS_BETTER
    ranked = sorted(judged, key=value, reverse=not lower_is_better)
    best, worst = ranked[0], ranked[-1]
    gap = abs(value(best) - value(worst))
    figures.update({"gap": gap, "best": best.value, "worst": worst.value})
    reasons = []
    if gap > rule.max_gap:
        reasons.append(
            f"{rule.metric} differs by {gap:.4f} between segments: best '{best.value}' "
            f"{_number(best.metric)} ({best.rows} rows), worst '{worst.value}' "
            f"{_number(worst.metric)} ({worst.rows} rows); more than "
            f"deployment.fairness.max_gap={rule.max_gap}"
        )
    return GateVerdict(
        gate="fairness",
        passed=not reasons,
        reasons=reasons,
        notes=notes,
        figures=json_safe(figures),
    )


def _is_judged(segment: SegmentFigure) -> bool:
    """Judged: enough rows and a defined metric (as :func:`segment_figures` decided)."""
    return segment.judged and segment.metric is not None


def _insufficient_verdict(
    segments: list[SegmentFigure],
    judged: list[SegmentFigure],
    rule: FairnessConfig,
    figures: dict[str, Any],
) -> GateVerdict:
    """Fewer than two judged segments: fail, or pass with a warning if the config says so."""
    verb = "has" if len(judged) == 1 else "have"
    listed = ", ".join(_segment_status(s, rule) for s in segments) or "no rows at all"
    message = (
        f"fairness on '{rule.segment}' could not be judged: {len(judged)} of {len(segments)} "
        f"segments {verb} enough rows and a defined {rule.metric} (min_rows {rule.min_rows}), "
        f"and a gap needs 2: {listed}"
    )
    if rule.insufficient == "warn":
        return GateVerdict(
            gate="fairness",
            passed=True,
            warnings=[f"{message}; passed unjudged (deployment.fairness.insufficient: warn)"],
            figures=figures,
        )
    return GateVerdict(
        gate="fairness",
        passed=False,
        reasons=[
            f"{message}; more compared rows (a larger holdout) or a lower "
            "deployment.fairness.min_rows would let it judge, and "
            "deployment.fairness.insufficient: warn passes such a challenger with a warning"
        ],
        figures=figures,
    )


def _segment_status(segment: SegmentFigure, rule: FairnessConfig) -> str:
    """One segment as the message names it: 'male' 38 rows not judged (fewer than min_rows)."""
    head = f"'{segment.value}' {segment.rows} rows"
    if _is_judged(segment):
        return f"{head} judged"
    why = []
    if segment.rows < rule.min_rows:
        why.append("fewer than min_rows")
    if segment.metric is None:
        why.append(f"{rule.metric} undefined, e.g. one class only")
    return f"{head} not judged ({'; '.join(why) or segment.note})"


# --- the decision ---------------------------------------------------------------------------


class PromotionDecision(BaseModel):
    """Whether the challenger is promoted, the first gate that refused it, and every verdict."""

    promoted: bool
    failed_gate: GateName | None
    verdicts: list[GateVerdict]

    def warnings(self) -> list[str]:
        """Every gate's warning, as "<gate>: <warning>": what passed without being judged."""
        return [f"{v.gate}: {warning}" for v in self.verdicts for warning in v.warnings]

    def reason(self) -> str:
        """One paragraph: promoted and on what (and what was not judged), or rejected and why."""
        if self.promoted:
            gates = ", ".join(v.gate for v in self.verdicts)
            cleared = f"cleared for roll-out: all {len(self.verdicts)} gates passed ({gates})"
            return "; WARNING: ".join([cleared, *self.warnings()])
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
