"""The offline Seldon path: real ZenML, MLflow, kubernetes client and MLServer; fake cluster.

What stands in for what (all on 127.0.0.1, all stopped when this package's
tests end):

- the artifact store bucket: moto's S3 server; MLflow logs the model there
  exactly as it would to the real ``s3://fraudops-artifacts`` (stacks/local-seldon.yaml);
- the cluster's API server: ``fake_kube.py``, reached through a kubeconfig,
  so ZenML's Seldon client and the ``kubernetes`` package we install do the talking;
- Seldon's storage initializer: a copy of ``graph.modelUri`` to a local
  ``mnt/models`` with the credentials from the Kubernetes secret ZenML created;
- the Seldon pod's server: MLServer with the MLflow runtime from its own venv
  (stacks/mlserver/), configured as Seldon configures it.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import yaml

from stacks.flavors.traffic import VersionToServe
from stacks.mlserver.environment import ensure_venv
from stacks.registration import StackSpec, load_stack_spec, register_stack
from tests.conftest import PROJECT_ROOT
from tests.integration.seldon.crd import crd_path, load_crd_schema
from tests.integration.seldon.fake_kube import (
    ClusterState,
    start_fake_kube,
    stop_fake_kube,
    write_kubeconfig,
)
from tests.integration.seldon.mlserver import (
    MLServer,
    start_mlserver,
    stop_mlserver,
    wait_until_ready,
)

STACK_FILE = PROJECT_ROOT / "stacks" / "local-seldon.yaml"
STACK_NAME = "seldon-offline"
MODEL_NAME = "seldon-offline-fraud"
#: Credentials only moto sees; ZenML puts them into the Kubernetes secret.
FAKE_KEY_ID, FAKE_SECRET = "AKIAFRAUDOPSTEST", "fraudops-test-secret"


@dataclass(frozen=True)
class RegisteredModel:
    """A model trained and registered the way the training pipeline does it."""

    model: Any  # the fitted sklearn Pipeline, for in-process predictions
    name: str
    version: str
    storage_uri: str
    holdout: pd.DataFrame
    features: list[str]


@dataclass(frozen=True)
class Deployment:
    """What ZenML's deployer sent to the (fake) cluster."""

    manifest: dict[str, Any]
    secret: dict[str, Any]
    calls: list[tuple[str, str, int]]
    namespace: str
    service: Any  # the SeldonDeploymentService ZenML returned


@dataclass(frozen=True)
class Rollout:
    """The Seldon deployer, the cluster, and the two versions to roll between."""

    deployer: Any
    cluster: ClusterState
    model: str
    v1: VersionToServe
    v2: VersionToServe
    #: The cluster's call log when the module's rollout began (``mark``), for "since".
    since: int = 0


@pytest.fixture(scope="session")
def crd_schema() -> dict[str, Any]:
    """The SeldonDeployment CRD schema; missing is a failure, never a skip."""
    path = crd_path()
    if not path.is_file():
        pytest.fail(
            f"SeldonDeployment CRD not found at {path}: it is vendored in the repository "
            "(see tests/integration/seldon/schemas/NOTICE.md); restore it from git",
            pytrace=False,
        )
    return load_crd_schema(path)


@pytest.fixture(scope="package")
def stack_components() -> dict[str, dict[str, Any]]:
    """The artifact store and model deployer entries of stacks/local-seldon.yaml."""
    spec = yaml.safe_load(STACK_FILE.read_text())
    return {kind: spec["components"][kind][0] for kind in ("artifact_store", "model_deployer")}


@pytest.fixture(scope="package")
def loopback_env() -> Iterator[pytest.MonkeyPatch]:
    """No proxy for 127.0.0.1, and credentials that only the fake S3 accepts."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NO_PROXY", "no_proxy"):
            patch.setenv(name, "127.0.0.1,localhost")
        patch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
        patch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        patch.delenv("AWS_PROFILE", raising=False)
        yield patch


@pytest.fixture(scope="package")
def object_store(
    loopback_env: pytest.MonkeyPatch, stack_components: dict[str, dict[str, Any]]
) -> Iterator[str]:
    """moto's S3 on a free port holding the stack's bucket; MLflow is pointed at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        loopback_env.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
        bucket = urlsplit(stack_components["artifact_store"]["configuration"]["path"]).netloc
        s3 = boto3.client("s3", endpoint_url=endpoint)
        # moto's backend is per process: a bucket made by an earlier server in this process stays.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="package")
