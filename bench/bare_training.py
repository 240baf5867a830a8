"""The training pipeline's work as a bare Python script: no ZenML, no MLflow.

    python bench/bare_training.py --rows 100000 --config configs/local.yaml

It is the baseline that ``bench/training_overhead.py`` compares the pipeline
against, so it calls exactly the functions the pipeline's steps wrap (same
generator, seed and fraud rate, same split, same model, same metrics) and
nothing else: no validation, no fingerprint, no artifact store, no registry.
Whatever the pipeline takes beyond this is orchestration and bookkeeping.

Progress goes to stderr; stdout carries one JSON object (metrics, per-phase
seconds, peak RSS) so the harness can check that the pipeline produced the
same metrics from the same data, config and seed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from configs.schema import FeatureSpec, RunConfig

#: Started before the project's heavy imports (pandas, scikit-learn), so the
#: "import" phase below is comparable with the pipeline's start-up.
_PROCESS_START = time.perf_counter()
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class PhaseTimer:
    """Wall seconds per named phase, in the order the phases ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed block and report it on stderr as it ends."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start
            print(f"  {name:<9} {self.seconds[name]:8.3f} s", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI: a row count and the run config the pipeline would get."""
    parser = argparse.ArgumentParser(
        description="Generate, split, train and evaluate exactly as the training pipeline "
        "does, without ZenML or MLflow; print the metrics and phase timings as JSON.",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows to generate (default: data.source.rows from the config)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=PROJECT_ROOT / "configs" / "local.yaml",
        metavar="PATH",
        help="run config YAML with a synthetic data source (default: configs/local.yaml)",
    )
    return parser.parse_args(argv)


def use_project_source() -> None:
    """Import the project from this checkout, as ``python run.py`` does from its folder.

    The project is not installed into the virtualenv; a script in bench/ only
    has bench/ on its path.
    """
    root = str(PROJECT_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def feature_mismatch(config: RunConfig, generator_specs: list[FeatureSpec]) -> str | None:
    """Why the config's features would build a different model than the generator's, if so.

    The pipeline builds the model from the config's feature list (when it has
    one); this script uses ``fraud_feature_specs()``. The model depends only on
    the features' names, kinds and order, so those must agree for the two to
    train the same model.
    """
    if config.data.features is None:
        return None
    wanted = [(f.name, f.kind) for f in config.data.features]
    ours = [(f.name, f.kind) for f in generator_specs]
    if wanted == ours:
        return None
    return f"config features {wanted} differ from fraud_feature_specs() {ours}"


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the pipeline's work phase by phase and return the JSON report."""
    timer = PhaseTimer()
    print(f"bare training: {args.config}", file=sys.stderr)
    with timer.phase("import"):
        use_project_source()
        from configs.loader import load_run_config
        from configs.schema import SyntheticSource
        from steps.data.synthetic import fraud_feature_specs, generate_transactions
        from steps.evaluation.metrics import evaluate
        from steps.training.training import fit_model, split_holdout
    with timer.phase("config"):
        config = load_run_config(args.config)
        source = config.data.source
        if not isinstance(source, SyntheticSource):
            raise SystemExit(f"error: {args.config}: data.source must be synthetic for this script")
        rows = source.rows if args.rows is None else args.rows
        features = fraud_feature_specs()
        mismatch = feature_mismatch(config, features)
        if mismatch is not None:
            print(f"WARNING: {mismatch}", file=sys.stderr)
    with timer.phase("generate"):
        frame = generate_transactions(
            rows, seed=source.seed, fraud_rate=source.fraud_rate, shift=source.shift
        )
    with timer.phase("split"):
        train_set, holdout_set = split_holdout(
            frame, config.data.target, config.data.task, config.split
        )
    # The ingest step's default: the configured positive class, else the second
    # of target_classes, else the label that sorts last (None here).
    classes = config.data.target_classes
    positive = config.data.positive_class or (classes[1] if classes else None)
    with timer.phase("train"):
        result = fit_model(
            train_set,
            features,
            config.data.target,
            config.data.task,
            config.training,
            config.evaluation.primary_metric,
            config.evaluation.decision_threshold,
            positive,
        )
    with timer.phase("evaluate"):
        metrics = evaluate(
            result.model, holdout_set, config.data.target, config.data.task, positive
        )
    return {
        "rows": rows,
        "seed": source.seed,
        "fraud_rate": source.fraud_rate,
        "config": str(args.config),
        "feature_mismatch": mismatch,
        "metrics": metrics,
        "decision_threshold": result.threshold.model_dump() if result.threshold else None,
        "phases_s": timer.seconds,
        "in_process_s": time.perf_counter() - _PROCESS_START,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print the report as one JSON line on stdout."""
    report = run(parse_args(argv))
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
