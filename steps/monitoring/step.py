"""ZenML steps of the monitoring pipeline: thin adapters over the plain functions.

ingest_batch -> batch_gate -> drift_statistics -> drift_report -> drift_decision.
The production version is resolved before the run (run.py) and passed in, so
every step compares with the same version even if a deploy lands meanwhile.
Evidently is imported only in ``drift_report`` (5-7 s).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from configs.schema import DataConfig, MonitoringConfig
from steps.data.loading import load_table
from steps.data.materializer import ParquetFrameMaterializer
from steps.monitoring.decision import DriftDecision, decide, judge_columns, judge_quality
from steps.monitoring.quality import batch_quality
from steps.monitoring.reference import load_production_inputs
from steps.monitoring.statistics import ColumnStatistic, column_statistics
from steps.validation.batch import validate_batch
from steps.validation.errors import DataValidationError
from steps.validation.suite import ValidationReport, render_report_html

#: Where a monitoring run's figures are kept on the pipeline run (``run.run_metadata``).
DECISION_KEY = "drift_decision"
REPORT_KEY = "drift_report"


class DriftStatistics(BaseModel):
    """Per-column statistics over the whole batch against the production version's data."""

    production_version: str
    reference_rows: int
    batch_rows: int
    columns: list[ColumnStatistic]


@step(output_materializers={"monitoring_batch": ParquetFrameMaterializer})
def ingest_batch(
    batch_path: str,
    data: DataConfig,
    model_name: str,
    production_version: str,
    batch_stamp: str,
) -> tuple[
    Annotated[pd.DataFrame, "monitoring_batch"],
    Annotated[ValidationReport, "batch_validation"],
    Annotated[HTMLString, "batch_validation_html"],
]:
    """Load the batch and validate it with the production version's training rules.

    ``batch_stamp`` (size and mtime of a local file) only makes ZenML's cache see
    a changed file as a new input.
    """
    from steps.data.loading import FileSource

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    frame = load_table(FileSource(kind="file", path=batch_path), ".")
    info = load_production_inputs(model_name, production_version, with_reference=False).info
    report = validate_batch(frame, info, data, batch_path)
    log_metadata(
        metadata={"rows": len(frame), "path": batch_path, "labelled": info.target in frame},
        artifact_name="monitoring_batch",
        infer_artifact=True,
    )
    return frame, report, HTMLString(render_report_html(report, batch_path))


@step
def batch_gate(batch_validation: ValidationReport) -> None:
    """Stop before any comparison when the batch failed validation (exit 3)."""
    if not batch_validation.success:
        raise DataValidationError(
            "The batch failed validation; no drift was computed and nothing was retrained.\n"
            + batch_validation.summary()
        )


@step
def drift_statistics(
    monitoring_batch: pd.DataFrame,
    model_name: str,
    production_version: str,
    monitoring: MonitoringConfig,
) -> tuple[
    Annotated[DriftStatistics, "drift_statistics"],
    Annotated[dict[str, float], "batch_quality"],
]:
    """Drift of every feature over the whole batch, and the model's quality when labelled."""
    inputs = load_production_inputs(model_name, production_version)
    assert inputs.reference is not None
    info = inputs.info
    method = monitoring.drift.method
    statistic = "psi" if method == "evidently" else method
    columns = column_statistics(
        inputs.reference, monitoring_batch, info.features, statistic, monitoring.drift.bins
    )
    quality = batch_quality(inputs.model, monitoring_batch, info, monitoring.chunk_rows)
    statistics = DriftStatistics(
        production_version=production_version,
        reference_rows=len(inputs.reference),
        batch_rows=len(monitoring_batch),
        columns=columns,
    )
    return statistics, quality


