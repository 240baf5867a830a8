"""Roll-outs cut off by a dead deploy, carried into the model registry by the next command.

The splitter's surviving side (the local guard, or the Seldon flavor on the next call)
restores routing and keeps an :class:`~stacks.flavors.traffic.Interruption`; it has no
ZenML. The next ``deploy``, ``--status`` or ``--serve`` records each one on its version
(``rollout_interrupted`` metadata, MLflow tag ``deployment.decision: interrupted``), puts
the stages back the way the routing is (the champion production, the challenger staging:
it was not rejected and may be deployed again), and says so.
"""

from __future__ import annotations

from stacks.flavors.traffic import Interruption, TrafficSplitter
from steps.promotion.stages import (
    TAG_DECISION,
    TAG_REASON,
    VersionRef,
    all_versions,
    now,
    record_on_version,
    set_stage,
    sync_mlflow,
    tag_mlflow_version,
)


def record_interruptions(splitter: TrafficSplitter, model_name: str) -> list[str]:
    """Write every interruption not yet recorded to ZenML and MLflow; one line each for the user."""
    pending = splitter.recover_rollout(model_name)
    if not pending:
        return []
    versions = {ref.version: ref for ref in all_versions(model_name)}
    lines = []
    for interruption in pending:
        ref = versions.get(interruption.version)
        if ref is not None:
            _restore_stages(interruption, versions)
            record_on_version(ref, {"rollout_interrupted": _metadata(interruption)})
            tag_mlflow_version(
                ref, {TAG_DECISION: "interrupted", TAG_REASON: interruption.reason[:5000]}
            )
        lines.append(f"Interrupted roll-out: {interruption.reason} (at {interruption.at}).")
    sync_mlflow(model_name)
    splitter.mark_recorded(model_name, {i.version for i in pending})
    return lines


def record_stopped_deploy(ref: VersionRef, champion: str | None) -> None:
    """A deploy stopped by Ctrl-C or SIGTERM (routing already restored): the version says so.

    Without it the newest decision on record would be the gates' "cleared for
    roll-out", as if the version were on its way to production.
    """
    interruption = Interruption(
        version=ref.version,
        champion=champion,
        at=now(),
        reason=(
            f"the deploy of version {ref.version} was stopped (Ctrl-C or SIGTERM) during its "
            "roll-out; every request went back to "
            + (f"version {champion}" if champion else "no version")
            + f" and version {ref.version}'s servers were stopped; it may be deployed again"
        ),
        recorded=True,
    )
    record_on_version(ref, {"rollout_interrupted": _metadata(interruption)})
    tag_mlflow_version(ref, {TAG_DECISION: "interrupted", TAG_REASON: interruption.reason})


def _restore_stages(interruption: Interruption, versions: dict[str, VersionRef]) -> None:
    """The champion production again if the dead deploy had moved it (the challenger staged).

    A challenger the dead deploy had not yet promoted keeps its stage (``staging``
    from the deploy's own staging step): moving it there now could take the stage
    from the version a new deploy has just staged.
    """
    challenger = versions[interruption.version]
    champion = versions.get(interruption.champion or "")
    if champion is not None and champion.stage != "production":
        set_stage(champion, "production")
    if challenger.stage == "production" or (
        champion is not None and champion.stage != "production"
    ):
        set_stage(challenger, "staging")


def _metadata(interruption: Interruption) -> dict[str, object]:
    return {
        "at": interruption.at,
        "reason": interruption.reason,
        "champion": interruption.champion or "none",
        "decision": "interrupted",
    }
