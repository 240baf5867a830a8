"""What lineage records about a loaded dataset: fingerprint, schema, features and roles."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from configs.schema import DataConfig, FeatureSpec
from steps.data.inference import choose_features, resolve_positive_class
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
    choice = choose_features(df, data_cfg)
    return DatasetInfo(
        source=source,
        sha256=fingerprint(df),
        rows=len(df),
        columns={str(name): str(dtype) for name, dtype in df.dtypes.items()},
        features=choice.features,
        features_inferred=choice.inferred,
        target=data_cfg.target,
        task=data_cfg.task,
        positive_class=resolve_positive_class(df, data_cfg),
        excluded=choice.excluded,
        segments=list(data_cfg.segments),
    )


def inference_lines(info: DatasetInfo) -> list[str]:
    """What a person should read about how the features were chosen (one line each)."""
    lines: list[str] = []
    if info.features_inferred:
        lines.append(
            f"Features inferred from the data: {len(info.features)} "
            f"({', '.join(f.name for f in info.features)})"
        )
    for name, reason in info.excluded.items():
        if info.features_inferred or reason != "not listed in data.features":
            lines.append(f"Left out '{name}': {reason}")
    if info.positive_class is not None:
        lines.append(f"Positive class: '{info.positive_class}' (data.positive_class to change)")
    return lines
