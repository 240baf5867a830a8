"""The load test's plain functions: the SLA rule, Locust's CSV, the request bodies.

Locust itself is never imported here (it monkey-patches the process with
gevent); the CSV lines below were written by a real Locust 2.47.0 run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from configs.schema import LoadTestConfig
from steps.deployment.loadtest import (
    LoadFigures,
    LoadTestError,
    locust_command,
    parse_locust_stats,
    sla_verdict,
    split_url,
    write_payloads,
)

#: ``locust_stats.csv`` of a real Locust 2.47.0 run: 3 s at 20 req/s, 2 users, against an
#: MLflow 3.17 prediction server on this machine (tests/integration/serving).
REAL_STATS_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,predict,58,0,65,71.66109037907204,24.482143999193795,190.20741699932842,20.0,18.917113337607645,0.0,65,81,89,95,120,160,160,190,190,190,190
,Aggregated,58,0,65,71.66109037907204,24.482143999193795,190.20741699932842,20.0,18.917113337607645,0.0,65,81,89,95,120,160,160,190,190,190,190
"""
#: A real run whose only request never got an answer (a socket that accepts and stays silent).
REAL_NOTHING_ANSWERED_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
,Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
"""
#: The same run's file as Locust writes it when failures happened (every request a 500).
REAL_FAILED_ROW = (
    ",Aggregated,106,106,3,4.4321860753044815,1.7922719998750836,47.47864100136212,2.0,"
    "20.367889726227308,20.367889726227308,3,3,6,6,7,10,10,14,47,47,47"
)


def _figures(requests: int = 100, failures: int = 0, p99_ms: float = 100.0) -> LoadFigures:
    return LoadFigures(
        requests=requests,
        failures=failures,
        error_rate=failures / requests if requests else 0.0,
        p50_ms=10.0,
        p99_ms=p99_ms,
        achieved_rps=20.0,
        duration_s=5.0,
    )


LIMITS = LoadTestConfig(max_p99_ms=500.0, max_error_rate=0.01, min_requests=20)


# --- sla_verdict -------------------------------------------------------------------------------


def test_figures_within_every_limit_pass_and_say_so() -> None:
    passed, reason = sla_verdict(_figures(), LIMITS)
    assert passed
    assert "p99 100 ms <= limit 500 ms" in reason and "100 requests >= 20" in reason


def test_limits_are_inclusive() -> None:
    at_limits = _figures(requests=20, failures=0, p99_ms=500.0)
    assert sla_verdict(at_limits, LIMITS)[0]
    one_percent = _figures(requests=100, failures=1)  # error rate exactly 0.01
    assert sla_verdict(one_percent, LIMITS)[0]


def test_too_few_requests_cannot_show_the_sla_holds() -> None:
    passed, reason = sla_verdict(_figures(requests=19), LIMITS)
    assert not passed
    assert "19 requests" in reason and "min_requests 20" in reason
    assert "cannot show the SLA holds" in reason


def test_too_few_requests_also_names_the_limits_the_completed_ones_break() -> None:
    # a server too slow to complete min_requests: its p99 says why
    passed, reason = sla_verdict(_figures(requests=18, failures=0, p99_ms=2300.0), LIMITS)
    assert not passed
    assert reason == (
        "p99 2300 ms > limit 500 ms; only 18 requests completed, fewer than min_requests 20: "
        "cannot show the SLA holds"
    )
    passed, reason = sla_verdict(_figures(requests=2, failures=2, p99_ms=900.0), LIMITS)
    assert not passed and "error rate 100%" in reason and "p99 900 ms" in reason
    assert "only 2 requests" in reason


def test_no_completed_request_is_only_too_few() -> None:
    passed, reason = sla_verdict(_figures(requests=0, failures=0, p99_ms=math.nan), LIMITS)
    assert not passed
    assert reason.startswith("only 0 requests completed")


def test_an_error_rate_over_the_limit_fails_naming_figure_and_limit() -> None:
    passed, reason = sla_verdict(_figures(requests=100, failures=2), LIMITS)
    assert not passed
    assert reason == "error rate 2% (2 of 100 requests) > limit 1%"


def test_a_p99_over_the_limit_fails_naming_figure_and_limit() -> None:
    passed, reason = sla_verdict(_figures(p99_ms=812.0), LIMITS)
    assert not passed
    assert reason == "p99 812 ms > limit 500 ms"
    assert sla_verdict(_figures(p99_ms=500.5), LIMITS) == (False, "p99 500.5 ms > limit 500 ms")


def test_both_broken_limits_are_named() -> None:
    passed, reason = sla_verdict(_figures(failures=50, p99_ms=812.0), LIMITS)
    assert not passed and "error rate 50%" in reason and "p99 812 ms" in reason


def test_small_limits_are_written_readably() -> None:
    tiny = LoadTestConfig(max_p99_ms=0.01, min_requests=1)
    assert sla_verdict(_figures(p99_ms=3.0), tiny) == (False, "p99 3 ms > limit 0.01 ms")


def test_no_latency_measured_is_not_a_pass() -> None:
    no_answers = _figures(requests=30, p99_ms=math.nan)
    passed, reason = sla_verdict(no_answers, LoadTestConfig(min_requests=1))
    assert not passed and "p99 n/a ms" in reason


# --- parse_locust_stats -----------------------------------------------------------------------


def test_real_locust_stats_give_the_aggregated_figures(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(REAL_STATS_CSV)
    figures = parse_locust_stats(path, duration_s=3)
    assert figures == LoadFigures(
        requests=58,
        failures=0,
        error_rate=0.0,
        p50_ms=65.0,
        p99_ms=190.0,
        achieved_rps=pytest.approx(58 / 3),  # type: ignore[arg-type]
        duration_s=3.0,
    )


def test_failures_give_the_error_rate(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    header = REAL_STATS_CSV.splitlines()[0]
    path.write_text(f"{header}\n{REAL_FAILED_ROW}\n")
    figures = parse_locust_stats(path, duration_s=6)
    assert (figures.requests, figures.failures, figures.error_rate) == (106, 106, 1.0)
    assert (figures.p50_ms, figures.p99_ms) == (3.0, 14.0)


def test_without_a_duration_locusts_own_rate_is_used(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(REAL_STATS_CSV)
    assert parse_locust_stats(path, duration_s=0).achieved_rps == pytest.approx(18.917113337607645)


def test_nothing_answered_gives_no_latency_and_no_error_rate(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(REAL_NOTHING_ANSWERED_CSV)
    figures = parse_locust_stats(path, duration_s=2)
    assert (figures.requests, figures.failures, figures.error_rate) == (0, 0, 0.0)
    assert math.isnan(figures.p50_ms) and math.isnan(figures.p99_ms)
    assert not sla_verdict(figures, LoadTestConfig(min_requests=1))[0]


def test_a_missing_stats_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nothing_stats.csv"
    with pytest.raises(LoadTestError, match=r"nothing_stats\.csv"):
        parse_locust_stats(path, duration_s=3)


@pytest.mark.parametrize(
    "content", ["", REAL_STATS_CSV.splitlines()[0] + "\n"], ids=["empty", "header only"]
)
def test_a_stats_file_without_the_aggregated_row_is_named(tmp_path: Path, content: str) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(content)
    with pytest.raises(LoadTestError, match=r"locust_stats\.csv has no 'Aggregated' row"):
        parse_locust_stats(path, duration_s=3)


def test_a_garbled_number_is_named(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(REAL_STATS_CSV.replace(",Aggregated,58,", ",Aggregated,lots,"))
    with pytest.raises(LoadTestError, match="'Request Count' holds 'lots'"):
        parse_locust_stats(path, duration_s=3)


# --- write_payloads ---------------------------------------------------------------------------


def _rows(count: int = 7) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": np.arange(count, dtype="float64") + 0.5,
            "hours": pd.array(range(count), dtype="int64"),
            "channel": pd.Categorical([["pos", "web"][i % 2] for i in range(count)]),
        }
    )


def _lines(path: Path) -> list[Any]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_mlflow_bodies_chunk_the_rows_in_order_with_a_short_last_one(tmp_path: Path) -> None:
    path = tmp_path / "bodies" / "payloads.jsonl"
    assert write_payloads(_rows(7), "mlflow", 3, path) == 3
    bodies = [body["dataframe_split"] for body in _lines(path)]
    assert [len(b["data"]) for b in bodies] == [3, 3, 1]
    assert all(b["columns"] == ["amount", "hours", "channel"] for b in bodies)
    rows = [row for b in bodies for row in b["data"]]
    assert rows[0] == [0.5, 0.0, "pos"] and rows[6] == [6.5, 6.0, "pos"]
    assert len(rows) == 7


def test_v2_bodies_carry_one_input_per_column_per_chunk(tmp_path: Path) -> None:
    path = tmp_path / "payloads.jsonl"
    assert write_payloads(_rows(5), "v2", 2, path) == 3
    bodies = _lines(path)
    shapes = [[i["shape"] for i in b["inputs"]] for b in bodies]
    assert shapes == [[[2]] * 3, [[2]] * 3, [[1]] * 3]
    first = {i["name"]: i for i in bodies[0]["inputs"]}
    assert list(first) == ["amount", "hours", "channel"]
    assert first["amount"]["data"] == [0.5, 1.5] and first["amount"]["datatype"] == "FP64"
    assert first["channel"]["data"] == ["pos", "web"] and first["channel"]["datatype"] == "BYTES"


def test_one_row_per_request_gives_one_body_per_row(tmp_path: Path) -> None:
    path = tmp_path / "payloads.jsonl"
    assert write_payloads(_rows(4), "mlflow", 1, path) == 4
    assert [len(b["dataframe_split"]["data"]) for b in _lines(path)] == [1, 1, 1, 1]


def test_missing_values_become_json_null(tmp_path: Path) -> None:
    rows = _rows(2)
    rows.loc[1, "amount"] = np.nan
    path = tmp_path / "payloads.jsonl"
    write_payloads(rows, "mlflow", 5, path)
    [body] = _lines(path)
    assert body["dataframe_split"]["data"][1][0] is None


@pytest.mark.parametrize(
    ("rows", "protocol", "per_request", "message"),
    [
        (_rows(2), "grpc", 1, "protocol 'grpc'"),
        (_rows(2), "mlflow", 0, "rows_per_request"),
        (_rows(0), "mlflow", 1, "no rows"),
    ],
)
def test_unusable_arguments_are_refused(
    tmp_path: Path, rows: pd.DataFrame, protocol: str, per_request: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_payloads(rows, protocol, per_request, tmp_path / "payloads.jsonl")


# --- the Locust command line ------------------------------------------------------------------


def test_a_scoring_url_splits_into_locusts_host_and_path() -> None:
    assert split_url("http://127.0.0.1:41234/invocations") == (
        "http://127.0.0.1:41234",
        "/invocations",
    )
    assert split_url("http://h:1/v2/models/m/infer?x=1") == ("http://h:1", "/v2/models/m/infer?x=1")
    with pytest.raises(ValueError, match="not an http"):
        split_url("127.0.0.1:5080/invocations")


def test_locust_runs_headless_quiet_and_leaves_the_verdict_to_us(tmp_path: Path) -> None:
    command = locust_command("http://127.0.0.1:1", 4, 20, tmp_path / "locust")
    assert command[1:3] == ["-m", "locust"]
    text = " ".join(command)
    assert "--headless" in command and "--only-summary" in command
    assert "--users 4 --spawn-rate 4 --run-time 20s" in text
    assert "--exit-code-on-error 0" in text and "--loglevel WARNING" in text
    assert f"--csv {tmp_path / 'locust'} --html {tmp_path / 'locust.html'}" in text
