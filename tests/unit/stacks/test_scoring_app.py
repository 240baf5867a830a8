"""The lean scoring app answers as MLflow's scoring server does, for the fast path and the rest."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.pyfunc.scoring_server import invocations
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from stacks.flavors.scoring_app import (
    Column,
    ScoringModel,
    create_app,
    fast_columns,
    fast_frame,
    is_plain_json,
    route,
)
from steps.registry.mlflow_model import trusted_types_for

COLUMNS = ["amount", "count", "channel", "score"]


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 30.0, rows).astype("float32"),
            "count": rng.integers(0, 10, rows).astype("int64"),
            "channel": rng.choice(["web", "pos", "atm"], rows),
            "score": rng.random(rows),
        }
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real MLflow sklearn model with a signature of float, long, string and double columns."""
    train = _frame(400, seed=1)
    target = (train["amount"] * train["score"] > 25).astype(int)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("onehot", OneHotEncoder(handle_unknown="ignore"), ["channel"])],
                    remainder="passthrough",
                ),
            ),
            ("trees", HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        ]
    ).fit(train, target)
    path = Path(tmp_path_factory.mktemp("model")) / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint on integer columns
        signature = infer_signature(train, pipeline.predict(train))
    mlflow.sklearn.save_model(
        pipeline, str(path), signature=signature, skops_trusted_types=trusted_types_for(pipeline)
    )
    return mlflow.pyfunc.load_model(str(path))


def _split_body(frame: pd.DataFrame) -> bytes:
    split = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def _mlflow(model: Any, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    """What MLflow's own invocations answers (status, body)."""
    from mlflow.exceptions import MlflowException

    try:
        result = invocations(body, content_type, model, model.metadata.get_input_schema())
    except MlflowException as error:
        return error.get_http_status_code(), error.serialize_as_json()
    return result.status, result.response


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
        body = _split_body(_frame(rows, seed=100 + seed))
        assert scoring._fast_frame(body, "application/json") is not None
        assert scoring._predict_typed == model._predict_fn  # no second schema enforcement
        answer = scoring.answer(body, "application/json")
        assert (answer.status, answer.body.decode()) == _mlflow(model, body)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'{"dataframe_split": {"columns": ["amount"], "data": [[1.0]]}}', "application/json"),
        (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', "application/json"),
        (b"amount,count\n1,2", "text/csv"),
        (b"{}", "text/plain"),
        (b"{}", "application/json; charset=latin-1"),
    ],
    ids=["invalid", "empty", "missing columns", "mismatch", "csv", "text", "charset"],
)
def test_other_requests_get_mlflow_s_answer(model: Any, body: bytes, content_type: str) -> None:
    answer = ScoringModel(model).answer(body, content_type)
    status, text = _mlflow(model, body, content_type)
    assert answer.status == status
    assert answer.status >= 400
    assert answer.body.decode() == text


def test_a_model_that_raises_gets_400_as_from_mlflow(model: Any) -> None:
    class Raising:
        metadata = model.metadata

        def predict(self, data: Any) -> Any:
            raise ValueError("no")

    body = _split_body(_frame(1, seed=3))
    answer = ScoringModel(Raising()).answer(body, "application/json")
    assert answer.status == 400
    assert "unexpected error while evaluating the model" in json.loads(answer.body)["message"]


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
    body = _split_body(_frame(3, seed=9))
    start, answer = _call(
        app, "POST", "/invocations", body, [(b"content-type", b"application/json")]
    )
    assert start["status"] == 200
    assert (b"content-length", str(len(answer["body"])).encode()) in start["headers"]
    assert answer["body"].decode() == _mlflow(model, body)[1]
    start, _ = _call(app, "GET", "/invocations", b"", [])
    assert start["status"] == 405
    assert (b"allow", b"POST") in start["headers"]
