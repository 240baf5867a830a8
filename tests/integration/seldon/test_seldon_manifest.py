"""ZenML's Seldon deployer, through the kubernetes client we install, applies a
SeldonDeployment for our registered model that the Seldon CRD accepts as written.

Only the cluster is fake (fake_kube.py): the manifest is what ZenML's
SeldonModelDeployer -> SeldonDeploymentService.provision -> SeldonDeployment.build
-> SeldonClient sent over HTTP, recorded by the fake API server.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.seldon.conftest import Deployment, RegisteredModel
from tests.integration.seldon.crd import manifest_errors, schema_node

SDEP = "/apis/machinelearning.seldon.io/v1/namespaces/{ns}/seldondeployments"
SECRETS = "/api/v1/namespaces/{ns}/secrets"


def test_the_deployer_makes_exactly_the_expected_kubernetes_calls(deployment: Deployment) -> None:
    """Create-if-absent for the storage secret and for the SeldonDeployment, which the
    client reads back after creating it and the service reads once more for its status
    (deploy_model asks for the prediction URL). No call the fake had to refuse (501);
    nothing replaced, patched or deleted."""
    secret_name = deployment.secret["metadata"]["name"]
    sdep_name = deployment.manifest["metadata"]["name"]
    ns = deployment.namespace
    assert deployment.calls == [
        ("GET", f"{SECRETS.format(ns=ns)}/{secret_name}", 404),
        ("POST", SECRETS.format(ns=ns), 201),
        ("GET", f"{SDEP.format(ns=ns)}/{sdep_name}", 404),
        ("POST", SDEP.format(ns=ns), 201),
        ("GET", f"{SDEP.format(ns=ns)}/{sdep_name}", 200),
        ("GET", f"{SDEP.format(ns=ns)}/{sdep_name}", 200),
    ]


def test_manifest_serves_the_registered_model_with_mlserver(
    deployment: Deployment, registered_model: RegisteredModel
) -> None:
    """Protocol v2 + MLFLOW_SERVER (= MLServer's MLflow runtime), the model's s3 URI
    in the stack's bucket, and the storage secret ZenML created beside it."""
    manifest = deployment.manifest
    assert (manifest["apiVersion"], manifest["kind"]) == (
        "machinelearning.seldon.io/v1",
        "SeldonDeployment",
    )
    spec = manifest["spec"]
    assert spec.get("protocol") == "v2", "no protocol v2: Seldon would not run MLServer"
    (predictor,) = spec["predictors"]
    graph = predictor["graph"]
    assert graph["implementation"] == "MLFLOW_SERVER"
    assert graph["modelUri"] == registered_model.storage_uri
    assert re.fullmatch(r"s3://fraudops-artifacts/mlflow/.+/artifacts", graph["modelUri"])
    assert graph["envSecretRefName"] == deployment.secret["metadata"]["name"]
    assert predictor["replicas"] == 1
    assert manifest["metadata"]["labels"]["app"] == "zenml"
    assert deployment.service.config.model_uri == registered_model.storage_uri


def test_storage_secret_carries_the_zenml_secret_as_rclone_variables(
    deployment: Deployment,
) -> None:
    """The pod's storage initializer reads RCLONE_CONFIG_S3_* from this secret."""
    secret = deployment.secret
    assert secret["type"] == "Opaque"
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert values["RCLONE_CONFIG_S3_TYPE"] == "s3"
    assert values["RCLONE_CONFIG_S3_ENV_AUTH"] == "false"
    assert set(values) >= {
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID",
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY",
        "RCLONE_CONFIG_S3_ENDPOINT",
    }


def test_the_crd_schema_accepts_the_manifest(
    deployment: Deployment, crd_schema: dict[str, Any]
) -> None:
    """Valid against openAPIV3Schema, and no field the API server would prune."""
    assert manifest_errors(deployment.manifest, crd_schema) == []


def test_zenml_alone_leaves_the_protocol_unset() -> None:
    """Why stacks/flavors/seldon_mlserver.py exists: ZenML's builder sets no protocol,
    and Seldon's default ("seldon") would not run MLServer. If this starts failing,
    ZenML sets the protocol itself and the flavor can go."""
    from zenml.integrations.seldon.seldon_client import SeldonDeployment

    built = SeldonDeployment.build(
        name="probe", model_uri="s3://bucket/model", implementation="MLFLOW_SERVER"
    )
    assert built.spec.protocol is None
    assert "protocol" not in built.model_dump(exclude_none=True)["spec"]


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node: Any = manifest
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _delete(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node: Any = manifest
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def _rename(path: tuple[str | int, ...], new: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        node: Any = manifest
        for part in path[:-1]:
            node = node[part]
        node[new] = node.pop(str(path[-1]))

    return change


REPLICAS = ("spec", "predictors", 0, "replicas")
GRAPH = ("spec", "predictors", 0, "graph")


@pytest.mark.parametrize(
    ("change", "constraint", "reported"),
    [
        pytest.param(
            _set(REPLICAS, "1"),
            lambda s: schema_node(s, REPLICAS)["type"] == "integer",
            "spec.predictors.0.replicas: '1' is not of type 'integer'",
            id="replicas-as-string",
        ),
        pytest.param(
            _set((*GRAPH, "modelUri"), ["s3://a", "s3://b"]),
            lambda s: schema_node(s, (*GRAPH, "modelUri"))["type"] == "string",
            "spec.predictors.0.graph.modelUri: ['s3://a', 's3://b'] is not of type 'string'",
            id="model-uri-as-list",
        ),
        pytest.param(
            _delete((*GRAPH, "name")),
            lambda s: "name" in schema_node(s, GRAPH)["required"],
            "spec.predictors.0.graph: 'name' is a required property",
            id="graph-without-name",
        ),
        pytest.param(
            _delete(("spec", "predictors")),
            lambda s: "predictors" in schema_node(s, ("spec",))["required"],
            "spec: 'predictors' is a required property",
            id="spec-without-predictors",
        ),
        pytest.param(
            _rename(("spec", "protocol"), "protocl"),
            lambda s: "protocl" not in schema_node(s, ("spec",))["properties"],
            "spec.protocl: not in the CRD schema, the API server would drop it",
            id="protocol-misspelt",
        ),
    ],
)
def test_the_crd_check_rejects_a_broken_manifest(
    deployment: Deployment,
    crd_schema: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    constraint: Callable[[dict[str, Any]], bool],
    reported: str,
) -> None:
    """The same check, on the real manifest with one field broken, names that field.

    ``constraint`` first shows the schema really constrains the field, so the
    check failing is the schema's doing, not an accident of the test.
    """
    assert constraint(crd_schema)
    broken = copy.deepcopy(deployment.manifest)
    change(broken)
    assert manifest_errors(broken, crd_schema) == [reported]
