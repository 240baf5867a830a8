"""What a fired drift rule trains on, and the lineage link the new version carries.

Plain functions: ``run.py`` calls them between the monitoring run and the
training run (ZenML's ``Client.trigger_pipeline`` refuses stacks with local
components, so the client starts the next pipeline on every stack alike).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from configs.schema import DataSource, FileSource, RunConfig
from steps.monitoring.decision import DriftDecision

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse


class RetrainDataError(ValueError):
    """The configured retraining data cannot be built from this batch (e.g. no labels)."""


def retraining_config(config: RunConfig, source: DataSource) -> RunConfig:
    """``config`` with ``data.source`` replaced: everything else (gates, model) stays."""
    return config.model_copy(update={"data": config.data.model_copy(update={"source": source})})


def needs_labels(config: RunConfig) -> bool:
    """Whether the configured retraining data includes the batch (so it needs its labels)."""
    return config.monitoring.retrain.data != "source"


def check_labels(config: RunConfig, batch_columns: list[str], batch_path: str) -> None:
    """Refuse, before anything is trained, a retraining on a batch without the target."""
    target = config.data.target
    if needs_labels(config) and target not in batch_columns:
        raise RetrainDataError(
            f"monitoring.retrain.data is '{config.monitoring.retrain.data}' but the batch "
            f"'{batch_path}' has no '{target}' column (labels); label the batch, set "
            "monitoring.retrain.data: source, or run with --no-retrain"
        )


def combined_training_data(reference: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """The reference's rows then the batch's, in the reference's columns.

    Columns the batch lacks (ids, notes) are left empty for its rows;
    categoricals become plain strings on both sides so the concatenation keeps
    every value whatever each side's categories were.
    """
    columns = list(reference.columns)
    missing = {name for name in columns if name not in batch.columns}
    parts = []
    for frame in (reference, batch.reindex(columns=columns)):
        part = frame.copy()
        for name in columns:
            dtype = reference[name].dtype
            if isinstance(part[name].dtype, pd.CategoricalDtype):
                part[name] = part[name].astype(object)
            elif name in missing:  # the empty side takes a type that holds the other's values
                part[name] = part[name].astype(dtype if dtype.kind == "f" else object)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def retraining_source(config: RunConfig, batch_path: str, combined_uri: str) -> DataSource:
    """The data source the retraining run reads: the batch, reference plus batch, or data.source.

    For ``reference_and_batch`` the caller writes :func:`combined_training_data`
    to ``combined_uri`` first.
    """
    choice = config.monitoring.retrain.data
    if choice == "source":
        return config.data.source
    if choice == "batch":
        return FileSource(kind="file", path=batch_path)
    return FileSource(kind="file", path=combined_uri)


def write_parquet(frame: pd.DataFrame, uri: str) -> None:
    """Write ``frame`` to a local path or an artifact-store URL (s3://, gs://)."""
    from zenml.io import fileio

    parent = uri.rsplit("/", 1)[0]
    if "://" not in uri:
        Path(parent).mkdir(parents=True, exist_ok=True)
    else:
        fileio.makedirs(parent)
    with fileio.open(uri, "wb") as handle:
        frame.to_parquet(handle, index=False)


def trigger_record(
    run: PipelineRunResponse, decision: DriftDecision, batch_path: str
) -> dict[str, str]:
    """What the retrained version records about the monitoring run that caused it."""
    return {
        "kind": "monitoring",
        "monitoring_run_id": str(run.id),
        "monitoring_run": run.name,
        "batch": batch_path,
        "production_version": decision.production_version,
        "decision": decision.summary()[:1000],
    }
