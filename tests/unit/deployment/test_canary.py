"""The canary's rules and loop as plain functions.

The loop is driven by a scripted splitter: each read of its counters
advances a simulated clock and adds what the script says the two versions
answered since the last read, so every decision (advance, repeat, roll back,
hold) is checked without waiting. The same loop against real HAProxy is in
tests/e2e/test_canary.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from configs.schema import CanaryConfig
from stacks.flavors.traffic import TrafficCounters
from steps.deployment.canary import (
    CanaryHeldError,
    CanaryRolledBackError,
    Clock,
    WindowFigures,
    judge_window,
    run_canary,
    window_figures,
)


def _config(**overrides: object) -> CanaryConfig:
    base: dict[str, object] = {
        "steps": [10, 50],
        "min_requests": 20,
        "max_wait": 10.0,
        "poll_interval": 1.0,
        "max_error_rate_increase": 0.01,
        "max_latency_ms": 100.0,
        "max_failed_checks": 2,
    }
    return CanaryConfig.model_validate({**base, **overrides})


def _figures(version: str, requests: int, errors: int = 0, latency: float | None = 5.0) -> WindowFigures:
    return WindowFigures(version=version, requests=requests, errors=errors, latency_ms=latency)


# --- window_figures ----------------------------------------------------------------------


def test_window_is_the_difference_of_two_reads() -> None:
    before = {"2": TrafficCounters("2", 100, 3, 1, 4.0)}
    after = {"2": TrafficCounters("2", 160, 5, 4, 9.0)}
    assert window_figures(before, after, "2") == _figures("2", 60, errors=5, latency=9.0)


def test_window_of_a_version_the_first_read_missed_counts_from_zero() -> None:
    after = {"2": TrafficCounters("2", 12, 1, 0, 3.0)}
    assert window_figures({}, after, "2") == _figures("2", 12, errors=1, latency=3.0)


def test_window_after_a_splitter_restart_never_goes_negative() -> None:
    before = {"2": TrafficCounters("2", 500, 10, 10, 4.0)}
    after = {"2": TrafficCounters("2", 30, 2, 0, 4.0)}
    assert window_figures(before, after, "2") == _figures("2", 30, errors=2, latency=4.0)


def test_window_of_a_version_no_longer_counted_is_empty() -> None:
    before = {"2": TrafficCounters("2", 50, 0, 0, 4.0)}
    assert window_figures(before, {}, "2") == _figures("2", 0, latency=None)


# --- judge_window ------------------------------------------------------------------------


def test_too_few_requests_is_not_a_pass() -> None:
    verdict = judge_window(_figures("2", 19), _figures("1", 200), _config())
    assert verdict.outcome == "too_little_traffic"
    assert "19 requests" in verdict.reason and "min_requests 20" in verdict.reason


def test_error_rate_is_judged_against_the_champions_in_the_same_window() -> None:
    config = _config(max_error_rate_increase=0.01)
    # champion 5% (client mistakes both versions get), challenger 5.9%: within 1 point
    assert judge_window(_figures("2", 1000, 59), _figures("1", 1000, 50), config).outcome == "pass"
    verdict = judge_window(_figures("2", 1000, 61), _figures("1", 1000, 50), config)
    assert verdict.outcome == "fail"
    assert "6.10%" in verdict.reason and "5.00%" in verdict.reason


def test_every_error_fails_even_when_the_champion_has_no_requests() -> None:
    verdict = judge_window(_figures("2", 40, 40), _figures("1", 0), _config())
    assert verdict.outcome == "fail"


def test_latency_over_the_limit_fails_and_at_the_limit_passes() -> None:
    config = _config(max_latency_ms=100.0)
    assert judge_window(_figures("2", 50, latency=100.0), _figures("1", 50), config).outcome == (
        "pass"
    )
    verdict = judge_window(_figures("2", 50, latency=250.0), _figures("1", 50), config)
    assert verdict.outcome == "fail" and "250 ms > limit 100 ms" in verdict.reason


# --- run_canary ----------------------------------------------------------------------------


@dataclass
class ScriptedSplitter:
    """Counters that grow by ``per_read(share)`` each read; weights recorded as set."""

    per_read: object  # Callable[[int], dict[str, tuple[int, int, float]]]: share -> version figures
    now: float = 0.0
    weights: list[dict[str, int]] = field(default_factory=list)
    totals: dict[str, list[float]] = field(default_factory=dict)

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        self.weights.append(dict(weights))

    def traffic_counters(self, model_name: str) -> dict[str, TrafficCounters]:
        share = self.weights[-1].get("2", 0)
        for version, (requests, errors, latency) in self.per_read(share).items():  # type: ignore[operator]
            total = self.totals.setdefault(version, [0, 0, 0.0])
            total[0] += requests
            total[1] += errors
            total[2] = latency
        return {
            v: TrafficCounters(v, int(t[0]), int(t[1]), 0, t[2]) for v, t in self.totals.items()
        }

    def clock(self) -> Clock:
        def sleep(seconds: float) -> None:
            self.now += seconds

        return Clock(now=lambda: self.now, sleep=sleep)


def _canary(splitter: ScriptedSplitter, config: CanaryConfig) -> list[object]:
    return list(run_canary(splitter, "m", "1", "2", config, clock=splitter.clock()))  # type: ignore[arg-type]


def _healthy(share: int) -> dict[str, tuple[int, int, float]]:
    """100 requests per second split by share, no errors, 5 ms."""
    return {"2": (share, 0, 5.0), "1": (100 - share, 0, 5.0)}


def test_a_good_challenger_passes_every_step_with_the_configured_weights() -> None:
    splitter = ScriptedSplitter(per_read=_healthy)
    checks = _canary(splitter, _config(steps=[10, 50], min_requests=20))
    assert splitter.weights == [{"1": 90, "2": 10}, {"1": 50, "2": 50}]
    assert [(c.step, c.share, c.outcome) for c in checks] == [(1, 10, "pass"), (2, 50, "pass")]  # type: ignore[attr-defined]
    first = checks[0]
    assert first.challenger.requests >= 20 and first.champion.requests > first.challenger.requests  # type: ignore[attr-defined]


def test_one_failed_check_is_repeated_and_a_recovered_challenger_goes_on() -> None:
    reads = iter(range(10_000))

    def flaky(share: int) -> dict[str, tuple[int, int, float]]:
        read = next(reads)
        errors = 10 if read < 3 else 0  # the first window (reads 1-2) sees errors
        return {"2": (share, errors, 5.0), "1": (100 - share, 0, 5.0)}

    splitter = ScriptedSplitter(per_read=flaky)
    checks = _canary(splitter, _config(steps=[10], min_requests=20, max_failed_checks=2))
    assert [(c.check, c.outcome) for c in checks] == [(1, "fail"), (2, "pass")]  # type: ignore[attr-defined]


def test_consecutive_failures_roll_back_with_every_check_recorded() -> None:
    def failing(share: int) -> dict[str, tuple[int, int, float]]:
        return {"2": (share, share // 2, 5.0), "1": (100 - share, 0, 5.0)}

    splitter = ScriptedSplitter(per_read=failing)
    with pytest.raises(CanaryRolledBackError, match="failed 3 check") as raised:
        _canary(splitter, _config(steps=[10, 50], max_failed_checks=3))
    assert [c.outcome for c in raised.value.checks] == ["fail", "fail", "fail"]
    assert splitter.weights == [{"1": 90, "2": 10}]  # never widened


def test_a_slow_challenger_is_rolled_back_on_latency() -> None:
    def slow(share: int) -> dict[str, tuple[int, int, float]]:
        return {"2": (share, 0, 900.0), "1": (100 - share, 0, 5.0)}

    with pytest.raises(CanaryRolledBackError, match="900 ms > limit 100 ms"):
        _canary(ScriptedSplitter(per_read=slow), _config())


def _quiet(share: int) -> dict[str, tuple[int, int, float]]:
    """One request a second for the whole endpoint: a 10% share never collects 20."""
    return {"2": (1 if share >= 50 else 0, 0, 5.0), "1": (1, 0, 5.0)}


def test_too_little_traffic_rolls_back_when_configured_after_max_wait() -> None:
    splitter = ScriptedSplitter(per_read=_quiet)
    with pytest.raises(CanaryRolledBackError, match="could not be judged") as raised:
        _canary(splitter, _config(too_little_traffic="rollback", max_wait=10.0))
    (check,) = raised.value.checks
    assert check.outcome == "too_little_traffic" and check.seconds == pytest.approx(10.0)


def test_too_little_traffic_holds_when_configured() -> None:
    with pytest.raises(CanaryHeldError, match="stays in staging"):
        _canary(ScriptedSplitter(per_read=_quiet), _config(too_little_traffic="hold"))


def test_a_window_ends_as_soon_as_it_has_enough_requests() -> None:
    splitter = ScriptedSplitter(per_read=_healthy)
    checks = _canary(splitter, _config(steps=[50], min_requests=100, max_wait=60.0))
    assert checks[0].seconds == pytest.approx(2.0)  # type: ignore[attr-defined]


def test_records_are_json_friendly_metadata() -> None:
    import json

    checks = _canary(ScriptedSplitter(per_read=_healthy), _config(steps=[10]))
    record = checks[0].as_metadata()  # type: ignore[attr-defined]
    assert json.loads(json.dumps(record))["challenger"]["error_rate"] == 0.0
    assert record["share"] == 10 and record["outcome"] == "pass"


@pytest.mark.parametrize(
    ("steps", "message"),
    [([50, 10], "strictly increasing"), ([10, 100], "1..99"), ([0], "1..99"), ([], "at least 1")],
)
def test_bad_steps_are_refused_by_the_config(steps: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CanaryConfig.model_validate({"steps": steps})
