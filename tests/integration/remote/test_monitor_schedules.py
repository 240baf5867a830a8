"""A scheduled monitoring run would work on Kubeflow and SageMaker: ``run.py`` registers it.

What runs unpatched: ``python run.py --pipeline monitor --config CFG --data PATH
--stack kubeflow-seldon|sagemaker-seldon`` as a user types it, where CFG is the
test's production config plus ``monitoring: {schedule: {cron: "0 6 * * *"}}``,
against the same stand-ins as the training proofs (ZenML server, moto, MLflow,
fake KFP). ZenML registers the schedule in its store and hands it to the
orchestrator: Kubeflow's creates a KFP recurring run (``POST .../recurringruns``,
recorded by the fake KFP); SageMaker's upserts the SageMaker pipeline and then
creates an EventBridge Scheduler schedule (moto's ``scheduler`` service). What a
run executes is not in the orchestrator's definition: step containers get only a
ZenML snapshot id, so the batch, the production version and caching are checked
on that snapshot, read back from the ZenML server.

What does not run: a cluster, AWS, a schedule firing. Found by these tests and
fixed: the cron is written in each orchestrator's form (KFP reads seconds
first: '0 6 * * *' would have fired hourly; EventBridge wants six fields with a
'?'), a second schedule of the same name is refused with what to do, an s3://
batch stays a URL, and the SageMaker stack names the role EventBridge assumes.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from configs.loader import load_run_config
from stacks.registration import STACKS_DIR, load_stack_spec
from tests.integration.remote.checks import (
    Expected,
    StepDag,
    eventbridge_cron,
    eventbridge_cron_problems,
    executor_snapshot_ids,
    expected_for,
    kfp_caching_problems,
    kfp_cron_problems,
    kfp_executors,
    kfp_problems,
    load_kfp_spec,
    monitoring_pipeline_dag,
    sagemaker_problems,
    snapshot_problems,
    upload_problems,
)
from tests.integration.remote.conftest import ARTIFACT_BUCKET, RemoteParts, run_client
from tests.integration.remote.fake_kfp import API, Recorded

pytestmark = pytest.mark.timeout(600)

KUBEFLOW = "kubeflow-seldon"
SAGEMAKER = "sagemaker-seldon"
#: 06:00 UTC every day, as a user writes it in the config (five fields).
CRON = "0 6 * * *"
#: The production version this module creates (a name, so it never takes another test's number).
PROOF_VERSION = "scheduled-monitoring-proof"
#: ZenML 0.98 refuses a second schedule of the same name, so each submission's schedule is
#: read back and then hard-deleted (``zenml pipeline schedule delete --hard`` does the same).
SCHEDULE_SNAPSHOTS = """
import json, sys
from pathlib import Path
from uuid import UUID
from zenml.client import Client
store = Client().zen_store
name, out = sys.argv[1], sys.argv[2]
schedules = store.get("/schedules", params={"name": name, "size": 10, "hydrate": True})["items"]
linked = [
    snapshot
    for schedule in schedules
    for snapshot in store.get(
        "/pipeline_snapshots",
        params={"schedule_id": schedule["id"], "size": 10, "hydrate": True},
    )["items"]
]
Path(out).write_text(json.dumps({"schedules": schedules, "snapshots": linked}))
for schedule in schedules:
    store.delete_schedule(UUID(schedule["id"]), soft=False)
"""
#: Put a version of MODEL in stage production (run.py refuses to monitor without one).
MAKE_PRODUCTION = """
import json, sys
from zenml.client import Client
name, version_name = sys.argv[1], sys.argv[2]
client = Client()
try:
    client.get_model(name)
except KeyError:
    client.create_model(name=name)
