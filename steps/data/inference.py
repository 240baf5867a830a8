"""Which columns are features, and of what kind, when the config does not list them.

Plain functions (no ZenML). Inference must be safe: a column that only numbers the
rows or names an entity (a row index, an id) predicts nothing real and, on a file
sorted by its target, leaks it; such columns are left out and the run says so.
"""

from __future__ import annotations

import math

import pandas as pd
from pandas.api import types as ptypes

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


def _tolerated_nulls(values: pd.Series) -> float:
    """Observed null share rounded up to the next percent, so the data passes.

    An all-null column stays 0.0: the schema says such a column always fails,
    and inferred rules must not hide it.
    """
    if len(values) == 0:
        return 0.0
    nulls = int(values.isna().sum())
    if nulls == 0 or nulls == len(values):
        return 0.0
    share = nulls / len(values)
    rounded = math.ceil(share * 100) / 100
    return share if rounded >= 1.0 or rounded < share else rounded


def infer_feature_specs(df: pd.DataFrame, target: str) -> list[FeatureSpec]:
    """Feature specs for every column but the target, learnt from the data.

    Only kinds and null tolerance are inferred; ranges and allowed categories
    come from a config or nowhere, since rules learnt from one batch would just
    restate that batch.
    """
    specs = []
    for name in df.columns:
        if name == target:
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


def resolve_feature_specs(df: pd.DataFrame, data_cfg: DataConfig) -> tuple[list[FeatureSpec], bool]:
    """The feature specs to use, and whether they were inferred from the data.

    Config first. With features omitted, synthetic data uses the generator's
    own contract (true bounds and categories, not inferred, so ``False``);
    anything else is inferred (``True``) and recorded with the dataset.
    """
    if data_cfg.features is not None:
        return list(data_cfg.features), False
    if _is_plain_synthetic(df, data_cfg):
        return fraud_feature_specs(), False
    return infer_feature_specs(df, data_cfg.target), True


