"""A classifier's labels and probabilities from one pass of the model where that is exact.

Every binary model we serve is a ``FixedThresholdClassifier`` whose ``predict``
runs the Pipeline's ``predict_proba`` and thresholds one column of it. Asking for
``predict_proba`` and then ``predict`` therefore runs the whole Pipeline (encoders,
imputers, every tree) twice, and at 10M rows that second pass is most of the cost
of batch scoring and of judging a labelled batch's quality. For that wrapper the
labels are derived here from the probabilities with scikit-learn's own rule
(``score >= threshold`` maps to the positive label, otherwise to the other one),
so they are exactly what ``predict`` returns. Any other model is asked twice: a
plain classifier's ``predict`` may threshold its raw scores rather than the
probabilities (histogram gradient boosting does), and a tie at 0.5 would then
come out differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import FixedThresholdClassifier


@dataclass(frozen=True)
class Predictions:
    """What the model says about each row: ``labels`` as ``predict``, ``proba`` as ``predict_proba``.

    ``proba`` is None for regression.
    """

    labels: np.ndarray
    proba: np.ndarray | None


def labels_from_proba(model: Any, proba: np.ndarray) -> np.ndarray | None:
    """``model.predict``'s labels computed from its ``predict_proba``, or None when not exact.

    Exact for a binary ``FixedThresholdClassifier`` on ``predict_proba`` with a numeric
    threshold: its ``predict`` is ``classes[neg, pos][score >= threshold]`` with ``score``
    the positive class's column (scikit-learn's ``_threshold_scores_to_class_labels``).
    """
    if not isinstance(model, FixedThresholdClassifier):
        return None
    if model.response_method != "predict_proba" or isinstance(model.threshold, str):
        return None
    classes = np.asarray(model.classes_)
    if len(classes) != 2 or proba.ndim != 2 or proba.shape[1] != 2:
        return None
    if model.pos_label is None:
        positive, negative = 1, 0
    else:
        positive = int(np.flatnonzero(classes == model.pos_label)[0])
        negative = int(np.flatnonzero(classes != model.pos_label)[0])
    mapping = np.array([negative, positive])
    return np.asarray(classes[mapping[(proba[:, positive] >= model.threshold).astype(int)]])


def predict_once(model: Any, features: pd.DataFrame, task: str) -> Predictions:
    """Labels (and probabilities for classification), running the model once where exact."""
    if task == "regression":
        return Predictions(np.asarray(model.predict(features)), None)
    proba = np.asarray(model.predict_proba(features))
    labels = labels_from_proba(model, proba)
    if labels is None:
        labels = np.asarray(model.predict(features))
    return Predictions(labels, proba)


def predict_in_chunks(
    model: Any, features: pd.DataFrame, task: str, chunk_rows: int
) -> Predictions:
    """:func:`predict_once` over ``chunk_rows`` rows at a time, the results joined in order.

    The model's transforms copy their input (one-hot, ordinal codes, float64
    matrices); on a 10M-row frame at once that peaked at 6.9 GB, while a chunk's
    copies are freed before the next chunk is scored.
    """
    parts = [predict_once(model, part, task) for part in row_chunks(features, chunk_rows)]
    labels = np.concatenate([part.labels for part in parts])
    probas = [part.proba for part in parts if part.proba is not None]
    return Predictions(labels, np.concatenate(probas) if probas else None)


def probabilities_in_chunks(model: Any, features: pd.DataFrame, chunk_rows: int) -> np.ndarray:
    """``predict_proba`` alone, ``chunk_rows`` rows at a time: for metrics that need no labels."""
    return np.concatenate(
        [np.asarray(model.predict_proba(part)) for part in row_chunks(features, chunk_rows)]
    )


def row_chunks(features: pd.DataFrame, chunk_rows: int) -> list[pd.DataFrame]:
    """``features`` cut into consecutive slices of ``chunk_rows`` rows (one slice if empty)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    starts = range(0, max(len(features), 1), chunk_rows)
    return [features.iloc[start : start + chunk_rows] for start in starts]
