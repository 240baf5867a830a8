"""The leakage probe on real public data sets and on planted leaks.

Genuine features of scikit-learn's bundled data sets (some of them very strong) must pass;
a row index of a file sorted by the target, a copy of the target, a label spelled out as a
category and a noisy near-copy must be named. The data sets ship with scikit-learn (no network).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from configs.schema import FeatureSpec, LeakageCheck
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.validation.leakage import LeakFinding, probe_leakage

CONFIG = LeakageCheck()


def numeric(*names: str) -> list[FeatureSpec]:
    return [FeatureSpec(name=name, kind="numeric") for name in names]


def categorical(*names: str) -> list[FeatureSpec]:
    return [FeatureSpec(name=name, kind="categorical") for name in names]


def load(name: str) -> pd.DataFrame:
    loader = getattr(datasets, f"load_{name}")
    return loader(as_frame=True).frame


def features_of(frame: pd.DataFrame, target: str = "target") -> list[FeatureSpec]:
    return numeric(*(c for c in frame.columns if c != target))


def sorted_with_row_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The file as a careless export writes it: sorted by the target, with a row number."""
    ordered = frame.sort_values("target", kind="stable").reset_index(drop=True)
    ordered.insert(0, "row", np.arange(len(ordered)))
    return ordered


def flagged(findings: list[LeakFinding]) -> list[str]:
    return [finding.column for finding in findings]


# --- genuine features are not leaks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "task", "strongest", "low", "high"),
    [
        # setosa is separated perfectly by petal length/width, the other two overlap.
        ("iris", "multiclass", {"petal width (cm)", "petal length (cm)"}, 0.95, 0.99),
        ("breast_cancer", "binary", {"worst perimeter"}, 0.96, 0.99),
        ("wine", "multiclass", {"flavanoids"}, 0.80, 0.95),
        ("diabetes", "regression", {"s5"}, 0.5, 0.7),
    ],
)
def test_genuine_features_of_public_data_sets_are_not_flagged(
    name: str, task: str, strongest: set[str], low: float, high: float
) -> None:
    frame = load(name)
    findings, scores = probe_leakage(frame, features_of(frame), "target", task, CONFIG)
    assert findings == []
    assert set(scores) == {c for c in frame.columns if c != "target"}
    top = max(scores, key=scores.__getitem__)
    assert top in strongest
    assert low < scores[top] < high  # strong, measured, and still below the limit


def test_iris_training_splits_stay_below_the_limit() -> None:
    """The pipeline probes the training split, not the whole file: 80 % subsets must pass too."""
    iris = load("iris")
    rng = np.random.default_rng(7)
    highest = []
    for _ in range(10):
        rows = np.sort(rng.choice(len(iris), size=120, replace=False))
        findings, scores = probe_leakage(
            iris.iloc[rows], features_of(iris), "target", "multiclass", CONFIG
        )
        assert findings == []
        highest.append(max(scores.values()))
    assert max(highest) > 0.95


def test_fraud_generator_features_are_not_flagged() -> None:
    frame = generate_transactions(20_000, seed=1)
    findings, scores = probe_leakage(frame, fraud_feature_specs(), FRAUD_TARGET, "binary", CONFIG)
    assert findings == []
    assert set(scores) == {spec.name for spec in fraud_feature_specs()}
    assert 0.7 < max(scores.values()) < 0.95  # merchant_category is the strongest


def test_an_identifier_does_not_score_by_memorising() -> None:
    """A distinct value per row would be a perfect in-sample encoding; out of fold it is 0.5."""
    frame = load("breast_cancer")
    frame["customer_id"] = [f"c{i:05d}" for i in np.random.default_rng(0).permutation(len(frame))]
    frame["shuffled_row"] = np.random.default_rng(1).permutation(len(frame))
    features = categorical("customer_id") + numeric("shuffled_row")
    findings, scores = probe_leakage(frame, features, "target", "binary", CONFIG)
    assert findings == []
    assert scores["customer_id"] == pytest.approx(0.5)
    assert scores["shuffled_row"] < 0.6


# --- planted leaks are named ---------------------------------------------------------------------