def registered_model(
    object_store: str, stack_components: dict[str, dict[str, Any]]
) -> RegisteredModel:
    """Train with the project's code and config, log and register it like register_model.

    MLflow's artifact root is ``<artifact store>/mlflow``, the layout ZenML's
    MLflow integration assumes, so the model lands in the stack's bucket.
    """
    import mlflow

    from configs.loader import load_run_config
    from stacks.flavors.seldon_config import model_storage_uri
    from steps.data.synthetic import generate_transactions
    from steps.registry.mlflow_model import log_sklearn_model
    from steps.training.training import fit_model, split_holdout

    config = load_run_config(PROJECT_ROOT / "configs" / "local.yaml")
    data = config.data
    frame = generate_transactions(4000, seed=7, fraud_rate=0.05)
    train_set, holdout = split_holdout(frame, data.target, data.task, config.split)
    specs = data.features
    assert specs is not None, "configs/local.yaml lists its features"
    metric = config.evaluation.primary_metric
    model = fit_model(train_set, specs, data.target, data.task, config.training, metric).model
    features = [f.name for f in specs]
    root = stack_components["artifact_store"]["configuration"]["path"]
    # A package fixture runs again when one worker takes this package's files apart (xdist):
    # the session's MLflow store keeps the experiment from the first time.
    existing = mlflow.get_experiment_by_name(STACK_NAME)
    experiment = (
        existing.experiment_id
        if existing is not None
        else mlflow.create_experiment(STACK_NAME, artifact_location=f"{root}/mlflow")
    )
    with mlflow.start_run(experiment_id=experiment):
        example = train_set[features].head(5).reset_index(drop=True)
        info = log_sklearn_model(model, example, MODEL_NAME)
    version = str(info.registered_model_version)
    return RegisteredModel(
        model=model,
        name=MODEL_NAME,
        version=version,
        storage_uri=model_storage_uri(MODEL_NAME, version),
        holdout=holdout,
        features=features,
    )


@pytest.fixture(scope="package")
def fake_cluster(
    tmp_path_factory: pytest.TempPathFactory, crd_schema: dict[str, Any]
) -> Iterator[ClusterState]:
    """The fake API server, checking SeldonDeployments against the CRD, made the current
    kubeconfig context.

    kubernetes reads $KUBECONFIG once, when imported, into
    KUBE_CONFIG_DEFAULT_LOCATION, so that constant is pointed at our file too;
    the in-cluster variables are removed so a test run inside a pod cannot
    reach the real cluster; the client's global default configuration, which
    load_kube_config replaces, is restored afterwards.
    """
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config

    server, thread = start_fake_kube(crd_schema)
    saved_default = getattr(Configuration, "_default", None)
    try:
        with pytest.MonkeyPatch.context() as patch:
            namespace = "seldon"
            path = write_kubeconfig(
                tmp_path_factory.mktemp("kube") / "config", server.url, namespace
            )
            patch.setenv("KUBECONFIG", str(path))
            patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
            patch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
            patch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
            yield server.state
    finally:
        Configuration.set_default(saved_default)
        stop_fake_kube(server, thread)


def _rclone_secret_values(endpoint: str) -> dict[str, str]:
    """The ZenML secret the stack file names, in rclone's variables (see stacks/*-seldon.yaml)."""
    return {
        "rclone_config_s3_type": "s3",
        "rclone_config_s3_provider": "Other",
        "rclone_config_s3_env_auth": "false",
        "rclone_config_s3_access_key_id": FAKE_KEY_ID,
        "rclone_config_s3_secret_access_key": FAKE_SECRET,
        "rclone_config_s3_endpoint": endpoint,
    }


def _create_secret_once(name: str, values: dict[str, str]) -> bool:
    """Give the ZenML secret ``name`` these values; True if it was created here (and so is
    deleted afterwards), False if an existing one was updated."""
    from zenml.client import Client

    client = Client()
    if name in {secret.name for secret in client.list_secrets(name=name).items}:
        client.update_secret(name, add_or_update_values=values)
        return False
    client.create_secret(name, values=values)
    return True


def offline_stack_spec() -> StackSpec:
    """local-seldon.yaml's orchestrator, artifact store and model deployer, under this
    package's names so that removing them afterwards touches nothing else.

    The experiment tracker is left out: ``registered_model`` logs to MLflow directly.
    """
    spec = load_stack_spec(STACK_FILE)
    kept = ("orchestrator", "artifact_store", "model_deployer")
    components = {
        kind: [spec.components[kind][0].model_copy(update={"name": f"{STACK_NAME}-{kind}"})]
        for kind in kept
    }
    return StackSpec(stack_name=STACK_NAME, components=components)


