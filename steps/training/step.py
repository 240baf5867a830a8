"""ZenML steps: split the validated data and train the model."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.base import BaseEstimator
from zenml import log_metadata, step

from configs.schema import SplitConfig, ThresholdRule, TrainingConfig
from steps.data.info import DatasetInfo
from steps.data.materializer import ParquetFrameMaterializer
from steps.training.training import ThresholdSummary, fit_model, split_holdout


# Materializers by output name: given one class for all outputs, ZenML 0.98
# orders the outputs through a set, which changes the cache key per process.
@step(
    output_materializers={
        "train_set": ParquetFrameMaterializer,
        "holdout_set": ParquetFrameMaterializer,
    },
)
def split_dataset(
    dataset: pd.DataFrame, dataset_info: DatasetInfo, split: SplitConfig
) -> tuple[Annotated[pd.DataFrame, "train_set"], Annotated[pd.DataFrame, "holdout_set"]]:
    """Seeded, stratified split keeping identical rows together; the holdout is an artifact.

    Raises DataValidationError (exit 3) when a class has no rows on one side.
    """
    compared = [f.name for f in dataset_info.features] + [dataset_info.target]
    train_set, holdout_set = split_holdout(
        dataset, dataset_info.target, dataset_info.task, split, compared
    )
    # A literal tuple: ZenML reads the return statement to count outputs.
    return train_set, holdout_set


def threshold_record(threshold: ThresholdSummary | None) -> dict[str, Any]:
    """How the served decision threshold was chosen, as MLflow params and artifact metadata."""
    if threshold is None:
        return {}
    record: dict[str, Any] = {
        "decision_threshold": threshold.threshold,
        "decision_threshold_rule": threshold.rule,
        "positive_class": threshold.positive_class,
    }
    if threshold.cv_score is not None:
        record["decision_threshold_cv_score"] = threshold.cv_score
        record["decision_threshold_cv_folds"] = threshold.cv_folds
    return record


@step(experiment_tracker=True)
def train_model(
    train_set: pd.DataFrame,
    dataset_info: DatasetInfo,
    training: TrainingConfig,
    primary_metric: str,
    decision_threshold: float | ThresholdRule = 0.5,
) -> tuple[
    Annotated[BaseEstimator, "model"],
    Annotated[dict[str, Any], "search_summary"],
    Annotated[pd.DataFrame, "input_example"],
]:
    """Fit the configured model and log what was fitted to the experiment tracker.

    The model is a scikit-learn Pipeline, wrapped for binary tasks in a
    classifier that predicts at ``decision_threshold`` (a number, or a rule
    tuned on ``train_set``); see :func:`steps.training.training.fit_model`.
    """
    result = fit_model(
        train_set,
        dataset_info.features,
        dataset_info.target,
        dataset_info.task,
        training,
        primary_metric,
        decision_threshold,
        dataset_info.positive_class,
    )
    search, threshold = result.search, threshold_record(result.threshold)
    mlflow.log_params(
        {
            "estimator": training.estimator,
            "task": dataset_info.task,
            "seed": training.seed,
            "train_rows": len(train_set),
            "n_features": len(dataset_info.features),
            "dataset_sha256": dataset_info.sha256,
            **{f"param.{k}": v for k, v in training.params.items()},
            **({f"best.{k}": v for k, v in search.best_params.items()} if search else {}),
            **threshold,
        }
    )
    if search is not None:
        mlflow.log_metric(f"cv_best_{search.metric}", search.best_score)
    if threshold:
        log_metadata(metadata=threshold, artifact_name="model", infer_artifact=True)
    feature_names = [f.name for f in dataset_info.features]
    example = train_set[feature_names].head(5).reset_index(drop=True)
    return result.model, (search.model_dump() if search else {}), example
