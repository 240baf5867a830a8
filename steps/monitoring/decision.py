"""The drift rule: from per-column scores, quality figures and recent runs to "retrain or not".

Pure functions over small records, so every branch of the rule is a unit test.
The scores come from the whole batch (steps/monitoring/statistics.py) or, for
``method: evidently``, from the report's verdicts on its sample; either way the
decision records which columns drifted, by how much, against which threshold,
and why the rule fired or did not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from configs.schema import LOWER_IS_BETTER, DriftRule


class ColumnVerdict(BaseModel):
    """One column's drift score against its threshold."""

    model_config = ConfigDict(frozen=True)

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


class QualityVerdict(BaseModel):
    """One metric of the production model on the labelled batch against its floor."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float
    floor: float
    passed: bool


class WindowFigures(BaseModel):
    """How many of the last ``n`` runs (this one included) drifted, of ``k`` needed."""

    model_config = ConfigDict(frozen=True)

    k: int
    n: int
    runs_seen: int
    drifted_runs: int


class DriftDecision(BaseModel):
    """What the monitoring run decided, with every figure it decided on."""

    model_config = ConfigDict(frozen=True)

    model_name: str
    production_version: str
    batch_rows: int
    method: str
    columns: list[ColumnVerdict]
    drift_share: float
    drift_share_limit: float
    trigger_columns: list[str]
    quality: list[QualityVerdict]
    batch_drifted: bool
    window: WindowFigures | None
    retrain: bool
    reasons: list[str]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns over their threshold."""
        return [c.column for c in self.columns if c.drifted]

    def summary(self) -> str:
        """One sentence a person reads first."""
        verdict = "retrain" if self.retrain else "no retraining"
        drifted = self.drifted_columns
        columns = f"{len(drifted)} of {len(self.columns)} columns drifted ({self.method})"
        return f"{verdict}: {columns}; " + "; ".join(self.reasons)

    def metadata(self) -> dict[str, Any]:
        """What the run, the MLflow run and a retrained version record (JSON-safe)."""
        return {
            "model": self.model_name,
            "production_version": self.production_version,
            "batch_rows": self.batch_rows,
            "method": self.method,
            "drift_share": self.drift_share,
            "drift_share_limit": self.drift_share_limit,
            "drifted_columns": self.drifted_columns,
            "batch_drifted": self.batch_drifted,
            "retrain": self.retrain,
            "summary": self.summary(),
            "columns": {
                c.column: {
                    "method": c.method,
                    "score": c.score,
                    "threshold": c.threshold,
                    "drifted": c.drifted,
                }
                for c in self.columns
            },
            "quality": {
                q.metric: {"value": q.value, "floor": q.floor, "passed": q.passed}
                for q in self.quality
            },
            "window": self.window.model_dump() if self.window else None,
        }


def judge_columns(
    scores: Sequence[tuple[str, str, float]], threshold: float
) -> list[ColumnVerdict]:
    """Each (column, method, score) against ``threshold``; a NaN score never counts as drift."""
    return [
        ColumnVerdict(
            column=column,
            method=method,
            score=float(score),
            threshold=threshold,
            drifted=not math.isnan(score) and score >= threshold,
        )
        for column, method, score in scores
    ]


def judge_quality(metrics: dict[str, float], floors: dict[str, float]) -> list[QualityVerdict]:
    """Each floor against the batch's metric; a metric that cannot be computed (NaN) fails."""
    verdicts = []
    for metric, floor in sorted(floors.items()):
        value = float(metrics.get(metric, math.nan))
        if math.isnan(value):
            passed = False
        elif metric in LOWER_IS_BETTER:
            passed = value <= floor
        else:
            passed = value >= floor
        verdicts.append(QualityVerdict(metric=metric, value=value, floor=floor, passed=passed))
    return verdicts


def window_figures(batch_drifted: bool, history: Sequence[bool], k: int, n: int) -> WindowFigures:
    """This run plus the newest ``n - 1`` earlier runs (``history`` newest first)."""
    recent = [batch_drifted, *history[: n - 1]]
    return WindowFigures(k=k, n=n, runs_seen=len(recent), drifted_runs=sum(recent))


def decide(
    model_name: str,
    production_version: str,
    batch_rows: int,
    columns: list[ColumnVerdict],
    quality: list[QualityVerdict],
    rule: DriftRule,
    history: Sequence[bool] = (),
) -> DriftDecision:
    """Apply ``rule``: share of drifted columns, trigger columns, quality floors, then k of n.

    ``history`` holds whether earlier monitoring runs of this model drifted, newest
    first; it is only read when the rule has a window.
    """
    drifted = [c.column for c in columns if c.drifted]
    share = len(drifted) / len(columns) if columns else 0.0
    triggers = [c for c in rule.columns if c in drifted]
    failed_quality = [q for q in quality if not q.passed]
    reasons = []
    if share >= rule.drift_share and drifted:
        reasons.append(f"drift share {share:.2f} >= {rule.drift_share:.2f}")
    if triggers:
        reasons.append(f"trigger column(s) drifted: {', '.join(triggers)}")
    for q in failed_quality:
        direction = "<=" if q.metric in LOWER_IS_BETTER else ">="
        reasons.append(f"{q.metric} {q.value:.4f} misses the floor ({direction} {q.floor:.4f})")
    batch_drifted = bool(reasons)
    if not batch_drifted:
        reasons.append(
            f"drift share {share:.2f} < {rule.drift_share:.2f}, no trigger column "
            "drifted" + (", quality floors held" if quality else "")
        )
    window = None
    retrain = batch_drifted
    if rule.window is not None:
        window = window_figures(batch_drifted, history, rule.window.k, rule.window.n)
        retrain = window.drifted_runs >= window.k
        reasons.append(
            f"{window.drifted_runs} of the last {window.runs_seen} runs drifted "
            f"({window.k} of {window.n} needed)"
        )
    return DriftDecision(
        model_name=model_name,
        production_version=production_version,
        batch_rows=batch_rows,
        method=rule.method,
        columns=columns,
        drift_share=share,
        drift_share_limit=rule.drift_share,
        trigger_columns=list(rule.columns),
        quality=quality,
        batch_drifted=batch_drifted,
        window=window,
        retrain=retrain,
        reasons=reasons,
    )
