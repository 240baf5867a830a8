"""Turn a run config's ``settings`` section into the settings ZenML runs a pipeline with.

Kept apart from the schema so that validating a config never imports ZenML.
Flavor-scoped settings are passed as plain dicts: ZenML validates each one
against the settings class of the matching flavor in the active stack and drops
keys whose flavor the stack does not have, so this module needs neither kfp nor
the SageMaker SDK installed.
"""

from __future__ import annotations

from typing import Any

from configs.schema import KubeflowConfig, RunConfig, SagemakerConfig

KUBEFLOW_KEY = "orchestrator.kubeflow"
SAGEMAKER_KEY = "orchestrator.sagemaker"


def orchestrator_settings(config: KubeflowConfig | SagemakerConfig) -> dict[str, Any]:
    """One orchestrator's settings, field for field (our names are ZenML's).

    For Kubeflow, ``node_selectors`` stays a top-level key: ZenML 0.98's
    Kubeflow settings rebuild ``pod_settings`` from it and would discard a
    ``pod_settings`` passed directly.
    """
    return config.model_dump(exclude_defaults=True)


def pipeline_settings(config: RunConfig) -> dict[str, Any]:
    """Pipeline-level ZenML settings for ``config``, for any stack."""
    from zenml.config import DockerSettings, ResourceSettings

    section = config.settings
    settings: dict[str, Any] = {}
    docker = section.docker.model_dump(exclude_defaults=True)
    if docker:
        settings["docker"] = DockerSettings(**docker)
    resources = section.resources.model_dump(exclude_none=True)
    if resources:
        settings["resources"] = ResourceSettings(**resources)
    if section.kubeflow is not None:
        settings[KUBEFLOW_KEY] = orchestrator_settings(section.kubeflow)
    if section.sagemaker is not None:
        settings[SAGEMAKER_KEY] = orchestrator_settings(section.sagemaker)
    return settings


#: Orchestrator flavors that run ZenML schedules (the local orchestrator does not).
SCHEDULING_FLAVORS = frozenset({"kubeflow", "sagemaker"})


class ScheduleNotSupportedError(ValueError):
    """The config gives a schedule, but the stack's orchestrator cannot run one."""


def monitoring_schedule(config: RunConfig, orchestrator_flavor: str) -> Any | None:
    """The ZenML ``Schedule`` for a monitoring run, or None to run once now.

    Raises ScheduleNotSupportedError on a stack whose orchestrator has no
    schedules, rather than letting ZenML run once and drop the schedule: there,
    the GitHub Actions cron (.github/workflows/monitor.yml) is the schedule.
    """
    schedule = config.monitoring.schedule
    if schedule is None:
        return None
    if orchestrator_flavor not in SCHEDULING_FLAVORS:
        raise ScheduleNotSupportedError(
            f"monitoring.schedule: the stack's orchestrator ('{orchestrator_flavor}') runs no "
            f"schedules (those that do: {', '.join(sorted(SCHEDULING_FLAVORS))}); remove "
            "monitoring.schedule for this stack and use .github/workflows/monitor.yml's cron"
        )
    from zenml.config.schedule import Schedule

    return Schedule(name=f"monitor-{config.model.name}", cron_expression=schedule.cron)
