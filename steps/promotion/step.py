"""ZenML steps: evaluate champion vs challenger, then one gate per rule, then stage it.

``evaluate_candidates`` computes every figure once, records it on the
challenger's model version (and its verdict as MLflow tags) and renders the
comparison report; each gate step then stops the run with its own readable
report when its rule fails. None of them is cached: the champion changes.
"""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from configs.schema import RunConfig
from steps.deployment.candidates import load_version
from steps.promotion.evaluation import CandidateEvaluation, LoadedPair, evaluate_challenger
from steps.promotion.report import comparison_report_html
from steps.promotion.stages import (
    TAG_DECISION,
    TAG_REASON,
    TAG_REJECTED_BY,
    configure_mlflow_from_stack,
    get_version,
    record_on_version,
    set_stage,
    sync_mlflow,
    tag_mlflow_version,
)

logger = logging.getLogger(__name__)


class PromotionRejectedError(RuntimeError):
    """A gate refused the challenger; production and serving are unchanged."""


@step(enable_cache=False)
def evaluate_candidates(
    config: RunConfig, challenger_version: str, champion_version: str | None
) -> tuple[
    Annotated[CandidateEvaluation, "candidate_evaluation"],
    Annotated[HTMLString, "comparison_report"],
    Annotated[pd.DataFrame, "compared_rows"],
]:
    """Score both versions on the rows neither trained on; record the figures and decision."""
    name = config.model.name
    challenger = load_version(
        get_version(name, challenger_version), train_set=False, holdout_set=True
    )
    champion = (
        load_version(get_version(name, champion_version), train_set=True, holdout_set=False)
        if champion_version is not None
        else None
    )
    info = challenger.dataset_info
    assert challenger.holdout_set is not None
    pair = LoadedPair(
        challenger_version=challenger_version,
        challenger_model=challenger.model,
        challenger_holdout=challenger.holdout_set,
        champion_version=champion_version,
        champion_model=champion.model if champion else None,
        champion_train=champion.train_set if champion else None,
        champion_positive_class=champion.dataset_info.positive_class if champion else None,
    )
    evaluation, rows = evaluate_challenger(
        pair, [f.name for f in info.features], info.target, info.task, info.positive_class, config
    )
    record_on_version(challenger.ref, {"deployment_gates": evaluation.metadata()})
    decision = evaluation.decision
    configure_mlflow_from_stack()
    tag_mlflow_version(
        challenger.ref,
        {
            TAG_DECISION: "passed gates" if decision.promoted else "rejected",
            TAG_REJECTED_BY: decision.failed_gate or "",
            TAG_REASON: decision.reason()[:5000],
        },
    )
    report = comparison_report_html(
        name,
        challenger_version,
        champion_version,
        decision,
        evaluation.comparison,
        evaluation.segments,
        evaluation,
    )
    sample = rows.head(config.deployment.serving.smoke_rows)
    return evaluation, HTMLString(report), sample


def _judge(evaluation: CandidateEvaluation, gate: str) -> None:
    """Stop the run when ``gate`` refused; say so when it passed without judging (a warning)."""
    verdict = evaluation.verdict(gate)
    if verdict is None:
        return
    if not verdict.passed:
        raise PromotionRejectedError(
            f"{verdict.summary()}\nVersion {evaluation.challenger_version} was not promoted; "
            "production and serving are unchanged."
        )
    if verdict.warnings:
        logger.warning("%s", verdict.summary())


@step(enable_cache=False)
def fair_comparison_gate(evaluation: CandidateEvaluation) -> None:
    """Enough rows that neither model trained on, or the comparison means nothing."""
    _judge(evaluation, "fair_comparison")


@step(enable_cache=False)
def champion_gate(evaluation: CandidateEvaluation) -> None:
    """The challenger beats the champion by the configured margin (beyond noise, if asked)."""
    _judge(evaluation, "champion_vs_challenger")


@step(enable_cache=False)
def threshold_gate(evaluation: CandidateEvaluation) -> None:
    """The challenger meets the absolute thresholds on the compared rows."""
    _judge(evaluation, "absolute_thresholds")


@step(enable_cache=False)
def fairness_gate(evaluation: CandidateEvaluation) -> None:
    """The metric's best-worst gap across segments stays under the limit."""
    _judge(evaluation, "fairness")


@step(enable_cache=False)
def stage_challenger(evaluation: CandidateEvaluation) -> None:
    """Passing every gate moves the challenger to ``staging`` (MLflow alias ``challenger``)."""
    ref = get_version(evaluation.model_name, evaluation.challenger_version)
    set_stage(ref, "staging")
    configure_mlflow_from_stack()
    sync_mlflow(ref.model_name, challenger=get_version(ref.model_name, ref.version))
