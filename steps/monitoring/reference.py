"""What monitoring compares a batch with: the production version and its training data.

Found through the version's lineage (the training run linked its model, dataset
and dataset info to it), so the reference is exactly the data the serving model
learnt from, on any stack, whatever the config says today.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from steps.data.info import DatasetInfo
from steps.promotion.stages import UnknownVersionError, VersionRef, version_in_stage


@dataclass(frozen=True)
class ProductionInputs:
    """The production model, its dataset info and its training dataset."""

    version: str
    model: Any
    info: DatasetInfo
    reference: pd.DataFrame | None


def production_version(model_name: str) -> VersionRef:
    """The version in stage production; UnknownVersionError (exit 2) when there is none.

    Never "latest": a batch is scored and monitored against what serves.
    """
    production = version_in_stage(model_name, "production")
    if production is None:
        raise UnknownVersionError(
            f"model '{model_name}' has no production version to score or monitor with; "
            "deploy one first (python run.py --pipeline release --config ...), "
            "python run.py --status shows the versions"
        )
    return production


def load_production_inputs(
    model_name: str, version: str, *, with_reference: bool = True
) -> ProductionInputs:
    """Load version ``version``'s model, dataset info and (optionally) training dataset."""
    from zenml.client import Client

    from steps.deployment.candidates import linked_artifact

    found = Client().get_model_version(model_name, version)
    return ProductionInputs(
        version=version,
        model=linked_artifact(found, "model", model_name, version),
        info=linked_artifact(found, "dataset_info", model_name, version),
        reference=linked_artifact(found, "dataset", model_name, version) if with_reference else None,
    )
