"""A lean HTTP front for an MLflow pyfunc model: MLflow's scoring contract, less per-request cost.

Why not MLflow's own scoring server: on the project's model (one-hot + histogram gradient
boosting, 1-row requests) it spends about as long around a prediction as on it (see
bench/README.md, "Serving"): a ``BaseHTTPMiddleware`` timeout wrapper, FastAPI's routing, a
hop to a worker thread per request (the thread and the event loop then fight over the GIL,
which on 2 cores halved what one worker answered), an access-log line per request, and a
generic JSON-to-DataFrame conversion that casts column by column after building the frame.

What stays MLflow's: the model is loaded by MLflow (``load_model_with_mlflow_config``) and
predicted by its flavor's own predict function; the answer is written by MLflow's
``predictions_to_json``; and every request the fast path does not fully understand (CSV,
``instances``/``inputs``/``dataframe_records``, params, an index, a column set or value type
other than the signature's) goes to MLflow's own ``invocations`` function, so its
predictions and status codes are MLflow's, and so are its error messages, made short (see
below). The fast path only builds the typed DataFrame MLflow's parsing and schema
enforcement would give, directly from ``dataframe_split`` rows whose every value already has
the signature's type, and hands it to the flavor's predict function without enforcing the
schema a second time (on the project's model that enforcement was 0.8-1.3 ms of a 1-row
request's ~11 ms); tests hold its answers byte for byte to MLflow's.

Prediction runs in the event loop, one request at a time per worker process: for a model
that computes (not waits), threads gain nothing under the GIL and cost the hop. A model that
waits on I/O should be served with more workers (``deployment.serving.workers``).

Which requests are wrong and what a client is told then live in
:mod:`stacks.flavors.request_checks`: a 4xx with a short JSON error, never a stack trace or a
server path; where MLflow's answer to a bad request is a crash, a silent guess or a page of
text, the app answers first. An exception the app does not expect is a 500 with a one-line
message and its trace in the log.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from io import StringIO
from typing import Any, cast

import numpy as np
import pandas as pd

from stacks.flavors.request_checks import (
    Answer,
    BadRequest,
    GuardedModel,
    check_depth,
    check_payload,
    detail,
    error_answer,
    internal_error,
    parse_json_body,
    refusal_behind,
    text_error_answer,
    too_deep,
)

#: The variable the server's processes read the downloaded model's local path from.
MODEL_PATH_VARIABLE = "PROJECT_SCORING_MODEL_PATH"

#: Plain JSON in UTF-8, as a Content-Type reads with its spaces removed and in lower case.
JSON_TYPES = frozenset({"application/json", "application/json;charset=utf-8"})
HEALTH_PATHS = ("/ping", "/health")
#: The paths the app answers and the method each takes (HEAD too where GET is allowed).
ROUTES: Mapping[str, str] = {
    "/invocations": "POST",
    "/version": "GET",
    "/ping": "GET",
    "/health": "GET",
}

#: MLflow signature types the fast path builds directly, and the Python types a JSON value
#: may have for each (``bool`` is not an ``int`` here, unlike in Python).
NUMPY_TYPES: Mapping[str, np.dtype[Any]] = {
    "double": np.dtype("float64"),
    "float": np.dtype("float32"),
    "long": np.dtype("int64"),
    "integer": np.dtype("int32"),
    "boolean": np.dtype("bool"),
    "string": np.dtype("object"),
}
JSON_VALUE_TYPES: Mapping[str, tuple[type, ...]] = {
    "double": (float, int),
    "float": (float, int),
    "long": (int,),
    "integer": (int,),
    "boolean": (bool,),
    "string": (str,),
}

_logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Column:
    """One signature column the fast path can build: its name and MLflow type name."""

    name: str
    type_name: str


# --- the fast path ------------------------------------------------------------------------


def fast_columns(input_schema: Any) -> tuple[Column, ...] | None:
    """The signature's columns when every one is named, required and of a simple type.

    ``None`` (no fast path: every request goes to MLflow) for a model without a
    signature, a tensor signature, optional columns or types such as datetime or binary.
    """
    if input_schema is None or not getattr(input_schema, "has_input_names", lambda: False)():
        return None
    if input_schema.is_tensor_spec():
        return None
    columns = []
    for spec in input_schema.inputs:
        type_name = str(getattr(getattr(spec, "type", None), "name", ""))
        if type_name not in NUMPY_TYPES or not spec.required or spec.name is None:
            return None
        columns.append(Column(spec.name, type_name))
    return tuple(columns)


def _typed_column(values: Sequence[Any], column: Column) -> np.ndarray[Any, Any] | None:
    """The values as the column's numpy type, or ``None`` if any value has another JSON type
    or is infinite in that type (MLflow's path then refuses it with the column's name)."""
    allowed = JSON_VALUE_TYPES[column.type_name]
    if column.type_name != "boolean" and any(type(value) is bool for value in values):
        return None
    if not all(isinstance(value, allowed) for value in values):
        return None
    try:
        array = np.array(values, dtype=NUMPY_TYPES[column.type_name])
    except (OverflowError, ValueError):  # e.g. an integer beyond int64: MLflow decides
        return None
    if array.dtype.kind == "f" and np.isinf(array).any():
        return None
    return array


def fast_frame(payload: Any, columns: tuple[Column, ...]) -> pd.DataFrame | None:
    """The typed DataFrame of a plain ``dataframe_split`` payload; ``None`` for anything else.

    Plain means: only ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``,
    the columns exactly the signature's (any order), at least one row, every row as long
    as the columns, every value of its column's type and finite in it. The frame has the
    signature's column order and dtypes, as MLflow's parsing would give it.
    """
    if not isinstance(payload, dict) or set(payload) != {"dataframe_split"}:
        return None
    split = payload["dataframe_split"]
    if not isinstance(split, dict) or set(split) != {"columns", "data"}:
        return None
    names, rows = split["columns"], split["data"]
    if not isinstance(names, list) or not isinstance(rows, list) or not rows:
        return None
    if len(names) != len(columns) or set(names) != {column.name for column in columns}:
        return None
    width = len(names)
    if not all(isinstance(row, list) and len(row) == width for row in rows):
        return None
    by_name = dict(zip(names, zip(*rows, strict=True), strict=True))
    arrays = {}
    with np.errstate(over="ignore"):  # a double beyond float32 becomes inf, refused below
        for column in columns:
            typed = _typed_column(by_name[column.name], column)
            if typed is None:
                return None
            arrays[column.name] = typed
    return pd.DataFrame(arrays, copy=False)


def is_plain_json(content_type: str | None) -> bool:
    """Whether the request says plain JSON in UTF-8 (what the fast path reads)."""
    return content_type is not None and content_type.replace(" ", "").lower() in JSON_TYPES


class ScoringModel:
    """A loaded pyfunc model and the two ways of answering an ``/invocations`` body."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.input_schema = model.metadata.get_input_schema()
        self.columns = fast_columns(self.input_schema)
        self._predict_typed = typed_predict_function(model)
        self._guarded = GuardedModel(model)

    def answer(self, body: bytes, content_type: str | None) -> Answer:
        """The fast path when it applies, MLflow's ``invocations`` otherwise; a plain JSON
        body MLflow would misread gets the app's own refusal first."""
        try:
            if not is_plain_json(content_type):
                return self._mlflow_answer(body, content_type)
            payload = parse_json_body(body)
            frame = None if self.columns is None else fast_frame(payload, self.columns)
            if frame is not None:
                return self._predict_answer(frame)
            check_depth(body)
            check_payload(payload)
            return self._mlflow_answer(body, content_type)
        except BadRequest as refusal:
            return refusal.answer()

    def _fast_frame(self, body: bytes, content_type: str | None) -> pd.DataFrame | None:
        """The fast path's frame for a body, or ``None`` (what ``bench/serving.py`` times)."""
        if self.columns is None or not is_plain_json(content_type):
            return None
        try:
            payload = parse_json_body(body)
        except BadRequest:
            return None
        return fast_frame(payload, self.columns)

    def _predict_answer(self, frame: pd.DataFrame) -> Answer:
        """What MLflow's ``invocations`` answers after parsing, for a frame already parsed."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import BAD_REQUEST
        from mlflow.pyfunc.scoring_server import predictions_to_json

        try:
            raw = self._predict_typed(frame)
        except MlflowException as error:
            return error_answer(error)
        except Exception:
            return error_answer(
                MlflowException(
                    message=(
                        "Encountered an unexpected error while evaluating the model. Verify"
                        " that the serialized input Dataframe is compatible with the model for"
                        " inference."
                    ),
                    error_code=BAD_REQUEST,
                    stack_trace=traceback.format_exc(),
                )
            )
        out = StringIO()
        predictions_to_json(raw, out)
        return Answer(200, out.getvalue().encode())

    def _mlflow_answer(self, body: bytes, content_type: str | None) -> Answer:
        """MLflow's own ``invocations`` (on the guarded model), its errors made short."""
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc.scoring_server import invocations

        try:
            result = invocations(body, content_type or "", self._guarded, self.input_schema)
        except BadRequest as refusal:
            return refusal.answer()
        except MlflowException as error:
            behind = refusal_behind(error)
            return behind.answer() if behind is not None else error_answer(error)
        except RecursionError:  # a body our depth check did not see (not plain JSON)
            return too_deep(None).answer()
        except Exception:
            _logger.exception("MLflow's invocations failed on a %d-byte body", len(body))
            return internal_error()
        response = result.response
        data = response.encode() if isinstance(response, str) else response
        if result.status >= 400:
            return text_error_answer(result.status, data.decode("utf-8", "replace"))
        return Answer(result.status, data, result.mimetype)


