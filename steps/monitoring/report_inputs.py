"""What the Evidently report is built on: seeded samples of both sides, with predictions.

The decision is made on the whole batch (steps/monitoring/statistics.py); the
report is for people, and Evidently is slow on large frames (45 s at 1M rows,
about 8 minutes at 10M, measured here), so it sees ``report.sample_rows`` rows
of each side drawn with ``report.seed``, both recorded with its figures.
"""

from __future__ import annotations

import pandas as pd

from configs.schema import MonitoringConfig
from steps.monitoring.reference import ProductionInputs
from steps.monitoring.report import ReportFigures, ReportInputs, build_report, seeded_sample

PREDICTION_COLUMN = "prediction"


def with_predictions(model: object, frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """``frame`` plus the model's predicted label (or value) in :data:`PREDICTION_COLUMN`."""
    scored = frame.copy()
    scored[PREDICTION_COLUMN] = model.predict(frame[features])  # type: ignore[attr-defined]
    return scored


def report_figures_and_html(
    inputs: ProductionInputs, batch: pd.DataFrame, monitoring: MonitoringConfig
) -> tuple[str, ReportFigures]:
    """Sample both sides, add predictions when the batch is labelled, build the report."""
    assert inputs.reference is not None
    info = inputs.info
    settings = monitoring.report
    reference, reference_sample = seeded_sample(
        inputs.reference, settings.sample_rows, settings.seed
    )
    current, current_sample = seeded_sample(batch, settings.sample_rows, settings.seed)
    labelled = info.target in batch.columns
    features = [f.name for f in info.features]
    prediction = None
    if labelled and PREDICTION_COLUMN not in features and info.target != PREDICTION_COLUMN:
        reference = with_predictions(inputs.model, reference, features)
        current = with_predictions(inputs.model, current, features)
        prediction = PREDICTION_COLUMN
    rule = monitoring.drift
    method = None if rule.method == "evidently" else rule.method
    html, figures = build_report(
        reference,
        current,
        ReportInputs(
            features=list(info.features),
            target=info.target if labelled else None,
            task=info.task,
            prediction=prediction,
            positive_class=info.positive_class,
            method=method,
            threshold=rule.column_threshold if method is not None else rule.threshold,
            drift_share=rule.drift_share,
            sample_rows=max(len(reference), len(current), 1),
            seed=settings.seed,
        ),
    )
    return html, figures.model_copy(
        update={"reference_sample": reference_sample, "current_sample": current_sample}
    )
