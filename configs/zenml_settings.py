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