version = client.create_model_version(model_name_or_id=name, name=version_name)
client.update_model_version(
    model_name_or_id=name, version_name_or_id=version.id, stage="production", force=True
)
print(json.dumps({"number": str(version.number)}))
"""
DELETE_VERSION = """
import sys
from zenml.client import Client
client = Client()
client.delete_model_version(client.get_model_version(sys.argv[1], sys.argv[2]).id)
"""


def client_json(parts: RemoteParts, script: str, *args: str) -> Any:
    """Run ``script`` in the client's environment; its last stdout line, as JSON."""
    result = run_client(parts, "-c", script, *args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def committed_orchestrator(stack: str) -> dict[str, Any]:
    """The orchestrator configuration of the committed stack file."""
    spec = load_stack_spec(STACKS_DIR / f"{stack}.yaml")
    return dict(spec.components["orchestrator"][0].configuration)


@dataclass(frozen=True)
class Monitor:
    """What every submission monitors, and with what."""

    config: Path
    batch: Path
    model: str
    production_version: str
    dag: StepDag
    expected: Expected

    @property
    def schedule_name(self) -> str:
        """The name run.py gives the schedule (configs/zenml_settings.monitoring_schedule)."""
        return f"monitor-{self.model}"

    @property
    def parameters(self) -> dict[str, str]:
        """Pipeline parameters a scheduled run must be started with."""
        return {"batch_path": str(self.batch), "production_version": self.production_version}

    def command(self, stack: str, data: str | None = None) -> tuple[str, ...]:
        """The user's command line (after ``python``)."""
        return (
            "run.py", "--pipeline", "monitor", "--config", str(self.config),
            "--data", data or str(self.batch), "--stack", stack,
        )  # fmt: skip


@dataclass
class Submission:
    """One scheduled ``run.py`` call and what it left behind."""

    result: subprocess.CompletedProcess[str]
    zenml: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        """The tail of the command's output, for assertion messages."""
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]

    def snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """The ZenML snapshot ``snapshot_id``, if the schedule links it."""
        found = [s for s in self.zenml.get("snapshots", []) if s["id"] == snapshot_id]
        assert len(found) == 1, (snapshot_id, [s["id"] for s in self.zenml.get("snapshots", [])])
        return dict(found[0])


@dataclass
class KubeflowSubmission(Submission):
    """The Kubeflow submission, its KFP calls, the YAML it wrote, and the same command again."""

    requests: list[Recorded] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    #: The recurring runs as the fake KFP stored them (with the namespace and status it added).
    stored: list[dict[str, Any]] = field(default_factory=list)
    again: subprocess.CompletedProcess[str] | None = None
    again_requests: list[Recorded] = field(default_factory=list)

    def recurring_runs(self, requests: list[Recorded] | None = None) -> list[Recorded]:
        """Accepted recurring run creations."""
        return [
            r
            for r in (self.requests if requests is None else requests)
            if (r.method, r.path, r.status) == ("POST", f"{API}/recurringruns", 200)
        ]


@dataclass
class SagemakerSubmission(Submission):
    """The SageMaker submission and what moto holds afterwards."""

    pipelines: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def definition(self) -> dict[str, Any]:
        """The pipeline definition SageMaker stored (exactly one pipeline was created)."""
        assert len(self.pipelines) == 1, [p["PipelineName"] for p in self.pipelines]
        return dict(json.loads(self.pipelines[0]["PipelineDefinition"]))


