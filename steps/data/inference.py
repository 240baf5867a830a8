"""Which columns are features, and of what kind, when the config does not list them.

Plain functions (no ZenML). Inference must be safe: a column that only numbers the
rows or names an entity (a row index, an id) predicts nothing real and, on a file
sorted by its target, leaks it; such columns are left out and the run says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict

from configs.schema import DataConfig, FeatureKind, FeatureSpec, SyntheticSource
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs

#: Rows looked at to decide whether a string column is free text (keeps it fast on 10M rows).
_TEXT_SAMPLE_ROWS = 10_000


def _looks_like_text(values: pd.Series) -> bool:
    """Free text (descriptions, comments) rather than a set of labels.

    Long strings, or mostly-unique multi-word strings; judged on a spread
    sample so it stays cheap on big frames.
    """
    present = values.dropna()
    if present.empty:
        return False
    step = max(1, len(present) // _TEXT_SAMPLE_ROWS)
    sample = present.iloc[::step].astype(str)
    lengths = sample.str.len()
    if lengths.mean() > 30:
        return True
    unique_share = sample.nunique() / len(sample)
    multi_word = sample.str.strip().str.contains(r"\s").mean()
    words = sample.str.split().str.len().mean()
    return bool(len(sample) >= 20 and unique_share > 0.5 and multi_word > 0.5 and words >= 3)


def _feature_kind(values: pd.Series) -> FeatureKind:
    if ptypes.is_bool_dtype(values.dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(values.dtype):
        return "numeric"
    if (
        ptypes.is_object_dtype(values.dtype)
        or ptypes.is_string_dtype(values.dtype)
        or isinstance(values.dtype, pd.CategoricalDtype)
    ) and _looks_like_text(values):
        return "text"
    return "categorical"


def tolerated_null_share(share: float) -> float:
    """The ``max_null_fraction`` that lets an observed null share pass: rounded up to the percent.

    Used wherever a rule is learnt from data (inference, the locked profile, the
    ``--describe-data`` YAML). No nulls stays 0; an all-null column stays 0.0 too:
    such a column always fails, and learnt rules must not hide it.
    """
    if share <= 0.0 or share >= 1.0:
        return 0.0
    rounded = math.ceil(share * 100) / 100
    return share if rounded >= 1.0 or rounded < share else rounded


def _tolerated_nulls(values: pd.Series) -> float:
    return tolerated_null_share(float(values.isna().mean())) if len(values) else 0.0


#: Names pandas and pyarrow give a row index written out as a column.
_INDEX_NAMES = re.compile(r"^(Unnamed: 0|__index_level_0__|)$")
#: Below this many rows "every value is distinct" says nothing about a column.
_MIN_ROWS_FOR_IDENTIFIER = 20
#: Rows checked first for repeats: most columns repeat within a sample, sparing the full scan.
_UNIQUE_SAMPLE_ROWS = 10_000


def row_index_reason(values: pd.Series, position: int) -> str | None:
    """Why ``values`` is a row index rather than a measurement, or None.

    An unnamed leading column is the index ``DataFrame.to_csv`` writes by default;
    an integer column counting 0..n-1 or 1..n in file order numbers the rows. On a
    file sorted by its target either one predicts the target perfectly.
    """
    name = str(values.name)
    if position == 0 and _INDEX_NAMES.match(name):
        return "an unnamed leading column: the row index pandas writes with to_csv()"
    if not ptypes.is_integer_dtype(values.dtype) or ptypes.is_bool_dtype(values.dtype):
        return None
    n = len(values)
    if n < 2:
        return None
    array = values.to_numpy()
    start = int(array[0])
    if start in (0, 1) and np.array_equal(array, np.arange(start, start + n)):
        return f"a row number ({start}..{start + n - 1} in file order)"
    return None


def identifier_reason(values: pd.Series) -> str | None:
    """Why ``values`` names an entity (an id) rather than describing it, or None.

    Every value distinct and no nulls, in a column of integers or short labels:
    a model can only memorise such a column. Free text and floats are exempt
    (reviews and measurements are distinct by nature).
    """
    n = len(values)
    if n < _MIN_ROWS_FOR_IDENTIFIER or ptypes.is_bool_dtype(values.dtype):
        return None
    dtype = values.dtype
    integer = ptypes.is_integer_dtype(dtype)
    labels = not ptypes.is_numeric_dtype(dtype)
    if not (integer or labels) or values.isna().any():
        return None
    head = values.iloc[: min(n, _UNIQUE_SAMPLE_ROWS)]
    if not head.is_unique or not values.is_unique:
        return None
    if labels and _looks_like_text(values):
        return None
    kind = "integer" if integer else "label"
    return f"an identifier: every one of the {n} {kind} values is distinct"


def non_feature_reasons(df: pd.DataFrame, data_cfg: DataConfig) -> dict[str, str]:
    """Columns inference must not take as features, each with the reason.

    The target, ``data.exclude`` and ``data.segments`` by configuration; row
    indexes and identifiers by their values.
    """
    reasons: dict[str, str] = {}
    for name in data_cfg.exclude:
        if name in df.columns:
            reasons[name] = "listed in data.exclude"
    for name in data_cfg.segments:
        if name in df.columns:
            reasons[name] = "a segment column (data.segments): kept beside the features"
    for position, name in enumerate(df.columns):
        key = str(name)
        if key == data_cfg.target or key in reasons:
            continue
        values = df.iloc[:, position]
        reason = row_index_reason(values, position) or identifier_reason(values)
        if reason is not None:
            reasons[key] = reason
    return reasons


def infer_feature_specs(
    df: pd.DataFrame, target: str, leave_out: Collection[str] = ()
) -> list[FeatureSpec]:
    """Feature specs for every column but the target and ``leave_out``, learnt from the data.

    Only kinds and null tolerance are inferred; ranges and allowed categories
    come from a config or from the recorded profile of a reference version
    (steps/validation/profile.py), since rules learnt from one batch would just
    restate that batch.
    """
    specs = []
    for name in df.columns:
        if name == target or str(name) in leave_out:
            continue
        values = df[name]
        specs.append(
            FeatureSpec(
                name=str(name),
                kind=_feature_kind(values),
                max_null_fraction=_tolerated_nulls(values),
            )
        )
    return specs


def _is_plain_synthetic(df: pd.DataFrame, data_cfg: DataConfig) -> bool:
    """True when the frame is the generator's own table with its own target."""
    if not isinstance(data_cfg.source, SyntheticSource) or data_cfg.target != FRAUD_TARGET:
        return False
    names = [spec.name for spec in fraud_feature_specs()]
    return list(df.columns) == [*names, FRAUD_TARGET]


