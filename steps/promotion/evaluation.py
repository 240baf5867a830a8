"""Every figure the promotion gates judge, computed once from the two loaded versions.

The gates then only read their verdict from :class:`CandidateEvaluation`, so
the report and the model version's metadata always show all of them, even
when the first gate already refuses the challenger.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel

from configs.schema import RunConfig
from steps.promotion.comparison import (
    ComparisonFigures,
    FairRows,
    SegmentFigure,
    compare_models,
    fair_rows,
    metric_value,
    predict_on,
    segment_figures,
)
from steps.promotion.rules import (
    GateVerdict,
    PromotionDecision,
    champion_verdict,
    decide,
    fair_comparison_verdict,
    fairness_verdict,
    threshold_verdict,
)
from steps.promotion.stages import now


class CandidateEvaluation(BaseModel):
    """The figures and verdicts of one challenger against one champion (or none)."""

    model_name: str
    challenger_version: str
    champion_version: str | None
    holdout_rows: int
    compared_rows: int
    seen_by_champion: int
    challenger_metrics: dict[str, float]
    comparison: ComparisonFigures | None
    segments: list[SegmentFigure] | None
    decision: PromotionDecision

    def verdict(self, gate: str) -> GateVerdict | None:
        """The verdict of ``gate``, None if the run stopped before it could be judged."""
        return next((v for v in self.decision.verdicts if v.gate == gate), None)

    def metadata(self) -> dict[str, Any]:
        """What the challenger's model version records (JSON-safe)."""
        return {
            "at": now(),
            "decision": "passed" if self.decision.promoted else "rejected",
            "failed_gate": self.decision.failed_gate or "none",
            "summary": self.decision.reason(),
            "warnings": self.decision.warnings(),
            "champion_version": self.champion_version or "none",
            "holdout_rows": self.holdout_rows,
            "compared_rows": self.compared_rows,
            "seen_by_champion": self.seen_by_champion,
            "challenger_metrics": self.challenger_metrics,
            "gates": {
                v.gate: {"passed": v.passed, "warnings": v.warnings, **v.figures}
                for v in self.decision.verdicts
            },
        }


class LoadedPair(BaseModel):
    """The inputs of an evaluation, as plain objects (no ZenML)."""

    model_config = {"arbitrary_types_allowed": True}

    challenger_version: str
    challenger_model: Any
    challenger_holdout: pd.DataFrame
    champion_version: str | None = None
    champion_model: Any = None
    champion_train: pd.DataFrame | None = None
    champion_positive_class: str | None = None


def evaluate_challenger(
    pair: LoadedPair,
    features: list[str],
    target: str,
    task: str,
    positive_class: str | None,
    config: RunConfig,
) -> tuple[CandidateEvaluation, pd.DataFrame]:
    """Score both models on the rows neither trained on and judge every gate.

    Returns the evaluation and the compared rows (the smoke test sends a
    sample of them to the new server).
    """
    comparison_config = config.deployment.comparison
    has_champion = pair.champion_model is not None
    fair: FairRows = fair_rows(
        pair.challenger_holdout, pair.champion_train if has_champion else None, [*features, target]
    )
    verdicts: list[GateVerdict] = [
        fair_comparison_verdict(fair, comparison_config.min_rows, has_champion)
    ]
    metrics: dict[str, float] = {}
    comparison: ComparisonFigures | None = None
    segments: list[SegmentFigure] | None = None
    if verdicts[0].passed:
        rows = fair.rows
        y_true = rows[target].to_numpy()
        challenger = predict_on(pair.challenger_model, rows, target, task, positive_class)
        thresholds = config.deployment_thresholds
        wanted = set(thresholds) | {config.comparison_metric}
        metrics = {m: metric_value(m, task, y_true, challenger) for m in sorted(wanted)}
        if has_champion:
            champion = predict_on(
                pair.champion_model, rows, target, task, pair.champion_positive_class
            )
            comparison = compare_models(
                y_true,
                champion,
                challenger,
                config.comparison_metric,
                task,
                comparison_config.bootstrap,
            )
        verdicts.append(champion_verdict(comparison, comparison_config.min_improvement))
        verdicts.append(threshold_verdict(metrics, thresholds))
        fairness = config.deployment.fairness
        if fairness is not None:
            segments = segment_figures(
                rows,
                y_true,
                challenger,
                fairness.segment,
                fairness.metric,
                task,
                fairness.min_rows,
            )
        verdicts.append(fairness_verdict(segments, fairness))
    evaluation = CandidateEvaluation(
        model_name=config.model.name,
        challenger_version=pair.challenger_version,
        champion_version=pair.champion_version,
        holdout_rows=fair.holdout_rows,
        compared_rows=len(fair.rows),
        seen_by_champion=fair.seen_by_champion,
        challenger_metrics=metrics,
        comparison=comparison,
        segments=segments,
        decision=decide(verdicts),
    )
    return evaluation, fair.rows
