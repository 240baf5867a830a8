"""Shared benchmark plumbing: isolation, processes and CPU, statistics, tables, paced load.

Used by ``bench/serving.py`` (and the generic pieces by ``bench/training_overhead.py``).
Nothing here imports the project, ZenML or MLflow, so the load generator
started from this file (``python bench/harness.py load ...``) is a small
process: the standard library, psutil, and uvloop when it is installed.

The load generator is open-loop: request *i* of a step is due at
``start + i / rate`` whatever happened to the ones before, and its latency is
measured from that due time, so time spent waiting for a free connection, or
behind a late event loop, counts as the server's queue would. Requests go
over keep-alive HTTP/1.1 connections (a pool that grows up to
``--max-connections``); the request bytes are built once, and a response is
read by its ``Content-Length`` (or chunks), so the loader itself costs little
CPU. It prints one JSON object: per-request latencies, send lags, errors,
every answer's status (and how many carried ``Retry-After``), its own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
#: Average CPU cores used by other processes above which a measurement is flagged.
QUIET_CORES = 0.2
#: An offered rate counts as sustained while at least this share of it is achieved.
SUSTAINED_SHARE = 0.9

# --------------------------------------------------------------------------- isolation


def child_env(zenml_config_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every measured process gets: an isolated, quiet ZenML.

    Inherited ZENML_* and MLFLOW_* variables are dropped so a developer's own
    store, stack or tracking server can neither be touched nor change the result.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "MLFLOW_"))}
    env.update(
        ZENML_CONFIG_PATH=str(zenml_config_path),
        ZENML_ANALYTICS_OPT_IN="false",
        ZENML_AUTO_OPEN_DASHBOARD="false",
        ZENML_LOGGING_COLORS_DISABLED="true",
        GX_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel reports free now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_http(url: str, timeout_s: float, alive: psutil.Process | None = None) -> bool:
    """Whether ``GET url`` answers 200 within ``timeout_s`` (False early if ``alive`` dies)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive.is_running():
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


# --------------------------------------------------------------------------- processes and CPU


def process_tree(pid: int | None) -> list[psutil.Process]:
    """``pid`` and every process below it, while they run (empty if ``pid`` is gone)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss_bytes(root: psutil.Process) -> int:
    """Resident memory of a process and all its descendants right now."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def tree_cpu_s(processes: Iterable[psutil.Process]) -> float:
    """CPU seconds (user + system) the given live processes have used so far."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def cpu_by_process(processes: Iterable[psutil.Process]) -> dict[int, float]:
    """CPU seconds each live process has used so far, by pid."""
    found = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found[process.pid] = times.user + times.system
    return found


def busy_cpu_s() -> float:
    """CPU seconds all cores have spent busy since boot (not idle, not waiting on I/O)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def own_cpu_s() -> float:
    """CPU seconds used by this process and its finished (waited-for) children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def kill_tree(root: psutil.Process) -> None:
    """Kill a process we started and everything it started (on timeout or Ctrl-C)."""
    try:
        processes = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def end_tree(root: psutil.Process, timeout_s: float = 10.0) -> None:
    """SIGTERM a process we started and its descendants, SIGKILL what outlives ``timeout_s``."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


class RssPoller:
    """Peak summed RSS of some process trees, polled every ``interval_s`` in a thread.

    Shared pages of forked children count twice, and a child living less than
    the interval can be missed.
    """

    def __init__(self, roots: Sequence[psutil.Process], interval_s: float = 0.1) -> None:
        self.roots = list(roots)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, sum(tree_rss_bytes(r) for r in self.roots))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        """The largest sample, in MiB."""
        return self.peak_bytes / 2**20


