"""Whole-batch drift statistics: one score per feature column, reference vs current batch.

The monitoring pipeline decides "has the data drifted?" from these figures, computed
on *every* row of the batch (the Evidently report, for people, is built on a sample).
So they must stay cheap at 10 million rows: everything here is whole-array numpy,
with no Python loop over rows, and columns are read in chunks of ``_CHUNK_ROWS`` so a
statistic never holds more than a chunk's worth of temporaries (the one exception is
Wasserstein, which needs one sorted copy of the column's finite values).

What is computed on what:

* **Binning** (:func:`fit_bins`) is fitted on the reference only, so the same bins
  score every batch and the counts of two batches are comparable. A numeric column
  with more than ``max_distinct`` distinct reference values gets reference-quantile
  edges; one with fewer (binary flags, counts, small codes) gets one bin per reference
  value, because quantile edges collapse on such columns and their PSI would read 0
  whatever happened; a categorical column gets one bin per reference category.
* **Counts** (:func:`bin_counts`) are int64 and additive over chunks of rows, so a
  caller may stream a file chunk by chunk and add the counts. Layout of the array:
  the regular bins in order, then (values/categories only) one "other" bin for values
  the reference never had, then always one last bin for missing values (NaN, None,
  +-inf).
* **Scores**: :func:`psi` and :func:`jensen_shannon` compare the non-missing bins of
  two count arrays (missing values are reported as shares beside the score, not mixed
  into it, as Evidently drops them before its tests); :func:`normed_wasserstein` is
  the exact 1-D Wasserstein-1 distance between the raw finite values divided by the
  reference's standard deviation (Evidently's ``wasserstein`` test).

Numbers are binned as float32. A float32 column in memory and the same numbers read
back from a CSV as float64 are then binned identically (``0.7`` in a CSV is not the
float64 of ``float32(0.7)``, and a value sitting on a quantile edge would otherwise
change bins). The price is that numbers closer than ~1e-7 relative count as equal, and
integers beyond 2**24 lose their last digits, both far below what drift binning sees.
Categories are compared as strings, so a pandas Categorical and the same values as
object strings (as read from CSV) give the same counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from configs.schema import FeatureSpec

DriftMethod = Literal["psi", "jensenshannon", "wasserstein"]
_METHODS: tuple[str, ...] = get_args(DriftMethod)
BinKind = Literal["quantiles", "values", "categories"]
Counts = npt.NDArray[np.int64]

#: Rows per chunk when a column is binned: small enough that every temporary is a few
#: MB (reused by the allocator instead of page-faulted in afresh for each column).
_CHUNK_ROWS = 1 << 20
#: Up to this many edges or values a chunk is binned by one vectorised comparison per
#: edge (10x faster than np.searchsorted at 10 edges); beyond it by searchsorted.
_MAX_COMPARISONS = 64
#: Evidently's lower bound on the reference std in normed Wasserstein (a constant
#: reference column would otherwise divide by zero).
_MIN_WASSERSTEIN_NORM = 0.001


class ColumnBins(BaseModel):
    """How one column is binned; fitted on the reference only, recorded with the run.

    ``quantiles``: ``edges`` e0 < e1 < ... < ek give the right-closed bins
    (-inf, e0], (e0, e1], ..., (ek, inf). Right-closed so a point mass that is also
    an edge (the zeros of a zero-inflated column) fills a bin of its own.
    ``values`` (numbers) / ``categories`` (strings): one bin per entry of ``values``,
    then one bin for values the reference never had. Every kind ends with one bin for
    missing values. See :func:`bin_labels` for a name per bin.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: BinKind
    edges: list[float] = []
    values: list[float] | list[str] = []

    @model_validator(mode="after")
    def _fits_kind(self) -> ColumnBins:
        if self.kind == "quantiles":
            if self.values:
                raise ValueError(f"column '{self.column}': quantile bins take no values")
            edges = np.asarray(self.edges, dtype=np.float64)
            if not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
                raise ValueError(
                    f"column '{self.column}': edges must be finite and strictly increasing"
                )
            return self
        if self.edges:
            raise ValueError(f"column '{self.column}': {self.kind} bins take no edges")
        numbers = all(isinstance(v, float | int) for v in self.values)
        if self.kind == "values" and not numbers:
            raise ValueError(f"column '{self.column}': value bins need numbers")
        if self.kind == "categories" and self.values and numbers:
            raise ValueError(f"column '{self.column}': category bins need strings")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"column '{self.column}': values must be distinct")
        return self

    @property
    def size(self) -> int:
        """Length of the count array :func:`bin_counts` returns for this column."""
        if self.kind == "quantiles":
            return len(self.edges) + 2
        return len(self.values) + 2


