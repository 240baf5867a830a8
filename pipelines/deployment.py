"""The deployment pipelines: champion vs challenger gates then the switch, and rollback.

Composition only; every step is a thin adapter over a plain function. The
steps run in a fixed order (``after=``): a gate that fails stops everything
after it, so a refused challenger never reaches staging or serving.
"""

from __future__ import annotations

from zenml import pipeline

from configs.schema import RunConfig
from steps.deployment.step import roll_back, serve_challenger
from steps.promotion.step import (
    champion_gate,
    evaluate_candidates,
    fair_comparison_gate,
    fairness_gate,
    stage_challenger,
    threshold_gate,
)


@pipeline(name="deployment", enable_cache=False)
def deployment_pipeline(
    config: RunConfig, challenger_version: str, champion_version: str | None
) -> None:
    """Gate the challenger against the champion; if it passes, switch the endpoint to it."""
    evaluation, _, compared_rows = evaluate_candidates(config, challenger_version, champion_version)
    fair_comparison_gate(evaluation)
    champion_gate(evaluation, after="fair_comparison_gate")
    threshold_gate(evaluation, after="champion_gate")
    fairness_gate(evaluation, after="threshold_gate")
    stage_challenger(evaluation, after="fairness_gate")
    serve_challenger(config, evaluation, compared_rows, after="stage_challenger")


@pipeline(name="rollback", enable_cache=False)
def rollback_pipeline(
    config: RunConfig, to_version: str | None, reason: str, who: str, when: str
) -> None:
    """Serve the previous production version (or ``to_version``) again, recording why."""
    roll_back(config, to_version, reason, who, when)
