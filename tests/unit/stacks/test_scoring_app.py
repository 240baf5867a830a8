"""The lean scoring app answers as MLflow's scoring server does, for the fast path and the rest."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import mlflow
import pytest

from stacks.flavors.request_checks import MAX_MESSAGE_CHARS
from stacks.flavors.scoring_app import (
    Column,
    ScoringModel,
    create_app,
    fast_columns,
    fast_frame,
    is_plain_json,
    route,
)
from tests.unit.stacks.scoring_model import (
    COLUMNS,
    mlflow_answer,
    save_and_load_model,
    split_body,
    training_frame,
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real MLflow sklearn model with a signature of float, long, string and double columns."""
    return save_and_load_model(Path(tmp_path_factory.mktemp("model")))


def test_fast_columns_are_the_signature_s(model: Any) -> None:
    columns = fast_columns(model.metadata.get_input_schema())
    assert columns == (
        Column("amount", "float"),
        Column("count", "long"),
        Column("channel", "string"),
        Column("score", "double"),
    )
    assert fast_columns(None) is None


def test_fast_frame_has_the_signature_s_order_and_dtypes(model: Any) -> None:
    columns = fast_columns(model.metadata.get_input_schema())
    assert columns is not None
    payload = {
        "dataframe_split": {
            "columns": ["channel", "score", "amount", "count"],
            "data": [["web", 0.5, 12.5, 3], ["pos", 1, 7, 0]],
        }
    }
    frame = fast_frame(payload, columns)
    assert frame is not None
    assert list(frame.columns) == COLUMNS
    assert [str(dtype) for dtype in frame.dtypes] == ["float32", "int64", "object", "float64"]
    assert frame["score"].tolist() == [0.5, 1.0]


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1, "web", 0.5]]}, "params": {}},
        {"dataframe_records": [{"amount": 1.0}]},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1, "web", 0.5]], "index": [7]}},
        {"dataframe_split": {"columns": COLUMNS, "data": []}},
        {"dataframe_split": {"columns": COLUMNS[:3], "data": [[1.0, 1, "web"]]}},
        {"dataframe_split": {"columns": [*COLUMNS[:3], "other"], "data": [[1.0, 1, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1, "web"]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1.5, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [["1.0", 1, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[None, 1, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[True, 1, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1, 3, 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [{"amount": 1.0}]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 2**70, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 1, "web", math.inf]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[-math.inf, 1, "web", 0.5]]}},
        {"dataframe_split": {"columns": COLUMNS, "data": [[-1e308, 1, "web", 0.5]]}},
    ],
    ids=[
        "list",
        "params",
        "records",
        "index",
        "no rows",
        "missing column",
        "unknown column",
        "short row",
        "fraction in long",
        "text in float",
        "null",
        "bool in float",
        "number in string",
        "row as object",
        "integer beyond int64",
        "infinity",
        "-infinity in float32",
        "beyond float32",
    ],
)
def test_anything_but_a_plain_split_goes_to_mlflow(model: Any, payload: Any) -> None:
    columns = fast_columns(model.metadata.get_input_schema())
    assert columns is not None
    assert fast_frame(payload, columns) is None


@pytest.mark.parametrize("rows", [1, 7, 100])
def test_fast_answers_are_mlflow_s_byte_for_byte(model: Any, rows: int) -> None:
    scoring = ScoringModel(model)
    for seed in range(5):
        body = split_body(training_frame(rows, seed=100 + seed))
        assert scoring._fast_frame(body, "application/json") is not None
        assert scoring._predict_typed == model._predict_fn  # no second schema enforcement
        answer = scoring.answer(body, "application/json")
        assert (answer.status, answer.body.decode()) == mlflow_answer(model, body)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/json", "the body is not valid JSON: Expecting property"),
        (b"", "application/json", "the body is empty: send a JSON object"),
        (
            b'{"dataframe_split": {"columns": ["amount"], "data": [[1.0]]}}',
            "application/json",
            "Model is missing inputs ['count', 'channel', 'score'].",
        ),
        (
            b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
            "application/json",
            "row 0 of 'dataframe_split.data' has 2 values for 1 columns",
        ),
        (b"amount,count\n1,2", "text/csv", "Model is missing inputs ['channel', 'score']."),
        (b"{}", "text/plain", "This predictor only supports the following content types"),
        (b"{}", "application/json; charset=latin-1", "The scoring server only supports UTF-8"),
    ],
    ids=["invalid", "empty", "missing columns", "mismatch", "csv", "text", "charset"],
)
def test_other_requests_get_mlflow_s_status_and_a_short_json_error(
    model: Any, body: bytes, content_type: str, message: str
) -> None:
    """MLflow's status; the body a short JSON error leading with the reason, no stack trace.

    (MLflow's own server answers these with its message as it comes: the whole frame
    echoed before the reason, a page on its protocol change, or plain text for a 415.)
    """
    answer = ScoringModel(model).answer(body, content_type)
    status, _ = mlflow_answer(model, body, content_type)
    assert answer.status == status
    assert answer.status >= 400
    assert answer.media_type == "application/json"
    fields = json.loads(answer.body)
    assert "stack_trace" not in fields
    assert fields["message"].startswith(message)
    assert len(fields["message"]) <= MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (
            {"dataframe_records": [{"amount": 1.5, "count": 2, "channel": "pos", "score": 0.3}]},
            None,
        ),
        ({"inputs": {"amount": [1.5], "count": [2], "channel": ["atm"], "score": [0.3]}}, None),
        ({"instances": [{"amount": 1.5, "count": 2, "channel": "pos", "score": 0.3}]}, None),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[1.5, 2, "web", 0.3]]}, "params": {}},
            None,
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[2.5, 1, "pos", 0.9]], "index": [5]}},
            None,
        ),
        ({"dataframe_split": {"columns": COLUMNS, "data": [[None, 1, None, float("nan")]]}}, None),
        ("amount,count,channel,score\n1.5,2,web,0.3\n7,0,atm,\n", "text/csv"),
    ],
    ids=["records", "inputs", "instances", "params", "index", "missing values", "csv"],
)
def test_mlflow_s_other_formats_are_answered_as_mlflow_answers_them(
    model: Any, payload: Any, content_type: str | None
) -> None:
    body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    answer = ScoringModel(model).answer(body, content_type or "application/json")
    assert answer.status == 200
    assert (answer.status, answer.body.decode()) == mlflow_answer(
        model, body, content_type or "application/json"
    )


