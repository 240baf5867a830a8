"""Evaluation plots as PNG bytes, for MLflow and the ZenML dashboard.

Figures are rendered with matplotlib's Agg backend (no display needed) and
returned as bytes so the caller decides where they go.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)

from steps.evaluation.metrics import decision_threshold_of, positive_column, positive_label


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def classification_plots(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: np.ndarray,
    predicted: np.ndarray,
    positive: object = None,
    threshold: float | None = None,
) -> dict[str, bytes]:
    """ROC and precision-recall curves (binary) and the confusion matrix.

    The curves rank by the probability of ``positive`` (default: the last class);
    the confusion matrix counts the model's own predictions, made at
    ``threshold`` (only shown in the title).
    """
    plots: dict[str, bytes] = {}
    if len(classes) == 2:
        positive = classes[-1] if positive is None else positive
        scores = proba[:, positive_column(classes, positive)]
        is_positive = np.asarray(y_true) == positive
        if 0 < is_positive.sum() < len(is_positive):
            fig, ax = plt.subplots(figsize=(5, 4))
            RocCurveDisplay.from_predictions(is_positive, scores, ax=ax)
            ax.set_title(f"ROC curve (holdout, positive class {positive})")
            plots["roc_curve.png"] = _png(fig)
            fig, ax = plt.subplots(figsize=(5, 4))
            PrecisionRecallDisplay.from_predictions(is_positive, scores, ax=ax)
            ax.set_title(f"Precision-recall curve (holdout, positive class {positive})")
            plots["pr_curve.png"] = _png(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, predicted, labels=classes, ax=ax)
    ax.set_title(
        f"Confusion matrix (threshold {threshold:.3g})"
        if threshold is not None
        else "Confusion matrix"
    )
    plots["confusion_matrix.png"] = _png(fig)
    return plots


def regression_plots(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, bytes]:
    """Predicted against actual, and the residual distribution."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(y_true, y_pred, s=4, alpha=0.4)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual (holdout)")
    plots = {"predicted_vs_actual.png": _png(fig)}
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist(np.asarray(y_pred) - np.asarray(y_true), bins=50)
    ax.set_title("Residuals (predicted - actual)")
    plots["residuals.png"] = _png(fig)
    return plots


def evaluation_plots(
    model: BaseEstimator,
    holdout: pd.DataFrame,
    target: str,
    task: str,
    positive_class: str | None = None,
) -> dict[str, bytes]:
    """The plots that suit ``task``, computed on at most 200k holdout rows.

    Plot shapes do not change past that size, and scatter plots of millions of
    points only cost time. Binary: curves for ``positive_class``, the confusion
    matrix at the model's own threshold.
    """
    sample = holdout.sample(n=min(len(holdout), 200_000), random_state=0)
    features = sample.drop(columns=[target])
    y_true = sample[target].to_numpy()
    predicted = model.predict(features)
    if task == "regression":
        return regression_plots(y_true, predicted)
    classes = np.asarray(model.classes_)
    positive = positive_label(classes, positive_class) if task == "binary" else None
    return classification_plots(
        y_true,
        model.predict_proba(features),
        classes,
        predicted,
        positive,
        decision_threshold_of(model),
    )


def plots_html(plots: dict[str, bytes], title: str) -> str:
    """A self-contained HTML page embedding the PNGs, for the ZenML dashboard."""
    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"/><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, png in plots.items()
    )
    return (
        "<html><head><meta charset='utf-8'><style>body{font-family:sans-serif}"
        "figure{display:inline-block;margin:8px}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>{images}</body></html>"
    )
