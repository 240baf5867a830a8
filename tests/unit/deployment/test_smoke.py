"""The smoke test's request and comparison rules, as plain functions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from steps.deployment.smoke import (
    SmokeTestError,
    _same,
    health_url,
    mlflow_payload,
    served_predictions,
    v2_payload,
)


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.5, np.nan],
            "hours": pd.array([3, 4], dtype="int64"),
            "channel": pd.Categorical(["pos", None]),
        }
    )


def test_mlflow_payload_sends_json_types_a_client_sends() -> None:
    body = json.loads(mlflow_payload(_rows()))
    split = body["dataframe_split"]
    assert split["columns"] == ["amount", "hours", "channel"]
    assert split["data"] == [[1.5, 3.0, "pos"], [None, 4.0, None]]


def test_v2_payload_has_one_typed_input_per_column() -> None:
    body = json.loads(v2_payload(_rows().fillna({"amount": 0.0})))
    kinds = {i["name"]: i["datatype"] for i in body["inputs"]}
    assert kinds == {"amount": "FP64", "hours": "FP64", "channel": "BYTES"}
    assert all(i["shape"] == [2] for i in body["inputs"])


def test_health_url_follows_the_protocol() -> None:
    assert health_url("http://127.0.0.1:8001/invocations", "mlflow") == "http://127.0.0.1:8001/ping"
    assert health_url("https://s/seldon/ns/m/v2/models/classifier/infer", "v2") == (
        "https://s/v2/health/ready"
    )


def test_predictions_are_read_from_either_protocol() -> None:
    assert served_predictions({"predictions": [0, 1]}) == [0, 1]
    assert served_predictions({"outputs": [{"name": "p", "data": [1, 0]}]}) == [1, 0]
    with pytest.raises(SmokeTestError, match="no predictions"):
        served_predictions({"error": "boom"})


def test_labels_compare_as_text_and_numbers_with_a_tolerance() -> None:
    assert _same(np.int64(1), 1)
    assert _same("1", 1)
    assert not _same(0, 1)
    assert _same(0.1 + 0.2, 0.3)
    assert not _same(0.30, 0.31)
