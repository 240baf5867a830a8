"""ZenML step: score a file with the production version, chunk by chunk.

The step runs with the production version as its ZenML Model (set by the
pipeline), so the predictions artifact is linked to the version that made them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from configs.schema import DataConfig
from steps.data.info import DatasetInfo
from steps.inference.batch import BatchSummary, score_file
from steps.monitoring.reference import load_production_inputs
from steps.validation.batch import check_batch


def string_features(info: DatasetInfo) -> list[str]:
    """Categorical and text features the model learnt as strings (not numbers).

    A category column of numbers read from a training CSV stays numeric in
    pandas, so the model learnt numbers: read as strings, every value would be
    an unknown category. Those columns are read as pandas reads them.
    """
    return [
        f.name
        for f in info.features
        if f.kind in ("categorical", "text")
        and not is_numeric_dtype_name(info.columns.get(f.name, "object"))
    ]


def is_numeric_dtype_name(dtype: str) -> bool:
    """Whether a recorded dtype name (``int64``, ``float32``, ``category``) is numeric."""
    return dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float", "bool"))


@step(enable_cache=False)
def score_batch(
    input_path: str,
    output_path: str,
    data: DataConfig,
    model_name: str,
    production_version: str,
    chunk_rows: int,
) -> tuple[
    Annotated[BatchSummary, "batch_predictions_summary"],
    Annotated[Path, "batch_predictions"],
]:
    """Validate and score every chunk; the output file appears only if all of them passed."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    inputs = load_production_inputs(model_name, production_version, with_reference=False)
    info = inputs.info

    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        check_batch(chunk, info, data, input_path, first_row)

    def progress(rows: int) -> None:
        print(f"  scored {rows:,} rows", flush=True)

    summary = score_file(
        inputs.model,
        input_path,
        output_path,
        info.features,
        info.task,
        info.positive_class,
        production_version,
        validate,
        chunk_rows=chunk_rows,
        keep_columns=[*data.exclude, *data.segments],
        progress=progress,
        string_columns=string_features(info),
    )
    log_metadata(
        metadata={"batch_inference": summary.model_dump()},
        artifact_name="batch_predictions_summary",
        infer_artifact=True,
    )
    return summary, Path(summary.output)
