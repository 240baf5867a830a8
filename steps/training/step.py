"""ZenML steps: split the validated data and train the model."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import step

from configs.schema import SplitConfig, TrainingConfig
from steps.data.info import DatasetInfo
from steps.data.materializer import ParquetFrameMaterializer
from steps.training.training import split_holdout, train


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
    """Seeded, stratified split; the holdout is an artifact later runs compare on."""
    train_set, holdout_set = split_holdout(dataset, dataset_info.target, dataset_info.task, split)
    # A literal tuple: ZenML reads the return statement to count outputs.
    return train_set, holdout_set


@step(experiment_tracker=True)
def train_model(
    train_set: pd.DataFrame,
    dataset_info: DatasetInfo,
    training: TrainingConfig,
    primary_metric: str,
) -> tuple[
    Annotated[Pipeline, "model"],
    Annotated[dict[str, Any], "search_summary"],
    Annotated[pd.DataFrame, "input_example"],
]:
    """Fit the configured Pipeline and log what was fitted to the experiment tracker."""
    model, search = train(
        train_set,
        dataset_info.features,
        dataset_info.target,
        dataset_info.task,
        training,
        primary_metric,
    )
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
        }
    )
    if search is not None:
        mlflow.log_metric(f"cv_best_{search.metric}", search.best_score)
    feature_names = [f.name for f in dataset_info.features]
    example = train_set[feature_names].head(5).reset_index(drop=True)
    return model, (search.model_dump() if search else {}), example
