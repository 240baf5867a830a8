"""Keep a deploy's comparison report as a file beside the dashboard copy (CI uploads it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

#: Where run.py writes each deploy's report, relative to the working directory.
REPORT_DIR = Path("reports") / "deployment"


def save_comparison_report(
    run: PipelineRunResponse, model_name: str, directory: Path = REPORT_DIR
) -> Path | None:
    """Write the run's comparison report HTML to ``directory``; None if it made none."""
    step = run.steps.get("evaluate_candidates")
    if step is None or "comparison_report" not in step.outputs:
        return None
    html = step.outputs["comparison_report"][0].load()
    challenger = run.config.parameters.get("challenger_version") if run.config.parameters else None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model_name}-v{challenger or 'unknown'}.html"
    path.write_text(str(html), encoding="utf-8")
    return path
