"""Holdout metrics, one definition shared by evaluation, search and the gates.

The search optimises the same metric the quality gate checks (through
:func:`sklearn_scorer`), so "the best model" means the same thing everywhere.
The objectives a decision threshold is tuned for (:func:`threshold_scorer`)
live here too, beside the metrics they trade off.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    make_scorer,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV

from configs.schema import ThresholdRule
from steps.evaluation.predictions import predict_in_chunks, probabilities_in_chunks
from steps.validation.errors import DataValidationError

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


def _native(label: Any) -> Any:
    """A numpy scalar as the Python value (what sklearn params and JSON expect)."""
    return label.item() if isinstance(label, np.generic) else label


def _names_label(label: Any, positive_class: str) -> bool:
    """Whether the configured (string) ``positive_class`` names ``label``.

    Configs hold labels as strings; data holds them as read, so ``1``, ``1.0``
    and ``"1"`` are all the label ``"1"``.
    """
    if str(label) == positive_class:
        return True
    if isinstance(label, str | bytes):
        return False
    try:
        return float(label) == float(positive_class)
    except (TypeError, ValueError):
        return False


def positive_label(classes: Any, positive_class: str | None) -> Any:
    """The element of ``classes`` that counts as positive, as a Python value.

    ``None`` means scikit-learn's convention: the last of the sorted classes.
    Raises DataValidationError when no label matches (the data does not hold
    the configured positive class).
    """
    labels = [_native(c) for c in np.asarray(classes).tolist()]
    if positive_class is None:
        return labels[-1]
    for label in labels:
        if _names_label(label, positive_class):
            return label
    raise DataValidationError(
        f"positive class '{positive_class}' is not a label of the target (labels: "
        f"{[str(c) for c in labels]}); set data.positive_class to one of them"
    )


def decision_threshold_of(model: BaseEstimator) -> float | None:
    """The probability threshold the model's ``predict`` applies, if it has one.

    ``None`` for a plain classifier (argmax of the probabilities).
    """
    if isinstance(model, FixedThresholdClassifier) and not isinstance(model.threshold, str):
        return float(model.threshold)
    if isinstance(model, TunedThresholdClassifierCV) and hasattr(model, "best_threshold_"):
        return float(model.best_threshold_)
    return None


def positive_column(classes: Any, label: Any) -> int:
    """Index of ``label`` in ``classes`` (the column of ``predict_proba``)."""
    return int(np.flatnonzero(np.asarray(classes) == label)[0])


# Objectives for TunedThresholdClassifierCV. Module-level functions so the
# scorer pickles; each is called with label predictions at one threshold.


def _confusion(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, pos_label: Any
) -> tuple[int, int, int]:
    actual = np.asarray(y_true) == pos_label
    predicted = np.asarray(y_pred) == pos_label
    tp = int(np.count_nonzero(actual & predicted))
    return tp, int(np.count_nonzero(predicted)) - tp, int(np.count_nonzero(actual)) - tp


def f1_from_counts(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, pos_label: Any) -> float:
    """F1 of ``pos_label``, as ``f1_score(..., zero_division=0)`` gives it, from three counts.

    The threshold search calls its objective once per candidate threshold and
    fold; ``f1_score`` re-validates the labels on every call (0.4 s on 2.7M
    rows, so minutes at 10M rows), this counts in milliseconds.
    """
    tp, fp, fn = _confusion(y_true, y_pred, pos_label)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def recall_at_min_precision(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, pos_label: Any, floor: float
) -> float:
    """Recall where precision holds ``floor``; below it, how far below (a negative score).

    The negative branch ranks thresholds that miss the floor by how close they
    come, so when none reaches it the search picks the nearest one and its
    score (< 0) says the floor was missed.
    """
    tp, fp, fn = _confusion(y_true, y_pred, pos_label)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return recall if precision >= floor else precision - floor


def precision_at_min_recall(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, pos_label: Any, floor: float
) -> float:
    """Precision where recall holds ``floor``; below it, how far below (a negative score)."""
    tp, fp, fn = _confusion(y_true, y_pred, pos_label)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision if recall >= floor else recall - floor


def negative_mean_cost(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    pos_label: Any,
    false_positive: float,
    false_negative: float,
) -> float:
    """Minus the average cost per row of the mistakes (higher is better)."""
    _, fp, fn = _confusion(y_true, y_pred, pos_label)
    rows = max(len(np.asarray(y_true)), 1)
    return -(fp * false_positive + fn * false_negative) / rows


def threshold_scorer(rule: ThresholdRule, pos_label: Any) -> Any:
    """The scorer ``TunedThresholdClassifierCV`` maximises for ``rule``.

    ``pos_label`` goes into every scorer: the tuned classifier reads it from
    there to know which class the threshold applies to.
    """
    if rule.rule == "max_f1":
        return make_scorer(f1_from_counts, pos_label=pos_label)
    if rule.rule == "min_precision":
        return make_scorer(recall_at_min_precision, pos_label=pos_label, floor=rule.value)
    if rule.rule == "min_recall":
        return make_scorer(precision_at_min_recall, pos_label=pos_label, floor=rule.value)
    assert rule.costs is not None  # the schema requires costs for min_cost
    return make_scorer(
        negative_mean_cost,
        pos_label=pos_label,
        false_positive=rule.costs.false_positive,
        false_negative=rule.costs.false_negative,
    )


def describe_rule(rule: float | ThresholdRule) -> str:
    """A short, stable description of how the threshold was chosen, for the record."""
    if not isinstance(rule, ThresholdRule):
        return "fixed"
    if rule.rule in ("min_precision", "min_recall"):
        return f"{rule.rule}({rule.value})"
    if rule.rule == "min_cost" and rule.costs is not None:
        costs = rule.costs
        return f"min_cost(false_positive={costs.false_positive}, false_negative={costs.false_negative})"
    return rule.rule


def binary_metrics(
    y_true: np.ndarray, positive_proba: np.ndarray, positive_label: object, y_pred: np.ndarray
) -> dict[str, float]:
    """Ranking metrics from probabilities, decision metrics from the model's predictions.

    ``y_pred`` are the labels the model predicts (at its own threshold), so
    precision, recall and F1 describe what the served model does.
    ROC AUC and PR AUC are undefined when the holdout has a single class; they
    are reported as NaN so the quality gate fails them with a reason rather
    than the run crashing.
    """
    y = np.asarray(y_true) == positive_label
    predicted = np.asarray(y_pred) == positive_label
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
    model: BaseEstimator,
    holdout: pd.DataFrame,
    target: str,
    task: str,
    positive_class: str | None = None,
    chunk_rows: int | None = None,
) -> dict[str, float]:
    """All metrics for ``task`` of a fitted model on the holdout rows.

    Binary: decision metrics come from the labels ``model.predict`` gives (the
    threshold the model is served with), ranking metrics from the probability of
    ``positive_class`` (see :func:`positive_label`); both from one pass of the
    model where that is exact (:mod:`steps.evaluation.predictions`).
    ``chunk_rows`` scores that many rows at a time (a labelled 10M-row batch),
    so the model's working copies stay the size of a chunk.
    """
    features = holdout.drop(columns=[target])
    y_true = holdout[target].to_numpy()
    rows = chunk_rows if chunk_rows is not None else max(len(features), 1)
    classes = np.asarray(getattr(model, "classes_", []))
    if task == "multiclass":  # the labels are the probabilities' argmax: no predict pass
        return multiclass_metrics(y_true, probabilities_in_chunks(model, features, rows), classes)
    scored = predict_in_chunks(model, features, task, rows)
    if scored.proba is None:
        return regression_metrics(y_true, scored.labels)
    positive = positive_label(classes, positive_class)
    return binary_metrics(
        y_true, scored.proba[:, positive_column(classes, positive)], positive, scored.labels
    )
