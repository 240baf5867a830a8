"""Holdout metrics, one definition shared by evaluation, search and the gates.

The search optimises the same metric the quality gate checks (through
:func:`sklearn_scorer`), so "the best model" means the same thing everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline

_BINARY_SCORERS = {
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
    "accuracy": "accuracy",
}
_MULTICLASS_SCORERS = {
    "roc_auc": "roc_auc_ovr",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "f1": "f1_macro",
    "accuracy": "accuracy",
}
_REGRESSION_SCORERS = {
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}


def sklearn_scorer(metric: str, task: str) -> str:
    """The scikit-learn scoring name that optimises ``metric`` for ``task``."""
    table = {
        "binary": _BINARY_SCORERS,
        "multiclass": _MULTICLASS_SCORERS,
        "regression": _REGRESSION_SCORERS,
    }[task]
    return table[metric]


def binary_metrics(
    y_true: np.ndarray, positive_proba: np.ndarray, positive_label: object, threshold: float
) -> dict[str, float]:
    """Ranking metrics from probabilities, decision metrics at ``threshold``.

    ROC AUC and PR AUC are undefined when the holdout has a single class; they
    are reported as NaN so the quality gate fails them with a reason rather
    than the run crashing.
    """
    y = np.asarray(y_true) == positive_label
    predicted = positive_proba >= threshold
    both_classes = 0 < int(y.sum()) < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, positive_proba)) if both_classes else math.nan,
        "pr_auc": float(average_precision_score(y, positive_proba)) if both_classes else math.nan,
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(y, predicted)),
        "positive_rate": float(y.mean()) if len(y) else math.nan,
        "predicted_positive_rate": float(predicted.mean()) if len(y) else math.nan,
    }


def multiclass_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """Macro-averaged metrics, so rare classes weigh as much as common ones."""
    predicted = classes[np.argmax(proba, axis=1)]
    present = set(np.unique(y_true))
    roc = (
        float(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        if present == set(classes)
        else math.nan
    )
    return {
        "roc_auc": roc,
        "precision": float(precision_score(y_true, predicted, average="macro", zero_division=0)),
        "recall": float(recall_score(y_true, predicted, average="macro", zero_division=0)),
        "f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, predicted)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of the predictions."""
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else math.nan,
    }


def evaluate(
    model: Pipeline, holdout: pd.DataFrame, target: str, task: str, threshold: float
) -> dict[str, float]:
    """All metrics for ``task`` of a fitted model on the holdout rows."""
    features = holdout.drop(columns=[target])
    y_true = holdout[target].to_numpy()
    if task == "regression":
        return regression_metrics(y_true, model.predict(features))
    proba = model.predict_proba(features)
    classes = model.classes_
    if task == "binary":
        return binary_metrics(y_true, proba[:, 1], classes[1], threshold)
    return multiclass_metrics(y_true, proba, classes)
