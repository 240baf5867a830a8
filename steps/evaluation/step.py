"""ZenML steps: score the model on the holdout, then gate on the scores."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Annotated

import mlflow
import pandas as pd
from sklearn.base import BaseEstimator
from zenml import log_metadata, step
from zenml.types import HTMLString

from configs.schema import EvaluationConfig
from steps.data.info import DatasetInfo
from steps.evaluation.gate import quality_verdict
from steps.evaluation.metrics import evaluate
from steps.evaluation.plots import evaluation_plots, plots_html


class QualityGateError(RuntimeError):
    """The model missed a configured metric threshold; nothing is registered."""


@step(experiment_tracker=True)
def evaluate_model(
    model: BaseEstimator,
    holdout_set: pd.DataFrame,
    dataset_info: DatasetInfo,
    evaluation: EvaluationConfig,
) -> tuple[Annotated[dict[str, float], "metrics"], Annotated[HTMLString, "evaluation_plots"]]:
    """Holdout metrics and plots, logged to the experiment tracker and kept as artifacts.

    Decision metrics are the model's own predictions, at the threshold it was
    trained with and is served with (``evaluation.decision_threshold`` is
    applied in training, where a rule is tuned on the training split).
    """
    target, task, positive = dataset_info.target, dataset_info.task, dataset_info.positive_class
    metrics = evaluate(model, holdout_set, target, task, positive)
    mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
    plots = evaluation_plots(model, holdout_set, target, task, positive)
    with tempfile.TemporaryDirectory() as folder:
        for name, png in plots.items():
            (Path(folder) / name).write_bytes(png)
        mlflow.log_artifacts(folder, artifact_path="plots")
    log_metadata(metadata={"holdout": metrics}, artifact_name="metrics", infer_artifact=True)
    return metrics, HTMLString(plots_html(plots, f"Holdout evaluation ({len(holdout_set)} rows)"))


@step
def quality_gate(metrics: dict[str, float], evaluation: EvaluationConfig) -> None:
    """Stop the pipeline when a metric misses the config's threshold."""
    verdict = quality_verdict(metrics, evaluation.thresholds)
    if not verdict.passed:
        raise QualityGateError(verdict.summary())
