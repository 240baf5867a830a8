"""local-seldon for real: steps run here, artifacts and the model land where a Seldon pod reads them.

``python run.py --pipeline train --config <small config> --stack local-seldon``
runs the whole training pipeline with the committed stack file, localized only by
``local_parts.STACK_OVERRIDES`` (S3 endpoint -> moto, tracking URI -> the MLflow
server). Unlike the Kubeflow and SageMaker proofs, nothing is faked: every step
executes, ZenML artifacts go to S3 (moto), the model is logged through the MLflow
server with its files in the bucket, and ``model_storage_uri`` (what the Seldon
deployer is given) resolves to that s3:// location. Deploying it is what
tests/integration/seldon proves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.registration import STACKS_DIR
from tests.conftest import write_config
from tests.integration.remote.conftest import ARTIFACT_BUCKET, RemoteParts, run_client
from tests.integration.remote.local_parts import Endpoints, write_localized_stack

STACK = "local-seldon"
MODEL = "local-seldon-fraud"

STORAGE_URI_SCRIPT = """
import sys
from stacks.flavors.seldon_config import model_storage_uri
print(model_storage_uri(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture(scope="module")
def trained(
    remote_parts: RemoteParts, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Register local-seldon (localized) and train on it; return the run and the bucket's keys."""
    directory = tmp_path_factory.mktemp("local-seldon")
    endpoints = Endpoints(
        moto=remote_parts.moto.url,
        mlflow=remote_parts.mlflow_url,
        kubeflow=remote_parts.kfp.hostname,
    )
    stack_file = write_localized_stack(STACKS_DIR / f"{STACK}.yaml", endpoints, directory)
    setup = run_client(remote_parts, "-m", "tests.integration.remote.client_setup", str(stack_file))
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    config = write_config(directory, model_name=MODEL)
    result = run_client(
        remote_parts, "run.py", "--pipeline", "train", "--config", str(config), "--stack", STACK
    )
    s3 = remote_parts.aws("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARTIFACT_BUCKET)  # type: ignore[attr-defined]
        for item in page.get("Contents", [])
    ]
    return result, keys


def test_training_runs_on_local_seldon(
    trained: tuple[subprocess.CompletedProcess[str], list[str]],
) -> None:
    result, _ = trained
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"finished on stack '{STACK}'" in result.stdout
    assert f"Model: {MODEL} version 1" in result.stdout


def test_artifacts_and_model_are_in_the_bucket(
    trained: tuple[subprocess.CompletedProcess[str], list[str]],
) -> None:
    _, keys = trained
    mlflow_model_files = [key for key in keys if key.startswith("mlflow/") and "MLmodel" in key]
    assert mlflow_model_files, keys[:50]
    zenml_artifacts = [key for key in keys if not key.startswith("mlflow/")]
    assert any("ingest_data" in key for key in zenml_artifacts), zenml_artifacts[:50]
    assert any("register_model" in key or "train_model" in key for key in zenml_artifacts)


def test_seldon_can_fetch_the_registered_model(
    remote_parts: RemoteParts, trained: tuple[subprocess.CompletedProcess[str], list[str]]
) -> None:
    """The URI the Seldon deployer would be given is in the bucket, and the model is there."""
    _, keys = trained
    env = {**remote_parts.env, "MLFLOW_TRACKING_URI": remote_parts.mlflow_url}
    result = subprocess.run(
        [sys.executable, "-c", STORAGE_URI_SCRIPT, MODEL, "1"],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    uri = result.stdout.strip().splitlines()[-1]
    prefix = f"s3://{ARTIFACT_BUCKET}/"
    assert uri.startswith(prefix), uri
    key = uri.removeprefix(prefix).rstrip("/")
    assert f"{key}/MLmodel" in keys, (uri, [k for k in keys if k.startswith("mlflow/")][:20])