def test_row_index_of_a_file_sorted_by_a_binary_target_is_flagged() -> None:
    frame = sorted_with_row_index(load("breast_cancer"))
    findings, scores = probe_leakage(frame, features_of(frame), "target", "binary", CONFIG)
    assert flagged(findings) == ["row"]
    (finding,) = findings
    assert finding.measure == "roc_auc"
    assert finding.kind == "numeric"
    assert finding.value == pytest.approx(1.0)
    assert finding.limit == CONFIG.max_auc
    assert finding.rows == finding.total_rows == len(frame)
    assert finding.describe() == (
        "feature 'row' alone predicts the target: single-feature ROC AUC 1.0000 "
        "on 569 training rows (limit 0.99)"
    )
    assert scores["worst perimeter"] < 0.99


def test_row_index_of_a_file_sorted_by_a_multiclass_target_is_flagged() -> None:
    frame = sorted_with_row_index(load("wine"))
    findings, _ = probe_leakage(frame, features_of(frame), "target", "multiclass", CONFIG)
    assert flagged(findings) == ["row"]
    assert findings[0].measure == "macro_roc_auc"
    assert "macro one-vs-rest ROC AUC" in findings[0].describe()


def test_row_index_of_a_file_sorted_by_a_regression_target_is_flagged() -> None:
    frame = sorted_with_row_index(load("diabetes"))
    findings, scores = probe_leakage(frame, features_of(frame), "target", "regression", CONFIG)
    assert flagged(findings) == ["row"]
    assert findings[0].measure == "abs_spearman"
    assert findings[0].value > 0.999
    assert max(v for k, v in scores.items() if k != "row") < 0.7


@pytest.mark.parametrize(("name", "task"), [("breast_cancer", "binary"), ("iris", "multiclass")])
def test_numeric_copy_of_the_target_is_flagged(name: str, task: str) -> None:
    frame = load(name)
    frame["outcome_code"] = frame["target"].astype(float)
    findings, _ = probe_leakage(frame, features_of(frame), "target", task, CONFIG)
    assert flagged(findings) == ["outcome_code"]
    assert findings[0].value == pytest.approx(1.0)


def test_negated_copy_is_flagged_the_probe_is_direction_free() -> None:
    frame = load("breast_cancer")
    frame["days_to_review"] = -10.0 * frame["target"] + np.random.default_rng(0).random(len(frame))
    findings, _ = probe_leakage(frame, features_of(frame), "target", "binary", CONFIG)
    assert flagged(findings) == ["days_to_review"]
    assert findings[0].method == "rank"


@pytest.mark.parametrize(
    ("name", "task", "words"),
    [
        ("breast_cancer", "binary", np.array(["no", "yes"])),
        ("iris", "multiclass", np.array(["setosa", "versicolor", "virginica"])),
    ],
)
def test_category_that_spells_out_the_target_is_flagged(
    name: str, task: str, words: np.ndarray
) -> None:
    frame = load(name)
    frame["label_text"] = pd.Categorical(words[frame["target"].to_numpy()])
    features = features_of(frame.drop(columns="label_text")) + categorical("label_text")
    findings, _ = probe_leakage(frame, features, "target", task, CONFIG)
    assert flagged(findings) == ["label_text"]
    assert findings[0].kind == "categorical"
    assert findings[0].method == "encoded"


def test_category_that_bins_a_regression_target_is_flagged() -> None:
    frame = load("diabetes")
    frame["outcome_band"] = pd.qcut(frame["target"], 20, labels=False).map("band{}".format)
    features = features_of(frame.drop(columns="outcome_band")) + categorical("outcome_band")
    findings, _ = probe_leakage(frame, features, "target", "regression", CONFIG)
    assert flagged(findings) == ["outcome_band"]
    assert findings[0].value > 0.99