class ColumnStatistic(BaseModel):
    """One column's drift score and what it was computed on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: str
    method: DriftMethod
    score: float
    reference_rows: int
    current_rows: int
    reference_missing_share: float
    current_missing_share: float


# ---------------------------------------------------------------------------- binning


def fit_bins(
    reference: pd.DataFrame,
    features: Sequence[FeatureSpec],
    bins: int = 10,
    max_distinct: int = 20,
) -> dict[str, ColumnBins]:
    """Fit each non-text feature's bins on the reference (see :class:`ColumnBins`).

    ``bins`` is the number of quantile bins before edges that coincide (ties, a
    zero-inflated column) are merged; ``max_distinct`` is the most distinct values a
    numeric column may have and still get one bin per value (Evidently uses 20 too).
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if max_distinct < 1:
        raise ValueError(f"max_distinct must be at least 1, got {max_distinct}")
    scored = _scored_features(features)
    _require_columns(reference, scored, "reference")
    fitted: dict[str, ColumnBins] = {}
    for spec in scored:
        series = reference[spec.name]
        if spec.kind == "categorical":
            fitted[spec.name] = _fit_categories(spec.name, series)
        else:
            fitted[spec.name] = _fit_numeric(spec.name, series, bins, max_distinct)
    return fitted


def _fit_categories(column: str, series: pd.Series) -> ColumnBins:
    """One bin per category the reference holds, sorted (an unused declared one is dropped)."""
    seen: set[str] = set()
    for codes, names in _category_chunks(column, series):
        used = np.unique(codes[codes >= 0])
        seen.update(names[i] for i in used)
    return ColumnBins(column=column, kind="categories", values=sorted(seen))


def _fit_numeric(column: str, series: pd.Series, bins: int, max_distinct: int) -> ColumnBins:
    finite = _finite_float32(column, series)
    distinct = pd.unique(finite)
    if len(distinct) <= max_distinct:
        values = np.sort(distinct)
        return ColumnBins(column=column, kind="values", values=[float(v) for v in values])
    probabilities = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    quantiles = np.quantile(finite.astype(np.float64), probabilities)
    edges = np.unique(quantiles.astype(np.float32))
    return ColumnBins(column=column, kind="quantiles", edges=[float(e) for e in edges])


def bin_counts(column_bins: ColumnBins, values: pd.Series) -> Counts:
    """Count ``values`` into ``column_bins``' bins: int64, layout as in the module docstring.

    Counts are additive: the counts of two chunks of rows add up to the counts of both
    together, so a file can be streamed chunk by chunk.
    """
    if column_bins.kind == "categories":
        return _count_categories(column_bins, values)
    counts = np.zeros(column_bins.size, dtype=np.int64)
    if column_bins.kind == "quantiles":
        edges = np.asarray(column_bins.edges, dtype=np.float32)
        for chunk in _float32_chunks(column_bins.column, values):
            counts += _count_quantiles(edges, chunk)
    else:
        points = np.asarray(column_bins.values, dtype=np.float32)
        for chunk in _float32_chunks(column_bins.column, values):
            counts += _count_values(points, chunk)
    return counts


def _count_quantiles(edges: npt.NDArray[np.float32], chunk: npt.NDArray[np.float32]) -> Counts:
    """Counts for right-closed bins around ``edges``, then the missing bin."""
    finite = _drop_non_finite(chunk)
    k = len(edges)
    counts = np.empty(k + 2, dtype=np.int64)
    if k <= _MAX_COMPARISONS:
        # count(x <= e_i) per edge; the bins are the differences of these cumulative counts.
        at_most = np.array([np.count_nonzero(finite <= e) for e in edges], dtype=np.int64)
        counts[:k] = np.diff(at_most, prepend=0)
        counts[k] = finite.size - (at_most[-1] if k else 0)
    else:
        # side="left": x lands in bin i when edges[i - 1] < x <= edges[i].
        counts[: k + 1] = np.bincount(np.searchsorted(edges, finite, side="left"), minlength=k + 1)
    counts[k + 1] = chunk.size - finite.size
    return counts


