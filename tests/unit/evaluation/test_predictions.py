"""One pass of the model for labels and probabilities: always exactly ``predict``'s labels."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier

from configs.schema import FeatureSpec, ThresholdRule, TrainingConfig
from steps.evaluation.metrics import evaluate
from steps.evaluation.predictions import labels_from_proba, predict_in_chunks, predict_once
from steps.training.training import fit_model

FEATURES = [FeatureSpec(name="x", kind="numeric"), FeatureSpec(name="colour", kind="categorical")]


def _frame(rows: int, seed: int, labels: tuple[Any, Any] = (0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    signal = x + (colour == "red") + rng.normal(scale=0.7, size=rows)
    y = np.where(signal > 0.8, labels[1], labels[0])
    frame = pd.DataFrame({"x": x, "colour": colour, "y": y})
    frame.loc[::13, "x"] = np.nan
    return frame


@pytest.mark.parametrize(
    "estimator", ["logistic_regression", "random_forest", "hist_gradient_boosting"]
)
@pytest.mark.parametrize(
    "threshold", [0.5, 0.07, ThresholdRule(rule="max_f1", cv=3)], ids=["0.5", "0.07", "max_f1"]
)
def test_served_binary_models_give_predicts_labels_from_one_pass(
    estimator: str, threshold: float | ThresholdRule
) -> None:
    train, batch = _frame(800, 0), _frame(3000, 1).drop(columns=["y"])
    config = TrainingConfig(
        estimator=estimator,
        params={"n_estimators": 20, "n_jobs": 1} if estimator == "random_forest" else {},
    )
    model = fit_model(
        train, FEATURES, "y", "binary", config, "roc_auc", decision_threshold=threshold
    ).model
    proba = model.predict_proba(batch)
    labels = labels_from_proba(model, proba)
    assert labels is not None
    np.testing.assert_array_equal(labels, model.predict(batch))
    assert labels.dtype == model.predict(batch).dtype
    both = predict_once(model, batch, "binary")
    np.testing.assert_array_equal(both.labels, model.predict(batch))
    # A forest sums its trees in threads (n_jobs=-1 by default): calls may differ in the last
    # bit, and a label at the threshold with them; one thread here keeps the comparison exact.
    np.testing.assert_array_equal(both.proba, proba)


def test_a_served_binary_model_runs_once_per_prediction() -> None:
    """The point of the module: predict_proba + predict ran the Pipeline twice."""
    model = fit_model(
        _frame(600, 7),
        FEATURES,
        "y",
        "binary",
        TrainingConfig(estimator="hist_gradient_boosting"),
        "roc_auc",
        decision_threshold=0.5,
    ).model
    batch = _frame(1000, 8).drop(columns=["y"])
    original = HistGradientBoostingClassifier.predict_proba
    with mock.patch.object(
        HistGradientBoostingClassifier, "predict_proba", autospec=True, side_effect=original
    ) as runs:
        predict_once(model, batch, "binary")
        assert runs.call_count == 1
        model.predict_proba(batch)
        model.predict(batch)
        assert runs.call_count == 3


@pytest.mark.parametrize("pos_label", ["no", "yes", None])
def test_a_score_exactly_at_the_threshold_is_positive_as_in_predict(
    pos_label: str | None,
) -> None:
    """String labels, either label positive, and ties at the threshold (``>=``)."""
    train = _frame(600, 2, labels=("no", "yes"))
    base = LogisticRegression().fit(pd.get_dummies(train[["x", "colour"]]).fillna(0), train["y"])
    x = pd.get_dummies(_frame(500, 3)[["x", "colour"]]).fillna(0)
    positive = 1 if pos_label in (None, "yes") else 0
    scores = base.predict_proba(x)[:, positive]
    threshold = float(np.sort(scores)[250])  # one row scores exactly the threshold
    model = FixedThresholdClassifier(
        FrozenEstimator(base),
        threshold=threshold,
        pos_label=pos_label,
        response_method="predict_proba",
    ).fit(x, train["y"].iloc[: len(x)].to_numpy())
    labels = labels_from_proba(model, model.predict_proba(x))
    assert labels is not None
    np.testing.assert_array_equal(labels, model.predict(x))
    at_threshold = scores == threshold
    assert at_threshold.sum() >= 1
    expected_positive = "yes" if positive == 1 else "no"
    assert set(labels[at_threshold]) == {expected_positive}


def test_models_whose_predict_is_not_derived_from_proba_are_asked_twice() -> None:
    """A plain classifier (or a threshold on decision_function) keeps its own predict."""
    train = _frame(600, 4)
    x = train[["x"]].fillna(0)
    plain = LogisticRegression().fit(x, train["y"])
    assert labels_from_proba(plain, plain.predict_proba(x)) is None
    on_decision = FixedThresholdClassifier(
        plain, threshold=0.0, response_method="decision_function"
    ).fit(x, train["y"])
    assert labels_from_proba(on_decision, on_decision.predict_proba(x)) is None
    both = predict_once(on_decision, x, "binary")
    np.testing.assert_array_equal(both.labels, on_decision.predict(x))


def test_chunked_predictions_equal_one_call_in_order() -> None:
    train, batch = _frame(800, 5), _frame(2345, 6).drop(columns=["y"])
    model = fit_model(
        train,
        FEATURES,
        "y",
        "binary",
        TrainingConfig(estimator="hist_gradient_boosting"),
        "roc_auc",
        decision_threshold=0.3,
    ).model
    whole = predict_once(model, batch, "binary")
    chunked = predict_in_chunks(model, batch, "binary", chunk_rows=500)
    np.testing.assert_array_equal(chunked.labels, whole.labels)
    assert chunked.proba is not None and whole.proba is not None
    np.testing.assert_array_equal(chunked.proba, whole.proba)
    regression = fit_model(
        train.assign(y=train["x"].fillna(0) * 2),
        FEATURES,
        "y",
        "regression",
        TrainingConfig(estimator="linear_regression"),
        "rmse",
    ).model
    values = predict_in_chunks(regression, batch, "regression", chunk_rows=1000)
    assert values.proba is None
    np.testing.assert_array_equal(values.labels, regression.predict(batch))
    with pytest.raises(ValueError, match="chunk_rows must be at least 1"):
        predict_in_chunks(model, batch, "binary", chunk_rows=0)


def test_multiclass_metrics_run_the_model_once_per_chunk() -> None:
    """Multiclass metrics take labels from the probabilities: no separate predict pass."""
    train = _frame(900, 9)
    train["y"] = np.digitize(train["x"].fillna(0), [-0.5, 0.5])
    model = fit_model(
        train,
        FEATURES,
        "y",
        "multiclass",
        TrainingConfig(estimator="hist_gradient_boosting"),
        "accuracy",
    ).model
    holdout = _frame(1000, 10).assign(y=lambda f: np.digitize(f["x"].fillna(0), [-0.5, 0.5]))
    whole = evaluate(model, holdout, "y", "multiclass")
    hgb = HistGradientBoostingClassifier
    with (
        mock.patch.object(hgb, "predict_proba", autospec=True, side_effect=hgb.predict_proba) as p,
        mock.patch.object(hgb, "predict", autospec=True, side_effect=hgb.predict) as labels,
    ):
        chunked = evaluate(model, holdout, "y", "multiclass", chunk_rows=300)
    assert (p.call_count, labels.call_count) == (4, 0)
    assert chunked == whole
