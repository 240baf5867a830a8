"""Monitoring at 100k, 1M and 10M rows: the drift decision, the whole ``monitor`` run, batch scoring.

    .venv/bin/python bench/monitoring.py                        # 100k, 1M, 10M; about 20 minutes
    .venv/bin/python bench/monitoring.py --sizes 100000 --inference-sizes "" --skip-monitor-run

In one invocation, on the generator's data (reference: 50k rows, seed 1, as the
production model's training data; batch: ``shift=0.5``, seed 2), each size
generated once and saved as Parquet (and CSV for batch scoring) in a temporary
folder, and every measurement in a fresh child process that loads the files
first (not timed):

1. **drift decision**: ours (``column_statistics`` with PSI and 10 bins, then
   ``judge_columns`` and ``decide`` with the default ``DriftRule``) beside *bare*
   numpy computing the same per-column PSI (:func:`bare_psi`, checked to agree
   with ours) and beside Evidently's ``DataDriftPreset`` on the whole frame, killed
   after ``--evidently-limit`` seconds;
2. **whole monitor run**: ``run.py --pipeline monitor --no-retrain --no-cache`` on
   each batch file, labelled (``is_fraud`` kept: the run also scores the batch for
   the model's quality) and unlabelled (drift only), against a model trained and
   put in production first in a throw-away ZenML store (``--skip-monitor-run``
   leaves this out);
3. **batch inference** at ``--inference-sizes``: ``score_file`` with the pipeline's
   validation callback, Parquet in and out (and CSV in and out at ``--csv-sizes``),
   beside in-process ``model.predict`` over the same rows already in memory (the
   Parquet scorer and ``predict`` take turns in one child, so both see the same
   machine); and ``run.py --pipeline batch-inference`` on the same store at
   ``--pipeline-inference-sizes``.

Peak memory of a child is its peak RSS (``VmHWM``, reset after loading through
``/proc/self/clear_refs``) minus its RSS once the data is loaded: what the
measured thing adds (in the paired child, per call, after freed memory is handed
back to the system). Tables print at the end; figures go to
bench/results/monitoring-<timestamp>.json, logs to bench/results/monitoring-<timestamp>/.
A missed target is a finding: the command exits 0 when everything ran and our
statistics agree with the bare ones, 1 otherwise. The internal entry point
``--measure KIND --job JSON`` is what the children run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import psutil
import yaml
from harness import (
    PROJECT_ROOT,
    QUIET_CORES,
    RESULTS_DIR,
    CpuWindow,
    child_env,
    format_table,
    kill_tree,
    load_average,
    median,
    other_cores_now,
    tree_rss_bytes,
)

from configs.schema import MonitoringConfig

REFERENCE_ROWS = 50_000
REFERENCE_SEED = 1
BATCH_SEED = 2
BATCH_SHIFT = 0.5
BASE_CONFIG = PROJECT_ROOT / "configs" / "local.yaml"
MODEL_NAME = "bench-monitor"
#: Targets (the issue): the 10M-row decision within 15 s and 3x the bare computation,
#: the memory it adds within 3x the frame, batch scoring at least 0.8x in-process predict.
DECISION_LIMIT_S = 15.0
DECISION_RATIO_LIMIT = 3.0
MEMORY_RATIO_LIMIT = 3.0
INFERENCE_RATIO_FLOOR = 0.8
TARGET_ROWS = 10_000_000
#: Ours and bare must agree this closely (absolute PSI difference per column).
AGREEMENT_TOLERANCE = 1e-6
PSI_FLOOR = 1e-4
MIB = 2**20
#: What a user's run scores at a time: the config's default.
DEFAULT_CHUNK_ROWS: int = MonitoringConfig.model_fields["chunk_rows"].default

# --------------------------------------------------------------------------- the bare computation


def _psi(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike, floor: float) -> float:
    """sum((c - r) * ln(c / r)) over bin shares, each share floored at ``floor``."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    r = np.maximum(r / r.sum(), floor)
    c = np.maximum(c / c.sum(), floor)
    return float(np.sum((c - r) * np.log(c / r)))


def _value_counts(values: npt.NDArray[np.float64], points: npt.NDArray[np.float64]) -> Any:
    """Counts per reference value (``points``, sorted), then one for values not among them."""
    position = np.minimum(np.searchsorted(points, values), len(points) - 1)
    hit = points[position] == values
    counts = np.bincount(position[hit], minlength=len(points))
    return np.append(counts, values.size - int(np.count_nonzero(hit)))


def bare_psi(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    bins: int = 10,
    max_distinct: int = 20,
    floor: float = PSI_FLOOR,
) -> dict[str, float]:
    """Per-column PSI as someone would write it with numpy alone, without our module.

    Numeric columns: the finite values as float64; with at most ``max_distinct``
    distinct reference values one bin per value plus one for values the reference
    never had, otherwise ``bins`` reference-quantile bins (duplicate edges merged),
    right-closed (``searchsorted(..., side="left")``: a value equal to an edge falls
    in the bin below it). Categorical columns: one bin per category the reference
    holds (pandas Categorical codes and ``bincount``), plus one for the rest. Missing
    values are left out of every bin.
    """
    probabilities = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    scores: dict[str, float] = {}
    for name in numeric:
        ref = reference[name].to_numpy(dtype=np.float64, na_value=np.nan)
        cur = current[name].to_numpy(dtype=np.float64, na_value=np.nan)
        ref = ref[np.isfinite(ref)]
        cur = cur[np.isfinite(cur)]
        points = np.unique(ref)
        if len(points) <= max_distinct:
            ref_counts, cur_counts = _value_counts(ref, points), _value_counts(cur, points)
        else:
            edges = np.unique(np.quantile(ref, probabilities))
            ref_counts = np.bincount(np.searchsorted(edges, ref), minlength=len(edges) + 1)
            cur_counts = np.bincount(np.searchsorted(edges, cur), minlength=len(edges) + 1)
        scores[name] = _psi(ref_counts, cur_counts, floor)
    for name in categorical:
        ref_cat = pd.Categorical(reference[name])
        cur_cat = pd.Categorical(current[name], categories=ref_cat.categories)
        k = len(ref_cat.categories)
        ref_codes, cur_codes = np.asarray(ref_cat.codes), np.asarray(cur_cat.codes)
        ref_all = np.bincount(ref_codes[ref_codes >= 0], minlength=k)
        cur_all = np.bincount(cur_codes[cur_codes >= 0], minlength=k)
        unseen = int(np.count_nonzero((cur_codes < 0) & current[name].notna().to_numpy()))
        used = ref_all > 0
        ref_counts = np.append(ref_all[used], 0)
        cur_counts = np.append(cur_all[used], int(cur_all[~used].sum()) + unseen)
        scores[name] = _psi(ref_counts, cur_counts, floor)
    return scores