def _count_values(points: npt.NDArray[np.float32], chunk: npt.NDArray[np.float32]) -> Counts:
    """Counts for one bin per reference value, then "other", then missing."""
    finite = _drop_non_finite(chunk)
    k = len(points)
    counts = np.zeros(k + 2, dtype=np.int64)
    if 0 < k <= _MAX_COMPARISONS:
        counts[:k] = [np.count_nonzero(finite == p) for p in points]
    elif k:
        position = np.minimum(np.searchsorted(points, finite), k - 1)
        matched = position[points[position] == finite]
        counts[:k] = np.bincount(matched, minlength=k)
    counts[k] = finite.size - counts[:k].sum()
    counts[k + 1] = chunk.size - finite.size
    return counts


def _count_categories(column_bins: ColumnBins, values: pd.Series) -> Counts:
    """Counts per reference category, then "other" (unseen), then missing."""
    k = len(column_bins.values)
    index = {str(name): i for i, name in enumerate(column_bins.values)}
    counts = np.zeros(k + 2, dtype=np.int64)
    for codes, names in _category_chunks(column_bins.column, values):
        # bincount of code + 1: slot 0 holds the missing rows (code -1).
        per_code = np.bincount(codes.astype(np.intp) + 1, minlength=len(names) + 1)
        target = np.fromiter((index.get(n, k) for n in names), dtype=np.intp, count=len(names))
        np.add.at(counts, target, per_code[1:])
        counts[k + 1] += per_code[0]
    return counts


def bin_labels(column_bins: ColumnBins) -> list[str]:
    """A readable name per bin, aligned with :func:`bin_counts` (for reports and tests)."""
    if column_bins.kind == "quantiles":
        bounds = ["-inf", *(f"{e:g}" for e in column_bins.edges), "inf"]
        labels = [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(bounds)]
        labels[-1] = labels[-1][:-1] + ")"
        return [*labels, "missing"]
    return [*(str(v) for v in column_bins.values), "other", "missing"]


# --------------------------------------------------------------------- column readers


def _float32_chunks(column: str, series: pd.Series) -> Iterator[npt.NDArray[np.float32]]:
    """The column as float32, a chunk at a time (a view when it already is float32)."""
    for start in range(0, len(series), _CHUNK_ROWS):
        part = series.iloc[start : start + _CHUNK_ROWS]
        try:
            yield part.to_numpy(dtype=np.float32, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"column '{column}' is declared numeric but holds values that are not "
                f"numbers (dtype {series.dtype}): {error}"
            ) from error


def _finite_float32(column: str, series: pd.Series) -> npt.NDArray[np.float32]:
    parts = [_drop_non_finite(chunk) for chunk in _float32_chunks(column, series)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)


