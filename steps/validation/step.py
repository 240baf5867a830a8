"""ZenML steps: run the Great Expectations suite, then gate on its result.

Validation and gate are two steps on purpose: the report artifact is stored
even when the data fails, so the dashboard shows why the run stopped.
"""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from configs.schema import DataConfig
from steps.data.info import DatasetInfo
from steps.validation.errors import DataValidationError
from steps.validation.profile import ReferenceProfile
from steps.validation.suite import ValidationReport, render_report_html
from steps.validation.validate import validate_dataset


@step
def validate_data(
    dataset: pd.DataFrame,
    dataset_info: DatasetInfo,
    data: DataConfig,
    reference: ReferenceProfile | None = None,
) -> tuple[
    Annotated[ValidationReport, "validation_report"],
    Annotated[HTMLString, "validation_report_html"],
]:
    """Validate the dataset against the config's schema with Great Expectations."""
    # GE logs its plugin registration at INFO, which ZenML's step logs would show.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    report = validate_dataset(dataset, dataset_info, data, reference)
    for note in report.notes:
        print(note)
    log_metadata(
        metadata={
            "success": report.success,
            "evaluated": report.evaluated,
            "failed": len(report.failures),
        },
        artifact_name="validation_report",
        infer_artifact=True,
    )
    return report, HTMLString(render_report_html(report, dataset_info.source))


@step
def data_validation_gate(validation_report: ValidationReport) -> None:
    """Stop the pipeline before training when the data failed validation."""
    if not validation_report.success:
        raise DataValidationError(validation_report.summary())