def max_difference(ours: Mapping[str, float], bare: Mapping[str, float]) -> tuple[float, str]:
    """The largest absolute score difference and its column; inf when the columns differ."""
    if set(ours) != set(bare):
        return math.inf, ",".join(sorted(set(ours) ^ set(bare)))
    worst, where = 0.0, ""
    for name, score in ours.items():
        difference = abs(score - bare[name])
        if difference > worst or not where:
            worst, where = difference, name
    return worst, where


# --------------------------------------------------------------------------- small pure helpers


def parse_sizes(text: str) -> list[int]:
    """ "100000,1e6,10_000_000" -> [100000, 1000000, 10000000] (deduplicated, ascending).

    An empty text is no sizes: that part of the bench is left out.
    """
    sizes = set()
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        value = float(part)
        if value < 1000 or not value.is_integer():
            raise argparse.ArgumentTypeError(f"a size must be a whole number >= 1000, got {part}")
        sizes.add(int(value))
    return sorted(sizes)


def mark(value: float, limit: float, at_least: bool = False) -> str:
    """PASS/MISS of ``value`` against ``limit`` (at most, or ``at_least``); NaN misses."""
    if math.isnan(value):
        return "MISS"
    ok = value >= limit if at_least else value <= limit
    return "PASS" if ok else "MISS"


_STEP_FINISHED = re.compile(r"Step `?([\w.-]+)`? has finished in `?([0-9dhms.]+)`?")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_step_times(log: str) -> dict[str, float]:
    """ZenML's ``Step `x` has finished in `1m2s`.`` lines, as seconds per step.

    ZenML's own figure: milliseconds under a minute, whole seconds past it.
    """
    found: dict[str, float] = {}
    for match in _STEP_FINISHED.finditer(log):
        parts = re.findall(r"([0-9.]+)([dhms])", match.group(2))
        if parts:
            found[match.group(1)] = sum(float(n) * _UNITS[u] for n, u in parts)
    return found


_STEP_STARTED = re.compile(r"Step `?([\w.-]+)`? has started")


class PhasePeaks:
    """The largest RSS sample per phase of a run, phases read from its output as it comes.

    ``start-up`` until the first ``Step x has started`` line, then each step from its
    start line until the next step's (the last one until the run ends): the moments
    after a step's ``has finished`` line, before its memory is released, count as
    the step's. :attr:`baseline_seen` turns True at a ``BASELINE`` line (a measuring
    child's start of the measured part).
    """

    def __init__(self) -> None:
        self.current = "start-up"
        self.peaks: dict[str, int] = {}
        self.baseline_seen = False
        self._partial = ""

    def feed(self, text: str) -> None:
        """New output (any cut: a line split across calls is joined)."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.startswith("BASELINE "):
                self.baseline_seen = True
            started = _STEP_STARTED.search(line)
            if started:
                self.current = started.group(1)

    def sample(self, rss_bytes: int) -> None:
        self.peaks[self.current] = max(self.peaks.get(self.current, 0), rss_bytes)

    @property
    def peak_phase(self) -> str | None:
        """The phase of the largest sample."""
        return max(self.peaks, key=self.peaks.__getitem__) if self.peaks else None


def human_rows(rows: int) -> str:
    """10000000 -> 10M, 100000 -> 100k."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if rows >= size and rows % size == 0:
            return f"{rows // size}{unit}"
    return f"{rows:,}"


def _cell(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}{suffix}"


# --------------------------------------------------------------------------- children: memory


def _status_bytes(field_name: str) -> int:
    """A ``VmRSS``/``VmHWM`` field of /proc/self/status, in bytes (0 where there is none)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def _reset_peak() -> bool:
    """Make ``VmHWM`` start again from the current RSS (Linux: ``5`` into clear_refs)."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Measured:
    """Around the measured part of a child: peak reset, baseline, the start line the parent waits for."""

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        self.reset = _reset_peak()
        self.baseline = _status_bytes("VmRSS")
        self.extra = extra or {}
        print("BASELINE " + json.dumps({"baseline_bytes": self.baseline, **self.extra}), flush=True)

    def figures(self) -> dict[str, Any]:
        peak = _status_bytes("VmHWM")
        return {
            "baseline_bytes": self.baseline,
            "peak_bytes": peak,
            "added_bytes": max(peak - self.baseline, 0),
            "peak_reset": self.reset,
        }


def _result(payload: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(payload), flush=True)


def _feature_names() -> tuple[list[str], list[str], list[Any]]:
    from steps.data.synthetic import fraud_feature_specs

    specs = fraud_feature_specs()
    numeric = [s.name for s in specs if s.kind == "numeric"]
    categorical = [s.name for s in specs if s.kind == "categorical"]
    return numeric, categorical, specs


def _frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(deep=True).sum())


# --------------------------------------------------------------------------- children: the work


