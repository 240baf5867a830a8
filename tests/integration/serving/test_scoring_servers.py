"""The lean scoring app and MLflow's own scoring server answer alike, on real servers: the
same status always, the same body for predictions; an error is the lean app's short JSON.

The package's endpoint serves version 1 under the lean app (the deployer's default). Here a
second deployer component, configured ``scoring_server: mlflow``, serves the same version
under MLflow's FastAPI scoring server, and the same requests go to both servers' own ports
(not through HAProxy, which answers some malformed requests itself): valid bodies of several
sizes and in MLflow's other formats, and the malformed bodies MLflow answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stacks.flavors.mlflow_haproxy import MLflowHAProxyModelDeployer
from stacks.flavors.replica import APPS
from stacks.flavors.traffic import EndpointSettings
from tests.integration.serving.conftest import (
    MODEL_NAME,
    SERVER_TIMEOUT,
    Endpoint,
    ensure_serving,
    free_port,
)

MLFLOW_DEPLOYER = "mlflow-scoring-server-tests"
JSON = {"Content-Type": "application/json"}


def _deployer(name: str, configuration: dict[str, Any]) -> MLflowHAProxyModelDeployer:
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent

    model = Client().create_stack_component(
        name, "mlflow_haproxy", StackComponentType.MODEL_DEPLOYER, configuration
    )
    deployer = StackComponent.from_model(model)
    assert isinstance(deployer, MLflowHAProxyModelDeployer)
    return deployer


def _replica_url(deployer: MLflowHAProxyModelDeployer, app: str) -> str:
    """Version 1's first replica's own URL, checking which scoring app its program runs."""
    [backend] = [b for b in deployer.backends(MODEL_NAME) if b.version == "1"]
    program = deployer.supervisor().program_file(backend.replicas[0].name).read_text()
    assert APPS[app] in program, program
    assert backend.url is not None
    return backend.url


@pytest.fixture(scope="module")
def mlflow_server(endpoint: Endpoint) -> Iterator[str]:
    """Version 1 under MLflow's own scoring app: its direct URL."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    deployer = _deployer(MLFLOW_DEPLOYER, {"scoring_server": "mlflow"})
    try:
        # the same model and version as the package's deployer serves: each component
        # keeps its processes under its own folder, so both run side by side
        deployer.open_endpoint(MODEL_NAME, EndpointSettings(port=free_port(), replicas=1))
        deployer.serve_version(endpoint.model.to_serve("1"), timeout=SERVER_TIMEOUT)
        yield _replica_url(deployer, "mlflow")
    finally:
        deployer.shut_down()
        Client().delete_stack_component(MLFLOW_DEPLOYER, StackComponentType.MODEL_DEPLOYER)


@pytest.fixture(scope="module")
def lean_server(endpoint: Endpoint) -> Iterator[str]:
    """Version 1 under the lean app, on the package's deployer: its direct URL.

    Other files in this package move the endpoint to version 2; version 1 is
    then started at weight 0 (no traffic through the endpoint) and retired
    again afterwards, so the endpoint is left as this module found it.
    """
    deployer = endpoint.deployer
    ensure_serving(endpoint)
    was_serving = any(b.version == "1" and b.healthy for b in deployer.backends(MODEL_NAME))
    deployer.serve_version(endpoint.model.to_serve("1"), timeout=SERVER_TIMEOUT)
    try:
        yield _replica_url(deployer, "lean")
    finally:
        if not was_serving:
            deployer.retire_version(MODEL_NAME, "1", drain_timeout=5)


