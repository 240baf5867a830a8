"""The benchmark harness's plain functions: percentiles, the pacing schedule, the saturation rule.

Plus the open-loop loader against a tiny asyncio HTTP server in this process
(no ZenML, no MLflow): every request answered, errors counted by kind,
latency measured from the due time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections.abc import Iterator

import pytest
from harness import (
    CpuWindow,
    _run_load,
    format_table,
    is_saturated,
    median,
    percentile,
    send_schedule,
    summarize_step,
)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0.5) == 1


def test_percentile_is_a_value_some_request_took():
    values = [5.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 50) == 2.0
    assert percentile(values, 99) == 5.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan_and_q_is_checked():
    assert math.isnan(percentile([], 50))
    for q in (0, -1, 101):
        with pytest.raises(ValueError):
            percentile([1.0], q)


def test_median():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert math.isnan(median([]))


def test_schedule_is_evenly_spaced_from_zero():
    schedule = send_schedule(100, 2.0)
    assert len(schedule) == 200
    assert schedule[0] == 0.0
    assert schedule[1] == pytest.approx(0.01)
    assert schedule[-1] == pytest.approx(1.99)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(schedule)}
    assert gaps == {0.01}


def test_schedule_rounds_the_count_and_sends_at_least_one():
    assert send_schedule(2.5, 2.0) == [0.0, 0.4, 0.8, pytest.approx(1.2), 1.6]
    assert send_schedule(3, 1.0) == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert send_schedule(0.1, 1.0) == [0.0]
    for rate, duration in ((0, 1.0), (10, 0.0), (-1, 1.0)):
        with pytest.raises(ValueError):
            send_schedule(rate, duration)


def test_saturation_rule():
    # 90% of the offered rate achieved is still sustained; less is not.
    assert not is_saturated(100, 90.0, p99_ms=10, p99_cap_ms=500)
    assert is_saturated(100, 89.9, p99_ms=10, p99_cap_ms=500)
    # p99 at the cap is fine, beyond it saturated, even with the rate achieved.
    assert not is_saturated(100, 100, p99_ms=500, p99_cap_ms=500)
    assert is_saturated(100, 100, p99_ms=500.1, p99_cap_ms=500)
    # Nothing succeeded: no p99 at all.
    assert is_saturated(100, 100, p99_ms=math.nan, p99_cap_ms=500)


def _report(latencies, errors=None, scheduled=None, span=1.0):
    return {
        "latency_ms": latencies,
        "service_ms": latencies,
        "lag_ms": [0.1] * len(latencies),
        "span_s": span,
        "duration_s": 1.0,
        "scheduled": scheduled if scheduled is not None else len(latencies),
        "errors": errors or {},
        "connections": 2,
        "cpu_s": 0.05,
    }


def test_summarize_step_figures():
    step = summarize_step(
        "direct", 1, 100.0, _report([float(i) for i in range(1, 101)]), CpuWindow({}), 500
    )
    assert step.ok == 100
    assert step.achieved_rps == 100.0
    assert (step.p50_ms, step.p99_ms, step.max_ms) == (50.0, 99.0, 100.0)
    assert not step.saturated
    assert step.error_count == 0


def test_summarize_step_is_saturated_by_a_long_span_or_many_errors():
    slow = summarize_step("direct", 1, 100.0, _report([1.0] * 100, span=2.0), CpuWindow({}), 500)
    assert slow.achieved_rps == 50.0 and slow.saturated
    failing = _report([1.0] * 95, errors={"HTTP 503": 11}, scheduled=106)
    assert summarize_step("direct", 1, 100.0, failing, CpuWindow({}), 500).saturated
    few = _report([1.0] * 99, errors={"timeout": 1}, scheduled=100, span=0.99)
    step = summarize_step("direct", 1, 100.0, few, CpuWindow({}), 500)
    assert not step.saturated and step.error_count == 1


def test_summarize_step_keeps_statuses_retry_after_and_refused_latency():
    report = _report([1.0] * 90, errors={"HTTP 503": 10}, scheduled=100)
    report |= {
        "statuses": {"200": 90, "503": 10},
        "retry_after": {"503": 10},
        "refused_ms": [float(i) for i in range(1, 11)],
    }
    step = summarize_step("endpoint", 1, 100.0, report, CpuWindow({}), 500)
    assert step.statuses == {"200": 90, "503": 10}
    assert step.retry_after == {"503": 10}
    assert (step.refused_p50_ms, step.refused_p99_ms) == (5.0, 10.0)
    older = summarize_step("direct", 1, 100.0, _report([1.0] * 100), CpuWindow({}), 500)
    assert older.statuses == {} and older.retry_after == {}
    assert math.isnan(older.refused_p99_ms)


def test_format_table_aligns_columns():
    table = format_table(["name", "value"], [["a", "1"], ["longer", "100"]])
    assert table.splitlines() == [
        "name   | value",
        "-------+------",
        "a      |     1",
        "longer |   100",
    ]


# --------------------------------------------------------------------------- the loader


@pytest.fixture
def tiny_server() -> Iterator[tuple[int, list[int]]]:
    """A keep-alive HTTP server answering POSTs: 200 with predictions, every 5th a 503.

    Every 10th answer (so every other 503) carries ``Retry-After: 1``.
    """
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                seen.append(length)
                extra = b"Retry-After: 1\r\n" if len(seen) % 10 == 0 else b""
                if len(seen) % 5 == 0:
                    body, status = b'{"error": "busy"}', b"503 Service Unavailable"
                else:
                    body, status = b'{"predictions": [0]}', b"200 OK"
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nContent-Type: application/json\r\n"
                    + extra
                    + b"Content-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port, seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def test_loader_sends_every_scheduled_request_and_counts_errors(tiny_server):
    port, seen = tiny_server
    body = b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}'
    report = asyncio.run(
        _run_load(
            f"http://127.0.0.1:{port}/invocations",
            body,
            rate=200,
            duration_s=0.5,
            max_connections=8,
            timeout_s=5,
            expect=b'"predictions"',
            warm_connections=2,
        )
    )
    assert report["scheduled"] == 100
    assert len(seen) == 100 and set(seen) == {len(body)}
    assert report["errors"] == {"HTTP 503": 20}
    assert report["statuses"] == {"200": 80, "503": 20}
    assert report["retry_after"] == {"503": 10}
    assert len(report["refused_ms"]) == 20 and all(t > 0 for t in report["refused_ms"])
    assert len(report["latency_ms"]) == 80
    pairs = zip(report["latency_ms"], report["service_ms"], strict=True)
    assert all(latency >= service > 0 for latency, service in pairs)
    assert len(report["lag_ms"]) == 100
    assert 2 <= report["connections"] <= 8  # kept alive and reused, not one per request
    assert report["span_s"] >= 0.5
