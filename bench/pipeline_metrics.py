"""Print the holdout metrics one training-pipeline run stored, as JSON.

    ZENML_CONFIG_PATH=... python bench/pipeline_metrics.py --run training-2026_...

``run.py`` prints the metrics rounded to four decimals; the overhead harness
needs the exact floats to check that the pipeline and the bare script computed
the same thing, so it reads the ``metrics`` artifact back from the ZenML store
the run wrote to. It runs as its own process so the harness never imports
ZenML (or holds the store's SQLite file open) while it measures other runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_metrics(run_name: str) -> dict[str, float]:
    """The ``metrics`` output of the run's evaluate_model step (cached or not)."""
    from zenml.client import Client

    run = Client().get_pipeline_run(run_name, allow_name_prefix_match=False)
    step = run.steps.get("evaluate_model")
    if step is None or not step.outputs.get("metrics"):
        raise SystemExit(f"error: run '{run_name}' has no evaluate_model metrics output")
    metrics = step.outputs["metrics"][0].load()
    return {str(name): float(value) for name, value in metrics.items()}


def main(argv: list[str] | None = None) -> int:
    """Parse the run name and print its metrics as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, metavar="NAME", help="pipeline run name")
    args = parser.parse_args(argv)
    # Artifacts may name project classes as their type; import them from this checkout.
    sys.path.insert(0, str(PROJECT_ROOT))
    print(json.dumps(run_metrics(args.run), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
