"""What a client may get wrong in a request to a scoring endpoint, as data, and what must answer.

Each :class:`MalformedRequest` is one kind of mistake: method, path, Content-Type, body (and
whether it is sent chunked), the status the client must get, and a fragment the error's
message must hold. :func:`malformed_requests` builds the list for any model from one valid
row (:class:`Example`), so the same cases serve the scoring app's unit test
(``test_malformed_bodies.py``, straight to the app) and an HTTP-level test through HAProxy:

- ``at_haproxy=True``: HAProxy answers it itself (``expected_status``: 404, 405, 411, 413,
  415) and no server sees it; sent to a server directly, ``app_status`` is what the scoring
  app answers (200 for a valid body HAProxy refuses only for its size or encoding);
- otherwise HAProxy forwards it and the app's answer is the client's: ``expected_status``.

:func:`accepted_oddities` lists requests that look wrong but are scored on purpose (README,
"Serving"), so a stricter check is a decision, not an accident.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JSON = "application/json"
#: A placeholder value, replaced in the JSON text by a literal ``json.dumps`` cannot write.
_SLOT = "__SLOT__"


@dataclass(frozen=True)
class MalformedRequest:
    """One request a client may get wrong, and what must answer it."""

    name: str
    body: bytes
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/invocations"
    #: The status the client gets through the endpoint.
    expected_status: int = 400
    #: HAProxy refuses it before any server sees it.
    at_haproxy: bool = False
    #: What the scoring app answers when it gets the request directly, if not the above.
    app_status: int | None = None
    #: Sent with ``Transfer-Encoding: chunked`` instead of a Content-Length.
    chunked: bool = False
    #: A fragment of the app's error message (not checked for HAProxy's answers).
    message: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.content_type is None else {"Content-Type": self.content_type}

    @property
    def status_at_app(self) -> int:
        """What the scoring app itself answers."""
        return self.expected_status if self.app_status is None else self.app_status


@dataclass(frozen=True)
class Example:
    """One valid row for the model under test, and a required numeric column of it.

    ``number_column`` must be required by the model's signature (a missing one is an
    error) and of a float type (a float32 column also refuses ``3.5e38``).
    """

    columns: tuple[str, ...]
    row: tuple[Any, ...]
    number_column: str

    @property
    def number_index(self) -> int:
        return self.columns.index(self.number_column)

    def split(self, columns: Sequence[Any] | None = None, data: Any = None, **more: Any) -> bytes:
        """A ``dataframe_split`` body, by default the example's one valid row."""
        value = {
            "columns": list(self.columns) if columns is None else columns,
            "data": [list(self.row)] if data is None else data,
            **more,
        }
        return body({"dataframe_split": value})

    def with_value(self, literal: str, row_count: int = 1) -> bytes:
        """The example's rows, the last with the number column's value written as ``literal``
        (``Infinity``, ``1e999``: JSON text ``json.dumps`` would not write)."""
        row = list(self.row)
        row[self.number_index] = _SLOT
        rows = [list(self.row)] * (row_count - 1) + [row]
        return self.split(data=rows).replace(f'"{_SLOT}"'.encode(), literal.encode())

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, self.row, strict=True))]


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int, inner: str = "1") -> str:
    """A JSON array nested ``depth`` deep around ``inner``."""
    return "[" * depth + inner + "]" * depth


def malformed_requests(example: Example, max_body_bytes: int = 200_000) -> list[MalformedRequest]:
    """Every kind of malformed request, for the model ``example`` is a valid row of."""
    return [
        *_unreadable_bodies(example),
        *_wrong_envelopes(example),
        *_wrong_splits(example),
        *_wrong_columns(example),
        *_wrong_values(example),
        *_too_deep(example),
        *_other_formats(example),
        *_wrong_headers(example, max_body_bytes),
    ]


