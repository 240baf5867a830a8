"""Everything the remote-stack proofs change about the committed stacks and configs, in one place.

The stack files (``stacks/kubeflow-seldon.yaml``, ``stacks/sagemaker-seldon.yaml``)
and the production run config (``configs/prod.yaml``) are used as committed,
except for what this module lists. Keep it short: every entry is a part of the
real setup the proof does not cover.

- Stack files (``STACK_OVERRIDES``): the S3 endpoint -> moto, the MLflow
  tracking URI -> a local ``mlflow server``, the Kubeflow host -> the fake KFP.
- Run config (``remote_run_config``): ``settings.docker`` names a prebuilt
  image with ``skip_build`` (there is no Docker engine). ``with_memory`` adds a
  memory limit, for the test that pins a ZenML bug (prod.yaml sets none).
- Secrets (``TEST_SECRETS``): test values for the four secrets the files name.
- Environment (``client_env``): ZenML server URL, moto's endpoint and test
  credentials, a temp HOME, and a SageMaker SDK config (telemetry off, a named
  default bucket).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stacks.registration import StackSpec, load_stack_spec

#: Not imported from tests.conftest: importing that module repoints ZENML_CONFIG_PATH, and
#: this module is also imported by the client subprocess (client_setup).
PROJECT_ROOT = Path(__file__).resolve().parents[3]

#: The prebuilt image the test config runs (never pulled: no step executes here).
TEST_IMAGE = "127.0.0.1:5000/fraudops:test"
TEST_REGION = "eu-west-1"
#: The SageMaker SDK's default bucket in the test environment (see ``sagemaker_user_config``).
SAGEMAKER_TEST_BUCKET = "fraudops-sagemaker-test"

#: Test values for every ZenML secret the stack files reference. The AWS keys are what
#: moto accepts; the Kubeflow login is what the fake Kubeflow's Dex form accepts.
TEST_SECRETS: dict[str, dict[str, str]] = {
    "aws_credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    "mlflow_credentials": {"username": "fraudops-ci", "password": "mlflow-test-password"},
    "kubeflow_credentials": {"username": "ci@fraudops.test", "password": "kubeflow-test-pw"},
    "seldon_s3_credentials": {
        "rclone_config_s3_type": "s3",
        "rclone_config_s3_provider": "aws",
        "rclone_config_s3_env_auth": "false",
        "rclone_config_s3_access_key_id": "testing",
        "rclone_config_s3_secret_access_key": "testing",
        "rclone_config_s3_region": TEST_REGION,
    },
}


@dataclass(frozen=True)
class Endpoints:
    """Where the local stand-ins listen."""

    moto: str
    mlflow: str
    kubeflow: str


#: (component type, configuration key, nested key or None) -> the endpoint that replaces it.
#: Applied only where the committed file has that key. Nothing else in a stack file changes:
#: the container registry URIs stay (with skip_build nothing is pushed or pulled), the
#: SageMaker execution role and region stay, the Seldon deployer stays (not contacted when a
#: pipeline is submitted), and SageMaker reaches moto through AWS_ENDPOINT_URL.
STACK_OVERRIDES: dict[tuple[str, str, str | None], str] = {
    ("artifact_store", "client_kwargs", "endpoint_url"): "moto",
    ("experiment_tracker", "tracking_uri", None): "mlflow",
    ("orchestrator", "kubeflow_hostname", None): "kubeflow",
}


def localize_stack(spec: StackSpec, endpoints: Endpoints) -> StackSpec:
    """The committed stack with ``STACK_OVERRIDES`` applied, and nothing else changed."""
    raw = spec.model_dump(mode="json")
    for (kind, key, nested), endpoint in STACK_OVERRIDES.items():
        for component in raw["components"].get(kind, []):
            configuration: dict[str, Any] = component["configuration"]
            if key not in configuration:
                continue
            value = getattr(endpoints, endpoint)
            if nested is None:
                configuration[key] = value
            else:
                configuration[key] = {**configuration[key], nested: value}
    return StackSpec.model_validate(raw)


def write_localized_stack(path: Path, endpoints: Endpoints, directory: Path) -> Path:
    """Write the localized copy of the committed stack file ``path`` into ``directory``."""
    spec = localize_stack(load_stack_spec(path), endpoints)
    target = directory / path.name
    target.write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    return target


def remote_run_config(directory: Path) -> Path:
    """``configs/prod.yaml`` with only ``settings.docker`` added: the prebuilt test image.

    Everything else (the s3:// data source, resources, orchestrator settings) is
    production's, so the proof checks what production would submit.
    """
    raw = yaml.safe_load((PROJECT_ROOT / "configs" / "prod.yaml").read_text())
    raw.setdefault("settings", {})["docker"] = {"parent_image": TEST_IMAGE, "skip_build": True}
    path = directory / "prod-remote-test.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def sagemaker_user_config(directory: Path) -> Path:
    """The SageMaker SDK config file of the test environment (SAGEMAKER_USER_CONFIG_OVERRIDE).

    Telemetry off: it would call AWS directly. A named default bucket: without
    one the SDK derives ``sagemaker-<region>-<account>`` by asking STS at a
    hard-coded regional AWS endpoint that ignores AWS_ENDPOINT_URL (on AWS
    that call just works). The SDK creates the bucket in moto itself. The SDK
    validates the file against its schema, which requires ``SchemaVersion``.
    """
    path = directory / "sagemaker-config.yaml"
    modules = {"TelemetryOptOut": True, "Session": {"DefaultS3Bucket": SAGEMAKER_TEST_BUCKET}}
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": modules}}}
    path.write_text(yaml.safe_dump(config))
    return path


def client_env(
    zenml_url: str, client_dir: Path, moto_url: str, home: Path, base: dict[str, str]
) -> dict[str, str]:
    """The environment of a user's shell pointed at the test parts instead of the cloud.

    ``base`` is the environment without the test session's own ZenML/MLflow
    pointers. HOME is a temp dir so no ~/.aws or ~/.config/kfp of the machine
    is read; the AWS variables are moto's test credentials and endpoint.
    """
    return {
        **base,
        "HOME": str(home),
        "ZENML_CONFIG_PATH": str(client_dir),
        "ZENML_STORE_URL": zenml_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sagemaker_user_config(home)),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


def with_memory(config: Path, memory: str = "32GB") -> Path:
    """A copy of ``config`` with ``settings.resources.memory``, for the Kubeflow bug test.

    ZenML 0.98.0's Kubeflow orchestrator passes the memory limit to kfp as a
    float (``ResourceSettings.get_memory()`` returns GB as a float) where kfp's
    ``set_memory_limit`` takes only a string, so any memory setting fails the
    compilation with "TypeError: expected string or bytes-like object". That is
    why configs/prod.yaml sets none; the test pins the failure with this copy.
    """
    raw = yaml.safe_load(config.read_text())
    raw["settings"]["resources"]["memory"] = memory
    path = config.with_name(f"{config.stem}-memory.yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
