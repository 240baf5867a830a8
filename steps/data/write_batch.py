"""Write a batch of generated transactions to CSV or Parquet, to score or monitor.

    python -m steps.data.write_batch --rows 20000 --shift 0.6 --out batches/drifted.csv

``--shift 0`` draws from the training distribution (a batch that should not
trigger retraining), ``--shift 0.5`` and more moves amounts, channels,
countries, hours, account ages and velocity (one that should). ``--no-labels``
leaves out the target, as a batch to score arrives. CSV is written the way such
files are usually published, with pandas' index column.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from steps.data.synthetic import FRAUD_TARGET, generate_transactions


def build_parser() -> argparse.ArgumentParser:
    """The command line, with what each option does."""
    parser = argparse.ArgumentParser(
        prog="python -m steps.data.write_batch",
        description="Write generated card transactions (the training data's generator) to a "
        "file, optionally shifted, to try batch inference and monitoring.",
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument(
        "--shift", type=float, default=0.0, help="drift severity 0..1 (default 0: no drift)"
    )
    parser.add_argument("--no-labels", action="store_true", help=f"leave out '{FRAUD_TARGET}'")
    parser.add_argument(
        "--out", type=Path, required=True, help="output file: .csv, .csv.gz or .parquet"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Generate and write the batch; exit 2 on bad arguments."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    if not 0.0 <= args.shift <= 1.0:
        parser.error(f"--shift must be between 0 and 1, got {args.shift}")
    name = args.out.name
    if not name.endswith((".csv", ".csv.gz", ".parquet", ".pq")):
        parser.error(f"--out {args.out}: expected a .csv, .csv.gz or .parquet file name")
    frame = generate_transactions(args.rows, seed=args.seed, shift=args.shift)
    if args.no_labels:
        frame = frame.drop(columns=[FRAUD_TARGET])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(args.out, index=False)
    else:
        frame.to_csv(args.out)
    print(f"Wrote {len(frame):,} rows (shift {args.shift:g}, seed {args.seed}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
