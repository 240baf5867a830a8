"""Serving under paced load: the stable endpoint, one replica alone, plain MLflow, in-process.

    .venv/bin/python bench/serving.py            # about 6-9 minutes
    .venv/bin/python bench/serving.py --quick    # about 4 minutes, coarser

In one invocation, in a fresh temporary ZenML/MLflow state:

1. ``run.py --pipeline release`` trains the project's model and serves it the
   way the product does (HAProxy on a free port -> ``deployment.serving.replicas``
   supervised replicas, each a gunicorn arbiter that preloaded the model over
   ``deployment.serving.workers`` uvicorn workers, started by the
   ``mlflow_haproxy`` deployer under supervisord); no load test, no canary;
2. a separate process times the model in-process (scikit-learn, MLflow
   pyfunc, MLflow's JSON parsing and its whole ``invocations``, our app's fast
   parse and whole answer) for 1 and 100 rows, with OpenMP as it comes and
   limited to one thread, and writes the request bodies and the predictions
   the servers must return;
3. ``mlflow models serve -m <the same model files> --workers 2 --env-manager
   local`` starts on a free port: the peer;
4. for each body size and rising fixed rate, a separate open-loop loader
   process (bench/harness.py) sends to the endpoint, to replica 1's own port
   and to the plain server, until each saturates (achieved < 90% of offered,
   or p99 beyond ``--p99-cap``, or more than 10% errors);
5. overload: 2x the endpoint's 1-row saturation for 20 s, open loop: what is
   answered, what is shed (503, with Retry-After?), and whether HAProxy marked
   a replica DOWN (its ``chkdown`` counters before and after);
6. ``run.py --undeploy`` and the plain server's end, whatever happened.

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
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

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

if TYPE_CHECKING:
    from stacks.flavors.haproxy import ServerStat
    from stacks.flavors.local_endpoint import LocalEndpoint

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
TARGETS = (ENDPOINT, DIRECT, PLAIN)
#: The peer's ``mlflow models serve --workers``: the issue's targets are set against 2.
PLAIN_WORKERS = 2
#: Process trees whose CPU each step accounts for: one per replica ("replica 1", ...).
REPLICA_TREE = "replica {}"

#: The overload step: this many times the endpoint's 1-row saturation, for this long.
OVERLOAD_FACTOR = 2.0
OVERLOAD_SECONDS = 20.0
#: Never offer more than this (the loader, HAProxy and the replicas share 2 cores).
OVERLOAD_MAX_RPS = 3000.0
#: After the overload step, before HAProxy's counters are read again: a health check that
#: began during the step may take ``timeout check`` (2 s) to fail, and DOWN needs two fails.
SETTLE_SECONDS = 3.0
#: How long the replicas may take to pass HAProxy's health check again before a measurement.
UP_WAIT_SECONDS = 15.0
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
    #: Replica 1's own port: its gunicorn arbiter and workers, no HAProxy in front.
    direct_url: str
    plain_url: str
    model_name: str
    version: str
    #: The model's files as the replicas load them (downloaded from MLflow by the deploy).
    model_uri: str
    #: Every replica's own scoring URL, replica 1 first.
    replica_urls: list[str]
    #: Every replica's gunicorn arbiter (its workers are its children), replica 1 first.
    replicas: list[psutil.Process]
    haproxy: psutil.Process | None
    supervisord: psutil.Process | None
    #: HAProxy's admin socket (``stacks.flavors.haproxy.admin_socket_path`` of the endpoint).
    admin_socket: Path
    #: The endpoint's settings as its state file holds them (workers, replicas, maxconn ...).
    serving: dict[str, Any]
    #: Which scoring app the replicas run ("lean" or "mlflow", from the replica's command).
    app: str = "lean"
    plain: psutil.Process | None = None
    plain_workers: int = PLAIN_WORKERS

    @property
    def workers(self) -> int:
        """uvicorn workers per replica."""
        return int(self.serving["workers"])

    def server_settings(self, root: psutil.Process | None = None) -> dict[str, Any]:
        """What a server runs with: processes, the thread variables they got.

        By default the replicas (every arbiter and worker; the variables of
        replica 1's arbiter, which its workers inherit), else ``root``'s tree.
        """
        env: dict[str, str] = {}
        if root is None:
            roots = self.replicas
            tree = [p for replica in self.replicas for p in process_tree(replica.pid)]
            with contextlib.suppress(psutil.Error):
                env = self.replicas[0].environ()
        else:
            roots = [root]
            tree = process_tree(root.pid)
            for process in tree:  # the plain server: the uvicorn (or gunicorn) it starts
                with contextlib.suppress(psutil.Error):
                    if re.search(r"uvicorn|gunicorn", " ".join(process.cmdline())):
                        env = process.environ()
                        break
        threads = {k: v for k, v in env.items() if k.endswith("_NUM_THREADS")}
        return {"roots": len(roots), "processes": len(tree), "thread_variables": threads}

    def tracked(self) -> dict[str, list[psutil.Process]]:
        """Process trees whose CPU each step accounts for: each replica, HAProxy, the peer."""
        trees = {
            REPLICA_TREE.format(index): process_tree(replica.pid)
            for index, replica in enumerate(self.replicas, start=1)
        }
        if self.haproxy is not None:
            trees["haproxy"] = [self.haproxy]
        if self.plain is not None:
            trees["plain"] = process_tree(self.plain.pid)
        return trees

    def urls(self) -> dict[str, str]:
        return {ENDPOINT: self.endpoint_url, DIRECT: self.direct_url, PLAIN: self.plain_url}

    def describe(self) -> dict[str, str]:
        """What each target runs, in words (printed and kept in the JSON)."""
        serving, workers = self.serving, self.workers
        replicas = len(self.replicas)
        app = "the project's lean scoring app" if self.app == "lean" else "MLflow's scoring app"
        return {
            ENDPOINT: (
                f"HAProxy -> {replicas} replica(s) x {workers} worker(s) = {replicas * workers} "
                f"worker process(es) (gunicorn arbiter, model preloaded, uvicorn workers, {app}); "
                f"maxconn {serving['max_in_flight']} per replica, 503 + Retry-After "
                f"{serving['retry_after']} when {serving['max_queue']} wait, queue timeout "
                f"{serving['queue_timeout']:g} s"
            ),
            DIRECT: (
                f"replica 1's own port, no HAProxy (no maxconn, no queue): 1 replica x "
                f"{workers} worker(s)"
            ),
            PLAIN: (
                f"mlflow models serve --workers {self.plain_workers} --env-manager local "
                "(MLflow's scoring app) on the same model files"
            ),
        }

    def like_for_like(self) -> str:
        """Whether the endpoint and the peer run as many worker processes, in words."""
        ours = len(self.replicas) * self.workers
        if ours == self.plain_workers:
            return (
                f"endpoint and plain both run {ours} worker processes: the saturation "
                "comparison is like for like"
            )
        return (
            f"NOT LIKE FOR LIKE: the endpoint runs {ours} worker processes, the plain server "
            f"{self.plain_workers}; set --replicas/--workers (or --plain-workers) to match"
        )


def bench_config(
    base_path: Path, run_dir: Path, workers: int | None, replicas: int | None
) -> tuple[Path, int]:
    """The base config with a free endpoint port, no load test and no canary.

    ``workers`` and ``replicas`` override ``deployment.serving``'s when given.
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
    if replicas is not None:
        serving["replicas"] = replicas
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


def local_endpoint(state_path: Path) -> LocalEndpoint:
    """The project's view of the endpoint whose ``state.json`` this is (no ZenML needed).

    ``<local_path>/splitter/<model>/state.json`` beside ``<local_path>/supervisor/``.
    """
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from stacks.flavors.haproxy import SplitterFiles
    from stacks.flavors.local_endpoint import LocalEndpoint
    from stacks.flavors.supervision import Supervisor

    return LocalEndpoint(
        SplitterFiles(state_path.parent), Supervisor(state_path.parents[2] / "supervisor")
    )


def program_process(endpoint: LocalEndpoint, name: str) -> psutil.Process:
    """The process supervisord runs as program ``name``; RuntimeError if it does not run."""
    info = endpoint.supervisor.info(name)
    if info is None or info.pid is None:
        state = info.state if info is not None else "unknown to supervisord"
        raise RuntimeError(f"{name} does not run ({state}); see {endpoint.supervisor.logs}")
    return psutil.Process(info.pid)


def replica_stats(admin_socket: Path, version: str) -> dict[str, ServerStat]:
    """HAProxy's ``show stat`` line of each of the version's replicas, by name (``v1_r1``)."""
    from stacks.flavors.haproxy import AdminSocket, model_servers, version_of

    servers = model_servers(AdminSocket(admin_socket).show_stat())
    return {name: stat for name, stat in servers.items() if version_of(name) == version}


def backend_queue_max(admin_socket: Path) -> int | None:
    """The most requests that ever waited in HAProxy's queue of the replicas (``qmax``)."""
    import csv

    from stacks.flavors.haproxy import BACKEND, AdminSocket

    lines = AdminSocket(admin_socket).command("show stat").strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    for row in csv.DictReader([lines[0][2:], *lines[1:]]):
        if row.get("pxname") == BACKEND and row.get("svname") == "BACKEND":
            return int(row["qmax"]) if row.get("qmax") else None
    return None


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
        self.config, self.port = bench_config(args.config, run_dir, args.workers, args.replicas)
        self.endpoint: LocalEndpoint | None = None
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
        state_path, raw_state = splitter_state(self.zenml_dir)
        if version not in raw_state.get("versions", {}):
            raise RuntimeError(f"{state_path} does not list version {version}: {raw_state}")
        endpoint = self.endpoint = local_endpoint(state_path)
        state = endpoint.state()
        if state is None:
            raise RuntimeError(f"cannot read the endpoint's state {state_path}")
        ports = state.versions[version].ports
        replicas = [
            program_process(endpoint, endpoint.replica_program(version, index))
            for index in range(1, len(ports) + 1)
        ]
        supervisord_pid = endpoint.supervisor.pid()
        settings = ("workers", "replicas", "max_in_flight", "max_queue", "queue_timeout")
        self.servers = Servers(
            endpoint_url=f"http://127.0.0.1:{self.port}/invocations",
            direct_url=f"http://127.0.0.1:{ports[0]}/invocations",
            plain_url="",
            model_name=name,
            version=version,
            model_uri=str(endpoint.model_directory(version)),
            replica_urls=[f"http://127.0.0.1:{port}/invocations" for port in ports],
            replicas=replicas,
            haproxy=program_process(endpoint, endpoint.haproxy_program),
            supervisord=psutil.Process(supervisord_pid) if supervisord_pid else None,
            admin_socket=endpoint.files.socket,
            serving={k: getattr(state, k) for k in (*settings, "retry_after", "port")},
            app="lean" if "scoring_app" in " ".join(replicas[0].cmdline()) else "mlflow",
            plain_workers=self.args.plain_workers,
        )
        self.env["MLFLOW_TRACKING_URI"] = tracking_uri(self.zenml_dir)
        self.record["programs_at_start"] = self.programs()

    def programs(self) -> dict[str, dict[str, Any]]:
        """supervisord's view of the endpoint's programs: state, pid, restarts so far."""
        if self.endpoint is None:
            return {}
        prefix = self.endpoint.prefix
        return {
            name: {"state": info.state, "pid": info.pid, "restarts": info.restarts}
            for name, info in self.endpoint.supervisor.all_info().items()
            if name.startswith(prefix)
        }

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
        """``mlflow models serve --workers N`` of the same model files, on a free port."""
        assert self.servers is not None
        port = free_port()
        workers = str(self.servers.plain_workers)
        command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve"]
        command += ["-m", self.servers.model_uri, "--workers", workers, "--env-manager", "local"]
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
        """Each target, and each replica on its own port, answers every body exactly as in-process."""
        assert self.servers is not None
        urls = dict(self.servers.urls())
        for index, url in enumerate(self.servers.replica_urls[1:], start=2):
            urls[f"replica {index}"] = url
        checks: dict[str, Any] = {}
        for target, url in urls.items():
            for rows, path in bodies.items():
                got = post(url, Path(path).read_bytes())["predictions"]
                checks[f"{target} {rows} rows"] = got == expected[rows]
        return checks

    # --- HAProxy's view --------------------------------------------------------------

    def replica_stats(self) -> dict[str, ServerStat]:
        assert self.servers is not None
        return replica_stats(self.servers.admin_socket, self.servers.version)

    def wait_replicas_up(self, timeout_s: float = UP_WAIT_SECONDS) -> float:
        """Until HAProxy's health check passes for every replica; the seconds it took."""
        from stacks.flavors.haproxy import passes_check

        assert self.servers is not None
        started = time.perf_counter()
        while True:
            stats = self.replica_stats()
            if len(stats) == len(self.servers.replicas) and all(
                passes_check(stat) for stat in stats.values()
            ):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout_s:
                states = {name: f"{s.status} {s.check_status}" for name, s in stats.items()}
                raise RuntimeError(f"replicas not UP after {timeout_s:g} s: {states}")
            time.sleep(0.1)

    def down_transitions(self) -> dict[str, int]:
        """HAProxy's ``chkdown`` of each replica: UP -> DOWN transitions since it started."""
        return {name: stat.down_transitions for name, stat in self.replica_stats().items()}

    # --- measuring -------------------------------------------------------------------

    def ladders(self, bodies: dict[str, str]) -> list[StepResult]:
        """Rising fixed rates per body size; a target drops out once it saturates.

        At each rate the targets run one after the other, in an order that
        rotates from rate to rate, so slow drift in the machine's load falls
        on all of them alike. Before each endpoint step every replica must
        pass HAProxy's health check (a saturated step on replica 1's own
        port, which bypasses HAProxy's limits, can delay its checks).
        """
        assert self.servers is not None
        urls = self.servers.urls()
        steps: list[StepResult] = []
        waits: list[float] = []
        self.record["chkdown_before_ladders"] = self.down_transitions()
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
                    if target == ENDPOINT:
                        waits.append(self.wait_replicas_up())
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
        self.record["chkdown_after_ladders"] = self.down_transitions()
        self.record["waited_for_replicas_up_s"] = [round(w, 2) for w in waits if w > 0.05]
        return steps

    def overload(self, bodies: dict[str, str], steps: list[StepResult]) -> Overload | None:
        """Offer ``--overload-factor`` x the endpoint's 1-row saturation for a while, open loop.

        Bounded: at most :data:`OVERLOAD_MAX_RPS`, 64 connections, a 5 s
        timeout per request, and only ever to the endpoint on 127.0.0.1.
        """
        assert self.servers is not None
        url = self.servers.endpoint_url
        if urlsplit(url).hostname != "127.0.0.1":
            raise RuntimeError(f"the overload step only loads 127.0.0.1, not {url}")
        found, reached = saturation(steps, ENDPOINT, 1)
        if math.isnan(found) or found <= 0:
            print("  overload: skipped, the endpoint's 1-row saturation is unknown")
            return None
        rate = min(round(self.args.overload_factor * found), OVERLOAD_MAX_RPS)
        seconds = self.args.overload_duration
        print(
            f"overload ({rate:g}/s = {self.args.overload_factor:g}x the endpoint's 1-row "
            f"saturation of {'' if reached else '>='}{found:.0f}/s, {seconds:g} s, open loop):",
            flush=True,
        )
        waited = self.wait_replicas_up()
        before = self.down_transitions()
        step = run_load_step(
            ENDPOINT,
            url,
            Path(bodies["1"]),
            1,
            rate,
            seconds,
            self.servers.tracked(),
            self.args.p99_cap,
        )
        time.sleep(SETTLE_SECONDS)
        after_stats = self.replica_stats()
        result = overload_figures(
            step,
            found,
            reached,
            before,
            {name: stat.down_transitions for name, stat in after_stats.items()},
            {
                name: f"{stat.status} {stat.check_status}".strip()
                for name, stat in after_stats.items()
            },
            backend_queue_max(self.servers.admin_socket),
            waited,
        )
        for line in overload_lines(result):
            print(f"  {line}", flush=True)
        return result

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
        # supervisord first: it would start again what is killed below it.
        roots: list[psutil.Process] = [*self.supervisords()]
        if self.servers is not None:
            roots += [
                *self.servers.replicas,
                *([self.servers.haproxy] if self.servers.haproxy else []),
            ]
        leftovers = [process for process in roots if process.is_running()]
        for process in leftovers:
            end_tree(process, timeout_s=5)
        if leftovers:
            pids = ", ".join(str(process.pid) for process in leftovers)
            lines.append(f"killed {len(leftovers)} process(es) --undeploy left running ({pids})")
        return lines

    def supervisords(self) -> list[psutil.Process]:
        """The supervisord of this run's state, if one runs (found by its pid file and config)."""
        found = []
        if self.servers is not None and self.servers.supervisord is not None:
            found.append(self.servers.supervisord)
        for pidfile in self.zenml_dir.glob("local_stores/*/supervisor/supervisord.pid"):
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                process = psutil.Process(int(pidfile.read_text().split()[0]))
                mine = str(pidfile.parent) in " ".join(process.cmdline())
                if mine and all(process.pid != other.pid for other in found):
                    found.append(process)
        return found


def restarted(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """Programs supervisord restarted (or that stopped) between two :meth:`Bench.programs`."""
    found = []
    for name, now in sorted(after.items()):
        then = before.get(name)
        if then is None:
            continue
        if now["restarts"] > then["restarts"] or now["pid"] != then["pid"]:
            found.append(f"{name} (pid {then['pid']} -> {now['pid']}, state {now['state']})")
    found += [f"{name} (gone)" for name in sorted(set(before) - set(after))]
    return found


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


def judge(steps: list[StepResult], plain_workers: int = PLAIN_WORKERS) -> list[dict[str, Any]]:
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
            "target": f"saturation, endpoint vs plain {plain_workers}-worker "
            f"(>= {SATURATION_FACTOR:g}x)",
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


# --------------------------------------------------------------------------- overload


@dataclass
class Overload:
    """The overload step's figures (1-row requests to the endpoint, open loop)."""

    saturation_rps: float  # the endpoint's 1-row saturation it was derived from
    saturation_reached: bool  # False: the ladder ran out of rates first (a lower bound)
    offered_rps: float
    duration_s: float
    sent: int
    answered: int  # 200 with predictions
    answered_rps: float  # answered / the step's span
    answered_p50_ms: float  # from the due time, as every latency here
    answered_p99_ms: float
    shed: int  # 503 answers
    shed_rps: float  # 503s / the step's sending time
    shed_with_retry_after: int
    refused_p50_ms: float  # any answer but a 200 (the 503s unless other_statuses says more)
    refused_p99_ms: float
    other_statuses: dict[str, int]  # answers neither 200 nor 503
    connection_errors: dict[str, int]  # no answer at all: refused, reset, closed
    timeouts: int  # no answer within 5 s of the due time
    bad_answers: int  # a 200 without predictions
    chkdown_before: dict[str, int]
    chkdown_after: dict[str, int]
    states_after: dict[str, str]
    queue_max: int | None  # HAProxy's backend qmax since it started (the ladders included)
    waited_for_up_s: float
    step: StepResult

    @property
    def down_events(self) -> int:
        """Replicas HAProxy marked DOWN during the step (and the seconds after it)."""
        return sum(self.chkdown_after.values()) - sum(self.chkdown_before.values())

    @property
    def failed(self) -> int:
        """Requests that got no answer, or a wrong one."""
        return sum(self.connection_errors.values()) + self.timeouts + self.bad_answers


def overload_figures(
    step: StepResult,
    saturation_rps: float,
    saturation_reached: bool,
    chkdown_before: dict[str, int],
    chkdown_after: dict[str, int],
    states_after: dict[str, str],
    queue_max: int | None,
    waited_for_up_s: float = 0.0,
) -> Overload:
    """The overload step's loader report and HAProxy's counters, as figures."""
    shed = step.statuses.get("503", 0)
    no_answer = {
        kind: count
        for kind, count in step.errors.items()
        if not kind.startswith("HTTP ") and kind not in {"timeout", "200 without predictions"}
    }
    return Overload(
        saturation_rps=saturation_rps,
        saturation_reached=saturation_reached,
        offered_rps=step.offered_rps,
        duration_s=step.duration_s,
        sent=step.sent,
        answered=step.ok,
        answered_rps=step.achieved_rps,
        answered_p50_ms=step.p50_ms,
        answered_p99_ms=step.p99_ms,
        shed=shed,
        shed_rps=shed / step.duration_s if step.duration_s > 0 else math.nan,
        shed_with_retry_after=step.retry_after.get("503", 0),
        refused_p50_ms=step.refused_p50_ms,
        refused_p99_ms=step.refused_p99_ms,
        other_statuses={
            status: count
            for status, count in sorted(step.statuses.items())
            if status not in {"200", "503"}
        },
        connection_errors=no_answer,
        timeouts=step.errors.get("timeout", 0),
        bad_answers=step.errors.get("200 without predictions", 0),
        chkdown_before=dict(chkdown_before),
        chkdown_after=dict(chkdown_after),
        states_after=dict(states_after),
        queue_max=queue_max,
        waited_for_up_s=waited_for_up_s,
        step=step,
    )


def overload_lines(result: Overload) -> list[str]:
    """The overload step in words, one figure per line."""
    bound = "" if result.saturation_reached else ">="
    share = result.answered_rps / result.saturation_rps if result.saturation_rps else math.nan
    others = ", ".join(f"HTTP {s}: {n}" for s, n in result.other_statuses.items()) or "none"
    no_answer = ", ".join(f"{k} {n}" for k, n in result.connection_errors.items()) or "0"
    transitions = ", ".join(
        f"{name} {result.chkdown_before.get(name, 0)}->{count}"
        for name, count in sorted(result.chkdown_after.items())
    )
    states = ", ".join(f"{name} {state}" for name, state in sorted(result.states_after.items()))
    step = result.step
    return [
        f"offered          {result.offered_rps:g}/s for {result.duration_s:g} s ({result.sent} "
        f"requests), {result.offered_rps / result.saturation_rps:.1f}x the endpoint's 1-row "
        f"saturation ({bound}{result.saturation_rps:.0f}/s)",
        f"answered (200)   {result.answered_rps:.1f}/s ({share:.2f}x saturation), "
        f"p50 {ms(result.answered_p50_ms)} ms, p99 {ms(result.answered_p99_ms)} ms",
        f"shed (503)       {result.shed_rps:.1f}/s ({result.shed} requests), "
        f"{result.shed_with_retry_after} of {result.shed} with Retry-After; "
        f"p50 {ms(result.refused_p50_ms)} ms, p99 {ms(result.refused_p99_ms)} ms",
        f"other answers    {others}",
        f"no answer        connection failures {no_answer}, timeouts {result.timeouts}"
        + (f", 200 without predictions {result.bad_answers}" if result.bad_answers else ""),
        f"DOWN events      {result.down_events} (HAProxy chkdown {transitions}); "
        f"{SETTLE_SECONDS:g} s after: {states}",
        f"HAProxy queue    at most {result.queue_max if result.queue_max is not None else '?'} "
        "waiting since it started (qmax, the ladders included)",
        f"loader           lag p99 {ms(step.lag_p99_ms, 2)} ms, {step.connections} "
        f"connections; other processes {step.other_cores:.2f} cores",
    ]


def judge_overload(result: Overload | None) -> list[dict[str, Any]]:
    """What overload must show (README "Overload sheds, health stays true")."""
    if result is None:
        return [
            {"target": "overload", "figure": "not measured", "value": math.nan, "verdict": "MISS"}
        ]
    share = result.answered_rps / result.saturation_rps if result.saturation_rps else math.nan
    retry = (
        f"{result.shed_with_retry_after} of {result.shed} 503s"
        if result.shed
        else "no 503 at all (nothing was shed; not judged)"
    )
    if not result.shed:
        retry_verdict = "-"
    else:
        retry_verdict = "PASS" if result.shed == result.shed_with_retry_after else "MISS"
    return [
        {
            "target": f"overload {result.offered_rps:g}/s: answered, p99 of the answered",
            "figure": f"{result.answered_rps:.1f}/s ({share:.2f}x saturation), "
            f"p99 {ms(result.answered_p99_ms)} ms; shed {result.shed_rps:.1f}/s",
            "value": result.answered_rps,
            "verdict": "-",
        },
        {
            "target": "overload: every 503 carries Retry-After",
            "figure": retry,
            "value": result.shed - result.shed_with_retry_after,
            "verdict": retry_verdict,
        },
        {
            "target": "overload: requests without an answer (0)",
            "figure": f"{result.failed} (connection failures "
            f"{sum(result.connection_errors.values())}, timeouts {result.timeouts})",
            "value": result.failed,
            "verdict": verdict(result.failed, 0),
        },
        {
            "target": "overload: replicas marked DOWN (0)",
            "figure": f"{result.down_events} DOWN events",
            "value": result.down_events,
            "verdict": verdict(result.down_events, 0),
        },
    ]


def share_cell(share: float) -> str:
    """The busiest process's share of a server tree's CPU, as a percentage."""
    return "-" if math.isnan(share) else f"{share:.0%}"


def server_trees(step: StepResult) -> list[str]:
    """The tracked trees that serve a step's target (HAProxy not included)."""
    if step.target == PLAIN:
        return ["plain"]
    if step.target == DIRECT:
        return [REPLICA_TREE.format(1)]
    return [name for name in step.tracked_cpu_s if name.startswith(REPLICA_TREE.format(""))]


def server_cpu(step: StepResult) -> tuple[float, float]:
    """CPU seconds the target's serving processes used in a step, and the busiest one's share.

    For the endpoint, every replica's tree counts (arbiters and workers); the
    busiest process is the busiest of all of them (0.5: two workers evenly loaded).
    """
    names = server_trees(step)
    if not names or any(name not in step.tracked_cpu_s for name in names):
        return math.nan, math.nan
    total = sum(step.tracked_cpu_s[name] for name in names)
    busiest = [
        step.busiest_share.get(name, math.nan) * step.tracked_cpu_s[name]
        for name in names
        if step.tracked_cpu_s[name] > 0
    ]
    return total, (max(busiest) / total if busiest and total > 0 else math.nan)


def load_table(steps: list[StepResult]) -> str:
    """One row per target, body size and rate."""
    header = ["target", "rows", "offered/s", "achieved/s", "p50 ms", "p99 ms", "errors", "503s"]
    header += ["CPU ms/req", "busiest process", "loader lag p99 ms", "other cores", ""]
    body = []
    for step in steps:
        cpu, busiest = server_cpu(step)
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
                str(step.statuses.get("503", 0)),
                ms(per_request, 2),
                share_cell(busiest),
                ms(step.lag_p99_ms, 2),
                f"{step.other_cores:.2f}",
                " ".join(notes),
            ]
        )
    return format_table(header, body)


