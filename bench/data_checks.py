"""What the data checks cost, per check, at 100k, 1M and 10M rows of the generator's data.

    .venv/bin/python bench/data_checks.py                  # 100k, 1M, 10M
    .venv/bin/python bench/data_checks.py --rows 100000    # a quick look

Times, in one process, on the same frame: the whole validation a run does (the Great
Expectations column suite plus the table checks, in the locked mode, which runs the
most checks), each table check on its own, the data profile, the split (row hash and
class check) and the leakage probe on the training split. The validation total is
printed beside its limit (10 s at 10M rows, issue 7; the issue sets none for fewer
rows); the command exits 1 when the limit is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs.schema import DataConfig, FileSource, SplitConfig
from steps.data.info import describe_dataset
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.training.training import split_holdout
from steps.validation.leakage import probe_leakage
from steps.validation.profile import ReferenceProfile, profile_frame
from steps.validation.table_checks import duplicate_check, target_checks
from steps.validation.validate import validate_dataset

#: Validation of 10M rows must stay within this (issue 7).
VALIDATION_LIMIT_S_AT_10M = 10.0


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def measure(rows: int) -> dict[str, float]:
    """Seconds per check on ``rows`` generated transactions."""
    frame = generate_transactions(rows, seed=1)
    # A file source (never read here), so the row-count check against the reference runs too.
    cfg = DataConfig(
        source=FileSource(kind="file", path="transactions.parquet"),
        target=FRAUD_TARGET,
        task="binary",
        features=fraud_feature_specs(),
    )
    info = describe_dataset(frame, "bench", cfg)
    columns = [f.name for f in info.features] + [FRAUD_TARGET]
    figures: dict[str, float] = {}
    figures["profile"], profile = timed(
        lambda: profile_frame(frame, info.features, cfg, sha256=info.sha256, excluded={})
    )
    reference = ReferenceProfile(model="bench", version="1", profile=profile, note="bench")
    validate_dataset(frame.head(1000), info, cfg, reference)  # warm up GE's imports
    figures["validation (all)"], report = timed(
        lambda: validate_dataset(frame, info, cfg, reference)
    )
    assert report.success, report.summary()
    figures["  duplicates"], _ = timed(
        lambda: duplicate_check(frame, columns, cfg.checks.max_duplicate_fraction)
    )
    figures["  target"], _ = timed(lambda: target_checks(frame, cfg, info.positive_class))
    figures["split"], (train, _) = timed(
        lambda: split_holdout(frame, FRAUD_TARGET, "binary", SplitConfig())
    )
    figures["leakage probe"], _ = timed(
        lambda: probe_leakage(
            train, info.features, FRAUD_TARGET, "binary", cfg.checks.leakage, positive_class="1"
        )
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="100000,1000000,10000000",
        help="comma-separated row counts (default: 100000,1000000,10000000)",
    )
    args = parser.parse_args(argv)
    sizes = [int(text.replace("_", "")) for text in args.rows.split(",")]
    results = {}
    for rows in sizes:
        print(f"measuring {rows:,} rows ...", file=sys.stderr, flush=True)
        results[rows] = measure(rows)
    names = list(next(iter(results.values())))
    header = ["check", *[f"{rows:,} rows" for rows in sizes]]
    table = [header]
    for name in names:
        table.append([name, *[f"{results[rows][name]:.2f} s" for rows in sizes]])
    at_limit = [rows >= 10_000_000 for rows in sizes]
    table.append(
        [
            "validation limit",
            *[f"{VALIDATION_LIMIT_S_AT_10M:.0f} s" if a else "-" for a in at_limit],
        ]
    )
    verdicts = [
        ("PASS" if results[rows]["validation (all)"] <= VALIDATION_LIMIT_S_AT_10M else "MISS")
        if judged
        else "-"
        for rows, judged in zip(sizes, at_limit, strict=True)
    ]
    table.append(["verdict", *verdicts])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 1 if "MISS" in verdicts else 0


if __name__ == "__main__":
    raise SystemExit(main())
