"""The Seldon canary's figures: PromQL text, and recorded Prometheus answers read into counters.

The answers in ``data/prometheus_*.json`` are constructed from the Prometheus
HTTP API's documented format (see ``data/README.md``), not captured from a
cluster; the HTTP side is exercised against a real local server in
tests/integration/seldon/test_seldon_canary.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stacks.flavors import seldon_metrics
from stacks.flavors.seldon_metrics import (
    MetricsError,
    Sample,
    check_lookback,
    counts_query,
    latency_query,
    parse_vector,
    selector,
    status_class,
    traffic_counters,
)
from stacks.flavors.traffic import ServingError, TrafficCounters

DATA = Path(__file__).resolve().parent / "data"


def recorded(name: str) -> Any:
    """One recorded answer, as ``requests``' ``response.json()`` would return it."""
    return json.loads((DATA / f"prometheus_{name}.json").read_text())


def rounded(counters: Mapping[str, TrafficCounters]) -> dict[str, TrafficCounters]:
    """The counters with latencies to 6 decimals (milliseconds from seconds are inexact)."""
    return {
        version: replace(c, recent_latency_ms=round(c.recent_latency_ms, 6))
        if c.recent_latency_ms is not None
        else c
        for version, c in counters.items()
    }


def version_of(predictor: str) -> str:
    """The flavor's mapping for its own predictors: ``v<version>``."""
    return predictor.removeprefix("v")


# --- queries ---------------------------------------------------------------------------------


def test_counts_query_sums_the_executor_counter_per_predictor_and_status() -> None:
    assert counts_query("fraud-detector") == (
        "sum by (predictor_name, code) (seldon_api_executor_server_requests_seconds_count"
        '{deployment_name="fraud-detector",service="predictions"})'
    )


def test_latency_query_divides_the_rates_of_time_and_requests() -> None:
    match = '{deployment_name="fraud-detector",service="predictions"}'
    assert latency_query("fraud-detector", "2m") == (
        f"sum by (predictor_name) (rate(seldon_api_executor_server_requests_seconds_sum{match}[2m]))"
        " / sum by (predictor_name) "
        f"(rate(seldon_api_executor_server_requests_seconds_count{match}[2m]))"
    )


def test_label_values_are_quoted_as_promql_strings() -> None:
    """Kubernetes names cannot hold quotes, but a query must never be injectable."""
    assert selector('a"b\\c') == '{deployment_name="a\\"b\\\\c",service="predictions"}'


@pytest.mark.parametrize("lookback", ["2m", "90s", "1h30m", "500ms", "1d", "5m30s"])
def test_promql_durations_are_accepted(lookback: str) -> None:
    assert check_lookback(lookback) == lookback


@pytest.mark.parametrize("lookback", ["", "2", "2 m", "2min", "30s1m", "0m", "-1m", "2m]"])
def test_other_lookbacks_are_refused(lookback: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        check_lookback(lookback)


def test_a_bad_lookback_never_reaches_a_query() -> None:
    with pytest.raises(ValueError, match="prometheus_lookback"):
        latency_query("fraud-detector", "2m]) or vector(1")


# --- parsing -----------------------------------------------------------------------------------


def test_a_vector_answer_becomes_samples() -> None:
    samples = parse_vector(recorded("counts"), "q")
    assert len(samples) == 6
    assert samples[0] == Sample(labels={"code": "200", "predictor_name": "v1"}, value=41873.0)


def test_nan_stays_a_float_for_the_caller_to_judge() -> None:
    samples = parse_vector(recorded("latency_idle"), "q")
    assert [s.labels["predictor_name"] for s in samples] == ["v1", "v2"]
    assert math.isnan(samples[1].value)


def test_an_empty_result_is_no_samples() -> None:
    assert parse_vector(recorded("empty"), "q") == []


def test_an_error_answer_says_what_prometheus_said() -> None:
    with pytest.raises(MetricsError) as caught:
        parse_vector(recorded("error"), "sum(x{)")
    message = str(caught.value)
    assert "sum(x{)" in message and "bad_data" in message and "parse error" in message
    assert isinstance(caught.value, ServingError), "the protocol's error type"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, "not JSON"),
        ([], "not JSON"),
        ({"status": "success"}, "without a result"),
        ({"status": "pending", "data": {}}, "without a result"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "'matrix'"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}, "scalar"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
            "unreadable sample",
        ),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]},
            },
            "unreadable sample",
        ),
    ],
    ids=["none", "list", "no-data", "not-success", "matrix", "scalar", "no-value", "not-a-number"],
)
def test_answers_that_are_not_an_instant_vector_are_refused(payload: Any, expected: str) -> None:
    with pytest.raises(MetricsError, match=expected):
        parse_vector(payload, "q")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("200", 2), ("404", 4), ("400", 4), ("503", 5), ("OK", None), ("", None), ("5000", None)],
)
def test_status_class(code: str, expected: int | None) -> None:
    assert status_class(code) == expected