@dataclass
class CpuWindow:
    """Where the machine's CPU went during one measurement.

    ``tracked`` are live process trees we measure (servers, HAProxy), sampled
    at the start and the end; waited-for children (the loader) and this process
    are counted through ``getrusage``. ``other_cores`` is what nobody of ours
    used: the machine's busy time minus all of that, per wall second.
    """

    tracked: dict[str, list[psutil.Process]]
    wall_s: float = 0.0
    tracked_cpu_s: dict[str, float] = field(default_factory=dict)
    #: Per tree, the busiest single process's share of the tree's CPU: with two worker
    #: processes 0.5 is an even split, 1.0 all work in one.
    busiest_share: dict[str, float] = field(default_factory=dict)
    own_and_children_cpu_s: float = 0.0
    other_cores: float = 0.0
    _start: tuple[float, float, float, dict[str, dict[int, float]]] | None = None

    def __enter__(self) -> CpuWindow:
        per_tree = {name: cpu_by_process(procs) for name, procs in self.tracked.items()}
        self._start = (time.perf_counter(), busy_cpu_s(), own_cpu_s(), per_tree)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        started, busy0, own0, trees0 = self._start
        self.wall_s = time.perf_counter() - started
        busy = busy_cpu_s() - busy0
        self.own_and_children_cpu_s = own_cpu_s() - own0
        for name, procs in self.tracked.items():
            before = trees0[name]
            used = [
                max(cpu - before.get(pid, 0.0), 0.0) for pid, cpu in cpu_by_process(procs).items()
            ]
            total = sum(used)
            self.tracked_cpu_s[name] = total
            self.busiest_share[name] = max(used) / total if total > 0 else math.nan
        others = busy - self.own_and_children_cpu_s - sum(self.tracked_cpu_s.values())
        self.other_cores = max(others, 0.0) / self.wall_s if self.wall_s > 0 else 0.0


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def other_cores_now(seconds: float = 1.0) -> float:
    """Cores other processes keep busy right now, over ``seconds`` of this process sleeping."""
    with CpuWindow(tracked={}) as window:
        time.sleep(seconds)
    return window.other_cores


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): a value some request really took.

    At least ``q`` percent of the values are at or below it; NaN for no values.
    """
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count); NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def send_schedule(rate: float, duration_s: float) -> list[float]:
    """Due times, in seconds from the step's start, of a fixed-rate step: ``i / rate``.

    ``round(rate * duration_s)`` requests (at least one), evenly spaced.
    """
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"rate and duration must be positive, got {rate} and {duration_s}")
    count = max(1, round(rate * duration_s))
    return [i / rate for i in range(count)]


def is_saturated(offered_rps: float, achieved_rps: float, p99_ms: float, p99_cap_ms: float) -> bool:
    """A step is past saturation when under 90% of the offered rate was achieved or p99 > cap.

    A NaN p99 (no request succeeded) is saturated too.
    """
    if achieved_rps < SUSTAINED_SHARE * offered_rps:
        return True
    return math.isnan(p99_ms) or p99_ms > p99_cap_ms


@dataclass
class StepResult:
    """One fixed-rate step against one target, summarised."""

    target: str
    rows: int
    offered_rps: float
    duration_s: float
    sent: int
    ok: int
    errors: dict[str, int]
    achieved_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    #: The same percentiles from the moment the request was written (no wait for a connection).
    service_p50_ms: float
    service_p99_ms: float
    #: How late the loader's event loop started requests after their due time (its own health).
    lag_p50_ms: float
    lag_p99_ms: float
    connections: int
    loader_cpu_s: float
    #: CPU seconds per tracked process tree (server, HAProxy) during the step.
    tracked_cpu_s: dict[str, float]
    #: Per tree, the busiest process's share of its CPU (0.5: two workers evenly loaded).
    busiest_share: dict[str, float]
    other_cores: float
    saturated: bool
    #: Every answer by HTTP status ("200", "503"), whatever its body.
    statuses: dict[str, int] = field(default_factory=dict)
    #: Of those, how many carried a ``Retry-After`` header, by status.
    retry_after: dict[str, int] = field(default_factory=dict)
    #: Latency percentiles (from the due time) of the answers that were not a 200.
    refused_p50_ms: float = math.nan
    refused_p99_ms: float = math.nan

    @property
    def error_count(self) -> int:
        """Failed requests of any kind."""
        return sum(self.errors.values())


def summarize_step(
    target: str,
    rows: int,
    offered_rps: float,
    report: dict[str, Any],
    window: CpuWindow,
    p99_cap_ms: float,
) -> StepResult:
    """A loader report (see :func:`load_main`) and the CPU window around it, as one result."""
    latencies = report["latency_ms"]
    service = report["service_ms"]
    lags = report["lag_ms"]
    ok = len(latencies)
    span = report["span_s"]
    achieved = ok / span if span > 0 else 0.0
    p99 = percentile(latencies, 99)
    return StepResult(
        target=target,
        rows=rows,
        offered_rps=offered_rps,
        duration_s=report["duration_s"],
        sent=report["scheduled"],
        ok=ok,
        errors=dict(report["errors"]),
        achieved_rps=achieved,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=p99,
        max_ms=max(latencies) if latencies else math.nan,
        service_p50_ms=percentile(service, 50),
        service_p99_ms=percentile(service, 99),
        lag_p50_ms=percentile(lags, 50),
        lag_p99_ms=percentile(lags, 99),
        connections=report["connections"],
        loader_cpu_s=report["cpu_s"],
        tracked_cpu_s=dict(window.tracked_cpu_s),
        busiest_share=dict(window.busiest_share),
        other_cores=window.other_cores,
        saturated=is_saturated(offered_rps, achieved, p99, p99_cap_ms)
        or sum(report["errors"].values()) > 0.1 * report["scheduled"],
        statuses=dict(report.get("statuses", {})),
        retry_after=dict(report.get("retry_after", {})),
        refused_p50_ms=percentile(report.get("refused_ms", []), 50),
        refused_p99_ms=percentile(report.get("refused_ms", []), 99),
    )


# --------------------------------------------------------------------------- tables


def verdict(value: float, limit: float) -> str:
    """PASS when ``value`` is within ``limit`` (NaN misses)."""
    return "PASS" if value <= limit else "MISS"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def ms(value: float, digits: int = 1) -> str:
    """Milliseconds for a table cell ("-" for NaN)."""
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------- load generator


class _Pool:
    """Keep-alive connections to one host: reuse an idle one, else open one up to a cap.

    ``lifo`` (the default, as requests/urllib3 and aiohttp pools do) reuses the
    connection freed last: its server process has just finished a request, so
    with a multi-worker server the load follows the idle worker. ``fifo``
    cycles through every open connection instead, so requests follow however
    the server's processes happened to accept the connections.
    """

    def __init__(self, host: str, port: int, limit: int, order: str = "lifo") -> None:
        if order not in ("lifo", "fifo"):
            raise ValueError(f"connection reuse order must be lifo or fifo, got {order!r}")
        self.host, self.port = host, port
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.slots = asyncio.Semaphore(limit)
        self.opened = 0
        self.fifo = order == "fifo"

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not self.idle:
            return await self.open()
        return self.idle.popleft() if self.fifo else self.idle.pop()

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self.idle.clear()


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, bool, dict[str, str]]:
    """Status, body, whether the server keeps the connection open, and the headers (lower-case)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
        return status, body, False, headers
    keep = headers.get("connection", "").lower() != "close"
    return status, body, keep, headers


