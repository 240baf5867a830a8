"""Keep a deploy's comparison report as a file beside the dashboard copy (CI uploads it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from steps.report_files import save_step_html

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

#: Where run.py writes each deploy's report, relative to the working directory.
REPORT_DIR = Path("reports") / "deployment"


def save_comparison_report(
    run: PipelineRunResponse, model_name: str, directory: Path = REPORT_DIR
) -> Path | None:
    """Write the run's comparison report HTML to ``directory``; None if it made none."""
    challenger = run.config.parameters.get("challenger_version") if run.config.parameters else None
    path = directory / f"{model_name}-v{challenger or 'unknown'}.html"
    return save_step_html(run, "evaluate_candidates", "comparison_report", path)
