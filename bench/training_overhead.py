"""What ZenML + MLflow cost on top of the training itself, per row count.

    .venv/bin/python bench/training_overhead.py                 # 100k, 1M, 10M rows
    .venv/bin/python bench/training_overhead.py --rows 100000   # quick check

For each row count, in the same invocation and the same isolated ZenML state:

1. ``bench/bare_training.py``: the same generator, split, model and metrics as
   the pipeline, as a plain script (the baseline);
2. ``run.py --pipeline train --no-cache``: the real CLI on a copy of the config
   with ``data.source.rows`` set and the quality thresholds emptied;
3. the same command with the cache on, twice; the second is the "cached re-run".

Each is timed from outside (wall seconds around the subprocess, peak RSS of the
process tree polled every 0.1 s). The pipeline's own step timings and the bare
script's phase timings show where the difference goes. The table puts each
figure beside its target; the raw figures go to bench/results/<timestamp>.json.
Exit code: 0 if every run succeeded and the metrics agree, 1 otherwise (a
missed target is a finding, not an error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil
import yaml
from harness import (
    busy_cpu_s,
    child_env,
    format_table,
    kill_tree,
    own_cpu_s,
    tree_rss_bytes,
    verdict,
)

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "local.yaml"
DEFAULT_ROWS = "100000,1000000,10000000"
#: Small enough to take seconds, large enough to run every step for real.
WARMUP_ROWS = 2_000
POLL_SECONDS = 0.1

FIXED_OVERHEAD_TARGET_S = 5.0
RATIO_TARGETS = {1_000_000: 1.5, 10_000_000: 1.1}
MEM_RATIO_TARGET = 3.0
CACHED_RERUN_TARGET_S = 3.0
#: Average CPU cores used by other processes above which a measurement is flagged.
QUIET_CORES = 0.2

PIPELINE_STEPS = (
    "reference_profile",
    "ingest_data",
    "validate_data",
    "data_validation_gate",
    "split_dataset",
    "leakage_gate",
    "train_model",
    "evaluate_model",
    "quality_gate",
    "register_model",
)
#: The bare script's phase that does the same work as a pipeline step.
BARE_PHASE_OF_STEP = {
    "ingest_data": "generate",
    "split_dataset": "split",
    "train_model": "train",
    "evaluate_model": "evaluate",
}
#: Steps a cached re-run still runs: reference_profile and register_model are declared
#: enable_cache=False, and every run registers a version, so the next run's reference is a
#: new artifact and validate_data (and its gate) must check the data against it again.
NEVER_CACHED = ("reference_profile", "validate_data", "data_validation_gate", "register_model")
CACHEABLE_STEPS = len(PIPELINE_STEPS) - len(NEVER_CACHED)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STEP_STARTED = re.compile(r"Step `?(\w+)`? has started")
_STEP_FINISHED = re.compile(r"Step `?(\w+)`? has finished in `?([0-9dhms.]+)`?")
_STEP_CACHED = re.compile(r"Using cached version of step `?(\w+)`?")
_RUN_FINISHED = re.compile(r"Run '([^']+)' finished on stack")
_CLI_READY = "Running pipeline 'train'"
_PIPELINE_FINISHED = "Pipeline run has finished in"


@dataclass(frozen=True)
class Line:
    """One output line, stamped with seconds since the process was started."""

    t: float
    stream: str
    text: str


@dataclass
class Measurement:
    """What one subprocess cost, seen from outside."""

    label: str
    command: list[str]
    wall_s: float
    peak_mb: float
    exit_code: int
    log: str
    #: Average CPU cores other processes kept busy meanwhile: 0 on a quiet machine.
    other_cores: float


@dataclass
class PipelineTrace:
    """Where a pipeline run's wall time went, read from its output lines.

    ``steps_s`` are ZenML's own "Step X has finished in Ys" figures (1 s
    resolution past a minute); ``steps_observed_s`` are the started/finished
    line times, which keep sub-second resolution. The stage fields split the
    rest: start-up until run.py prints "Running pipeline", run setup until the
    first step, gaps between steps, and reporting until the process exits.
    """

    run_name: str | None = None
    steps_s: dict[str, float] = field(default_factory=dict)
    steps_observed_s: dict[str, float] = field(default_factory=dict)
    cached_steps: list[str] = field(default_factory=list)
    startup_s: float | None = None
    run_setup_s: float | None = None
    between_steps_s: float | None = None
    report_exit_s: float | None = None


@dataclass
class PipelineRun:
    """One run of run.py: the outside measurement and the inside trace."""

    measurement: Measurement
    trace: PipelineTrace


@dataclass
class BareRun:
    """One run of bench/bare_training.py and the report it printed."""

    measurement: Measurement
    report: dict[str, Any] | None

    @property
    def metrics(self) -> dict[str, float] | None:
        """The metrics the script computed, if it got that far."""
        return None if self.report is None else dict(self.report["metrics"])

    def phases(self) -> dict[str, float]:
        """The script's own phase timings (empty if it failed)."""
        return {} if self.report is None else dict(self.report["phases_s"])


