"""Whole-batch drift statistics: right figures, right bins, cheap representations agree."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from configs.schema import FeatureSpec
from steps.data.synthetic import fraud_feature_specs, generate_transactions
from steps.monitoring import statistics
from steps.monitoring.statistics import (
    ColumnBins,
    ColumnStatistic,
    bin_counts,
    bin_labels,
    column_statistics,
    fit_bins,
    jensen_shannon,
    normed_wasserstein,
    psi,
)

ROWS = 50_000
SPECS = fraud_feature_specs()
CATEGORICAL = [s.name for s in SPECS if s.kind == "categorical"]
NUMERIC = [s.name for s in SPECS if s.kind == "numeric"]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=1)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=2, shift=0.5)


@pytest.fixture(scope="module")
def unshifted() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=2)


def _numeric(name: str) -> FeatureSpec:
    return FeatureSpec(name=name, kind="numeric")


def _categorical(name: str) -> FeatureSpec:
    return FeatureSpec(name=name, kind="categorical")


def _scores(records: list[ColumnStatistic]) -> dict[str, float]:
    return {r.column: r.score for r in records}


# ------------------------------------------------------------ the scores, by hand


def _psi_loop(reference: np.ndarray, current: np.ndarray, floor: float = 1e-4) -> float:
    total = 0.0
    for r, c in zip(reference / reference.sum(), current / current.sum(), strict=True):
        r, c = max(r, floor), max(c, floor)
        total += (c - r) * math.log(c / r)
    return total


def test_psi_matches_a_plain_loop_including_empty_bins():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 1000, 12).astype(np.int64)
    current = rng.integers(0, 1000, 12).astype(np.int64)
    reference[3] = 0
    current[7] = 0
    assert psi(reference, current) == pytest.approx(_psi_loop(reference, current), abs=1e-12)
    assert psi(reference, current, floor=1e-3) == pytest.approx(
        _psi_loop(reference, current, 1e-3), abs=1e-12
    )
    assert psi(reference, reference * 3) == pytest.approx(0.0, abs=1e-15)


def test_jensen_shannon_is_scipys_distance_in_natural_log():
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 1000, 15).astype(np.int64)
    current = rng.integers(0, 1000, 15).astype(np.int64)
    reference[0] = 0
    current[[2, 5]] = 0
    expected = jensenshannon(reference, current)
    assert jensen_shannon(reference, current) == pytest.approx(expected, abs=1e-12)
    # Disjoint supports reach the natural-log maximum sqrt(ln 2).
    assert jensen_shannon([5, 0], [0, 5]) == pytest.approx(math.sqrt(math.log(2)), abs=1e-12)


def _evidently_normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """evidently 0.7.23 _wasserstein_distance_norm, after its NaN/inf cleaning."""
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    norm = max(float(np.std(reference)), 0.001)
    return float(wasserstein_distance(reference, current) / norm)


@pytest.mark.parametrize(("n_reference", "n_current"), [(20_000, 17_321), (3_001, 20_000)])
def test_normed_wasserstein_matches_scipy_on_floats(n_reference, n_current):
    rng = np.random.default_rng(2)
    reference = rng.lognormal(3.0, 1.0, n_reference)
    current = rng.lognormal(3.2, 1.1, n_current)
    expected = _evidently_normed_wasserstein(reference, current)
    assert normed_wasserstein(reference, current) == pytest.approx(expected, rel=1e-9)


def test_normed_wasserstein_matches_scipy_on_ties_and_drops_non_finite():
    rng = np.random.default_rng(3)
    reference = rng.poisson(2.0, 20_000).astype(np.int16)
    current = rng.poisson(2.6, 9_999).astype(np.int16)
    expected = _evidently_normed_wasserstein(reference.astype(float), current.astype(float))
    assert normed_wasserstein(reference, current) == pytest.approx(expected, rel=1e-9)

    dirty = current.astype(np.float64)
    dirty[[0, 10, 20]] = [np.nan, np.inf, -np.inf]
    expected = _evidently_normed_wasserstein(reference.astype(float), dirty)
    assert normed_wasserstein(reference, dirty) == pytest.approx(expected, rel=1e-9)


def test_normed_wasserstein_is_exact_across_chunks(monkeypatch):
    rng = np.random.default_rng(4)
    reference = rng.normal(size=5_003).astype(np.float32)
    current = rng.normal(0.2, 1.0, 20_011).astype(np.float32)
    expected = _evidently_normed_wasserstein(reference.astype(float), current.astype(float))
    monkeypatch.setattr(statistics, "_CHUNK_ROWS", 1_000)
    assert normed_wasserstein(reference, current) == pytest.approx(expected, rel=1e-9)


def test_normed_wasserstein_matches_scipy_on_small_mixed_samples():
    """Sizes from 1 up, either side longer, ties, and mixed dtypes (float32 vs int)."""
    rng = np.random.default_rng(8)
    reference: np.ndarray
    current: np.ndarray
    for trial in range(60):
        n_reference, n_current = (int(n) for n in rng.integers(1, 200, 2))
        if trial % 3 == 0:
            reference = rng.normal(size=n_reference).astype(np.float32)
            current = np.round(rng.normal(0.3, 1.0, n_current), 1)
        elif trial % 3 == 1:
            reference = rng.integers(0, 4, n_reference).astype(np.int8)
            current = rng.integers(0, 6, n_current).astype(np.int16)
        else:
            reference = rng.integers(0, 3, n_reference).astype(np.float64)
            current = rng.integers(0, 3, n_current).astype(np.float32) + np.float32(0.5)
        expected = _evidently_normed_wasserstein(
            reference.astype(np.float64), current.astype(np.float64)
        )
        assert normed_wasserstein(reference, current) == pytest.approx(expected, rel=1e-9)


def test_normed_wasserstein_floors_a_constant_reference_std_like_evidently():
    reference = np.full(100, 5.0)
    current = np.array([5.0, 6.0])
    # W1 = 0.5; std 0 is floored at 0.001.
    assert normed_wasserstein(reference, current) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="current sample has no finite values"):
        normed_wasserstein(reference, np.array([np.nan]))


# --------------------------------------------------- column statistics vs by hand


def test_psi_and_js_on_a_generated_column_match_a_plain_computation(reference, shifted):
    spec = [_numeric("amount")]
    ref = reference["amount"].to_numpy()
    cur = shifted["amount"].to_numpy()
    edges = np.unique(np.quantile(ref.astype(np.float64), np.linspace(0, 1, 11)[1:-1]))
    edges = edges.astype(np.float32)
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10)

    [by_psi] = column_statistics(reference, shifted, spec, "psi")
    [by_js] = column_statistics(reference, shifted, spec, "jensenshannon")
    [by_w] = column_statistics(reference, shifted, spec, "wasserstein")

    assert by_psi.score == pytest.approx(_psi_loop(ref_counts, cur_counts), abs=1e-9)
    assert by_js.score == pytest.approx(jensenshannon(ref_counts, cur_counts), abs=1e-9)
    expected_w = _evidently_normed_wasserstein(ref.astype(np.float64), cur.astype(np.float64))
    assert by_w.score == pytest.approx(expected_w, rel=1e-9)
    assert (by_psi.reference_rows, by_psi.current_rows) == (ROWS, ROWS)


def test_drift_is_flagged_on_the_shifted_columns_only(reference, shifted):
    by_psi = _scores(column_statistics(reference, shifted, SPECS, "psi"))
    by_js = _scores(column_statistics(reference, shifted, SPECS, "jensenshannon"))
    by_w = _scores(column_statistics(reference, shifted, SPECS, "wasserstein"))

    # What shift=0.5 moves most (PSI weighs a few large share moves, so the amount /
    # hour / account-age shifts land between 0.07 and 0.18 with 10 quantile bins).
    strong = {
        "channel",
        "country",
        "is_foreign",
        "card_present",
        "distance_from_home_km",
        "txn_count_24h",
        "device_score",
    }
    assert {c for c, s in by_psi.items() if s > 0.2} == strong
    assert {"amount", "hour_of_day", "device_score", "channel", "country"} <= {
        c for c, s in by_js.items() if s > 0.1
    }
    shifted_numeric = {
        "amount",
        "avg_amount_30d",
        "is_foreign",
        "distance_from_home_km",
        "hour_of_day",
        "account_age_days",
        "txn_count_24h",
        "minutes_since_last_txn",
        "failed_attempts_24h",
        "device_score",
    }
    assert shifted_numeric <= {c for c, s in by_w.items() if s > 0.1}
    for unshifted_column in ("day_of_week", "customer_age"):
        assert by_psi[unshifted_column] < 0.01
        assert by_js[unshifted_column] < 0.05
        assert by_w[unshifted_column] < 0.05


def test_no_column_drifts_without_shift(reference, unshifted):
    by_psi = _scores(column_statistics(reference, unshifted, SPECS, "psi"))
    assert set(by_psi) == {s.name for s in SPECS}
    assert max(by_psi.values()) < 0.1


def test_wasserstein_falls_back_to_js_on_categories_and_text_is_skipped(reference, shifted):
    specs = [_numeric("amount"), _categorical("channel"), FeatureSpec(name="note", kind="text")]
    records = column_statistics(reference, shifted, specs, "wasserstein")
    assert [(r.column, r.kind, r.method) for r in records] == [
        ("amount", "numeric", "wasserstein"),
        ("channel", "categorical", "jensenshannon"),
    ]
    [js] = column_statistics(reference, shifted, [_categorical("channel")], "jensenshannon")
    assert records[1].score == js.score


def test_records_are_json_and_count_missing_values(reference, shifted):
    current = shifted.head(1_000).copy()
    current.loc[current.index[:100], "amount"] = np.nan
    current["channel"] = current["channel"].astype(object)
    current.loc[current.index[:250], "channel"] = None
    for method in ("psi", "wasserstein"):
        records = column_statistics(
            reference, current, [_numeric("amount"), _categorical("channel")], method
        )
        amount, channel = records
        assert (amount.current_rows, amount.current_missing_share) == (900, 0.1)
        assert (channel.current_rows, channel.current_missing_share) == (750, 0.25)
        assert amount.reference_missing_share == 0.0
        assert ColumnStatistic.model_validate_json(amount.model_dump_json()) == amount


# ------------------------------------------------------------------------ binning


def test_counts_add_up_across_chunks(reference):
    frame = reference.copy()
    frame.loc[frame.index[::97], "amount"] = np.nan
    fitted = fit_bins(reference, SPECS)
    for name, column_bins in fitted.items():
        whole = bin_counts(column_bins, frame[name])
        parts = bin_counts(column_bins, frame[name].iloc[:12_345]) + bin_counts(
            column_bins, frame[name].iloc[12_345:]
        )
        np.testing.assert_array_equal(whole, parts, err_msg=name)
        assert whole.dtype == np.int64
        assert whole.sum() == len(frame)
        assert len(whole) == column_bins.size == len(bin_labels(column_bins))


def test_internal_chunking_gives_the_same_counts(reference, monkeypatch):
    fitted = fit_bins(reference, SPECS)
    expected = {name: bin_counts(b, reference[name]) for name, b in fitted.items()}
    monkeypatch.setattr(statistics, "_CHUNK_ROWS", 4_096)
    for name, column_bins in fitted.items():
        np.testing.assert_array_equal(bin_counts(column_bins, reference[name]), expected[name])


def test_csv_batch_gives_the_same_figures_as_the_frame(reference, shifted):
    """Categoricals become object strings, float32 becomes float64, int8 becomes int64."""
    current = shifted.head(5_000)
    buffer = io.StringIO()
    current.to_csv(buffer, index=False)
    buffer.seek(0)
    from_csv = pd.read_csv(buffer)
    assert from_csv["channel"].dtype == object and from_csv["amount"].dtype == np.float64

    fitted = fit_bins(reference, SPECS)
    for name, column_bins in fitted.items():
        np.testing.assert_array_equal(
            bin_counts(column_bins, from_csv[name]), bin_counts(column_bins, current[name]), name
        )
    assert fit_bins(pd.read_csv(io.StringIO(reference.to_csv(index=False))), SPECS) == fitted
    for method in ("psi", "jensenshannon"):
        assert column_statistics(reference, from_csv, SPECS, method) == column_statistics(
            reference, current, SPECS, method
        )


def test_object_strings_and_categorical_give_the_same_counts():
    values = ["a", "b", None, "c", "a", "zz", "b", "a"]
    reference = pd.DataFrame({"col": pd.Categorical(["a", "b", "c", "a"])})
    [column_bins] = fit_bins(reference, [_categorical("col")]).values()
    assert column_bins.values == ["a", "b", "c"]
    as_object = bin_counts(column_bins, pd.Series(values, dtype=object))
    as_category = bin_counts(column_bins, pd.Series(pd.Categorical(values)))
    # a, b, c, other (zz), missing (None)
    np.testing.assert_array_equal(as_object, [3, 2, 1, 1, 1])
    np.testing.assert_array_equal(as_category, as_object)
    assert bin_labels(column_bins) == ["a", "b", "c", "other", "missing"]


def test_numeric_codes_of_a_categorical_match_their_csv_form():
    reference = pd.DataFrame({"zip": np.array([10001, 10002, 10001])})
    [column_bins] = fit_bins(reference, [_categorical("zip")]).values()
    assert column_bins.values == ["10001", "10002"]
    with_gap = pd.Series([10001.0, np.nan, 10002.0, 99999.0])  # read from CSV with a blank
    np.testing.assert_array_equal(bin_counts(column_bins, with_gap), [1, 1, 1, 1])


def test_nan_and_inf_go_to_the_missing_bin_and_unseen_values_to_other():
    reference = pd.DataFrame({"n": np.array([0, 1, 2, 2, 3], dtype=np.int8)})
    [column_bins] = fit_bins(reference, [_numeric("n")]).values()
    assert (column_bins.kind, column_bins.values) == ("values", [0.0, 1.0, 2.0, 3.0])
    current = pd.Series([0.0, 2.0, 7.0, np.nan, np.inf, 2.5, None])
    np.testing.assert_array_equal(bin_counts(column_bins, current), [1, 0, 1, 0, 2, 3])
    nullable = pd.Series([0, 7, None], dtype="Int64")
    np.testing.assert_array_equal(bin_counts(column_bins, nullable), [1, 0, 0, 0, 1, 1])


def test_quantile_bins_are_right_closed_with_missing_last():
    reference = pd.DataFrame({"x": np.arange(100, dtype=np.float32)})
    [column_bins] = fit_bins(reference, [_numeric("x")], bins=4).values()
    assert column_bins.kind == "quantiles"
    assert column_bins.edges == [24.75, 49.5, 74.25]
    current = pd.Series([-1e9, 24.75, 24.76, 49.5, 1e9, np.nan, -np.inf])
    np.testing.assert_array_equal(bin_counts(column_bins, current), [2, 2, 0, 1, 2])
    assert bin_labels(column_bins)[0] == "(-inf, 24.75]"
    assert bin_labels(column_bins)[-2:] == ["(74.25, inf)", "missing"]


@pytest.mark.parametrize("bins", [10, 100])
def test_quantile_counts_match_searchsorted_for_few_and_many_edges(bins):
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=30_000)})
    [column_bins] = fit_bins(reference, [_numeric("x")], bins=bins).values()
    assert len(column_bins.edges) == bins - 1
    current = rng.normal(0.1, 1.0, 10_000).astype(np.float32)
    edges = np.asarray(column_bins.edges, dtype=np.float32)
    expected = np.bincount(np.searchsorted(edges, current, side="left"), minlength=bins)
    np.testing.assert_array_equal(bin_counts(column_bins, pd.Series(current))[:-1], expected)


def test_value_counts_match_for_few_and_many_values():
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"x": rng.integers(0, 80, 20_000)})
    for max_distinct, kind in ((20, "quantiles"), (100, "values")):
        [column_bins] = fit_bins(reference, [_numeric("x")], max_distinct=max_distinct).values()
        assert column_bins.kind == kind
    current = pd.Series(rng.integers(0, 90, 5_000))
    counts = bin_counts(column_bins, current)
    expected = np.bincount(current, minlength=90)
    np.testing.assert_array_equal(counts[:80], expected[:80])
    assert counts[80] == expected[80:].sum()  # other: values the reference never had


def test_binary_zero_inflated_and_count_columns_get_one_bin_per_value_and_real_psi():
    rng = np.random.default_rng(7)
    n = 20_000
    continuous = rng.exponential(5.0, n)
    reference = pd.DataFrame(
        {
            "flag": (rng.random(n) < 0.1).astype(np.int8),
            "count": rng.poisson(0.3, n).astype(np.int16),
            "zero_inflated": np.where(rng.random(n) < 0.7, 0.0, continuous),
        }
    )
    current = pd.DataFrame(
        {
            "flag": (rng.random(n) < 0.2).astype(np.int8),
            "count": rng.poisson(0.6, n).astype(np.int16),
            "zero_inflated": np.where(rng.random(n) < 0.5, 0.0, continuous),
        }
    )
    specs = [_numeric(c) for c in reference.columns]
    fitted = fit_bins(reference, specs)
    assert fitted["flag"].values == [0.0, 1.0]
    assert fitted["count"].kind == "values"
    # 70 % zeros: the first seven deciles collapse into one edge, (-inf, 0] holds the zeros.
    assert fitted["zero_inflated"].kind == "quantiles"
    assert fitted["zero_inflated"].edges[0] == 0.0
    assert len(fitted["zero_inflated"].edges) == 3
    by_psi = _scores(column_statistics(reference, current, specs, "psi"))
    assert by_psi["flag"] > 0.05
    assert by_psi["count"] > 0.1
    assert by_psi["zero_inflated"] > 0.1
    assert max(_scores(column_statistics(reference, reference, specs, "psi")).values()) == 0.0


def test_bins_are_recorded_as_json():
    reference = pd.DataFrame(
        {"x": np.linspace(0.0, 1.0, 1_000), "c": ["1", "2"] * 500, "n": [0, 1] * 500}
    )
    specs = [_numeric("x"), _categorical("c"), _numeric("n")]
    for column_bins in fit_bins(reference, specs).values():
        assert ColumnBins.model_validate_json(column_bins.model_dump_json()) == column_bins
    with pytest.raises(ValueError, match="strictly increasing"):
        ColumnBins(column="x", kind="quantiles", edges=[1.0, 1.0])
    with pytest.raises(ValueError, match="take no edges"):
        ColumnBins(column="x", kind="values", edges=[1.0], values=[1.0])


# ----------------------------------------------------------------------- bad input


def test_a_missing_column_is_named(reference, shifted):
    with pytest.raises(ValueError, match="current batch has no column 'channel'"):
        column_statistics(reference, shifted.drop(columns=["channel"]), SPECS)


def test_an_empty_batch_is_refused(reference, shifted):
    with pytest.raises(ValueError, match="current batch has no rows"):
        column_statistics(reference, shifted.head(0), SPECS)
    with pytest.raises(ValueError, match="reference has no rows"):
        column_statistics(reference.head(0), shifted, SPECS)


def test_an_all_missing_column_is_named(reference, shifted):
    current = shifted.head(100).copy()
    current["amount"] = np.nan
    for method in ("psi", "wasserstein"):
        with pytest.raises(ValueError, match="'amount' has no non-missing values in the current"):
            column_statistics(reference, current, [_numeric("amount")], method)


def test_text_in_a_numeric_column_is_named(reference):
    current = pd.DataFrame({"amount": ["12.5", "lots"]})
    for method in ("psi", "wasserstein"):
        with pytest.raises(ValueError, match="'amount' is declared numeric"):
            column_statistics(reference, current, [_numeric("amount")], method)


def test_nullable_integers_are_scored_like_numpy_integers(reference):
    plain = reference[["account_age_days"]].head(2_000)
    nullable = plain.astype("Int64")
    spec = [_numeric("account_age_days")]
    for method in ("psi", "wasserstein"):
        assert column_statistics(reference, nullable, spec, method) == column_statistics(
            reference, plain, spec, method
        )


def test_an_unknown_method_is_refused(reference):
    with pytest.raises(ValueError, match="unknown drift method 'ks'"):
        column_statistics(reference, reference, SPECS, "ks")  # type: ignore[arg-type]


def test_counts_must_be_comparable():
    with pytest.raises(ValueError, match="one length"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="all zero"):
        jensen_shannon([0, 0], [1, 2])
