"""What the leakage probe costs on the training split, at 100k, 1M and 10M rows.

    .venv/bin/python bench/leakage_probe.py                    # 100k, 1M and 10M rows
    .venv/bin/python bench/leakage_probe.py --rows 1000000     # one size

The frames come from the built-in generator (``generate_transactions(n, seed=1)``, the
generator's own features, target ``is_fraud``, task ``binary``, default ``LeakageCheck``:
a 100k-row sample). Generating 10M rows takes far longer than probing them, so only the probe
is timed: wall seconds of ``probe_leakage`` alone, best and median of ``--repeats`` calls on
the same frame, printed beside the limit (``--limit``, 2 s). The highest feature score is
printed too, so a change that makes the probe fast by making it wrong shows. Exits 1 when the
median is over the limit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs.schema import LeakageCheck
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.validation.leakage import probe_leakage


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the leakage probe on generated data.")
    parser.add_argument(
        "--rows",
        default="100000,1000000,10000000",
        help="comma-separated row counts (default: 100000,1000000,10000000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="probe calls per size")
    parser.add_argument("--limit", type=float, default=2.0, help="seconds the probe may take")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = LeakageCheck()
    features = fraud_feature_specs()
    print(
        f"{'rows':>11} {'generate s':>11} {'probe best s':>13} {'probe median s':>15} "
        f"{'limit s':>8} {'sampled':>8}  highest score"
    )
    over = False
    for rows in (int(value) for value in args.rows.split(",")):
        start = time.perf_counter()
        frame = generate_transactions(rows, seed=1)
        generate = time.perf_counter() - start
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            findings, scores = probe_leakage(frame, features, FRAUD_TARGET, "binary", config)
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        over = over or median > args.limit
        column = max(scores, key=scores.__getitem__)
        print(
            f"{rows:>11,} {generate:>11.2f} {min(seconds):>13.3f} {median:>15.3f} "
            f"{args.limit:>8.1f} {min(rows, config.sample_rows):>8,}  "
            f"{scores[column]:.4f} ({column}); findings: {len(findings)}"
        )
        del frame
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
