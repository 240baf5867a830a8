"""Model stages: ZenML's Model Control Plane decides, the MLflow registry mirrors it.

ZenML is the source of truth (DESIGN.md, Models): a version in stage
``production`` is the champion, ``staging`` a challenger that passed the gates
and is being rolled out, ``archived`` a former champion. MLflow users see the
same through aliases (``champion``, ``challenger``) and tags on each MLflow
version. :func:`sync_mlflow` rewrites the MLflow side from ZenML's, so calling
it after any change (or after a failure halfway) makes the two agree again.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from zenml.models import ModelVersionResponse

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
#: Metadata every registered version carries once the training gates passed.
TRAINED_MARKER = "mlflow_registered_version"

#: MLflow tags linking an MLflow version to its ZenML version (set at registration).
TAG_ZENML_MODEL = "zenml.model"
TAG_ZENML_VERSION = "zenml.model_version"
TAG_ZENML_VERSION_ID = "zenml.model_version_id"
TAG_DATASET = "dataset_sha256"
TAG_STAGE = "zenml.stage"
TAG_DECISION = "deployment.decision"
TAG_REJECTED_BY = "deployment.rejected_by"
TAG_REASON = "deployment.reason"


class UnknownVersionError(LookupError):
    """The model or version asked for does not exist, or never passed the training gates."""


@dataclass(frozen=True)
class VersionRef:
    """One model version as deployment code needs it."""

    model_name: str
    version: str  # the ZenML version number, "3"
    version_id: str
    stage: str  # none, staging, production, archived
    mlflow_version: str | None  # the MLflow registry's version number

    @property
    def model_uri(self) -> str:
        """What MLflow serves for this version."""
        return f"models:/{self.model_name}/{self.mlflow_version}"


def _ref(version: ModelVersionResponse) -> VersionRef:
    mlflow_version = version.run_metadata.get(TRAINED_MARKER)
    return VersionRef(
        model_name=version.model.name,
        version=str(version.number),
        version_id=str(version.id),
        stage=str(version.stage or "none"),
        mlflow_version=str(mlflow_version) if mlflow_version is not None else None,
    )


def all_versions(model_name: str) -> list[VersionRef]:
    """Every version of the model, oldest first (none if the model does not exist)."""
    from zenml.client import Client

    client = Client()
    try:
        client.get_model(model_name)
    except KeyError:
        return []
    refs: list[VersionRef] = []
    page = 1
    while True:
        batch = client.list_model_versions(
            model=model_name, sort_by="asc:number", page=page, size=100, hydrate=True
        )
        refs += [_ref(v) for v in batch.items]
        if page >= batch.total_pages:
            return refs
        page += 1


def version_in_stage(model_name: str, stage: str) -> VersionRef | None:
    """The version holding ``stage`` (production, staging), if any."""
    matches = [v for v in all_versions(model_name) if v.stage == stage]
    return matches[-1] if matches else None


def get_version(model_name: str, number: str | None) -> VersionRef:
    """A version that passed the training gates: ``number``, or the newest one.

    Raises UnknownVersionError naming what exists when there is no such version.
    """
    versions = all_versions(model_name)
    if not versions:
        raise UnknownVersionError(
            f"model '{model_name}' has no registered version: run "
            f"'python run.py --pipeline train --config ...' first"
        )
    if number is None:
        trained = [v for v in versions if v.mlflow_version is not None]
        if not trained:
            raise UnknownVersionError(f"model '{model_name}': no version passed the training gates")
        return trained[-1]
    found = [v for v in versions if v.version == str(number)]
    if not found:
        known = ", ".join(v.version for v in versions)
        raise UnknownVersionError(
            f"--model-version {number}: model '{model_name}' has no such version "
            f"(versions: {known})"
        )
    if found[0].mlflow_version is None:
        raise UnknownVersionError(
            f"--model-version {number}: version {number} of '{model_name}' never passed the "
            "training gates (it has no registered MLflow model)"
        )
    return found[0]


def set_stage(ref: VersionRef, stage: str) -> None:
    """Move a version to ``stage``; production/staging take the stage from its holder.

    ``force=True`` makes ZenML archive the previous holder of the stage.
    """
    from zenml.client import Client

    Client().update_model_version(
        model_name_or_id=ref.model_name,
        version_name_or_id=UUID(ref.version_id),
        stage=stage,
        force=True,
    )


def record_on_version(ref: VersionRef, metadata: dict[str, Any]) -> None:
    """Attach figures or a decision to the version (visible in the ZenML dashboard)."""
    from zenml import log_metadata

    log_metadata(metadata=metadata, model_version_id=UUID(ref.version_id))


def actor() -> str:
    """Who is acting: the git user, else the login name."""
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or os.environ.get("USER") or getpass.getuser()


def now() -> str:
    """An ISO timestamp in UTC, for records people read."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _mlflow_client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def configure_mlflow_from_stack() -> None:
    """Point MLflow at the active stack's tracking store, as steps see it."""
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    if tracker is not None and hasattr(tracker, "configure_mlflow"):
        tracker.configure_mlflow()


def tag_mlflow_version(ref: VersionRef, tags: dict[str, str]) -> None:
    """Set tags on the MLflow version of ``ref`` (nothing if it has none)."""
    if ref.mlflow_version is None:
        return
    client = _mlflow_client()
    for key, value in tags.items():
        client.set_model_version_tag(ref.model_name, ref.mlflow_version, key, value)


def sync_mlflow(model_name: str, challenger: VersionRef | None = None) -> None:
    """Make MLflow's aliases and stage tags say what ZenML's stages say.

    ``champion`` points at the production version (removed if there is none);
    ``challenger`` at the version being rolled out, if one is (removed
    otherwise). Every MLflow version gets a ``zenml.stage`` tag.
    """
    from mlflow.exceptions import MlflowException

    client = _mlflow_client()
    versions = [v for v in all_versions(model_name) if v.mlflow_version is not None]
    for ref in versions:
        client.set_model_version_tag(model_name, ref.mlflow_version, TAG_STAGE, ref.stage)
    production = [v for v in versions if v.stage == "production"]
    wanted: dict[str, VersionRef | None] = {
        CHAMPION_ALIAS: production[-1] if production else None,
        CHALLENGER_ALIAS: challenger,
    }
    for alias, holder in wanted.items():
        if holder is not None and holder.mlflow_version is not None:
            client.set_registered_model_alias(model_name, alias, holder.mlflow_version)
            continue
        with contextlib.suppress(MlflowException):  # the alias was not set
            client.delete_registered_model_alias(model_name, alias)


def mlflow_aliases(model_name: str) -> dict[str, str]:
    """Alias -> MLflow version, as the MLflow registry has them now."""
    model = _mlflow_client().get_registered_model(model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}
