"""The Kubeflow stack would work: ``run.py`` compiles the training pipeline and submits it.

What runs unpatched: ``python run.py --pipeline train --config ... --stack
kubeflow-seldon`` as a user types it, against a ZenML server, the committed
stack file (registered with the project's code), S3 on moto (code upload, logs)
and ZenML's Kubeflow orchestrator: its stack validation, the KFP v2 compiler,
the YAML it writes, the Dex login with the ``kubeflow_credentials`` secret, and
the KFP client's REST calls (healthz, experiment, run, status) answered by a
fake KFP on 127.0.0.1 that records them. What does not run: a cluster. No step
executes, and no image is pulled.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from stacks.registration import STACKS_DIR, load_stack_spec
from tests.integration.remote.checks import (
    Expected,
    StepDag,
    expected_for,
    kfp_problems,
    load_kfp_spec,
    upload_problems,
)
from tests.integration.remote.conftest import RemoteParts, run_client
from tests.integration.remote.fake_kfp import API, DROPPED, LOGIN_PATH, Recorded
from tests.integration.remote.local_parts import with_memory

pytestmark = pytest.mark.timeout(600)

STACK = "kubeflow-seldon"


@dataclass(frozen=True)
class Submission:
    """One ``run.py`` call on the Kubeflow stack and what it left behind."""

    config: Path
    result: subprocess.CompletedProcess[str]
    written: list[Path]
    requests: list[Recorded]
    s3_urls: list[str]

    @property
    def output(self) -> str:
        """The tail of the command's output, for assertion messages."""
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]

    def created_runs(self) -> list[Recorded]:
        """Accepted run creations: the pipeline spec uploads."""
        return [
            r for r in self.requests if (r.method, r.path, r.status) == ("POST", f"{API}/runs", 200)
        ]


def submit(parts: RemoteParts, config: Path) -> Submission:
    """Run the user's command and collect the YAML files, KFP calls and S3 calls it caused."""
    pattern = "kubeflow/*/pipelines/*.yaml"
    before = set(parts.client_dir.glob(pattern))
    seen_requests = len(parts.kfp.state.log)
    seen_s3 = len(parts.moto.requests())
    result = run_client(
        parts, "run.py", "--pipeline", "train", "--config", str(config), "--stack", STACK
    )
    with parts.kfp.state.lock:
        requests = parts.kfp.state.log[seen_requests:]
    return Submission(
        config=config,
        result=result,
        written=sorted(set(parts.client_dir.glob(pattern)) - before),
        requests=requests,
        s3_urls=[str(r["url"]) for r in parts.moto.requests()[seen_s3:]],
    )


@pytest.fixture(scope="module")
def submission(
    remote_parts: RemoteParts, registered_stacks: list[str], prod_remote_config: Path
) -> Submission:
    """The production config submitted to the Kubeflow stack."""
    assert STACK in registered_stacks
    return submit(remote_parts, prod_remote_config)


@pytest.fixture(scope="module")
def expected(submission: Submission, training_dag: StepDag) -> Expected:
    """What the spec must say for the config that was submitted."""
    return expected_for(submission.config, training_dag)


@pytest.fixture(scope="module")
def written_spec(submission: Submission) -> pipeline_spec_pb2.PipelineSpec:
    """The KFP IR YAML the orchestrator wrote, loaded with kfp's proto."""
    assert len(submission.written) == 1, (submission.written, submission.output)
    return load_kfp_spec(submission.written[0])


def committed_orchestrator_setting(key: str) -> object:
    """A value of the committed stack file's orchestrator configuration."""
    spec = load_stack_spec(STACKS_DIR / f"{STACK}.yaml")
    return spec.components["orchestrator"][0].configuration[key]


