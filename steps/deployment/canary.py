"""The canary: the challenger gets a growing share of real traffic while the splitter watches.

Each step routes a share of new requests to the challenger, waits for a
window in which it has answered enough of them, and compares what the
splitter itself counted for both versions over that window (the same
requests' clients, the same minutes): the challenger's error rate may exceed
the champion's by at most a configured margin, and its response time must
stay under a limit. As in Flagger and Argo Rollouts, a failed check is
repeated on a fresh window and only a configured number of failures in a row
rolls back; a window that collects too few requests is not a pass, and the
config decides whether that rolls back or holds the promotion.

Errors count 4xx as well as 5xx: MLflow's scoring server answers a model
that raises with 400, so a 5xx-only rule would promote a model that fails
on every request. Client mistakes (bad JSON, wrong columns) get a 4xx from
either version alike, which is why the rule compares with the champion
rather than with zero.

Everything here reaches serving only through the :class:`TrafficSplitter`
protocol (HAProxy's ``show stat`` locally, Prometheus on Seldon); the rules
are plain functions of figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from configs.schema import CanaryConfig
from stacks.flavors.traffic import TrafficCounters, TrafficSplitter

logger = logging.getLogger(__name__)

Outcome = Literal["pass", "fail", "too_little_traffic"]


@dataclass(frozen=True)
class WindowFigures:
    """One version's requests, errors and response time over one window."""

    version: str
    requests: int
    errors: int  # 4xx + 5xx answered in the window
    latency_ms: float | None  # the splitter's recent mean response time at the window's end

    @property
    def error_rate(self) -> float:
        """Errors per request in the window (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class CheckVerdict:
    """What one window says about the challenger, and why, in words a reviewer reads."""

    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class CheckRecord:
    """One check of one step, as recorded on the challenger's version."""

    step: int  # 1-based
    share: int  # challenger's percent of new requests
    check: int  # 1-based within the step
    outcome: Outcome
    reason: str
    seconds: float
    challenger: WindowFigures
    champion: WindowFigures

    def as_metadata(self) -> dict[str, object]:
        """A JSON-friendly dict (ZenML metadata, MLflow tags)."""
        record = asdict(self)
        record["challenger"]["error_rate"] = round(self.challenger.error_rate, 6)
        record["champion"]["error_rate"] = round(self.champion.error_rate, 6)
        record["seconds"] = round(self.seconds, 2)
        return record


class CanaryError(RuntimeError):
    """The canary ended without promoting the challenger; ``checks`` says what it saw."""

    def __init__(self, message: str, checks: list[CheckRecord]) -> None:
        super().__init__(message)
        self.checks = checks


class CanaryRolledBackError(CanaryError):
    """The challenger breached a limit (or drew too little traffic, if so configured)."""


class CanaryHeldError(CanaryError):
    """Too little traffic to judge and the config says hold: not promoted, not rejected."""


def window_figures(
    before: Mapping[str, TrafficCounters], after: Mapping[str, TrafficCounters], version: str
) -> WindowFigures:
    """The difference of two reads of the splitter's cumulative counters, for one version.

    A version missing from a read counts as zero; a counter that went down
    (the splitter restarted in between) counts from zero, never negative.
    """
    end = after.get(version)
    if end is None:
        return WindowFigures(version=version, requests=0, errors=0, latency_ms=None)
    start = before.get(version) or TrafficCounters(version, 0, 0, 0)
    if end.requests < start.requests:
        start = TrafficCounters(version, 0, 0, 0)
    errors = (end.responses_4xx - start.responses_4xx) + (end.responses_5xx - start.responses_5xx)
    return WindowFigures(
        version=version,
        requests=end.requests - start.requests,
        errors=max(errors, 0),
        latency_ms=end.recent_latency_ms,
    )


