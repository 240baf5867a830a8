"""What the Seldon pod would run, run here: MLServer's MLflow runtime serves the model
the manifest points at, and answers a V2 request like the model does in-process.

The served files are copied from ``graph.modelUri`` (the fake S3 bucket) with
the credentials in the Kubernetes secret ZenML created, and the model is
served under ``graph.name``, as Seldon Core does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.integration.seldon.conftest import RegisteredModel
from tests.integration.seldon.mlserver import MLServer, post_json, v2_request

#: Rows of each predicted class to send: both classes, so a constant answer fails.
ROWS_PER_CLASS = 20


def _signature(model_dir: Path) -> list[dict[str, Any]]:
    """The input columns of the served MLmodel, as a client reads them from the registry."""
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    columns: list[dict[str, Any]] = json.loads(mlmodel["signature"]["inputs"])
    return columns


def _rows_of_both_classes(registered_model: RegisteredModel) -> tuple[pd.DataFrame, np.ndarray]:
    """Holdout rows the in-process model predicts as fraud and as not fraud."""
    rows = registered_model.holdout[registered_model.features]
    predicted = registered_model.model.predict(rows)
    chosen = np.concatenate(
        [np.flatnonzero(predicted == label)[:ROWS_PER_CLASS] for label in (1, 0)]
    )
    assert set(predicted[chosen]) == {0, 1}, "the holdout must hold both predicted classes"
    return rows.iloc[chosen], predicted[chosen]


def test_mlserver_predicts_what_the_model_predicts_in_process(
    served_model: MLServer, registered_model: RegisteredModel
) -> None:
    rows, expected = _rows_of_both_classes(registered_model)
    signature = _signature(served_model.model_dir)
    assert [c["name"] for c in signature] == registered_model.features
    status, answer = post_json(served_model.infer_url(), v2_request(rows, signature))
    assert status == 200, answer
    (output,) = answer["outputs"]
    predicted = np.asarray(output["data"]).reshape(-1)
    assert predicted.tolist() == expected.tolist()


Inputs = list[dict[str, Any]]


def _without_country(inputs: Inputs) -> Inputs:
    return [i for i in inputs if i["name"] != "country"]


def _text_as_amount(inputs: Inputs) -> Inputs:
    text = {"datatype": "BYTES", "parameters": {"content_type": "str"}}
    return [
        {**i, **text, "data": ["lots"] * len(i["data"])} if i["name"] == "amount" else i
        for i in inputs
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(_without_country, "Model is missing inputs ['country']", id="missing-column"),
        pytest.param(
            _text_as_amount,
            "Incompatible input types for column amount",
            id="text-in-a-numeric-column",
        ),
    ],
)
def test_mlserver_rejects_a_request_that_breaks_the_signature(
    served_model: MLServer,
    registered_model: RegisteredModel,
    change: Callable[[Inputs], Inputs],
    reason: str,
) -> None:
    """The endpoint enforces the model's signature instead of guessing: no predictions,
    an error that names the column and what is wrong with it. (MLServer 1.7.1 answers
    500 here: it reports the runtime's MlflowException as an internal error.)"""
    rows, _ = _rows_of_both_classes(registered_model)
    request = v2_request(rows, _signature(served_model.model_dir))
    request["inputs"] = change(request["inputs"])
    status, answer = post_json(served_model.infer_url(), request)
    assert status >= 400
    assert "outputs" not in answer
    error = answer["error"] if isinstance(answer, dict) else str(answer)
    assert "Failed to enforce schema" in error
    # The message repeats the whole schema first; the verdict comes after "Error:".
    assert reason in error.rsplit("Error:", 1)[-1]
