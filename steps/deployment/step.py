"""ZenML steps: switch the stable endpoint to a version (deploy, rollback).

Both reach serving only through the active stack's model deployer (see
steps/deployment/platform.py); the switch itself is the plain function
:func:`steps.deployment.rollout.switch_to`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pandas as pd
from zenml import save_artifact, step
from zenml.types import HTMLString

from configs.schema import RunConfig
from steps.deployment.candidates import load_version
from steps.deployment.interrupted import record_interruptions, record_stopped_deploy
from steps.deployment.loadtest import LoadTestResult
from steps.deployment.platform import active_splitter
from steps.deployment.release_checks import (
    checks_before_full_traffic,
    load_test_dir,
    rejection_record,
)
from steps.deployment.rollback import plan_rollback, rollback_record
from steps.deployment.rollout import switch_to
from steps.promotion.evaluation import CandidateEvaluation
from steps.promotion.stages import (
    TAG_DECISION,
    TAG_REASON,
    TAG_REJECTED_BY,
    VersionRef,
    configure_mlflow_from_stack,
    get_version,
    now,
    record_on_version,
    set_stage,
    sync_mlflow,
    tag_mlflow_version,
    version_in_stage,
)

logger = logging.getLogger(__name__)

def _switch_summary(result: Any) -> dict[str, Any]:
    return {
        "endpoint": result.endpoint,
        "serving": result.serving,
        "replaced": result.replaced or "none",
        "retired": result.retired,
        "smoke_test_rows": result.smoke.rows,
    }


@step(enable_cache=False)
def serve_challenger(
    config: RunConfig, evaluation: CandidateEvaluation, compared_rows: pd.DataFrame
) -> Annotated[dict[str, Any], "rollout"]:
    """Serve the staged challenger beside the champion, smoke-test it, switch, retire the old.

    On any failure the champion keeps (or gets back) every request, the
    challenger's server is stopped and ZenML and MLflow agree again.
    """
    name = config.model.name
    configure_mlflow_from_stack()
    splitter = active_splitter()
    for line in record_interruptions(splitter, name):  # a roll-out an earlier deploy left
        logger.warning(line)
    new = get_version(name, evaluation.challenger_version)
    old = version_in_stage(name, "production")
    loaded = load_version(new, train_set=False, holdout_set=False)
    target = loaded.dataset_info.target
    checks = checks_before_full_traffic(
        splitter,
        config.deployment,
        name,
        old.version if old else None,
        compared_rows.drop(columns=[target], errors="ignore"),
        load_test_dir(name, new.version),
        on_report=lambda result: _keep_load_test_report(name, new.version, result),
    )
    try:
        result = switch_to(
            splitter,
            new,
            old,
            loaded.model,
            compared_rows,
            target,
            config.deployment.serving,
            record={"champion_before": old.version if old else "none"},
            before_full_traffic=checks,
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the switch restored routing already
        record_stopped_deploy(new, old.version if old else None)
        raise
    except Exception as error:
        _record_verdict(new, error)
        raise
    return {**_switch_summary(result), **result.checked}


def _keep_load_test_report(model_name: str, version: str, result: LoadTestResult) -> None:
    """Locust's HTML report (a dashboard visualization) and stats as artifacts, pass or fail."""
    tags = [f"v{version}", "passed" if result.passed else "failed"]
    if result.html_path.is_file():
        save_artifact(
            HTMLString(result.html_path.read_text(encoding="utf-8")),
            name=f"{model_name}-load-test",
            tags=tags,
        )
    if result.csv_path.is_file():
        save_artifact(
            pd.read_csv(result.csv_path), name=f"{model_name}-load-test-stats", tags=tags
        )


def _record_verdict(new: VersionRef, error: BaseException) -> None:
    """A load test or canary failure becomes the challenger's recorded verdict."""
    found = rejection_record(error)
    if found is None:
        return
    decision, metadata = found
    if decision == "held":
        set_stage(new, "staging")  # the switch's undo reset it; a held challenger stays staged
        sync_mlflow(new.model_name)
    record_on_version(new, {"release_checks": {**metadata, "at": now()}})
    tag_mlflow_version(
        new,
        {
            TAG_DECISION: decision,
            TAG_REJECTED_BY: str(metadata.get("rejected_by", "")),
            TAG_REASON: str(metadata["reason"])[:5000],
        },
    )


@step(enable_cache=False)
def roll_back(
    config: RunConfig, to_version: str | None, reason: str, who: str, when: str
) -> Annotated[dict[str, Any], "rollback"]:
    """Make the previous production version (or ``to_version``) serve 100% again."""
    name = config.model.name
    configure_mlflow_from_stack()
    plan = plan_rollback(name, to_version)
    loaded = load_version(plan.target, train_set=False, holdout_set=True)
    assert loaded.holdout_set is not None
    record = rollback_record(plan, reason, who, when)
    result = switch_to(
        active_splitter(),
        plan.target,
        plan.current,
        loaded.model,
        loaded.holdout_set.head(config.deployment.serving.smoke_rows),
        loaded.dataset_info.target,
        config.deployment.serving,
        record={"rollback": True, "reason": reason},
    )
    record_on_version(plan.target, {"rollback": record})
    record_on_version(plan.current, {"rolled_back": record})
    return {**_switch_summary(result), **record}
