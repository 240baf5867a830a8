"""Model building and the search's choice of winner (the split: test_split.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.schema import FeatureSpec, SearchConfig, SplitConfig, TrainingConfig
from steps.evaluation.metrics import evaluate
from steps.training.model_factory import build_model
from steps.training.training import fit_model, pipeline_of, split_holdout

FEATURES = [
    FeatureSpec(name="x", kind="numeric"),
    FeatureSpec(name="colour", kind="categorical"),
    FeatureSpec(name="note", kind="text"),
]


def _frame(rows: int = 600, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    words = np.where(x > 0, "great service thanks", "terrible slow refund")
    frame = pd.DataFrame({"x": x, "colour": colour, "note": words})
    frame.loc[::17, "x"] = np.nan
    frame.loc[::19, "note"] = None
    signal = x + (colour == "red") + rng.normal(scale=0.5, size=rows)
    if task == "regression":
        frame["y"] = np.nan_to_num(signal)
    elif task == "multiclass":
        frame["y"] = np.digitize(np.nan_to_num(signal), [-0.5, 0.8])
    else:
        frame["y"] = (np.nan_to_num(signal) > 0.8).astype(int)
    return frame


@pytest.mark.parametrize(
    "estimator", ["logistic_regression", "random_forest", "hist_gradient_boosting"]
)
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_every_classifier_learns_mixed_columns(estimator: str, task: str) -> None:
    frame = _frame(task=task)
    train_df, holdout = split_holdout(frame, "y", task, SplitConfig(test_size=0.3, seed=1))
    config = TrainingConfig(
        estimator=estimator, params={} if estimator != "random_forest" else {"n_estimators": 30}
    )
    result = fit_model(train_df, FEATURES, "y", task, config, "accuracy")
    model = result.model
    assert result.search is None
    metrics = evaluate(model, holdout, "y", task)
    majority = holdout["y"].value_counts(normalize=True).max()
    assert metrics["accuracy"] > majority + 0.1


@pytest.mark.parametrize(
    "estimator", ["linear_regression", "random_forest", "hist_gradient_boosting"]
)
def test_every_regressor_learns(estimator: str) -> None:
    frame = _frame(task="regression")
    train_df, holdout = split_holdout(frame, "y", "regression", SplitConfig(seed=1))
    model = fit_model(
        train_df, FEATURES, "y", "regression", TrainingConfig(estimator=estimator), "rmse"
    ).model
    assert evaluate(model, holdout, "y", "regression")["r2"] > 0.5


def test_search_winner_is_the_best_candidate_by_the_metric() -> None:
    frame = _frame(rows=500)
    config = TrainingConfig(
        estimator="logistic_regression",
        search=SearchConfig(n_iter=4, cv=3, param_distributions={"C": [0.0001, 0.01, 1.0, 100.0]}),
    )
    result = fit_model(frame, FEATURES, "y", "binary", config, "roc_auc")
    model, search = result.model, result.search
    assert search is not None
    best = max(search.candidates, key=lambda c: c["mean_score"])
    assert search.best_params == best["params"]
    assert search.best_score == pytest.approx(best["mean_score"])
    assert best["params"]["C"] == pipeline_of(model).named_steps["model"].C
    assert len(search.candidates) == 4


def test_same_seed_same_model() -> None:
    frame = _frame(rows=400)
    config = TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 20})
    first = fit_model(frame, FEATURES, "y", "binary", config, "roc_auc").model
    second = fit_model(frame, FEATURES, "y", "binary", config, "roc_auc").model
    x = frame.drop(columns=["y"])
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))


def test_hgb_flags_categorical_columns_by_position() -> None:
    model = build_model(FEATURES, TrainingConfig(estimator="hist_gradient_boosting"), "binary")
    assert model.named_steps["model"].categorical_features == [1]
