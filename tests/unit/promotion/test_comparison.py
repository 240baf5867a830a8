"""Fair rows, predictions, metrics, the paired bootstrap and segment figures, on real models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from configs.schema import METRICS_BY_TASK, BootstrapConfig, FeatureSpec, TrainingConfig
from steps.evaluation.metrics import (
    binary_metrics,
    evaluate,
    multiclass_metrics,
    regression_metrics,
)
from steps.promotion.comparison import (
    NULL_SEGMENT,
    ModelPredictions,
    compare_models,
    fair_rows,
    metric_value,
    predict_on,
    segment_figures,
)
from steps.training.training import fit_model

FEATURES = [
    FeatureSpec(name="amount", kind="numeric"),
    FeatureSpec(name="hour", kind="numeric"),
    FeatureSpec(name="channel", kind="categorical"),
]


def _binary_predictions(scores: np.ndarray) -> ModelPredictions:
    """Binary predictions from positive-class scores, deciding at 0.5."""
    return ModelPredictions(
        task="binary",
        y_pred=(scores >= 0.5).astype(int),
        proba=np.c_[1 - scores, scores],
        classes=np.array([0, 1]),
        positive=1,
    )


def _frame(task: str, rows: int, seed: int) -> pd.DataFrame:
    """Features, a target that depends on them, and a segment column the model never reads."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=rows)
    hour = rng.normal(size=rows)
    channel = rng.choice(["web", "pos", "atm"], size=rows)
    signal = 1.5 * amount - hour + (channel == "web")
    if task == "regression":
        target: np.ndarray = signal + rng.normal(scale=0.5, size=rows)
    elif task == "binary":
        target = np.where(signal + rng.normal(size=rows) > 0.8, "fraud", "ok")
    else:
        target = np.digitize(signal + rng.normal(size=rows), [-1.0, 1.0])
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour,
            "channel": channel,
            "region": rng.choice(["north", "south"], size=rows),
            "label": target,
        }
    )


def _model(task: str, train: pd.DataFrame, positive_class: str | None = None):
    estimator = "linear_regression" if task == "regression" else "logistic_regression"
    primary = "rmse" if task == "regression" else "roc_auc"
    return fit_model(
        train,
        FEATURES,
        "label",
        task,
        TrainingConfig(estimator=estimator),
        primary,
        positive_class=positive_class,
    ).model


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[object, pd.DataFrame]]:
    """One fitted model and its holdout per task (binary served at a 0.3 threshold)."""
    models = {}
    for task in METRICS_BY_TASK:
        frame = _frame(task, 1200, seed=3)
        positive = "fraud" if task == "binary" else None
        models[task] = (_model(task, frame.iloc[:800], positive), frame.iloc[800:])
    return models


# --- fair_rows ------------------------------------------------------------------------------


def test_fair_rows_drops_exactly_the_rows_the_champion_trained_on() -> None:
    holdout = _frame("binary", 50, seed=1)
    champion_train = pd.concat([_frame("binary", 30, seed=2), holdout.iloc[[4, 9, 9, 20]]])
    fair = fair_rows(holdout, champion_train, ["amount", "hour", "channel", "label"])
    assert fair.holdout_rows == 50
    assert fair.seen_by_champion == 3
    assert fair.compared_rows == 47
    assert list(fair.rows.index) == list(range(47))
    kept = set(fair.rows["amount"])
    assert not kept & set(holdout["amount"].iloc[[4, 9, 20]])


def test_fair_rows_without_a_champion_keeps_every_row() -> None:
    holdout = _frame("binary", 20, seed=1)
    fair = fair_rows(holdout, None, ["amount", "label"])
    assert (fair.compared_rows, fair.seen_by_champion, fair.hashed_columns) == (20, 0, [])


def test_fair_rows_matches_equal_content_whatever_the_dtypes() -> None:
    """Same values stored as category vs object, int64 vs float64, Int64 with NA vs NaN."""
    challenger = pd.DataFrame(
        {
            "count": np.array([1, 2, 3, 4], dtype="int64"),
            "channel": pd.Series(["web", "pos", None, "atm"], dtype="category"),
            "score": pd.array([1, None, 3, 4], dtype="Int64"),
            "label": [0, 1, 0, 1],
        }
    )
    champion = pd.DataFrame(
        {
            "count": np.array([1.0, 2.0, 3.0, 9.0]),
            "channel": pd.Series(["web", "pos", np.nan, "atm"], dtype=object),
            "score": [1.0, np.nan, 3.0, 4.0],
            "label": pd.Series(["0", "1", "0", "1"], dtype="string"),
            "only_champion": [7, 7, 7, 7],
        }
    )
    fair = fair_rows(challenger, champion, ["count", "channel", "score", "label", "absent"])
    assert fair.hashed_columns == ["count", "channel", "score", "label"]
    assert fair.seen_by_champion == 3
    assert fair.rows["count"].tolist() == [4]