def _bodies(endpoint: Endpoint) -> dict[str, tuple[str | bytes, dict[str, str]]]:
    """Request bodies and headers by name: valid ones, other formats, malformed ones."""
    model = endpoint.model
    split = model.payload(20)["dataframe_split"]
    records = model.rows.head(3).astype(object).where(model.rows.head(3).notna(), None)
    amount = split["columns"].index("amount")
    with_text = [list(row) for row in split["data"][:2]]
    for row in with_text:
        row[amount] = "a lot"
    return {
        "1 row": (json.dumps(model.payload(1)), JSON),
        "20 rows": (json.dumps(model.payload(20)), JSON),
        "50 rows, charset": (
            json.dumps(model.payload(50)),
            {"Content-Type": "application/json; charset=utf-8"},
        ),
        "dataframe_records": (
            json.dumps({"dataframe_records": records.to_dict(orient="records")}),
            JSON,
        ),
        "columns reordered": (
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": split["columns"][::-1],
                        "data": [row[::-1] for row in split["data"]],
                    }
                }
            ),
            JSON,
        ),
        "csv": (model.rows.head(4).to_csv(index=False), {"Content-Type": "text/csv"}),
        "invalid JSON": ('{"dataframe_split": {', JSON),
        "empty body": (b"", JSON),
        "JSON list": (json.dumps([model.payload(1)]), JSON),
        "wrong key": (json.dumps({"rows": split}), JSON),
        "missing column": (
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": split["columns"][1:],
                        "data": [row[1:] for row in split["data"]],
                    }
                }
            ),
            JSON,
        ),
        "text in a number": (
            json.dumps({"dataframe_split": {"columns": split["columns"], "data": with_text}}),
            JSON,
        ),
        "short rows": (
            json.dumps(
                {
                    "dataframe_split": {
                        "columns": split["columns"],
                        "data": [row[:-3] for row in split["data"]],
                    }
                }
            ),
            JSON,
        ),
        "text/plain": ("hello", {"Content-Type": "text/plain"}),
    }


def _sorted_sets(text: str) -> str:
    """MLflow's messages print Python sets, whose order differs from process to process."""
    return re.sub(
        r"\{('[^{}]*')\}",
        lambda match: "{" + ", ".join(sorted(match.group(1).split(", "))) + "}",
        text,
    )


def _answer(url: str, body: str | bytes, headers: dict[str, str]) -> tuple[int, Any]:
    response = requests.post(url, data=body, headers=headers, timeout=30)
    try:
        answer = response.json()
    except ValueError:
        return response.status_code, response.text
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        answer["message"] = _sorted_sets(answer["message"])
    return response.status_code, answer


def _short_error(answer: Any) -> bool:
    """The lean app's error body: MLflow's JSON fields, no stack trace, under 1 KB."""
    return (
        isinstance(answer, dict)
        and {"error_code", "message"} <= set(answer)
        and "stack_trace" not in answer
        and len(json.dumps(answer)) < 1024
    )


def test_both_servers_give_the_same_status_and_predictions(
    endpoint: Endpoint, lean_server: str, mlflow_server: str
) -> None:
    """The same status for every body, the same body for every answer with predictions.

    An error's body differs on purpose: the lean app answers a short JSON error leading
    with the reason (its own, or MLflow's message made short), where MLflow's server
    sends a stack trace, the whole frame echoed before the reason, or plain text (415).
    """
    assert lean_server != mlflow_server  # two servers, one per deployer component
    differences = {}
    statuses = {}
    for name, (body, headers) in _bodies(endpoint).items():
        lean = _answer(lean_server, body, headers)
        mlflow = _answer(mlflow_server, body, headers)
        statuses[name] = lean[0]
        error_alike = lean[0] == mlflow[0] and _short_error(lean[1])
        if not (lean == mlflow if lean[0] < 400 else error_alike):
            differences[name] = {"lean": lean, "mlflow": mlflow}
    assert differences == {}, json.dumps(differences, indent=1)[:4000]
    assert statuses["1 row"] == statuses["csv"] == statuses["dataframe_records"] == 200
    assert statuses["missing column"] == statuses["invalid JSON"] == 400
    missing = _answer(lean_server, *_bodies(endpoint)["missing column"])[1]
    assert missing["message"].startswith("Model is missing inputs [")


def test_health_version_and_unrouted_requests(lean_server: str, mlflow_server: str) -> None:
    for path, method in (("/ping", "GET"), ("/health", "GET"), ("/version", "GET")):
        answers = [
            requests.request(method, url.replace("/invocations", path), timeout=10)
            for url in (lean_server, mlflow_server)
        ]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].text == answers[1].text
    for url in (lean_server, mlflow_server):
        assert requests.get(url, timeout=10).status_code == 405
        assert requests.post(url.replace("/invocations", "/predict"), timeout=10).status_code == 404
