"""The model quality gate rule: figures in, verdict and reasons out.

A pure function so the rule is unit-tested on its own; the ZenML step only
raises when the verdict fails.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from configs.schema import LOWER_IS_BETTER


class QualityVerdict(BaseModel):
    """Whether the model may be registered, and why not if it may not."""

    passed: bool
    failures: list[str]
    checked: dict[str, float]

    def summary(self) -> str:
        """One line per missed threshold, as the user reads it when the run stops."""
        if self.passed:
            return f"quality gate passed ({len(self.checked)} threshold(s) met)"
        lines = [
            f"quality gate failed: {len(self.failures)} of {len(self.checked)} threshold(s) missed"
        ]
        lines += [f"  - {reason}" for reason in self.failures]
        return "\n".join(lines)


def quality_verdict(metrics: dict[str, float], thresholds: dict[str, float]) -> QualityVerdict:
    """Compare each configured threshold with the holdout metric.

    Thresholds on ``rmse``/``mae`` are maxima, all others minima. A metric that
    is missing or NaN (e.g. ROC AUC on a single-class holdout) fails: a gate
    that cannot measure must not pass.
    """
    failures: list[str] = []
    for metric, limit in sorted(thresholds.items()):
        value = metrics.get(metric, math.nan)
        if math.isnan(value):
            failures.append(f"{metric}: could not be measured on the holdout (needs >= {limit})")
            continue
        if metric in LOWER_IS_BETTER and value > limit:
            failures.append(f"{metric} = {value:.4f}, above the maximum {limit}")
        elif metric not in LOWER_IS_BETTER and value < limit:
            failures.append(f"{metric} = {value:.4f}, below the minimum {limit}")
    return QualityVerdict(passed=not failures, failures=failures, checked=dict(thresholds))