def cpu_per_request_ms(step: StepResult | None, tree: str) -> float:
    """CPU milliseconds per answered request of one tracked process tree, the loader
    (``loader``) or the step's own serving processes (``server``: see :func:`server_cpu`)."""
    if step is None or not step.ok:
        return math.nan
    if tree == "loader":
        seconds = step.loader_cpu_s
    elif tree == "server":
        seconds = server_cpu(step)[0]
    else:
        seconds = step.tracked_cpu_s.get(tree, math.nan)
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
    "HTTP, uvicorn worker, ASGI app": "direct p50 - our answer in-process",
    "= replica 1, direct p50": "loader -> replica 1's own port, lowest rate",
    "HAProxy": "endpoint p50 - direct p50, lowest rate",
    "= endpoint p50": "loader -> HAProxy -> a replica, lowest rate",
    "  plain mlflow models serve, p50": "the peer at the same rate",
    "CPU: replica 1 per request": "its arbiter and workers' CPU / answered (direct)",
    "CPU: replicas per request": "every replica's CPU / answered (endpoint)",
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
        "HTTP, uvicorn worker, ASGI app": direct.p50_ms - d["answer"] if direct else nan,
        "= replica 1, direct p50": direct.p50_ms if direct else nan,
        "HAProxy": endpoint.p50_ms - direct.p50_ms if endpoint and direct else nan,
        "= endpoint p50": endpoint.p50_ms if endpoint else nan,
        "  plain mlflow models serve, p50": plain.p50_ms if plain else nan,
        "CPU: replica 1 per request": cpu_per_request_ms(direct, "server"),
        "CPU: replicas per request": cpu_per_request_ms(endpoint, "server"),
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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI."""
    parser = argparse.ArgumentParser(
        description="Serving under paced open-loop load: the stable endpoint (HAProxy -> the "
        "version's supervised replicas), replica 1's own port and a plain 'mlflow models serve "
        "--workers 2' of the same model, 1- and 100-row requests at rising fixed rates until "
        "saturation, then the endpoint at twice its saturation (overload), beside the in-process "
        "predict time.",
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
        type=_positive_int,
        help="deployment.serving.workers: uvicorn workers per replica (default: the config's)",
    )
    parser.add_argument(
        "--replicas",
        type=_positive_int,
        help="deployment.serving.replicas: replicas of the version (default: the config's)",
    )
    parser.add_argument(
        "--plain-workers",
        type=_positive_int,
        default=PLAIN_WORKERS,
        metavar="N",
        help=f"the peer's 'mlflow models serve --workers' (default {PLAIN_WORKERS}, as the "
        "issue's targets)",
    )
    parser.add_argument(
        "--overload-factor",
        type=float,
        default=OVERLOAD_FACTOR,
        metavar="X",
        help=f"the overload step offers X times the endpoint's 1-row saturation (default "
        f"{OVERLOAD_FACTOR:g}; 0 skips the step)",
    )
    parser.add_argument(
        "--overload-duration",
        type=float,
        default=OVERLOAD_SECONDS,
        metavar="S",
        help=f"seconds of the overload step (default {OVERLOAD_SECONDS:g})",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="base run config")
    parser.add_argument("--output", type=Path, metavar="PATH", help="JSON output path")
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary state")
    args = parser.parse_args(argv)
    args.rates = args.rates or parse_rates(QUICK_RATES if args.quick else DEFAULT_RATES)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.reps = 100 if args.quick else 300
    if args.overload_factor < 0 or args.overload_duration <= 0:
        parser.error("--overload-factor must be >= 0 and --overload-duration > 0")
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
    overload: Overload | None = None
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
        roots = {"replicas": bench.servers.replicas, "haproxy": [bench.servers.haproxy]}
        roots["plain"] = [bench.servers.plain]
        rss = {
            name: RssPoller([p for p in procs if p is not None]) for name, procs in roots.items()
        }
        for poller in rss.values():
            poller.__enter__()
        print(f"load (each step {args.duration:g} s, open loop, from a separate process):")
        try:
            steps = bench.ladders(timings["bodies"])
            if args.overload_factor > 0:
                overload = bench.overload(timings["bodies"], steps)
        finally:
            for poller in rss.values():
                poller.__exit__()
        bench.record["programs_at_end"] = bench.programs()
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

    servers = bench.servers
    assert servers is not None
    targets = judge(steps, servers.plain_workers)
    if args.overload_factor > 0:
        targets += judge_overload(overload)
    split, parts = split_table(timings["timings"], steps)
    machine["load_average_at_end"] = load_average()
    restarts = restarted(bench.record.get("programs_at_start", {}), bench.record["programs_at_end"])
    print()
    print(
        f"Model {servers.model_name} v{servers.version} ({servers.model_uri}, "
        f"{timings['estimator']}); replicas: {thread_words(settings)}; plain server: "
        f"{thread_words(plain_settings)}."
    )
    descriptions = servers.describe()
    for target in TARGETS:
        print(f"  {target:<8} = {descriptions[target]}")
    print(f"  {servers.like_for_like()}")
    print(f"\nLoad ({args.duration:g} s per step; latency from each request's due time):")
    print(load_table(steps))
    print("\nSaturation (highest achieved rate on each ladder):")
    for rows in ROW_COUNTS:
        cells = []
        for target in TARGETS:
            value, reached = saturation(steps, target, rows)
            cells.append(f"{target} {'' if reached else '>='}{value:.0f}/s")
        print(f"  {rows:>3} row(s): " + ", ".join(cells))
    if overload is not None:
        print(
            f"\nOverload (1-row requests to the endpoint, {overload.duration_s:g} s, open loop; "
            "latency from each request's due time):"
        )
        for line in overload_lines(overload):
            print(f"  {line}")
    print("\nIn-process (separate process, same model):")
    print(in_process_table(timings["timings"]))
    print("\nWhere a request's time goes (p50 / medians):")
    print(split)
    peaks = ", ".join(f"{name} {poller.peak_mb:.0f} MB" for name, poller in rss.items())
    print(
        f"\nPeak RSS of the process trees under load: {peaks} (a forked worker's pages shared "
        "with its arbiter count twice)"
    )
    print(
        "Supervision: no program of the endpoint restarted during the bench"
        if not restarts
        else f"RESTARTED during the bench: {', '.join(restarts)}"
    )
    downs = sum(bench.record["chkdown_after_ladders"].values()) - sum(
        bench.record["chkdown_before_ladders"].values()
    )
    print(
        f"HAProxy marked a replica DOWN {downs} time(s) during the ladders (a saturated direct "
        "step bypasses HAProxy's maxconn and can delay replica 1's health checks)"
    )
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
            "name": servers.model_name,
            "version": servers.version,
            "uri": servers.model_uri,
        },
        "urls": servers.urls(),
        "replica_urls": servers.replica_urls,
        "targets_run": descriptions,
        "like_for_like": servers.like_for_like(),
        "in_process": timings,
        "predictions_equal": checks,
        "our_server": {"serving": servers.serving, "app": servers.app, **settings},
        "plain_server": {"workers": servers.plain_workers, **plain_settings},
        "steps": [asdict(s) for s in steps],
        "saturation": {f"{t} {r}": saturation(steps, t, r) for t in TARGETS for r in ROW_COUNTS},
        "overload": asdict(overload) if overload is not None else None,
        "restarted": restarts,
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