def test_run_py_writes_the_spec_and_uploads_it_as_a_run(submission: Submission) -> None:
    assert submission.result.returncode == 0, submission.output
    assert f"on stack '{STACK}'" in submission.result.stdout
    # No step ran here, so run.py must not claim a finished run or a model.
    assert f"submitted to stack '{STACK}'" in submission.result.stdout
    assert "finished" not in submission.result.stdout and "Model:" not in submission.result.stdout
    assert len(submission.written) == 1, submission.written
    runs = submission.created_runs()
    assert len(runs) == 1, [(r.method, r.path, r.status) for r in submission.requests]
    assert runs[0].body["display_name"] == submission.written[0].stem


def test_upload_went_through_the_dex_login_into_the_users_namespace(
    submission: Submission,
) -> None:
    """Credentials come from the ZenML secret; the fake KFP refuses API calls without them."""
    logins = [r for r in submission.requests if (r.method, r.path) == ("POST", LOGIN_PATH)]
    assert [r.status for r in logins] == [303], "the Dex login did not accept the secret's values"
    api_calls = [r for r in submission.requests if r.path.startswith(API)]
    assert api_calls and all(r.status == 200 for r in api_calls), [
        (r.method, r.path, r.status) for r in api_calls
    ]
    experiments = [r for r in api_calls if (r.method, r.path) == ("POST", f"{API}/experiments")]
    assert [r.body["namespace"] for r in experiments] == [
        committed_orchestrator_setting("user_namespace")
    ]


def test_spec_has_one_task_per_step_with_the_pipelines_dependencies_image_and_cpu(
    written_spec: pipeline_spec_pb2.PipelineSpec, expected: Expected
) -> None:
    assert expected.cpu is not None, "the config sets no CPU, so the resource check proves nothing"
    assert len(written_spec.root.dag.tasks) == len(expected.dag)
    assert kfp_problems(written_spec, expected) == []


def test_uploaded_spec_is_the_written_file(
    submission: Submission, written_spec: pipeline_spec_pb2.PipelineSpec
) -> None:
    (run,) = submission.created_runs()
    assert upload_problems(run.body, written_spec) == []


def test_production_data_is_not_read_when_submitting(submission: Submission) -> None:
    """configs/prod.yaml reads s3://fraud-ml-prod/...; only a step in the cluster may read it."""
    assert any("/fraudops-artifacts/code_uploads/" in url for url in submission.s3_urls), (
        "moto recorded no code upload, so the absence below would prove nothing"
    )
    assert not [url for url in submission.s3_urls if "fraud-ml-prod" in url]


Mutation = Callable[[pipeline_spec_pb2.PipelineSpec], None]


def _task_named(
    spec: pipeline_spec_pb2.PipelineSpec, step: str
) -> pipeline_spec_pb2.PipelineTaskSpec:
    return next(t for t in spec.root.dag.tasks.values() if t.task_info.name == step)


def _last_step(spec: pipeline_spec_pb2.PipelineSpec) -> str:
    """The step with the most dependencies (register_model in the training pipeline)."""
    return max(
        (t for t in spec.root.dag.tasks.values()), key=lambda t: len(t.dependent_tasks)
    ).task_info.name


