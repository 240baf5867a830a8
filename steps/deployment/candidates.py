"""Champion and challenger as the deployment pipeline loads them from the Model Control Plane.

Every version the training pipeline registered links the artifacts of its run
(model, train set, holdout set, dataset info, metrics), so a version alone is
enough to score it fairly against another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from steps.data.info import DatasetInfo
from steps.promotion.stages import UnknownVersionError, VersionRef, get_version, version_in_stage


@dataclass(frozen=True)
class Candidates:
    """What a deploy compares: the challenger, and the production champion if there is one."""

    challenger: VersionRef
    champion: VersionRef | None


class NothingToDeployError(Exception):
    """The requested version already serves as production; nothing to do."""


def choose_candidates(model_name: str, requested: str | None) -> Candidates:
    """The challenger (``requested`` or the newest trained version) and the champion.

    Raises UnknownVersionError for a missing or untrained version and
    NothingToDeployError when the challenger already is the champion.
    """
    challenger = get_version(model_name, requested)
    champion = version_in_stage(model_name, "production")
    if champion is not None and champion.version == challenger.version:
        raise NothingToDeployError(
            f"version {challenger.version} of '{model_name}' already is the production version; "
            "nothing to deploy (python run.py --status shows what serves, --serve brings it "
            "back up)"
        )
    return Candidates(challenger=challenger, champion=champion)


@dataclass(frozen=True)
class LoadedVersion:
    """A version's model and the data it was trained and evaluated on."""

    ref: VersionRef
    model: BaseEstimator
    dataset_info: DatasetInfo
    metrics: dict[str, float]
    train_set: pd.DataFrame | None
    holdout_set: pd.DataFrame | None


def linked_artifact(version: Any, name: str, model_name: str, number: str) -> Any:
    """Load artifact ``name`` linked to a ZenML model version; UnknownVersionError if absent."""
    artifact = version.get_artifact(name)
    if artifact is None:
        raise UnknownVersionError(
            f"version {number} of '{model_name}' has no '{name}' artifact (registered "
            "before the training pipeline linked it); retrain to use it"
        )
    return artifact.load()


def _artifact(version: Any, name: str, ref: VersionRef) -> Any:
    return linked_artifact(version, name, ref.model_name, ref.version)


def _metrics(recorded: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def load_version(ref: VersionRef, *, train_set: bool, holdout_set: bool) -> LoadedVersion:
    """Load what a comparison needs of ``ref`` (the data sets only when asked for)."""
    from zenml.client import Client

    version = Client().get_model_version(ref.model_name, ref.version)
    return LoadedVersion(
        ref=ref,
        model=_artifact(version, "model", ref),
        dataset_info=_artifact(version, "dataset_info", ref),
        metrics=_metrics(version.run_metadata.get("holdout_metrics")),
        train_set=_artifact(version, "train_set", ref) if train_set else None,
        holdout_set=_artifact(version, "holdout_set", ref) if holdout_set else None,
    )