def _unreadable_bodies(example: Example) -> list[MalformedRequest]:
    valid = example.split()
    bad_key = valid.replace(b'"dataframe_split"', b'"dataframe_split\xff\xfe"')
    return [
        MalformedRequest("empty body", b"", message="the body is empty"),
        MalformedRequest("whitespace only", b" \r\n\t ", message="the body is empty"),
        MalformedRequest("truncated JSON", valid[: len(valid) // 2], message="not valid JSON"),
        MalformedRequest("not JSON", b"amount=12.5&count=3", message="not valid JSON"),
        MalformedRequest("trailing garbage", valid + b" and more", message="not valid JSON"),
        MalformedRequest("single quotes", valid.replace(b'"', b"'"), message="not valid JSON"),
        MalformedRequest("trailing comma", valid[:-2] + b",}}", message="not valid JSON"),
        MalformedRequest("NUL byte", valid[:10] + b"\x00" + valid[10:], message="not valid JSON"),
        MalformedRequest("invalid UTF-8", bad_key, message="not valid UTF-8"),
        MalformedRequest("UTF-8 byte order mark", b"\xef\xbb\xbf" + valid, message="byte order"),
        MalformedRequest("UTF-16", valid.decode().encode("utf-16"), message="not valid UTF-8"),
        MalformedRequest("Python literal", example.with_value("None"), message="not valid JSON"),
    ]


def _wrong_envelopes(example: Example) -> list[MalformedRequest]:
    split = json.loads(example.split())
    one_of = "exactly one of"
    return [
        MalformedRequest("top-level list", body([split]), message="must be a JSON object"),
        MalformedRequest("top-level string", b'"hello"', message="not a string"),
        MalformedRequest("top-level number", b"42", message="not a number"),
        MalformedRequest("top-level null", b"null", message="not null"),
        MalformedRequest("top-level boolean", b"true", message="not a boolean"),
        MalformedRequest("empty object", b"{}", message=one_of),
        MalformedRequest(
            "unknown top-level key", body({"rows": split["dataframe_split"]}), message=one_of
        ),
        MalformedRequest("misspelt params key", body({**split, "param": {}}), message=one_of),
        MalformedRequest(
            "two input formats",
            body({**split, "inputs": [list(example.row)]}),
            message=one_of,
        ),
        MalformedRequest(
            "params a list", body({**split, "params": [1]}), message="'params' must be"
        ),
        MalformedRequest(
            "params a string", body({**split, "params": "fast"}), message="'params' must be"
        ),
    ]


def _wrong_splits(example: Example) -> list[MalformedRequest]:
    columns, row = list(example.columns), list(example.row)
    return [
        MalformedRequest(
            "dataframe_split a list",
            body({"dataframe_split": [columns, [row]]}),
            message="must be an object",
        ),
        MalformedRequest(
            "dataframe_split without data",
            body({"dataframe_split": {"columns": columns}}),
            message="takes 'columns', 'data'",
        ),
        MalformedRequest(
            "dataframe_split with an unknown key",
            example.split(rows=[row]),
            message="takes 'columns', 'data'",
        ),
        MalformedRequest("data an object", example.split(data={"0": row}), message="list of rows"),
        MalformedRequest("data a number", example.split(data=7), message="list of rows"),
        MalformedRequest("rows not lists", example.split(data=row), message="not a list"),
        MalformedRequest(
            "row as an object", example.split(data=example.records()), message="not a list"
        ),
        MalformedRequest("ragged rows", example.split(data=[row, row[:-1]]), message="row 1 of"),
        MalformedRequest(
            "row too long",
            example.split(data=[[*row, 1]]),
            message=f"{len(row) + 1} values for {len(row)} columns",
        ),
        MalformedRequest("zero rows", example.split(data=[]), message="no rows"),
        MalformedRequest(
            "index of another length",
            example.split(index=[0, 1]),
            message="'dataframe_split.index'",
        ),
        MalformedRequest(
            "index a number", example.split(index=0), message="'dataframe_split.index'"
        ),
    ]


def _wrong_columns(example: Example) -> list[MalformedRequest]:
    name, at = example.number_column, example.number_index
    columns, row = list(example.columns), list(example.row)
    without = [c for i, c in enumerate(columns) if i != at]
    misspelt = [f"{c}_" if i == at else c for i, c in enumerate(columns)]
    return [
        MalformedRequest(
            "missing column",
            example.split(without, [[v for i, v in enumerate(row) if i != at]]),
            message=f"Model is missing inputs ['{name}']",
        ),
        MalformedRequest(
            "misspelt column",
            example.split(misspelt),
            message=f"Model is missing inputs ['{name}']. Note that there were extra inputs",
        ),
        MalformedRequest(
            "duplicated column",
            example.split([*columns, name], [[*row, row[at]]]),
            message=f"repeats ['{name}']",
        ),
        MalformedRequest(
            "columns a string", example.split(",".join(columns)), message="list of column names"
        ),
        MalformedRequest(
            "columns not strings",
            example.split(list(range(len(columns)))),
            message="list of column names",
        ),
    ]


def _wrong_values(example: Example) -> list[MalformedRequest]:
    name = example.number_column
    infinite = f"column '{name}' has an infinite number in row"
    return [
        MalformedRequest(
            "text in a number column", example.with_value('"a lot"'), message=f"column {name}"
        ),
        MalformedRequest(
            "object as a value", example.with_value('{"value": 1}'), message=f"column {name}"
        ),
        MalformedRequest("list as a value", example.with_value("[1, 2]"), message=f"column {name}"),
        MalformedRequest("Infinity", example.with_value("Infinity"), message=infinite),
        MalformedRequest("-Infinity", example.with_value("-Infinity"), message=infinite),
        MalformedRequest("1e999", example.with_value("1e999"), message=infinite),
        MalformedRequest("-1e999", example.with_value("-1e999"), message=infinite),
        MalformedRequest(
            "Infinity in the third row",
            example.with_value("Infinity", row_count=3),
            message=f"{infinite} 2",
        ),
        MalformedRequest(
            "Infinity as a string", example.with_value('"Infinity"'), message=infinite
        ),
        MalformedRequest("huge integer", example.with_value("1" + "0" * 400), message="too large"),
    ]


def _too_deep(example: Example) -> list[MalformedRequest]:
    limit = "at most 32 levels"
    return [
        MalformedRequest("deep nested arrays", nested(2048).encode(), message=limit),
        MalformedRequest(
            "deep nested objects", ('{"a":' * 1000 + "1" + "}" * 1000).encode(), message=limit
        ),
        MalformedRequest("deep nesting, unterminated", b"[" * 4096, message=limit),
        MalformedRequest(
            "deep nesting inside a value", example.with_value(nested(1000)), message=limit
        ),
        MalformedRequest(
            "a value nested 33 deep", example.with_value(nested(29)), message="nests 33 levels"
        ),
    ]


def _other_formats(example: Example) -> list[MalformedRequest]:
    name = example.number_column
    records = example.records()
    with_text = [{**records[0], name: "a lot"}]
    return [
        MalformedRequest(
            "dataframe_records an object",
            body({"dataframe_records": records[0]}),
            message="list of objects",
        ),
        MalformedRequest(
            "dataframe_records empty", body({"dataframe_records": []}), message="no rows"
        ),
        MalformedRequest(
            "dataframe_records rows as lists",
            body({"dataframe_records": [list(example.row)]}),
            message="record 0",
        ),
        MalformedRequest(
            "dataframe_records with text in a number column",
            body({"dataframe_records": with_text}),
            message=f"column {name}",
        ),
        MalformedRequest(
            "dataframe_records with Infinity",
            body({"dataframe_records": [{**records[0], name: _SLOT}]}).replace(
                f'"{_SLOT}"'.encode(), b"Infinity"
            ),
            message=f"column '{name}' has an infinite number",
        ),
        MalformedRequest("inputs a number", body({"inputs": 5}), message="Model is missing"),
        MalformedRequest("inputs empty", body({"inputs": []}), message="no rows"),
        MalformedRequest("instances a string", body({"instances": "abc"})),
        MalformedRequest("inputs as unnamed rows", body({"inputs": [list(example.row)]})),
    ]


def _wrong_headers(example: Example, max_body_bytes: int) -> list[MalformedRequest]:
    valid = example.split()
    padded = valid + b" " * (max_body_bytes + 1 - len(valid))
    infinite_row = ["inf" if i == example.number_index else v for i, v in enumerate(example.row)]
    csv_infinite = _csv([list(example.columns), infinite_row])
    return [
        MalformedRequest(
            "charset latin-1", valid, "application/json; charset=latin-1", expected_status=415
        ),
        MalformedRequest(
            "unknown Content-Type parameter",
            valid,
            "application/json; format=pandas-split",
            expected_status=415,
        ),
        MalformedRequest("no Content-Type", valid, None, expected_status=415, at_haproxy=True),
        MalformedRequest("text/plain", valid, "text/plain", expected_status=415, at_haproxy=True),
        MalformedRequest(
            "form-urlencoded",
            b"amount=12.5",
            "application/x-www-form-urlencoded",
            expected_status=415,
            at_haproxy=True,
        ),
        MalformedRequest(
            "CSV that is not the model's",
            b"not,the\ncolumns,at all\n",
            "text/csv",
            expected_status=415,
            at_haproxy=True,
            app_status=400,
        ),
        MalformedRequest(
            "CSV with inf",
            csv_infinite,
            "text/csv",
            expected_status=415,
            at_haproxy=True,
            app_status=400,
            message="has an infinite number",
        ),
        MalformedRequest(
            "unknown path", valid, path="/predict", expected_status=404, at_haproxy=True
        ),
        MalformedRequest(
            "GET /invocations", b"", None, "GET", expected_status=405, at_haproxy=True
        ),
        MalformedRequest(
            "PUT /invocations", valid, method="PUT", expected_status=405, at_haproxy=True
        ),
        MalformedRequest("DELETE /ping", b"", None, "DELETE", "/ping", expected_status=405),
        MalformedRequest(
            "chunked upload",
            valid,
            chunked=True,
            expected_status=411,
            at_haproxy=True,
            app_status=200,
        ),
        MalformedRequest(
            "body over the limit", padded, expected_status=413, at_haproxy=True, app_status=200
        ),
    ]


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def accepted_oddities(example: Example) -> list[tuple[str, bytes]]:
    """Bodies that look wrong but are scored (200), as MLflow's own server scores them.

    Missing values (null, NaN) are the model's to impute; an extra column is ignored (a
    client may send more than the model reads); a number sent as a string and ``true``
    in a number column are converted (a flag column is a float in the signature); an
    unknown param is ignored by a model without a params schema.
    """
    columns, row = list(example.columns), list(example.row)
    order = list(reversed(range(len(columns))))
    return [
        ("null in a number column", example.with_value("null")),
        ("NaN in a number column", example.with_value("NaN")),
        ("extra column", example.split([*columns, "unused"], [[*row, 1]])),
        ("number as a string", example.with_value(json.dumps(str(row[example.number_index])))),
        ("true in a number column", example.with_value("true")),
        (
            "columns in another order",
            example.split([columns[i] for i in order], [[row[i] for i in order]]),
        ),
        ("unknown param", body({**json.loads(example.split()), "params": {"unused": 1}})),
        ("empty params", body({**json.loads(example.split()), "params": {}})),
    ]