def test_noisy_near_copy_is_flagged_above_the_limit_and_not_below() -> None:
    frame = load("breast_cancer")
    rng = np.random.default_rng(3)
    target = frame["target"].to_numpy(dtype=float)
    frame["near_copy"] = target + rng.normal(0.0, 0.25, len(frame))  # AUC about 0.998
    frame["loose_copy"] = target + rng.normal(0.0, 0.5, len(frame))  # AUC about 0.92
    features = numeric("near_copy", "loose_copy")
    findings, scores = probe_leakage(frame, features, "target", "binary", CONFIG)
    assert flagged(findings) == ["near_copy"]
    assert 0.99 < scores["near_copy"] < 1.0
    assert 0.85 < scores["loose_copy"] < 0.97


def test_near_copy_of_a_rare_target_is_flagged_with_nulls_among_the_negatives() -> None:
    """1 % positives live in the top bin, where 32 quantile bins blur them (the binned view
    scores this column about 0.985); the raw ranking keeps full resolution, and ranks the
    nulls (30 % of the negatives) at whichever end separates better."""
    rng = np.random.default_rng(0)
    y = (rng.random(20_000) < 0.01).astype(int)
    score = y + rng.normal(0.0, 0.25, y.size)
    score[(y == 0) & (rng.random(y.size) < 0.3)] = np.nan
    frame = pd.DataFrame({"y": y, "review_score": score})
    findings, _ = probe_leakage(frame, numeric("review_score"), "y", "binary", CONFIG)
    assert flagged(findings) == ["review_score"]
    assert findings[0].method == "rank"
    assert findings[0].value > 0.995


def test_positive_class_in_the_middle_of_a_numeric_range_is_flagged() -> None:
    """Not monotone, so the raw ranking misses it; the learnt (binned) encoding does not."""
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.3).astype(int)
    far = rng.choice([-1.0, 1.0], size=y.size) * (2.0 + rng.random(y.size))
    frame = pd.DataFrame({"y": y, "offset": np.where(y == 1, rng.normal(0, 0.3, y.size), far)})
    findings, _ = probe_leakage(frame, numeric("offset"), "y", "binary", CONFIG)
    assert flagged(findings) == ["offset"]
    assert findings[0].method == "encoded"


def test_a_field_filled_in_only_for_positives_is_flagged() -> None:
    """Nulls are a value of their own: 'chargeback_amount' exists only after a fraud."""
    frame = generate_transactions(5_000, seed=2, fraud_rate=0.05)
    frame["chargeback_amount"] = np.where(frame[FRAUD_TARGET] == 1, frame["amount"], np.nan)
    features = [*fraud_feature_specs(), *numeric("chargeback_amount")]
    findings, _ = probe_leakage(frame, features, FRAUD_TARGET, "binary", CONFIG)
    assert flagged(findings) == ["chargeback_amount"]


# --- what is never a finding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "neutral"), [("binary", 0.5), ("multiclass", 0.5), ("regression", 0.0)]
)
def test_constant_and_all_null_columns_score_neutral(task: str, neutral: float) -> None:
    frame = load("wine" if task == "multiclass" else "breast_cancer")
    if task == "regression":
        frame = load("diabetes")
    frame = frame[["target"]].copy()
    frame["constant"] = 3.0
    frame["empty"] = np.nan
    frame["empty_category"] = pd.Series([None] * len(frame), dtype=object)
    features = numeric("constant", "empty") + categorical("empty_category")
    findings, scores = probe_leakage(frame, features, "target", task, CONFIG)
    assert findings == []
    assert scores == {"constant": neutral, "empty": neutral, "empty_category": neutral}


def test_single_class_target_gives_no_findings_and_no_scores() -> None:
    frame = pd.DataFrame({"y": [1] * 50, "copy": [1.0] * 50, "x": np.arange(50.0)})
    assert probe_leakage(frame, numeric("copy", "x"), "y", "binary", CONFIG) == ([], {})
    assert probe_leakage(frame, numeric("copy", "x"), "y", "multiclass", CONFIG) == ([], {})


def test_all_null_target_gives_no_findings() -> None:
    frame = pd.DataFrame({"y": [None] * 50, "x": np.arange(50.0)})
    for task in ("binary", "multiclass", "regression"):
        assert probe_leakage(frame, numeric("x"), "y", task, CONFIG) == ([], {})