def read_schedule(parts: RemoteParts, submission: Submission, name: str, out: Path) -> None:
    """Read the ZenML schedule ``name`` and its snapshots into ``submission``; delete it."""
    result = run_client(parts, "-c", SCHEDULE_SNAPSHOTS, name, str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    submission.zenml = json.loads(out.read_text())


@pytest.fixture(scope="module")
def monitor(
    remote_parts: RemoteParts, registered_stacks: list[str], prod_remote_config: Path
) -> Iterator[Monitor]:
    """The scheduled config, a batch file, and a production version in the ZenML server.

    The batch is a local file: ``--data s3://...`` cannot be given yet (see
    test_an_s3_batch_reaches_the_schedule_check). The client only resolves the
    path; the steps would read it, so its content does not matter here.
    """
    raw = yaml.safe_load(prod_remote_config.read_text())
    raw.setdefault("monitoring", {})["schedule"] = {"cron": CRON}
    config = prod_remote_config.with_name("prod-remote-monitor-schedule.yaml")
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    batch = remote_parts.root / "monitoring-batch.csv"
    batch.write_text("amount,is_fraud\n12.5,0\n")
    model = load_run_config(config).model.name
    created = client_json(remote_parts, MAKE_PRODUCTION, model, PROOF_VERSION)
    dag = monitoring_pipeline_dag(config)
    yield Monitor(
        config=config,
        batch=batch,
        model=model,
        production_version=created["number"],
        dag=dag,
        expected=expected_for(config, dag),
    )
    deleted = run_client(remote_parts, "-c", DELETE_VERSION, model, PROOF_VERSION)
    assert deleted.returncode == 0, deleted.stderr[-3000:]


@pytest.fixture(scope="module")
def kubeflow(remote_parts: RemoteParts, monitor: Monitor) -> KubeflowSubmission:
    """The scheduled config submitted to Kubeflow, then the same command once more."""
    pattern = "kubeflow/*/pipelines/*.yaml"
    before = set(remote_parts.client_dir.glob(pattern))
    seen = len(remote_parts.kfp.state.log)
    result = run_client(remote_parts, *monitor.command(KUBEFLOW))
    with remote_parts.kfp.state.lock:
        requests = remote_parts.kfp.state.log[seen:]
        known = dict(remote_parts.kfp.state.recurring_runs)
    submission = KubeflowSubmission(
        result=result,
        requests=requests,
        written=sorted(set(remote_parts.client_dir.glob(pattern)) - before),
    )
    names = {r.body.get("display_name") for r in submission.recurring_runs()}
    submission.stored = [run for run in known.values() if run.get("display_name") in names]
    seen = len(remote_parts.kfp.state.log)
    submission.again = run_client(remote_parts, *monitor.command(KUBEFLOW))
    with remote_parts.kfp.state.lock:
        submission.again_requests = remote_parts.kfp.state.log[seen:]
    read_schedule(
        remote_parts, submission, monitor.schedule_name, remote_parts.root / "kfp-schedule.json"
    )
    return submission


@pytest.fixture(scope="module")
def sagemaker(remote_parts: RemoteParts, monitor: Monitor) -> Iterator[SagemakerSubmission]:
    """The scheduled config submitted to SageMaker; what it created in moto is removed after.

    Removed so that test_sagemaker.py, which may share this moto, still finds
    only its own pipeline.
    """
    client: Any = remote_parts.aws("sagemaker")
    scheduler: Any = remote_parts.aws("scheduler")

    def pipeline_names() -> set[str]:
        return {p["PipelineName"] for p in client.list_pipelines()["PipelineSummaries"]}

    def schedule_names() -> set[str]:
        return {s["Name"] for s in scheduler.list_schedules()["Schedules"]}

    pipelines_before, schedules_before = pipeline_names(), schedule_names()
    result = run_client(remote_parts, *monitor.command(SAGEMAKER))
    new_pipelines = sorted(pipeline_names() - pipelines_before)
    new_schedules = sorted(schedule_names() - schedules_before)
    submission = SagemakerSubmission(
        result=result,
        pipelines=[client.describe_pipeline(PipelineName=name) for name in new_pipelines],
        executions=[
            execution
            for name in new_pipelines
            for execution in client.list_pipeline_executions(PipelineName=name)[
                "PipelineExecutionSummaries"
            ]
        ],
        schedules=[scheduler.get_schedule(Name=name) for name in new_schedules],
    )
    read_schedule(
        remote_parts, submission, monitor.schedule_name, remote_parts.root / "sm-schedule.json"
    )
    yield submission
    for name in new_schedules:
        scheduler.delete_schedule(Name=name)
    for name in new_pipelines:
        client.delete_pipeline(PipelineName=name, ClientRequestToken=f"cleanup-{name}"[:128])


# --- Kubeflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recurring_run(kubeflow: KubeflowSubmission) -> dict[str, Any]:
    """The one recurring run the submission created, as the KFP client sent it."""
    runs = kubeflow.recurring_runs()
    assert len(runs) == 1, [(r.method, r.path, r.status) for r in kubeflow.requests]
    return dict(runs[0].body)


@pytest.fixture(scope="module")
def recurring_spec(recurring_run: dict[str, Any]) -> pipeline_spec_pb2.PipelineSpec:
    """The pipeline spec the recurring run carries, as kfp's proto."""
    return json_format.ParseDict(recurring_run["pipeline_spec"], pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def kubeflow_snapshot(
    kubeflow: KubeflowSubmission, recurring_spec: pipeline_spec_pb2.PipelineSpec
) -> dict[str, Any]:
    """The ZenML snapshot the recurring run's step containers are started with."""
    arguments = [list(e.container.args) for e in kfp_executors(recurring_spec).values()]
    (snapshot_id,) = executor_snapshot_ids(arguments)
    return kubeflow.snapshot(snapshot_id)


def test_kubeflow_run_py_registers_the_schedule_and_starts_nothing(
    kubeflow: KubeflowSubmission, monitor: Monitor
) -> None:
    assert kubeflow.result.returncode == 0, kubeflow.output
    assert f"Schedule '{monitor.schedule_name}' registered." in kubeflow.result.stdout
    assert "Scheduling it on '" in kubeflow.result.stdout
    # A schedule, not a run: no one-off run was created, no decision was printed.
    assert [r for r in kubeflow.requests if (r.method, r.path) == ("POST", f"{API}/runs")] == []
    assert "Decision:" not in kubeflow.result.stdout
    assert len(kubeflow.recurring_runs()) == 1
    assert [s["name"] for s in kubeflow.zenml["schedules"]] == [monitor.schedule_name]


def test_recurring_run_is_enabled_in_the_pipelines_experiment_in_the_users_namespace(
    kubeflow: KubeflowSubmission, recurring_run: dict[str, Any], monitor: Monitor
) -> None:
    experiments = [
        r for r in kubeflow.requests if (r.method, r.path) == ("POST", f"{API}/experiments")
    ]
    assert [(r.body["display_name"], r.body["namespace"]) for r in experiments] == [
        ("monitoring", committed_orchestrator(KUBEFLOW)["user_namespace"])
    ]
    (stored,) = kubeflow.stored
    assert stored["namespace"] == committed_orchestrator(KUBEFLOW)["user_namespace"]
    assert stored["status"] == "ENABLED"
    assert recurring_run["mode"] == "ENABLE"
    assert recurring_run["no_catchup"] is True  # missed runs are not backfilled
    assert recurring_run["max_concurrency"] == 1
    assert recurring_run["trigger"]["cron_schedule"]["cron"]  # a cron trigger, not an interval
    assert "periodic_schedule" not in recurring_run["trigger"]


def test_recurring_run_spec_is_the_monitoring_pipeline(
    kubeflow: KubeflowSubmission,
    recurring_run: dict[str, Any],
    recurring_spec: pipeline_spec_pb2.PipelineSpec,
    monitor: Monitor,
) -> None:
    """Five tasks (ingest_batch, batch_gate, drift_statistics, drift_report, drift_decision)."""
    assert set(monitor.dag) == {
        "ingest_batch", "batch_gate", "drift_statistics", "drift_report", "drift_decision"
    }  # fmt: skip
    assert kfp_problems(recurring_spec, monitor.expected) == []
    assert len(kubeflow.written) == 1, kubeflow.written
    assert upload_problems(recurring_run, load_kfp_spec(kubeflow.written[0])) == []
    assert recurring_run["display_name"] == kubeflow.written[0].stem


def test_recurring_run_never_uses_a_cache(
    recurring_spec: pipeline_spec_pb2.PipelineSpec, kubeflow_snapshot: dict[str, Any]
) -> None:
    """Each scheduled run re-reads the batch: KFP's cache and ZenML's are both off."""
    assert kfp_caching_problems(recurring_spec) == []
    assert kubeflow_snapshot["metadata"]["pipeline_configuration"]["enable_cache"] is False
    steps = kubeflow_snapshot["metadata"]["step_configurations"].values()
    assert all(step["config"]["enable_cache"] in (None, False) for step in steps)


def test_steps_start_from_the_snapshot_of_the_schedule_with_the_batch_and_production_version(
    kubeflow_snapshot: dict[str, Any], recurring_run: dict[str, Any], monitor: Monitor
) -> None:
    """The schedule ZenML recorded is the one KFP got; the run's parameters are the command's."""
    problems = snapshot_problems(
        kubeflow_snapshot,
        schedule=monitor.schedule_name,
        cron=recurring_run["trigger"]["cron_schedule"]["cron"],
        stack=KUBEFLOW,
        dag=monitor.dag,
        parameters=monitor.parameters,
    )
    assert problems == []
    steps = kubeflow_snapshot["metadata"]["step_configurations"]
    ingest = steps["ingest_batch"]["config"]["parameters"]
    assert ingest["batch_path"] == str(monitor.batch)
    assert ingest["production_version"] == monitor.production_version


def test_kfp_fires_the_recurring_run_at_the_configured_time(
    recurring_run: dict[str, Any],
) -> None:
    assert kfp_cron_problems(recurring_run["trigger"]["cron_schedule"]["cron"], CRON) == []


def test_the_same_command_again_is_refused_readably(
    kubeflow: KubeflowSubmission, monitor: Monitor
) -> None:
    assert kubeflow.again is not None
    # Whatever the fix, a second KFP recurring run must not be created behind the first.
    assert kubeflow.recurring_runs(kubeflow.again_requests) == []
    assert kubeflow.again.returncode == 2, kubeflow.again.stdout + kubeflow.again.stderr
    assert monitor.schedule_name in kubeflow.again.stderr
    assert "EntityExistsError" not in kubeflow.again.stderr


def test_the_same_command_again_creates_no_second_recurring_run(
    kubeflow: KubeflowSubmission, monitor: Monitor
) -> None:
    """Today ZenML refuses the name before anything reaches KFP; the fix must keep that."""
    assert kubeflow.again is not None
    assert kubeflow.again.returncode != 0
    assert kubeflow.recurring_runs(kubeflow.again_requests) == []
    assert monitor.schedule_name in kubeflow.again.stdout + kubeflow.again.stderr


# --- SageMaker --------------------------------------------------------------------------------


def sagemaker_snapshot_ids(definition: dict[str, Any]) -> set[str]:
    """The snapshot ids the SageMaker steps' containers are started with."""
    return executor_snapshot_ids(
        [
            list(step["Arguments"]["AlgorithmSpecification"]["ContainerArguments"])
            for step in definition["Steps"]
        ]
    )


def test_sagemaker_pipeline_definition_is_the_monitoring_pipeline(
    sagemaker: SagemakerSubmission, monitor: Monitor
) -> None:
    """Upserted before the schedule is made: the steps, dependencies, image, instance, role."""
    assert sagemaker_problems(sagemaker.definition, monitor.expected) == []
    assert len(sagemaker.definition["Steps"]) == len(monitor.dag) == 5
    assert sagemaker.pipelines[0]["RoleArn"] == committed_orchestrator(SAGEMAKER)["execution_role"]


def test_sagemaker_steps_start_from_the_snapshot_of_the_schedule(
    sagemaker: SagemakerSubmission, monitor: Monitor
) -> None:
    (snapshot_id,) = sagemaker_snapshot_ids(sagemaker.definition)
    problems = snapshot_problems(
        sagemaker.snapshot(snapshot_id),
        schedule=monitor.schedule_name,
        cron=None,  # what EventBridge got is checked on the EventBridge schedule
        stack=SAGEMAKER,
        dag=monitor.dag,
        parameters=monitor.parameters,
    )
    assert problems == []


def test_sagemaker_starts_nothing_now(sagemaker: SagemakerSubmission) -> None:
    assert sagemaker.executions == []


def test_sagemaker_schedules_the_pipeline_at_the_configured_time(
    sagemaker: SagemakerSubmission, monitor: Monitor
) -> None:
    assert sagemaker.result.returncode == 0, sagemaker.output
    assert f"Schedule '{monitor.schedule_name}' registered." in sagemaker.result.stdout
    (schedule,) = sagemaker.schedules
    assert eventbridge_cron_problems(schedule["ScheduleExpression"], CRON) == []
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == sagemaker.pipelines[0]["PipelineArn"]


def test_eventbridge_assumes_the_stacks_scheduler_role(sagemaker: SagemakerSubmission) -> None:
    role = committed_orchestrator(SAGEMAKER).get("scheduler_role")
    assert isinstance(role, str) and ":role/" in role, role
    (schedule,) = sagemaker.schedules
    assert schedule["Target"]["RoleArn"] == role


# --- Stacks without schedules, and the batch's URL ----------------------------------------------


def test_a_schedule_on_the_local_orchestrator_is_refused(
    remote_parts: RemoteParts, monitor: Monitor
) -> None:
    """ZenML's ``default`` stack: the local orchestrator, nothing registered for the test."""
    result = run_client(remote_parts, *monitor.command("default"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "error: monitoring.schedule: the stack's orchestrator ('local') runs no schedules"
        in result.stderr
    )
    assert "Nothing was changed." in result.stderr
    assert "registered" not in result.stdout


def test_an_s3_batch_reaches_the_schedule_check(
    remote_parts: RemoteParts, monitor: Monitor
) -> None:
    batch = f"s3://{ARTIFACT_BUCKET}/monitoring/batches/latest.csv"
    result = run_client(remote_parts, *monitor.command("default", data=batch))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "monitoring.schedule: the stack's orchestrator ('local')" in result.stderr


# --- The checkers reject what is wrong --------------------------------------------------------


@pytest.mark.parametrize(
    ("kfp_cron", "complaint"),
    [
        (CRON, "minute '6' (wanted '0')"),  # the config's cron, unchanged: hourly at :06
        ("0 6 * * * *", "minute '6'"),
        ("0 0 7 * * *", "hour '7'"),
        ("@daily", "not the 6 fields"),
    ],
)
def test_kfp_cron_check_rejects_another_time(kfp_cron: str, complaint: str) -> None:
    assert kfp_cron_problems("0 0 6 * * *", CRON) == []
    assert kfp_cron_problems("0 0 6 * * ?", CRON) == []
    problems = kfp_cron_problems(kfp_cron, CRON)
    assert any(complaint in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("cron(0 6 * * * *)", "day of week '*' (wanted '?')"),
        ("cron(6 0 * * ? *)", "minute '6'"),
        ("cron(0 6 * * *)", "is not cron(<6 fields>)"),
        ("rate(1 day)", "is not cron(<6 fields>)"),
    ],
)
def test_eventbridge_cron_check_rejects_another_time(expression: str, complaint: str) -> None:
    assert eventbridge_cron_problems("cron(0 6 * * ? *)", CRON) == []
    assert eventbridge_cron("0 6 * * 1-5") == "cron(0 6 ? * 2-6 *)"  # Mon-Fri, AWS numbering
    assert eventbridge_cron("30 2 1 * 0") is None  # day 1 OR Sunday: EventBridge cannot say it
    problems = eventbridge_cron_problems(expression, CRON)
    assert any(complaint in problem for problem in problems), problems


def test_spec_check_rejects_the_training_pipeline(
    recurring_spec: pipeline_spec_pb2.PipelineSpec, monitor: Monitor, training_dag: StepDag
) -> None:
    problems = kfp_problems(recurring_spec, expected_for(monitor.config, training_dag))
    assert any("the pipeline has steps" in problem for problem in problems), problems


def test_caching_check_rejects_a_cached_task(
    recurring_spec: pipeline_spec_pb2.PipelineSpec,
) -> None:
    altered = pipeline_spec_pb2.PipelineSpec()
    altered.CopyFrom(recurring_spec)
    next(iter(altered.root.dag.tasks.values())).caching_options.enable_cache = True
    assert len(kfp_caching_problems(altered)) == 1


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda s: s["metadata"]["pipeline_configuration"]["parameters"].update(
            batch_path="s3://elsewhere/batch.csv"), "pipeline parameter batch_path"),
        (lambda s: s["metadata"]["pipeline_configuration"]["parameters"].update(
            production_version="0"), "pipeline parameter production_version"),
        (lambda s: s["metadata"]["pipeline_configuration"].update(enable_cache=True),
         "may be served from ZenML's cache"),
        (lambda s: s["resources"]["schedule"]["body"].update(cron_expression="0 7 * * *"),
         "the ZenML schedule's cron"),
        (lambda s: s["resources"].update(schedule=None), "the snapshot's schedule is None"),
    ],
)  # fmt: skip
def test_snapshot_check_rejects_another_run(
    kubeflow_snapshot: dict[str, Any],
    recurring_run: dict[str, Any],
    monitor: Monitor,
    edit: Any,
    complaint: str,
) -> None:
    checked = {
        "schedule": monitor.schedule_name,
        "cron": recurring_run["trigger"]["cron_schedule"]["cron"],
        "stack": KUBEFLOW,
        "dag": monitor.dag,
        "parameters": monitor.parameters,
    }
    assert snapshot_problems(kubeflow_snapshot, **checked) == []
    altered = copy.deepcopy(kubeflow_snapshot)
    edit(altered)
    problems = snapshot_problems(altered, **checked)
    assert any(complaint in problem for problem in problems), problems
