"""ZenML step: register the trained model as a new version, with full lineage.

This is the only step that carries the ZenML Model, so a model version exists
only once both gates have passed; a run stopped by a gate leaves no version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.base import BaseEstimator
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.model.utils import link_artifact_version_to_model_version

from steps.data.info import DatasetInfo
from steps.evaluation.metrics import decision_threshold_of
from steps.promotion.stages import (
    TAG_DATASET,
    TAG_STAGE,
    TAG_ZENML_MODEL,
    TAG_ZENML_VERSION,
    TAG_ZENML_VERSION_ID,
)
from steps.registry.mlflow_model import log_sklearn_model
from steps.registry.provenance import Provenance, package_versions


def lineage_metadata(
    dataset_info: DatasetInfo,
    provenance: Provenance,
    stack_name: str,
    metrics: dict[str, float],
) -> dict[str, Any]:
    """The metadata every model version records (see DESIGN.md, Data and lineage)."""
    return {
        "dataset_sha256": dataset_info.sha256,
        "dataset_rows": dataset_info.rows,
        "dataset_source": dataset_info.source,
        "config_file": provenance.config_file,
        "config_sha256": provenance.config_sha256,
        "git_commit": provenance.git_commit,
        "stack": stack_name,
        "package_versions": package_versions(),
        "holdout_metrics": metrics,
    }


def threshold_metadata(model: BaseEstimator, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The decision threshold the model predicts at, its positive class, and the rule.

    Threshold and positive class are read from the model itself (what serving
    applies); the rule and its CV score from what training recorded on the
    model artifact (``recorded``). Empty for models without a threshold.
    """
    threshold = decision_threshold_of(model)
    if threshold is None:
        return {}
    metadata: dict[str, Any] = {
        "decision_threshold": threshold,
        "decision_threshold_rule": recorded.get("decision_threshold_rule", "unknown"),
        "positive_class": str(getattr(model, "pos_label", recorded.get("positive_class"))),
    }
    for key in ("decision_threshold_cv_score", "decision_threshold_cv_folds"):
        if key in recorded:
            metadata[key] = recorded[key]
    return metadata


def tag_registered_version(name: str, version: str, tags: dict[str, str]) -> None:
    """Link the MLflow registry's version to its ZenML version and dataset fingerprint.

    MLflow UI users see which ZenML version (and which bytes) a version came
    from; the deployment pipeline later adds its stage and decisions.
    """
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _model_artifact_metadata() -> dict[str, Any]:
    """The metadata the training step logged on this step's ``model`` input."""
    inputs = get_step_context().inputs.get("model") or []
    if not inputs:
        return {}
    return dict(Client().get_artifact_version(inputs[0].id).run_metadata)


def _link_run_artifacts() -> list[str]:
    """Link every artifact this pipeline run produced to the step's model version.

    Looking them up through the run, rather than taking them as inputs, avoids
    loading the dataset again just to link it.
    """
    context = get_step_context()
    model_version = context.model_version
    assert model_version is not None, "register_model must run with a ZenML Model configured"
    client = Client()
    run = client.get_pipeline_run(context.pipeline_run.id)
    linked: list[str] = []
    for step_name, step_run in run.steps.items():
        if step_name == context.step_name:
            continue
        for output_name, versions in step_run.outputs.items():
            for artifact_version in versions:
                link_artifact_version_to_model_version(artifact_version, model_version)
                linked.append(output_name)
    return sorted(linked)


@step(experiment_tracker=True, enable_cache=False)
def register_model(
    model: BaseEstimator,
    metrics: dict[str, float],
    dataset_info: DatasetInfo,
    input_example: pd.DataFrame,
    provenance: Provenance,
    registered_model_name: str,
    trigger: dict[str, str] | None = None,
) -> Annotated[str, "mlflow_model_uri"]:
    """Log the model to MLflow (and its registry) and record lineage on the ZenML version.

    ZenML creates the model version when this step starts; if registration then
    fails, the half-made version is deleted so a version always means a model
    that passed both gates and has its lineage recorded.
    """
    context = get_step_context()
    try:
        return _register(
            model, metrics, dataset_info, input_example, provenance, registered_model_name, trigger
        )
    except Exception:
        if context.model_version is not None:
            Client().delete_model_version(context.model_version.id)
        raise


def _register(
    model: BaseEstimator,
    metrics: dict[str, float],
    dataset_info: DatasetInfo,
    input_example: pd.DataFrame,
    provenance: Provenance,
    registered_model_name: str,
    trigger: dict[str, str] | None = None,
) -> str:
    context = get_step_context()
    stack_name = Client().active_stack_model.name
    model_info = log_sklearn_model(model, input_example, registered_model_name)
    zenml_version = context.model_version.name if context.model_version else "unknown"
    mlflow.set_tags({"zenml.model": registered_model_name, "zenml.model_version": zenml_version})
    tag_registered_version(
        registered_model_name,
        str(model_info.registered_model_version),
        {
            TAG_ZENML_MODEL: registered_model_name,
            TAG_ZENML_VERSION: str(zenml_version),
            TAG_ZENML_VERSION_ID: str(context.model_version.id) if context.model_version else "",
            TAG_DATASET: dataset_info.sha256 or "",
            TAG_STAGE: "none",
            **{f"trigger.{key}": value for key, value in (trigger or {}).items()},
        },
    )
    metadata = lineage_metadata(dataset_info, provenance, stack_name, metrics)
    metadata["mlflow_model_uri"] = model_info.model_uri
    metadata["mlflow_run_id"] = model_info.run_id
    metadata["mlflow_registered_version"] = str(model_info.registered_model_version)
    metadata.update(threshold_metadata(model, _model_artifact_metadata()))
    if trigger:
        metadata["trigger"] = dict(trigger)
    metadata["linked_artifacts"] = _link_run_artifacts()
    log_metadata(metadata=metadata, infer_model=True)
    return model_info.model_uri
