"""Serving under paced load: the stable endpoint, our server alone, plain MLflow, in-process.

    .venv/bin/python bench/serving.py            # about 5-8 minutes
    .venv/bin/python bench/serving.py --quick    # about 3 minutes, coarser

In one invocation, in a fresh temporary ZenML/MLflow state:

1. ``run.py --pipeline release`` trains the project's model and serves it the
   way the product does (HAProxy on a free port -> the version's prediction
   server, the lean scoring app on the MLflow model, started by the
   ``mlflow_haproxy`` deployer); no load test, no canary;
2. a separate process times the model in-process (scikit-learn, MLflow
   pyfunc, MLflow's JSON parsing and its whole ``invocations``, our app's fast
   parse and whole answer) for 1 and 100
   rows, with OpenMP as it comes and limited to one thread, and writes the
   request bodies and the predictions the servers must return;
3. ``mlflow models serve -m <same uri> --workers 2 --env-manager local``
   starts on a free port: the peer;
4. for each body size and rising fixed rate, a separate open-loop loader
   process (bench/harness.py) sends to the endpoint, to our server's own port
   and to the plain server, until each saturates (achieved < 90% of offered,
   or p99 beyond ``--p99-cap``);
5. ``run.py --undeploy`` and the plain server's end, whatever happened.

The table and the split print at the end; raw figures go to
bench/results/serving-<timestamp>.json. Exit 0 when everything ran and every
server returned the in-process predictions; a missed target is a finding.
Internal entry points (run by the command itself): ``_in_process`` and
``_serve_version``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil
import yaml
from harness import (
    PROJECT_ROOT,
    QUIET_CORES,
    RESULTS_DIR,
    RssPoller,
    StepResult,
    child_env,
    end_tree,
    format_table,
    free_port,
    load_average,
    median,
    ms,
    other_cores_now,
    percentile,
    process_tree,
    run_load_step,
    verdict,
    wait_for_http,
)

DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "local.yaml"
DEFAULT_RATES = "25,50,75,100,125,150,200,250,300,400,500,600"
QUICK_RATES = "25,50,100,150,200,300,400"
ROW_COUNTS = (1, 100)
#: Rows for the request bodies: the generator with a seed training never used.
BODY_SEED = 7

#: The issue's targets (judged on 1-row requests).
SATURATION_FACTOR = 2.0
P99_TARGET_MS = 20.0
P99_TARGET_RATE = 100.0
SPLITTER_P50_TARGET_MS = 0.5

ENDPOINT, DIRECT, PLAIN = "endpoint", "direct", "plain"
TARGET_LABELS = {
    ENDPOINT: "endpoint (HAProxy -> our server)",
    DIRECT: "our server's own port",
    PLAIN: "plain mlflow models serve --workers 2",
}
_MODEL_LINE = re.compile(r"^Model: (\S+) version (\S+)\s*$", re.MULTILINE)


# --------------------------------------------------------------------------- subprocesses


@dataclass
class Logged:
    """One command run to completion, its output in a log file."""

    label: str
    command: list[str]
    exit_code: int
    wall_s: float
    log: str
    output: str = field(repr=False, default="")


def run_logged(
    label: str, command: list[str], env: dict[str, str], log: Path, timeout_s: float
) -> Logged:
    """Run ``command`` from the project root; its combined output goes to ``log``."""
    print(f"  {label:<34}", end="", flush=True)
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except BaseException:
            end_tree(psutil.Process(proc.pid), timeout_s=5)
            proc.wait()
            raise
    wall = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    status = "" if code == 0 else f"  EXIT {code} (see {log})"
    print(f" {wall:7.1f} s{status}", flush=True)
    return Logged(label, command, code, wall, str(log), text)


# --------------------------------------------------------------------------- the bench


@dataclass
class Servers:
    """What is serving, and the processes behind each target."""

    endpoint_url: str
    direct_url: str
    plain_url: str
    model_name: str
    version: str
    model_uri: str
    server_root: psutil.Process
    haproxy: psutil.Process | None
    plain: psutil.Process | None = None

    def server_settings(self, root: psutil.Process | None = None) -> dict[str, Any]:
        """What a server runs with (ours by default): processes, thread variables they got."""
        tree = process_tree((root or self.server_root).pid)
        env: dict[str, str] = {}
        for process in tree:
            with contextlib.suppress(psutil.Error):
                if "uvicorn" in " ".join(process.cmdline()):
                    env = process.environ()
                    break
        threads = {k: v for k, v in env.items() if k.endswith("_NUM_THREADS")}
        return {"processes": len(tree), "thread_variables": threads}

    def tracked(self) -> dict[str, list[psutil.Process]]:
        """Process trees whose CPU each step accounts for."""
        trees = {"server": process_tree(self.server_root.pid)}
        if self.haproxy is not None:
            trees["haproxy"] = [self.haproxy]
        if self.plain is not None:
            trees["plain"] = process_tree(self.plain.pid)
        return trees

    def urls(self) -> dict[str, str]:
        return {ENDPOINT: self.endpoint_url, DIRECT: self.direct_url, PLAIN: self.plain_url}


def bench_config(base_path: Path, run_dir: Path, workers: int | None) -> tuple[Path, int]:
    """The base config with a free endpoint port, no load test and no canary.

    Kept inside the checkout (the git-ignored results folder) so run.py's
    provenance costs what it normally does.
    """
    config = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    port = free_port()
    deployment = config.setdefault("deployment", {})
    serving = deployment.setdefault("serving", {})
    serving["port"] = port
    if workers is not None:
        serving["workers"] = workers
    deployment["load_test"] = None
    deployment["canary"] = None
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, port


def splitter_state(zenml_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The endpoint's state file (the deployer's ``splitter/<model>/state.json``)."""
    found = sorted(zenml_dir.glob("local_stores/*/splitter/*/state.json"))
    if len(found) != 1:
        raise RuntimeError(f"expected one endpoint state file under {zenml_dir}, found {found}")
    return found[0], json.loads(found[0].read_text())