def drop_a_dependency(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """The last step no longer waits for one of its upstream steps."""
    task = _task_named(spec, _last_step(spec))
    del task.dependent_tasks[0]


def add_a_dependency(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """A first step suddenly waits for the last one (a cycle a cluster would never run)."""
    first = next(t for t in spec.root.dag.tasks.values() if not t.dependent_tasks)
    last_key = next(
        key for key, t in spec.root.dag.tasks.items() if t.task_info.name == _last_step(spec)
    )
    first.dependent_tasks.append(last_key)


def drop_a_task(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """One step is missing from the spec."""
    key = next(
        key for key, t in spec.root.dag.tasks.items() if t.task_info.name == _last_step(spec)
    )
    del spec.root.dag.tasks[key]


def _edit_containers(spec: pipeline_spec_pb2.PipelineSpec, edit: Callable[[dict], None]) -> None:
    deployment = json_format.MessageToDict(spec.deployment_spec)
    for executor in deployment["executors"].values():
        edit(executor["container"])
    spec.deployment_spec.Clear()
    spec.deployment_spec.update(deployment)


def another_image(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """Steps run some other image than the configured one."""
    _edit_containers(spec, lambda c: c.update(image="python:3.11-slim"))


def another_cpu_limit(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """Steps ask for a different CPU limit than the config."""
    _edit_containers(spec, lambda c: c["resources"].update(resourceCpuLimit="2"))


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (drop_a_dependency, "waits for"),
        (add_a_dependency, "waits for"),
        (drop_a_task, "the pipeline has steps"),
        (another_image, "runs image 'python:3.11-slim'"),
        (another_cpu_limit, "CPU limit 2.0"),
    ],
)
def test_checker_rejects_an_altered_spec(
    written_spec: pipeline_spec_pb2.PipelineSpec,
    expected: Expected,
    mutate: Mutation,
    complaint: str,
) -> None:
    altered = pipeline_spec_pb2.PipelineSpec()
    altered.CopyFrom(written_spec)
    mutate(altered)
    problems = kfp_problems(altered, expected)
    assert any(complaint in problem for problem in problems), problems


def test_upload_check_rejects_a_spec_other_than_the_written_one(
    submission: Submission, written_spec: pipeline_spec_pb2.PipelineSpec
) -> None:
    altered = pipeline_spec_pb2.PipelineSpec()
    altered.CopyFrom(written_spec)
    drop_a_dependency(altered)
    assert upload_problems({"pipeline_spec": json_format.MessageToDict(altered)}, written_spec)
    assert upload_problems({"display_name": "no spec"}, written_spec)


@pytest.fixture(scope="module")
def lost_upload(
    remote_parts: RemoteParts, registered_stacks: list[str], prod_remote_config: Path
) -> Submission:
    """The same submission while the KFP endpoint drops the upload's connection."""
    remote_parts.kfp.state.drop_uploads = True
    try:
        return submit(remote_parts, prod_remote_config)
    finally:
        remote_parts.kfp.state.drop_uploads = False


def test_a_lost_upload_only_warns_so_the_proof_checks_the_upload_itself(
    lost_upload: Submission,
) -> None:
    """ZenML turns a network error during the upload into a warning and reports success.

    The YAML is written and ``run.py`` exits 0, so neither proves that Kubeflow
    got the pipeline; the proof above counts the accepted uploads instead.
    """
    assert lost_upload.result.returncode == 0, lost_upload.output
    assert len(lost_upload.written) == 1
    assert "Failed to upload Kubeflow pipeline" in lost_upload.output
    uploads = [r for r in lost_upload.requests if (r.method, r.path) == ("POST", f"{API}/runs")]
    assert [r.status for r in uploads] == [DROPPED]
    assert lost_upload.created_runs() == []


@pytest.fixture(scope="module")
def memory_submission(
    remote_parts: RemoteParts, registered_stacks: list[str], prod_remote_config: Path
) -> Submission:
    """The production config plus a memory limit (32GB) submitted to the Kubeflow stack."""
    return submit(remote_parts, with_memory(prod_remote_config))


def test_memory_setting_stops_the_submission_zenml_0_98_bug(
    memory_submission: Submission, training_dag: StepDag
) -> None:
    """ZenML 0.98.0 hands kfp the memory limit as a float; compiling fails before any upload.

    When this test fails because the submission went through, ZenML fixed it:
    put ``memory`` back into configs/staging.yaml and prod.yaml, and the proof
    above checks the memory limit too.
    """
    assert expected_for(memory_submission.config, training_dag).memory_bytes is not None
    assert memory_submission.result.returncode != 0, memory_submission.output
    assert "TypeError" in memory_submission.output, memory_submission.output
    assert memory_submission.written == []
    assert memory_submission.created_runs() == []
