"""What a scoring request must be, and the short JSON error a client gets when it is not.

Why a module of its own: the scoring app (:mod:`stacks.flavors.scoring_app`) decides which
path answers a request (its fast path or MLflow's ``invocations``) and speaks ASGI; this
module decides which requests are wrong and what the client is told, in plain functions of a
body, a parsed value or a frame in, a :class:`BadRequest` or an :class:`Answer` out. The
rules of a valid request change for their own reasons (a new way a client got it wrong, a
message made clearer), are read and tested without a server, and the app imports them;
nothing here knows routes, the fast path or ASGI.

What a client gets when a request is wrong: a 4xx with a short JSON error, ``{"error_code":
..., "message": ...}``, whose message starts with what is wrong and what to send instead, at
most :data:`MAX_MESSAGE_CHARS` characters; never a stack trace or a server path (MLflow's
``stack_trace`` field goes to the log, not to the client). Where MLflow's answer to a bad
request is a crash, a silent guess or a page of text, the app answers first. A plain JSON
body must be UTF-8 without a byte order mark and valid JSON (json's C parser guards its own
recursion); unless the fast path takes it, it must then nest at most :data:`MAX_JSON_DEPTH`
deep (counted on the bytes, before MLflow's parser recurses into it), hold one input format
and, for ``dataframe_split`` and ``dataframe_records``, have the shape pandas needs (rows of
the columns' length, no repeated column, at least one row). What MLflow parsed, in any
format, is checked once more just before the model sees it (:class:`GuardedModel`): at
least one row and no infinite number (``Infinity``, an overflowing literal such as
``1e999``, or a finite number beyond a float32 column's range, which the cast to the
column's type makes infinite); null and NaN stay missing values, which the model imputes. An
exception the app does not expect is a 500 with a one-line message (:func:`internal_error`)
and its trace in the log.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: How deep a JSON body may nest: ``dataframe_split`` needs 4 levels, MLflow's other formats
#: a few more; a body nested deeper is refused before any parser recurses into it.
MAX_JSON_DEPTH = 32
#: The most characters of a message an error body carries; a longer one is cut.
MAX_MESSAGE_CHARS = 500
#: A quoted echo of the request in MLflow's messages longer than this is cut to it.
MAX_ECHO_CHARS = 120
#: The input formats MLflow reads from a JSON body; a body holds one, and may hold ``params``.
INPUT_FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")
PARAMS_KEY = "params"
SPLIT_KEYS = ("columns", "data", "index")
EXAMPLE_BODY = '{"dataframe_split": {"columns": [...], "data": [[...], ...]}}'
#: What a 500 says: the details are for the server's log.
INTERNAL_ERROR_MESSAGE = "the server failed to answer this request; the error is in its log"
#: The error code of a status MLflow answers in plain text (HAProxy's codes, one format).
TEXT_ERROR_CODES: Mapping[int, str] = {415: "UNSUPPORTED_MEDIA_TYPE"}
#: The fields of MLflow's error JSON a client gets (``stack_trace`` is not one of them).
ERROR_FIELDS = ("error_code", "message", "sqlstate", "error_class")

_logger = logging.getLogger(__name__)
#: A JSON string, its closing quote optional so an unterminated one is matched once, to the
#: end (no retry at every later quote), and in time linear in the body.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_LONG_ECHO = re.compile(rf"'[^']{{{MAX_ECHO_CHARS + 1},}}'|`[^`]{{{MAX_ECHO_CHARS + 1},}}`")
#: An absolute path of two or more parts (``/work/...``, ``/usr/lib/...``), not a URL's.
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+~-]+){2,}/?")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body, media type, and the allowed method for a 405."""

    status: int
    body: bytes
    media_type: str = "application/json"
    allow: str | None = None


class BadRequest(Exception):
    """A request the app refuses, with a message that says what to send instead.

    Raised by the checks below wherever they find the fault, and turned into one short
    JSON answer at the top, so each check stays a few lines of plain code.
    """

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code

    def answer(self) -> Answer:
        return error_json(self.status, self.error_code, str(self))


# --- answers -----------------------------------------------------------------------------


def bounded(message: str) -> str:
    """One line of at most :data:`MAX_MESSAGE_CHARS` characters: a client reads the start."""
    text = " ".join(message.split())
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 3].rstrip() + "..."


def error_json(status: int, error_code: str, message: str) -> Answer:
    """MLflow's error shape (as HAProxy's refusals have it), the message bounded."""
    body = {"error_code": error_code, "message": bounded(message)}
    return Answer(status, json.dumps(body).encode())


def internal_error() -> Answer:
    """The answer to an exception nobody expected (its trace is logged where it is caught)."""
    return error_json(500, "INTERNAL_ERROR", INTERNAL_ERROR_MESSAGE)


