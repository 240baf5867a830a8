"""Checkers for what the remote orchestrators produce, shared by the positive and negative tests.

Each checker returns a list of problems (empty when the artifact is right), so
a negative test can assert that a deliberately broken artifact is rejected by
the very function that passed the real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from configs.loader import load_run_config
from configs.schema import SagemakerConfig

#: step name -> names of the steps it must wait for
StepDag = dict[str, frozenset[str]]

#: Byte multipliers for ZenML memory strings ("32GB", "4GiB") and Kubernetes ones ("32G", "4Gi").
_MEMORY_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "Ki": 1 << 10,
    "KiB": 1 << 10,
    "M": 10**6,
    "MB": 10**6,
    "Mi": 1 << 20,
    "MiB": 1 << 20,
    "G": 10**9,
    "GB": 10**9,
    "Gi": 1 << 30,
    "GiB": 1 << 30,
    "T": 10**12,
    "TB": 10**12,
    "Ti": 1 << 40,
    "TiB": 1 << 40,
    "P": 10**15,
    "PB": 10**15,
    "Pi": 1 << 50,
    "PiB": 1 << 50,
}


@dataclass(frozen=True)
class Expected:
    """What a remote pipeline definition must say, derived from the pipeline and the run config."""

    dag: StepDag
    image: str
    cpu: float | None
    memory_bytes: int | None
    sagemaker: SagemakerConfig | None


def memory_bytes(text: str) -> int:
    """Bytes in a memory quantity written the ZenML way or the Kubernetes way."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", text.strip())
    if match is None or match.group(2) not in _MEMORY_UNITS:
        raise ValueError(f"not a memory quantity: {text!r}")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])


def pipeline_dag(config_path: Path) -> StepDag:
    """The step graph of ``pipelines/training.py`` for this config, as ZenML composes it.

    ``prepare`` runs the pipeline function without running or storing anything,
    so the expected graph comes from the pipeline code itself, independently of
    any orchestrator.
    """
    from pipelines.training import training_pipeline
    from steps.registry.provenance import collect_provenance

    pipeline = training_pipeline.with_options()
    pipeline.prepare(
        config=load_run_config(config_path),
        base_dir=str(config_path.parent),
        source_stamp="dag-only",
        provenance=collect_provenance(config_path),
    )
    return {
        name: frozenset(invocation.upstream_steps)
        for name, invocation in pipeline.invocations.items()
    }


def expected_for(config_path: Path, dag: StepDag) -> Expected:
    """The image, resources and orchestrator settings the run config asks for."""
    settings = load_run_config(config_path).settings
    if settings.docker.parent_image is None:
        raise ValueError(f"{config_path}: settings.docker.parent_image is needed for remote runs")
    memory = settings.resources.memory
    return Expected(
        dag=dag,
        image=settings.docker.parent_image,
        cpu=settings.resources.cpu_count,
        memory_bytes=memory_bytes(memory) if memory else None,
        sagemaker=settings.sagemaker,
    )


def load_kfp_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    """The KFP IR YAML as kfp's own proto (the first YAML document is the pipeline spec)."""
    document = next(iter(yaml.safe_load_all(path.read_text())))
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())


def kfp_executors(
    spec: pipeline_spec_pb2.PipelineSpec,
) -> dict[str, pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec]:
    """The executors of the spec's deployment config (stored as a Struct in the spec)."""
    deployment = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec),
        pipeline_spec_pb2.PipelineDeploymentConfig(),
    )
    return dict(deployment.executors)


def kfp_problems(spec: pipeline_spec_pb2.PipelineSpec, expected: Expected) -> list[str]:
    """Everything in a KFP pipeline spec that differs from the pipeline and the config.

    One task per step (by display name), each depending on exactly the steps
    the ZenML pipeline says, each running the configured image with the
    configured CPU and memory limits.
    """
    problems: list[str] = []
    tasks = spec.root.dag.tasks
    step_of = {key: task.task_info.name for key, task in tasks.items()}
    steps = sorted(step_of.values())
    if len(set(steps)) != len(steps):
        problems.append(f"several tasks run the same step: {steps}")
    if set(steps) != set(expected.dag):
        problems.append(f"tasks {steps} but the pipeline has steps {sorted(expected.dag)}")
    executors = kfp_executors(spec)
    for key, task in tasks.items():
        step = step_of[key]
        upstream = frozenset(step_of.get(d, f"<unknown task {d}>") for d in task.dependent_tasks)
        if step in expected.dag and upstream != expected.dag[step]:
            problems.append(
                f"task {step} waits for {sorted(upstream)}, "
                f"the pipeline says {sorted(expected.dag[step])}"
            )
        component = spec.components.get(task.component_ref.name)
        executor = executors.get(component.executor_label) if component else None
        if executor is None:
            problems.append(f"task {step} has no executor")
            continue
        problems += kfp_container_problems(step, executor.container, expected)
    return problems


