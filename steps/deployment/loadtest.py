"""The load test and the traffic replayer: bounded, headless Locust runs, as plain functions.

The load test sends holdout rows to a new server's own URL (not the stable
endpoint) at the configured rate before any client traffic reaches it, and
judges Locust's figures against the SLA in :class:`LoadTestConfig`. The
replayer sends the same kind of requests to any URL (usually the stable
endpoint) with no verdict, for people and for the canary to have traffic.

Locust always runs as a subprocess on ``locustfiles/traffic.py``: its gevent
monkey-patching must never reach this process (ZenML, MLflow, pytest). We
talk to it only through files: the request bodies we write, and the CSV and
HTML reports it writes, all kept under the caller's ``out_dir``.

Figures are Locust's own: response times are measured in Locust's process on
this machine, so they include its scheduling and JSON handling, and its
percentiles are rounded (to 1 ms below 100 ms, to 10 ms below 1 s).
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from configs.schema import LoadTestConfig
from steps.deployment.smoke import mlflow_payload, v2_payload

#: The locustfile; Locust imports it in its own process, nothing of ours does.
LOCUSTFILE = Path(__file__).parent / "locustfiles" / "traffic.py"
#: Seconds Locust lets a request in flight finish once the run time is up.
STOP_TIMEOUT = 5
#: Seconds beyond duration + stop timeout Locust may take to start and write its reports.
STARTUP_ALLOWANCE = 60.0
#: Seconds between progress messages.
PROGRESS_EVERY = 10.0
#: Lines of Locust's log quoted when it fails.
LOG_TAIL_LINES = 20
PAYLOADS = {"mlflow": mlflow_payload, "v2": v2_payload}


class LoadTestError(RuntimeError):
    """Locust could not run or report (crash, non-zero exit, time out, no stats): not a verdict."""


@dataclass(frozen=True)
class LoadFigures:
    """Locust's figures for one run ("Aggregated" row); latencies are NaN if nothing answered."""

    requests: int  # completed requests, failures included
    failures: int  # non-2xx answers and requests with no answer
    error_rate: float  # failures / requests (0.0 when there were no requests)
    p50_ms: float
    p99_ms: float
    achieved_rps: float  # requests / duration_s
    duration_s: float  # the run time asked for

    def summary(self) -> str:
        """One line for a report or a log."""
        return (
            f"{self.requests} requests, {self.failures} failed "
            f"(error rate {_percent(self.error_rate)}), p50 {_ms(self.p50_ms)} ms, "
            f"p99 {_ms(self.p99_ms)} ms, {self.achieved_rps:.1f} req/s over "
            f"{self.duration_s:g} s"
        )


@dataclass(frozen=True)
class LoadTestResult:
    """A load test's figures, its verdict and where Locust's reports are."""

    figures: LoadFigures
    passed: bool
    reason: str
    csv_path: Path
    html_path: Path


class LoadTestFailedError(RuntimeError):
    """The server does not meet the SLA under load; ``result`` keeps the figures and reports."""

    def __init__(self, message: str, result: LoadTestResult) -> None:
        super().__init__(message)
        self.result = result


def _ms(value: float) -> str:
    """Milliseconds as Locust gives them (whole numbers), without hiding a fraction of a limit."""
    if math.isnan(value):
        return "n/a"
    if value.is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 100 else f"{value:.1f}"


def _percent(rate: float) -> str:
    return f"{100 * rate:.3g}%"


# --- request bodies ---------------------------------------------------------------------------