@dataclass
class RowResult:
    """Everything measured at one row count, plus the derived figures."""

    rows: int
    bare: BareRun
    pipeline: PipelineRun
    cache_prime: PipelineRun
    cached_rerun: PipelineRun
    pipeline_metrics: dict[str, float] | None
    metrics_diff: dict[str, list[float | None]] | None

    @property
    def ok(self) -> bool:
        """Every run exited 0 and the metrics were compared and agree."""
        runs = (self.bare, self.pipeline, self.cache_prime, self.cached_rerun)
        return all(r.measurement.exit_code == 0 for r in runs) and self.metrics_diff == {}

    @property
    def overhead_s(self) -> float:
        """Seconds the pipeline took beyond the bare script."""
        return self.pipeline.measurement.wall_s - self.bare.measurement.wall_s

    @property
    def ratio(self) -> float:
        """Pipeline wall time over bare wall time."""
        return self.pipeline.measurement.wall_s / self.bare.measurement.wall_s

    @property
    def mem_ratio(self) -> float:
        """Pipeline peak RSS over bare peak RSS (NaN if the bare run left no sample)."""
        bare = self.bare.measurement.peak_mb
        return self.pipeline.measurement.peak_mb / bare if bare > 0 else math.nan


# --------------------------------------------------------------------------- running


def _pump(
    stream: IO[str], name: str, start: float, lines: list[Line], log: IO[str], lock: threading.Lock
) -> None:
    """Copy a child's output line by line, stamping when each line arrived."""
    for raw in stream:
        line = Line(time.perf_counter() - start, name, _ANSI.sub("", raw.rstrip("\n")))
        with lock:
            lines.append(line)
            log.write(f"[{line.t:9.3f} {name}] {line.text}\n")
            log.flush()


