"""The figures champion and challenger are judged on: fair rows, predictions, metrics, bootstrap.

A comparison is only fair on rows neither model trained on. The challenger's holdout is unseen
by the challenger by construction, but a retrain on "reference plus new data" puts rows the
champion trained on into it, and those flatter the champion. :func:`fair_rows` removes them by
content (the same 64-bit row hash the training split uses), so what remains is unseen by both.

Metrics here are the definitions of :mod:`steps.evaluation.metrics` (a test holds every metric
equal to :func:`~steps.evaluation.metrics.evaluate`), rewritten as sums over row weights: a
bootstrap resample is a weight per row (how often it was drawn), so thousands of resamples cost
one ``bincount`` and a few dot products each instead of a scikit-learn call with its input
validation. Ranking metrics sort the scores once per model and reuse the order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from pydantic import BaseModel, ConfigDict, model_validator
from sklearn.base import BaseEstimator

from configs.schema import LOWER_IS_BETTER, METRICS_BY_TASK, BootstrapConfig
from steps.evaluation.metrics import positive_column, positive_label
from steps.validation.table_checks import row_hashes

#: How a null segment value is named in figures and reports.
NULL_SEGMENT = "<null>"
#: What a null becomes when a column is compared as text; no real value prints like it.
_NULL_TEXT = "\x00<null>\x00"

#: A metric of fixed predictions as a function of per-row weights (resample counts).
WeightedMetric = Callable[[np.ndarray], float]


# --- fair rows ------------------------------------------------------------------------------


class FairCounts(Protocol):
    """How many rows a comparison used and why the rest were left out (what reports show).

    :class:`FairRows` has these, and so does any summary that keeps the counts without the frame.
    """

    @property
    def holdout_rows(self) -> int: ...
    @property
    def compared_rows(self) -> int: ...
    @property
    def seen_by_champion(self) -> int: ...


class FairRows(BaseModel):
    """The challenger's holdout rows the champion never trained on, and how many were dropped."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    rows: pd.DataFrame
    holdout_rows: int
    seen_by_champion: int
    hashed_columns: list[str]

    @property
    def compared_rows(self) -> int:
        """Rows left to compare on: unseen by the challenger and by the champion."""
        return len(self.rows)


def fair_rows(
    challenger_holdout: pd.DataFrame, champion_train: pd.DataFrame | None, columns: Sequence[str]
) -> FairRows:
    """The challenger's holdout minus every row whose content the champion trained on.

    Rows are compared over ``columns`` (the challenger's features and target) that both frames
    hold; a column only one model knows cannot tell rows apart for the other. Each column is
    first brought to one representation in both frames (see :func:`_comparable_pair`), because
    the row hash hashes bytes: ``int64`` 3 and ``float64`` 3.0, or a ``category`` and an
    ``object`` column of the same strings, would otherwise never match. ``champion_train=None``
    (no champion) keeps every row. The kept rows are renumbered from 0, so positions and labels
    agree for the bootstrap.

    Raises ValueError when a champion is given but no column is shared: nothing could be
    compared, and keeping every row would silently score the champion on its training data.
    """
    if champion_train is None:
        rows = challenger_holdout.reset_index(drop=True)
        return FairRows(rows=rows, holdout_rows=len(rows), seen_by_champion=0, hashed_columns=[])
    shared = [c for c in columns if c in challenger_holdout.columns and c in champion_train.columns]
    if not shared:
        raise ValueError(
            f"none of the compared columns {list(columns)} is in both the challenger's holdout "
            "and the champion's training data, so the rows the champion saw cannot be found"
        )
    holdout_hashes, train_hashes = _paired_hashes(challenger_holdout, champion_train, shared)
    seen = np.isin(holdout_hashes, train_hashes)
    kept = challenger_holdout.take(np.flatnonzero(~seen))
    kept.index = pd.RangeIndex(len(kept))
    return FairRows(
        rows=kept,
        holdout_rows=len(challenger_holdout),
        seen_by_champion=int(seen.sum()),
        hashed_columns=shared,
    )