@step(experiment_tracker=True)
def drift_report(
    monitoring_batch: pd.DataFrame,
    model_name: str,
    production_version: str,
    monitoring: MonitoringConfig,
) -> tuple[
    Annotated[HTMLString, "drift_report"],
    Annotated[dict[str, Any], "drift_report_figures"],
]:
    """Evidently's drift (and quality) report on a seeded sample, for people.

    The HTML is this step's dashboard visualization and an artifact of the
    pipeline run's MLflow run; the figures (with the sample's size and seed)
    are returned for the decision and kept on the run.
    """
    import mlflow

    from steps.monitoring.report_inputs import report_figures_and_html

    inputs = load_production_inputs(model_name, production_version)
    assert inputs.reference is not None
    html, figures = report_figures_and_html(inputs, monitoring_batch, monitoring)
    mlflow.log_text(html, "drift_report.html")
    mlflow.log_metrics(
        {
            "drift_report.drifted_share": figures.drifted_share,
            "drift_report.drifted_count": figures.drifted_count,
        }
    )
    return HTMLString(html), figures.model_dump()


@step(experiment_tracker=True, enable_cache=False)
def drift_decision(
    drift_statistics: DriftStatistics,
    batch_quality: dict[str, float],
    drift_report_figures: dict[str, Any],
    model_name: str,
    monitoring: MonitoringConfig,
) -> Annotated[DriftDecision, "drift_decision"]:
    """Apply the configured drift rule; record the decision on the run and in MLflow."""
    import mlflow

    rule = monitoring.drift
    if rule.method == "evidently":
        scores = [(c["column"], c["method"], c["score"]) for c in drift_report_figures["columns"]]
        columns = judge_columns(scores, rule.column_threshold)
        # Evidently judged each column with its own threshold and direction: keep its verdict.
        columns = [
            c.model_copy(update={"drifted": bool(r["drifted"]), "threshold": float(r["threshold"])})
            for c, r in zip(columns, drift_report_figures["columns"], strict=True)
        ]
    else:
        scores = [(c.column, c.method, c.score) for c in drift_statistics.columns]
        columns = judge_columns(scores, rule.column_threshold)
    history = earlier_decisions(model_name, rule.window.n - 1) if rule.window else []
    decision = decide(
        model_name,
        drift_statistics.production_version,
        drift_statistics.batch_rows,
        columns,
        judge_quality(batch_quality, rule.quality_floor),
        rule,
        history,
    )
    record_decision(decision, drift_report_figures)
    mlflow.log_metrics(
        {"drift.share": decision.drift_share, "drift.retrain": float(decision.retrain)}
        | {f"drift.score.{c.column}": c.score for c in decision.columns}
        | {f"quality.{k}": v for k, v in batch_quality.items()}
    )
    mlflow.set_tags(
        {
            "monitoring.model": model_name,
            "monitoring.production_version": decision.production_version,
            "monitoring.retrain": str(decision.retrain).lower(),
            "monitoring.summary": decision.summary()[:5000],
        }
    )
    return decision


def record_decision(decision: DriftDecision, figures: dict[str, Any]) -> None:
    """Keep the decision and the report's figures on the pipeline run (queryable)."""
    run_id = get_step_context().pipeline_run.id
    log_metadata(
        metadata={DECISION_KEY: decision.metadata(), REPORT_KEY: figures},
        run_id_name_or_prefix=run_id,
    )


def earlier_decisions(model_name: str, count: int) -> list[bool]:
    """Whether the newest ``count`` earlier monitoring runs of ``model_name`` drifted."""
    from zenml.client import Client

    client = Client()
    current = get_step_context().pipeline_run.id
    found: list[bool] = []
    page = 1
    while len(found) < count:
        runs = client.list_pipeline_runs(
            pipeline_name="monitoring", sort_by="desc:created", page=page, size=50, hydrate=True
        )
        for run in runs.items:
            recorded = run.run_metadata.get(DECISION_KEY)
            if run.id == current or not isinstance(recorded, dict):
                continue
            if recorded.get("model") == model_name and len(found) < count:
                found.append(bool(recorded.get("batch_drifted")))
        if page >= runs.total_pages:
            break
        page += 1
    return found
