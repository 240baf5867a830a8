"""Every kind of malformed request gets an answer a client can use, and the app keeps serving.

The cases are :mod:`tests.unit.stacks.malformed_requests` (the list an HTTP-level test
through HAProxy reuses), sent over HTTP to the real app under uvicorn with a real MLflow
model: each gets its 4xx (never a 5xx), a JSON body under 1 KB that says what is wrong,
with no stack trace and no server path, and a valid request right after it is scored.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks.flavors import request_checks, scoring_app
from stacks.flavors.request_checks import MAX_JSON_DEPTH, MAX_MESSAGE_CHARS, concise, nesting_depth
from stacks.flavors.scoring_app import ScoringModel, create_app
from tests.unit.stacks.malformed_requests import (
    Example,
    MalformedRequest,
    accepted_oddities,
    malformed_requests,
    nested,
)
from tests.unit.stacks.scoring_model import (
    COLUMNS,
    mlflow_answer,
    save_and_load_model,
    split_body,
    training_frame,
)

EXAMPLE = Example(tuple(COLUMNS), (12.5, 3, "web", 0.5), number_column="amount")
CASES = malformed_requests(EXAMPLE)
#: What no answer may carry: a trace, or the paths of the server's files.
LEAKS = ("stack_trace", "Traceback", 'File "', "site-packages", "/work", "/usr/", ".py")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return save_and_load_model(Path(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def server(model: Any) -> Iterator[tuple[str, int]]:
    """The app under uvicorn on a free loopback port, in a thread: (host, port)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(ScoringModel(model)), log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn_server = uvicorn.Server(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(
        target=uvicorn_server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield listener.getsockname()
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _send(address: tuple[str, int], case: MalformedRequest) -> tuple[int, str, bytes]:
    """One request over HTTP, exactly as the case says: (status, Content-Type, body)."""
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        if case.chunked:
            chunks = iter([case.body[:50], case.body[50:]])
            connection.request(
                case.method, case.path, chunks, headers=case.headers, encode_chunked=True
            )
        else:
            connection.request(case.method, case.path, case.body, headers=case.headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


VALID = MalformedRequest("valid", EXAMPLE.split(), expected_status=200)


def _error_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """The JSON error a client gets, after checking it is short and leaks nothing."""
    assert content_type == "application/json"
    assert len(body) < 1024, body[:300]
    text = body.decode()
    assert not [leak for leak in LEAKS if leak in text], text
    fields = json.loads(text)
    assert isinstance(fields, dict)
    if "detail" in fields:  # FastAPI's answer to an unrouted path or method
        return {"message": fields["detail"]}
    assert isinstance(fields.get("error_code"), str) and fields["error_code"]
    assert isinstance(fields.get("message"), str) and fields["message"]
    assert len(fields["message"]) <= MAX_MESSAGE_CHARS
    return fields


def test_the_case_list_is_long_and_every_name_distinct() -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    refused_by_the_app = [case for case in CASES if 400 <= case.status_at_app < 500]
    assert len(refused_by_the_app) >= 40
    assert {case.expected_status for case in CASES if case.at_haproxy} == {
        404,
        405,
        411,
        413,
        415,
    }
    assert all(400 <= case.expected_status < 500 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_malformed_request_gets_a_short_4xx_and_the_app_still_serves(
    server: tuple[str, int], case: MalformedRequest
) -> None:
    status, content_type, body = _send(server, case)
    assert status == case.status_at_app, body[:300]
    if status >= 400:
        fields = _error_fields(content_type, body)
        assert case.message in fields["message"]
    status, _, body = _send(server, VALID)
    assert status == 200, body[:300]
    assert list(json.loads(body)) == ["predictions"]


def test_a_missing_column_s_message_starts_with_its_name(server: tuple[str, int]) -> None:
    (case,) = [case for case in CASES if case.name == "missing column"]
    status, content_type, body = _send(server, case)
    assert status == 400
    assert _error_fields(content_type, body)["message"] == "Model is missing inputs ['amount']."


@pytest.mark.parametrize(
    ("name", "body"), accepted_oddities(EXAMPLE), ids=[n for n, _ in accepted_oddities(EXAMPLE)]
)
def test_oddities_are_scored_as_mlflow_scores_them(model: Any, name: str, body: bytes) -> None:
    answer = ScoringModel(model).answer(body, "application/json")
    assert answer.status == 200, answer.body
    assert (answer.status, answer.body.decode()) == mlflow_answer(model, body)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # MLflow's cast
def test_a_finite_extreme_number_is_scored_in_a_double_column_refused_in_a_float32_one(
    model: Any,
) -> None:
    """-1e308 is finite: a double column ("score") keeps it and the row is scored, as by
    MLflow; in a float32 column ("amount") the cast would make it -inf, so it is refused."""
    scoring = ScoringModel(model)
    in_double = Example(EXAMPLE.columns, EXAMPLE.row, "score").with_value("-1e308")
    answer = scoring.answer(in_double, "application/json")
    assert (answer.status, answer.body.decode()) == mlflow_answer(model, in_double)
    assert answer.status == 200
    for literal in ("-1e308", "3.5e38"):
        refused = scoring.answer(EXAMPLE.with_value(literal), "application/json")
        assert refused.status == 400
        message = json.loads(refused.body)["message"]
        assert message.startswith("column 'amount' has an infinite number in row 0")
        assert "float32: +/-3.4e+38" in message
    assert scoring.answer(EXAMPLE.with_value("3.4e38"), "application/json").status == 200


def test_infinite_numbers_in_several_columns_are_all_named(model: Any) -> None:
    body = EXAMPLE.split(data=[list(EXAMPLE.row), [1.0, 1, "web", 0.5]]).replace(
        b'[1.0, 1, "web", 0.5]', b'[-Infinity, 1, "web", 1e400]'
    )
    answer = ScoringModel(model).answer(body, "application/json")
    assert answer.status == 400
    message = json.loads(answer.body)["message"]
    assert message.startswith("columns 'amount' (row 1), 'score' (row 1) have infinite numbers")


def test_zero_rows_get_a_short_400_not_mlflow_s_trace(model: Any) -> None:
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": []}}).encode()
    status, text = mlflow_answer(model, body)
    assert status == 400 and len(json.loads(text)["stack_trace"]) > 1000  # what MLflow sends
    answer = ScoringModel(model).answer(body, "application/json")
    assert answer.status == 400
    assert json.loads(answer.body) == {
        "error_code": "BAD_REQUEST",
        "message": "the request has no rows ('dataframe_split.data' is empty):"
        " send at least one row to predict",
    }


def test_mlflow_s_stack_trace_goes_to_the_log_not_to_the_client(
    model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"amount,count,channel,score\nmany,1,web,0.5\n"
    status, text = mlflow_answer(model, body, "text/csv")
    assert "stack_trace" in json.loads(text)
    with caplog.at_level(logging.WARNING, logger=request_checks.__name__):
        answer = ScoringModel(model).answer(body, "text/csv")
    assert answer.status == status == 400
    fields = _error_fields(answer.media_type, answer.body)
    assert fields["error_code"] == "BAD_REQUEST"
    assert "could not convert string to float: 'many'" in fields["message"]
    assert "Traceback" in caplog.text


def test_mlflow_s_plain_text_refusals_become_json(model: Any) -> None:
    answer = ScoringModel(model).answer(b"{}", "application/json; format=pandas-split")
    assert answer.status == 415
    assert json.loads(answer.body) == {
        "error_code": "UNSUPPORTED_MEDIA_TYPE",
        "message": "Unrecognized content type parameters: format.",
    }


def _asgi_call(app: Any, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    import asyncio

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_an_exception_in_the_app_is_a_short_500_and_a_logged_trace(
    model: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: ScoringModel, body: bytes, content_type: str | None) -> Any:
        raise RuntimeError("broken at /work/main/stacks/flavors/scoring_app.py")

    app = create_app(ScoringModel(model))
    monkeypatch.setattr(ScoringModel, "answer", broken)
    with caplog.at_level(logging.ERROR, logger=scoring_app.__name__):
        status, body = _asgi_call(app, "POST", "/invocations", EXAMPLE.split())
    assert status == 500
    assert _error_fields("application/json", body) == {
        "error_code": "INTERNAL_ERROR",
        "message": request_checks.INTERNAL_ERROR_MESSAGE,
    }
    assert "broken at /work/main" in caplog.text
    monkeypatch.undo()
    assert _asgi_call(app, "POST", "/invocations", EXAMPLE.split())[0] == 200


def test_an_exception_in_mlflow_s_path_is_a_short_500(
    model: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow.pyfunc.scoring_server as scoring_server
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

    def unexpected(*args: Any) -> Any:
        raise KeyError("/usr/lib/python3/site-packages/thing.py")

    def internal(*args: Any) -> Any:
        raise MlflowException("disk full at /var/lib/x/y", error_code=INTERNAL_ERROR)

    body = json.dumps({"dataframe_records": EXAMPLE.records()}).encode()  # not the fast path
    for raising in (unexpected, internal):
        monkeypatch.setattr(scoring_server, "invocations", raising)
        with (
            caplog.at_level(logging.WARNING, logger=scoring_app.__name__),
            caplog.at_level(logging.WARNING, logger=request_checks.__name__),
        ):
            answer = ScoringModel(model).answer(body, "application/json")
        assert answer.status == 500
        fields = _error_fields(answer.media_type, answer.body)
        assert fields["message"] == request_checks.INTERNAL_ERROR_MESSAGE
    assert "site-packages/thing.py" in caplog.text and "disk full" in caplog.text


def test_deep_json_is_refused_on_the_fast_path_and_before_mlflow_parses_it(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deeper than json's recursion limit: our parser's RecursionError is a 400. Deeper
    than the limit but parseable: refused before MLflow's parser sees the body."""
    import mlflow.pyfunc.scoring_server as scoring_server

    calls: list[Any] = []
    monkeypatch.setattr(scoring_server, "invocations", lambda *args: calls.append(args))
    scoring = ScoringModel(model)
    for body in (nested(5000).encode(), EXAMPLE.with_value(nested(900))):
        answer = scoring.answer(body, "application/json")
        assert answer.status == 400
        assert f"at most {MAX_JSON_DEPTH} levels" in json.loads(answer.body)["message"]
    assert calls == []


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [[1], {"b": []}]}', 4),
        (b'["[[[[", "]]]]]]]]", "\\"[[[["]', 1),
        (b'["\\\\", [["\\\\\\"]"]]]', 3),
        (b"]]]][[", 0),
        (b"[[[" + b'"unterminated [[[[[[', 3),
        (b'"\\' + b'\\"' * 1000, 0),
        (nested(4096).encode(), 4096),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_nesting_depth_is_linear_on_a_hostile_body() -> None:
    hostile = b'"' + b'\\"' * 300_000  # an unterminated string of escaped quotes
    started = time.perf_counter()
    assert nesting_depth(hostile) == 0
    assert nesting_depth(b'[""' * 200_000) == 200_000
    assert time.perf_counter() - started < 5


def test_concise_leads_with_mlflow_s_reason_and_stays_short() -> None:
    frame = "   amount  channel\n0  12.5  web\n" * 200
    schema = "['amount': float (required), 'device_score': double (required)]"
    message = (
        f"Failed to predict data '{frame}'. \nError: Failed to enforce schema of data"
        f" '{frame}' with schema '{schema}'. Error: Model is missing inputs ['device_score']."
    )
    assert concise(message) == "Model is missing inputs ['device_score']."
    echo = "Invalid input. Failed to convert data `" + "x" * 5000 + "` to type `double`."
    short = concise(echo)
    assert short.startswith("Invalid input. Failed to convert data `xxx")
    assert short.endswith("... to type `double`.")
    assert MAX_MESSAGE_CHARS - 5 < len(concise("Error: " + "y " * 2000)) <= MAX_MESSAGE_CHARS
    assert concise("bad file /work/main/x.py and /usr/lib/y") == "bad file <path> and <path>"
    kept = "see https://mlflow.org/docs/latest/models.html, text/csv or application/json"
    assert concise(kept) == kept


def test_nan_and_null_are_missing_values_but_infinity_is_not(model: Any) -> None:
    scoring = ScoringModel(model)
    for literal in ("NaN", "null"):
        body = Example(EXAMPLE.columns, EXAMPLE.row, "score").with_value(literal)
        answer = scoring.answer(body, "application/json")
        assert (answer.status, answer.body.decode()) == mlflow_answer(model, body)
        assert answer.status == 200
    body = split_body(training_frame(3, seed=4))
    rows = json.loads(body)["dataframe_split"]["data"]
    rows[1][COLUMNS.index("score")] = math.inf
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()
    assert b"Infinity" in body  # what Python's json writes for inf
    answer = scoring.answer(body, "application/json")
    assert answer.status == 400
    assert "column 'score' has an infinite number in row 1" in json.loads(answer.body)["message"]
