"""The monitoring pipelines: batch inference, and drift and quality checks of a batch.

Composition only; every step is a thin adapter over a plain function. What a
fired drift rule does next (train, then deploy) is run.py's: ZenML's
``Client.trigger_pipeline`` refuses stacks with local components, and the
lineage link (the monitoring run's id on the new version) is a pipeline
parameter of training, the same on every stack.
"""

from __future__ import annotations

from zenml import pipeline

from configs.schema import RunConfig
from steps.inference.step import score_batch
from steps.monitoring.step import (
    batch_gate,
    drift_decision,
    drift_report,
    drift_statistics,
    ingest_batch,
)


@pipeline(name="batch_inference", enable_cache=False)
def batch_inference_pipeline(
    config: RunConfig, input_path: str, output_path: str, production_version: str
) -> None:
    """Score ``input_path`` with the production version into ``output_path``."""
    score_batch(
        input_path,
        output_path,
        config.data,
        config.model.name,
        production_version,
        config.monitoring.chunk_rows,
    )


@pipeline(name="monitoring")
def monitoring_pipeline(
    config: RunConfig, batch_path: str, batch_stamp: str, production_version: str
) -> None:
    """Compare a batch with the production version's training data and decide on retraining."""
    name = config.model.name
    batch, validation, _ = ingest_batch(
        batch_path, config.data, name, production_version, batch_stamp
    )
    batch_gate(validation)
    statistics, quality = drift_statistics(
        batch, name, production_version, config.monitoring, after="batch_gate"
    )
    _, figures = drift_report(
        batch, name, production_version, config.monitoring, after="batch_gate"
    )
    drift_decision(statistics, quality, figures, name, config.monitoring)