def test_fair_rows_tells_different_content_apart() -> None:
    challenger = pd.DataFrame({"x": [0.0, 1.0, 2.5], "c": ["a", "b", "c"]})
    champion = pd.DataFrame({"x": [-0.0, 1.0, 2.5], "c": pd.Categorical(["a", "B", "c "])})
    fair = fair_rows(challenger, champion, ["x", "c"])
    assert fair.seen_by_champion == 1  # -0.0 equals 0.0; "B" and "c " are other strings


def test_fair_rows_refuses_frames_with_no_shared_column() -> None:
    with pytest.raises(ValueError, match="none of the compared columns"):
        fair_rows(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), ["a", "b"])


# --- predictions and metrics ----------------------------------------------------------------


@pytest.mark.parametrize("task", list(METRICS_BY_TASK))
def test_metric_value_is_evaluate_for_every_metric(task: str, fitted) -> None:
    model, holdout = fitted[task]
    positive = "fraud" if task == "binary" else None
    expected = evaluate(model, holdout, "label", task, positive)
    predictions = predict_on(model, holdout, "label", task, positive)
    y = holdout["label"].to_numpy()
    for metric in METRICS_BY_TASK[task]:
        assert metric_value(metric, task, y, predictions) == pytest.approx(
            expected[metric], rel=1e-9, abs=1e-12
        ), metric


@pytest.mark.parametrize("task", list(METRICS_BY_TASK))
def test_metric_value_on_an_index_counts_repeated_rows(task: str, fitted) -> None:
    """A resample with repeats scores like the metric functions on the repeated rows."""
    model, holdout = fitted[task]
    positive = "fraud" if task == "binary" else None
    predictions = predict_on(model, holdout, "label", task, positive)
    y = holdout["label"].to_numpy()
    index = np.random.default_rng(5).integers(0, len(y), size=len(y))
    if task == "regression":
        expected = regression_metrics(y[index], predictions.y_pred[index])
    elif task == "binary":
        expected = binary_metrics(
            y[index], predictions.y_score[index], "fraud", predictions.y_pred[index]
        )
    else:
        assert predictions.proba is not None and predictions.classes is not None
        expected = multiclass_metrics(y[index], predictions.proba[index], predictions.classes)
    for metric in METRICS_BY_TASK[task]:
        assert metric_value(metric, task, y, predictions, index) == pytest.approx(
            expected[metric], rel=1e-9, abs=1e-12
        ), metric


def test_ranking_metrics_handle_tied_scores_like_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    scores = np.round(np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1), 1)  # many ties
    predictions = _binary_predictions(scores)
    assert metric_value("roc_auc", "binary", y, predictions) == pytest.approx(
        roc_auc_score(y, scores)
    )
    assert metric_value("pr_auc", "binary", y, predictions) == pytest.approx(
        average_precision_score(y, scores)
    )


def test_predict_on_reads_the_served_threshold_and_the_positive_label(fitted) -> None:
    model, holdout = fitted["binary"]
    predictions = predict_on(model, holdout, "label", "binary", "fraud")
    assert predictions.positive == "fraud"
    assert set(np.unique(predictions.y_pred)) <= {"fraud", "ok"}
    assert np.array_equal(predictions.y_pred, model.predict(holdout.drop(columns=["label"])))


def test_predict_on_without_the_target_names_it(fitted) -> None:
    model, holdout = fitted["binary"]
    with pytest.raises(ValueError, match="'label'"):
        predict_on(model, holdout.drop(columns=["label"]), "label", "binary", None)


def test_no_compared_rows_give_undefined_metrics(fitted) -> None:
    model, holdout = fitted["binary"]
    predictions = predict_on(model, holdout.iloc[:0], "label", "binary", "fraud")
    assert predictions.rows == 0
    y = np.array([], dtype=object)
    assert math.isnan(metric_value("roc_auc", "binary", y, predictions))
    assert math.isnan(metric_value("accuracy", "binary", y, predictions))


def test_unknown_or_foreign_metric_names_are_errors(fitted) -> None:
    model, holdout = fitted["multiclass"]
    predictions = predict_on(model, holdout, "label", "multiclass", None)
    y = holdout["label"].to_numpy()
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        metric_value("auc", "multiclass", y, predictions)
    with pytest.raises(ValueError, match="unknown metric 'pr_auc' for task 'multiclass'"):
        metric_value("pr_auc", "multiclass", y, predictions)


def test_single_class_rows_make_ranking_metrics_nan() -> None:
    predictions = ModelPredictions(
        task="binary",
        y_pred=np.zeros(4, dtype=int),
        proba=np.c_[np.full(4, 0.6), np.full(4, 0.4)],
        classes=np.array([0, 1]),
        positive=1,
    )
    assert math.isnan(metric_value("roc_auc", "binary", np.zeros(4, dtype=int), predictions))
    assert metric_value("accuracy", "binary", np.zeros(4, dtype=int), predictions) == 1.0


