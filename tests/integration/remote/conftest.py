"""Session fixtures for the remote-stack proofs: local stand-ins for the cloud, started once.

A ZenML server (``zenml login --local``, its own config directory), a moto server
(S3 and SageMaker), an MLflow tracking server, and a fake Kubeflow Pipelines
endpoint all listen on free ports on 127.0.0.1. The client side (stack
registration and ``run.py``) runs in subprocesses from another ZenML config
directory, because this pytest process is bound to the session's local store
and because that is what a user on a laptop does. Every server started here is
stopped here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from stacks.registration import STACKS_DIR
from tests.conftest import PROJECT_ROOT
from tests.integration.remote import servers
from tests.integration.remote.checks import Expected, StepDag, expected_for, pipeline_dag
from tests.integration.remote.fake_kfp import FakeKfpServer, start_fake_kfp, stop_fake_kfp
from tests.integration.remote.local_parts import (
    TEST_REGION,
    TEST_SECRETS,
    Endpoints,
    client_env,
    remote_run_config,
    write_localized_stack,
)

#: The committed stack files the proofs register (localized by local_parts.STACK_OVERRIDES).
REMOTE_STACKS = ("kubeflow-seldon", "sagemaker-seldon")
#: The bucket of the stacks' S3 artifact store, created in moto before registration.
ARTIFACT_BUCKET = "fraudops-artifacts"


@dataclass(frozen=True)
class RemoteParts:
    """The running stand-ins and the environment of a client that uses them."""

    root: Path
    zenml: servers.ZenServer
    moto: servers.Moto
    mlflow_url: str
    kfp: FakeKfpServer
    client_dir: Path
    env: dict[str, str]

    def aws(self, service: str) -> object:
        """A boto3 client of moto for reading back what the client did."""
        return boto3.client(
            service,
            endpoint_url=self.moto.url,
            region_name=TEST_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def run_client(
    parts: RemoteParts, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the project root in the client's environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=parts.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def remote_parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteParts]:
    """Start every stand-in at once (they start in parallel), stop each one at the end."""
    root = tmp_path_factory.mktemp("remote")
    for name in ("zenml-server", "zenml-client", "home", "moto", "mlflow"):
        (root / name).mkdir()
    with ExitStack() as cleanup:
        zenml, login = servers.begin_zenml_server(root / "zenml-server")
        cleanup.callback(servers.stop_zenml_server, zenml)
        moto = servers.start_moto(root / "moto")
        cleanup.callback(servers.stop_process, moto.process)
        mlflow, mlflow_url = servers.start_mlflow(
            root / "mlflow", f"s3://{ARTIFACT_BUCKET}/mlflow", moto.url
        )
        cleanup.callback(servers.stop_process, mlflow)
        login_secret = TEST_SECRETS["kubeflow_credentials"]
        kfp, kfp_thread = start_fake_kfp(login_secret["username"], login_secret["password"])
        cleanup.callback(stop_fake_kfp, kfp, kfp_thread)

        servers.wait_until_up(f"{moto.url}/moto-api/", moto.process, "moto", timeout=120)
        servers.wait_until_up(f"{mlflow_url}/health", mlflow, "mlflow server", timeout=180)
        servers.finish_zenml_server(login)
        parts = RemoteParts(
            root=root,
            zenml=zenml,
            moto=moto,
            mlflow_url=mlflow_url,
            kfp=kfp,
            client_dir=root / "zenml-client",
            env=client_env(
                zenml.url, root / "zenml-client", moto.url, root / "home", servers.base_env()
            ),
        )
        parts.aws("s3").create_bucket(  # type: ignore[attr-defined]
            Bucket=ARTIFACT_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": TEST_REGION},
        )
        yield parts


@pytest.fixture(scope="session")
def registered_stacks(remote_parts: RemoteParts) -> list[str]:
    """The committed remote stacks, localized, registered in the test ZenML server."""
    endpoints = Endpoints(
        moto=remote_parts.moto.url,
        mlflow=remote_parts.mlflow_url,
        kubeflow=remote_parts.kfp.hostname,
    )
    directory = remote_parts.root / "stacks"
    directory.mkdir()
    files = [
        write_localized_stack(STACKS_DIR / f"{name}.yaml", endpoints, directory)
        for name in REMOTE_STACKS
    ]
    result = run_client(
        remote_parts, "-m", "tests.integration.remote.client_setup", *map(str, files)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return list(REMOTE_STACKS)


@pytest.fixture(scope="session")
def prod_remote_config(remote_parts: RemoteParts) -> Path:
    """configs/prod.yaml plus the prebuilt test image (see local_parts.remote_run_config)."""
    return remote_run_config(remote_parts.root)


@pytest.fixture(scope="session")
def training_dag(prod_remote_config: Path) -> StepDag:
    """The step graph of pipelines/training.py, the reference both orchestrators must match."""
    dag = pipeline_dag(prod_remote_config)
    assert len(dag) >= 2 and any(not upstream for upstream in dag.values()), dag
    return dag


@pytest.fixture(scope="session")
def prod_expected(prod_remote_config: Path, training_dag: StepDag) -> Expected:
    """What a definition built from the production config must say."""
    return expected_for(prod_remote_config, training_dag)