def test_constant_regression_target_gives_no_findings() -> None:
    frame = pd.DataFrame({"y": [2.5] * 50, "x": np.arange(50.0)})
    assert probe_leakage(frame, numeric("x"), "y", "regression", CONFIG) == ([], {})


def test_text_features_are_skipped() -> None:
    frame = load("breast_cancer")[["target", "worst perimeter"]]
    frame = frame.assign(note=np.where(frame["target"] == 1, "benign, no action", "malignant"))
    features = [*numeric("worst perimeter"), FeatureSpec(name="note", kind="text")]
    findings, scores = probe_leakage(frame, features, "target", "binary", CONFIG)
    assert findings == []
    assert set(scores) == {"worst perimeter"}


def test_action_off_returns_nothing_without_reading_the_data() -> None:
    frame = pd.DataFrame({"y": [0, 1] * 50})
    off = LeakageCheck(action="off")
    assert probe_leakage(frame, numeric("not_a_column"), "y", "binary", off) == ([], {})


def test_warn_scores_exactly_like_fail() -> None:
    frame = sorted_with_row_index(load("breast_cancer"))
    fail = probe_leakage(frame, features_of(frame), "target", "binary", CONFIG)
    warn = probe_leakage(frame, features_of(frame), "target", "binary", LeakageCheck(action="warn"))
    assert fail == warn


def test_limits_come_from_the_config() -> None:
    frame = load("breast_cancer")
    strict = LeakageCheck(max_auc=0.97)
    findings, scores = probe_leakage(frame, features_of(frame), "target", "binary", strict)
    assert {f.column for f in findings} == {name for name, v in scores.items() if v > 0.97}
    assert "worst perimeter" in flagged(findings)
    assert all(f.limit == 0.97 for f in findings)


def test_missing_column_is_a_readable_error() -> None:
    frame = load("iris")
    with pytest.raises(ValueError, match=r"\['petal_area'\] are not in the training split"):
        probe_leakage(frame, numeric("petal_area"), "target", "multiclass", CONFIG)


def test_non_numeric_regression_target_is_a_readable_error() -> None:
    frame = pd.DataFrame({"y": ["a", "b"] * 30, "x": np.arange(60.0)})
    with pytest.raises(ValueError, match="regression target 'y' is not numeric"):
        probe_leakage(frame, numeric("x"), "y", "regression", CONFIG)


# --- labels, dtypes, classes ----------------------------------------------------------------------


def test_positive_class_is_matched_by_str_and_does_not_change_a_two_label_score() -> None:
    frame = load("breast_cancer")
    frame["target"] = np.where(frame["target"] == 1, "benign", "malignant")
    features = numeric("worst perimeter", "mean radius")
    as_benign = probe_leakage(frame, features, "target", "binary", CONFIG, positive_class="benign")
    as_malignant = probe_leakage(
        frame, features, "target", "binary", CONFIG, positive_class="malignant"
    )
    assert as_benign[1] == pytest.approx(as_malignant[1])


def test_binary_with_more_labels_scores_the_positive_class_against_the_rest() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], size=3000)
    frame = pd.DataFrame({"y": y, "is_c": (y == "c").astype(float) + rng.normal(0, 0.05, y.size)})
    as_c, _ = probe_leakage(frame, numeric("is_c"), "y", "binary", CONFIG, positive_class="c")
    as_a, scores = probe_leakage(frame, numeric("is_c"), "y", "binary", CONFIG, positive_class="a")
    assert flagged(as_c) == ["is_c"]
    assert as_a == [] and scores["is_c"] < 0.8  # 'a' vs the rest: this column knows nothing


def test_nullable_and_boolean_dtypes_are_scored() -> None:
    frame = load("breast_cancer")[["target"]].copy()
    frame["flag"] = frame["target"] == 1
    frame["count"] = pd.array(frame["target"].where(frame.index % 10 != 0), dtype="Int64")
    findings, scores = probe_leakage(frame, numeric("flag", "count"), "target", "binary", CONFIG)
    assert flagged(findings) == ["flag", "count"]  # nulls in 'count' are a group of their own
    assert scores["flag"] == pytest.approx(1.0)