def concise(message: str) -> str:
    """One of MLflow's messages, cut to what a client can act on and leading with it.

    MLflow wraps a schema failure as "Failed to predict data '<the whole frame>' ... with
    schema '<the whole schema>'. Error: Model is missing inputs [...]": the reason comes
    last. Its protocol-change note (700 characters about MLflow 1.x) goes, long quoted
    echoes of the request are cut, and anything that looks like a server path is masked.
    """
    from mlflow.pyfunc import scoring_server

    protocol_note = getattr(scoring_server, "SCORING_PROTOCOL_CHANGE_INFO", "")
    text = _schema_failure_reason(message).replace(protocol_note, "")
    text = text.split("Traceback (most recent call last)")[0]
    text = _LONG_ECHO.sub(lambda match: match.group(0)[:MAX_ECHO_CHARS] + "...", text)
    return bounded(_SERVER_PATH.sub("<path>", text))


def _schema_failure_reason(message: str) -> str:
    """The reason at the end of MLflow's "Failed to predict data ..." message, else the message."""
    if not message.startswith("Failed to predict data"):
        return message
    if "' with schema '" in message:
        reason = message.rsplit("' with schema '", 1)[1].partition("'. Error: ")[2]
        if reason:
            return reason
    return message.partition("'. \nError: ")[2] or message


def error_answer(error: Any) -> Answer:
    """An ``MlflowException`` as a short answer: MLflow's fields, its trace only in the log."""
    fields = json.loads(error.serialize_as_json())
    status = error.get_http_status_code()
    trace = fields.get("stack_trace")
    message = str(fields.get("message", ""))
    if trace or status >= 500:
        _logger.warning("Answered %d: %s\n%s", status, bounded(message), trace or "")
    kept = {name: fields[name] for name in ERROR_FIELDS if name in fields}
    kept["message"] = INTERNAL_ERROR_MESSAGE if status >= 500 else concise(message)
    return Answer(status, json.dumps(kept).encode())


def text_error_answer(status: int, text: str) -> Answer:
    """An error MLflow answers in plain text (an unsupported Content-Type) as JSON."""
    return error_json(status, TEXT_ERROR_CODES.get(status, "BAD_REQUEST"), concise(text))


def detail(status: int, text: str, allow: str | None = None) -> Answer:
    """FastAPI's answer for a path or method it does not route."""
    return Answer(status, json.dumps({"detail": text}).encode(), allow=allow)


# --- the body, before anything parses it --------------------------------------------------


def nesting_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest, brackets inside strings not counted.

    Counted on the bytes with numpy, not by recursion: the point is to refuse a hostile
    body before MLflow's recursive parser meets it (and to say how deep a body is that
    json's C parser gave up on). Only the bracket count
    matters, not whether each closes the right kind, so truncated or invalid JSON gets a
    depth too; an unterminated string ends the count, as it ends any parse.
    """
    structure = np.frombuffer(_JSON_STRING.sub(b"", body), dtype=np.uint8)
    steps = np.zeros(256, dtype=np.int64)
    steps[[ord("["), ord("{")]] = 1
    steps[[ord("]"), ord("}")]] = -1
    return int(np.cumsum(steps[structure]).max(initial=0))


def check_depth(body: bytes) -> None:
    """Refuse a body nested deeper than :data:`MAX_JSON_DEPTH` (a body with no more opening
    brackets than that cannot be: the common small request costs two byte counts)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    depth = nesting_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise too_deep(depth)


def too_deep(depth: int | None) -> BadRequest:
    levels = f"{depth} levels" if depth is not None else "too"
    return BadRequest(
        f"the JSON nests {levels} deep; at most {MAX_JSON_DEPTH} levels are accepted"
        " (a dataframe_split body needs 4)"
    )


def parse_json_body(body: bytes) -> Any:
    """The JSON value of a body sent as UTF-8 JSON, or :class:`BadRequest` saying why not.

    Stricter than ``json.loads(bytes)``, which MLflow uses: that also decodes UTF-16 and
    UTF-32, skips a byte order mark and lets invalid UTF-8 through as lone surrogates,
    while the Content-Type said UTF-8. Depth: the C parser guards its own recursion (a
    body nested about 1,000 deep raises ``RecursionError``, refused here); the tighter
    :data:`MAX_JSON_DEPTH` is checked on the bytes (:func:`check_depth`) only before
    MLflow parses the body again: a body the fast path takes nests exactly 4 deep, and on
    it the scan would cost about as much as the parse itself (100 rows: 94 vs 67 us).
    """
    text = _utf8_text(body)
    if text.startswith("\ufeff"):
        raise BadRequest(
            "the body starts with a byte order mark (BOM): send the JSON in UTF-8 without one"
        )
    try:
        return json.loads(text)
    except RecursionError:
        raise too_deep(nesting_depth(body)) from None
    except ValueError as error:
        if not text.strip():
            raise BadRequest(
                f"the body is empty: send a JSON object such as {EXAMPLE_BODY}"
            ) from None
        raise BadRequest(f"the body is not valid JSON: {error}") from None


