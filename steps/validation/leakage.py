"""The leakage probe: does one feature, on its own, predict the target almost perfectly?

A single column that separates the classes (or orders a regression target) nearly perfectly is
far more often a leak than a gift: a row number of a file sorted by the target, a field filled
in after the outcome, a text label of the target. The probe scores every feature *alone* on a
seeded sample of the training split and reports those above the configured limit; the caller
(the leakage gate step) fails or warns. Plain numpy/pandas, no ZenML, no model fitting.

How a feature is scored
-----------------------
Every score is "how well this column alone ranks the target", taken as the larger of two views:

* **rank** (numeric features only): the raw values, in either direction, with nulls tied at
  the low or at the high end (whichever ranks better). No parameter is learnt beyond that
  direction, so a column cannot score well by memorising rows, and the score keeps the full
  resolution of the values (a binned view loses the top 1 % that a rare class lives in).
* **encoded** (numeric and categorical): numeric values are cut into up to ``N_BINS``
  quantile bins (ties never split, a column with few distinct values keeps one bin per value,
  nulls get their own bin); categories are used as they are (nulls their own). The sample is
  split into two halves (stratified on the class); each half's rows are scored with the target
  rates (or means) *learnt on the other half*, smoothed towards that half's prior with weight
  ``SMOOTHING``, so a category or bin unseen there gets the prior. The score is the mean of the
  halves' figures over ``REPEATS`` seeded splits (one split of a small sample is noisy).
  Learning the encoding makes the view direction-free and catches non-monotone and categorical
  leaks; learning it out of fold keeps a high-cardinality column (an id) from scoring well by
  memorising: its ids are all unseen on the other half.

Measures, per task:

* ``binary``: ROC AUC (``roc_auc``), positive class = ``positive_class`` matched by ``str()``,
  else (not given, or matching no label) the label that sorts last. With two labels the score does not depend on which one is
  positive (both views are direction-free); it matters only when a "binary" target has more
  labels, which are then scored one against the rest.
* ``multiclass``: macro one-vs-rest ROC AUC (``macro_roc_auc``): each class's AUC of the
  column (rank view: the better direction per class; encoded view: that class's learnt rate),
  averaged over the classes. A perfect separation of one class from the others (iris setosa by
  petal width) does not make the macro score perfect; a copy of the target does.
* ``regression``: ``abs_spearman``: \\|Spearman\\| of the raw values with the target (numeric,
  nulls at either end), or of the out-of-fold target-mean encoding with the target (numeric
  bins and categoricals), whichever is larger; the encoded view is clipped at 0, since a learnt
  encoding that anti-correlates on the other half is noise.

Left out
--------
* ``text`` features are not scored and are absent from the score dict (a free-text field
  would need a model of its own; an exact copy of a label in text is usually also declared as,
  or caught by, a categorical column).
* A column with a single value (constant, or all null) scores 0.5 AUC / 0 and is never a
  finding. A column whose declared kind is ``numeric`` but whose dtype is not numeric is scored
  as categories.
* Rows with a null target are dropped before sampling. A classification target with fewer
  than two classes, or a class with fewer than ``MIN_CLASS_ROWS`` rows in the sample, cannot be
  judged: with a single usable class the probe returns no findings and no scores (the class
  checks report that), and in multiclass a class that rare is left out of the macro average.
* ``action: off`` returns no findings and no scores without reading the data; ``warn`` and
  ``fail`` score the same way (the caller decides what a finding does).

Sampling
--------
At most ``config.sample_rows`` rows, drawn with ``numpy.random.default_rng(seed)``: regression
plainly, classification stratified, each class keeping its share but topped up to at least
``min(its rows, sample_rows // (4 * classes))`` so a rare class is scored on enough rows (ROC AUC
does not depend on the class mix, so the top-up changes the noise, not the figure). Only the
sampled rows of the scored columns are read, so the cost beyond the sample is one pass over
the target column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from configs.schema import FeatureSpec, LeakageCheck

#: Most quantile bins a numeric feature is cut into for the encoded view.
N_BINS = 32
#: Weight (in rows) of the prior in a bin's smoothed target rate or mean.
SMOOTHING = 1.0
#: Seeded 2-fold splits the encoded view is averaged over: one split of a small sample (iris'
#: 120 training rows) moves a score by +-0.02, four by about half that.
REPEATS = 4
#: Fewest sampled rows a class needs to be scored (with fewer, a chance ordering of a couple
#: of rows could reach any AUC).
MIN_CLASS_ROWS = 5

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: One 2-fold split of a regression sample: each row's half, and the target's ranks per half.
_Split = tuple[IntArray, list[FloatArray]]

_MEASURE_WORDS = {
    "roc_auc": "single-feature ROC AUC",
    "macro_roc_auc": "single-feature macro one-vs-rest ROC AUC",
    "abs_spearman": "single-feature |Spearman| with the target",
}


class LeakFinding(BaseModel):
    """One feature whose single-feature score is above the limit."""

    model_config = ConfigDict(frozen=True)

    column: str
    kind: str = Field(description="The feature's kind (numeric or categorical).")
    measure: Literal["roc_auc", "macro_roc_auc", "abs_spearman"]
    value: float
    limit: float
    method: Literal["rank", "encoded"] = Field(
        description="The view that scored highest: raw values ranked, or out-of-fold encoding."
    )
    rows: int = Field(description="Training rows the probe looked at.")
    total_rows: int = Field(description="Training rows with a target (the sampled population).")

    def describe(self) -> str:
        """One sentence a person can act on, naming the column and the figure."""
        sampled = "sampled " if self.rows < self.total_rows else ""
        return (
            f"feature '{self.column}' alone predicts the target: "
            f"{_MEASURE_WORDS[self.measure]} {self.value:.4f} on {self.rows} {sampled}"
            f"training rows (limit {self.limit:g})"
        )


@dataclass(frozen=True)
class _Groups:
    """A sampled column as integer groups: equal values share a group.

    ``gid`` is each row's group; groups of a numeric column are numbered in value order with
    the null group (if any) last. ``bins`` maps a group to its encoded-view bin.
    """

    gid: IntArray
    n_groups: int
    has_null: bool
    ordered: bool
    bins: IntArray

    @property
    def n_bins(self) -> int:
        return int(self.bins.max()) + 1 if self.bins.size else 1


def probe_leakage(
    train: pd.DataFrame,
    features: Sequence[FeatureSpec],
    target: str,
    task: str,
    config: LeakageCheck,
    positive_class: str | None = None,
    seed: int = 0,
) -> tuple[list[LeakFinding], dict[str, float]]:
    """Findings above the limit, and every feature's score (for the record).

    ``train`` is the training split (never the holdout); ``task`` is ``binary``,
    ``multiclass`` or ``regression``. Scores are keyed by feature name, text features omitted
    (see the module docstring for the measures, views and what is left out). The same inputs
    and ``seed`` always give the same scores. Raises ``ValueError`` when a feature or the
    target is not a column of ``train``, or a regression target is not numeric.
    """
    if config.action == "off":
        return [], {}
    missing = [name for name in [target, *(f.name for f in features)] if name not in train]
    if missing:
        raise ValueError(f"leakage probe: columns {missing} are not in the training split")
    if task not in ("binary", "multiclass", "regression"):
        raise ValueError(f"leakage probe: unknown task '{task}'")
    scored = [f for f in features if f.kind != "text"]
    rng = np.random.default_rng(seed)
    if task == "regression":
        return _probe_regression(train, scored, target, config, rng)
    return _probe_classification(train, scored, target, task, config, positive_class, rng)


# --- classification ---------------------------------------------------------------------------


def _probe_classification(
    train: pd.DataFrame,
    features: Sequence[FeatureSpec],
    target: str,
    task: str,
    config: LeakageCheck,
    positive_class: str | None,
    rng: np.random.Generator,
) -> tuple[list[LeakFinding], dict[str, float]]:
    codes, labels = pd.factorize(train[target], sort=False)
    codes = np.asarray(codes, dtype=np.int64)
    if len(labels) < 2:
        return [], {}
    if task == "binary":
        positive = _positive_code(list(labels), positive_class)
        codes = np.where(codes < 0, -1, (codes == positive).astype(np.int64))
        n_classes = 2
    else:
        n_classes = len(labels)
    valid = codes >= 0
    total = int(valid.sum())
    if np.count_nonzero(np.bincount(codes[valid], minlength=n_classes)) < 2:
        return [], {}
    rows = _stratified_sample(codes, n_classes, config.sample_rows, rng)
    y = codes[rows]
    class_rows = np.bincount(y, minlength=n_classes)
    classes = np.flatnonzero(class_rows >= MIN_CLASS_ROWS)
    if task == "binary":
        classes = classes[classes == 1] if classes.size == 2 else classes[:0]
    elif classes.size < 2:
        classes = classes[:0]
    if classes.size == 0:
        return [], {}
    folds = [_stratified_folds(y, n_classes, rng) for _ in range(REPEATS)]
    measure: Literal["roc_auc", "macro_roc_auc"] = (
        "roc_auc" if task == "binary" else "macro_roc_auc"
    )

    findings: list[LeakFinding] = []
    scores: dict[str, float] = {}
    for spec in features:
        groups = _groups(train[spec.name].iloc[rows], spec)
        value, method = _classification_score(groups, y, n_classes, classes, folds)
        scores[spec.name] = value
        if value >= config.max_auc:  # "at or above the limit" counts as a leak
            findings.append(
                LeakFinding(
                    column=spec.name,
                    kind=spec.kind,
                    measure=measure,
                    value=value,
                    limit=config.max_auc,
                    method=method,
                    rows=int(rows.size),
                    total_rows=total,
                )
            )
    return findings, scores


def _positive_code(labels: list[Any], positive_class: str | None) -> int:
    """The code of the positive label: ``positive_class`` by ``str()``, else the last sorted."""
    if positive_class is not None:
        for code, label in enumerate(labels):
            if str(label) == positive_class:
                return code
    try:
        last = sorted(labels)[-1]
    except TypeError:
        last = sorted(labels, key=str)[-1]
    return labels.index(last)


def _classification_score(
    groups: _Groups, y: IntArray, n_classes: int, classes: IntArray, folds: list[IntArray]
) -> tuple[float, Literal["rank", "encoded"]]:
    if groups.n_groups <= 1:
        return 0.5, "rank"
    rank = 0.5
    if groups.ordered:
        counts = _bincount(groups.gid * n_classes + y, groups.n_groups * n_classes)
        rank = _rank_auc(counts.reshape(groups.n_groups, n_classes), groups.has_null, classes)
    encoded = _encoded_auc(groups.bins[groups.gid], groups.n_bins, y, n_classes, classes, folds)
    if encoded > rank:
        return encoded, "encoded"
    return rank, "rank"


def _rank_auc(counts: FloatArray, has_null: bool, classes: IntArray) -> float:
    """Macro AUC of the groups in value order, best direction per class, nulls at either end."""
    orders = [np.arange(counts.shape[0])]
    if has_null:  # the null group is last; also try it first
        orders.append(np.roll(orders[0], 1))
    best = 0.0
    for order in orders:
        table = counts[order]
        pos = table[:, classes]
        neg = table.sum(axis=1, keepdims=True) - pos
        auc = _auc_sorted(pos, neg)
        best = max(best, float(np.mean(np.maximum(auc, 1.0 - auc))))
    return best


def _encoded_auc(
    bins: IntArray,
    n_bins: int,
    y: IntArray,
    n_classes: int,
    classes: IntArray,
    folds: list[IntArray],
) -> float:
    """Macro AUC of the per-class target rates learnt on the other half.

    Each class's AUC is the mean over every half of every split (a half without both
    outcomes of the class is left out); the macro score averages the classes.
    """
    halves: list[list[float]] = [[] for _ in classes]
    for fold in folds:
        index = (fold * n_bins + bins) * n_classes + y
        table = _bincount(index, 2 * n_bins * n_classes).reshape(2, n_bins, n_classes)
        rows_per_bin = table.sum(axis=2)
        prior = table.sum(axis=1) / table.sum(axis=(1, 2))[:, None]
        rates = (table + SMOOTHING * prior[:, None, :]) / (rows_per_bin[:, :, None] + SMOOTHING)
        for i, k in enumerate(classes):
            for f in (0, 1):
                pos = table[f, :, k]
                neg = rows_per_bin[f] - pos
                if pos.sum() > 0 and neg.sum() > 0:
                    halves[i].append(_auc_grouped(rates[1 - f, :, k], pos, neg))
    per_class = [float(np.mean(h)) for h in halves if h]
    return float(np.mean(per_class)) if per_class else 0.5


def _auc_sorted(pos: FloatArray, neg: FloatArray) -> FloatArray:
    """ROC AUC per column of groups already in ascending score order, no ties between groups.

    ``pos``/``neg`` are (groups, k) counts; rows within a group are tied (half credit).
    """
    below = np.cumsum(neg, axis=0) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=0)
    pairs = pos.sum(axis=0) * neg.sum(axis=0)
    return np.divide(wins, pairs, out=np.full(wins.shape, 0.5), where=pairs > 0)


def _auc_grouped(score: FloatArray, pos: FloatArray, neg: FloatArray) -> float:
    """ROC AUC of groups with a score each (groups with equal scores are tied)."""
    unique, inverse = np.unique(score, return_inverse=True)
    p = _bincount(inverse, unique.size, pos)
    n = _bincount(inverse, unique.size, neg)
    return float(_auc_sorted(p[:, None], n[:, None])[0])


def _stratified_sample(
    codes: IntArray, n_classes: int, sample_rows: int, rng: np.random.Generator
) -> IntArray:
    """Sorted row positions: each class its share, rare classes topped up (see module doc)."""
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=n_classes)
    total = int(counts.sum())
    if total <= sample_rows:
        return np.flatnonzero(valid)
    present = np.count_nonzero(counts)
    floor = sample_rows // (4 * present)
    quota = np.floor(counts * (sample_rows / total)).astype(np.int64)
    topped = quota < np.minimum(counts, floor)
    quota[topped] = np.minimum(counts, floor)[topped]
    room = sample_rows - int(quota[topped].sum())
    big = int(quota[~topped].sum())
    if big > room:
        quota[~topped] = np.floor(quota[~topped] * (room / big)).astype(np.int64)
    chosen = []
    for k, rows in _class_rows(codes, n_classes):
        if quota[k] > 0:
            chosen.append(rows[rng.choice(counts[k], size=quota[k], replace=False)])
    return np.sort(np.concatenate(chosen))


def _class_rows(codes: IntArray, n_classes: int) -> list[tuple[int, IntArray]]:
    """Each class's row positions (ascending): one scan per class when there are few classes,
    else one stable sort (a radix sort on 16-bit codes), cheaper than many scans at 10M rows."""
    if n_classes <= 8:
        return [(k, np.flatnonzero(codes == k)) for k in range(n_classes)]
    small = codes.astype(np.int16) if n_classes < 2**15 else codes
    order = np.argsort(small, kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=n_classes)
    starts = np.concatenate(([int(np.count_nonzero(codes < 0))], counts)).cumsum()
    return [(k, order[starts[k] : starts[k + 1]]) for k in range(n_classes)]


def _stratified_folds(y: IntArray, n_classes: int, rng: np.random.Generator) -> IntArray:
    """Fold 0/1 per row, each class split in halves (to one row), at random within a class."""
    shuffled = rng.permutation(y.size)
    order = shuffled[np.argsort(y[shuffled], kind="stable")]
    fold = np.empty(y.size, dtype=np.int64)
    fold[order] = np.arange(y.size) % 2
    return fold


# --- regression -------------------------------------------------------------------------------


def _probe_regression(
    train: pd.DataFrame,
    features: Sequence[FeatureSpec],
    target: str,
    config: LeakageCheck,
    rng: np.random.Generator,
) -> tuple[list[LeakFinding], dict[str, float]]:
    try:
        target_values = _as_float(train[target])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"leakage probe: regression target '{target}' is not numeric "
            f"(dtype {train[target].dtype})"
        ) from exc
    valid = np.flatnonzero(np.isfinite(target_values))
    total = int(valid.size)
    if total > config.sample_rows:
        rows = np.sort(rng.choice(valid, size=config.sample_rows, replace=False))
    else:
        rows = valid
    y = target_values[rows]
    if np.unique(y).size < 2:
        return [], {}
    ranks = _average_ranks(y)
    splits = []
    for _ in range(REPEATS):
        fold = (rng.permutation(y.size) < y.size // 2).astype(np.int64)
        splits.append((fold, [_average_ranks(y[fold == f]) for f in (0, 1)]))

    findings: list[LeakFinding] = []
    scores: dict[str, float] = {}
    for spec in features:
        groups = _groups(train[spec.name].iloc[rows], spec)
        value, method = _regression_score(groups, y, ranks, splits)
        scores[spec.name] = value
        if value >= config.max_abs_spearman:
            findings.append(
                LeakFinding(
                    column=spec.name,
                    kind=spec.kind,
                    measure="abs_spearman",
                    value=value,
                    limit=config.max_abs_spearman,
                    method=method,
                    rows=int(rows.size),
                    total_rows=total,
                )
            )
    return findings, scores


def _regression_score(
    groups: _Groups,
    y: FloatArray,
    ranks: FloatArray,
    splits: list[_Split],
) -> tuple[float, Literal["rank", "encoded"]]:
    if groups.n_groups <= 1:
        return 0.0, "rank"
    rank = 0.0
    if groups.ordered:
        count = _bincount(groups.gid, groups.n_groups)
        rank_sum = _bincount(groups.gid, groups.n_groups, ranks)
        position = np.arange(groups.n_groups, dtype=np.float64)
        rank = abs(_spearman_grouped(position, count, rank_sum, ranks))
        if groups.has_null:  # the null group is last; also try it first
            position[-1] = -1.0
            rank = max(rank, abs(_spearman_grouped(position, count, rank_sum, ranks)))
    encoded = _encoded_spearman(groups.bins[groups.gid], groups.n_bins, y, splits)
    if encoded > rank:
        return encoded, "encoded"
    return rank, "rank"


def _encoded_spearman(bins: IntArray, n_bins: int, y: FloatArray, splits: list[_Split]) -> float:
    """Spearman of the target means learnt on the other half, mean over halves, >= 0."""
    halves = []
    for fold, fold_ranks in splits:
        index = fold * n_bins + bins
        count = _bincount(index, 2 * n_bins).reshape(2, n_bins)
        total = _bincount(index, 2 * n_bins, y).reshape(2, n_bins)
        prior = total.sum(axis=1) / count.sum(axis=1)
        means = (total + SMOOTHING * prior[:, None]) / (count + SMOOTHING)
        for f in (0, 1):
            rank_sum = _bincount(bins[fold == f], n_bins, fold_ranks[f])
            halves.append(_spearman_grouped(means[1 - f], count[f], rank_sum, fold_ranks[f]))
    return max(0.0, float(np.mean(halves)))


def _spearman_grouped(
    score: FloatArray, count: FloatArray, rank_sum: FloatArray, ranks: FloatArray
) -> float:
    """Spearman of a per-group score with the target, from group tables.

    ``count`` and ``rank_sum`` are each group's rows and sum of target ranks; ``ranks`` are the
    target's average ranks over the same rows. Equal scores are tied (average ranks), as in
    ``scipy.stats.spearmanr``. A constant score gives 0.
    """
    keep = count > 0
    unique, inverse = np.unique(score[keep], return_inverse=True)
    n_u = _bincount(inverse, unique.size, count[keep])
    sum_u = _bincount(inverse, unique.size, rank_sum[keep])
    score_rank = np.cumsum(n_u) - n_u + (n_u + 1.0) / 2.0
    mean = (ranks.size + 1.0) / 2.0
    cov = float(np.sum((score_rank - mean) * (sum_u - n_u * mean)))
    var_score = float(np.sum(n_u * (score_rank - mean) ** 2))
    var_target = float(np.sum((ranks - mean) ** 2))
    if var_score <= 0.0 or var_target <= 0.0:
        return 0.0
    return float(cov / np.sqrt(var_score * var_target))


def _bincount(index: IntArray, size: int, weights: FloatArray | None = None) -> FloatArray:
    """Rows (or summed ``weights``) per index value ``0..size-1``, as floats."""
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64, copy=False)


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties averaged (``scipy.stats.rankdata(method='average')``)."""
    _, inverse, count = np.unique(values, return_inverse=True, return_counts=True)
    per_value = np.cumsum(count) - count + (count + 1.0) / 2.0
    return per_value[inverse]