def judge_window(
    challenger: WindowFigures, champion: WindowFigures, config: CanaryConfig
) -> CheckVerdict:
    """The canary's rule for one window: enough traffic, errors near the champion's, fast enough."""
    if challenger.requests < config.min_requests:
        return CheckVerdict(
            "too_little_traffic",
            f"version {challenger.version} answered {challenger.requests} requests in the window, "
            f"fewer than min_requests {config.min_requests}",
        )
    allowed = champion.error_rate + config.max_error_rate_increase
    if challenger.error_rate > allowed:
        return CheckVerdict(
            "fail",
            f"error rate {challenger.error_rate:.2%} ({challenger.errors}/{challenger.requests}) "
            f"> champion's {champion.error_rate:.2%} ({champion.errors}/{champion.requests}) "
            f"+ {config.max_error_rate_increase:.2%}",
        )
    if challenger.latency_ms is not None and challenger.latency_ms > config.max_latency_ms:
        return CheckVerdict(
            "fail",
            f"response time {challenger.latency_ms:.0f} ms > limit {config.max_latency_ms:.0f} ms "
            f"(champion {_ms(champion.latency_ms)})",
        )
    return CheckVerdict(
        "pass",
        f"error rate {challenger.error_rate:.2%} vs champion's {champion.error_rate:.2%}, "
        f"response time {_ms(challenger.latency_ms)} (limit {config.max_latency_ms:.0f} ms), "
        f"{challenger.requests} requests",
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


@dataclass(frozen=True)
class Clock:
    """Time as the canary sees it; tests pass a fake one to check the loop's decisions fast."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def collect_window(
    splitter: TrafficSplitter,
    model_name: str,
    champion: str,
    challenger: str,
    config: CanaryConfig,
    clock: Clock,
) -> tuple[WindowFigures, WindowFigures, float]:
    """Wait until the challenger has answered ``min_requests`` or ``max_wait`` has passed.

    Returns the challenger's and the champion's figures over the window, and
    its length in seconds. Progress is logged about every 10 seconds.
    """
    started = clock.now()
    before = splitter.traffic_counters(model_name)
    last_report = started
    while True:
        clock.sleep(config.poll_interval)
        after = splitter.traffic_counters(model_name)
        mine = window_figures(before, after, challenger)
        elapsed = clock.now() - started
        if mine.requests >= config.min_requests or elapsed >= config.max_wait:
            return mine, window_figures(before, after, champion), elapsed
        if clock.now() - last_report >= 10:
            logger.info(
                "  waiting for traffic: %d of %d requests to version %s after %.0f s (max %.0f s)",
                mine.requests,
                config.min_requests,
                challenger,
                elapsed,
                config.max_wait,
            )
            last_report = clock.now()


def run_canary(
    splitter: TrafficSplitter,
    model_name: str,
    champion: str,
    challenger: str,
    config: CanaryConfig,
    clock: Clock | None = None,
) -> list[CheckRecord]:
    """Widen the challenger's share step by step; every check's record if all steps pass.

    Leaves the routing at the last step's weights on success (the caller
    switches to 100%); on a breach raises :class:`CanaryRolledBackError`, on
    too little traffic the configured error, with the routing as it is: the
    caller's restore sends every request back to the champion.
    """
    clock = clock or Clock()
    checks: list[CheckRecord] = []
    for step, share in enumerate(config.steps, start=1):
        splitter.set_weights(model_name, {champion: 100 - share, challenger: share})
        logger.info(
            "Canary step %d of %d: %d%% of requests to version %s, %d%% to version %s",
            step, len(config.steps), share, challenger, 100 - share, champion,
        )
        failures = 0
        while True:
            mine, theirs, seconds = collect_window(
                splitter, model_name, champion, challenger, config, clock
            )
            verdict = judge_window(mine, theirs, config)
            record = CheckRecord(
                step=step,
                share=share,
                check=failures + 1,
                outcome=verdict.outcome,
                reason=verdict.reason,
                seconds=seconds,
                challenger=mine,
                champion=theirs,
            )
            checks.append(record)
            logger.info("  check %d: %s (%s)", record.check, verdict.outcome, verdict.reason)
            if verdict.outcome == "pass":
                break
            if verdict.outcome == "too_little_traffic":
                raise _too_little_traffic(config, challenger, share, verdict.reason, checks)
            failures += 1
            if failures >= config.max_failed_checks:
                raise CanaryRolledBackError(
                    f"canary of version {challenger} failed {failures} check(s) in a row at "
                    f"{share}% of traffic: {verdict.reason}; every request goes back to "
                    f"version {champion}",
                    checks,
                )
    return checks


def _too_little_traffic(
    config: CanaryConfig, challenger: str, share: int, reason: str, checks: list[CheckRecord]
) -> CanaryError:
    what = (
        f"canary of version {challenger} at {share}% could not be judged: {reason} within "
        f"max_wait {config.max_wait:.0f} s"
    )
    if config.too_little_traffic == "hold":
        return CanaryHeldError(
            f"{what}; every request goes back to the champion and version {challenger} stays "
            "in staging (deployment.canary.too_little_traffic: hold): deploy it again when the "
            "endpoint has traffic (python run.py --replay sends holdout rows)",
            checks,
        )
    return CanaryRolledBackError(
        f"{what}; rolled back (deployment.canary.too_little_traffic: rollback)", checks
    )
