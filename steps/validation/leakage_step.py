"""ZenML step: the leakage gate on the training split, before any model is fitted."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel
from zenml import log_metadata, step

from configs.schema import LeakageCheck
from steps.data.info import DatasetInfo
from steps.validation.errors import DataValidationError
from steps.validation.leakage import probe_leakage

#: What the user can do about a finding, whichever way the config says to treat it.
LEAK_ADVICE = (
    "A feature this predictive is usually a leak (a row number on a sorted file, a field "
    "filled in after the outcome). Remove it from the features or list it in data.exclude; "
    "if it is genuine, set data.checks.leakage.action: warn (or raise max_auc / "
    "max_abs_spearman)."
)


class LeakageVerdict(BaseModel):
    """The probe's figures and what the run does about them."""

    scores: dict[str, float]
    findings: list[str]
    stop: bool
    message: str | None


def judge_leakage(train: pd.DataFrame, info: DatasetInfo, config: LeakageCheck) -> LeakageVerdict:
    """Probe the training split and decide: pass, warn (go on) or stop, per ``config.action``."""
    if config.action == "off":
        return LeakageVerdict(scores={}, findings=[], stop=False, message=None)
    findings, scores = probe_leakage(
        train, info.features, info.target, info.task, config, positive_class=info.positive_class
    )
    described = [finding.describe() for finding in findings]
    message = f"Leakage guard: {'; '.join(described)}\n{LEAK_ADVICE}" if described else None
    stop = bool(described) and config.action == "fail"
    return LeakageVerdict(scores=scores, findings=described, stop=stop, message=message)


@step
def leakage_gate(train_set: pd.DataFrame, dataset_info: DatasetInfo, leakage: LeakageCheck) -> None:
    """Stop the run (or warn) when one feature alone predicts the target almost perfectly."""
    verdict = judge_leakage(train_set, dataset_info, leakage)
    log_metadata(metadata={"leakage_scores": verdict.scores, "leakage_findings": verdict.findings})
    if verdict.stop:
        raise DataValidationError(verdict.message)
    if verdict.message is not None:
        print(f"Warning: {verdict.message}")
