"""Table-level data checks that per-column expectations cannot express.

Each function is a pure rule: a frame (and figures) in, :class:`CheckRecord` s out,
passed or failed, with what was expected and what was observed in words. The
validation step appends them to the Great Expectations report, so one gate and one
report cover everything. They guard against faults that train a model silently:
a target with one class, duplicated rows that inflate the holdout score, a file
truncated at a row boundary, a row number or an id used as a feature, and (with
inferred features) columns that appeared since the reference version.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from configs.schema import DataConfig, FeatureSpec
from steps.data.inference import identifier_reason, label_text, row_index_reason
from steps.validation.profile import ACCEPT_HINT, ACCEPT_SCHEMA_HINT, DataProfile
from steps.validation.suite import CheckRecord

#: Labels or rows a message lists before it says "and N more".
MAX_LISTED = 5


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def target_checks(
    df: pd.DataFrame, data_cfg: DataConfig, positive_class: str | None
) -> list[CheckRecord]:
    """The target can be learnt: two or more classes with enough rows, or finite varied values.

    A missing target is left to the column rules, which report it once.
    """
    target = data_cfg.target
    if target not in df.columns:
        return []
    values = df[target]
    if data_cfg.task == "regression":
        return _regression_target_checks(values)
    raw_counts = values.value_counts(dropna=True)  # count first: labels are few, rows many
    counts = raw_counts.groupby(raw_counts.index.map(label_text), sort=False).sum()
    counts = counts[counts > 0].sort_values(ascending=False)
    described = _listed([f"'{label}': {count} rows" for label, count in counts.items()])
    records = [
        CheckRecord(
            expectation="target_has_two_classes",
            column=target,
            expected="at least 2 classes to learn from",
            observed=f"{len(counts)} class{'es' if len(counts) != 1 else ''}: {described or 'none'}",
            passed=len(counts) >= 2,
        )
    ]
    minimum = data_cfg.checks.min_class_rows
    small = [f"'{label}': {count} rows" for label, count in counts.items() if count < minimum]
    records.append(
        CheckRecord(
            expectation="target_class_rows",
            column=target,
            expected=f"at least {minimum} rows of every class (data.checks.min_class_rows)",
            observed=(
                f"too few rows: {_listed(small)}"
                if small
                else f"smallest class has {int(counts.min()) if len(counts) else 0} rows"
            ),
            passed=not small,
        )
    )
    if positive_class is not None and len(counts):
        records.append(
            CheckRecord(
                expectation="positive_class_present",
                column=target,
                expected=f"the positive class '{positive_class}' occurs in the target",
                observed=f"labels seen: {_listed([repr(str(c)) for c in counts.index])}",
                passed=positive_class in counts.index,
            )
        )
    return records


def _regression_target_checks(values: pd.Series) -> list[CheckRecord]:
    name = str(values.name)
    if not ptypes.is_numeric_dtype(values.dtype) or ptypes.is_bool_dtype(values.dtype):
        return []  # the type rule says it is not numeric
    array = values.to_numpy(dtype="float64", na_value=np.nan)
    infinite = int(np.isinf(array).sum())
    finite = array[np.isfinite(array)]
    distinct = int(pd.unique(finite).size)
    return [
        CheckRecord(
            expectation="target_is_finite",
            column=name,
            expected="finite numbers (no inf or -inf)",
            observed=f"{infinite} infinite values" if infinite else "all finite",
            passed=infinite == 0,
        ),
        CheckRecord(
            expectation="target_varies",
            column=name,
            expected="at least 2 distinct values (a constant target cannot be learnt)",
            observed=f"{distinct} distinct value{'s' if distinct != 1 else ''}"
            + (f" ({finite[0]:g})" if distinct == 1 else ""),
            passed=distinct >= 2,
        ),
    ]


def row_hashes(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per row over ``columns``: equal rows hash equal."""
    return pd.util.hash_pandas_object(df[list(columns)], index=False).to_numpy()


