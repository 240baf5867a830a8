"""Evaluation at the model's own threshold, for the configured positive class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from configs.schema import ThresholdCosts, ThresholdRule
from steps.evaluation.metrics import (
    decision_threshold_of,
    describe_rule,
    evaluate,
    f1_from_counts,
    negative_mean_cost,
    positive_label,
    precision_at_min_recall,
    recall_at_min_precision,
    threshold_scorer,
)
from steps.evaluation.plots import evaluation_plots
from steps.validation.errors import DataValidationError


@pytest.mark.parametrize(
    ("classes", "configured", "expected"),
    [
        (np.array([0, 1]), "1", 1),
        (np.array([0.0, 1.0]), "1", 1.0),
        (np.array([0, 1]), "0", 0),
        (np.array(["no", "yes"]), "yes", "yes"),
        (np.array(["fraud", "ok"]), "fraud", "fraud"),
        (np.array([False, True]), "True", True),
        (np.array([0, 1]), None, 1),
        (np.array(["fraud", "ok"]), None, "ok"),
    ],
)
def test_the_configured_positive_class_names_a_label(
    classes: np.ndarray, configured: str | None, expected: object
) -> None:
    label = positive_label(classes, configured)
    assert label == expected and type(label) is type(expected)  # a Python value


def test_a_positive_class_the_data_lacks_is_a_data_error_listing_the_labels() -> None:
    with pytest.raises(DataValidationError, match=r"'fraud' is not a label.*\['0', '1'\]"):
        positive_label(np.array([0, 1]), "fraud")
    with pytest.raises(DataValidationError):
        positive_label(np.array(["1.0x", "2"]), "1")


def test_threshold_objectives_on_hand_made_predictions() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])  # tp 3, fp 2, fn 1: P 0.6, R 0.75
    assert recall_at_min_precision(y, pred, pos_label=1, floor=0.5) == pytest.approx(0.75)
    assert recall_at_min_precision(y, pred, pos_label=1, floor=0.8) == pytest.approx(-0.2)
    assert precision_at_min_recall(y, pred, pos_label=1, floor=0.7) == pytest.approx(0.6)
    assert precision_at_min_recall(y, pred, pos_label=1, floor=0.9) == pytest.approx(-0.15)
    cost = negative_mean_cost(y, pred, pos_label=1, false_positive=1.0, false_negative=10.0)
    assert cost == pytest.approx(-(2 * 1 + 1 * 10) / 10)
    # The other label as positive: tp 4 (zeros predicted zero), fp 1, fn 2.
    assert recall_at_min_precision(y, pred, pos_label=0, floor=0.5) == pytest.approx(4 / 6)


@pytest.mark.parametrize("seed", range(5))
def test_f1_from_counts_is_sklearns_f1(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.choice(["fraud", "ok"], size=300, p=[0.1, 0.9])
    pred = rng.choice(["fraud", "ok"], size=300, p=[0.05 * seed, 1 - 0.05 * seed])
    for label in ("fraud", "ok"):
        expected = f1_score(y, pred, pos_label=label, zero_division=0)
        assert f1_from_counts(y, pred, pos_label=label) == pytest.approx(expected)


def test_rules_are_described_for_the_record() -> None:
    assert describe_rule(0.3) == "fixed"
    assert describe_rule(ThresholdRule(rule="max_f1")) == "max_f1"
    assert describe_rule(ThresholdRule(rule="min_recall", value=0.8)) == "min_recall(0.8)"
    costs = ThresholdCosts(false_positive=1, false_negative=25)
    assert (
        describe_rule(ThresholdRule(rule="min_cost", costs=costs))
        == "min_cost(false_positive=1.0, false_negative=25.0)"
    )


def test_the_scorer_carries_the_positive_label() -> None:
    scorer = threshold_scorer(ThresholdRule(rule="min_precision", value=0.9), "fraud")
    assert scorer._kwargs == {"pos_label": "fraud", "floor": 0.9}


def _classifier(positive: str, threshold: float) -> tuple[FixedThresholdClassifier, pd.DataFrame]:
    rng = np.random.default_rng(3)
    score = rng.normal(size=2000)
    label = np.where(score + rng.normal(scale=0.8, size=2000) > 1.5, "fraud", "ok")
    frame = pd.DataFrame({"score": score, "y": label})
    pipeline = Pipeline([("model", LogisticRegression())]).fit(frame[["score"]], frame["y"])
    model = FixedThresholdClassifier(
        FrozenEstimator(pipeline), threshold=threshold, pos_label=positive
    ).fit(frame[["score"]], frame["y"])
    return model, frame


def test_decision_metrics_use_the_models_threshold_and_ranking_the_positive_column() -> None:
    model, frame = _classifier("fraud", 0.2)
    assert decision_threshold_of(model) == 0.2
    metrics = evaluate(model, frame, "y", "binary", "fraud")
    fraud_proba = model.predict_proba(frame[["score"]])[:, 0]  # classes_ = [fraud, ok]
    is_fraud = frame["y"] == "fraud"
    flagged = fraud_proba >= 0.2
    assert metrics["precision"] == pytest.approx(precision_score(is_fraud, flagged))
    assert metrics["recall"] == pytest.approx(recall_score(is_fraud, flagged))
    assert metrics["predicted_positive_rate"] == pytest.approx(flagged.mean())
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(is_fraud, fraud_proba))
    assert metrics["roc_auc"] > 0.8
    stricter = evaluate(model.set_params(threshold=0.6), frame, "y", "binary", "fraud")
    assert stricter["precision"] > metrics["precision"]
    assert stricter["recall"] < metrics["recall"]
    assert stricter["roc_auc"] == metrics["roc_auc"]


def test_a_plain_classifier_has_no_threshold_and_is_scored_by_its_predict() -> None:
    model, frame = _classifier("fraud", 0.5)
    plain = model.estimator.estimator
    assert decision_threshold_of(plain) is None
    metrics = evaluate(plain, frame, "y", "binary", "fraud")
    is_fraud = frame["y"] == "fraud"
    flagged = plain.predict(frame[["score"]]) == "fraud"
    assert metrics["recall"] == pytest.approx(recall_score(is_fraud, flagged))


def test_plots_for_a_positive_class_that_sorts_first() -> None:
    model, frame = _classifier("fraud", 0.2)
    plots = evaluation_plots(model, frame, "y", "binary", "fraud")
    assert set(plots) == {"roc_curve.png", "pr_curve.png", "confusion_matrix.png"}
    assert all(png.startswith(b"\x89PNG") for png in plots.values())
