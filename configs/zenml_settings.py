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

    ZenML hands the cron to the orchestrator unchanged, and neither reads the
    five-field form the config gives: KFP's scheduler puts seconds first, AWS
    EventBridge wants six fields with a ``?``; so it is written in the
    orchestrator's own form here. Raises ScheduleNotSupportedError on a stack
    whose orchestrator has no schedules, rather than letting ZenML run once and
    drop the schedule: there, the GitHub Actions cron
    (.github/workflows/monitor.yml) is the schedule.
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

    write = kfp_cron if orchestrator_flavor == "kubeflow" else aws_cron
    return Schedule(name=schedule_name(config), cron_expression=write(schedule.cron))


def schedule_name(config: RunConfig) -> str:
    """The one ZenML schedule a model's monitoring has (ZenML refuses a second one of a name)."""
    return f"monitor-{config.model.name}"


def kfp_cron(cron: str) -> str:
    """KFP's form: a seconds field first (its scheduler reads six fields, seconds first)."""
    return f"0 {cron}"


def aws_cron(cron: str) -> str:
    """EventBridge's form: ``minute hour day month weekday year``, one of day/weekday ``?``.

    Weekdays count 1-7 from Sunday there (0-6, or 7, from Sunday in cron); names
    (MON-FRI) are the same in both. A cron that sets both the day of the month
    and the weekday (standard cron: either one matches) has no EventBridge form.
    """
    minute, hour, day, month, weekday = cron.split()
    if weekday == "*":
        return f"{minute} {hour} {day} {month} ? *"
    if day == "*":
        return f"{minute} {hour} ? {month} {_aws_weekdays(weekday)} *"
    raise ScheduleNotSupportedError(
        f"monitoring.schedule.cron '{cron}': SageMaker (EventBridge) schedules cannot run "
        "on a day of the month or a weekday; set one of the two fields to '*'"
    )


def _aws_weekdays(field: str) -> str:
    """Cron weekday numbers (0 or 7 = Sunday) as EventBridge's (1 = Sunday); names as they are."""

    def one(value: str) -> str:
        return str(int(value) % 7 + 1) if value.isdigit() else value

    parts = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        low, dash, high = base.partition("-")
        moved = one(low) + (dash + one(high) if dash else "")
        parts.append(moved + ("/" + step if step else ""))
    return ",".join(parts)
