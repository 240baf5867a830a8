"""The monitoring benchmark's plain helpers: the bare PSI it compares ours with, and its parsing.

The bare computation is the peer of ``column_statistics``: if it disagreed, the
benchmark would compare two different statistics, so its agreement with ours is
checked here on the generator's data and on the edge cases (values and categories
the reference never had, missing values, ties on a quantile edge).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import pytest
from monitoring import (
    PhasePeaks,
    _one_call,
    bare_psi,
    mark,
    max_difference,
    parse_sizes,
    parse_step_times,
)

from configs.schema import FeatureSpec
from steps.data.synthetic import fraud_feature_specs, generate_transactions
from steps.monitoring.statistics import column_statistics

SPECS = fraud_feature_specs()
NUMERIC = [s.name for s in SPECS if s.kind == "numeric"]
CATEGORICAL = [s.name for s in SPECS if s.kind == "categorical"]


def _ours(reference: pd.DataFrame, current: pd.DataFrame, specs: list[FeatureSpec]) -> dict:
    return {s.column: s.score for s in column_statistics(reference, current, specs, "psi", 10)}


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_bare_psi_agrees_with_ours_on_the_generators_data(shift):
    reference = generate_transactions(20_000, seed=1)
    current = generate_transactions(30_000, seed=2, shift=shift)
    bare = bare_psi(reference, current, NUMERIC, CATEGORICAL)
    worst, _ = max_difference(_ours(reference, current, SPECS), bare)
    assert worst <= 1e-6
    assert set(bare) == {s.name for s in SPECS}


def test_bare_psi_agrees_on_unseen_values_categories_and_missing_values():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "flag": rng.integers(0, 3, 1000).astype(np.float64),  # 3 values: one bin each
            "amount": np.round(rng.gamma(2.0, 10.0, 1000), 1),  # ties on quantile edges
            "kind": pd.Categorical(rng.choice(["a", "b"], 1000), categories=["a", "b", "c"]),
        }
    )
    current = pd.DataFrame(
        {
            "flag": np.r_[rng.integers(0, 5, 990).astype(np.float64), [np.nan] * 10],
            "amount": np.r_[np.round(rng.gamma(2.5, 12.0, 995), 1), [np.nan] * 5],
            "kind": np.array(["a", "b", "c", "d", None], dtype=object)[rng.integers(0, 5, 1000)],
        }
    )
    specs = [
        FeatureSpec(name="flag", kind="numeric"),
        FeatureSpec(name="amount", kind="numeric"),
        FeatureSpec(name="kind", kind="categorical"),
    ]
    bare = bare_psi(reference, current, ["flag", "amount"], ["kind"])
    ours = _ours(reference, current, specs)
    for name in ours:
        assert bare[name] == pytest.approx(ours[name], abs=1e-9), name
    assert bare["flag"] > 0.1  # values 3 and 4 went to the "other" bin, not nowhere


def test_identical_frames_score_zero():
    frame = generate_transactions(5_000, seed=3)
    assert all(
        v == pytest.approx(0.0, abs=1e-12)
        for v in bare_psi(frame, frame, NUMERIC, CATEGORICAL).values()
    )


def test_max_difference_names_the_worst_column_and_flags_different_columns():
    assert max_difference({"a": 0.1, "b": 0.5}, {"a": 0.1, "b": 0.4}) == (pytest.approx(0.1), "b")
    assert max_difference({"a": 0.1}, {"a": 0.1}) == (0.0, "a")
    worst, where = max_difference({"a": 0.1}, {"b": 0.1})
    assert worst == math.inf and where == "a,b"


def test_parse_sizes():
    assert parse_sizes("10_000_000,100000, 1e6,100000") == [100_000, 1_000_000, 10_000_000]
    assert parse_sizes("") == []
    for bad in ("10", "1.5e3x", "2500.5"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            parse_sizes(bad)


def test_mark():
    assert mark(15.0, 15.0) == "PASS"
    assert mark(15.01, 15.0) == "MISS"
    assert mark(0.8, 0.8, at_least=True) == "PASS"
    assert mark(0.79, 0.8, at_least=True) == "MISS"
    assert mark(math.nan, 1.0) == "MISS"


def test_parse_step_times_reads_zenml_durations():
    log = (
        "Step ingest_batch has started.\n"
        "Step ingest_batch has finished in 12.345s.\n"
        "[   9.139 out] Step `drift_report` has finished in `1m2.500s`.\n"
        "Step batch_gate has finished in 0.051s.\n"
        "Step drift_decision has finished in 1h0m1s.\n"
    )
    assert parse_step_times(log) == {
        "ingest_batch": pytest.approx(12.345),
        "drift_report": pytest.approx(62.5),
        "batch_gate": pytest.approx(0.051),
        "drift_decision": pytest.approx(3601.0),
    }


def test_phase_peaks_attribute_samples_to_the_step_running_then():
    phases = PhasePeaks()
    phases.sample(100)
    phases.feed("Running pipeline monitoring\nStep `ingest_batch` has sta")
    phases.sample(120)  # the line is not complete yet: still start-up
    phases.feed("rted.\n")
    phases.sample(500)
    phases.sample(400)
    phases.feed("Step `ingest_batch` has finished in `4.5s`.\n")
    phases.sample(600)  # after the finish line, before the next step: still the step's
    phases.feed("Step drift_report has started.\n")
    phases.sample(450)
    assert phases.peaks == {"start-up": 120, "ingest_batch": 600, "drift_report": 450}
    assert phases.peak_phase == "ingest_batch"
    assert not phases.baseline_seen
    phases.feed('BASELINE {"baseline_bytes": 1}\n')
    assert phases.baseline_seen
    assert PhasePeaks().peak_phase is None


def test_one_call_reports_what_each_call_adds_even_after_a_larger_one() -> None:
    """The paired inference child measures each call on its own: a big call first must not
    hide a smaller one's memory behind memory the process already holds."""
    mib = 1 << 20

    def allocate(megabytes: int) -> int:
        block = np.ones(megabytes * mib // 8)
        return int(block.size)

    wall, big, _ = _one_call(lambda: allocate(300))
    _, small, size = _one_call(lambda: allocate(100))
    _, nothing, _ = _one_call(lambda: None)
    assert size == 100 * mib // 8
    assert wall > 0
    assert 290 * mib <= big <= 330 * mib
    assert 90 * mib <= small <= 130 * mib
    assert nothing < 20 * mib
