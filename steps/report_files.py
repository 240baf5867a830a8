"""Keep a run's HTML report as a file beside the dashboard copy (CI uploads the files).

The deployment and the monitoring pipelines each return an HTML report from one
step; run.py writes it under ``reports/`` so a user or a CI job can open it
without the dashboard. Which step, which output and which file name is each
pipeline's (``steps/deployment/report_file.py``, ``steps/monitoring/report_file.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse


def save_step_html(
    run: PipelineRunResponse, step_name: str, output_name: str, path: Path
) -> Path | None:
    """Write the HTML ``step_name`` returned as ``output_name`` to ``path``; None if it made none."""
    step = run.steps.get(step_name)
    if step is None or output_name not in step.outputs:
        return None
    html = step.outputs[output_name][0].load()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(html), encoding="utf-8")
    return path
