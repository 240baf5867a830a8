"""What lineage records about a loaded dataset: fingerprint, schema, features and roles."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from configs.schema import DataConfig, FeatureSpec
from steps.data.inference import resolve_feature_specs
from steps.data.loading import fingerprint


class DatasetInfo(BaseModel):
    """What lineage records about a loaded dataset (artifact metadata)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    sha256: str
    rows: int
    columns: dict[str, str]
    features: list[FeatureSpec]
    features_inferred: bool
    target: str
    task: str
    positive_class: str | None = Field(
        None, description="Binary: the label counted as positive (see data.positive_class)."
    )
    excluded: dict[str, str] = Field(
        default_factory=dict, description="Columns left out of the features, and why."
    )
    segments: list[str] = Field(
        default_factory=list, description="Columns kept beside the features, never used by them."
    )


def describe_dataset(df: pd.DataFrame, source: str, data_cfg: DataConfig) -> DatasetInfo:
    """Fingerprint and schema of ``df``; never raises for a missing target.

    The validation gate is the place that reports a missing target with the
    rest of the data problems; failing here would hide those.
    """
    features, inferred = resolve_feature_specs(df, data_cfg)
    return DatasetInfo(
        source=source,
        sha256=fingerprint(df),
        rows=len(df),
        columns={str(name): str(dtype) for name, dtype in df.dtypes.items()},
        features=features,
        features_inferred=inferred,
        target=data_cfg.target,
        task=data_cfg.task,
    )
