"""What a challenger must survive between its smoke test and all of the traffic.

First a bounded Locust run against the challenger's own server (no client
request has reached it yet), then, when a champion serves, the canary
through the splitter. Both are optional in the config; this module composes
them into the hook :func:`steps.deployment.rollout.switch_to` runs before the
full switch, and turns a failure into what is recorded on the version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from configs.schema import DeploymentConfig
from stacks.flavors.traffic import Backend, TrafficSplitter
from steps.deployment.canary import CanaryError, CanaryHeldError, run_canary
from steps.deployment.loadtest import LoadTestFailedError, LoadTestResult, load_test

logger = logging.getLogger(__name__)

#: Where Locust's CSV and HTML report of a version's load test are kept.
LOAD_TEST_DIR = Path("reports") / "deployment" / "load-tests"


def load_test_dir(model_name: str, version: str, root: Path = LOAD_TEST_DIR) -> Path:
    """``reports/deployment/load-tests/<model>-v<N>/`` (absolute): one folder per version tried."""
    return (root / f"{model_name}-v{version}").resolve()


def load_test_summary(result: LoadTestResult) -> dict[str, object]:
    """The load test's figures and verdict, JSON-friendly, for the version's metadata."""
    figures = result.figures
    return {
        "passed": result.passed,
        "reason": result.reason,
        "requests": figures.requests,
        "failures": figures.failures,
        "error_rate": round(figures.error_rate, 6),
        "p50_ms": round(figures.p50_ms, 2),
        "p99_ms": round(figures.p99_ms, 2),
        "achieved_rps": round(figures.achieved_rps, 2),
        "report": str(result.html_path),
    }


def checks_before_full_traffic(
    splitter: TrafficSplitter,
    deployment: DeploymentConfig,
    model_name: str,
    champion: str | None,
    rows: pd.DataFrame,
    report_dir: Path,
    on_report: Callable[[LoadTestResult], None] | None = None,
) -> Callable[[Backend], Mapping[str, object]]:
    """The hook for ``switch_to``: load test, then canary (each if configured and possible).

    ``rows`` are feature rows (no target) to send; ``on_report`` gets the
    load test's result, pass or fail (the step keeps Locust's reports as artifacts).
    The hook's figures end up in the version's ``deployment`` metadata.
    """

    def run(backend: Backend) -> Mapping[str, object]:
        figures: dict[str, object] = {}
        if deployment.load_test is not None:
            figures["load_test"] = _load_test(backend, deployment, rows, report_dir, on_report)
        if deployment.canary is not None and champion is not None:
            checks = run_canary(
                splitter, model_name, champion, backend.version, deployment.canary
            )
            figures["canary"] = [check.as_metadata() for check in checks]
        elif deployment.canary is not None:
            logger.info("No champion serves: version %s takes all traffic at once", backend.version)
        return figures

    return run


def _load_test(
    backend: Backend,
    deployment: DeploymentConfig,
    rows: pd.DataFrame,
    report_dir: Path,
    on_report: Callable[[LoadTestResult], None] | None,
) -> dict[str, object]:
    config = deployment.load_test
    assert config is not None and backend.url is not None
    logger.info(
        "Load test of version %s on its own server: %.0f req/s for %d s (%d Locust users)",
        backend.version, config.rate, config.duration, config.users,
    )
    try:
        result = load_test(backend.url, backend.protocol, rows, config, report_dir)
    except LoadTestFailedError as error:
        if on_report is not None:
            on_report(error.result)
        raise LoadTestFailedError(
            f"version {backend.version} got no traffic: {error}", error.result
        ) from None
    if on_report is not None:
        on_report(result)
    logger.info("Load test passed: %s", result.reason)
    return load_test_summary(result)


def rejection_record(error: BaseException) -> tuple[str, dict[str, object]] | None:
    """(decision, metadata) to record on the challenger after a load test or canary failure.

    None for any other error (a serving failure is not the challenger's verdict).
    """
    if isinstance(error, LoadTestFailedError):
        return "rejected", {
            "decision": "rejected",
            "rejected_by": "load_test",
            "reason": str(error),
            "load_test": load_test_summary(error.result),
        }
    if isinstance(error, CanaryError):
        decision = "held" if isinstance(error, CanaryHeldError) else "rejected"
        return decision, {
            "decision": decision,
            "rejected_by": "canary" if decision == "rejected" else "",
            "reason": str(error),
            "checks": [check.as_metadata() for check in error.checks],
        }
    return None