def _utf8_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = body[error.start : error.start + 1].hex()
        raise BadRequest(
            f"the body is not valid UTF-8 ({error.reason}: byte 0x{byte} at offset"
            f" {error.start}); send the JSON in UTF-8"
        ) from None


# --- the parsed JSON, before MLflow reads it ----------------------------------------------


def json_kind(value: Any) -> str:
    """What a JSON value is, in a client's words ("a list", "null")."""
    if value is None:
        return "null"
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "a boolean"),
        (dict, "an object"),
        (list, "a list"),
        (str, "a string"),
        ((int, float), "a number"),
    )
    return next((name for types, name in kinds if isinstance(value, types)), "a value")


def _names(names: Sequence[Any]) -> str:
    """A short list of the names a client sent, for a message (long ones cut)."""
    shown = [repr(name)[:40] for name in names[:10]]
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return f"[{', '.join(shown)}]{more}" if shown else "nothing"


def no_rows(where: str | None = None) -> BadRequest:
    said = f" ({where})" if where else ""
    return BadRequest(f"the request has no rows{said}: send at least one row to predict")


def check_payload(payload: Any) -> None:
    """Refuse a JSON body MLflow would crash on, guess about, or answer with a page of text.

    The envelope (an object with one input format and, if any, ``params`` as an object),
    then the shape of a ``dataframe_split`` or ``dataframe_records``. MLflow ignores
    unknown keys and params that are not an object, pads short rows with missing values
    and repeats a single row to fill a longer index: each is a client's mistake scored
    as if it were data. An LLM body (``messages``, ``prompt``, ``input``) is MLflow's.
    """
    from mlflow.pyfunc.utils.serving_data_parser import is_unified_llm_input

    if not isinstance(payload, dict):
        raise BadRequest(
            f"the body must be a JSON object such as {EXAMPLE_BODY}, not {json_kind(payload)}"
        )
    if is_unified_llm_input(payload):
        return
    input_format = _input_format(payload)
    params = payload.get(PARAMS_KEY)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be a JSON object, not {json_kind(params)}")
    if input_format == "dataframe_split":
        check_split(payload[input_format])
    elif input_format == "dataframe_records":
        check_records(payload[input_format])


def _input_format(payload: Mapping[str, Any]) -> str:
    formats = [key for key in INPUT_FORMATS if key in payload]
    unknown = [key for key in payload if key not in INPUT_FORMATS and key != PARAMS_KEY]
    if len(formats) == 1 and not unknown:
        return formats[0]
    allowed = ", ".join(f"'{key}'" for key in INPUT_FORMATS)
    raise BadRequest(
        f"the body must hold exactly one of {allowed} (and optionally 'params');"
        f" it holds {_names(list(payload))}"
    )


def check_split(split: Any) -> None:
    """A ``dataframe_split`` pandas reads as the client meant it, with at least one row."""
    if not isinstance(split, dict):
        raise BadRequest(
            f"'dataframe_split' must be an object with 'columns' and 'data', not {json_kind(split)}"
        )
    if "data" not in split or any(key not in SPLIT_KEYS for key in split):
        raise BadRequest(
            "'dataframe_split' takes 'columns', 'data' and optionally 'index';"
            f" it holds {_names(list(split))}"
        )
    rows = split["data"]
    if not isinstance(rows, list):
        raise BadRequest(f"'dataframe_split.data' must be a list of rows, not {json_kind(rows)}")
    if not rows:
        raise no_rows("'dataframe_split.data' is empty")
    columns = split.get("columns")
    if columns is not None:
        _check_columns(columns)
    _check_rows(rows, len(columns) if columns is not None else None)
    _check_index(split.get("index"), len(rows))


def _check_columns(columns: Any) -> None:
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise BadRequest("'dataframe_split.columns' must be a list of column names (strings)")
    repeated = [name for name, count in Counter(columns).items() if count > 1]
    if repeated:
        raise BadRequest(
            f"'dataframe_split.columns' repeats {_names(repeated)}: name each column once"
        )