def typed_predict_function(model: Any) -> Callable[[pd.DataFrame], Any]:
    """What predicts a frame already typed to the signature: the flavor's own predict function.

    That is what MLflow's pyfunc ``predict`` calls after enforcing the schema,
    when the signature comes from a plain schema (not type hints or an input
    example, where MLflow converts the data further). For any other model, or
    an MLflow without that attribute, MLflow's whole pyfunc ``predict``.
    """
    metadata = model.metadata
    direct = getattr(model, "_predict_fn", None)
    plain_signature = (
        not metadata._is_signature_from_type_hint()
        and not getattr(metadata, "_is_type_hint_from_example", lambda: False)()
    )
    if callable(direct) and plain_signature:
        return cast(Callable[[pd.DataFrame], Any], direct)
    return cast(Callable[[pd.DataFrame], Any], model.predict)


def route(method: str, path: str, model: ScoringModel, body: bytes, headers: Any) -> Answer:
    """The answer for one request (``headers``: the request's header pairs, lower-case)."""
    from mlflow.version import VERSION

    allowed = ROUTES.get(path)
    if allowed is None:
        return detail(404, "Not Found")
    if method != allowed and not (method == "HEAD" and allowed == "GET"):
        return detail(405, "Method Not Allowed", allow=allowed)
    if path in HEALTH_PATHS:
        return Answer(200, b"\n")
    if path == "/version":
        return Answer(200, VERSION.encode())
    content_type = next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
    return model.answer(body, content_type)


def safe_route(method: str, path: str, model: ScoringModel, body: bytes, headers: Any) -> Answer:
    """:func:`route`, with a short 500 for an exception nobody expected (its trace logged)."""
    try:
        return route(method, path, model, body, headers)
    except Exception:
        _logger.exception("Failed to answer %s %s (%d-byte body)", method, path, len(body))
        return internal_error()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(model: ScoringModel) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application serving ``model`` (what uvicorn runs in each worker)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        answer = safe_route(scope["method"], scope["path"], model, body, scope["headers"])
        headers = [
            (b"content-type", answer.media_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        if answer.allow is not None:
            headers.append((b"allow", answer.allow.encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    return app


def app_from_environment() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """uvicorn's factory: the model at :data:`MODEL_PATH_VARIABLE`, loaded the way MLflow's
    scoring server loads it (with the serving environment flag MLflow sets)."""
    from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
    from mlflow.pyfunc.scoring_server import load_model_with_mlflow_config

    path = os.environ.get(MODEL_PATH_VARIABLE)
    if not path:
        raise RuntimeError(f"{MODEL_PATH_VARIABLE} is not set: no model to serve")
    os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"
    return create_app(ScoringModel(load_model_with_mlflow_config(path)))