# --- columns as groups ------------------------------------------------------------------------


def _groups(column: pd.Series, spec: FeatureSpec) -> _Groups:
    """Integer groups of a sampled column: value order for numerics, as-is for categories."""
    numeric = (
        spec.kind == "numeric"
        and not isinstance(column.dtype, pd.CategoricalDtype)
        and (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))
    )
    if numeric:
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biu":
            return _numeric_groups(column.to_numpy())  # no nulls; small ints sort by radix
        return _numeric_groups(_as_float(column))
    codes, uniques = pd.factorize(column, sort=False)
    gid = np.asarray(codes, dtype=np.int64)
    null = gid < 0
    has_null = bool(null.any())
    n_groups = len(uniques) + int(has_null)
    gid[null] = len(uniques)
    return _Groups(gid, n_groups, has_null, ordered=False, bins=np.arange(n_groups))


def _numeric_groups(values: npt.NDArray[Any]) -> _Groups:
    """Groups in value order (nulls last), and quantile bins over them."""
    null = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.size, dtype=bool)
    has_null = bool(null.any())
    present = values[~null] if has_null else values
    # numpy's stable sort is a radix sort for 8/16-bit values (most count-like columns).
    order = np.argsort(present, kind="stable" if present.dtype.itemsize <= 2 else "quicksort")
    ordered = present[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    count = np.diff(np.append(starts, present.size)) if present.size else starts
    inverse = np.empty(present.size, dtype=np.int64)
    inverse[order] = np.repeat(np.arange(starts.size), count)
    n_values = int(starts.size)
    gid = np.full(values.size, n_values, dtype=np.int64)
    gid[~null] = inverse
    if n_values <= N_BINS:
        bins = np.arange(n_values, dtype=np.int64)
    else:  # quantile bins over whole groups, so equal values never straddle a cut
        middle = np.cumsum(count) - count / 2.0
        bins = np.minimum((N_BINS * middle / count.sum()).astype(np.int64), N_BINS - 1)
        bins = np.unique(bins, return_inverse=True)[1].astype(np.int64)
    if has_null:
        bins = np.append(bins, bins.max() + 1 if bins.size else 0)
    return _Groups(gid, n_values + int(has_null), has_null, ordered=True, bins=bins)


def _as_float(column: pd.Series) -> FloatArray:
    """A numeric or boolean column as float64, nulls (None, NaN, pd.NA) as NaN."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return np.asarray(pd.to_numeric(column, errors="raise"), dtype=np.float64)