async def _run_load(
    url: str,
    body: bytes,
    rate: float,
    duration_s: float,
    max_connections: int,
    timeout_s: float,
    expect: bytes,
    warm_connections: int,
    order: str = "lifo",
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    now = time.perf_counter  # not loop.time(): uvloop's clock has 1 ms steps
    pool = _Pool(host, port, max_connections, order)
    for _ in range(min(warm_connections, max_connections)):
        pool.put(await pool.open())
    latency: list[float] = []
    service: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    retry_after: Counter[str] = Counter()
    refused: list[float] = []
    finished = [0.0]

    async def one(due: float) -> None:
        conn = None
        try:
            async with asyncio.timeout(max(due + timeout_s - now(), 0.001)), pool.slots:
                conn = await pool.get()
                sent = now()
                conn[1].write(request)
                status, answer, keep, headers = await _read_response(conn[0])
                done = now()
                if keep:
                    pool.put(conn)
                else:
                    conn[1].close()
        except TimeoutError:
            errors["timeout"] += 1
            if conn is not None:
                conn[1].close()
            return
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            errors[type(error).__name__] += 1
            if conn is not None:
                conn[1].close()
            return
        statuses[str(status)] += 1
        if "retry-after" in headers:
            retry_after[str(status)] += 1
        if status != 200:
            errors[f"HTTP {status}"] += 1
            refused.append((done - due) * 1e3)
        elif expect and expect not in answer:
            errors["200 without predictions"] += 1
        else:
            latency.append((done - due) * 1e3)
            service.append((done - sent) * 1e3)
            finished[0] = max(finished[0], done)

    schedule = send_schedule(rate, duration_s)
    cpu0 = time.process_time()
    start = now() + 0.05
    tasks = []
    for offset in schedule:
        due = start + offset
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append((now() - due) * 1e3)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    scheduled_end = start + len(schedule) / rate
    span = max(finished[0], scheduled_end) - start
    await pool.close()
    return {
        "url": url,
        "rate": rate,
        "duration_s": len(schedule) / rate,
        "scheduled": len(schedule),
        "span_s": span,
        "latency_ms": latency,
        "service_ms": service,
        "lag_ms": lags,
        "errors": dict(errors),
        "statuses": dict(statuses),
        "retry_after": dict(retry_after),
        "refused_ms": refused,
        "connections": pool.opened,
        "cpu_s": time.process_time() - cpu0,
    }


def load_main(argv: list[str]) -> int:
    """``python bench/harness.py load ...``: one paced step, its report as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="harness.py load", description=load_main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the JSON body")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--max-connections", type=int, default=64)
    parser.add_argument(
        "--warm-connections", type=int, default=1, help="opened before the first request"
    )
    parser.add_argument("--reuse", choices=("lifo", "fifo"), default="lifo", help="see _Pool")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds from the due time")
    parser.add_argument("--expect", default='"predictions"', help="bytes a 200 body must hold")
    args = parser.parse_args(argv)
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    report = runner(
        _run_load(
            args.url,
            args.body.read_bytes(),
            args.rate,
            args.duration,
            args.max_connections,
            args.timeout,
            args.expect.encode(),
            args.warm_connections,
            args.reuse,
        )
    )
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


def run_load_step(
    target: str,
    url: str,
    body: Path,
    rows: int,
    rate: float,
    duration_s: float,
    tracked: dict[str, list[psutil.Process]],
    p99_cap_ms: float,
    timeout_s: float = 5.0,
    max_connections: int = 64,
) -> StepResult:
    """One fixed-rate step from a separate loader process, with the CPU accounted around it."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "load",
        "--url",
        url,
        "--body",
        str(body),
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{duration_s:g}",
        "--timeout",
        f"{timeout_s:g}",
        "--max-connections",
        str(max_connections),
    ]
    with CpuWindow(tracked=tracked) as window:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + timeout_s + 60
        )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout)
    return summarize_step(target, rows, rate, report, window, p99_cap_ms)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        sys.exit(load_main(sys.argv[2:]))
    sys.exit("usage: python bench/harness.py load --url URL --body FILE --rate R --duration S")
