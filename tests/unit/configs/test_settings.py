"""Flavor-scoped pipeline settings: one config for every stack, checked by ZenML's own classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from zenml.config import DockerSettings, ResourceSettings
from zenml.integrations.aws.flavors.sagemaker_orchestrator_flavor import (
    SagemakerOrchestratorSettings,
)
from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import (
    KubeflowOrchestratorSettings,
)

from configs.loader import ConfigError, load_run_config
from configs.schema import KubeflowConfig, RunConfig, SagemakerConfig, ScheduleConfig
from configs.zenml_settings import (
    KUBEFLOW_KEY,
    SAGEMAKER_KEY,
    ScheduleNotSupportedError,
    aws_cron,
    kfp_cron,
    monitoring_schedule,
    pipeline_settings,
)

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _prod() -> dict[str, Any]:
    return yaml.safe_load((CONFIGS / "prod.yaml").read_text())


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_prod_settings_become_zenml_settings_for_each_flavor() -> None:
    settings = pipeline_settings(load_run_config(CONFIGS / "prod.yaml"))
    resources = settings["resources"]
    assert isinstance(resources, ResourceSettings)
    assert resources.cpu_count == 8
    kubeflow = KubeflowOrchestratorSettings.model_validate(settings[KUBEFLOW_KEY])
    assert kubeflow.timeout == 7200
    sagemaker = SagemakerOrchestratorSettings.model_validate(settings[SAGEMAKER_KEY])
    assert sagemaker.instance_type == "ml.m5.2xlarge"
    assert sagemaker.volume_size_in_gb == 50


def test_local_config_asks_for_no_settings() -> None:
    assert pipeline_settings(load_run_config(CONFIGS / "local.yaml")) == {}


def test_docker_memory_and_node_selectors_reach_zenml(tmp_path: Path) -> None:
    raw = _prod()
    raw["settings"]["docker"] = {"parent_image": "registry.example/fraudops:1", "skip_build": True}
    raw["settings"]["orchestrator.kubeflow"]["node_selectors"] = {"pool": "cpu"}
    raw["settings"]["resources"]["memory"] = "16GB"
    settings = pipeline_settings(load_run_config(_write(tmp_path, raw)))
    assert settings["resources"].memory == "16GB"
    docker = settings["docker"]
    assert isinstance(docker, DockerSettings)
    assert docker.skip_build and docker.parent_image == "registry.example/fraudops:1"
    kubeflow = KubeflowOrchestratorSettings.model_validate(settings[KUBEFLOW_KEY])
    assert kubeflow.pod_settings is not None
    assert kubeflow.pod_settings.node_selectors == {"pool": "cpu"}


@pytest.mark.parametrize(
    ("model", "zenml_class", "renamed"),
    [
        (KubeflowConfig, KubeflowOrchestratorSettings, {"node_selectors": "pod_settings"}),
        (SagemakerConfig, SagemakerOrchestratorSettings, {}),
    ],
)
def test_every_config_field_is_a_zenml_setting(
    model: type[Any], zenml_class: type[Any], renamed: dict[str, str]
) -> None:
    """Catches a ZenML upgrade that renames or drops a setting our configs still offer."""
    ours = {renamed.get(name, name) for name in model.model_fields}
    assert ours <= set(zenml_class.model_fields), ours - set(zenml_class.model_fields)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"orchestrator.kubeflw": {}}, "settings.orchestrator.kubeflw"),
        ({"orchestrator.sagemaker": {"instance_type": "m5.large"}}, "instance_type"),
        ({"orchestrator.kubeflow": {"timeout": -1}}, "settings.orchestrator.kubeflow.timeout"),
        ({"docker": {"skip_build": True}}, "docker.parent_image"),
        ({"resources": {"memory": "lots"}}, "settings.resources.memory"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, patch: dict[str, Any], field: str) -> None:
    raw = _prod()
    raw["settings"] = {**raw["settings"], **patch}
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    assert str(path) in str(caught.value) and field in str(caught.value)


def _with_schedule(cron: str | None) -> RunConfig:
    base = load_run_config(CONFIGS / "prod.yaml")
    monitoring = base.monitoring.model_copy(
        update={"schedule": None if cron is None else ScheduleConfig(cron=cron)}
    )
    return base.model_copy(update={"monitoring": monitoring})


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [("kubeflow", "0 0 6 * * 1-5"), ("sagemaker", "0 6 ? * 2-6 *")],
)
def test_a_monitoring_schedule_is_written_in_the_orchestrators_cron_form(
    flavor: str, expected: str
) -> None:
    from zenml.config.schedule import Schedule

    config = _with_schedule("0  6 * * 1-5")
    schedule = monitoring_schedule(config, flavor)
    assert isinstance(schedule, Schedule)
    assert schedule.cron_expression == expected
    assert schedule.name == f"monitor-{config.model.name}"


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 6 * * *", "0 6 * * ? *"),
        ("*/15 2 1 * *", "*/15 2 1 * ? *"),
        ("30 6 * * 0", "30 6 ? * 1 *"),
        ("30 6 * * 7", "30 6 ? * 1 *"),
        ("0 6 * 1-6 1,3,5", "0 6 ? 1-6 2,4,6 *"),
        ("0 6 * * MON-FRI", "0 6 ? * MON-FRI *"),
        ("0 6 * * 1-5/2", "0 6 ? * 2-6/2 *"),
    ],
)
def test_aws_cron_has_a_question_mark_and_weekdays_from_sunday_one(
    cron: str, expected: str
) -> None:
    assert aws_cron(cron) == expected


def test_aws_cannot_say_a_day_of_month_or_a_weekday() -> None:
    with pytest.raises(ScheduleNotSupportedError, match="day of the month or a weekday"):
        aws_cron("0 6 1 * 1")


def test_kfp_cron_puts_seconds_first() -> None:
    assert kfp_cron("0 6 * * *") == "0 0 6 * * *"


def test_no_schedule_runs_once_on_any_stack() -> None:
    assert monitoring_schedule(_with_schedule(None), "local") is None


def test_a_schedule_on_the_local_orchestrator_is_refused_with_what_to_do() -> None:
    with pytest.raises(ScheduleNotSupportedError, match=r"monitor\.yml"):
        monitoring_schedule(_with_schedule("0 6 * * *"), "local")


@pytest.mark.parametrize("cron", ["every day", "0 6 * *", "0 6 * * * *", "0 6 ? * *"])
def test_a_malformed_cron_is_refused_by_the_config(cron: str) -> None:
    with pytest.raises(ValueError, match="not a cron expression of 5 fields"):
        ScheduleConfig(cron=cron)
