"""The training pipeline: ingest, validate, split, guard, train, evaluate, register.

Composition only; every step is a thin adapter over a plain function.
"""

from __future__ import annotations

from zenml import Model, pipeline

from configs.schema import RunConfig
from steps.data.step import ingest_data
from steps.evaluation.step import evaluate_model, quality_gate
from steps.registry.provenance import Provenance
from steps.registry.step import register_model
from steps.training.step import split_dataset, train_model
from steps.validation.leakage_step import leakage_gate
from steps.validation.reference_step import reference_profile
from steps.validation.step import data_validation_gate, validate_data


@pipeline(name="training")
def training_pipeline(
    config: RunConfig,
    base_dir: str,
    source_stamp: str,
    provenance: Provenance,
    accept_data_change: bool = False,
    trigger: dict[str, str] | None = None,
) -> None:
    """Train a model from ``config`` and register it only if every gate passes.

    ``trigger`` says what started the run when it was not a person (a monitoring
    run's id and decision); the registered version records it, on every stack.
    """
    reference = reference_profile(config.model.name, accept_data_change)
    dataset, dataset_info, _ = ingest_data(config.data, base_dir, source_stamp)
    report, _ = validate_data(dataset, dataset_info, config.data, reference)
    data_validation_gate(report)
    train_set, holdout_set = split_dataset(
        dataset, dataset_info, config.split, after="data_validation_gate"
    )
    leakage_gate(train_set, dataset_info, config.data.checks.leakage)
    model, _, input_example = train_model(
        train_set,
        dataset_info,
        config.training,
        config.evaluation.primary_metric,
        config.evaluation.decision_threshold,
        after="leakage_gate",
    )
    metrics, _ = evaluate_model(model, holdout_set, dataset_info, config.evaluation)
    quality_gate(metrics, config.evaluation)
    register = register_model.with_options(
        model=Model(
            name=config.model.name,
            description=config.model.description or None,
            tags=config.model.tags or None,
        )
    )
    register(
        model,
        metrics,
        dataset_info,
        input_example,
        provenance,
        config.model.name,
        trigger,
        after="quality_gate",
    )