def duplicate_check(df: pd.DataFrame, columns: Sequence[str], limit: float) -> CheckRecord:
    """The share of rows that exactly repeat an earlier row stays under ``limit``.

    Copies land on both sides of a split and inflate the holdout score. Compared
    over the features and the target only: an index column makes every row unique.
    """
    present = [c for c in columns if c in df.columns]
    hashes = row_hashes(df, present) if present and len(df) else np.empty(0, dtype=np.uint64)
    ordered = np.sort(hashes)  # a sort counts repeats faster than a hash table at 10M rows
    count = int((ordered[1:] == ordered[:-1]).sum())
    share = count / len(df) if len(df) else 0.0
    observed = f"{count} of {len(df)} rows ({share:.1%}) repeat an earlier row"
    if count:
        first = np.flatnonzero(pd.Series(hashes).duplicated().to_numpy())[:MAX_LISTED]
        observed += f", e.g. rows {', '.join(str(i) for i in first)} (0-based)"
    return CheckRecord(
        expectation="duplicate_rows",
        column=None,
        expected=f"at most {limit:.1%} duplicate rows (data.checks.max_duplicate_fraction)",
        observed=observed,
        passed=share <= limit,
    )


def row_count_check(
    rows: int, reference: DataProfile, reference_version: str, data_cfg: DataConfig
) -> CheckRecord:
    """The row count stays within the configured ratio of the reference version's rows.

    A file truncated at a row boundary still parses; only its size gives it away.
    """
    low, high = data_cfg.checks.min_row_ratio, data_cfg.checks.max_row_ratio
    ratio = rows / reference.rows if reference.rows else float("inf")
    passed = low <= ratio <= high
    observed = (
        f"{rows} rows against {reference.rows} in the reference (version {reference_version}): "
        f"{ratio:.3g}x"
    )
    if not passed:
        observed += f"; {ACCEPT_HINT}"
    return CheckRecord(
        expectation="row_count_against_reference",
        column=None,
        expected=f"between {low}x and {high}x the reference's rows "
        "(data.checks.min_row_ratio / max_row_ratio)",
        observed=observed,
        passed=passed,
    )


def feature_role_checks(df: pd.DataFrame, features: Sequence[FeatureSpec]) -> list[CheckRecord]:
    """Listed features that only number the rows or name an entity fail.

    A row number leaks the target of a sorted file; a column of distinct labels can
    only be memorised. Integer identifiers are allowed when listed on purpose
    (an epoch timestamp is distinct on every row too); inference leaves them out.
    """
    records = []
    positions = {str(name): i for i, name in enumerate(df.columns)}
    for feature in features:
        if feature.name not in positions:
            continue
        position = positions[feature.name]
        values = df.iloc[:, position]
        reason = row_index_reason(values, position)
        if reason is None and not ptypes.is_numeric_dtype(values.dtype):
            reason = identifier_reason(values)
        if reason is not None:
            records.append(
                CheckRecord(
                    expectation="feature_is_not_an_index_or_id",
                    column=feature.name,
                    expected="a feature that describes the row, not a row number or an id "
                    "(remove it from data.features, or list it in data.exclude)",
                    observed=reason,
                    passed=False,
                )
            )
    return records


def segment_checks(df: pd.DataFrame, segments: Sequence[str]) -> list[CheckRecord]:
    """Every configured segment column is present (the fairness gate reads it)."""
    return [
        CheckRecord(
            expectation="segment_column_present",
            column=name,
            expected=f"segment column '{name}' (data.segments) is present",
            observed="present" if name in df.columns else f"column '{name}' is missing",
            passed=name in df.columns,
        )
        for name in segments
    ]


def new_column_check(
    df: pd.DataFrame, reference: DataProfile, reference_version: str, data_cfg: DataConfig
) -> CheckRecord:
    """With inferred features, no column appears that the reference did not have.

    Otherwise a new column would silently become a feature of the next version.
    """
    known = set(reference.columns) | {data_cfg.target, *data_cfg.exclude, *data_cfg.segments}
    new = [str(c) for c in df.columns if str(c) not in known]
    observed = f"new columns: {_listed(new)}; {ACCEPT_SCHEMA_HINT}" if new else "no new columns"
    return CheckRecord(
        expectation="columns_match_reference",
        column=None,
        expected=f"only the columns of the reference (version {reference_version})",
        observed=observed,
        passed=not new,
    )