def _check_rows(rows: list[Any], width: int | None) -> None:
    """Every row a list as long as the columns (as the first row, without columns)."""
    first = rows[0]
    expected = width if width is not None else len(first) if isinstance(first, list) else 0
    for number, row in enumerate(rows):
        if not isinstance(row, list):
            kind = json_kind(row)
            raise BadRequest(f"row {number} of 'dataframe_split.data' is {kind}, not a list")
        if len(row) != expected:
            raise BadRequest(
                f"row {number} of 'dataframe_split.data' has {len(row)} values"
                f" for {expected} columns"
            )


def _check_index(index: Any, row_count: int) -> None:
    if index is None:
        return
    labels = isinstance(index, list) and not any(isinstance(x, list | dict) for x in index)
    if not labels or len(index) != row_count:
        size = f" of {len(index)}" if isinstance(index, list) else ""
        raise BadRequest(
            f"'dataframe_split.index' must be a list with one label per row ({row_count});"
            f" it is {json_kind(index)}{size}"
        )


def check_records(records: Any) -> None:
    """A ``dataframe_records`` value: a non-empty list of objects, one per row."""
    if not isinstance(records, list):
        raise BadRequest(
            f"'dataframe_records' must be a list of objects (one per row), not {json_kind(records)}"
        )
    if not records:
        raise no_rows("'dataframe_records' is empty")
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(
                f"record {number} of 'dataframe_records' is {json_kind(record)},"
                " not an object of column values"
            )


# --- what MLflow parsed, before the model sees it -----------------------------------------


def check_model_input(data: Any) -> None:
    """At least one row, and no infinite number in a float column.

    Here, after MLflow's parsing and its cast to the signature's types, every format is
    covered alike (JSON, CSV, Parquet; a frame, records, columns or a tensor), and so is a
    finite number the cast makes infinite (``-1e308`` in a float32 column). NaN is a
    missing value and passes.
    """
    if _row_count(data) == 0:
        raise no_rows()
    cells = []
    for name, values in _float_columns(data):
        rows = np.flatnonzero(np.isinf(values).reshape(len(values), -1).any(axis=1))
        if rows.size:
            cells.append((name, int(rows[0]), values.dtype))
    if cells:
        raise infinite_numbers(cells)


def _row_count(data: Any) -> int | None:
    """Rows in what MLflow parsed (for a dict of columns, the longest); ``None``: unknown."""
    if isinstance(data, dict):
        return max((_row_count(values) or 1 for values in data.values()), default=0)
    if isinstance(data, pd.DataFrame | list):
        return len(data)
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim else 1
    return None


def _float_columns(data: Any) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """The input's float columns by name, each an array whose first axis is the rows.

    What MLflow hands a model: a DataFrame (split, records, CSV), a list of records or a
    dict of arrays (``inputs``/``instances``), an array or a scalar (tensors).
    """
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        data = pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        named = [(str(name), data.iloc[:, i].to_numpy()) for i, name in enumerate(data.columns)]
    elif isinstance(data, dict):
        named = [(str(k), v) for k, v in data.items() if isinstance(v, np.ndarray)]
    elif isinstance(data, np.ndarray | np.floating | float):
        named = [("input", np.asarray(data))]
    else:
        return []
    return [
        (name, values if values.ndim else values.reshape(1))
        for name, values in named
        if values.dtype.kind == "f" and values.size
    ]


def infinite_numbers(cells: Sequence[tuple[str, int, np.dtype[Any]]]) -> BadRequest:
    """The refusal naming each column with an infinite number, and the first row of each."""
    ranges = ", ".join(
        sorted({f"{dtype.name}: +/-{float(np.finfo(dtype).max):.1e}" for _, _, dtype in cells})
    )
    if len(cells) == 1:
        name, row, _ = cells[0]
        where = f"column {name!r} has an infinite number in row {row}"
    else:
        listed = ", ".join(f"{name!r} (row {row})" for name, row, _ in cells)
        where = f"columns {listed} have infinite numbers"
    return BadRequest(
        f"{where}: Infinity, -Infinity and numbers beyond the column's type ({ranges})"
        " are refused; send finite numbers, and null or NaN for a missing value"
    )


class GuardedModel:
    """The model as MLflow's ``invocations`` calls it, with :func:`check_model_input` first.

    MLflow's parsing of every format ends in this ``predict``; the refusal it raises
    comes back out of ``invocations`` wrapped in an ``MlflowException``, where
    :func:`refusal_behind` finds it.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.metadata = model.metadata
        self._takes_params = "params" in inspect.signature(model.predict).parameters

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        check_model_input(data)
        if self._takes_params:
            return self.model.predict(data, params=params)
        return self.model.predict(data)


def refusal_behind(error: BaseException) -> BadRequest | None:
    """The :class:`BadRequest` an exception was raised while handling, if any."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None or isinstance(seen, BadRequest):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
