"""Binary models are served at their decision threshold: fixed, or tuned on the training split."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, make_scorer, roc_auc_score
from sklearn.model_selection import (
    FixedThresholdClassifier,
    StratifiedKFold,
    TunedThresholdClassifierCV,
)
from sklearn.pipeline import Pipeline

from configs.schema import (
    FeatureSpec,
    SearchConfig,
    SplitConfig,
    ThresholdCosts,
    ThresholdRule,
    TrainingConfig,
)
from steps.data.synthetic import fraud_feature_specs, generate_transactions
from steps.evaluation.metrics import evaluate
from steps.registry.mlflow_model import log_sklearn_model, serving_example
from steps.training.model_factory import build_model
from steps.training.training import TrainingResult, fit_model, pipeline_of, split_holdout

FEATURES = fraud_feature_specs()
NAMES = [f.name for f in FEATURES]
HGB = TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 40})


@pytest.fixture(scope="module")
def fraud() -> tuple[pd.DataFrame, pd.DataFrame]:
    """An imbalanced target (3% positives), where 0.5 is far from the best threshold."""
    frame = generate_transactions(12_000, seed=5, fraud_rate=0.03)
    return split_holdout(frame, "is_fraud", "binary", SplitConfig(seed=5))


_FITTED: dict[tuple[int, str, str], TrainingResult] = {}


def _fit(
    train: pd.DataFrame, threshold: float | ThresholdRule, config: TrainingConfig = HGB
) -> TrainingResult:
    """Fit once per (data, threshold, config) in this module: several tests share a model."""
    key = (id(train), repr(threshold), config.model_dump_json())
    if key not in _FITTED:
        _FITTED[key] = fit_model(
            train, FEATURES, "is_fraud", "binary", config, "pr_auc", threshold, "1"
        )
    return _FITTED[key]


def test_a_number_is_the_threshold_the_model_predicts_at(fraud) -> None:
    train, holdout = fraud
    result = _fit(train, 0.2)
    model = result.model
    assert isinstance(model, FixedThresholdClassifier)
    assert model.threshold == 0.2 and model.pos_label == 1
    x = holdout[NAMES]
    positive = model.predict_proba(x)[:, list(model.classes_).index(1)]
    np.testing.assert_array_equal(model.predict(x), (positive >= 0.2).astype(int))
    assert result.threshold is not None
    assert result.threshold.rule == "fixed" and result.threshold.cv_score is None


def test_max_f1_is_scikit_learns_tuned_threshold_on_the_training_split(fraud) -> None:
    train, _ = fraud
    result = _fit(train, ThresholdRule(rule="max_f1", cv=3))
    expected = TunedThresholdClassifierCV(
        build_model(FEATURES, HGB, "binary"),
        scoring=make_scorer(f1_score, pos_label=1),
        response_method="predict_proba",
        cv=StratifiedKFold(3, shuffle=True, random_state=HGB.seed),
    ).fit(train[NAMES], train["is_fraud"])
    assert result.threshold is not None
    assert result.threshold.threshold == pytest.approx(expected.best_threshold_)
    assert result.threshold.cv_score == pytest.approx(expected.best_score_)
    assert result.threshold.rule == "max_f1" and result.threshold.cv_folds == 3
    assert result.model.threshold == pytest.approx(expected.best_threshold_)


def test_max_f1_catches_more_positives_than_half_on_an_imbalanced_target(fraud) -> None:
    train, holdout = fraud
    at_half = evaluate(_fit(train, 0.5).model, holdout, "is_fraud", "binary", "1")
    tuned_result = _fit(train, ThresholdRule(rule="max_f1", cv=3))
    tuned = evaluate(tuned_result.model, holdout, "is_fraud", "binary", "1")
    assert tuned_result.model.threshold < 0.5
    assert tuned["recall"] > at_half["recall"]
    assert tuned["f1"] > at_half["f1"]
    assert tuned["roc_auc"] == pytest.approx(at_half["roc_auc"])  # same model, other cut


def test_floors_are_held_in_cross_validation_and_trade_off_the_other_way(fraud) -> None:
    train, holdout = fraud
    recall_floor = _fit(train, ThresholdRule(rule="min_recall", value=0.7, cv=3))
    precision_floor = _fit(train, ThresholdRule(rule="min_precision", value=0.6, cv=3))
    assert recall_floor.threshold is not None and precision_floor.threshold is not None
    # A non-negative score means the floor held on every threshold's mean across folds.
    assert recall_floor.threshold.cv_score is not None and recall_floor.threshold.cv_score >= 0
    assert precision_floor.threshold.cv_score is not None
    assert precision_floor.threshold.cv_score >= 0
    assert recall_floor.threshold.threshold < precision_floor.threshold.threshold
    high_recall = evaluate(recall_floor.model, holdout, "is_fraud", "binary", "1")
    high_precision = evaluate(precision_floor.model, holdout, "is_fraud", "binary", "1")
    assert high_recall["recall"] > high_precision["recall"]
    assert high_precision["precision"] > high_recall["precision"]


def test_costly_misses_lower_the_threshold_and_costly_alarms_raise_it(fraud) -> None:
    train, _ = fraud

    def tuned(false_positive: float, false_negative: float) -> float:
        costs = ThresholdCosts(false_positive=false_positive, false_negative=false_negative)
        result = _fit(train, ThresholdRule(rule="min_cost", costs=costs, cv=3))
        assert result.threshold is not None and result.threshold.cv_score is not None
        assert result.threshold.cv_score <= 0  # minus a mean cost
        return result.threshold.threshold

    assert tuned(1, 50) < tuned(1, 1) < tuned(50, 1)


def test_the_positive_class_can_be_the_label_that_sorts_first() -> None:
    rng = np.random.default_rng(0)
    score = rng.normal(size=3000)
    frame = pd.DataFrame(
        {"score": score, "y": np.where(score + rng.normal(size=3000) > 2.2, "fraud", "ok")}
    )
    train, holdout = split_holdout(frame, "y", "binary", SplitConfig(seed=0))
    features = [FeatureSpec(name="score", kind="numeric")]
    config = TrainingConfig(estimator="logistic_regression")
    result = fit_model(
        train, features, "y", "binary", config, "roc_auc", ThresholdRule(rule="max_f1"), "fraud"
    )
    model = result.model
    assert list(model.classes_) == ["fraud", "ok"] and model.pos_label == "fraud"
    assert result.threshold is not None and result.threshold.positive_class == "fraud"
    proba = model.predict_proba(holdout[["score"]])[:, 0]
    np.testing.assert_array_equal(
        model.predict(holdout[["score"]]), np.where(proba >= model.threshold, "fraud", "ok")
    )
    metrics = evaluate(model, holdout, "y", "binary", "fraud")
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(holdout["y"] == "fraud", proba))
    assert metrics["roc_auc"] > 0.8  # column 1 ("ok") would rank the other way round
    assert metrics["positive_rate"] == pytest.approx((holdout["y"] == "fraud").mean())


def test_a_search_winner_is_what_the_threshold_is_tuned_for(fraud) -> None:
    train, _ = fraud
    config = TrainingConfig(
        estimator="logistic_regression",
        search=SearchConfig(n_iter=2, cv=2, param_distributions={"C": [0.0001, 1.0]}),
    )
    result = _fit(train, ThresholdRule(rule="max_f1", cv=2), config)
    assert result.search is not None and result.threshold is not None
    assert result.search.best_params["C"] == pipeline_of(result.model).named_steps["model"].C


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks_are_served_as_the_plain_pipeline(task: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=600)
    frame = pd.DataFrame(
        {"x": x, "y": np.digitize(x, [-0.5, 0.5]) if task == "multiclass" else 3 * x}
    )
    config = TrainingConfig(
        estimator="logistic_regression" if task == "multiclass" else "linear_regression"
    )
    result = fit_model(
        frame, [FeatureSpec(name="x", kind="numeric")], "y", task, config, "r2", 0.5, None
    )
    assert isinstance(result.model, Pipeline) and result.threshold is None


@pytest.fixture
def own_tracking_store(tmp_path):
    """A tracking store of this test's own: earlier tests in the session may move the global one."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("threshold-round-trip")  # not the id an earlier run left active
    yield
    mlflow.set_tracking_uri(previous)


def test_the_tuned_model_survives_the_mlflow_round_trip_the_registry_does(
    fraud, own_tracking_store
) -> None:
    train, holdout = fraud
    model = _fit(train, ThresholdRule(rule="max_f1", cv=3)).model
    with mlflow.start_run():
        info = log_sklearn_model(model, train[NAMES].head(5), None)
    x = holdout[NAMES]
    served = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(served.predict(serving_example(x)), model.predict(x))
    loaded = mlflow.sklearn.load_model(info.model_uri)
    assert loaded.threshold == model.threshold and loaded.pos_label == 1
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert 0 < int(model.predict(x).sum()) < len(x)