def _paired_hashes(
    left: pd.DataFrame, right: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Row hashes of both frames over ``columns``, after each column is made comparable."""
    pairs = {name: _comparable_pair(left[name], right[name]) for name in columns}
    normal_left = pd.DataFrame({name: pair[0] for name, pair in pairs.items()})
    normal_right = pd.DataFrame({name: pair[1] for name, pair in pairs.items()})
    return row_hashes(normal_left, columns), row_hashes(normal_right, columns)


def _comparable_pair(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """One column of both frames in one representation, so equal content hashes equal.

    Numbers (any int, float, bool or nullable dtype, or a category of numbers) become
    ``float64`` with one NaN for every kind of null and ``-0.0`` as ``0.0``. When only one side
    is numeric, the other is parsed as numbers if every value parses (a CSV read as text);
    otherwise both sides become text, with one marker for nulls.
    """
    numbers_left, numbers_right = _numbers(left), _numbers(right)
    if numbers_left is None and numbers_right is not None:
        numbers_left = _parsed_numbers(left)
    if numbers_right is None and numbers_left is not None:
        numbers_right = _parsed_numbers(right)
    if numbers_left is not None and numbers_right is not None:
        return numbers_left, numbers_right
    return _text(left), _text(right)


def _numbers(values: pd.Series) -> np.ndarray | None:
    """The values as canonical ``float64`` if the column holds numbers, else None."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if not (is_numeric_dtype(categories.dtype) or is_bool_dtype(categories.dtype)):
            return None
        codes = values.cat.codes.to_numpy()
        as_float = categories.to_numpy(dtype="float64")
        picked = np.where(codes >= 0, as_float[np.maximum(codes, 0)], np.nan)
        return _canonical(picked)
    if not (is_numeric_dtype(dtype) or is_bool_dtype(dtype)):
        return None
    return _canonical(values.to_numpy(dtype="float64", na_value=np.nan))


def _parsed_numbers(values: pd.Series) -> np.ndarray | None:
    """Text that reads entirely as numbers, as canonical ``float64``; None if any does not."""
    source = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
    parsed = pd.to_numeric(source, errors="coerce")
    if bool((parsed.isna() & source.notna()).any()):
        return None
    return _canonical(parsed.to_numpy(dtype="float64", na_value=np.nan))


def _canonical(values: np.ndarray) -> np.ndarray:
    """One bit pattern per number: the row hash hashes bytes, and -0.0 or NaN payloads differ."""
    return np.where(np.isnan(values), np.nan, values + 0.0)


def _text(values: pd.Series) -> np.ndarray:
    """The values as strings (``str`` of each), nulls as one marker."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = np.array([str(c) for c in values.cat.categories] + [_NULL_TEXT], dtype=object)
        return labels[values.cat.codes.to_numpy()]  # code -1 (null) picks the marker
    objects = values.to_numpy(dtype=object)
    nulls = values.isna().to_numpy()
    texts = np.array([str(v) for v in objects], dtype=object)
    texts[nulls] = _NULL_TEXT
    return texts


# --- predictions ----------------------------------------------------------------------------


class ModelPredictions(BaseModel):
    """One model's outputs on the compared rows: enough to compute any metric of its task.

    ``y_pred`` is what the evaluation step scores decisions on: ``predict`` for binary (the
    served threshold) and regression, the arg-max class of ``proba`` for multiclass.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    task: str
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None
    positive: Any = None

    @model_validator(mode="after")
    def _fits_task(self) -> ModelPredictions:
        if self.task not in METRICS_BY_TASK:
            raise ValueError(f"unknown task '{self.task}'; expected one of {list(METRICS_BY_TASK)}")
        if self.task == "regression":
            return self
        if self.proba is None or self.classes is None:
            raise ValueError(f"{self.task} predictions need proba and classes")
        if self.proba.shape != (len(self.y_pred), len(self.classes)):
            raise ValueError(
                f"proba has shape {self.proba.shape}, expected "
                f"({len(self.y_pred)}, {len(self.classes)})"
            )
        if self.task == "binary" and self.positive is None:
            raise ValueError("binary predictions need the positive label")
        return self

    @property
    def rows(self) -> int:
        """Number of predicted rows."""
        return len(self.y_pred)

    @property
    def y_score(self) -> np.ndarray:
        """Binary: the probability of the positive label (what ranking metrics rank)."""
        if self.proba is None or self.classes is None:
            raise ValueError("regression predictions have no scores")
        return self.proba[:, positive_column(self.classes, self.positive)]


def predict_on(
    model: BaseEstimator, rows: pd.DataFrame, target: str, task: str, positive_class: str | None
) -> ModelPredictions:
    """The model's predictions on ``rows``, as :func:`~steps.evaluation.metrics.evaluate` takes them.

    The model gets every column except the target (its ColumnTransformer picks its own by
    name, so segment columns and the other model's features do no harm). No rows gives empty
    predictions rather than a scikit-learn error; their metrics are NaN and the gates say so.
    """
    if target not in rows.columns:
        raise ValueError(f"the target '{target}' is not a column of the compared rows")
    if task not in METRICS_BY_TASK:
        raise ValueError(f"unknown task '{task}'; expected one of {list(METRICS_BY_TASK)}")
    features = rows.drop(columns=[target])
    if task == "regression":
        y_pred = model.predict(features) if len(rows) else np.empty(0)
        return ModelPredictions(task=task, y_pred=np.asarray(y_pred, dtype=float))
    classes = np.asarray(model.classes_)
    if len(rows):
        proba = np.asarray(model.predict_proba(features), dtype=float)
    else:
        proba = np.empty((0, len(classes)))
    if task == "binary":
        y_pred = np.asarray(model.predict(features)) if len(rows) else classes[:0]
        return ModelPredictions(
            task=task,
            y_pred=y_pred,
            proba=proba,
            classes=classes,
            positive=positive_label(classes, positive_class),
        )
    arg_max = classes[np.argmax(proba, axis=1)] if len(rows) else classes[:0]
    return ModelPredictions(task=task, y_pred=arg_max, proba=proba, classes=classes)


# --- metrics under row weights ----------------------------------------------------------------


def check_metric(metric: str, task: str) -> None:
    """Raise ValueError unless ``metric`` is one of the task's metrics (METRICS_BY_TASK)."""
    if task not in METRICS_BY_TASK:
        raise ValueError(f"unknown task '{task}'; expected one of {list(METRICS_BY_TASK)}")
    if metric not in METRICS_BY_TASK[task]:
        raise ValueError(
            f"unknown metric '{metric}' for task '{task}'; "
            f"expected one of {list(METRICS_BY_TASK[task])}"
        )


def metric_value(
    metric: str,
    task: str,
    y_true: np.ndarray,
    predictions: ModelPredictions,
    index: np.ndarray | None = None,
) -> float:
    """One metric of the predictions, on all rows or on the rows at ``index`` (repeats count).

    Same definitions as :mod:`steps.evaluation.metrics` (NaN where they give NaN, e.g. ROC AUC
    on a single class or R² on one row). ``index`` holds row positions: a segment's rows, or a
    bootstrap resample drawn with replacement. For many resamples of the same rows build the
    scorer once with :func:`weighted_metric`, as :func:`compare_models` does.
    """
    score = weighted_metric(metric, task, y_true, predictions)
    rows = len(predictions.y_pred)
    if index is None:
        return score(np.ones(rows))
    return score(np.bincount(np.asarray(index, dtype=np.intp), minlength=rows).astype(float))


def weighted_metric(
    metric: str, task: str, y_true: np.ndarray, predictions: ModelPredictions
) -> WeightedMetric:
    """The metric of these fixed predictions as a function of row weights.

    Everything that does not depend on the weights (label masks, the score order) is computed
    here once. Raises ValueError for an unknown metric or mismatched lengths.
    """
    check_metric(metric, task)
    if predictions.task != task:
        raise ValueError(f"predictions are for task '{predictions.task}', not '{task}'")
    y = np.asarray(y_true)
    if len(y) != predictions.rows:
        raise ValueError(f"{len(y)} labels for {predictions.rows} predictions")
    if task == "regression":
        return _regression_metric(metric, y.astype(float), predictions.y_pred.astype(float))
    if task == "binary":
        return _binary_metric(metric, y, predictions)
    return _multiclass_metric(metric, y, predictions)


def _regression_metric(metric: str, y: np.ndarray, y_pred: np.ndarray) -> WeightedMetric:
    error = y_pred - y
    squared, absolute = error * error, np.abs(error)

    def rmse(w: np.ndarray) -> float:
        total = w.sum()
        return math.sqrt(float(w @ squared) / total) if total else math.nan

    def mae(w: np.ndarray) -> float:
        total = w.sum()
        return float(w @ absolute) / total if total else math.nan

    def r2(w: np.ndarray) -> float:
        total = w.sum()
        if total < 2:  # regression_metrics: R² needs two rows
            return math.nan
        mean = float(w @ y) / total
        spread = float(w @ ((y - mean) ** 2))
        residual = float(w @ squared)
        if spread == 0:  # scikit-learn's force_finite convention
            return 1.0 if residual == 0 else 0.0
        return 1.0 - residual / spread

    return {"rmse": rmse, "mae": mae, "r2": r2}[metric]


@dataclass(frozen=True)
class _Ranking:
    """Scores sorted once, ascending, with the tie group of each sorted position."""

    order: np.ndarray
    group: np.ndarray
    groups: int


def _ranking(scores: np.ndarray) -> _Ranking:
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    group = np.zeros(len(order), dtype=np.intp)
    if len(order) > 1:
        np.cumsum(ordered[1:] != ordered[:-1], out=group[1:])
    return _Ranking(order=order, group=group, groups=int(group[-1]) + 1 if len(order) else 0)


def _tie_sums(
    ranking: _Ranking, w: np.ndarray, positive_sorted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per tie group, groups in ascending score order."""
    sorted_w = w[ranking.order]
    pos = np.bincount(ranking.group, weights=sorted_w * positive_sorted, minlength=ranking.groups)
    every = np.bincount(ranking.group, weights=sorted_w, minlength=ranking.groups)
    return pos, every - pos


def _auc(ranking: _Ranking, w: np.ndarray, positive_sorted: np.ndarray) -> float:
    """ROC AUC: the chance a positive outranks a negative, ties counting half."""
    pos, neg = _tie_sums(ranking, w, positive_sorted)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos == 0 or total_neg == 0:
        return math.nan
    negatives_below = np.cumsum(neg) - neg
    return float(pos @ (negatives_below + 0.5 * neg)) / (total_pos * total_neg)


def _average_precision(ranking: _Ranking, w: np.ndarray, positive_sorted: np.ndarray) -> float:
    """Average precision as scikit-learn defines it: precision at each distinct threshold,
    weighted by the recall gained there."""
    pos, neg = _tie_sums(ranking, w, positive_sorted)
    total_pos = pos.sum()
    if total_pos == 0 or neg.sum() == 0:
        return math.nan
    true_at = np.cumsum(pos[::-1])[::-1]  # positives scored at or above each threshold
    flagged_at = true_at + np.cumsum(neg[::-1])[::-1]
    precision = np.divide(true_at, flagged_at, out=np.zeros_like(true_at), where=flagged_at > 0)
    return float(pos @ precision) / total_pos


def _binary_metric(
    metric: str, y_true: np.ndarray, predictions: ModelPredictions
) -> WeightedMetric:
    actual = y_true == predictions.positive
    if metric in ("roc_auc", "pr_auc"):
        ranking = _ranking(predictions.y_score)
        positive_sorted = actual[ranking.order].astype(float)
        rank_metric = _auc if metric == "roc_auc" else _average_precision
        return lambda w: rank_metric(ranking, w, positive_sorted)
    predicted = np.asarray(predictions.y_pred) == predictions.positive
    actual_f, predicted_f = actual.astype(float), predicted.astype(float)
    hit = (actual & predicted).astype(float)

    def decision(w: np.ndarray) -> float:
        total, positives, flagged = w.sum(), float(w @ actual_f), float(w @ predicted_f)
        caught = float(w @ hit)
        if metric == "accuracy":
            return (total - positives - flagged + 2 * caught) / total if total else math.nan
        if metric == "precision":
            return caught / flagged if flagged else 0.0
        if metric == "recall":
            return caught / positives if positives else 0.0
        return 2 * caught / (positives + flagged) if caught else 0.0  # f1

    return decision


def _label_codes(labels: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes of ``labels`` in ``classes``; labels the model does not know get codes after them."""
    codes = pd.Index(classes).get_indexer(pd.Index(labels))
    unknown = codes < 0
    if not unknown.any():
        return codes, len(classes)
    extra, uniques = pd.factorize(labels[unknown])
    codes[unknown] = len(classes) + extra
    return codes, len(classes) + len(uniques)


def _multiclass_metric(
    metric: str, y_true: np.ndarray, predictions: ModelPredictions
) -> WeightedMetric:
    assert predictions.classes is not None and predictions.proba is not None  # validated
    classes, proba = predictions.classes, predictions.proba
    true_codes, labels = _label_codes(y_true, classes)
    if metric == "roc_auc":
        rankings = [_ranking(proba[:, k]) for k in range(len(classes))]
        positives = [(true_codes == k)[r.order].astype(float) for k, r in enumerate(rankings)]
        outside = (true_codes >= len(classes)).astype(float)

        def macro_auc(w: np.ndarray) -> float:
            if float(w @ outside) > 0:  # multiclass_metrics: NaN unless labels == classes
                return math.nan
            scores = [_auc(r, w, p) for r, p in zip(rankings, positives, strict=True)]
            return math.nan if any(math.isnan(s) for s in scores) else float(np.mean(scores))

        return macro_auc
    pred_codes, _ = _label_codes(np.asarray(predictions.y_pred), classes)
    cell = true_codes * labels + pred_codes

    def macro_decision(w: np.ndarray) -> float:
        counts = np.bincount(cell, weights=w, minlength=labels * labels).reshape(labels, labels)
        caught, actual, flagged = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
        total = counts.sum()
        if metric == "accuracy":
            return float(caught.sum() / total) if total else math.nan
        present = (actual + flagged) > 0  # scikit-learn: labels in y_true or y_pred
        if not present.any():
            return math.nan
        if metric == "precision":
            per_label = np.divide(caught, flagged, out=np.zeros(labels), where=flagged > 0)
        elif metric == "recall":
            per_label = np.divide(caught, actual, out=np.zeros(labels), where=actual > 0)
        else:  # f1
            per_label = np.divide(2 * caught, actual + flagged, out=np.zeros(labels), where=present)
        return float(per_label[present].mean())

    return macro_decision


# --- champion vs challenger -----------------------------------------------------------------


class ComparisonFigures(BaseModel):
    """Champion and challenger on the same rows, and the challenger's improvement.

    ``improvement`` is direction-aware: positive means the challenger is better (for rmse and
    mae, champion minus challenger). ``interval`` is the paired-bootstrap percentile interval
    of the improvement; ``skipped_resamples`` counts the resamples on which the metric was
    undefined for either model (e.g. a single class), left out of the interval.
    """

    model_config = ConfigDict(frozen=True)

    metric: str
    rows: int
    champion: float
    challenger: float
    improvement: float
    interval: tuple[float, float] | None = None
    confidence: float | None = None
    resamples: int | None = None
    skipped_resamples: int | None = None
    seed: int | None = None

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller value of the metric is better (rmse, mae)."""
        return self.metric in LOWER_IS_BETTER


def compare_models(
    y_true: np.ndarray,
    champion: ModelPredictions,
    challenger: ModelPredictions,
    metric: str,
    task: str,
    bootstrap: BootstrapConfig | None,
) -> ComparisonFigures:
    """Both models' metric on the compared rows, the improvement and its bootstrap interval.

    The bootstrap is paired: each resample draws one set of row positions (a seeded numpy
    Generator, ``bootstrap.seed``) and scores both models on it, so the noise the two share
    cancels and the interval is that of the difference itself (percentile method).

    Measured on the project's 2-core machine: 1000 resamples of 10,000 rows take about 0.26 s
    for roc_auc, 0.28 s for pr_auc and under 0.1 s for f1, accuracy, rmse or r2; scikit-learn's
    ``roc_auc_score`` costs about 5 ms a call, so the same bootstrap through it took ~10 s.
    """
    champion_score = weighted_metric(metric, task, y_true, champion)
    challenger_score = weighted_metric(metric, task, y_true, challenger)
    rows = challenger.rows
    if champion.rows != rows:
        raise ValueError(f"champion has {champion.rows} predictions, challenger {rows}")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    everything = np.ones(rows)
    champion_value = champion_score(everything)
    challenger_value = challenger_score(everything)
    figures = ComparisonFigures(
        metric=metric,
        rows=rows,
        champion=champion_value,
        challenger=challenger_value,
        improvement=sign * (challenger_value - champion_value),
    )
    if bootstrap is None:
        return figures
    interval, skipped = _paired_interval(champion_score, challenger_score, rows, sign, bootstrap)
    return figures.model_copy(
        update={
            "interval": interval,
            "confidence": bootstrap.confidence,
            "resamples": bootstrap.resamples,
            "skipped_resamples": skipped,
            "seed": bootstrap.seed,
        }
    )


def _paired_interval(
    champion_score: WeightedMetric,
    challenger_score: WeightedMetric,
    rows: int,
    sign: float,
    config: BootstrapConfig,
) -> tuple[tuple[float, float], int]:
    """The percentile interval of the improvement over paired resamples, and how many were
    skipped as undefined. No usable resample (or no rows) gives a NaN interval, which fails."""
    if rows == 0:
        return (math.nan, math.nan), config.resamples
    rng = np.random.default_rng(config.seed)
    improvements = np.empty(config.resamples)
    kept = 0
    for _ in range(config.resamples):
        weights = np.bincount(rng.integers(0, rows, size=rows), minlength=rows).astype(float)
        difference = sign * (challenger_score(weights) - champion_score(weights))
        if not math.isnan(difference):
            improvements[kept] = difference
            kept += 1
    skipped = config.resamples - kept
    if kept == 0:
        return (math.nan, math.nan), skipped
    tail = (1.0 - config.confidence) / 2
    low, high = np.quantile(improvements[:kept], [tail, 1.0 - tail])
    return (float(low), float(high)), skipped


# --- segments -------------------------------------------------------------------------------


class SegmentFigure(BaseModel):
    """The metric on one value of the segment column, and whether the fairness gate judges it."""

    model_config = ConfigDict(frozen=True)

    value: str
    rows: int
    metric: float | None
    judged: bool
    note: str = ""


def segment_figures(
    rows: pd.DataFrame,
    y_true: np.ndarray,
    predictions: ModelPredictions,
    segment: str,
    metric: str,
    task: str,
    min_rows: int,
) -> list[SegmentFigure]:
    """The metric per value of ``segment`` over the compared rows, largest segments first.

    Nulls form their own segment, ``"<null>"``: rows with a missing attribute are people too.
    A segment with fewer than ``min_rows`` rows, or on which the metric is undefined (one
    class only), is reported with its figure but not judged: its gap would be noise.
    """
    if segment not in rows.columns:
        raise ValueError(
            f"segment column '{segment}' (deployment.fairness.segment) is not a column of the "
            f"compared rows; columns: {[str(c) for c in rows.columns]}"
        )
    score = weighted_metric(metric, task, y_true, predictions)
    if len(rows) != predictions.rows:
        raise ValueError(f"{len(rows)} rows for {predictions.rows} predictions")
    codes, values = pd.factorize(rows[segment], use_na_sentinel=True)
    names = [str(v) for v in values] + [NULL_SEGMENT]  # code -1 -> the last name
    counts = np.bincount(codes + 1, minlength=len(values) + 1)  # position 0 holds the nulls
    figures = []
    for code in [*range(len(values)), -1]:
        count = int(counts[code + 1])
        if count:
            value = score((codes == code).astype(float))
            figures.append(_segment_figure(names[code], count, value, min_rows))
    return sorted(figures, key=lambda f: (-f.rows, f.value))


def _segment_figure(name: str, count: int, value: float, min_rows: int) -> SegmentFigure:
    """Judged only with enough rows and a defined metric; otherwise the note says why not."""
    reasons = []
    if count < min_rows:
        reasons.append(f"fewer than deployment.fairness.min_rows={min_rows}")
    if math.isnan(value):
        reasons.append("the metric is undefined on it (e.g. a single class)")
    return SegmentFigure(
        value=name,
        rows=count,
        metric=None if math.isnan(value) else value,
        judged=not reasons,
        note="; ".join(reasons),
    )
