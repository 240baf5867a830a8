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
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)
from sklearn.pipeline import Pipeline


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def classification_plots(
    y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray, threshold: float
) -> dict[str, bytes]:
    """ROC and precision-recall curves (binary) and the confusion matrix."""
    plots: dict[str, bytes] = {}
    if len(classes) == 2:
        positive = proba[:, 1]
        is_positive = np.asarray(y_true) == classes[1]
        if 0 < is_positive.sum() < len(is_positive):
            fig, ax = plt.subplots(figsize=(5, 4))
            RocCurveDisplay.from_predictions(is_positive, positive, ax=ax)
            ax.set_title("ROC curve (holdout)")
            plots["roc_curve.png"] = _png(fig)
            fig, ax = plt.subplots(figsize=(5, 4))
            PrecisionRecallDisplay.from_predictions(is_positive, positive, ax=ax)
            ax.set_title("Precision-recall curve (holdout)")
            plots["pr_curve.png"] = _png(fig)
        predicted = np.where(positive >= threshold, classes[1], classes[0])
    else:
        predicted = classes[np.argmax(proba, axis=1)]
    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, predicted, labels=classes, ax=ax)
    ax.set_title(
        f"Confusion matrix (threshold {threshold})" if len(classes) == 2 else "Confusion matrix"
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
    model: Pipeline, holdout: pd.DataFrame, target: str, task: str, threshold: float
) -> dict[str, bytes]:
    """The plots that suit ``task``, computed on at most 200k holdout rows.

    Plot shapes do not change past that size, and scatter plots of millions of
    points only cost time.
    """
    sample = holdout.sample(n=min(len(holdout), 200_000), random_state=0)
    features = sample.drop(columns=[target])
    y_true = sample[target].to_numpy()
    if task == "regression":
        return regression_plots(y_true, model.predict(features))
    return classification_plots(y_true, model.predict_proba(features), model.classes_, threshold)


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
