"""Rollback: make a former production version serve 100% again, with who, when and why.

The target is ``--to-version`` or the version the current champion replaced
(recorded when it was promoted), else the newest archived one. It goes
through the same switch as a deploy (its server started if needed,
smoke-tested on its own holdout rows, then all traffic), so a rollback cannot
leave the endpoint worse than it found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steps.promotion.stages import (
    UnknownVersionError,
    VersionRef,
    all_versions,
    version_in_stage,
)


@dataclass(frozen=True)
class RollbackPlan:
    """From which production version to which earlier one."""

    current: VersionRef
    target: VersionRef


def _replaced_version(current: VersionRef) -> str | None:
    from zenml.client import Client

    version = Client().get_model_version(current.model_name, current.version)
    record: Any = version.run_metadata.get("deployment")
    if isinstance(record, dict):
        replaced = record.get("replaced_version")
        if replaced and replaced != "none":
            return str(replaced)
    return None


def plan_rollback(model_name: str, to_version: str | None) -> RollbackPlan:
    """Which version to roll back to; UnknownVersionError (exit 2) if there is none to."""
    current = version_in_stage(model_name, "production")
    if current is None:
        raise UnknownVersionError(
            f"model '{model_name}' has no production version: nothing to roll back from"
        )
    versions = {v.version: v for v in all_versions(model_name)}
    wanted = to_version or _replaced_version(current)
    if wanted is None:
        archived = [v for v in versions.values() if v.stage == "archived"]
        if not archived:
            raise UnknownVersionError(
                f"model '{model_name}': version {current.version} is the first production "
                "version; there is no earlier one to roll back to (use --to-version N)"
            )
        wanted = archived[-1].version
    target = versions.get(str(wanted))
    if target is None:
        raise UnknownVersionError(
            f"--to-version {wanted}: model '{model_name}' has no such version "
            f"(versions: {', '.join(versions)})"
        )
    if target.mlflow_version is None:
        raise UnknownVersionError(
            f"--to-version {wanted}: version {wanted} never passed the training gates"
        )
    if target.version == current.version:
        raise UnknownVersionError(
            f"--to-version {wanted}: version {wanted} already is the production version"
        )
    return RollbackPlan(current=current, target=target)


def rollback_record(plan: RollbackPlan, reason: str, who: str, when: str) -> dict[str, Any]:
    """What a rollback records on the version it brings back (and the one it replaces)."""
    return {
        "rolled_back_from": plan.current.version,
        "rolled_back_to": plan.target.version,
        "reason": reason,
        "by": who,
        "at": when,
    }