def kfp_container_problems(
    step: str,
    container: pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec,
    expected: Expected,
) -> list[str]:
    """Image and resource limits of one step's container."""
    problems = []
    if container.image != expected.image:
        problems.append(f"task {step} runs image {container.image!r}, expected {expected.image!r}")
    resources = container.resources
    cpu = float(resources.resource_cpu_limit) if resources.resource_cpu_limit else None
    if cpu != expected.cpu:
        problems.append(f"task {step} has CPU limit {cpu}, expected {expected.cpu}")
    memory_text = resources.resource_memory_limit
    memory = memory_bytes(memory_text) if memory_text else None
    if memory != expected.memory_bytes:
        problems.append(
            f"task {step} has memory limit {memory_text or None} ({memory} bytes), "
            f"expected {expected.memory_bytes} bytes"
        )
    return problems


def upload_problems(uploaded: dict[str, Any], written: pipeline_spec_pb2.PipelineSpec) -> list[str]:
    """Differences between the spec sent to KFP and the spec the orchestrator wrote to disk.

    The KFP client sends the file's content with every task's caching option
    set to the submitted value; the orchestrator submits caching off, which is
    also what it compiled, so the two must be equal as protos.
    """
    spec_dict = uploaded.get("pipeline_spec")
    if isinstance(spec_dict, dict) and "platform_spec" in spec_dict:
        spec_dict = spec_dict.get("pipeline_spec")  # kfp nests both when a platform spec exists
    if not isinstance(spec_dict, dict) or not spec_dict:
        return ["the upload carries no pipeline spec"]
    try:
        sent = json_format.ParseDict(spec_dict, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as error:
        return [f"the uploaded pipeline spec is not a KFP PipelineSpec: {error}"]
    if sent == written:
        return []
    problems = []
    for name in ("pipeline_info", "components", "deployment_spec", "root", "schema_version"):
        if getattr(sent, name) != getattr(written, name):
            problems.append(f"the uploaded spec's {name} differs from the written file")
    return problems or ["the uploaded spec differs from the written file"]


def sagemaker_image(step: dict[str, Any]) -> str | None:
    """The container image of a SageMaker pipeline step (training or processing)."""
    arguments = step.get("Arguments", {})
    if step.get("Type") == "Training":
        return arguments.get("AlgorithmSpecification", {}).get("TrainingImage")
    return arguments.get("AppSpecification", {}).get("ImageUri")


def sagemaker_resources(step: dict[str, Any]) -> dict[str, Any]:
    """Instance type, volume size and time limit of a step, whatever its type."""
    arguments = step.get("Arguments", {})
    if step.get("Type") == "Training":
        resources = arguments.get("ResourceConfig", {})
    else:
        resources = arguments.get("ProcessingResources", {}).get("ClusterConfig", {})
    return {
        "instance_type": resources.get("InstanceType"),
        "volume_size_in_gb": resources.get("VolumeSizeInGB"),
        "max_runtime_in_seconds": arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"),
    }


def sagemaker_problems(definition: dict[str, Any], expected: Expected) -> list[str]:
    """Everything in a SageMaker pipeline definition that differs from the pipeline and config.

    One step per pipeline step, ``DependsOn`` exactly the pipeline's upstream
    steps, the configured image, and the instance settings the config's
    ``orchestrator.sagemaker`` section asks for.
    """
    problems: list[str] = []
    steps = definition.get("Steps", [])
    names = sorted(step.get("Name", "<unnamed>") for step in steps)
    if len(set(names)) != len(names):
        problems.append(f"several SageMaker steps have the same name: {names}")
    if set(names) != set(expected.dag):
        problems.append(f"steps {names} but the pipeline has steps {sorted(expected.dag)}")
    wanted = (
        expected.sagemaker.model_dump(
            include={"instance_type", "volume_size_in_gb", "max_runtime_in_seconds"},
            exclude_none=True,
        )
        if expected.sagemaker
        else {}
    )
    for step in steps:
        name = step.get("Name", "<unnamed>")
        upstream = frozenset(step.get("DependsOn", []))
        if name in expected.dag and upstream != expected.dag[name]:
            problems.append(
                f"step {name} depends on {sorted(upstream)}, "
                f"the pipeline says {sorted(expected.dag[name])}"
            )
        image = sagemaker_image(step)
        if image != expected.image:
            problems.append(f"step {name} runs image {image!r}, expected {expected.image!r}")
        actual = sagemaker_resources(step)
        for key, value in wanted.items():
            if actual[key] != value:
                problems.append(f"step {name} has {key} {actual[key]!r}, expected {value!r}")
    return problems


# --- Schedules (the monitoring pipeline on Kubeflow and SageMaker) -------------------------------

#: The fields of the config's cron (configs.schema.ScheduleConfig: five fields, UTC).
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
#: The fields of a KFP cron as KFP's scheduler reads it: robfig/cron v1 ``cron.Parse`` (KFP's
#: backend/src/crd/controller/scheduledworkflow/util/cron_schedule.go): seconds first, day of
#: week optional. A 5-field expression is therefore read shifted by one field.
KFP_CRON_FIELDS = ("second", *CRON_FIELDS)
#: The fields of an EventBridge cron(...) expression: no seconds, a year, and one of the day
#: fields must be '?'; days of the week are 1-7 from Sunday (standard cron: 0-6 from Sunday).
EVENTBRIDGE_CRON_FIELDS = (*CRON_FIELDS, "year")


def monitoring_pipeline_dag(config_path: Path) -> StepDag:
    """The step graph of ``pipelines/monitoring.py``'s monitoring pipeline, as ZenML composes it."""
    from pipelines.monitoring import monitoring_pipeline

    pipeline = monitoring_pipeline.with_options()
    pipeline.prepare(
        config=load_run_config(config_path),
        batch_path="dag-only",
        batch_stamp="dag-only",
        production_version="dag-only",
    )
    return {
        name: frozenset(invocation.upstream_steps)
        for name, invocation in pipeline.invocations.items()
    }


def _same_field(actual: str, wanted: str, day_field: bool) -> bool:
    # '?' means "no specific value" for the day fields; in a plain cron that is '*'.
    if day_field:
        actual, wanted = ("*" if v == "?" else v for v in (actual, wanted))
    return actual == wanted


def kfp_cron_problems(kfp_cron: str, config_cron: str) -> list[str]:
    """How KFP would read a recurring run's cron, where that differs from the config's cron."""
    fields = kfp_cron.split()
    if kfp_cron.startswith("@") or len(fields) not in (5, 6):
        return [f"KFP cron {kfp_cron!r}: not the 6 fields KFP expects (second first)"]
    read = dict(zip(KFP_CRON_FIELDS, [*fields, "*"][:6], strict=True))
    wanted = {"second": "0", **dict(zip(CRON_FIELDS, config_cron.split(), strict=True))}
    wrong = [
        f"{name} {read[name]!r} (wanted {wanted[name]!r})"
        for name in KFP_CRON_FIELDS
        if not _same_field(read[name], wanted[name], name.startswith("day"))
    ]
    if not wrong:
        return []
    return [
        f"KFP reads cron {kfp_cron!r} (seconds first) as "
        + ", ".join(wrong)
        + f"; the config's {config_cron!r} means "
        + ", ".join(f"{name} {wanted[name]!r}" for name in CRON_FIELDS)
    ]


def _eventbridge_weekday(text: str) -> str:
    """A standard-cron day-of-week field in EventBridge numbering (1-7 from Sunday)."""

    def day(token: str) -> str:
        return str(int(token) % 7 + 1) if token.isdigit() else token

    parts = []
    for item in text.split(","):
        span, _, step = item.partition("/")
        span = "-".join(day(t) for t in span.split("-"))
        parts.append(f"{span}/{step}" if step else span)
    return ",".join(parts)


def eventbridge_cron(config_cron: str) -> str | None:
    """The EventBridge expression meaning the config's cron; None if EventBridge has none.

    EventBridge cannot say "this day of the month or this weekday" (standard cron
    ORs the two when both are set), so such a cron has no equivalent.
    """
    minute, hour, dom, month, dow = config_cron.split()
    if dow == "*":
        return f"cron({minute} {hour} {dom} {month} ? *)"
    if dom == "*":
        return f"cron({minute} {hour} ? {month} {_eventbridge_weekday(dow)} *)"
    return None


def eventbridge_cron_problems(expression: str, config_cron: str) -> list[str]:
    """Where an EventBridge schedule expression differs from the config's cron."""
    wanted = eventbridge_cron(config_cron)
    if wanted is None:
        return [f"the config's cron {config_cron!r} has no EventBridge equivalent"]
    inner = re.fullmatch(r"cron\((.*)\)", expression.strip())
    fields = inner.group(1).split() if inner else []
    if len(fields) != len(EVENTBRIDGE_CRON_FIELDS):
        return [f"schedule expression {expression!r} is not cron(<6 fields>), expected {wanted!r}"]
    wanted_fields = wanted[len("cron(") : -1].split()
    wrong = [
        f"{name} {actual!r} (wanted {want!r})"
        for name, actual, want in zip(EVENTBRIDGE_CRON_FIELDS, fields, wanted_fields, strict=True)
        if actual != want
    ]
    return [f"schedule expression {expression!r}: " + ", ".join(wrong)] if wrong else []


def kfp_caching_problems(spec: pipeline_spec_pb2.PipelineSpec) -> list[str]:
    """Tasks KFP would serve from its cache (a scheduled run must re-read the batch)."""
    return [
        f"task {task.task_info.name} has KFP caching on"
        for task in spec.root.dag.tasks.values()
        if task.caching_options.enable_cache
    ]


def executor_snapshot_ids(arguments: list[list[str]]) -> set[str]:
    """The ZenML snapshot ids that step containers are started with (``--snapshot_id ID``)."""
    return {
        args[i + 1] for args in arguments for i, a in enumerate(args[:-1]) if a == "--snapshot_id"
    }


def snapshot_problems(
    snapshot: dict[str, Any],
    *,
    schedule: str,
    cron: str | None,
    stack: str,
    dag: StepDag,
    parameters: dict[str, str],
) -> list[str]:
    """Where a ZenML pipeline snapshot (REST JSON) differs from the scheduled monitoring run.

    The steps' containers only get the snapshot's id; what they run with (the
    batch, the production version, caching) is the snapshot's. ``cron``: the
    expression the ZenML schedule must hold (what the orchestrator was given),
    or None not to check it.
    """
    problems: list[str] = []
    resources, metadata = snapshot.get("resources") or {}, snapshot.get("metadata") or {}
    found = resources.get("schedule") or {}
    if found.get("name") != schedule:
        problems.append(f"the snapshot's schedule is {found.get('name')!r}, expected {schedule!r}")
    found_cron = (found.get("body") or {}).get("cron_expression")
    if cron is not None and found_cron != cron:
        problems.append(f"the ZenML schedule's cron is {found_cron!r}, expected {cron!r}")
    found_stack = (resources.get("stack") or {}).get("name")
    if found_stack != stack:
        problems.append(f"the snapshot is for stack {found_stack!r}, expected {stack!r}")
    configuration = metadata.get("pipeline_configuration") or {}
    given = configuration.get("parameters") or {}
    for key, value in parameters.items():
        if given.get(key) != value:
            problems.append(f"pipeline parameter {key} is {given.get(key)!r}, expected {value!r}")
    steps = metadata.get("step_configurations") or {}
    if set(steps) != set(dag):
        problems.append(f"the snapshot has steps {sorted(steps)}, the pipeline {sorted(dag)}")
    for name, step in steps.items():
        upstream = frozenset(step["spec"]["upstream_steps"])
        if name in dag and upstream != dag[name]:
            problems.append(
                f"step {name} waits for {sorted(upstream)}, expected {sorted(dag[name])}"
            )
        cached = step["config"].get("enable_cache")
        if (configuration.get("enable_cache") if cached is None else cached) is not False:
            problems.append(f"step {name} may be served from ZenML's cache")
    return problems
