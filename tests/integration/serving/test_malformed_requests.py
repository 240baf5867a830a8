"""Malformed requests to the stable endpoint: each a 4xx with a message, and serving goes on.

HAProxy answers what MLflow's scoring server handles badly or not at all (no
Content-Type is a 500 there, it has no body limit) and what no client should
send; MLflow answers the rest (bad JSON, wrong shape, wrong columns) with its
own 400. What each kind got is printed as a table (``pytest -s``).

Payload *content* that MLflow accepts (nulls, unknown categories, numbers as
strings) is the model's business, not the endpoint's: the last test records
that it passes through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.integration.serving.conftest import MAX_BODY_BYTES, Endpoint, ensure_serving
from tests.unit.stacks.malformed_requests import Example, MalformedRequest, malformed_requests

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Malformed:
    """One kind of bad request and the status the endpoint answers it with."""

    kind: str
    expected: int
    send: Callable[[Endpoint], requests.Response]


def _post(body: bytes | str, headers: dict[str, str] | None = None) -> Callable[[Endpoint], Any]:
    def send(endpoint: Endpoint) -> requests.Response:
        return requests.post(endpoint.url, data=body, headers=headers or {}, timeout=10)

    return send


def _post_json(build: Callable[[dict[str, Any]], Any]) -> Callable[[Endpoint], Any]:
    def send(endpoint: Endpoint) -> requests.Response:
        body = json.dumps(build(endpoint.model.payload(2)))
        return requests.post(endpoint.url, data=body, headers=JSON, timeout=10)

    return send


def _chunked(total: int) -> Callable[[Endpoint], Any]:
    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * 65536
            sent += 65536

    def send(endpoint: Endpoint) -> requests.Response:
        return requests.post(endpoint.url, data=chunks(), headers=JSON, timeout=10)

    return send


def _missing_column(payload: dict[str, Any]) -> dict[str, Any]:
    split = payload["dataframe_split"]
    return {
        "dataframe_split": {
            "columns": split["columns"][1:],
            "data": [row[1:] for row in split["data"]],
        }
    }


def _text_in_number(payload: dict[str, Any]) -> dict[str, Any]:
    split = payload["dataframe_split"]
    column = split["columns"].index("amount")
    for row in split["data"]:
        row[column] = "a lot"
    return payload


def _mismatched(payload: dict[str, Any]) -> dict[str, Any]:
    split = payload["dataframe_split"]
    return {
        "dataframe_split": {"columns": split["columns"], "data": [r[:-3] for r in split["data"]]}
    }


KINDS = [
    Malformed("invalid JSON", 400, _post('{"dataframe_split": {', JSON)),
    Malformed("empty body", 400, _post(b"", JSON)),
    Malformed("no Content-Type", 415, _post(b'{"inputs": [[1]]}')),
    Malformed("text/plain", 415, _post("hello", {"Content-Type": "text/plain"})),
    Malformed(
        "text/csv (MLflow would take it)", 415, _post("a,b\n1,2", {"Content-Type": "text/csv"})
    ),
    Malformed(
        "body over the limit (Content-Length)",
        413,
        _post(b" " * (MAX_BODY_BYTES + 1), JSON),
    ),
    Malformed("chunked body over the limit", 411, _chunked(MAX_BODY_BYTES * 2)),
    Malformed("chunked body (small)", 411, _chunked(10)),
    Malformed(
        "GET /invocations",
        405,
        lambda endpoint: requests.get(endpoint.url, timeout=10),
    ),
    Malformed(
        "PUT /invocations",
        405,
        lambda endpoint: requests.put(endpoint.url, json={}, timeout=10),
    ),
    Malformed(
        "unknown path",
        404,
        lambda endpoint: requests.post(
            endpoint.url.replace("/invocations", "/predict"), json={}, timeout=10
        ),
    ),
    Malformed("JSON that is a list", 400, _post_json(lambda p: [p])),
    Malformed("wrong top-level key", 400, _post_json(lambda p: {"rows": p["dataframe_split"]})),
    Malformed("missing column", 400, _post_json(_missing_column)),
    Malformed("text in a number column", 400, _post_json(_text_in_number)),
    Malformed("dataframe_split columns/data mismatch", 400, _post_json(_mismatched)),
]


def _valid(endpoint: Endpoint) -> None:
    response = requests.post(endpoint.url, json=endpoint.model.payload(2), timeout=10)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


def test_malformed_requests_get_4xx_with_a_message(endpoint: Endpoint) -> None:
    ensure_serving(endpoint)  # the state this test needs; afterwards nothing is restarted
    _valid(endpoint)
    table = []
    wrong = []
    for case in KINDS:
        response = case.send(endpoint)
        message = response.text.strip()
        answered_by = "HAProxy" if "X-Served-By" not in response.headers else "MLflow"
        table.append(f"{case.kind:40} {response.status_code} {answered_by:8} {message[:90]}")
        if response.status_code != case.expected or not message:
            wrong.append(f"{case.kind}: expected {case.expected}, got {response.status_code}")
        _valid(endpoint)
    print("\n" + "\n".join(table))
    assert len(KINDS) >= 12
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount", None), ("merchant_category", "spaceship-dealer"), ("amount", "12.5")],
    ids=["null", "unknown-category", "number-as-string"],
)
def test_content_mlflow_accepts_passes_through(
    endpoint: Endpoint, column: str, value: object
) -> None:
    """Left to the model on purpose: the endpoint checks form, not content."""
    ensure_serving(endpoint)
    payload = endpoint.model.payload(1)
    split = payload["dataframe_split"]
    split["data"][0][split["columns"].index(column)] = value
    response = requests.post(endpoint.url, json=payload, timeout=10)
    print(f"\n{column}={value!r}: {response.status_code} {response.text[:80]}")
    assert response.status_code == 200
    _valid(endpoint)


def _send(endpoint: Endpoint, case: MalformedRequest) -> requests.Response:
    url = endpoint.url.replace("/invocations", case.path)
    data: Any = case.body
    if case.chunked:
        data = iter([case.body])  # requests sends an iterator chunked
    return requests.request(case.method, url, data=data, headers=case.headers, timeout=10)


def test_every_kind_of_malformed_request_through_the_endpoint(endpoint: Endpoint) -> None:
    """The shared catalogue (tests/unit/stacks/malformed_requests.py), through HAProxy: each
    a short 4xx in MLflow's error shape, never a trace or a path, each sent to a replica at
    most once (a refusal is never retried), and the endpoint serving after each."""
    ensure_serving(endpoint)
    first = (
        endpoint.model.rows.head(1).astype(object).where(endpoint.model.rows.head(1).notna(), None)
    )
    example = Example(
        columns=tuple(first.columns), row=tuple(first.iloc[0].tolist()), number_column="amount"
    )
    cases = malformed_requests(example, MAX_BODY_BYTES)
    wrong = []
    for case in cases:
        before = sum(endpoint.requests_by_version().values())
        response = _send(endpoint, case)
        reached = sum(endpoint.requests_by_version().values()) - before
        text = response.text
        problems = []
        if response.status_code != case.expected_status:
            problems.append(f"status {response.status_code}, expected {case.expected_status}")
        if len(text) > 1024 or any(
            s in text for s in ("stack_trace", "Traceback", "site-packages", "/work/")
        ):
            problems.append(f"body leaks or is long: {text[:200]}")
        if reached > 1:
            problems.append(f"sent to a replica {reached} times")
        if case.at_haproxy and reached:
            problems.append("HAProxy let it through")
        if problems:
            wrong.append(f"{case.name}: " + "; ".join(problems))
        _valid(endpoint)
    print(f"\n{len(cases)} kinds of malformed request, {len(wrong)} wrong")
    assert len(cases) >= 40
    assert not wrong, "\n".join(wrong)
