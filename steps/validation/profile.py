"""The recorded profile of a model version's training data, and the rules it locks in.

With ``features`` omitted from the config, the first run can only infer kinds and
null tolerance: there is nothing to compare the data with. So every registered
version stores a profile of the data it was trained on (dtypes, ranges, categories,
null shares, row count), and later runs of the same model are validated against the
profile of the reference version as if it were an explicit schema. A dropped
column, a 1000x scale change, text in a numeric column or an unseen category then
fail the same way they do with listed features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, Field

from configs.schema import DataConfig, FeatureKind, FeatureSpec
from steps.data.inference import label_text, tolerated_null_share

#: More distinct values than this and a categorical is profiled without its categories
#: (an open set such as zip codes, where a new value is normal, not a fault).
MAX_PROFILED_CATEGORIES = 1000

#: How to accept a deliberate change of the data, for every message a reference check causes.
ACCEPT_HINT = (
    "if the change is deliberate, re-run with --accept-data-change (this run's data then "
    "becomes the reference)"
)
#: The same, for the rules the profile locks in, which an explicit schema replaces.
ACCEPT_SCHEMA_HINT = f"{ACCEPT_HINT}, or list the features in data.features"


class ColumnProfile(BaseModel):
    """What one feature column looked like in the reference data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: FeatureKind
    dtype: str
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(
        None, description="Distinct values seen; None when there were too many to lock."
    )
    null_fraction: float


class DataProfile(BaseModel):
    """A dataset's profile: recorded with each model version, compared with by later runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    sha256: str
    target: str
    task: str
    target_classes: list[str] | None = None
    features: list[ColumnProfile]
    columns: list[str] = Field(description="Every column of the table, in file order.")
    excluded: dict[str, str] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    margin: float = Field(description="Share of each range's span the locked rules allow beyond.")

    def locked_specs(self) -> list[FeatureSpec]:
        """The profile as feature rules: ranges widened by the margin, categories as seen."""
        return [_locked_spec(column, self.margin) for column in self.features]


def _locked_spec(column: ColumnProfile, margin: float) -> FeatureSpec:
    tolerated = tolerated_null_share(column.null_fraction)
    if column.kind == "numeric" and column.min is not None and column.max is not None:
        low, high = widened_range(column.min, column.max, margin)
        return FeatureSpec(
            name=column.name, kind="numeric", min=low, max=high, max_null_fraction=tolerated
        )
    if column.kind == "categorical" and column.categories:
        return FeatureSpec(
            name=column.name,
            kind="categorical",
            allowed=list(column.categories),
            max_null_fraction=tolerated,
        )
    return FeatureSpec(name=column.name, kind=column.kind, max_null_fraction=tolerated)


def widened_range(low: float, high: float, margin: float) -> tuple[float, float]:
    """``[low, high]`` widened by ``margin`` of its span on both sides; a floor of 0 stays.

    A constant column has no span, so it is widened by ``margin`` of its magnitude
    (or by ``margin`` itself around 0), which still fails a 1000x scale change.
    """
    span = high - low
    if span == 0:
        span = abs(high) or 1.0
    widened_low = low - margin * span
    if low >= 0 > widened_low:
        widened_low = 0.0
    return _round_out(widened_low, down=True), _round_out(high + margin * span, down=False)


def _round_out(value: float, *, down: bool) -> float:
    """Six significant digits, rounded away from the data, so the YAML reads cleanly."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    digits = 6 - math.floor(math.log10(abs(value))) - 1
    scale = 10.0**digits
    return (math.floor if down else math.ceil)(value * scale) / scale


def profile_frame(
    df: pd.DataFrame,
    features: Sequence[FeatureSpec],
    data_cfg: DataConfig,
    *,
    sha256: str,
    excluded: dict[str, str],
) -> DataProfile:
    """Profile ``df``'s feature columns (vectorised column aggregates, cheap at 10M rows)."""
    columns = [_profile_column(df[f.name], f) for f in features if f.name in df.columns]
    classes = None
    if data_cfg.task != "regression" and data_cfg.target in df.columns:
        classes = sorted({label_text(v) for v in df[data_cfg.target].dropna().unique()})
    return DataProfile(
        rows=len(df),
        sha256=sha256,
        target=data_cfg.target,
        task=data_cfg.task,
        target_classes=classes,
        features=columns,
        columns=[str(c) for c in df.columns],
        excluded=dict(excluded),
        segments=list(data_cfg.segments),
        margin=data_cfg.checks.profile_margin,
    )


def _profile_column(values: pd.Series, feature: FeatureSpec) -> ColumnProfile:
    null_fraction = float(values.isna().mean()) if len(values) else 0.0
    low = high = None
    categories = None
    numeric = ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_bool_dtype(values.dtype)
    if feature.kind == "numeric" and numeric and values.notna().any():
        finite = values.to_numpy(dtype="float64", na_value=np.nan)
        low, high = float(np.nanmin(finite)), float(np.nanmax(finite))
    elif feature.kind == "categorical":
        distinct = values.dropna().unique()
        if len(distinct) <= MAX_PROFILED_CATEGORIES:
            categories = sorted({label_text(v) for v in distinct})
    return ColumnProfile(
        name=feature.name,
        kind=feature.kind,
        dtype=str(values.dtype),
        min=low,
        max=high,
        categories=categories,
        null_fraction=null_fraction,
    )


class ReferenceProfile(BaseModel):
    """The profile a run is compared with, and where it came from (or why there is none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    version: str | None = None
    profile: DataProfile | None = None
    note: str = Field(description="One line for the run output and the report.")