# --- counters ----------------------------------------------------------------------------------


def test_recorded_answers_become_the_protocols_counters() -> None:
    counters = traffic_counters(
        parse_vector(recorded("counts"), "counts"),
        parse_vector(recorded("latency"), "latency"),
        version_of,
        versions=["1", "2"],
    )
    assert rounded(counters) == {
        "1": TrafficCounters("1", 41873 + 212 + 3, 212, 3, 12.843908),
        "2": TrafficCounters("2", 4602 + 25 + 1, 25, 1, 19.271186),
    }


def test_a_version_idle_over_the_lookback_has_counts_but_no_latency() -> None:
    counters = traffic_counters(
        parse_vector(recorded("counts"), "counts"),
        parse_vector(recorded("latency_idle"), "latency"),
        version_of,
    )
    assert counters["2"].requests == 4628 and counters["2"].recent_latency_ms is None
    assert rounded(counters)["1"].recent_latency_ms == 13.107143


def test_weighted_versions_without_series_yet_count_zero() -> None:
    """The executor creates a series on a predictor's first request; until Prometheus has
    scraped one, the version is still there, with nothing counted."""
    empty = parse_vector(recorded("empty"), "q")
    assert traffic_counters(empty, empty, version_of, versions=["1", "2"]) == {
        "1": TrafficCounters("1", 0, 0, 0, None),
        "2": TrafficCounters("2", 0, 0, 0, None),
    }
    assert traffic_counters(empty, empty, version_of) == {}


def test_a_version_that_left_the_endpoint_keeps_its_figures_while_prometheus_has_them() -> None:
    counts = parse_vector(recorded("counts"), "q")
    counters = traffic_counters(counts, [], version_of, versions=["2"])
    assert set(counters) == {"1", "2"}


def test_series_without_a_predictor_or_a_finite_count_are_skipped() -> None:
    counts = [
        Sample({"code": "200"}, 7.0),
        Sample({"predictor_name": "v1", "code": "200"}, math.nan),
        Sample({"predictor_name": "v1", "code": "500"}, 2.0),
        Sample({"predictor_name": "v1"}, 1.0),  # no code label: a request, not an error
    ]
    latencies = [Sample({"predictor_name": "v1"}, math.inf), Sample({}, 0.5)]
    assert traffic_counters(counts, latencies, version_of) == {
        "1": TrafficCounters("1", 3, 0, 2, None)
    }


def test_fractional_counts_from_prometheus_are_rounded() -> None:
    """A counter is exported as a float; sums across pods can print as 1e+06."""
    payload = recorded("empty")
    payload["data"]["result"] = [
        {"metric": {"predictor_name": "v1", "code": "200"}, "value": [1.0, "1e+06"]},
        {"metric": {"predictor_name": "v1", "code": "400"}, "value": [1.0, "2.9999999"]},
    ]
    counters = traffic_counters(parse_vector(payload, "q"), [], version_of)
    assert counters["1"] == TrafficCounters("1", 1_000_003, 3, 0, None)


def test_the_module_reads_the_executors_metric() -> None:
    """The names the docstring cites from Seldon Core v1 (executor/api/metric/constants.go)."""
    assert seldon_metrics.SERVER_METRIC == "seldon_api_executor_server_requests_seconds"
    assert seldon_metrics.PREDICTIONS_SERVICE == "predictions"