class FeatureChoice(BaseModel):
    """Which columns are features, and which were left out and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: list[FeatureSpec]
    inferred: bool
    excluded: dict[str, str]


def choose_features(df: pd.DataFrame, data_cfg: DataConfig) -> FeatureChoice:
    """The feature specs to use, whether they were inferred, and what was left out.

    Config first. With features omitted, synthetic data uses the generator's
    own contract (true bounds and categories, not inferred); anything else is
    inferred, leaving out the target, configured exclusions and segments, row
    indexes and identifiers (each named with its reason).
    """
    if data_cfg.features is not None:
        listed = {f.name for f in data_cfg.features}
        excluded = {
            str(name): "not listed in data.features"
            for name in df.columns
            if str(name) not in listed and str(name) != data_cfg.target
        }
        for name in data_cfg.exclude:
            if name in excluded:
                excluded[name] = "listed in data.exclude"
        for name in data_cfg.segments:
            if name in excluded:
                excluded[name] = "a segment column (data.segments): kept beside the features"
        return FeatureChoice(features=list(data_cfg.features), inferred=False, excluded=excluded)
    if _is_plain_synthetic(df, data_cfg):
        return FeatureChoice(features=fraud_feature_specs(), inferred=False, excluded={})
    reasons = non_feature_reasons(df, data_cfg)
    features = infer_feature_specs(df, data_cfg.target, leave_out=reasons)
    return FeatureChoice(features=features, inferred=True, excluded=reasons)


def resolve_feature_specs(df: pd.DataFrame, data_cfg: DataConfig) -> tuple[list[FeatureSpec], bool]:
    """The feature specs to use, and whether they were inferred from the data."""
    choice = choose_features(df, data_cfg)
    return choice.features, choice.inferred


def resolve_positive_class(df: pd.DataFrame, data_cfg: DataConfig) -> str | None:
    """The binary task's positive class, as a string (see data.positive_class).

    The configured one; else the second of ``target_classes``; else the label
    that sorts last, which is what scikit-learn's ``classes_[1]`` is (1 over 0,
    True over False, "yes" over "no"). None for other tasks or no target.
    """
    if data_cfg.task != "binary":
        return None
    if data_cfg.positive_class is not None:
        return data_cfg.positive_class
    if data_cfg.target_classes is not None:
        return data_cfg.target_classes[-1]
    if data_cfg.target not in df.columns:
        return None
    labels = df[data_cfg.target].dropna().unique()
    if len(labels) == 0:
        return None
    try:
        last = np.sort(labels)[-1]
    except TypeError:  # mixed types: scikit-learn would refuse them too
        last = sorted(labels, key=str)[-1]
    return label_text(last)


def label_text(label: object) -> str:
    """A label as the config spells it: 1.0 and 1 are both "1"."""
    if isinstance(label, float | np.floating) and float(label).is_integer():
        return str(int(label))
    if isinstance(label, np.generic):
        return str(label.item())
    return str(label)