def _drop_non_finite(chunk: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The finite values (a copy only if there is something to drop)."""
    finite = np.isfinite(chunk)
    return chunk if finite.all() else chunk[finite]


def _category_chunks(
    column: str, series: pd.Series
) -> Iterator[tuple[npt.NDArray[np.integer], list[str]]]:
    """(codes, names) per chunk: code -1 is missing, names[code] the category as a string.

    A Categorical hands over its codes without any work; any other column (object
    strings from a CSV, numbers, pyarrow strings) is factorised a chunk at a time,
    which hashes each value once.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.array.codes
        names = _category_names(series.cat.categories)
        for start in range(0, len(codes), _CHUNK_ROWS):
            yield codes[start : start + _CHUNK_ROWS], names
        return
    for start in range(0, len(series), _CHUNK_ROWS):
        codes, uniques = pd.factorize(series.iloc[start : start + _CHUNK_ROWS])
        yield codes, _category_names(uniques)


def _category_names(uniques: object) -> list[str]:
    """Categories as strings; a whole float prints as an integer (a CSV's 3.0 is 3)."""
    names = []
    for value in pd.Index(uniques):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            names.append(str(int(value)))
        else:
            names.append(str(value))
    return names


# ----------------------------------------------------------------------------- scores


def psi(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike, floor: float = 1e-4
) -> float:
    """Population stability index: sum over bins of (c - r) * ln(c / r) on shares.

    Shares are floored at ``floor`` because a bin empty on one side would make the
    log infinite: a category new in the batch, or a quantile bin beyond the
    reference's range, would read as infinite drift. With the floor an empty bin adds
    a finite amount that still grows with the other side's share (1e-4, i.e. 0.01 %,
    is the usual choice and Evidently's). Shares are not renormalised after flooring.
    """
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    r, c = _shares(reference_counts, current_counts)
    r = np.maximum(r, floor)
    c = np.maximum(c, floor)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike) -> float:
    """Jensen-Shannon *distance* (the square root of the divergence), natural log.

    Natural log, as ``scipy.spatial.distance.jensenshannon``'s default (``base=None``)
    and as Evidently calls it, so the distance lies in [0, sqrt(ln 2)] ~ [0, 0.833]
    and Evidently's default threshold 0.1 means the same here. Empty bins need no
    floor: 0 * ln(0) is 0.
    """
    p, q = _shares(reference_counts, current_counts)
    m = (p + q) / 2.0
    divergence = (_relative_entropy(p, m) + _relative_entropy(q, m)) / 2.0
    return float(np.sqrt(max(divergence, 0.0)))


def _relative_entropy(p: npt.NDArray[np.float64], m: npt.NDArray[np.float64]) -> float:
    used = p > 0
    return float(np.sum(p[used] * np.log(p[used] / m[used])))


