"""A DataFrame materializer sized for tables of millions of rows.

ZenML's default pandas materializer writes gzip Parquet and runs ``describe()``
on the whole frame for the dashboard. At 10M rows that is tens of seconds per
artifact, paid three times per training run (dataset, train set, holdout).
This one writes zstd Parquet (about as small, five times faster to write) and
describes a fixed-size sample, which shows the same picture in the dashboard.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pandas as pd
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

#: Rows ``describe()`` sees; quantiles of 100k rows match the full table's closely.
DESCRIBE_SAMPLE_ROWS = 100_000


class ParquetFrameMaterializer(BaseMaterializer):
    """Stores a DataFrame as zstd Parquet; describes a sample for the dashboard."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (pd.DataFrame,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA
    # Used explicitly by the steps that produce big frames, not for every DataFrame.
    SKIP_REGISTRATION: ClassVar[bool] = True

    @property
    def _parquet_path(self) -> str:
        return os.path.join(self.uri, "frame.parquet")

    def load(self, data_type: type[Any]) -> pd.DataFrame:
        """Read the frame back with its dtypes (categories included)."""
        with self.artifact_store.open(self._parquet_path, mode="rb") as file:
            return pd.read_parquet(file)

    def save(self, data: pd.DataFrame) -> None:
        """Write the frame as zstd-compressed Parquet."""
        with self.artifact_store.open(self._parquet_path, mode="wb") as file:
            data.to_parquet(file, compression="zstd", index=False)

    def save_visualizations(self, data: pd.DataFrame) -> dict[str, VisualizationType]:
        """Summary statistics of a seeded sample, as CSV for the dashboard."""
        sample = data.sample(n=min(len(data), DESCRIBE_SAMPLE_ROWS), random_state=0)
        uri = os.path.join(self.uri, "describe.csv")
        with self.artifact_store.open(uri, mode="wb") as file:
            sample.describe(include="all").to_csv(file)
        return {uri: VisualizationType.CSV}

    def extract_metadata(self, data: pd.DataFrame) -> dict[str, MetadataType]:
        """Shape and column types: cheap at any size."""
        return {
            "shape": (int(data.shape[0]), int(data.shape[1])),
            "dtypes": {str(column): str(dtype) for column, dtype in data.dtypes.items()},
        }