def measure(
    label: str, command: list[str], env: dict[str, str], log_path: Path, timeout_s: float
) -> tuple[Measurement, list[Line]]:
    """Run ``command`` from the project root; time it and poll its tree's RSS.

    Output is read by threads (never a full pipe stalling the child) and kept
    with arrival times, which is how pipeline stages are timed from outside.
    """
    print(f"  {label:<28}", end="", flush=True)
    lines: list[Line] = []
    lock = threading.Lock()
    peak = 0
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        busy_before, own_before = busy_cpu_s(), own_cpu_s()
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            threading.Thread(target=_pump, args=(s, n, start, lines, log, lock), daemon=True)
            for s, n in ((proc.stdout, "out"), (proc.stderr, "err"))
        ]
        for reader in readers:
            reader.start()
        root = psutil.Process(proc.pid)  # not reaped before wait(), so it exists
        try:
            while True:
                peak = max(peak, tree_rss_bytes(root))
                try:
                    proc.wait(timeout=POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    if time.perf_counter() - start > timeout_s:
                        kill_tree(root)
                        proc.wait()
                        log.write(f"killed after {timeout_s:.0f} s\n")
                        break
        except BaseException:
            kill_tree(root)
            proc.wait()
            raise
        wall = time.perf_counter() - start
        for reader in readers:
            reader.join()
    # Busy CPU time that was neither the measured tree nor this harness.
    others = (busy_cpu_s() - busy_before) - (own_cpu_s() - own_before)
    result = Measurement(
        label, command, wall, peak / 2**20, proc.returncode, str(log_path), max(others, 0) / wall
    )
    status = "" if proc.returncode == 0 else f"  EXIT {proc.returncode} (see {log_path})"
    noise = f"  (other processes: {result.other_cores:.2f} cores)"
    print(f" {wall:8.2f} s {result.peak_mb:8.0f} MB{noise}{status}", flush=True)
    return result, lines


# --------------------------------------------------------------------------- parsing


def parse_zenml_duration(text: str) -> float:
    """Seconds from ZenML's human-readable time ("0.751s", "1m2s", "1h0m5s")."""
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    parts = re.findall(r"([0-9.]+)([dhms])", text)
    if not parts:
        raise ValueError(f"not a ZenML duration: {text!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def trace_pipeline(lines: list[Line], wall_s: float) -> PipelineTrace:
    """Step timings and the stages between them, from a run's output lines."""
    trace = PipelineTrace()
    started: dict[str, float] = {}
    cli_ready = first_step = finished = None
    for line in sorted(lines, key=lambda item: item.t):
        text = line.text
        if cli_ready is None and _CLI_READY in text:
            cli_ready = line.t
        if match := _STEP_STARTED.search(text):
            started[match.group(1)] = line.t
            first_step = line.t if first_step is None else first_step
        elif match := _STEP_CACHED.search(text):
            trace.cached_steps.append(match.group(1))
            first_step = line.t if first_step is None else first_step
        elif match := _STEP_FINISHED.search(text):
            name = match.group(1)
            trace.steps_s[name] = parse_zenml_duration(match.group(2))
            if name in started:
                trace.steps_observed_s[name] = line.t - started[name]
        elif _PIPELINE_FINISHED in text:
            finished = line.t
        elif match := _RUN_FINISHED.search(text):
            trace.run_name = match.group(1)
    trace.startup_s = cli_ready
    if cli_ready is not None and first_step is not None:
        trace.run_setup_s = first_step - cli_ready
    if first_step is not None and finished is not None:
        spans = {**trace.steps_s, **trace.steps_observed_s}
        trace.between_steps_s = finished - first_step - sum(spans.values())
    if finished is not None:
        trace.report_exit_s = wall_s - finished
    return trace


def parse_json_stdout(lines: list[Line]) -> dict[str, Any] | None:
    """The last JSON object a process printed on stdout, if any."""
    for line in reversed(lines):
        if line.stream == "out" and line.text.startswith("{"):
            try:
                value = json.loads(line.text)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def compare_metrics(
    bare: dict[str, float], pipeline: dict[str, float]
) -> dict[str, list[float | None]]:
    """Metrics whose values differ (exactly; NaN equals NaN), as [bare, pipeline].

    Same data, config and seed must give bit-identical metrics; any difference
    means the two did not do the same work (a dtype changed in an artifact
    round trip, a different feature list, a different split).
    """

    def same(a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return a is b
        return a == b or (math.isnan(a) and math.isnan(b))

    return {
        name: [bare.get(name), pipeline.get(name)]
        for name in sorted(set(bare) | set(pipeline))
        if not same(bare.get(name), pipeline.get(name))
    }


# --------------------------------------------------------------------------- protocol


def load_base_config(path: Path) -> dict[str, Any]:
    """The base run config as YAML data; only the synthetic generator scales to N rows."""
    try:
        base = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"error: {path}: cannot read the config: {error}") from error
    if not isinstance(base, dict) or base.get("data", {}).get("source", {}).get("kind") != (
        "synthetic"
    ):
        raise SystemExit(f"error: {path}: data.source must be the synthetic generator")
    return base


class Bench:
    """One benchmark invocation: its isolated ZenML state, configs and logs."""

    def __init__(
        self, base: dict[str, Any], run_dir: Path, state_dir: Path, timeout_s: float
    ) -> None:
        self.base = base
        self.run_dir = run_dir
        self.env = child_env(state_dir / "zenml")
        self.timeout_s = timeout_s
        self.python = sys.executable

    def config_for(self, rows: int) -> Path:
        """The base config with ``rows`` rows and no quality thresholds.

        Without thresholds the quality gate always passes, so a model that is
        weaker at some row count cannot stop a benchmark run. The file lives in
        the (git-ignored) results folder inside the checkout, like a real
        config, so run.py's provenance (git commit lookup) costs what it
        normally costs.
        """
        config = json.loads(json.dumps(self.base))  # a deep copy
        config["data"]["source"]["rows"] = rows
        config["evaluation"]["thresholds"] = {}
        path = self.run_dir / "configs" / f"rows-{rows}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def bare(self, rows: int, label: str) -> BareRun:
        """Run the bare script at ``rows`` rows."""
        command = [self.python, "bench/bare_training.py", "--rows", str(rows)]
        command += ["--config", str(self.config_for(rows))]
        measurement, lines = measure(
            label, command, self.env, self.run_dir / f"{label}.log", self.timeout_s
        )
        return BareRun(measurement, parse_json_stdout(lines))

    def pipeline(self, rows: int, label: str, cache: bool) -> PipelineRun:
        """Run the training pipeline through run.py at ``rows`` rows."""
        command = [self.python, "run.py", "--pipeline", "train"]
        command += ["--config", str(self.config_for(rows))]
        command += [] if cache else ["--no-cache"]
        measurement, lines = measure(
            label, command, self.env, self.run_dir / f"{label}.log", self.timeout_s
        )
        return PipelineRun(measurement, trace_pipeline(lines, measurement.wall_s))

    def stored_metrics(self, run: PipelineRun) -> dict[str, float] | None:
        """The exact metrics a run stored (read by a separate, untimed process)."""
        if run.trace.run_name is None or run.measurement.exit_code != 0:
            return None
        command = [self.python, "bench/pipeline_metrics.py", "--run", run.trace.run_name]
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            print(f"  could not read the run's metrics: {done.stderr.strip()[-500:]}")
            return None
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def warm_up(self) -> dict[str, Any]:
        """Throwaway runs so one-off costs are charged to no measured row count.

        The first run.py in a fresh ZENML_CONFIG_PATH creates the ZenML database,
        default project and stacks, and MLflow's first use creates its tables
        (about 10 s together); both runs also warm the OS file cache for the
        imports, which the bare script would otherwise enjoy for free after a
        pipeline run.
        """
        bare = self.bare(WARMUP_ROWS, f"warmup-bare-{WARMUP_ROWS}")
        pipeline = self.pipeline(WARMUP_ROWS, f"warmup-pipeline-{WARMUP_ROWS}", cache=False)
        return {"rows": WARMUP_ROWS, "bare": asdict(bare), "pipeline": asdict(pipeline)}

    def measure_rows(self, rows: int) -> RowResult:
        """Bare script, fresh pipeline run, then the cached re-run, at ``rows`` rows.

        The cached re-run protocol is: fresh run with ``--no-cache``, then the
        same command with the cache on (the "prime"), then once more with the
        cache on; the last is reported. Why not let the measured fresh run be
        cache-enabled, saving a run? Its freshness would then rest on the state
        of the store (no earlier run with equal inputs), while ``--no-cache``
        guarantees it by construction and is exactly the command a user runs to
        force a retrain. ZenML 0.98 records cache keys for steps that ran with
        the cache off, so the prime normally reuses the fresh run's outputs
        and costs only a cached run; should a ZenML version stop doing that,
        the prime becomes a full run and the reported re-run is still measured
        right after a cache-enabled run, as intended. The prime's figures are
        kept in the JSON, and the re-run's cached-step count is checked.
        """
        label = human_rows(rows)
        bare = self.bare(rows, f"bare-{label}")
        fresh = self.pipeline(rows, f"pipeline-{label}", cache=False)
        pipeline_metrics = self.stored_metrics(fresh)
        prime = self.pipeline(rows, f"cache-prime-{label}", cache=True)
        rerun = self.pipeline(rows, f"cached-rerun-{label}", cache=True)
        diff = None
        if bare.metrics is not None and pipeline_metrics is not None:
            diff = compare_metrics(bare.metrics, pipeline_metrics)
        return RowResult(rows, bare, fresh, prime, rerun, pipeline_metrics, diff)


# --------------------------------------------------------------------------- reporting


def human_rows(rows: int) -> str:
    """100000 -> 100k, 10000000 -> 10M."""
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


def metrics_cell(result: RowResult) -> str:
    """The metrics column: "same", "DIFF", or "n/a" when they could not be compared."""
    if result.metrics_diff is None:
        return "n/a"
    return "same" if not result.metrics_diff else "DIFF"


def summary_table(results: list[RowResult]) -> str:
    """The headline table: each figure beside its target and a PASS/MISS marker.

    The fixed-overhead target is judged at the smallest row count, where the
    per-row part of the overhead is smallest (so the figure is an upper bound
    on the fixed part); larger row counts have ratio targets instead.
    """
    smallest = min(r.rows for r in results)
    header = [
        "rows",
        "bare s",
        "pipeline s",
        f"overhead s (fixed ≤{FIXED_OVERHEAD_TARGET_S:g})",
        "ratio",
        "target ratio",
        "bare peak MB",
        "pipeline peak MB",
        f"mem ratio (≤{MEM_RATIO_TARGET:g})",
        f"cached re-run s (≤{CACHED_RERUN_TARGET_S:g})",
        "metrics",
    ]
    body = []
    for r in results:
        failed = [
            run.measurement.label
            for run in (r.bare, r.pipeline, r.cache_prime, r.cached_rerun)
            if run.measurement.exit_code != 0
        ]
        target = RATIO_TARGETS.get(r.rows)
        overhead = f"{r.overhead_s:.2f}"
        if r.rows == smallest:
            overhead += f" {verdict(r.overhead_s, FIXED_OVERHEAD_TARGET_S)}"
        cached = r.cached_rerun.measurement.wall_s
        cached_cell = f"{cached:.2f} {verdict(cached, CACHED_RERUN_TARGET_S)}"
        if len(r.cached_rerun.trace.cached_steps) < CACHEABLE_STEPS:
            cached_cell += f" ({len(r.cached_rerun.trace.cached_steps)} cached!)"
        body.append(
            [
                human_rows(r.rows),
                f"{r.bare.measurement.wall_s:.2f}",
                f"{r.pipeline.measurement.wall_s:.2f}",
                overhead,
                f"{r.ratio:.2f}" + (f" {verdict(r.ratio, target)}" if target else ""),
                f"≤{target:g}" if target else "-",
                f"{r.bare.measurement.peak_mb:.0f}",
                f"{r.pipeline.measurement.peak_mb:.0f}",
                f"{r.mem_ratio:.2f} {verdict(r.mem_ratio, MEM_RATIO_TARGET)}",
                cached_cell,
                metrics_cell(r) + (f" FAILED: {', '.join(failed)}" if failed else ""),
            ]
        )
    return format_table(header, body)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _step_cell(run: PipelineRun, step: str) -> str:
    if step in run.trace.cached_steps:
        return "cached"
    return _seconds(run.trace.steps_observed_s.get(step, run.trace.steps_s.get(step)))


def _bare_startup(run: BareRun) -> float | None:
    """Bare wall time outside the work phases: interpreter, imports, config, exit."""
    if run.report is None:
        return None
    work = sum(s for name, s in run.phases().items() if name not in ("import", "config"))
    return run.measurement.wall_s - work


def _stage_cells(r: RowResult, stage: str) -> list[str]:
    """[fresh pipeline, bare, cached re-run] seconds for one stage at one row count."""
    fresh, cached = r.pipeline, r.cached_rerun
    if stage in PIPELINE_STEPS:
        phase = BARE_PHASE_OF_STEP.get(stage)
        bare = _seconds(r.bare.phases().get(phase)) if phase else "-"
        return [_step_cell(fresh, stage), bare, _step_cell(cached, stage)]
    if stage == "startup":
        bare = _seconds(_bare_startup(r.bare))
        return [_seconds(fresh.trace.startup_s), bare, _seconds(cached.trace.startup_s)]
    if stage == "wall":
        walls = (fresh.measurement.wall_s, r.bare.measurement.wall_s, cached.measurement.wall_s)
        return [_seconds(w) for w in walls]
    values = [getattr(run.trace, f"{stage}_s") for run in (fresh, cached)]
    return [_seconds(values[0]), "-", _seconds(values[1])]


#: Breakdown rows in time order: stage key, label (bare phase in brackets).
_STAGES = (
    ("startup", "start-up: python, imports, config, stack (bare: all but work)"),
    ("run_setup", "run setup: import steps, compile, snapshot, run, cache lookups"),
    *(
        (step, f"{step} ({BARE_PHASE_OF_STEP[step]})" if step in BARE_PHASE_OF_STEP else step)
        for step in PIPELINE_STEPS
    ),
    ("between_steps", "between steps (orchestration)"),
    ("report_exit", "report + exit"),
    ("wall", "total wall"),
)


def breakdown_table(results: list[RowResult]) -> str:
    """Seconds per stage: fresh pipeline run, bare script, cached re-run, per row count.

    Step figures are the started-to-finished span of each step as seen in the
    output (ZenML's own figure where that span is missing). A bare phase sits
    on the row of the step that does the same work; "-" means the bare script
    has no such stage.
    """
    header = ["stage"]
    for r in results:
        label = human_rows(r.rows)
        header += [f"{label} pipeline", f"{label} bare", f"{label} cached"]
    body = [[label, *(c for r in results for c in _stage_cells(r, key))] for key, label in _STAGES]
    return format_table(header, body)


def overhead_fit(results: list[RowResult]) -> tuple[float, float] | None:
    """Least-squares overhead = fixed + per_million * rows/1e6, over row counts.

    Needs two or more row counts; gives the fixed part the target is about,
    separated from the per-row part (artifact writes and reads, validation).
    """
    if len(results) < 2:
        return None
    xs = [r.rows / 1e6 for r in results]
    ys = [r.overhead_s for r in results]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y - slope * mean_x, slope


def noise_warning(results: list[RowResult], threshold: float = QUIET_CORES) -> str | None:
    """A warning naming measurements during which other processes competed for the CPU.

    On a 2-core machine one busy neighbour halves the CPU, and scikit-learn's
    OpenMP threads then wait on each other (while writing this, one 5k-row
    fit took 0.4 s on one thread and 9.9 s on two beside a busy test run).
    Such figures say more about the neighbours than about the pipeline.
    """
    noisy = [
        f"{run.measurement.label} ({run.measurement.other_cores:.2f} cores)"
        for r in results
        for run in (r.bare, r.pipeline, r.cache_prime, r.cached_rerun)
        if run.measurement.other_cores > threshold
    ]
    if not noisy:
        return None
    return (
        f"WARNING: the machine was not quiet; other processes used more than {threshold:g} "
        f"CPU cores on average during: {', '.join(noisy)}. Treat those figures as noisy "
        "and re-run on a quiet machine."
    )


def mismatch_banner(results: list[RowResult]) -> str | None:
    """A loud message for every row count whose metrics differ or could not be compared."""
    problems = []
    for r in results:
        if r.metrics_diff:
            rows = "\n".join(
                f"    {name}: bare={values[0]!r} pipeline={values[1]!r}"
                for name, values in r.metrics_diff.items()
            )
            problems.append(f"  {human_rows(r.rows)} rows: metrics differ\n{rows}")
        elif r.metrics_diff is None:
            problems.append(f"  {human_rows(r.rows)} rows: metrics could not be compared")
    if not problems:
        return None
    bar = "!" * 78
    return "\n".join(
        [
            bar,
            "METRICS MISMATCH: same data, config and seed must give the same metrics.",
            *problems,
            bar,
        ]
    )


def environment() -> dict[str, Any]:
    """The machine the figures were measured on."""
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": list(os.getloadavg()),
    }


def parse_rows(text: str) -> list[int]:
    """Parse "100000,1000000" into [100000, 1000000] (deduplicated, ascending)."""
    try:
        rows = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {error}") from error
    if not rows or min(rows) < 100 or max(rows) > 10_000_000:
        raise argparse.ArgumentTypeError("row counts must be between 100 and 10,000,000")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI."""
    parser = argparse.ArgumentParser(
        description="Measure what the ZenML training pipeline costs over the same work "
        "done by a bare script: wall time, peak memory and cached re-run time per row count.",
        epilog="Run it with the project's virtualenv (.venv/bin/python) on a quiet machine; "
        "see bench/README.md for how to read the tables.",
    )
    parser.add_argument(
        "--rows",
        type=parse_rows,
        default=parse_rows(DEFAULT_ROWS),
        metavar="N,N,...",
        help=f"row counts to measure (default: {DEFAULT_ROWS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="where to write the raw figures as JSON (default: bench/results/<timestamp>.json)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help="base run config with a synthetic source (default: configs/local.yaml)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=7200.0,
        metavar="SECONDS",
        help="kill any single run after this long (default: 7200)",
    )
    parser.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the temporary ZenML/MLflow state for inspection instead of deleting it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every row count, print the tables, save the JSON."""
    args = parse_args(argv)
    base = load_base_config(args.config)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS_DIR / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    output = args.output or RESULTS_DIR / f"{stamp}.json"
    state_dir = Path(tempfile.mkdtemp(prefix="fraudops-bench-"))
    print(f"ZenML/MLflow state: {state_dir} (fresh for this invocation)")
    print(f"logs and configs:   {run_dir}")
    results: list[RowResult] = []
    try:
        bench = Bench(base, run_dir, state_dir, args.timeout)
        print(f"warm-up at {WARMUP_ROWS} rows (ZenML store creation; not counted):")
        warmup = bench.warm_up()
        for rows in args.rows:
            print(f"{human_rows(rows)} rows:")
            results.append(bench.measure_rows(rows))
    finally:
        if args.keep_state:
            print(f"kept the ZenML/MLflow state in {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)

    warm_s = warmup["pipeline"]["measurement"]["wall_s"]
    print()
    print(
        f"Warm-up: one throwaway bare run and one pipeline run at {WARMUP_ROWS} rows "
        f"({warm_s:.1f} s, incl. creating the ZenML store) ran first in the same temp state, "
        "so no measured row count pays the one-off initialisation."
    )
    print()
    print(summary_table(results))
    fit = overhead_fit(results)
    if fit is not None:
        fixed, per_million = fit
        print(
            f"\nOverhead fit over row counts: {fixed:.2f} s fixed "
            f"({verdict(fixed, FIXED_OVERHEAD_TARGET_S)} vs ≤{FIXED_OVERHEAD_TARGET_S:g}) "
            f"+ {per_million:.2f} s per million rows"
        )
    print("\nPer-stage seconds (fresh pipeline run | bare script | cached re-run):")
    print(breakdown_table(results))
    warning = noise_warning(results)
    if warning:
        print("\n" + warning)
    banner = mismatch_banner(results)
    if banner:
        print("\n" + banner)
        print(banner, file=sys.stderr)

    record = {
        "created": stamp,
        "command": [sys.executable, *sys.argv],
        "base_config": str(args.config),
        "environment": environment(),
        "targets": {
            "fixed_overhead_s": FIXED_OVERHEAD_TARGET_S,
            "ratio": {str(k): v for k, v in RATIO_TARGETS.items()},
            "mem_ratio": MEM_RATIO_TARGET,
            "cached_rerun_s": CACHED_RERUN_TARGET_S,
        },
        "warmup": warmup,
        "overhead_fit": None if fit is None else {"fixed_s": fit[0], "per_million_rows_s": fit[1]},
        "results": [
            {
                **asdict(r),
                "overhead_s": r.overhead_s,
                "ratio": r.ratio,
                "mem_ratio": r.mem_ratio,
                "ok": r.ok,
            }
            for r in results
        ],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    print(f"\nRaw figures: {output}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