def tracking_uri(zenml_dir: Path) -> str:
    """The local stack's MLflow store (a SQLite file in the artifact store)."""
    found = sorted(zenml_dir.glob("local_stores/*/mlflow.db"))
    if len(found) != 1:
        raise RuntimeError(f"expected one MLflow database under {zenml_dir}, found {found}")
    return f"sqlite:///{found[0]}"


def listener(port: int) -> psutil.Process:
    """The process listening on 127.0.0.1:``port``, climbed up to its ZenML daemon."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                break
            process = psutil.Process(conn.pid)
            for parent in process.parents():
                with_daemon = "local_daemon_entrypoint" in " ".join(parent.cmdline())
                if with_daemon:
                    return parent
            return process
    raise RuntimeError(f"no process of ours listens on port {port}")


def post(url: str, body: bytes, timeout_s: float = 30.0) -> Any:
    """One JSON request; the decoded answer."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


class Bench:
    """One invocation: its state, its servers, its measurements."""

    def __init__(self, args: argparse.Namespace, run_dir: Path, state_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.zenml_dir = state_dir / "zenml"
        self.env = child_env(self.zenml_dir)
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = os.pathsep.join([bin_dir, self.env.get("PATH", "")])
        self.config, self.port = bench_config(args.config, run_dir, args.workers)
        self.servers: Servers | None = None
        self.plain_proc: subprocess.Popen[bytes] | None = None
        self.plain_log: IO[str] | None = None
        self.deployed = False
        self.record: dict[str, Any] = {"runs": []}

    # --- setting up ------------------------------------------------------------------

    def deploy(self) -> None:
        """Train and serve through the product's own command; fall back to the deployer."""
        command = [sys.executable, "run.py", "--pipeline", "release", "--config", str(self.config)]
        self.deployed = True  # from here on, whatever was started, --undeploy stops
        release = run_logged(
            "run.py --pipeline release", command, self.env, self.run_dir / "release.log", 900
        )
        self.record["runs"].append(asdict(release))
        models = _MODEL_LINE.findall(release.output)
        if not models:
            raise RuntimeError(f"the release registered no model version; see {release.log}")
        name, version = models[-1]
        self.record["release_ok"] = release.exit_code == 0
        if release.exit_code != 0:
            print(
                f"  WARNING: the release's deployment half failed (see {release.log}); version "
                f"{version} is served through the project's deployer directly instead"
            )
            helper = [sys.executable, "bench/serving.py", "_serve_version", str(self.config)]
            served = run_logged(
                "deployer serve_version",
                [*helper, version],
                self.env,
                self.run_dir / "serve-version.log",
                600,
            )
            self.record["runs"].append(asdict(served))
            if served.exit_code != 0:
                raise RuntimeError(f"could not serve version {version}; see {served.log}")
        state_path, state = splitter_state(self.zenml_dir)
        records = state["versions"]
        if version not in records:
            raise RuntimeError(f"{state_path} does not list version {version}: {records}")
        direct_port = int(records[version]["port"])
        service_file = state_path.parents[2] / records[version]["service_uuid"] / "service.json"
        model_uri = str(json.loads(service_file.read_text())["config"]["model_uri"])
        pidfile = state_path.parent / "haproxy.pid"
        haproxy = psutil.Process(int(pidfile.read_text().split()[0])) if pidfile.exists() else None
        self.servers = Servers(
            endpoint_url=f"http://127.0.0.1:{self.port}/invocations",
            direct_url=f"http://127.0.0.1:{direct_port}/invocations",
            plain_url="",
            model_name=name,
            version=version,
            model_uri=model_uri,
            server_root=listener(direct_port),
            haproxy=haproxy,
        )
        self.env["MLFLOW_TRACKING_URI"] = tracking_uri(self.zenml_dir)

    def in_process(self) -> dict[str, Any]:
        """Time the model in a separate process; write bodies and expected predictions."""
        assert self.servers is not None
        out = self.run_dir / "in_process.json"
        command = [sys.executable, "bench/serving.py", "_in_process", self.servers.model_uri]
        command += [str(self.run_dir), str(self.args.reps)]
        done = run_logged(
            "in-process predict timings", command, self.env, self.run_dir / "in_process.log", 900
        )
        if done.exit_code != 0:
            raise RuntimeError(f"in-process timing failed; see {done.log}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    def start_plain(self) -> None:
        """``mlflow models serve --workers 2`` of the same model URI, on a free port."""
        assert self.servers is not None
        port = free_port()
        command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve"]
        command += ["-m", self.servers.model_uri, "--workers", "2", "--env-manager", "local"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        print(f"  {'plain mlflow models serve':<34}", end="", flush=True)
        started = time.perf_counter()
        log = self.plain_log = (self.run_dir / "plain-mlflow.log").open("w", encoding="utf-8")
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        self.plain_proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        root = psutil.Process(self.plain_proc.pid)
        if not wait_for_http(f"http://127.0.0.1:{port}/ping", 180, alive=root):
            raise RuntimeError(f"the plain MLflow server did not start; see {log.name}")
        print(f" {time.perf_counter() - started:7.1f} s", flush=True)
        self.servers.plain_url = f"http://127.0.0.1:{port}/invocations"
        self.servers.plain = root

    def check_predictions(self, expected: dict[str, Any], bodies: dict[str, str]) -> dict[str, Any]:
        """Each target answers every body with exactly the in-process predictions."""
        assert self.servers is not None
        checks: dict[str, Any] = {}
        for target, url in self.servers.urls().items():
            for rows, path in bodies.items():
                got = post(url, Path(path).read_bytes())["predictions"]
                checks[f"{target} {rows} rows"] = got == expected[rows]
        return checks

    # --- measuring -------------------------------------------------------------------

    def ladders(self, bodies: dict[str, str]) -> list[StepResult]:
        """Rising fixed rates per body size; a target drops out once it saturates.

        At each rate the targets run one after the other, in an order that
        rotates from rate to rate, so slow drift in the machine's load falls
        on all of them alike.
        """
        assert self.servers is not None
        urls = self.servers.urls()
        steps: list[StepResult] = []
        for rows in ROW_COUNTS:
            body = Path(bodies[str(rows)])
            for target, url in urls.items():  # warm-up, not counted
                run_load_step(target, url, body, rows, 20, 1.5, {}, self.args.p99_cap)
            active = list(urls)
            for index, rate in enumerate(self.args.rates):
                if not active:
                    break
                shift = index % len(active)
                for target in active[shift:] + active[:shift]:
                    step = run_load_step(
                        target,
                        urls[target],
                        body,
                        rows,
                        rate,
                        self.args.duration,
                        self.servers.tracked(),
                        self.args.p99_cap,
                    )
                    steps.append(step)
                    print_step(step)
                    time.sleep(0.3)
                done = {s.target for s in steps if s.rows == rows and s.saturated}
                active = [target for target in active if target not in done]
        return steps

    # --- tearing down ----------------------------------------------------------------

    def teardown(self) -> list[str]:
        """Stop every server this run started, whatever state it is in."""
        lines: list[str] = []
        if self.plain_proc is not None:
            end_tree(psutil.Process(self.plain_proc.pid), timeout_s=10)
            self.plain_proc.wait()
            lines.append(f"stopped the plain MLflow server (pid {self.plain_proc.pid})")
        if self.plain_log is not None:
            self.plain_log.close()
        if self.deployed:
            command = [sys.executable, "run.py", "--undeploy", "--config", str(self.config)]
            env = dict(self.env)
            env.pop("MLFLOW_TRACKING_URI", None)
            done = run_logged("run.py --undeploy", command, env, self.run_dir / "undeploy.log", 300)
            lines.append(f"run.py --undeploy: exit {done.exit_code}")
        if self.servers is not None:
            leftovers = [p for p in process_tree(self.servers.server_root.pid) if p.is_running()]
            if self.servers.haproxy is not None and self.servers.haproxy.is_running():
                leftovers.append(self.servers.haproxy)
            for process in leftovers:
                end_tree(process, timeout_s=5)
            if leftovers:
                lines.append(f"killed {len(leftovers)} process(es) --undeploy left running")
        return lines


def thread_words(settings: dict[str, Any]) -> str:
    """'OMP_NUM_THREADS=1' or 'no thread variables set', for the header line."""
    found = settings["thread_variables"]
    return ", ".join(f"{k}={v}" for k, v in found.items()) or "no thread variables set"


def print_step(step: StepResult) -> None:
    """One progress line per step."""
    errors = ", ".join(f"{k}: {v}" for k, v in step.errors.items()) or "0 errors"
    flag = "  SATURATED" if step.saturated else ""
    print(
        f"  {step.target:<8} {step.rows:>3} row(s) {step.offered_rps:>5g}/s: "
        f"p50 {ms(step.p50_ms):>7} p99 {ms(step.p99_ms):>7} ms, "
        f"{step.achieved_rps:6.1f}/s achieved, {errors}, "
        f"others {step.other_cores:.2f} cores{flag}",
        flush=True,
    )


# --------------------------------------------------------------------------- figures


def saturation(steps: list[StepResult], target: str, rows: int) -> tuple[float, bool]:
    """The highest achieved rate on a ladder, and whether the ladder reached saturation."""
    ladder = [s for s in steps if s.target == target and s.rows == rows]
    if not ladder:
        return math.nan, False
    return max(s.achieved_rps for s in ladder), any(s.saturated for s in ladder)


def step_at(steps: list[StepResult], target: str, rows: int, rate: float) -> StepResult | None:
    for step in steps:
        if step.target == target and step.rows == rows and step.offered_rps == rate:
            return step
    return None


def splitter_cost(steps: list[StepResult], rows: int) -> tuple[float, list[tuple[float, float]]]:
    """Endpoint p50 minus direct p50 at each rate neither saturated; their median."""
    diffs = []
    for step in steps:
        if step.target != ENDPOINT or step.rows != rows or step.saturated:
            continue
        direct = step_at(steps, DIRECT, rows, step.offered_rps)
        if direct is not None and not direct.saturated:
            diffs.append((step.offered_rps, step.p50_ms - direct.p50_ms))
    return median([d for _, d in diffs]), diffs


def judge(steps: list[StepResult]) -> list[dict[str, Any]]:
    """The issue's targets, each with its figure, limit and verdict (1-row requests)."""
    ours, ours_reached = saturation(steps, ENDPOINT, 1)
    plain, plain_reached = saturation(steps, PLAIN, 1)
    ratio = ours / plain if plain else math.nan
    at_rate = step_at(steps, ENDPOINT, 1, P99_TARGET_RATE)
    p99 = at_rate.p99_ms if at_rate is not None else math.nan
    if at_rate is not None:
        p99_text = f"{ms(p99)} ms" + (" (saturated)" if at_rate.saturated else "")
    else:
        below = [s.offered_rps for s in steps if s.target == ENDPOINT and s.rows == 1]
        p99_text = f"not measured: the ladder stopped at {max(below, default=math.nan):g} req/s"
    cost, diffs = splitter_cost(steps, 1)
    errors = {
        target: sum(s.error_count for s in steps if s.target == target and not s.saturated)
        for target in (ENDPOINT, DIRECT)
    }
    note = "" if ours_reached and plain_reached else " (a ladder ran out of rates first)"
    return [
        {
            "target": f"saturation, endpoint vs plain 2-worker (>= {SATURATION_FACTOR:g}x)",
            "figure": f"{ours:.0f} vs {plain:.0f} req/s = {ratio:.2f}x{note}",
            "value": ratio,
            "verdict": "PASS" if ratio >= SATURATION_FACTOR else "MISS",
        },
        {
            "target": f"p99 at {P99_TARGET_RATE:g} req/s through the splitter (<= {P99_TARGET_MS:g} ms)",
            "figure": p99_text,
            "value": p99,
            "verdict": verdict(p99, P99_TARGET_MS),
        },
        {
            "target": f"splitter cost at p50 (<= {SPLITTER_P50_TARGET_MS:g} ms)",
            "figure": f"{ms(cost, 2)} ms (median over {len(diffs)} rates below saturation)",
            "value": cost,
            "verdict": verdict(cost, SPLITTER_P50_TARGET_MS),
        },
        {
            "target": "errors below saturation (0)",
            "figure": ", ".join(f"{t} {n}" for t, n in errors.items()),
            "value": sum(errors.values()),
            "verdict": verdict(sum(errors.values()), 0),
        },
    ]


def share_cell(share: float) -> str:
    """The busiest process's share of a server tree's CPU, as a percentage."""
    return "-" if math.isnan(share) else f"{share:.0%}"


def load_table(steps: list[StepResult]) -> str:
    """One row per target, body size and rate."""
    header = ["target", "rows", "offered/s", "achieved/s", "p50 ms", "p99 ms", "errors"]
    header += ["CPU ms/req", "busiest process", "loader lag p99 ms", "other cores", ""]
    body = []
    for step in steps:
        tree = "plain" if step.target == PLAIN else "server"
        cpu = step.tracked_cpu_s.get(tree, math.nan)
        if step.target == ENDPOINT:
            cpu += step.tracked_cpu_s.get("haproxy", 0.0)
        per_request = cpu / step.ok * 1e3 if step.ok else math.nan
        notes = []
        if step.saturated:
            notes.append("saturated")
        if step.other_cores > QUIET_CORES:
            notes.append("noisy")
        body.append(
            [
                step.target,
                str(step.rows),
                f"{step.offered_rps:g}",
                f"{step.achieved_rps:.1f}",
                ms(step.p50_ms),
                ms(step.p99_ms),
                str(step.error_count),
                ms(per_request, 2),
                share_cell(step.busiest_share.get(tree, math.nan)),
                ms(step.lag_p99_ms, 2),
                f"{step.other_cores:.2f}",
                " ".join(notes),
            ]
        )
    return format_table(header, body)


def cpu_per_request_ms(step: StepResult | None, tree: str) -> float:
    """CPU milliseconds one tracked process tree (or the loader) spent per answered request."""
    if step is None or not step.ok:
        return math.nan
    seconds = step.loader_cpu_s if tree == "loader" else step.tracked_cpu_s.get(tree, math.nan)
    return seconds / step.ok * 1e3


#: The split's rows: label and how the figure is obtained.
SPLIT_HOW = {
    "preprocess (ColumnTransformer)": "inner Pipeline[:-1].transform",
    "trees (HistGradientBoosting)": "its predict_proba on the transformed rows",
    "sklearn predict (whole Pipeline)": "the served estimator's predict (threshold incl.)",
    "MLflow schema enforcement": "pyfunc predict - sklearn predict",
    "JSON -> DataFrame (MLflow parse)": "scoring_server._parse_json_data",
    "JSON -> DataFrame (our fast path)": "scoring_app.ScoringModel._fast_frame",
    "= MLflow's invocations() in-process": "scoring_server.invocations, OpenMP 1 thread",
    "= our app's answer in-process": "scoring_app.ScoringModel.answer, OpenMP 1 thread",
    "  same, OpenMP as it comes": "our answer with the default thread count",
    "HTTP, uvicorn, ASGI app": "direct p50 - our answer in-process",
    "= our server, direct p50": "loader -> server's port, lowest rate",
    "HAProxy": "endpoint p50 - direct p50, lowest rate",
    "= endpoint p50": "loader -> HAProxy -> server, lowest rate",
    "  plain mlflow --workers 2, p50": "the peer at the same rate",
    "CPU: our server per request": "its process tree's CPU / answered (direct)",
    "CPU: HAProxy per request": "HAProxy's CPU / answered (endpoint)",
    "CPU: loader per request": "the load generator's own CPU (direct)",
    "CPU: plain server per request": "its process tree's CPU / answered",
    "low rate used (req/s)": "the lowest rate of the ladder",
}


def split_figures(
    timings: dict[str, Any], steps: list[StepResult], rows: int
) -> tuple[dict[str, float], bool]:
    """One body size's split (see :data:`SPLIT_HOW`), and whether its low-rate steps are clean.

    In-process parts are medians from the timing process with OpenMP limited
    to one thread, as our server runs; the rest are p50 differences at the
    ladder's lowest rate, where queueing is least.
    """
    d = {name: figures["p50_ms"] for name, figures in timings["one_thread"][str(rows)].items()}
    low = min((s.offered_rps for s in steps if s.rows == rows), default=math.nan)
    direct = step_at(steps, DIRECT, rows, low)
    endpoint = step_at(steps, ENDPOINT, rows, low)
    plain = step_at(steps, PLAIN, rows, low)
    nan = math.nan
    figures = {
        "preprocess (ColumnTransformer)": d.get("preprocess", nan),
        "trees (HistGradientBoosting)": d.get("trees", nan),
        "sklearn predict (whole Pipeline)": d["sklearn"],
        "MLflow schema enforcement": d["pyfunc"] - d["sklearn"],
        "JSON -> DataFrame (MLflow parse)": d["parse"],
        "JSON -> DataFrame (our fast path)": d["fast_parse"],
        "= MLflow's invocations() in-process": d["invocations"],
        "= our app's answer in-process": d["answer"],
        "  same, OpenMP as it comes": timings["default"][str(rows)]["answer"]["p50_ms"],
        "HTTP, uvicorn, ASGI app": direct.p50_ms - d["answer"] if direct else nan,
        "= our server, direct p50": direct.p50_ms if direct else nan,
        "HAProxy": endpoint.p50_ms - direct.p50_ms if endpoint and direct else nan,
        "= endpoint p50": endpoint.p50_ms if endpoint else nan,
        "  plain mlflow --workers 2, p50": plain.p50_ms if plain else nan,
        "CPU: our server per request": cpu_per_request_ms(direct, "server"),
        "CPU: HAProxy per request": cpu_per_request_ms(endpoint, "haproxy"),
        "CPU: loader per request": cpu_per_request_ms(direct, "loader"),
        "CPU: plain server per request": cpu_per_request_ms(plain, "plain"),
        "low rate used (req/s)": low,
    }
    used = [step for step in (direct, endpoint, plain) if step is not None]
    clean = bool(used) and not any(s.saturated or s.other_cores > QUIET_CORES for s in used)
    return figures, clean


def split_table(timings: dict[str, Any], steps: list[StepResult]) -> tuple[str, dict[str, Any]]:
    """Where one request's time goes, per body size (see :func:`split_figures`)."""
    parts = {str(rows): split_figures(timings, steps, rows) for rows in ROW_COUNTS}
    header = ["part of a request", *(f"{r} row(s) ms" for r in ROW_COUNTS), "how"]
    body = []
    for name, how in SPLIT_HOW.items():
        cells = []
        for rows in ROW_COUNTS:
            value = parts[str(rows)][0][name]
            cells.append(f"{value:g}" if name.startswith("low rate") else ms(value, 2))
        body.append([name, *cells, how])
    table = format_table(header, body)
    unclean = [f"{rows} row(s)" for rows, (_, clean) in parts.items() if not clean]
    if unclean:
        table += (
            f"\n  (the low-rate steps for {', '.join(unclean)} were saturated or noisy: "
            "read those columns' differences with care)"
        )
    return table, {rows: figures for rows, (figures, _) in parts.items()}


def in_process_table(timings: dict[str, Any]) -> str:
    """Median and p99 of each in-process measurement, per threads setting and body size."""
    header = ["in-process", "threads"]
    for rows in ROW_COUNTS:
        header += [f"{rows}r p50 ms", f"{rows}r p99 ms", f"{rows}r CPU ms"]
    body = []
    for name in (
        "sklearn",
        "pyfunc",
        "parse",
        "fast_parse",
        "invocations",
        "answer",
        "preprocess",
        "trees",
    ):
        for setting, label in (("default", "as it comes"), ("one_thread", "OpenMP 1")):
            cells = [name, label]
            for rows in ROW_COUNTS:
                figures = timings[setting][str(rows)].get(name)
                if figures:
                    cells += [ms(figures[k], 2) for k in ("p50_ms", "p99_ms", "cpu_p50_ms")]
                else:
                    cells += ["-", "-", "-"]
            body.append(cells)
    return format_table(header, body)


# --------------------------------------------------------------------------- internal entry points


def _in_process_main(model_uri: str, run_dir: str, reps_text: str) -> int:
    """Time the served model in this process; write bodies, predictions and timings."""
    sys.path.insert(0, str(PROJECT_ROOT))
    import mlflow.pyfunc
    from mlflow.models.utils import _enforce_schema
    from mlflow.pyfunc import scoring_server
    from threadpoolctl import threadpool_limits

    from stacks.flavors.scoring_app import ScoringModel
    from steps.data.synthetic import FRAUD_TARGET, generate_transactions
    from steps.registry.mlflow_model import serving_example

    model = mlflow.pyfunc.load_model(model_uri)
    scoring = ScoringModel(model)
    raw = model.get_raw_model()
    schema = model.metadata.get_input_schema()
    inner = raw
    while not hasattr(inner, "steps") and hasattr(inner, "estimator"):
        inner = getattr(inner, "estimator_", None) or inner.estimator
    frame = serving_example(generate_transactions(1000, seed=BODY_SEED, fraud_rate=0.01))
    frame = frame.drop(columns=[FRAUD_TARGET])
    out = Path(run_dir)
    reps = int(reps_text)
    budget = 2.0 if reps < 300 else 5.0  # seconds per threads setting and body size
    bodies, expected = {}, {}
    timings: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for rows in ROW_COUNTS:
        part = frame.head(rows)
        data = part.astype(object).where(part.notna(), None).values.tolist()
        body = json.dumps({"dataframe_split": {"columns": list(part.columns), "data": data}})
        path = out / f"body-{rows}.json"
        path.write_text(body)
        bodies[str(rows)] = str(path)
        answer = scoring_server.invocations(body, "application/json", model, schema)
        expected[str(rows)] = json.loads(answer.response)["predictions"]
    for setting, limit in (("default", None), ("one_thread", 1)):
        timings[setting] = {}
        with threadpool_limits(limits=limit, user_api="openmp"):
            for rows in ROW_COUNTS:
                body = Path(bodies[str(rows)]).read_text()
                raw_body = body.encode()
                parsed = scoring_server._parse_json_data(body, model.metadata, schema).data
                enforced = _enforce_schema(parsed, schema)
                calls = {
                    "sklearn": lambda e=enforced: raw.predict(e),
                    "pyfunc": lambda p=parsed: model.predict(p),
                    "parse": lambda b=body: scoring_server._parse_json_data(
                        b, model.metadata, schema
                    ),
                    "invocations": lambda b=body: scoring_server.invocations(
                        b, "application/json", model, schema
                    ),
                    "fast_parse": lambda b=raw_body: scoring._fast_frame(b, "application/json"),
                    "answer": lambda b=raw_body: scoring.answer(b, "application/json"),
                }
                if hasattr(inner, "steps"):
                    transformed = inner[:-1].transform(enforced)
                    calls["preprocess"] = lambda e=enforced: inner[:-1].transform(e)
                    calls["trees"] = lambda t=transformed: inner[-1].predict_proba(t)
                count = reps if rows == 1 else max(reps // 3, 10)
                samples: dict[str, list[float]] = {name: [] for name in calls}
                cpu: dict[str, list[float]] = {name: [] for name in calls}
                for _ in range(5):
                    for call in calls.values():
                        call()
                # Round-robin, so noise falls on every call alike; at most `budget` seconds
                # (a loaded machine makes each call slower), at least 20 rounds.
                deadline = time.perf_counter() + budget
                for round_ in range(count):
                    if round_ >= 20 and time.perf_counter() > deadline:
                        break
                    for name, call in calls.items():
                        started, cpu_started = time.perf_counter(), time.process_time()
                        call()
                        samples[name].append((time.perf_counter() - started) * 1e3)
                        cpu[name].append((time.process_time() - cpu_started) * 1e3)
                timings[setting][str(rows)] = {
                    name: {
                        "p50_ms": median(values),
                        "p99_ms": percentile(values, 99),
                        # this process's CPU, every thread: OpenMP's spinning threads show here
                        "cpu_p50_ms": median(cpu[name]),
                        "count": len(values),
                    }
                    for name, values in samples.items()
                }
    (out / "in_process.json").write_text(
        json.dumps(
            {
                "model_uri": model_uri,
                "bodies": bodies,
                "expected": expected,
                "timings": timings,
                "estimator": type(raw).__name__,
            }
        )
    )
    return 0


def _serve_version_main(config_path: str, version: str) -> int:
    """Serve ``version`` behind the endpoint through the project's deployer (release fallback)."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from zenml.client import Client

    from configs.loader import load_run_config
    from stacks.flavors.traffic import VersionToServe
    from steps.deployment.platform import active_splitter, endpoint_settings
    from steps.promotion.stages import all_versions

    Client().activate_stack("local")
    config = load_run_config(Path(config_path))
    name = config.model.name
    ref = next(v for v in all_versions(name) if v.version == version)
    splitter = active_splitter()
    serving = config.deployment.serving
    splitter.open_endpoint(name, endpoint_settings(serving))
    splitter.serve_version(
        VersionToServe(model_name=name, version=version, model_uri=ref.model_uri),
        timeout=serving.startup_timeout,
    )
    splitter.set_weights(name, {version: 100})
    return 0


# --------------------------------------------------------------------------- CLI


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_rates(text: str) -> list[float]:
    """Parse "25,50,100" into ascending, deduplicated rates."""
    try:
        rates = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {error}") from error
    if not rates or rates[0] <= 0 or rates[-1] > 5000:
        raise argparse.ArgumentTypeError("rates must be between 0 and 5000 requests per second")
    return rates


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI."""
    parser = argparse.ArgumentParser(
        description="Serving under paced open-loop load: the stable endpoint (HAProxy -> our "
        "MLflow server), our server's own port and a plain 'mlflow models serve --workers 2' of "
        "the same model, 1- and 100-row requests at rising fixed rates until saturation, beside "
        "the in-process predict time.",
        epilog="Run it with the project's virtualenv on a quiet machine; see bench/README.md.",
    )
    parser.add_argument("--quick", action="store_true", help="coarser rates, 2 s steps (~3 min)")
    parser.add_argument(
        "--rates",
        type=parse_rates,
        metavar="R,R,...",
        help=f"offered requests/s (default {DEFAULT_RATES}; --quick: {QUICK_RATES})",
    )
    parser.add_argument("--duration", type=float, help="seconds per step (default 8, quick 2)")
    parser.add_argument(
        "--p99-cap",
        type=float,
        default=500.0,
        metavar="MS",
        help="p99 past which a step counts as saturated (default 500)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="deployment.serving.workers for our server (default: the config's)",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="base run config")
    parser.add_argument("--output", type=Path, metavar="PATH", help="JSON output path")
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary state")
    args = parser.parse_args(argv)
    args.rates = args.rates or parse_rates(QUICK_RATES if args.quick else DEFAULT_RATES)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.reps = 100 if args.quick else 300
    return args


def main(argv: list[str] | None = None) -> int:
    """Deploy, measure, print, save, stop everything."""
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RESULTS_DIR / f"serving-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    output = args.output or RESULTS_DIR / f"serving-{stamp}.json"
    state_dir = Path(tempfile.mkdtemp(prefix="fraudops-bench-serving-"))
    quiet = other_cores_now()
    machine = {
        "cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
        "other_cores_at_start": round(quiet, 2),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }
    print(f"ZenML/MLflow state: {state_dir} (fresh)   logs: {run_dir}")
    print(
        f"machine: {machine['cpus']} CPUs, load average {machine['load_average_at_start']}, "
        f"other processes busy on {quiet:.2f} cores right now"
    )
    signal.signal(signal.SIGTERM, _interrupt)  # unwinds through the teardown below, as Ctrl-C
    bench = Bench(args, run_dir, state_dir)
    steps: list[StepResult] = []
    failure = None
    try:
        print("setting up:")
        bench.deploy()
        timings = bench.in_process()
        bench.start_plain()
        assert bench.servers is not None
        checks = bench.check_predictions(timings["expected"], timings["bodies"])
        settings = bench.servers.server_settings()
        plain_settings = bench.servers.server_settings(bench.servers.plain)
        rss = {name: RssPoller(procs[:1]) for name, procs in bench.servers.tracked().items()}
        for poller in rss.values():
            poller.__enter__()
        print(f"load (each step {args.duration:g} s, open loop, from a separate process):")
        try:
            steps = bench.ladders(timings["bodies"])
        finally:
            for poller in rss.values():
                poller.__exit__()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        print("tearing down:")
        teardown = bench.teardown()
        for line in teardown:
            print(f"  {line}")
        if args.keep_state:
            print(f"kept the state in {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
    if failure is not None:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1

    assert bench.servers is not None
    targets = judge(steps)
    split, parts = split_table(timings["timings"], steps)
    machine["load_average_at_end"] = load_average()
    print()
    workers = yaml.safe_load(bench.config.read_text())["deployment"]["serving"].get("workers", 1)
    print(
        f"Model {bench.servers.model_name} v{bench.servers.version} ({bench.servers.model_uri}, "
        f"{timings['estimator']}); our server: deployment.serving.workers {workers}, "
        f"{thread_words(settings)}; plain server: {thread_words(plain_settings)}."
    )
    for target, label in TARGET_LABELS.items():
        print(f"  {target:<8} = {label}")
    print(f"\nLoad ({args.duration:g} s per step; latency from each request's due time):")
    print(load_table(steps))
    print("\nSaturation (highest achieved rate on each ladder):")
    for rows in ROW_COUNTS:
        cells = []
        for target in TARGET_LABELS:
            value, reached = saturation(steps, target, rows)
            cells.append(f"{target} {'' if reached else '>='}{value:.0f}/s")
        print(f"  {rows:>3} row(s): " + ", ".join(cells))
    print("\nIn-process (separate process, same model):")
    print(in_process_table(timings["timings"]))
    print("\nWhere a request's time goes (p50 / medians):")
    print(split)
    peaks = ", ".join(f"{name} {poller.peak_mb:.0f} MB" for name, poller in rss.items())
    print(f"\nPeak RSS of the process trees under load: {peaks}")
    bad = [name for name, same in checks.items() if not same]
    print(
        "Predictions: every target returned the in-process predictions"
        if not bad
        else f"PREDICTIONS DIFFER: {', '.join(bad)}"
    )
    print("\nTargets (1-row requests):")
    print(
        format_table(
            ["target", "measured", ""], [[t["target"], t["figure"], t["verdict"]] for t in targets]
        )
    )
    noisy = [s for s in steps if s.other_cores > QUIET_CORES]
    load_end = machine["load_average_at_end"]
    print(
        f"\nMachine: load average {machine['load_average_at_start']} at start, {load_end} at end; "
        f"{len(noisy)} of {len(steps)} steps had other processes above {QUIET_CORES} cores."
    )
    record = {
        "created": stamp,
        "command": [sys.executable, *sys.argv],
        "machine": machine,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model": {
            "name": bench.servers.model_name,
            "version": bench.servers.version,
            "uri": bench.servers.model_uri,
        },
        "urls": bench.servers.urls(),
        "in_process": timings,
        "predictions_equal": checks,
        "our_server": {"workers": workers, **settings},
        "plain_server": plain_settings,
        "steps": [asdict(s) for s in steps],
        "saturation": {
            f"{t} {r}": saturation(steps, t, r) for t in TARGET_LABELS for r in ROW_COUNTS
        },
        "split": parts,
        "targets": targets,
        "peak_rss_mb": {name: poller.peak_mb for name, poller in rss.items()},
        "teardown": teardown,
        **bench.record,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    print(f"\nRaw figures: {output}")
    return 0 if not bad else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_in_process":
        sys.exit(_in_process_main(*sys.argv[2:5]))
    if len(sys.argv) > 1 and sys.argv[1] == "_serve_version":
        sys.exit(_serve_version_main(*sys.argv[2:4]))
    sys.exit(main())