def write_payloads(rows: pd.DataFrame, protocol: str, rows_per_request: int, path: Path) -> int:
    """Write one request body per line (``rows_per_request`` rows each, the last may have fewer).

    Bodies are built by the smoke test's own payload functions, so the load
    test sends exactly what clients and the smoke test send. ``rows`` are
    feature rows (no target). Returns the number of bodies written.
    """
    if protocol not in PAYLOADS:
        raise ValueError(f"protocol {protocol!r} is not one of {sorted(PAYLOADS)}")
    if rows_per_request < 1:
        raise ValueError(f"rows_per_request must be at least 1, got {rows_per_request}")
    if rows.empty:
        raise ValueError("no rows to build request bodies from")
    build = PAYLOADS[protocol]
    bodies = [
        build(rows.iloc[start : start + rows_per_request])
        for start in range(0, len(rows), rows_per_request)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{body}\n" for body in bodies), encoding="utf-8")
    return len(bodies)


# --- Locust's figures -------------------------------------------------------------------------


def _number(row: dict[str, str], column: str, csv_path: Path) -> float:
    """A number from Locust's CSV; Locust writes "N/A" for a percentile of nothing."""
    text = (row.get(column) or "").strip()
    if text in ("", "N/A"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise LoadTestError(f"{csv_path}: column {column!r} holds {text!r}, not a number") from None


def _achieved_rps(
    requests: int, duration_s: float, aggregated: dict[str, str], csv_path: Path
) -> float:
    """Requests per second of the run asked for, comparable with the rate aimed at.

    Locust's own "Requests/s" divides by the span from the start to the last
    request, which reads high on short runs (60 requests at 20/s: 20.7); it
    is the fallback when no duration is known.
    """
    if duration_s > 0:
        return requests / duration_s
    return _number(aggregated, "Requests/s", csv_path)


def parse_locust_stats(csv_path: Path, duration_s: float) -> LoadFigures:
    """The figures of the "Aggregated" row of Locust's ``<prefix>_stats.csv``.

    Raises LoadTestError naming the file if it is missing, empty or has no
    such row (Locust did not run to its end).
    """
    try:
        text = csv_path.read_text(encoding="utf-8")
    except OSError as error:
        raise LoadTestError(f"Locust's stats file {csv_path} cannot be read: {error}") from error
    rows = list(csv.DictReader(text.splitlines()))
    aggregated = next((row for row in rows if row.get("Name") == "Aggregated"), None)
    if aggregated is None:
        raise LoadTestError(
            f"Locust's stats file {csv_path} has no 'Aggregated' row "
            f"({'empty' if not text.strip() else f'{len(rows)} rows'}): Locust did not finish"
        )
    requests = int(_number(aggregated, "Request Count", csv_path))
    failures = int(_number(aggregated, "Failure Count", csv_path))
    return LoadFigures(
        requests=requests,
        failures=failures,
        error_rate=failures / requests if requests else 0.0,
        p50_ms=_number(aggregated, "50%", csv_path),
        p99_ms=_number(aggregated, "99%", csv_path),
        achieved_rps=_achieved_rps(requests, duration_s, aggregated, csv_path),
        duration_s=float(duration_s),
    )


def _csv_rows(lines: list[bytes]) -> list[list[str]]:
    return list(csv.reader(line.decode("utf-8", "replace") for line in lines if line.strip()))


def _history_counts(history_csv: Path) -> tuple[int, int, int] | None:
    """Requests, failures and seconds into the run, from ``_stats_history.csv``, if any yet.

    Locust appends one "Aggregated" line a second but flushes the file only
    every 5 s, so the figures lag; only the file's first lines and tail are read.
    """
    try:
        with history_csv.open("rb") as handle:
            head = _csv_rows([handle.readline(), handle.readline()])
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            tail = _csv_rows(handle.read().splitlines()[1:])  # the first may be cut
    except OSError:
        return None
    if len(head) < 2 or not tail:
        return None
    header = head[0]
    rows = [dict(zip(header, values, strict=False)) for values in [head[1], *tail]]
    last = next((row for row in reversed(rows) if row.get("Name") == "Aggregated"), None)
    if last is None:
        return None
    try:
        seconds = int(last["Timestamp"]) - int(rows[0]["Timestamp"])
        return int(last["Total Request Count"]), int(last["Total Failure Count"]), seconds
    except (KeyError, ValueError):
        return None


def _task_exceptions(exceptions_csv: Path) -> list[str]:
    """Exceptions raised inside the locustfile's tasks (a bug, not the server's failure)."""
    try:
        rows = list(csv.DictReader(exceptions_csv.read_text(encoding="utf-8").splitlines()))
    except OSError:
        return []
    return [f"{row.get('Count', '?')} x {row.get('Message', '?')}" for row in rows]


# --- running Locust ---------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str]:
    """``http://host:port/path?q`` -> (``http://host:port``, ``/path?q``): Locust's host and path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), path


def locust_command(base_url: str, users: int, duration: int, out_prefix: Path) -> list[str]:
    """The headless, quiet Locust command line; we judge its figures, so failures exit 0."""
    return [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{duration}s",
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--csv",
        str(out_prefix),
        "--html",
        str(out_prefix.with_name(f"{out_prefix.name}.html")),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]


def locust_environment(path: str, payload_file: Path, rate_per_user: float) -> dict[str, str]:
    """Our environment without LOCUST_* settings (they would override ours), plus the inputs."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    environment.update(
        FRAUDOPS_PAYLOADS=str(payload_file.resolve()),
        FRAUDOPS_PATH=path,
        FRAUDOPS_RATE_PER_USER=repr(rate_per_user),
    )
    return environment


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (Locust then writes its reports), then SIGKILL if it does not exit."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _progress_line(elapsed: float, duration: int, history_csv: Path) -> str:
    line = f"Locust: {min(elapsed, duration):.0f}/{duration} s"
    counts = _history_counts(history_csv)
    if counts is not None:
        requests, failures, seconds = counts
        line += f"; {requests} requests ({failures} failed) in its first {seconds} s"
    return line


def run_locust(
    base_url: str,
    path: str,
    payload_file: Path,
    rate: float,
    users: int,
    duration: int,
    out_prefix: Path,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadFigures:
    """Run Locust headless for ``duration`` s at ``rate`` req/s over ``users`` paced users.

    Writes ``<out_prefix>_stats.csv`` (and Locust's other CSVs),
    ``<out_prefix>.html`` and ``<out_prefix>.log`` (Locust's own output, kept
    off our stdout). Each user has at most one request in flight, so a server
    slower than ``users / rate`` seconds gets fewer requests than asked: that
    shows in ``achieved_rps``. Failed requests are figures, not errors; a
    crash, a non-zero exit, a time out (default: duration + stop timeout +
    STARTUP_ALLOWANCE) or an exception inside the locustfile raises
    LoadTestError naming the log.
    """
    if rate <= 0 or users < 1 or duration < 1:
        raise ValueError(f"rate, users and duration must be positive: {rate}, {users}, {duration}")
    out_prefix = out_prefix.resolve()  # Locust runs in its folder: a relative path would nest
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    log_path = out_prefix.with_name(f"{out_prefix.name}.log")
    limit = timeout if timeout is not None else duration + STOP_TIMEOUT + STARTUP_ALLOWANCE
    history_csv = out_prefix.with_name(f"{out_prefix.name}_stats_history.csv")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            locust_command(base_url, users, duration, out_prefix),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=locust_environment(path, payload_file, rate / users),
            cwd=out_prefix.parent,  # keeps a locust.conf or pyproject.toml here out of the run
        )
        started = next_report = time.monotonic()
        try:
            while process.poll() is None:
                now = time.monotonic()
                if now - started > limit:
                    _stop(process)
                    raise LoadTestError(
                        f"Locust did not finish within {limit:g} s (run time {duration} s); "
                        f"stopped. Its log, {log_path}, ends with:\n{_log_tail(log_path)}"
                    )
                if progress is not None and now >= next_report + PROGRESS_EVERY:
                    next_report = now
                    progress(_progress_line(now - started, duration, history_csv))
                time.sleep(0.2)
        except BaseException:
            if process.poll() is None:
                _stop(process)
            raise
    if process.returncode != 0:
        raise LoadTestError(
            f"Locust exited with code {process.returncode}; its log, {log_path}, ends with:\n"
            f"{_log_tail(log_path)}"
        )
    exceptions = _task_exceptions(out_prefix.with_name(f"{out_prefix.name}_exceptions.csv"))
    if exceptions:
        raise LoadTestError(
            f"the locustfile raised inside its task ({'; '.join(exceptions)[:500]}); see {log_path}"
        )
    figures = parse_locust_stats(out_prefix.with_name(f"{out_prefix.name}_stats.csv"), duration)
    if progress is not None:
        progress(f"Locust: done, {figures.summary()}")
    return figures


# --- the load test and the replayer -----------------------------------------------------------


def sla_verdict(figures: LoadFigures, config: LoadTestConfig) -> tuple[bool, str]:
    """Pass or fail, and why, naming each figure and its limit (limits are inclusive).

    A limit the completed requests already break is named even when too few
    completed to pass: a slow server completes few requests, and "p99 2300 ms >
    limit 100 ms" says why better than the count alone.
    """
    broken = []
    if figures.requests and figures.error_rate > config.max_error_rate:
        broken.append(
            f"error rate {_percent(figures.error_rate)} ({figures.failures} of "
            f"{figures.requests} requests) > limit {_percent(config.max_error_rate)}"
        )
    if figures.requests and not figures.p99_ms <= config.max_p99_ms:  # NaN fails too
        broken.append(f"p99 {_ms(figures.p99_ms)} ms > limit {_ms(config.max_p99_ms)} ms")
    if figures.requests < config.min_requests:
        broken.append(
            f"only {figures.requests} requests completed, fewer than min_requests "
            f"{config.min_requests}: cannot show the SLA holds"
        )
    if broken:
        return False, "; ".join(broken)
    return True, (
        f"p99 {_ms(figures.p99_ms)} ms <= limit {_ms(config.max_p99_ms)} ms, error rate "
        f"{_percent(figures.error_rate)} <= limit {_percent(config.max_error_rate)}, "
        f"{figures.requests} requests >= {config.min_requests}"
    )


def load_test(
    url: str, protocol: str, rows: pd.DataFrame, config: LoadTestConfig, out_dir: Path
) -> LoadTestResult:
    """Load ``url`` (a server's full scoring URL) as ``config`` says; raise if the SLA fails.

    Writes ``payloads.jsonl``, ``locust_stats.csv`` (and Locust's other
    CSVs), ``locust.html`` and ``locust.log`` under ``out_dir``, kept whether
    the test passes or not. Raises LoadTestFailedError (with the result) when
    the SLA does not hold, LoadTestError when Locust could not run.
    """
    base_url, path = split_url(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload_file = out_dir / "payloads.jsonl"
    write_payloads(rows, protocol, config.rows_per_request, payload_file)
    prefix = out_dir / "locust"
    figures = run_locust(
        base_url, path, payload_file, config.rate, config.users, config.duration, prefix
    )
    passed, reason = sla_verdict(figures, config)
    result = LoadTestResult(
        figures=figures,
        passed=passed,
        reason=reason,
        csv_path=prefix.with_name("locust_stats.csv"),
        html_path=prefix.with_name("locust.html"),
    )
    if not passed:
        raise LoadTestFailedError(
            f"load test of {url} failed: {reason}. Measured: {figures.summary()} "
            f"(aimed at {config.rate:g} req/s, {config.users} users, "
            f"{config.rows_per_request} rows per request). Limits: p99 <= "
            f"{_ms(config.max_p99_ms)} ms, error rate <= {_percent(config.max_error_rate)}, "
            f"at least {config.min_requests} requests. Report: {result.html_path} "
            f"(figures: {result.csv_path})",
            result,
        )
    return result


def replay(
    url: str,
    protocol: str,
    rows: pd.DataFrame,
    rate: float,
    duration: int,
    users: int,
    out_dir: Path,
    rows_per_request: int = 1,
    progress: Callable[[str], None] | None = None,
) -> LoadFigures:
    """Send ``rows`` to ``url`` at ``rate`` req/s for ``duration`` s, cycling; no verdict.

    The same requests as the load test (its bodies, its locustfile), for
    traffic a person or the canary wants behind the stable endpoint. Files go
    to ``out_dir``: ``replay_payloads.jsonl``, ``replay_stats.csv``,
    ``replay.html``, ``replay.log``.
    """
    base_url, path = split_url(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload_file = out_dir / "replay_payloads.jsonl"
    write_payloads(rows, protocol, rows_per_request, payload_file)
    return run_locust(
        base_url,
        path,
        payload_file,
        rate,
        users,
        duration,
        out_dir / "replay",
        progress=progress,
    )
