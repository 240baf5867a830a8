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
