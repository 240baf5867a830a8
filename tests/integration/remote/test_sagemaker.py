"""The SageMaker stack would work: ``run.py`` builds, creates and starts a SageMaker pipeline.

What runs unpatched: ``python run.py --pipeline train --config ... --stack
sagemaker-seldon`` as a user types it, against a ZenML server, the committed
stack file (registered with the project's code), and ZenML's SageMaker
orchestrator with the real SageMaker SDK and boto3, whose AWS calls
(CreatePipeline, StartPipelineExecution, the execution's status, S3) go to moto
on 127.0.0.1 through AWS_ENDPOINT_URL. The definition is read back with boto3's
``describe_pipeline``. What does not run: AWS itself, so no job starts, no
image is pulled and the execution role is never assumed.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks.registration import STACKS_DIR, load_stack_spec
from tests.integration.remote.checks import Expected, sagemaker_problems
from tests.integration.remote.conftest import RemoteParts, run_client

pytestmark = pytest.mark.timeout(600)

STACK = "sagemaker-seldon"


@dataclass(frozen=True)
class Submission:
    """One ``run.py`` call on the SageMaker stack and what moto holds afterwards."""

    result: subprocess.CompletedProcess[str]
    pipelines: list[dict[str, Any]]
    executions: list[dict[str, Any]]
    aws_calls: list[str]
    s3_urls: list[str]

    @property
    def output(self) -> str:
        """The tail of the command's output, for assertion messages."""
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]

    @property
    def definition(self) -> dict[str, Any]:
        """The pipeline definition SageMaker stored (exactly one pipeline must exist)."""
        assert len(self.pipelines) == 1, [p["PipelineName"] for p in self.pipelines]
        return dict(json.loads(self.pipelines[0]["PipelineDefinition"]))


@pytest.fixture(scope="module")
def submission(
    remote_parts: RemoteParts, registered_stacks: list[str], prod_remote_config: Path
) -> Submission:
    """configs/prod.yaml (plus the test image) submitted to the SageMaker stack."""
    assert STACK in registered_stacks
    seen = len(remote_parts.moto.requests())
    result = run_client(
        remote_parts,
        "run.py",
        "--pipeline",
        "train",
        "--config",
        str(prod_remote_config),
        "--stack",
        STACK,
    )
    requests = remote_parts.moto.requests()[seen:]
    sagemaker: Any = remote_parts.aws("sagemaker")
    names = [p["PipelineName"] for p in sagemaker.list_pipelines()["PipelineSummaries"]]
    return Submission(
        result=result,
        pipelines=[sagemaker.describe_pipeline(PipelineName=name) for name in names],
        executions=[
            execution
            for name in names
            for execution in sagemaker.list_pipeline_executions(PipelineName=name)[
                "PipelineExecutionSummaries"
            ]
        ],
        aws_calls=[
            str(headers.get("X-Amz-Target", ""))
            for r in requests
            if isinstance(headers := r["headers"], dict)
        ],
        s3_urls=[str(r["url"]) for r in requests],
    )


def test_run_py_creates_and_starts_one_pipeline(submission: Submission) -> None:
    assert submission.result.returncode == 0, submission.output
    assert f"on stack '{STACK}'" in submission.result.stdout
    # No step ran here, so run.py must not claim a finished run or a model.
    assert f"submitted to stack '{STACK}'" in submission.result.stdout
    assert "finished" not in submission.result.stdout and "Model:" not in submission.result.stdout
    assert submission.aws_calls.count("SageMaker.CreatePipeline") == 1
    assert submission.aws_calls.count("SageMaker.StartPipelineExecution") == 1
    assert len(submission.pipelines) == 1
    assert len(submission.executions) == 1


def test_pipeline_uses_the_stacks_execution_role(submission: Submission) -> None:
    spec = load_stack_spec(STACKS_DIR / f"{STACK}.yaml")
    role = spec.components["orchestrator"][0].configuration["execution_role"]
    assert submission.pipelines[0]["RoleArn"] == role


def test_definition_has_the_pipelines_steps_dependencies_image_and_instance(
    submission: Submission, prod_expected: Expected
) -> None:
    assert prod_expected.sagemaker is not None and prod_expected.sagemaker.instance_type, (
        "configs/prod.yaml sets no SageMaker instance, so that check would prove nothing"
    )
    assert len(submission.definition["Steps"]) == len(prod_expected.dag)
    assert sagemaker_problems(submission.definition, prod_expected) == []


def test_production_data_is_not_read_when_submitting(submission: Submission) -> None:
    """configs/prod.yaml reads s3://fraud-ml-prod/...; only a SageMaker job may read it."""
    assert any("/fraudops-artifacts/code_uploads/" in url for url in submission.s3_urls), (
        "moto recorded no code upload, so the absence below would prove nothing"
    )
    assert not [url for url in submission.s3_urls if "fraud-ml-prod" in url]


Mutation = Callable[[dict[str, Any]], None]


def _last_step(definition: dict[str, Any]) -> dict[str, Any]:
    """The step with the most dependencies (register_model in the training pipeline)."""
    steps: list[dict[str, Any]] = definition["Steps"]
    return max(steps, key=lambda step: len(step.get("DependsOn", [])))


def drop_a_step(definition: dict[str, Any]) -> None:
    """One pipeline step is missing."""
    last = _last_step(definition)
    definition["Steps"] = [s for s in definition["Steps"] if s["Name"] != last["Name"]]


def drop_a_dependency(definition: dict[str, Any]) -> None:
    """The last step no longer waits for one of its upstream steps."""
    step = next(s for s in definition["Steps"] if s["Name"] == _last_step(definition)["Name"])
    step["DependsOn"] = step["DependsOn"][1:]


def wrong_dependency(definition: dict[str, Any]) -> None:
    """A first step waits for the last one."""
    first = next(s for s in definition["Steps"] if not s.get("DependsOn"))
    first["DependsOn"] = [_last_step(definition)["Name"]]


def another_image(definition: dict[str, Any]) -> None:
    """Steps run another image than the configured one."""
    for step in definition["Steps"]:
        step["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = "python:3.11-slim"


def another_instance(definition: dict[str, Any]) -> None:
    """Steps run on another instance type than the config asks for."""
    for step in definition["Steps"]:
        step["Arguments"]["ResourceConfig"]["InstanceType"] = "ml.t3.medium"


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (drop_a_step, "the pipeline has steps"),
        (drop_a_dependency, "depends on"),
        (wrong_dependency, "depends on"),
        (another_image, "runs image 'python:3.11-slim'"),
        (another_instance, "instance_type 'ml.t3.medium'"),
    ],
)
def test_checker_rejects_an_altered_definition(
    submission: Submission, prod_expected: Expected, mutate: Mutation, complaint: str
) -> None:
    altered = copy.deepcopy(submission.definition)
    mutate(altered)
    problems = sagemaker_problems(altered, prod_expected)
    assert any(complaint in problem for problem in problems), problems
