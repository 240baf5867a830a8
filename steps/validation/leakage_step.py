"""ZenML step: the leakage gate on the training split, before any model is fitted."""

from __future__ import annotations

import logging

import pandas as pd
from zenml import log_metadata, step

from configs.schema import LeakageCheck
from steps.data.info import DatasetInfo
from steps.validation.errors import DataValidationError
from steps.validation.leakage import probe_leakage

logger = logging.getLogger(__name__)


@step
def leakage_gate(train_set: pd.DataFrame, dataset_info: DatasetInfo, leakage: LeakageCheck) -> None:
    """Stop the run (or warn) when one feature alone predicts the target almost perfectly."""
    if leakage.action == "off":
        return
    findings, scores = probe_leakage(
        train_set,
        dataset_info.features,
        dataset_info.target,
        dataset_info.task,
        leakage,
        positive_class=dataset_info.positive_class,
    )
    log_metadata(
        metadata={
            "leakage_scores": scores,
            "leakage_findings": [finding.describe() for finding in findings],
        }
    )
    if not findings:
        return
    lines = [finding.describe() for finding in findings]
    advice = (
        "A feature this predictive is usually a leak (a row number on a sorted file, a field "
        "filled in after the outcome). Remove it from the features or list it in data.exclude; "
        "if it is genuine, set data.checks.leakage.action: warn (or raise max_auc / "
        "max_abs_spearman)."
    )
    message = "Leakage guard: " + "; ".join(lines) + "\n" + advice
    if leakage.action == "warn":
        print(f"Warning: {message}")
        return
    raise DataValidationError(message)
