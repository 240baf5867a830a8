"""ZenML step: load the configured data source as a versioned artifact."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from configs.schema import DataConfig
from steps.data.info import DatasetInfo, describe_dataset, inference_lines
from steps.data.loading import load_source
from steps.data.materializer import ParquetFrameMaterializer
from steps.validation.profile import DataProfile, profile_frame
from steps.validation.reference import PROFILE_ARTIFACT


@step(output_materializers={"dataset": ParquetFrameMaterializer})
def ingest_data(
    data: DataConfig, base_dir: str, source_stamp: str
) -> tuple[
    Annotated[pd.DataFrame, "dataset"],
    Annotated[DatasetInfo, "dataset_info"],
    Annotated[DataProfile, PROFILE_ARTIFACT],
]:
    """Load the table and record its fingerprint, size, schema, source and profile.

    The profile (steps/validation/profile.py) is made here, where the frame is in
    memory anyway, and cached with the dataset; a version registered from this run
    links it, and later runs with inferred features are validated against it.

    ``source_stamp`` (size and modification time of a local file) is only there
    so that ZenML's cache sees a changed file as a new input.
    """
    frame, source = load_source(data.source, base_dir)
    info = describe_dataset(frame, source, data)
    for line in inference_lines(info):
        print(line)
    log_metadata(
        metadata={
            "sha256": info.sha256,
            "rows": info.rows,
            "columns": info.columns,
            "source": info.source,
            "features_inferred": info.features_inferred,
            "excluded": info.excluded,
            "segments": info.segments,
            "positive_class": info.positive_class or "",
        },
        artifact_name="dataset",
        infer_artifact=True,
    )
    profile = profile_frame(frame, info.features, data, sha256=info.sha256, excluded=info.excluded)
    return frame, info, profile