@pytest.fixture(scope="package")
def seldon_stack(object_store: str, stack_components: dict[str, dict[str, Any]]) -> Iterator[str]:
    """That stack, registered through the project's own registration (which also registers
    the ``seldon_mlserver`` flavor, ZenML's Seldon deployer plus protocol v2).

    Afterwards the previously active stack is active again, and what this
    fixture registered is removed.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    previous = client.active_stack_model.id
    deployer = stack_components["model_deployer"]
    secrets = {
        deployer["configuration"]["secret"]: _rclone_secret_values(object_store),
        "aws_credentials": {"aws_access_key_id": FAKE_KEY_ID, "aws_secret_access_key": FAKE_SECRET},
    }
    created_secrets = [
        name for name, values in secrets.items() if _create_secret_once(name, values)
    ]
    result = register_stack(offline_stack_spec())
    client.activate_stack(STACK_NAME)
    try:
        yield STACK_NAME
    finally:
        client.activate_stack(previous)
        client.delete_stack(STACK_NAME)
        for created in result.created_components:
            kind, name = created.split("/", 1)
            client.delete_stack_component(name, StackComponentType(kind))
        for name in created_secrets:
            client.delete_secret(name)
        for flavor in result.created_flavors:
            client.delete_flavor(flavor)


@pytest.fixture(scope="package")
def deployment(
    registered_model: RegisteredModel,
    seldon_stack: str,
    fake_cluster: ClusterState,
    stack_components: dict[str, dict[str, Any]],
) -> Iterator[Deployment]:
    """Deploy the registered model through the active stack's model deployer.

    This is the common ZenML interface a deployment step uses: the stack picks
    the deployer, the project builds only the service config. ``timeout=0``:
    no operator runs in the fake, so there is nothing to wait for.
    """
    from zenml.client import Client
    from zenml.integrations.seldon.services import SeldonDeploymentService

    from stacks.flavors.seldon_config import seldon_deployment_config

    deployer = Client().active_stack.model_deployer
    assert deployer is not None, "the stack has no model deployer"
    config = seldon_deployment_config(registered_model.name, registered_model.storage_uri)
    start = fake_cluster.mark()
    service = deployer.deploy_model(
        config, service_type=SeldonDeploymentService.SERVICE_TYPE, replace=True, timeout=0
    )
    manifests = fake_cluster.bodies("POST", "seldondeployments", since=start)
    secrets = fake_cluster.bodies("POST", "secrets", since=start)
    calls = fake_cluster.summary(since=start)
    assert len(manifests) == 1 and len(secrets) == 1, calls
    namespace = stack_components["model_deployer"]["configuration"]["kubernetes_namespace"]
    try:
        yield Deployment(manifests[0], secrets[0], calls, namespace, service)
    finally:
        Client().delete_service(service.uuid)


def storage_initializer_copy(model_uri: str, secret: dict[str, Any], destination: Path) -> Path:
    """Copy every object under ``model_uri`` into ``destination``, as Seldon's rclone
    initializer does, authenticated only with what the Kubernetes secret carries."""
    import boto3

    env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    s3 = boto3.client(
        "s3",
        endpoint_url=env["RCLONE_CONFIG_S3_ENDPOINT"],
        aws_access_key_id=env["RCLONE_CONFIG_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"],
    )
    parts = urlsplit(model_uri)
    prefix = parts.path.lstrip("/").rstrip("/") + "/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=parts.netloc, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            target = destination / item["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(parts.netloc, item["Key"], str(target))
    return destination


@pytest.fixture(scope="session")
def mlserver_venv() -> Path:
    """The MLServer venv (stacks/mlserver/); built here only if CI's install did not."""
    return ensure_venv()


@pytest.fixture(scope="package")
def served_model(
    deployment: Deployment, mlserver_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MLServer]:
    """MLServer serving what the manifest points at, under the manifest's graph name."""
    workdir = tmp_path_factory.mktemp("seldon-pod")
    graph = deployment.manifest["spec"]["predictors"][0]["graph"]
    model_dir = storage_initializer_copy(
        graph["modelUri"], deployment.secret, workdir / "mnt" / "models"
    )
    server = start_mlserver(mlserver_venv, model_dir, graph["name"], workdir)
    try:
        wait_until_ready(server)
        yield server
    finally:
        stop_mlserver(server)


@pytest.fixture(scope="module")
def rollout(
    registered_model: RegisteredModel, seldon_stack: str, fake_cluster: ClusterState
) -> Iterator[Rollout]:
    """A second MLflow version of the registered model (same files), and the active
    stack's deployer; afterwards everything the flavor deployed is shut down.

    Module scope: each test module starts from a cluster with nothing of the
    model on it, and leaves it that way.
    """
    from mlflow import MlflowClient
    from zenml.client import Client

    from stacks.flavors.seldon_mlserver import SeldonMLServerModelDeployer

    mlflow = MlflowClient()
    first = mlflow.get_model_version(registered_model.name, registered_model.version)
    second = mlflow.create_model_version(
        registered_model.name, source=registered_model.storage_uri, run_id=first.run_id
    )
    deployer = Client().active_stack.model_deployer
    assert isinstance(deployer, SeldonMLServerModelDeployer), "the stack's flavor"
    name = registered_model.name
    fake_cluster.operator_ready = True
    try:
        yield Rollout(
            deployer=deployer,
            cluster=fake_cluster,
            model=name,
            v1=VersionToServe(name, "1", f"models:/{name}/{registered_model.version}"),
            v2=VersionToServe(name, "2", f"models:/{name}/{second.version}"),
            since=fake_cluster.mark(),
        )
    finally:
        deployer.shut_down(name)
        fake_cluster.operator_ready = False
