"""The quality gate rule and the metric definitions, on hand-made figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from steps.evaluation.gate import quality_verdict
from steps.evaluation.metrics import binary_metrics, regression_metrics, sklearn_scorer


def test_gate_passes_when_every_threshold_is_met() -> None:
    verdict = quality_verdict({"roc_auc": 0.91, "pr_auc": 0.4}, {"roc_auc": 0.9, "pr_auc": 0.4})
    assert verdict.passed
    assert verdict.failures == []


def test_gate_names_each_missed_minimum() -> None:
    verdict = quality_verdict({"roc_auc": 0.85, "pr_auc": 0.5}, {"roc_auc": 0.9, "pr_auc": 0.4})
    assert not verdict.passed
    assert verdict.failures == ["roc_auc = 0.8500, below the minimum 0.9"]
    assert "1 of 2" in verdict.summary()


def test_gate_treats_error_metrics_as_maxima() -> None:
    assert quality_verdict({"rmse": 1.5}, {"rmse": 2.0}).passed
    verdict = quality_verdict({"rmse": 2.5, "mae": 0.1}, {"rmse": 2.0, "mae": 0.2})
    assert verdict.failures == ["rmse = 2.5000, above the maximum 2.0"]


@pytest.mark.parametrize("metrics", [{"roc_auc": math.nan}, {}])
def test_gate_fails_what_it_cannot_measure(metrics: dict[str, float]) -> None:
    verdict = quality_verdict(metrics, {"roc_auc": 0.5})
    assert not verdict.passed
    assert "could not be measured" in verdict.failures[0]


def test_no_thresholds_pass() -> None:
    assert quality_verdict({"roc_auc": 0.1}, {}).passed


def test_binary_metrics_decide_from_the_predictions_and_rank_from_the_probabilities() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    proba = np.array([0.1, 0.6, 0.7, 0.4, 0.2, 0.9])
    at_half = binary_metrics(y, proba, 1, (proba >= 0.5).astype(int))
    assert at_half["precision"] == pytest.approx(2 / 3)
    assert at_half["recall"] == pytest.approx(2 / 3)
    assert at_half["roc_auc"] == pytest.approx(8 / 9)
    strict = binary_metrics(y, proba, 1, (proba >= 0.8).astype(int))
    assert strict["precision"] == 1.0
    assert strict["recall"] == pytest.approx(1 / 3)
    assert strict["roc_auc"] == at_half["roc_auc"]


def test_binary_metrics_single_class_holdout_is_nan_not_crash() -> None:
    metrics = binary_metrics(np.zeros(5), np.linspace(0, 1, 5), 1, np.zeros(5))
    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])


def test_regression_metrics() -> None:
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert metrics["mae"] == pytest.approx(2 / 3)
    assert metrics["rmse"] == pytest.approx(math.sqrt(4 / 3))


def test_scorers_optimise_the_configured_metric() -> None:
    assert sklearn_scorer("pr_auc", "binary") == "average_precision"
    assert sklearn_scorer("rmse", "regression") == "neg_root_mean_squared_error"
    assert sklearn_scorer("f1", "multiclass") == "f1_macro"
