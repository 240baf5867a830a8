"""The serving smoke test: a new server must answer like the model it serves, before traffic.

Sent to the server's own URL (not the stable endpoint), so a broken server is
found while the champion still takes every request. It checks health, that
the server accepts rows as clients send them (the schema), and that its
predictions equal the in-process model's on the same rows: a server that
loaded the wrong version, or another threshold, fails here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import requests
from sklearn.base import BaseEstimator

from stacks.flavors.traffic import Backend
from steps.registry.mlflow_model import serving_example

#: Seconds a smoke request may take (a cold server compiles on its first request).
REQUEST_TIMEOUT = 30.0


class SmokeTestError(RuntimeError):
    """The new server is unhealthy, refused the rows, or predicted otherwise than the model."""


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test saw."""

    url: str
    rows: int
    matching: int


def health_url(scoring_url: str, protocol: str) -> str:
    """The health URL beside a scoring URL: MLflow's /ping, or MLServer's ready endpoint."""
    parts = urlsplit(scoring_url)
    path = "/ping" if protocol == "mlflow" else "/v2/health/ready"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def mlflow_payload(rows: pd.DataFrame) -> str:
    """Rows in MLflow's ``dataframe_split`` format, typed as a client sends them."""
    example = serving_example(rows)
    data = [
        [None if isinstance(v, float) and math.isnan(v) else _plain(v) for v in row]
        for row in example.itertuples(index=False)
    ]
    return json.dumps({"dataframe_split": {"columns": list(example.columns), "data": data}})


def v2_payload(rows: pd.DataFrame) -> str:
    """Rows in the V2 inference protocol (MLServer), one input per column."""
    example = serving_example(rows)
    inputs = []
    for column in example.columns:
        values = [_plain(v) for v in example[column]]
        numeric = pd.api.types.is_float_dtype(example[column])
        inputs.append(
            {
                "name": column,
                "shape": [len(values)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": values,
            }
        )
    return json.dumps({"inputs": inputs})


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def served_predictions(response: dict[str, Any]) -> list[Any]:
    """The prediction list from an MLflow or V2 response body."""
    if "predictions" in response:
        return list(response["predictions"])
    outputs = response.get("outputs") or []
    if outputs:
        return list(outputs[0].get("data", []))
    raise SmokeTestError(f"the server's response has no predictions: {str(response)[:200]}")


def _same(expected: Any, served: Any) -> bool:
    if isinstance(expected, float | np.floating) or isinstance(served, float):
        return math.isclose(float(expected), float(served), rel_tol=1e-6, abs_tol=1e-9)
    return str(_plain(expected)) == str(served)


def smoke_test(
    backend: Backend, model: BaseEstimator, rows: pd.DataFrame, target: str
) -> SmokeResult:
    """Health, schema and identical predictions on ``rows``; raises SmokeTestError if not.

    ``rows`` may contain the target and segment columns: only the model's
    input columns are sent, as the serving signature expects.
    """
    if backend.url is None:
        raise SmokeTestError(f"version {backend.version} has no server URL to test")
    health = health_url(backend.url, backend.protocol)
    try:
        status = requests.get(health, timeout=REQUEST_TIMEOUT).status_code
    except requests.RequestException as error:
        raise SmokeTestError(f"health check {health} failed: {error}") from error
    if status != 200:
        raise SmokeTestError(f"health check {health} answered {status}, expected 200")
    features = rows.drop(columns=[target], errors="ignore")
    columns = list(getattr(model, "feature_names_in_", features.columns))
    features = features[[c for c in columns if c in features.columns]]
    body = mlflow_payload(features) if backend.protocol == "mlflow" else v2_payload(features)
    try:
        response = requests.post(
            backend.url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
    except requests.RequestException as error:
        raise SmokeTestError(f"POST {backend.url} failed: {error}") from error
    if response.status_code != 200:
        raise SmokeTestError(
            f"POST {backend.url} with {len(features)} rows answered {response.status_code}: "
            f"{response.text[:300]}"
        )
    served = served_predictions(response.json())
    expected = list(model.predict(features))
    if len(served) != len(expected):
        raise SmokeTestError(
            f"the server returned {len(served)} predictions for {len(expected)} rows"
        )
    matching = sum(_same(e, s) for e, s in zip(expected, served, strict=True))
    if matching != len(expected):
        first = next(
            i for i, (e, s) in enumerate(zip(expected, served, strict=True)) if not _same(e, s)
        )
        raise SmokeTestError(
            f"version {backend.version}: {len(expected) - matching} of {len(expected)} served "
            f"predictions differ from the model's own (first at row {first}: served "
            f"{served[first]!r}, expected {expected[first]!r}); the server does not serve this "
            "model as trained"
        )
    return SmokeResult(url=backend.url, rows=len(expected), matching=matching)