def test_a_model_that_raises_gets_400_as_from_mlflow(model: Any) -> None:
    class Raising:
        metadata = model.metadata

        def predict(self, data: Any) -> Any:
            raise ValueError("no")

    body = split_body(training_frame(1, seed=3))
    answer = ScoringModel(Raising()).answer(body, "application/json")
    assert answer.status == 400
    fields = json.loads(answer.body)
    assert "unexpected error while evaluating the model" in fields["message"]
    assert "stack_trace" not in fields  # logged by the app, not sent


def test_content_types_the_fast_path_reads() -> None:
    assert is_plain_json("application/json")
    assert is_plain_json("Application/JSON; charset=utf-8")
    assert is_plain_json("application/json;charset=UTF-8")
    assert not is_plain_json("application/json; charset=latin-1")
    assert not is_plain_json(None)


def test_routes_as_fastapi_answers_them(model: Any) -> None:
    scoring = ScoringModel(model)
    assert route("GET", "/ping", scoring, b"", []).status == 200
    assert route("GET", "/health", scoring, b"", []).status == 200
    assert route("GET", "/version", scoring, b"", []).body == mlflow.__version__.encode()
    assert route("GET", "/invocations", scoring, b"", []).status == 405
    assert route("PUT", "/ping", scoring, b"", []).allow == "GET"
    assert route("HEAD", "/ping", scoring, b"", []).status == 200
    assert json.loads(route("POST", "/other", scoring, b"", []).body) == {"detail": "Not Found"}
    no_type = route("POST", "/invocations", scoring, b'{"inputs": [[1]]}', [])
    assert no_type.status == 415


def _call(app: Any, method: str, path: str, body: bytes, headers: list[Any]) -> list[Any]:
    """One request through the ASGI app, its body in two chunks; the messages it sent."""
    sent: list[Any] = []
    chunks = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.request", "body": body[len(body) // 2 :], "more_body": False},
    ]

    async def receive() -> Any:
        return chunks.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_the_asgi_app_reads_a_chunked_body_and_answers_with_length(model: Any) -> None:
    app = create_app(ScoringModel(model))
    body = split_body(training_frame(3, seed=9))
    start, answer = _call(
        app, "POST", "/invocations", body, [(b"content-type", b"application/json")]
    )
    assert start["status"] == 200
    assert (b"content-length", str(len(answer["body"])).encode()) in start["headers"]
    assert answer["body"].decode() == mlflow_answer(model, body)[1]
    start, _ = _call(app, "GET", "/invocations", b"", [])
    assert start["status"] == 405
    assert (b"allow", b"POST") in start["headers"]
