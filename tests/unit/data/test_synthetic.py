"""The synthetic fraud generator: reproducible, bounded, learnable, and drifting on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions

ROWS = 20_000


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=3)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=4, shift=1.0)


def test_same_arguments_give_identical_frames():
    first = generate_transactions(3_000, seed=7, fraud_rate=0.02, shift=0.4)
    second = generate_transactions(3_000, seed=7, fraud_rate=0.02, shift=0.4)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_another_seed_gives_other_data():
    first = generate_transactions(3_000, seed=7)
    other = generate_transactions(3_000, seed=8)
    assert not first["amount"].equals(other["amount"])


def test_columns_follow_the_specs_and_end_with_the_target(reference):
    names = [spec.name for spec in fraud_feature_specs()]
    assert list(reference.columns) == [*names, FRAUD_TARGET]
    assert len(names) >= 15


def test_dtypes_are_compact_and_categoricals_are_category(reference):
    for spec in fraud_feature_specs():
        dtype = reference[spec.name].dtype
        if spec.kind == "categorical":
            assert isinstance(dtype, pd.CategoricalDtype), spec.name
            assert list(dtype.categories) == spec.allowed, spec.name
        else:
            assert spec.kind == "numeric"
            assert dtype.kind in "if" and dtype.itemsize <= 4, (spec.name, dtype)
    assert reference[FRAUD_TARGET].dtype == np.int8
    assert set(reference[FRAUD_TARGET].unique()) == {0, 1}
    assert "object" not in {str(dtype) for dtype in reference.dtypes}


@pytest.mark.parametrize("fraud_rate", [0.01, 0.05, 0.2])
def test_fraud_rate_is_close_to_the_requested_rate(fraud_rate):
    df = generate_transactions(10_000, seed=1, fraud_rate=fraud_rate)
    assert df[FRAUD_TARGET].mean() == pytest.approx(fraud_rate, rel=0.1)


def test_shift_raises_the_fraud_rate_somewhat(reference, shifted):
    base, drifted = reference[FRAUD_TARGET].mean(), shifted[FRAUD_TARGET].mean()
    assert base * 1.2 < drifted < base * 2.0


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_every_value_is_within_the_declared_rules(shift):
    df = generate_transactions(ROWS, seed=5, fraud_rate=0.05, shift=shift)
    assert not df.isna().any().any()
    for spec in fraud_feature_specs():
        column = df[spec.name]
        if spec.kind == "numeric":
            assert column.min() >= spec.min, spec.name
            assert column.max() <= spec.max, spec.name
        else:
            assert spec.allowed is not None
            assert set(column.astype(str).unique()) <= set(spec.allowed), spec.name


def test_numeric_bounds_are_exact_in_float32():
    """A float32 value clipped to a bound must compare equal to the bound in the rule."""
    for spec in fraud_feature_specs():
        for bound in (spec.min, spec.max):
            if bound is not None:
                assert float(np.float32(bound)) == bound, spec.name


def test_small_and_empty_frames_work():
    assert len(generate_transactions(0)) == 0
    tiny = generate_transactions(10, seed=1)
    assert len(tiny) == 10
    assert tiny[FRAUD_TARGET].sum() == 0  # 1 % of 10 rows rounds to no positives


@pytest.mark.parametrize(
    "kwargs",
    [{"rows": -1}, {"rows": 10, "fraud_rate": 0.0}, {"rows": 10, "shift": 1.5}],
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        generate_transactions(**kwargs)


def test_shift_moves_the_distributions_the_documented_way(reference, shifted):
    assert shifted["amount"].median() > 1.5 * reference["amount"].median()
    online = (shifted["channel"] == "online").mean(), (reference["channel"] == "online").mean()
    assert online[0] > online[1] + 0.3
    assert shifted["is_foreign"].mean() > reference["is_foreign"].mean() + 0.15
    night = [(df["hour_of_day"] <= 5).mean() for df in (shifted, reference)]
    assert night[0] > 2 * night[1]
    assert shifted["account_age_days"].median() < 0.8 * reference["account_age_days"].median()


def _drifted_share(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    """Share of features a typical detector flags (Evidently's large-sample defaults).

    Normalised Wasserstein distance > 0.1 for numeric columns, Jensen-Shannon
    distance > 0.1 for categorical ones.
    """
    drifted = 0
    specs = fraud_feature_specs()
    for spec in specs:
        ref, cur = reference[spec.name], current[spec.name]
        if spec.kind == "categorical":
            p = ref.value_counts(normalize=True).sort_index()
            q = cur.value_counts(normalize=True).reindex(p.index, fill_value=0.0)
            distance = jensenshannon(p.to_numpy(), q.to_numpy())
        else:
            a, b = ref.to_numpy(np.float64), cur.to_numpy(np.float64)
            distance = wasserstein_distance(a, b) / max(float(a.std()), 1e-3)
        drifted += bool(distance > 0.1)
    return drifted / len(specs)


def test_a_drift_detector_sees_drift_from_shift_0_3_and_none_at_0(reference):
    same = generate_transactions(ROWS, seed=30, shift=0.0)
    moved = generate_transactions(ROWS, seed=31, shift=0.3)
    assert _drifted_share(reference, same) == 0.0
    assert _drifted_share(reference, moved) >= 0.5


def test_fraud_is_learnable_but_not_trivially(reference):
    train = generate_transactions(ROWS, seed=11)
    features = [spec.name for spec in fraud_feature_specs()]
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    # One thread: on a shared, busy CI machine OpenMP threads spin and take 10x longer.
    with threadpool_limits(1):
        model.fit(train[features], train[FRAUD_TARGET])
    scores = model.predict_proba(reference[features])[:, 1]
    auc = roc_auc_score(reference[FRAUD_TARGET], scores)
    assert 0.8 < auc < 0.99
