"""Keep a monitoring run's drift report as a file beside the dashboard copy (CI uploads it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from steps.report_files import save_step_html

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

#: Where run.py writes each monitoring run's report, relative to the working directory.
REPORT_DIR = Path("reports") / "monitoring"


def save_drift_report(
    run: PipelineRunResponse, model_name: str, directory: Path = REPORT_DIR
) -> Path | None:
    """Write the run's Evidently report HTML to ``directory``; None if it made none."""
    path = save_step_html(
        run, "drift_report", "drift_report", directory / f"{model_name}-{run.name}.html"
    )
    return None if path is None else path.resolve()
