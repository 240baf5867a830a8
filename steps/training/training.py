"""Split the data and fit the model, with an optional randomized search.

Plain functions: the ZenML steps in ``steps/training/step.py`` only adapt them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel
from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from configs.schema import FeatureSpec, SplitConfig, TrainingConfig
from steps.evaluation.metrics import sklearn_scorer
from steps.training.model_factory import DEFAULT_SEARCH_SPACES, build_model


class SearchSummary(BaseModel):
    """What a hyperparameter search tried and which candidate won, for the record."""

    metric: str
    scorer: str
    best_params: dict[str, Any]
    best_score: float
    candidates: list[dict[str, Any]]


def split_holdout(
    df: pd.DataFrame, target: str, task: str, config: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/holdout split, stratified on the target for classification.

    Stratifying keeps the ~1% fraud share equal in both parts, so holdout
    metrics do not swing with how many positives happened to land there.
    """
    stratify = None
    if task != "regression":
        counts = df[target].value_counts()
        if (counts >= 2).all():
            stratify = df[target]
    train, holdout = train_test_split(
        df, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _cross_validator(task: str, folds: int, seed: int) -> KFold | StratifiedKFold:
    if task == "regression":
        return KFold(n_splits=folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def train(
    train_df: pd.DataFrame,
    features: list[FeatureSpec],
    target: str,
    task: str,
    config: TrainingConfig,
    primary_metric: str,
) -> tuple[Pipeline, SearchSummary | None]:
    """Fit the configured Pipeline; with a search, refit the best candidate on all rows.

    The search scores candidates with the configured primary metric on seeded
    folds, so the winner is the best by that metric and the same config gives
    the same winner.
    """
    model = build_model(features, config, task)
    x = train_df[[f.name for f in features]]
    y = train_df[target]
    if config.search is None:
        model.fit(x, y)
        return model, None
    space = config.search.param_distributions or DEFAULT_SEARCH_SPACES[config.estimator]
    scorer = sklearn_scorer(primary_metric, task)
    search = RandomizedSearchCV(
        model,
        {f"model__{name}": values for name, values in space.items()},
        n_iter=config.search.n_iter,
        scoring=scorer,
        cv=_cross_validator(task, config.search.cv, config.seed),
        random_state=config.seed,
        refit=True,
        n_jobs=1,
        error_score="raise",
    )
    search.fit(x, y)
    results = search.cv_results_
    candidates = [
        {
            "params": {k.removeprefix("model__"): v for k, v in params.items()},
            "mean_score": float(score),
            "rank": int(rank),
        }
        for params, score, rank in zip(
            results["params"],
            results["mean_test_score"],
            results["rank_test_score"],
            strict=True,
        )
    ]
    summary = SearchSummary(
        metric=primary_metric,
        scorer=scorer,
        best_params={k.removeprefix("model__"): v for k, v in search.best_params_.items()},
        best_score=float(search.best_score_),
        candidates=candidates,
    )
    return search.best_estimator_, summary
