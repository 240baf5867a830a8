"""Keep a monitoring run's drift report as a file beside the dashboard copy (CI uploads it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

#: Where run.py writes each monitoring run's report, relative to the working directory.
REPORT_DIR = Path("reports") / "monitoring"


def save_drift_report(
    run: PipelineRunResponse, model_name: str, directory: Path = REPORT_DIR
) -> Path | None:
    """Write the run's Evidently report HTML to ``directory``; None if it made none."""
    step = run.steps.get("drift_report")
    if step is None or "drift_report" not in step.outputs:
        return None
    html = step.outputs["drift_report"][0].load()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model_name}-{run.name}.html"
    path.write_text(str(html), encoding="utf-8")
    return path.resolve()