# --- compare_models -------------------------------------------------------------------------


def _regression(y_pred: np.ndarray) -> ModelPredictions:
    return ModelPredictions(task="regression", y_pred=y_pred)


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_improvement_is_positive_when_the_error_drops(metric: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    worse, better = _regression(y + rng.normal(size=500)), _regression(y + 0.1)
    figures = compare_models(y, worse, better, metric, "regression", BootstrapConfig(seed=3))
    assert figures.challenger < figures.champion
    assert figures.improvement == pytest.approx(figures.champion - figures.challenger)
    assert figures.improvement > 0
    assert figures.interval is not None and figures.interval[0] > 0
    reverse = compare_models(y, better, worse, metric, "regression", None)
    assert reverse.improvement == pytest.approx(-figures.improvement)
    assert reverse.interval is None


def test_identical_models_improve_by_exactly_nothing(fitted) -> None:
    model, holdout = fitted["binary"]
    predictions = predict_on(model, holdout, "label", "binary", "fraud")
    y = holdout["label"].to_numpy()
    figures = compare_models(y, predictions, predictions, "roc_auc", "binary", BootstrapConfig())
    assert figures.improvement == 0.0
    assert figures.interval == (0.0, 0.0)
    assert (figures.resamples, figures.skipped_resamples, figures.seed) == (1000, 0, 0)


def test_bootstrap_is_seeded_and_paired() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    champion = _regression(y + rng.normal(size=300))
    challenger = _regression(champion.y_pred * 0.9 + y * 0.1)  # strongly correlated errors
    config = BootstrapConfig(resamples=500, seed=11)
    first = compare_models(y, champion, challenger, "rmse", "regression", config)
    again = compare_models(y, champion, challenger, "rmse", "regression", config)
    other = compare_models(
        y, champion, challenger, "rmse", "regression", BootstrapConfig(resamples=500, seed=12)
    )
    assert first.interval == again.interval
    assert first.interval != other.interval
    assert first.interval is not None
    low, high = first.interval
    # Paired: the interval of the difference is far narrower than either model's own spread.
    assert low > 0
    assert high - low < 0.5 * first.improvement


def test_undefined_resamples_are_skipped_and_counted() -> None:
    y = np.array([1] + [0] * 29)  # one positive: many resamples miss it
    scores = np.linspace(0.9, 0.1, 30)
    predictions = ModelPredictions(
        task="binary",
        y_pred=(scores > 0.5).astype(int),
        proba=np.c_[1 - scores, scores],
        classes=np.array([0, 1]),
        positive=1,
    )
    figures = compare_models(
        y, predictions, predictions, "roc_auc", "binary", BootstrapConfig(resamples=400)
    )
    assert figures.skipped_resamples is not None
    assert 50 < figures.skipped_resamples < 400  # about (29/30)^30 = 36% miss the positive
    assert figures.interval == (0.0, 0.0)


def test_compare_models_refuses_mismatched_predictions() -> None:
    y = np.zeros(3)
    with pytest.raises(ValueError, match="3 labels for 2 predictions"):
        compare_models(
            y, _regression(np.zeros(3)), _regression(np.zeros(2)), "r2", "regression", None
        )


# --- segment_figures ------------------------------------------------------------------------


def test_segments_report_small_and_single_class_ones_without_judging_them() -> None:
    rows = pd.DataFrame({"plan": ["gold"] * 120 + ["basic"] * 150 + ["trial"] * 30 + [None] * 110})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=len(rows))
    y[120:270] = 0  # "basic" has one class only
    scores = np.clip(0.4 * y + rng.random(len(rows)) * 0.6, 0, 1)
    predictions = _binary_predictions(scores)
    figures = {
        f.value: f for f in segment_figures(rows, y, predictions, "plan", "roc_auc", "binary", 100)
    }
    assert set(figures) == {"gold", "basic", "trial", NULL_SEGMENT}
    assert figures["gold"].judged and figures[NULL_SEGMENT].judged
    assert figures[NULL_SEGMENT].rows == 110
    assert figures["gold"].metric == pytest.approx(
        metric_value("roc_auc", "binary", y, predictions, np.arange(120))
    )
    assert not figures["basic"].judged and figures["basic"].metric is None
    assert "undefined" in figures["basic"].note
    assert not figures["trial"].judged and figures["trial"].metric is not None
    assert "deployment.fairness.min_rows=100" in figures["trial"].note


def test_a_missing_segment_column_is_named() -> None:
    predictions = _regression(np.zeros(2))
    with pytest.raises(ValueError, match="'card_type'"):
        segment_figures(
            pd.DataFrame({"x": [1, 2]}),
            np.zeros(2),
            predictions,
            "card_type",
            "mae",
            "regression",
            1,
        )
