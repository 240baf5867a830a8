"""The production model's quality on a labelled batch, as its training measured it.

The drift rule's quality floors (``monitoring.drift.quality_floor``) are read against
these figures, so they must mean what the training quality gate meant: the same metric
definitions (:func:`steps.evaluation.metrics.evaluate`), the model's own threshold, and
the positive class the training resolved and recorded on the dataset info (a "yes"/"no"
target's "yes", or 0 when data.positive_class says so), never an assumed 1.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from steps.data.info import DatasetInfo


def batch_quality(
    model: Any, batch: pd.DataFrame, info: DatasetInfo, chunk_rows: int | None = None
) -> dict[str, float]:
    """The model's metrics on ``batch``; empty when the batch has no target column.

    Scored ``chunk_rows`` rows at a time, so a 10M-row batch costs a chunk's memory.
    """
    from steps.evaluation.metrics import evaluate

    if info.target not in batch.columns:
        return {}
    names = [f.name for f in info.features] + [info.target]
    quality = evaluate(
        model, batch[names], info.target, info.task, info.positive_class, chunk_rows=chunk_rows
    )
    return {name: float(value) for name, value in quality.items()}