def _generate(job: dict[str, Any]) -> dict[str, Any]:
    """Generate one frame and write it as Parquet (and CSV when asked)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from steps.data.synthetic import generate_transactions

    started = time.perf_counter()
    frame = generate_transactions(job["rows"], seed=job["seed"], shift=job["shift"])
    generated = time.perf_counter() - started
    frame.to_parquet(job["parquet"], index=False)
    if job.get("unlabelled"):
        from steps.data.synthetic import FRAUD_TARGET

        frame.drop(columns=[FRAUD_TARGET]).to_parquet(job["unlabelled"], index=False)
    if job.get("csv"):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        columns = [
            col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col
            for col in table.columns
        ]
        pacsv.write_csv(pa.table(columns, names=table.column_names), job["csv"])
    return {
        "rows": len(frame),
        "frame_bytes": _frame_bytes(frame),
        "generate_s": generated,
        "write_s": time.perf_counter() - started - generated,
        "parquet_bytes": os.path.getsize(job["parquet"]),
        "csv_bytes": os.path.getsize(job["csv"]) if job.get("csv") else None,
    }


def _timed_repeats(action: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    walls, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        walls.append(time.perf_counter() - started)
    return walls, result


def _drift_ours(job: dict[str, Any]) -> dict[str, Any]:
    """column_statistics (PSI, the rule's bins), judge_columns and decide, timed together."""
    from configs.schema import DriftRule
    from steps.monitoring.decision import decide, judge_columns
    from steps.monitoring.statistics import column_statistics

    _, _, specs = _feature_names()
    reference = pd.read_parquet(job["reference"])
    current = pd.read_parquet(job["batch"])
    rule = DriftRule()
    assert rule.method == "psi", "the bare computation is PSI, the default rule's method"

    def decision(cur: pd.DataFrame) -> Any:
        stats = column_statistics(reference, cur, specs, method="psi", bins=rule.bins)
        verdicts = judge_columns(
            [(s.column, s.method, s.score) for s in stats], rule.column_threshold
        )
        return stats, decide(MODEL_NAME, "1", len(cur), verdicts, [], rule)

    decision(current.head(1000))  # warm-up: first-call costs, not the work
    measured = _Measured()
    walls, (stats, verdict) = _timed_repeats(lambda: decision(current), job["repeats"])
    return {
        "wall_s": walls,
        **measured.figures(),
        "frame_bytes": _frame_bytes(current),
        "reference_bytes": _frame_bytes(reference),
        "rows": len(current),
        "scores": {s.column: s.score for s in stats},
        "drifted": verdict.drifted_columns,
        "summary": verdict.summary(),
    }


def _drift_bare(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`bare_psi` on the same frames."""
    numeric, categorical, _ = _feature_names()
    reference = pd.read_parquet(job["reference"])
    current = pd.read_parquet(job["batch"])
    bare_psi(reference, current.head(1000), numeric, categorical)  # warm-up
    measured = _Measured()
    walls, scores = _timed_repeats(
        lambda: bare_psi(reference, current, numeric, categorical), job["repeats"]
    )
    return {
        "wall_s": walls,
        **measured.figures(),
        "frame_bytes": _frame_bytes(current),
        "rows": len(current),
        "scores": scores,
        "drifted": [name for name, score in scores.items() if score >= 0.2],
    }


def _evidently(job: dict[str, Any]) -> dict[str, Any]:
    """Evidently's DataDriftPreset (PSI, the rule's threshold and share) on the whole frames.

    As the project calls it (steps/monitoring/report.py): columns declared, categories
    as strings, tests included so every column gets a verdict.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from configs.schema import DriftRule
    from steps.monitoring.report import (
        as_strings,
        drift_columns,
        drift_figures,
        drift_preset_options,
    )

    _, _, specs = _feature_names()
    rule = DriftRule()
    numerical, categorical = drift_columns(specs)
    names = [s.name for s in specs]
    reference = as_strings(pd.read_parquet(job["reference"])[names], categorical)
    current = as_strings(pd.read_parquet(job["batch"])[names], categorical)
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    options = drift_preset_options(rule.method, rule.column_threshold, rule.drift_share)
    measured = _Measured()
    started = time.perf_counter()
    report = Report([DataDriftPreset(columns=names, **options)], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    content = snapshot.dict()
    wall = time.perf_counter() - started
    share, count, columns = drift_figures(content)
    return {
        "wall_s": [wall],
        **measured.figures(),
        "rows": len(current),
        "drifted_share": share,
        "drifted_count": count,
        "scores": {c.column: c.score for c in columns},
        "drifted": [c.column for c in columns if c.drifted],
    }


def _train_model(job: dict[str, Any]) -> dict[str, Any]:
    """The configured model, fitted on the reference as the pipeline fits it (threshold 0.5)."""
    import pickle

    from configs.loader import load_run_config
    from steps.training.training import fit_model

    config = load_run_config(BASE_CONFIG)
    _, _, specs = _feature_names()
    reference = pd.read_parquet(job["reference"])
    started = time.perf_counter()
    result = fit_model(
        reference,
        specs,
        config.data.target,
        "binary",
        config.training,
        config.evaluation.primary_metric,
        decision_threshold=0.5,
        positive_class="1",
    )
    wall = time.perf_counter() - started
    with open(job["model"], "wb") as out:
        pickle.dump(result.model, out)
    return {"fit_s": wall, "estimator": type(result.model).__name__}


def _load_model(path: str) -> Any:
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


def _score(job: dict[str, Any]) -> dict[str, Any]:
    """score_file with the pipeline's validation callback (check_batch per chunk)."""
    import logging

    from configs.loader import load_run_config
    from steps.data.info import describe_dataset
    from steps.inference.batch import score_file
    from steps.validation.batch import check_batch

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    data_cfg = load_run_config(BASE_CONFIG).data
    reference = pd.read_parquet(job["reference"])
    info = describe_dataset(reference, "bench", data_cfg)
    model = _load_model(job["model"])
    path = job["input"]

    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        check_batch(chunk, info, data_cfg, path, first_row)

    def run(source: str, output: str) -> Any:
        return score_file(
            model,
            source,
            output,
            info.features,
            info.task,
            info.positive_class,
            "1",
            validate,
            chunk_rows=job["chunk_rows"],
        )

    # Warm-up on a small file of the same kind: Great Expectations' and the model's first calls.
    warm = Path(job["output"]).with_name("warm-up" + Path(path).suffix)
    small = reference.head(2000)
    if path.endswith(".csv"):
        small.to_csv(warm, index=False)
    else:
        small.to_parquet(warm, index=False)
    run(str(warm), str(warm.with_name("warm-up-out" + Path(job["output"]).suffix)))
    del reference, small
    if job.get("paired"):
        return _score_paired_with_predict(job, model, lambda: run(path, job["output"]))
    measured = _Measured()
    walls, summary = _timed_repeats(lambda: run(path, job["output"]), job.get("repeats", 1))
    figures = measured.figures()
    return {"wall_s": walls, **figures, **_scored_figures(summary, job["output"])}


def _scored_figures(summary: Any, output: str) -> dict[str, Any]:
    size = os.path.getsize(output)
    os.remove(output)
    return {
        "rows": summary.rows,
        "chunks": summary.chunks,
        "output_bytes": size,
        "prediction_counts": summary.prediction_counts,
    }


def _score_paired_with_predict(
    job: dict[str, Any], model: Any, score: Callable[[], Any]
) -> dict[str, Any]:
    """The scorer and the in-process peer in turns, in this one process: a fair ratio.

    Timed in separate children one after the other, the two saw different machines
    whenever other load changed between them (the peer moved by 20% from run to run on a
    shared machine). Here call i of each runs within seconds of the other, the order
    swapping every round, and each call's memory is its own: freed memory is handed back
    to the system (glibc's ``malloc_trim``, Arrow's pool) and the peak reset before it.
    The peer's frame is loaded first and stays loaded, outside both figures. The scorer
    also writes each row's probability; for the served binary model one
    ``predict_proba`` gives both (``steps/evaluation/predictions.py``), so the peer's
    single model pass is the same work, minus the reading, validating and writing.
    """
    x = _peer_input(job["input"])
    model.predict(x.head(1000))  # warm-up
    actions: dict[str, Callable[[], Any]] = {"ours": score, "peer": lambda: model.predict(x)}
    walls: dict[str, list[float]] = {"ours": [], "peer": []}
    added: dict[str, list[int]] = {"ours": [], "peer": []}
    last: dict[str, Any] = {}  # only the last result of each is kept: 10M labels are 80 MB
    measured = _Measured()
    for round_number in range(job.get("repeats", 1)):
        for name in ("ours", "peer") if round_number % 2 == 0 else ("peer", "ours"):
            last.pop(name, None)
            wall, grew, last[name] = _one_call(actions[name])
            walls[name].append(wall)
            added[name].append(grew)
    return {
        **measured.figures(),
        "wall_s": walls["ours"],
        "added_bytes": max(added["ours"]),
        "paired": True,
        **_scored_figures(last["ours"], job["output"]),
        "peer": {
            "wall_s": walls["peer"],
            "added_bytes": max(added["peer"]),
            **_predicted_figures(x, last["peer"]),
        },
    }


def _one_call(action: Callable[[], Any]) -> tuple[float, int, Any]:
    """Wall seconds, bytes the call added to RSS at its peak, and its result."""
    _release_free_memory()
    _reset_peak()
    baseline = _status_bytes("VmRSS")
    started = time.perf_counter()
    result = action()
    wall = time.perf_counter() - started
    return wall, max(_status_bytes("VmHWM") - baseline, 0), result


def _release_free_memory() -> None:
    """Hand memory freed by earlier calls back to the system, so it is not reused unseen."""
    import ctypes

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _peer_input(path: str) -> pd.DataFrame:
    """The feature columns of the batch, as read from its Parquet file (the peer's input)."""
    specs = _feature_names()[2]
    return pd.read_parquet(path)[[s.name for s in specs]]


def _predicted_figures(x: pd.DataFrame, labels: Any) -> dict[str, Any]:
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return {
        "rows": len(x),
        "frame_bytes": _frame_bytes(x),
        "prediction_counts": {str(v.item()): int(c) for v, c in zip(values, counts, strict=True)},
    }


def _promote(job: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of the bench model to production, without serving it."""
    from zenml.client import Client

    from steps.promotion.stages import (
        configure_mlflow_from_stack,
        get_version,
        set_stage,
        sync_mlflow,
    )

    # The throw-away store's own active stack: the project's local one, which run.py
    # registered and ran on (the fresh store's "default" stack has no MLflow tracker).
    Client().activate_stack("local")
    configure_mlflow_from_stack()
    set_stage(get_version(job["model_name"], "1"), "production")
    sync_mlflow(job["model_name"])
    return {"production": "1"}


MEASURES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": _generate,
    "drift-ours": _drift_ours,
    "drift-bare": _drift_bare,
    "evidently": _evidently,
    "train-model": _train_model,
    "score": _score,
    "promote": _promote,
}


def measure_main(kind: str, job_text: str) -> int:
    """A child: run one measurement, print ``RESULT {json}`` last."""
    sys.path.insert(0, str(PROJECT_ROOT))
    os.chdir(PROJECT_ROOT)
    _result(MEASURES[kind](json.loads(job_text)))
    return 0


# --------------------------------------------------------------------------- the parent


@dataclass
class DataFiles:
    """The generated files every child loads, and what the generator said about them."""

    reference: str
    reference_info: dict[str, Any] = field(default_factory=dict)
    #: Per batch size: the job (paths) and the generator's figures (frame_bytes, ...).
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Child:
    """One child process run to its end (or killed), with what it reported."""

    label: str
    exit_code: int | None
    wall_s: float
    #: ru_maxrss of the child (its largest single process), from wait4.
    maxrss_bytes: int
    #: The largest summed RSS of its process tree, polled every 0.1 s.
    tree_peak_bytes: int
    killed: str | None
    log: str
    other_cores: float
    result: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    #: Seconds from the BASELINE line (the measured part's start) to the end or the kill.
    measured_s: float | None = None
    #: Largest polled tree RSS per phase of a run.py run (start-up, then each step).
    phase_peaks_mb: dict[str, float] = field(default_factory=dict)
    peak_phase: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed is None


@dataclass
class Bench:
    """Runs the children, keeps every figure."""

    args: argparse.Namespace
    run_dir: Path
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = child_env(self.state_dir / "zenml")
        self.data_dir = self.state_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.memory_cap = int(psutil.virtual_memory().available * self.args.memory_share)

    def run(
        self,
        label: str,
        command: list[str],
        timeout_s: float,
        limit_s: float | None = None,
    ) -> Child:
        """Run ``command`` from the project root; kill it past ``limit_s`` after its BASELINE
        line, past ``timeout_s`` in all, or above the memory cap."""
        safe = re.sub(r"[^\w.-]+", "_", label)
        log = self.run_dir / "logs" / f"{safe}.log"
        print(f"  {label:<40}", end="", file=sys.stderr, flush=True)
        killed = None
        measured_from = None
        tree_peak = 0
        phases = PhasePeaks()
        with log.open("wb") as out, log.open("rb") as follow, CpuWindow(tracked={}) as window:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            started = time.perf_counter()
            proc = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
            root = psutil.Process(proc.pid)
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                now = time.perf_counter()
                phases.feed(follow.read().decode("utf-8", errors="replace"))
                rss = tree_rss_bytes(root)
                phases.sample(rss)
                tree_peak = max(tree_peak, rss)
                if measured_from is None and phases.baseline_seen:
                    measured_from = now
                if killed is None:
                    if limit_s is not None and measured_from and now - measured_from > limit_s:
                        killed = "time limit"
                    elif now - started > timeout_s:
                        killed = "timeout"
                    elif tree_peak > self.memory_cap:
                        killed = "memory cap"
                    if killed:
                        kill_tree(root)
                        pid, status, usage = os.wait4(proc.pid, 0)
                        break
                time.sleep(0.1)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        text = log.read_text(encoding="utf-8", errors="replace")
        child = Child(
            label=label,
            exit_code=proc.returncode,
            wall_s=wall,
            maxrss_bytes=usage.ru_maxrss * 1024,
            tree_peak_bytes=tree_peak,
            killed=killed,
            log=str(log),
            other_cores=window.other_cores,
            measured_s=(started + wall - measured_from) if measured_from else None,
            phase_peaks_mb={k: round(v / MIB, 1) for k, v in phases.peaks.items()},
            peak_phase=phases.peak_phase,
        )
        for line in text.splitlines():
            if line.startswith("RESULT "):
                child.result = json.loads(line[len("RESULT ") :])
            elif line.startswith("BASELINE "):
                child.baseline = json.loads(line[len("BASELINE ") :])
        note = f"killed ({killed})" if killed else ("" if child.ok else f"EXIT {child.exit_code}")
        noisy = (
            f"  others {window.other_cores:.2f} cores" if window.other_cores > QUIET_CORES else ""
        )
        print(f" {wall:7.1f} s  {note}{noisy}", file=sys.stderr, flush=True)
        if not child.ok and killed is None:
            tail = "\n".join(text.splitlines()[-15:])
            print(f"    see {log}:\n{tail}", file=sys.stderr)
        self.children.append(child)
        return child

    def measure(
        self,
        label: str,
        kind: str,
        job: dict[str, Any],
        timeout_s: float,
        limit_s: float | None = None,
    ) -> Child:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            kind,
            "--job",
            json.dumps(job),
        ]
        return self.run(label, command, timeout_s, limit_s)

    def run_py(self, label: str, arguments: list[str], timeout_s: float) -> Child:
        return self.run(label, [sys.executable, "run.py", *arguments], timeout_s)

    # ------------------------------------------------------------------ phases

    def generate(
        self, sizes: list[int], csv_sizes: set[int], unlabelled_sizes: set[int]
    ) -> DataFiles:
        """Reference and batches, once, as files every child loads."""
        files = DataFiles(reference=str(self.data_dir / "reference.parquet"))
        child = self.measure(
            f"generate reference {human_rows(REFERENCE_ROWS)}",
            "generate",
            {
                "rows": REFERENCE_ROWS,
                "seed": REFERENCE_SEED,
                "shift": 0.0,
                "parquet": files.reference,
            },
            timeout_s=300,
        )
        if not child.ok or child.result is None:
            raise RuntimeError(f"generating the reference failed; see {child.log}")
        files.reference_info = child.result
        for rows in sizes:
            job = {
                "rows": rows,
                "seed": BATCH_SEED,
                "shift": BATCH_SHIFT,
                "parquet": str(self.data_dir / f"batch-{rows}.parquet"),
                "csv": str(self.data_dir / f"batch-{rows}.csv") if rows in csv_sizes else None,
                "unlabelled": (
                    str(self.data_dir / f"batch-{rows}-unlabelled.parquet")
                    if rows in unlabelled_sizes
                    else None
                ),
            }
            child = self.measure(f"generate batch {human_rows(rows)}", "generate", job, 1200)
            if not child.ok or child.result is None:
                raise RuntimeError(f"generating {rows:,} rows failed; see {child.log}")
            files.batches[rows] = {**job, **child.result}
        return files

    def drift(self, rows: int, files: DataFiles) -> dict[str, Any]:
        """Ours, bare and Evidently on one size."""
        job = {
            "reference": files.reference,
            "batch": files.batches[rows]["parquet"],
            "repeats": self.args.repeats,
        }
        ours = self.measure(f"drift ours {human_rows(rows)}", "drift-ours", job, 1800)
        bare = self.measure(f"drift bare {human_rows(rows)}", "drift-bare", job, 1800)
        evidently = None
        if not self.args.skip_evidently:
            evidently = self.measure(
                f"evidently {human_rows(rows)}",
                "evidently",
                job,
                timeout_s=self.args.evidently_limit + 600,
                limit_s=self.args.evidently_limit,
            )
        return {"ours": ours, "bare": bare, "evidently": evidently}

    def write_config(self) -> Path:
        config = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
        config["model"]["name"] = MODEL_NAME
        path = self.run_dir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def setup_production(self) -> Path | None:
        """Train the bench model in the throw-away store, put version 1 in production."""
        config = self.write_config()
        train = self.run_py(
            "setup: train (not timed)", ["--pipeline", "train", "--config", str(config)], 900
        )
        if not train.ok:
            return None
        promote = self.measure(
            "setup: version 1 to production", "promote", {"model_name": MODEL_NAME}, 300
        )
        return config if promote.ok else None

    def monitor(self, rows: int, config: Path, files: DataFiles, labelled: bool) -> Child:
        """One monitor run; the HTML report it leaves in reports/monitoring/ moves to our logs.

        A labelled batch (``is_fraud`` present) also gets the production model's quality
        on it, which scores every row; an unlabelled one only drift.
        """
        data = files.batches[rows]["parquet" if labelled else "unlabelled"]
        child = self.run_py(
            f"monitor run {human_rows(rows)} {'labelled' if labelled else 'unlabelled'}",
            [
                "--pipeline",
                "monitor",
                "--config",
                str(config),
                "--data",
                data,
                "--no-retrain",
                "--no-cache",
            ],
            timeout_s=1800,
        )
        text = Path(child.log).read_text(encoding="utf-8", errors="replace")
        report = re.search(r"^Drift report: (\S+\.html)", text, re.MULTILINE)
        if report and Path(report.group(1)).name.startswith(MODEL_NAME):
            with contextlib.suppress(OSError):
                shutil.move(report.group(1), self.run_dir / "logs" / Path(report.group(1)).name)
        return child

    def inference(
        self, rows: int, files: DataFiles, model: str, config: Path | None
    ) -> dict[str, Child | None]:
        out = self.data_dir / "out"
        out.mkdir(exist_ok=True)
        common = {
            "reference": files.reference,
            "model": model,
            "chunk_rows": self.args.chunk_rows,
            "repeats": self.args.inference_repeats,
        }
        found: dict[str, Child | None] = {}
        # Parquet scoring and the in-process peer in turns in one child (see
        # _score_paired_with_predict): the ratio compares calls made seconds apart.
        paired = self.measure(
            f"score parquet {human_rows(rows)}, in turns with in-process predict",
            "score",
            {
                **common,
                "input": files.batches[rows]["parquet"],
                "output": str(out / f"scored-{rows}.parquet"),
                "paired": True,
            },
            7200,
        )
        found["parquet"] = paired
        found["predict"] = replace(
            paired,
            label=f"in-process predict {human_rows(rows)}",
            result=paired.result["peer"] if paired.result else None,
        )
        found["csv"] = None
        if files.batches[rows].get("csv"):
            found["csv"] = self.measure(
                f"score csv {human_rows(rows)}",
                "score",
                {
                    **common,
                    "input": files.batches[rows]["csv"],
                    "output": str(out / f"scored-{rows}.csv"),
                },
                3600,
            )
        found["pipeline"] = None
        if config is not None and rows in self.args.pipeline_inference_sizes:
            target = out / f"pipeline-{rows}.parquet"
            found["pipeline"] = self.run_py(
                f"batch-inference run {human_rows(rows)}",
                [
                    "--pipeline",
                    "batch-inference",
                    "--config",
                    str(config),
                    "--data",
                    files.batches[rows]["parquet"],
                    "--output",
                    str(target),
                ],
                timeout_s=3600,
            )
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        return found


# --------------------------------------------------------------------------- figures and tables


def _wall(child: Child | None) -> float:
    """The median measured wall seconds of a child, NaN if it failed."""
    if child is None or not child.ok or child.result is None:
        return math.nan
    return median(child.result["wall_s"])


def _added_mb(child: Child | None) -> float:
    if child is None or child.result is None:
        return math.nan
    return float(child.result["added_bytes"]) / MIB


def drift_rows(
    results: dict[int, dict[str, Any]], files: DataFiles, limit: float
) -> dict[int, dict[str, Any]]:
    """Per size, every figure of the drift table (also kept in the JSON)."""
    figures: dict[int, dict[str, Any]] = {}
    for rows, found in results.items():
        ours, bare, evidently = found["ours"], found["bare"], found["evidently"]
        frame_mb = files.batches[rows]["frame_bytes"] / MIB
        ours_s, bare_s = _wall(ours), _wall(bare)
        difference, column = (
            max_difference(ours.result["scores"], bare.result["scores"])
            if ours.ok and bare.ok and ours.result and bare.result
            else (math.nan, "")
        )
        evidently_s: float | str = "-"
        evidently_peak: float | str = "-"
        if evidently is not None:
            if evidently.killed == "time limit":
                evidently_s = f"> {limit:g}"
                base = (evidently.baseline or {}).get("baseline_bytes", 0)
                evidently_peak = f">= {max(evidently.tree_peak_bytes - base, 0) / MIB:.0f}"
            elif evidently.ok:
                evidently_s = _wall(evidently)
                evidently_peak = _added_mb(evidently)
            else:
                evidently_s = f"failed ({evidently.killed or evidently.exit_code})"
        ratio = ours_s / bare_s if bare_s > 0 else math.nan
        judged = rows >= TARGET_ROWS
        figures[rows] = {
            "ours_s": ours_s,
            "bare_s": bare_s,
            "ratio": ratio,
            "time_verdict": (
                (
                    "PASS"
                    if mark(ours_s, DECISION_LIMIT_S) == "PASS"
                    and mark(ratio, DECISION_RATIO_LIMIT) == "PASS"
                    else "MISS"
                )
                if judged
                else "-"
            ),
            "ours_added_mb": _added_mb(ours),
            "bare_added_mb": _added_mb(bare),
            "frame_mb": frame_mb,
            "memory_ratio": _added_mb(ours) / frame_mb,
            "memory_verdict": mark(_added_mb(ours) / frame_mb, MEMORY_RATIO_LIMIT),
            "ours_process_peak_mb": (ours.result["peak_bytes"] / MIB) if ours.result else math.nan,
            "evidently_s": evidently_s,
            "evidently_added_mb": evidently_peak,
            "max_difference": difference,
            "max_difference_column": column,
            "agree": bool(difference <= AGREEMENT_TOLERANCE),
            "ours_drifted": len(ours.result["drifted"]) if ours.result else None,
            "bare_drifted": len(bare.result["drifted"]) if bare.result else None,
            "evidently_drifted": (
                len(evidently.result["drifted"])
                if evidently is not None and evidently.result
                else None
            ),
            "columns": len(ours.result["scores"]) if ours.result else None,
        }
    return figures


def drift_table(figures: dict[int, dict[str, Any]], limit: float) -> str:
    header = [
        "drift decision",
        "ours s",
        "bare s",
        "ours/bare",
        "10M: <=15 s, <=3x",
        "ours peak MB",
        "bare peak MB",
        "frame MB",
        "peak/frame",
        "<=3x",
        "evidently s",
        "evid. peak MB",
        "drifted cols o/b/e",
        "max |ours-bare|",
    ]
    rows = []
    for n, f in figures.items():
        evidently_s = (
            f["evidently_s"] if isinstance(f["evidently_s"], str) else f"{f['evidently_s']:.2f}"
        )
        evidently_mb = (
            f["evidently_added_mb"]
            if isinstance(f["evidently_added_mb"], str)
            else f"{f['evidently_added_mb']:.0f}"
        )
        drifted = "/".join(
            "-" if d is None else str(d)
            for d in (f["ours_drifted"], f["bare_drifted"], f["evidently_drifted"])
        )
        rows.append(
            [
                f"{n:,} rows",
                _cell(f["ours_s"]),
                _cell(f["bare_s"]),
                _cell(f["ratio"], suffix="x"),
                f["time_verdict"],
                _cell(f["ours_added_mb"], 0),
                _cell(f["bare_added_mb"], 0),
                _cell(f["frame_mb"], 0),
                _cell(f["memory_ratio"], suffix="x"),
                f["memory_verdict"],
                evidently_s,
                evidently_mb,
                f"{drifted} of {f['columns']}",
                f"{f['max_difference']:.1e}" + ("" if f["agree"] else " DIFF"),
            ]
        )
    return format_table(header, rows)


MONITOR_STEPS = ("ingest_batch", "batch_gate", "drift_statistics", "drift_report", "drift_decision")


def monitor_rows(
    results: dict[tuple[int, bool], Child], files: DataFiles, drift: dict[int, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per size and batch kind ("10000000 labelled"), every figure of the monitor table."""
    figures: dict[str, dict[str, Any]] = {}
    for (rows, labelled), child in results.items():
        text = Path(child.log).read_text(encoding="utf-8", errors="replace")
        frame_mb = files.batches[rows]["frame_bytes"] / MIB
        peak_mb = max(child.maxrss_bytes, child.tree_peak_bytes) / MIB
        decision = re.search(r"^Decision: (.*)$", text, re.MULTILINE)
        steps = parse_step_times(text)
        figures[f"{rows} {'labelled' if labelled else 'unlabelled'}"] = {
            "rows": rows,
            "labelled": labelled,
            "wall_s": child.wall_s if child.ok else math.nan,
            "exit_code": child.exit_code,
            "steps_s": steps,
            #: Start-up, compiling the pipeline, between steps, the summary and exit.
            "rest_s": (child.wall_s - sum(steps.values())) if child.ok else math.nan,
            "decision_s": drift.get(rows, {}).get("ours_s", math.nan),
            "peak_mb": peak_mb,
            "peak_phase": child.peak_phase,
            "phase_peaks_mb": child.phase_peaks_mb,
            "frame_mb": frame_mb,
            "peak_ratio": peak_mb / frame_mb,
            "memory_verdict": (
                mark(peak_mb / frame_mb, MEMORY_RATIO_LIMIT) if rows >= TARGET_ROWS else "-"
            ),
            "decision": decision.group(1) if decision else None,
        }
    return figures


def monitor_table(figures: dict[str, dict[str, Any]]) -> str:
    header = [
        "monitor run",
        "labels",
        "wall s",
        *(f"{s} s" for s in MONITOR_STEPS),
        "rest s",
        "ours decision s",
        "peak MB",
        "peak in",
        "frame MB",
        "peak/frame",
        "10M: <=3x",
    ]
    rows = []
    for f in figures.values():
        rows.append(
            [
                f"{f['rows']:,} rows",
                "yes" if f["labelled"] else "no",
                _cell(f["wall_s"], 1) if f["exit_code"] == 0 else f"EXIT {f['exit_code']}",
                *(_cell(f["steps_s"].get(s), 1) for s in MONITOR_STEPS),
                _cell(f["rest_s"], 1),
                _cell(f["decision_s"]),
                _cell(f["peak_mb"], 0),
                f["peak_phase"] or "-",
                _cell(f["frame_mb"], 0),
                _cell(f["peak_ratio"], suffix="x"),
                f["memory_verdict"],
            ]
        )
    return format_table(header, rows)


def _rate(rows: int, child: Child | None, whole: bool = False) -> float:
    """Rows per second of a child: its measured call, or (``whole``) the whole command."""
    if child is None or not child.ok:
        return math.nan
    seconds = child.wall_s if whole else _wall(child)
    return rows / seconds if seconds > 0 else math.nan


def inference_rows(
    results: dict[int, dict[str, Child | None]], files: DataFiles
) -> dict[int, dict[str, Any]]:
    """Per size, every figure of the batch-inference table (also kept in the JSON)."""
    figures: dict[int, dict[str, Any]] = {}
    for rows, found in results.items():
        parquet, csv, predict, pipeline = (
            found[k] for k in ("parquet", "csv", "predict", "pipeline")
        )
        peer = _rate(rows, predict)
        parquet_rps, csv_rps = _rate(rows, parquet), _rate(rows, csv)
        pipeline_rps = _rate(rows, pipeline, whole=True)
        frame_mb = files.batches[rows]["frame_bytes"] / MIB
        same = None
        if parquet and predict and parquet.result and predict.result:
            same = parquet.result["prediction_counts"] == predict.result["prediction_counts"]
        pipeline_peak = math.nan
        if pipeline is not None:
            pipeline_peak = max(pipeline.maxrss_bytes, pipeline.tree_peak_bytes) / MIB
        figures[rows] = {
            "parquet_rps": parquet_rps,
            "csv_rps": csv_rps,
            "pipeline_rps": pipeline_rps,
            "pipeline_wall_s": pipeline.wall_s if pipeline and pipeline.ok else math.nan,
            "predict_rps": peer,
            "parquet_ratio": parquet_rps / peer,
            "csv_ratio": csv_rps / peer,
            "pipeline_ratio": pipeline_rps / peer,
            "parquet_verdict": mark(parquet_rps / peer, INFERENCE_RATIO_FLOOR, at_least=True),
            "csv_verdict": (
                mark(csv_rps / peer, INFERENCE_RATIO_FLOOR, at_least=True) if csv else "-"
            ),
            "parquet_added_mb": _added_mb(parquet),
            "csv_added_mb": _added_mb(csv),
            "predict_added_mb": _added_mb(predict),
            "pipeline_peak_mb": pipeline_peak,
            "frame_mb": frame_mb,
            "same_predictions": same,
            "prediction_counts": parquet.result["prediction_counts"]
            if parquet and parquet.result
            else None,
        }
    return figures


def inference_table(figures: dict[int, dict[str, Any]]) -> str:
    header = [
        "batch inference",
        "ours parquet rows/s",
        "ratio",
        ">=0.8x",
        "ours csv rows/s",
        "ratio",
        ">=0.8x",
        "run.py rows/s",
        "ratio",
        "in-process rows/s",
        "ours peak MB",
        "csv peak MB",
        "in-process peak MB",
        "run.py peak MB",
        "frame MB",
        "ours peak/frame",
        "same predictions",
    ]
    rows = []
    for n, f in figures.items():
        same = {None: "-", True: "yes", False: "NO"}[f["same_predictions"]]
        rows.append(
            [
                f"{n:,} rows",
                _cell(f["parquet_rps"], 0),
                _cell(f["parquet_ratio"], suffix="x"),
                f["parquet_verdict"],
                _cell(f["csv_rps"], 0),
                _cell(f["csv_ratio"], suffix="x"),
                f["csv_verdict"],
                _cell(f["pipeline_rps"], 0),
                _cell(f["pipeline_ratio"], suffix="x"),
                _cell(f["predict_rps"], 0),
                _cell(f["parquet_added_mb"], 0),
                _cell(f["csv_added_mb"], 0),
                _cell(f["predict_added_mb"], 0),
                _cell(f["pipeline_peak_mb"], 0),
                _cell(f["frame_mb"], 0),
                _cell(f["parquet_added_mb"] / f["frame_mb"], suffix="x"),
                same,
            ]
        )
    return format_table(header, rows)


def _json_safe(value: Any) -> Any:
    """NaN and inf as None (strict JSON), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Run it with the project's virtualenv on a quiet machine; see bench/README.md.",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes("100000,1000000,10000000"),
        help="batch rows for the drift decision and the monitor run "
        "(default 100000,1000000,10000000)",
    )
    parser.add_argument(
        "--inference-sizes",
        type=parse_sizes,
        default=parse_sizes("1000000,10000000"),
        help="batch rows for batch inference (default 1000000,10000000)",
    )
    parser.add_argument(
        "--csv-sizes",
        type=parse_sizes,
        default=parse_sizes("1000000"),
        help="inference sizes also scored from CSV to CSV (default 1000000)",
    )
    parser.add_argument(
        "--pipeline-inference-sizes",
        type=parse_sizes,
        default=parse_sizes("1000000"),
        help="inference sizes also scored by run.py --pipeline batch-inference (default 1000000)",
    )
    parser.add_argument(
        "--evidently-limit",
        type=float,
        default=120.0,
        help="seconds Evidently may take per size before it is killed (default 120)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed calls per drift child, the median is reported (default 3)",
    )
    parser.add_argument(
        "--inference-repeats",
        type=int,
        default=3,
        help="timed calls of each way in the batch-inference children (Parquet scoring and "
        "in-process predict take turns in one child), the median is reported (default 3; one "
        "10M-row call is about 40 s)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"score_file's chunk_rows (default {DEFAULT_CHUNK_ROWS}, monitoring.chunk_rows' default)",
    )
    parser.add_argument(
        "--memory-share",
        type=float,
        default=0.7,
        help="kill a child whose RSS passes this share of the memory available at "
        "start (default 0.7)",
    )
    parser.add_argument(
        "--skip-monitor-run",
        action="store_true",
        help="leave out the run.py parts (training setup, monitor and batch-inference runs)",
    )
    parser.add_argument("--skip-evidently", action="store_true", help="leave Evidently out")
    parser.add_argument(
        "--output", type=Path, help="the JSON (default bench/results/monitoring-<timestamp>.json)"
    )
    parser.add_argument(
        "--keep-state", action="store_true", help="keep the temporary data and ZenML store"
    )
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.inference_repeats < 1:
        parser.error("--repeats and --inference-repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure:
        return measure_main(args.measure, args.job or "{}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS_DIR / f"monitoring-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    output = args.output or RESULTS_DIR / f"monitoring-{stamp}.json"
    state_dir = Path(tempfile.mkdtemp(prefix="fraudops-bench-monitoring-"))
    quiet = other_cores_now()
    machine = {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": load_average(),
        "other_cores_at_start": round(quiet, 2),
    }
    print(
        f"state: {state_dir}   logs: {run_dir}\nmachine: {machine['cpus']} CPUs, "
        f"{machine['memory_gib']} GiB, load average {machine['load_average_at_start']}, "
        f"others busy on {quiet:.2f} cores",
        file=sys.stderr,
    )
    bench = Bench(args, run_dir, state_dir)
    inference_sizes = args.inference_sizes
    all_sizes = sorted(set(args.sizes) | set(inference_sizes))
    failure = None
    drift: dict[int, dict[str, Any]] = {}
    monitor: dict[tuple[int, bool], Child] = {}
    inference: dict[int, dict[str, Child | None]] = {}
    files = DataFiles(reference="")
    setup: dict[str, Any] = {}
    try:
        print("data (generated once, saved as files; not timed):", file=sys.stderr)
        files = bench.generate(
            all_sizes,
            set(args.csv_sizes) & set(inference_sizes),
            set() if args.skip_monitor_run else set(args.sizes),
        )
        print("drift decision (ours, bare numpy, Evidently):", file=sys.stderr)
        for rows in args.sizes:
            drift[rows] = bench.drift(rows, files)
        config = None
        if not args.skip_monitor_run:
            print("monitor run (run.py, throw-away ZenML store):", file=sys.stderr)
            config = bench.setup_production()
            setup["production_ready"] = config is not None
            if config is None:
                failure = "the monitor run's setup (train, promote) failed"
            else:
                for rows in args.sizes:
                    for labelled in (True, False):
                        monitor[rows, labelled] = bench.monitor(rows, config, files, labelled)
        if inference_sizes:
            print("batch inference:", file=sys.stderr)
            model = str(state_dir / "model.pkl")
            trained = bench.measure(
                "train the model (not timed)",
                "train-model",
                {"reference": files.reference, "model": model},
                900,
            )
            setup["model"] = trained.result
            if not trained.ok:
                raise RuntimeError(f"training the in-process model failed; see {trained.log}")
            for rows in inference_sizes:
                inference[rows] = bench.inference(rows, files, model, config)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        if args.keep_state:
            print(f"kept the state in {state_dir}", file=sys.stderr)
        else:
            shutil.rmtree(state_dir, ignore_errors=True)

    machine["load_average_at_end"] = load_average()
    drift_figures = drift_rows(drift, files, args.evidently_limit)
    monitor_figures = monitor_rows(monitor, files, drift_figures)
    inference_figures = inference_rows(inference, files)
    print(
        f"\nReference: {REFERENCE_ROWS:,} rows (seed {REFERENCE_SEED}); batches: shift {BATCH_SHIFT}, "
        f"seed {BATCH_SEED}; 18 features; PSI, 10 bins, threshold 0.2, drift share 0.5. "
        f"Times: median of {args.repeats} call(s) after a warm-up; peak MB: what the call adds "
        "to its process's RSS."
    )
    if drift_figures:
        print("\n" + drift_table(drift_figures, args.evidently_limit))
    if monitor_figures:
        print(
            "\nrun.py --pipeline monitor --no-retrain --no-cache (wall: the whole command; "
            "peak: the process's peak RSS)"
        )
        print(monitor_table(monitor_figures))
    if inference_figures:
        print(
            f"\nBatch inference (score_file, chunk_rows {args.chunk_rows:,}, check_batch per chunk) "
            "vs in-process model.predict on the frame in memory, Parquet scoring and predict "
            f"taking turns in one process; median of {args.inference_repeats} call(s) each; "
            "peak MB: the largest a call added"
        )
        print(inference_table(inference_figures))
    noisy = [c.label for c in bench.children if c.other_cores > QUIET_CORES]
    if noisy:
        print(
            f"\nWARNING: other processes used more than {QUIET_CORES} cores during: "
            + ", ".join(noisy)
        )
    failed = [c.label for c in bench.children if not c.ok and c.killed != "time limit"]
    disagree = [n for n, f in drift_figures.items() if not f["agree"]]
    if failed:
        print("FAILED: " + ", ".join(failed))
    if disagree:
        print(
            f"STATISTICS DIFFER from the bare computation by more than {AGREEMENT_TOLERANCE:g} at: "
            + ", ".join(f"{n:,} rows" for n in disagree)
        )
    if failure:
        print(f"FAILED: {failure}")
    record = {
        "created": stamp,
        "command": [sys.executable, *sys.argv],
        "machine": machine,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {
            "decision_s_at_10M": DECISION_LIMIT_S,
            "decision_vs_bare_at_10M": DECISION_RATIO_LIMIT,
            "memory_vs_frame": MEMORY_RATIO_LIMIT,
            "inference_vs_in_process": INFERENCE_RATIO_FLOOR,
        },
        "data": asdict(files),
        "setup": setup,
        "drift": drift_figures,
        "monitor": monitor_figures,
        "inference": inference_figures,
        "children": [asdict(c) for c in bench.children],
        "failure": failure,
    }
    output.write_text(json.dumps(_json_safe(record), indent=2), encoding="utf-8")
    print(f"\nJSON: {output}")
    return 1 if failure or failed or disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