def _shares(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.ndim != 1 or r.shape != c.shape or r.size == 0:
        raise ValueError(
            f"counts must be two 1-D arrays of one length, got shapes {r.shape} and {c.shape}"
        )
    if (r < 0).any() or (c < 0).any():
        raise ValueError("counts must not be negative")
    if r.sum() == 0 or c.sum() == 0:
        raise ValueError("counts are all zero on one side; there is no distribution to compare")
    return r / r.sum(), c / c.sum()


def normed_wasserstein(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Exact 1-D Wasserstein-1 distance divided by the reference's standard deviation.

    This is Evidently 0.7's ``wasserstein`` test (``_wasserstein_distance_norm``):
    ``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``, where the
    population std (ddof=0) is floored at 0.001 so a constant reference does not
    divide by zero, and NaN and +-inf are dropped first (Evidently replaces inf with
    NaN and drops NaN before any test). Empty after dropping is an error, as in
    Evidently.

    Both samples are sorted once (in their common dtype, so a float32 column is not
    copied to float64) and the distance is integrated in closed form over runs of the
    longer sample (see :func:`_wasserstein_sorted`): one sort and one summing pass.
    ``scipy.stats.wasserstein_distance`` instead sorts the pooled samples and binary-
    searches every point, ~100 s for 18 columns of 10M rows.
    """
    ref = _numeric_input(np.asarray(reference))
    cur = _numeric_input(np.asarray(current))
    common = np.result_type(ref.dtype, cur.dtype)
    ref = _sorted_finite(ref, common)
    cur = _sorted_finite(cur, common)
    if ref.size == 0 or cur.size == 0:
        side = "reference" if ref.size == 0 else "current"
        raise ValueError(f"normed_wasserstein: the {side} sample has no finite values")
    norm = max(float(np.std(ref.astype(np.float64))), _MIN_WASSERSTEIN_NORM)
    return _wasserstein_sorted(ref, cur) / norm


def _numeric_input(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if values.dtype.kind == "b":
        return values.view(np.uint8)
    if values.dtype.kind not in "iuf":
        return values.astype(np.float64)
    return values


def _sorted_finite(values: npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """A sorted copy of the finite values as ``dtype`` (made with one copy, not two)."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]  # a copy already: convert and sort it in place
            values = values.astype(dtype, copy=False)
            values.sort(kind=_sort_kind(dtype))
            return values
    return np.sort(values.astype(dtype, copy=False), kind=_sort_kind(dtype))


def _sort_kind(dtype: np.dtype[Any]) -> Literal["stable", "quicksort"]:
    """Radix sort (``stable`` on 8/16-bit integers) is O(n) and 10x faster there."""
    return "stable" if dtype.kind in "iu" and dtype.itemsize <= 2 else "quicksort"


def _wasserstein_sorted(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """W1 of two sorted samples of one dtype, as the integral of |Q_a(t) - Q_b(t)| dt.

    Let a be the longer sample (W1 is symmetric), n_a >= n_b. On t in
    [j/n_a, (j+1)/n_a) the quantile function of a is a[j]; that of b is b[k] with
    k = floor(t * n_b). Positions are integers over the common denominator
    n_a * n_b, so every boundary is exact. Each a-step j lies in b's step
    L(j) = floor(j * n_b / n_a), except that b's next step may begin strictly inside
    it (at most once, since b's steps are no shorter). So

        n_a * n_b * W1 = n_b * sum_j |b[L(j)] - a[j]|
                         + sum over those split steps of w * (|b[k] - a[j]| - |b[k-1] - a[j]|)

    where w is the part of step j after b's boundary k. The a-steps with L(j) = k are
    the run [J_k, J_{k+1}) with J_k = ceil(k * n_a / n_b); within a run the sum of
    |b[k] - a[j]| is b[k] * (#below) - sum(below) + sum(above) - b[k] * (#above), split
    where a (sorted) crosses b[k]. Only sums of a over 2 * n_b segments are needed.
    """
    if a.size < b.size:
        a, b = b, a
    n_a, n_b = a.size, b.size
    b64 = b.astype(np.float64)
    k = np.arange(n_b + 1, dtype=np.int64)
    starts = (k * n_a + n_b - 1) // n_b
    split = np.clip(np.searchsorted(a, b, side="left"), starts[:-1], starts[1:])
    bounds = np.empty(2 * n_b + 1, dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = split
    sums = _segment_sums(a, bounds)
    sizes = np.diff(bounds).astype(np.float64)
    runs = b64 * (sizes[0::2] - sizes[1::2]) - sums[0::2] + sums[1::2]
    total = float(n_b) * float(runs.sum())

    boundary = np.arange(1, n_b, dtype=np.int64) * n_a  # b's step k begins at k * n_a
    inside = boundary % n_b != 0
    k_in = np.flatnonzero(inside) + 1
    j = boundary[inside] // n_b
    after = ((j + 1) * n_b - boundary[inside]).astype(np.float64)
    a_j = a[j].astype(np.float64)
    total += float(np.dot(after, np.abs(b64[k_in] - a_j) - np.abs(b64[k_in - 1] - a_j)))
    return total / (float(n_a) * float(n_b))


def _segment_sums(
    values: npt.NDArray[Any], bounds: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Float64 sums of values[bounds[i]:bounds[i + 1]], a chunk at a time.

    ``np.add.reduceat(values, ..., dtype=float64)`` would first copy the whole column
    to float64; here only a chunk is converted at once. Empty segments sum to 0.
    """
    sums = np.zeros(len(bounds) - 1, dtype=np.float64)
    used = np.flatnonzero(bounds[1:] > bounds[:-1])  # non-empty segments tile the array
    starts = bounds[used]
    for first in range(0, values.size, _CHUNK_ROWS):
        last = min(first + _CHUNK_ROWS, values.size)
        lo = int(np.searchsorted(starts, first, side="right")) - 1
        hi = int(np.searchsorted(starts, last, side="left"))
        local = np.concatenate(([0], starts[lo + 1 : hi] - first))
        chunk = values[first:last].astype(np.float64)
        sums[used[lo:hi]] += np.add.reduceat(chunk, local)
    return sums


# ------------------------------------------------------------------------ the records


def column_statistics(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[FeatureSpec],
    method: DriftMethod = "psi",
    bins: int = 10,
) -> list[ColumnStatistic]:
    """One drift score per numeric and categorical feature (text features are skipped).

    ``psi`` and ``jensenshannon`` compare the non-missing bins fitted on the reference
    (:func:`fit_bins`); ``wasserstein`` scores numeric columns by
    :func:`normed_wasserstein` on the raw values, and categorical columns by
    Jensen-Shannon on their category bins, recorded as ``method="jensenshannon"``:
    a distance between categories has no meaning. This mirrors Evidently, which
    defaults to Wasserstein for numeric and Jensen-Shannon for categorical columns
    (asked for Wasserstein on a categorical column explicitly, it raises instead).
    Missing values are never part of a score; their shares are recorded beside it.
    """
    if method not in _METHODS:
        raise ValueError(f"unknown drift method '{method}'; expected one of {list(_METHODS)}")
    if len(reference) == 0:
        raise ValueError("the reference has no rows; there is nothing to compare the batch with")
    if len(current) == 0:
        raise ValueError("the current batch has no rows; there is nothing to score")
    scored = _scored_features(features)
    _require_columns(reference, scored, "reference")
    _require_columns(current, scored, "current batch")
    if method == "wasserstein":
        categorical = [spec for spec in scored if spec.kind == "categorical"]
        fitted = fit_bins(reference, categorical, bins=bins)
    else:
        fitted = fit_bins(reference, scored, bins=bins)
    records = []
    for spec in scored:
        if spec.name in fitted:
            used: DriftMethod = "jensenshannon" if method == "wasserstein" else method
            records.append(_binned_statistic(spec, fitted[spec.name], reference, current, used))
        else:
            records.append(_wasserstein_statistic(spec, reference, current))
    return records


def _binned_statistic(
    spec: FeatureSpec,
    column_bins: ColumnBins,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    method: DriftMethod,
) -> ColumnStatistic:
    ref = bin_counts(column_bins, reference[spec.name])
    cur = bin_counts(column_bins, current[spec.name])
    ref_rows, cur_rows = int(ref[:-1].sum()), int(cur[:-1].sum())
    _require_values(spec.name, ref_rows, cur_rows)
    score = psi(ref[:-1], cur[:-1]) if method == "psi" else jensen_shannon(ref[:-1], cur[:-1])
    return ColumnStatistic(
        column=spec.name,
        kind=spec.kind,
        method=method,
        score=score,
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_missing_share=float(ref[-1] / ref.sum()),
        current_missing_share=float(cur[-1] / cur.sum()),
    )


def _wasserstein_statistic(
    spec: FeatureSpec, reference: pd.DataFrame, current: pd.DataFrame
) -> ColumnStatistic:
    ref = _numeric_array(spec.name, reference[spec.name])
    cur = _numeric_array(spec.name, current[spec.name])
    ref_rows, cur_rows = _finite_rows(ref), _finite_rows(cur)
    _require_values(spec.name, ref_rows, cur_rows)
    return ColumnStatistic(
        column=spec.name,
        kind=spec.kind,
        method="wasserstein",
        score=normed_wasserstein(ref, cur),
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_missing_share=(ref.size - ref_rows) / ref.size,
        current_missing_share=(cur.size - cur_rows) / cur.size,
    )


def _numeric_array(column: str, series: pd.Series) -> npt.NDArray[Any]:
    """The column's values: no copy for a plain numpy column, else one float64 copy."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        return series.to_numpy()
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"column '{column}' is declared numeric but holds values that are not "
            f"numbers (dtype {series.dtype}): {error}"
        ) from error


def _finite_rows(values: npt.NDArray[Any]) -> int:
    if values.dtype.kind != "f":
        return int(values.size)
    return int(np.count_nonzero(np.isfinite(values)))


def _scored_features(features: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    return [spec for spec in features if spec.kind != "text"]


def _require_columns(frame: pd.DataFrame, features: Sequence[FeatureSpec], role: str) -> None:
    missing = [spec.name for spec in features if spec.name not in frame.columns]
    if missing:
        raise ValueError(
            f"the {role} has no column {', '.join(repr(m) for m in missing)}; "
            f"it has {list(map(str, frame.columns))}"
        )


def _require_values(column: str, reference_rows: int, current_rows: int) -> None:
    """A column with no value on one side has no distribution (Evidently raises too)."""
    for role, rows in (("reference", reference_rows), ("current batch", current_rows)):
        if rows == 0:
            raise ValueError(
                f"column '{column}' has no non-missing values in the {role}; "
                "no drift statistic can be computed for it"
            )