def test_multiclass_with_a_rare_class_scores_it() -> None:
    """A column that splits the two common classes but knows nothing of the rare one is not a
    near-perfect predictor of the target; a copy of the target is, rare class included."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [3000, 2000, 12])
    rng.shuffle(y)
    common_split = np.where(y == 1, 1.0, 0.0)
    common_split[y == 2] = rng.integers(0, 2, size=int((y == 2).sum()))
    frame = pd.DataFrame(
        {"y": y, "common_split": common_split, "copy": y + rng.normal(0, 0.01, y.size)}
    )
    # Class 2's proportional share of 1000 rows is 2, too few to score; the top-up keeps all 12.
    small_sample = LeakageCheck(sample_rows=1_000)
    findings, scores = probe_leakage(
        frame, numeric("common_split", "copy"), "y", "multiclass", small_sample
    )
    assert flagged(findings) == ["copy"]
    assert findings[0].rows <= 1_000
    assert scores["common_split"] < 0.9  # the rare class is in the macro average (else 1.0)


def test_a_class_too_rare_to_score_is_left_out_of_the_macro_average() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], [500, 500, 2])
    frame = pd.DataFrame({"y": y, "copy": y.astype(float), "noise": rng.random(y.size)})
    findings, scores = probe_leakage(frame, numeric("copy", "noise"), "y", "multiclass", CONFIG)
    assert flagged(findings) == ["copy"]
    assert scores["noise"] < 0.6


# --- determinism and sampling -----------------------------------------------------------------------


def test_same_seed_same_scores_and_the_seed_is_used() -> None:
    frame = load("wine")
    first = probe_leakage(frame, features_of(frame), "target", "multiclass", CONFIG, seed=5)
    again = probe_leakage(frame, features_of(frame), "target", "multiclass", CONFIG, seed=5)
    other = probe_leakage(frame, features_of(frame), "target", "multiclass", CONFIG, seed=6)
    assert first == again
    assert first[1] != other[1]  # the out-of-fold splits differ
    assert max(abs(first[1][k] - other[1][k]) for k in first[1]) < 0.05


def test_a_sample_gives_the_findings_of_the_whole_frame() -> None:
    frame = generate_transactions(300_000, seed=1)
    rng = np.random.default_rng(0)
    target = frame[FRAUD_TARGET].to_numpy()
    frame["near_copy"] = target + rng.normal(0.0, 0.25, len(frame))
    frame["label_text"] = pd.Categorical(np.where(target == 1, "fraud", "genuine"))
    frame["case_id"] = np.arange(len(frame))  # unsorted file: not a leak
    features = [
        *fraud_feature_specs(),
        *numeric("near_copy", "case_id"),
        *categorical("label_text"),
    ]
    sampled_config = LeakageCheck(sample_rows=10_000)
    whole_config = LeakageCheck(sample_rows=len(frame))
    sampled, sampled_scores = probe_leakage(frame, features, FRAUD_TARGET, "binary", sampled_config)
    whole, whole_scores = probe_leakage(frame, features, FRAUD_TARGET, "binary", whole_config)

    assert flagged(sampled) == flagged(whole) == ["near_copy", "label_text"]
    assert {f.rows for f in sampled} == {10_000}
    assert {f.total_rows for f in sampled} == {300_000}
    assert "on 10000 sampled training rows" in sampled[0].describe()
    assert set(sampled_scores) == set(whole_scores)
    for name, value in whole_scores.items():
        assert sampled_scores[name] == pytest.approx(value, abs=0.03), name


@pytest.mark.parametrize(
    ("task", "config"),
    [("binary", LeakageCheck(max_auc=1.0)), ("regression", LeakageCheck(max_abs_spearman=1.0))],
)
def test_a_score_at_the_limit_counts_as_a_leak(task: str, config: LeakageCheck) -> None:
    """The rule is 'at or above the limit': a perfect copy is caught even at a limit of 1."""
    name = "breast_cancer" if task == "binary" else "diabetes"
    frame = load(name)
    frame["copy"] = frame["target"].astype(float)
    findings, _ = probe_leakage(frame, numeric("copy"), "target", task, config)
    assert flagged(findings) == ["copy"]
