"""Switching the stable endpoint from one version to another, without a failed request.

The order is what keeps clients safe: the new version's server is started
beside the old one at weight 0, smoke-tested on its own URL, then given all
new requests; only then does ZenML's stage move (and MLflow's aliases with
it), and last the old server is drained and stopped. If any step fails, the
routing goes back to the old version, the new server is stopped, and ZenML
and MLflow are made to agree again before the error is raised.

Used by the deployment pipeline (a challenger that passed the gates), by
rollback (a former champion) and by ``--serve`` (production after a reboot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
from sklearn.base import BaseEstimator

from configs.schema import ServingConfig
from stacks.flavors.traffic import Backend, TrafficSplitter, VersionToServe
from steps.deployment.lease import rollout_lease
from steps.deployment.platform import endpoint_settings
from steps.deployment.smoke import SmokeResult, smoke_test
from steps.promotion.stages import (
    VersionRef,
    actor,
    now,
    record_on_version,
    set_stage,
    sync_mlflow,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchResult:
    """What a switch did, for the run's output and the version's metadata."""

    endpoint: str
    serving: str
    replaced: str | None
    smoke: SmokeResult
    retired: list[str] = field(default_factory=list)
    checked: dict[str, object] = field(default_factory=dict)  # before_full_traffic's figures


def switch_to(
    splitter: TrafficSplitter,
    new: VersionRef,
    old: VersionRef | None,
    model: BaseEstimator,
    smoke_rows: pd.DataFrame,
    target: str,
    serving: ServingConfig,
    record: dict[str, object] | None = None,
    before_full_traffic: Callable[[Backend], Mapping[str, object]] | None = None,
) -> SwitchResult:
    """Serve ``new`` at 100% behind the endpoint and make it the production version.

    ``before_full_traffic`` runs after the smoke test and before the switch
    (the load test and the canary); what it returns is recorded with the
    deployment, and an error it raises undoes the switch like any other.

    ``old`` is the current production version (None if there is none). On
    success ``new`` is in stage production, ``old`` archived and its server
    stopped. On failure routing, stages and aliases are as they were before
    (``new`` back to stage ``none`` if it was not production) and the error
    is raised.
    """
    name = new.model_name
    splitter.check_ready()
    endpoint = splitter.open_endpoint(name, endpoint_settings(serving))
    champion = old.version if old else None
    with rollout_lease(splitter, name, champion, new.version, serving.lease_seconds):
        smoke, checked = _switch(
            splitter, new, old, model, smoke_rows, target, serving, endpoint, record,
            before_full_traffic,
        )
    retired = retire_others(splitter, name, keep=new.version, drain_timeout=serving.drain_timeout)
    return SwitchResult(
        endpoint=endpoint,
        serving=new.version,
        replaced=old.version if old else None,
        smoke=smoke,
        retired=retired,
        checked=checked,
    )


def _switch(
    splitter: TrafficSplitter,
    new: VersionRef,
    old: VersionRef | None,
    model: BaseEstimator,
    smoke_rows: pd.DataFrame,
    target: str,
    serving: ServingConfig,
    endpoint: str,
    record: dict[str, object] | None,
    before_full_traffic: Callable[[Backend], Mapping[str, object]] | None,
) -> tuple[SmokeResult, dict[str, object]]:
    """The part of a switch that runs under the roll-out lease; undone on any failure."""
    name = new.model_name
    try:
        backend = splitter.serve_version(
            VersionToServe(model_name=name, version=new.version, model_uri=new.model_uri),
            timeout=serving.startup_timeout,
        )
        smoke = smoke_test(backend, model, smoke_rows, target)
        logger.info("Smoke test passed: %d of %d predictions match", smoke.matching, smoke.rows)
        checked = dict(before_full_traffic(backend)) if before_full_traffic else {}
        splitter.set_weights(name, {new.version: 100})
        set_stage(new, "production")  # ZenML archives the previous holder
        record_on_version(
            new,
            {
                "deployment": {
                    **(record or {}),
                    "serving_since": now(),
                    "promoted_by": actor(),
                    "replaced_version": old.version if old else "none",
                    "endpoint": endpoint,
                    "smoke_test_rows": smoke.rows,
                    **checked,
                }
            },
        )
        sync_mlflow(name)
    except BaseException:
        restore(splitter, new, old, serving)
        raise
    return smoke, checked


def restore(
    splitter: TrafficSplitter, new: VersionRef, old: VersionRef | None, serving: ServingConfig
) -> None:
    """Undo a switch that failed halfway: routing, then stages, then MLflow's mirror.

    Each part is attempted even if an earlier one fails, so as much as can be
    restored is; what could not be is logged (the original error is the one
    the caller raises). A former champion being brought back keeps its
    ``archived`` stage; a challenger goes back to ``none``.
    """
    name = new.model_name
    live = {b.version: b for b in _safe_backends(splitter, name)}
    if old is None:
        if new.version in live:  # nothing served before this attempt
            _attempt(lambda: splitter.shut_down(name), "stop the endpoint")
    else:
        if old.version in live and live[old.version].healthy:
            _attempt(
                lambda: splitter.set_weights(name, {old.version: 100}),
                f"route every request back to version {old.version}",
            )
        if new.version in live and new.version != old.version:
            _attempt(
                lambda: splitter.retire_version(name, new.version, serving.drain_timeout),
                f"stop version {new.version}'s server",
            )
        _attempt(lambda: set_stage(old, "production"), f"restore version {old.version}'s stage")
    if old is None or new.version != old.version:
        previous = "archived" if new.stage == "archived" else "none"
        _attempt(lambda: set_stage(new, previous), f"reset version {new.version}'s stage")
    _attempt(lambda: sync_mlflow(name), "mirror the stages in MLflow")


def retire_others(
    splitter: TrafficSplitter, model_name: str, keep: str, drain_timeout: float
) -> list[str]:
    """Drain and stop every server of the model except ``keep``'s; what was stopped.

    Runs after the switch succeeded, so a server that will not stop is logged
    (``--undeploy`` or the next deploy stops it), not an error: ``keep`` already
    serves every request and is production.
    """
    retired = []
    for backend in splitter.backends(model_name):
        if backend.version == keep:
            continue
        try:
            splitter.retire_version(model_name, backend.version, drain_timeout)
        except Exception as error:
            logger.warning("could not stop version %s's server: %s", backend.version, error)
            continue
        retired.append(backend.version)
    return retired


def _safe_backends(splitter: TrafficSplitter, model_name: str) -> list[Backend]:
    try:
        return splitter.backends(model_name)
    except Exception as error:  # the splitter itself failed: nothing to route
        logger.warning("could not read the endpoint's backends: %s", error)
        return []


def _attempt(action: Callable[[], object], what: str) -> None:
    try:
        action()
    except Exception as error:
        logger.warning("could not %s: %s", what, error)
