"""Champion/challenger pairs of known relative quality, through the whole promotion chain.

Each trial draws seeded data where the target depends on four of six features, fits both
models with the project's own ``fit_model`` (binary ones are served
``FixedThresholdClassifier(FrozenEstimator(pipeline))``), and runs fair_rows -> predict_on ->
compare_models (paired bootstrap) -> champion_verdict, threshold_verdict -> decide. Quality is
known by construction: a model that sees fewer informative features is worse. The properties
must hold on every trial; a failure lists the seeds that broke them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from configs.schema import BootstrapConfig, FeatureSpec, SplitConfig, TrainingConfig
from steps.promotion.comparison import (
    FairRows,
    compare_models,
    fair_rows,
    metric_value,
    predict_on,
)
from steps.promotion.rules import (
    PromotionDecision,
    champion_verdict,
    decide,
    fair_comparison_verdict,
    threshold_verdict,
)
from steps.training.training import fit_model, split_holdout

SEEDS = range(15)
FEATURES = [f"f{i}" for i in range(6)]
ALL_FEATURES = FEATURES
ONE_FEATURE = ["f0"]
TARGET = "y"
#: The target's dependence on the features: f4 and f5 are noise.
WEIGHTS = np.array([1.5, 1.2, 1.0, 0.8, 0.0, 0.0])
METRIC = {"binary": "roc_auc", "regression": "rmse"}
THRESHOLDS = {"binary": {"roc_auc": 0.6}, "regression": {"r2": 0.3}}
MIN_ROWS = 200


def _draw(task: str, rows: int, rng: np.random.Generator, first_id: int) -> pd.DataFrame:
    """Rows with a ``row_id`` (never a feature, never hashed) to follow them through splits."""
    x = rng.normal(size=(rows, len(FEATURES)))
    signal = x @ WEIGHTS
    if task == "binary":
        target = (signal + rng.logistic(size=rows) > 1.0).astype(int)
    else:
        target = signal + rng.normal(size=rows)
    frame = pd.DataFrame(x, columns=FEATURES)
    frame[TARGET] = target
    frame["row_id"] = np.arange(first_id, first_id + rows)
    return frame


def _fit(train: pd.DataFrame, task: str, features: list[str], memorise: bool = False):
    specs = [FeatureSpec(name=name, kind="numeric") for name in features]
    if memorise:  # one unpruned tree on all rows: perfect on every row it trained on
        config = TrainingConfig(
            estimator="random_forest",
            params={"n_estimators": 1, "bootstrap": False, "max_features": None, "n_jobs": 1},
        )
    else:
        config = TrainingConfig(
            estimator="linear_regression" if task == "regression" else "logistic_regression"
        )
    primary = METRIC[task]
    return fit_model(train, specs, TARGET, task, config, primary, positive_class="1").model


def _split(frame: pd.DataFrame, task: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_holdout(
        frame, TARGET, task, SplitConfig(test_size=0.3, seed=seed), [*FEATURES, TARGET]
    )


@dataclass
class Trial:
    """One champion/challenger pair with the frames the chain needs."""

    task: str
    seed: int
    champion: object
    champion_train: pd.DataFrame
    challenger: object
    challenger_train: pd.DataFrame
    challenger_holdout: pd.DataFrame
    champion_holdout: pd.DataFrame | None = None


def _trial(
    task: str,
    seed: int,
    better: bool,
    overlap: bool,
    memorising_champion: bool = False,
) -> Trial:
    """A pair where the better model sees all features and the worse one only ``f0``.

    ``overlap``: "retrain on reference plus new data". The champion trained on the reference's
    train split; the challenger's data is the whole reference plus new rows, split again, so
    its training set holds rows of the champion's holdout and its holdout holds rows the
    champion trained on. Otherwise the champion trained on unrelated rows.
    """
    rng = np.random.default_rng(seed)
    reference = _draw(task, 1500, rng, first_id=0)
    champion_train, champion_holdout = _split(reference, task, seed)
    new = _draw(task, 1500, rng, first_id=10_000)
    challenger_data = pd.concat([reference, new], ignore_index=True) if overlap else new
    challenger_train, challenger_holdout = _split(challenger_data, task, seed + 1)
    champion_features = ONE_FEATURE if better else ALL_FEATURES
    challenger_features = ALL_FEATURES if better else ONE_FEATURE
    return Trial(
        task=task,
        seed=seed,
        champion=_fit(champion_train, task, champion_features, memorising_champion),
        champion_train=champion_train,
        challenger=_fit(challenger_train, task, challenger_features),
        challenger_train=challenger_train,
        challenger_holdout=challenger_holdout,
        champion_holdout=champion_holdout,
    )


def _judge(trial: Trial) -> tuple[PromotionDecision, FairRows]:
    """The whole chain, as the promotion step runs it."""
    fair = fair_rows(trial.challenger_holdout, trial.champion_train, [*FEATURES, TARGET])
    rows, task = fair.rows, trial.task
    y_true = rows[TARGET].to_numpy()
    champion = predict_on(trial.champion, rows, TARGET, task, "1")
    challenger = predict_on(trial.challenger, rows, TARGET, task, "1")
    comparison = compare_models(
        y_true,
        champion,
        challenger,
        METRIC[task],
        task,
        BootstrapConfig(resamples=200, seed=trial.seed),
    )
    thresholds = THRESHOLDS[task]
    metrics = {m: metric_value(m, task, y_true, challenger) for m in thresholds}
    decision = decide(
        [
            fair_comparison_verdict(fair, MIN_ROWS, has_champion=True),
            champion_verdict(comparison, min_improvement=0.0),
            threshold_verdict(metrics, thresholds),
        ]
    )
    return decision, fair


def _champion_seen(trial: Trial) -> np.ndarray:
    """Which challenger-holdout rows the champion trained on, by identity (not by hash)."""
    return trial.challenger_holdout["row_id"].isin(trial.champion_train["row_id"]).to_numpy()


def _check_fair_counts(trial: Trial, fair: FairRows) -> list[str]:
    """The rows fair_rows dropped are exactly the champion's training rows in the holdout."""
    seen = _champion_seen(trial)
    problems = []
    if fair.seen_by_champion != int(seen.sum()):
        problems.append(f"seen_by_champion {fair.seen_by_champion}, expected {int(seen.sum())}")
    if fair.compared_rows != len(trial.challenger_holdout) - int(seen.sum()):
        problems.append(f"compared_rows {fair.compared_rows}")
    if fair.rows["row_id"].isin(trial.champion_train["row_id"]).any():
        problems.append("a row the champion trained on is still compared")
    return problems


@pytest.mark.parametrize("overlap", [False, True], ids=["separate-data", "reference-plus-new"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_worse_challenger_is_never_promoted(task: str, overlap: bool) -> None:
    broken = []
    for seed in SEEDS:
        trial = _trial(task, seed, better=False, overlap=overlap)
        decision, fair = _judge(trial)
        problems = _check_fair_counts(trial, fair)
        if decision.promoted:
            problems.append(f"promoted: {decision.reason()}")
        elif decision.failed_gate == "fair_comparison":
            problems.append("rejected only for too few rows, the comparison never ran")
        if problems:
            broken.append(f"seed {seed}: {'; '.join(problems)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("overlap", [False, True], ids=["separate-data", "reference-plus-new"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_clearly_better_challenger_always_passes(task: str, overlap: bool) -> None:
    broken = []
    for seed in SEEDS:
        trial = _trial(task, seed, better=True, overlap=overlap)
        decision, fair = _judge(trial)
        problems = _check_fair_counts(trial, fair)
        if not decision.promoted:
            problems.append(f"not promoted: {decision.reason()}")
        if problems:
            broken.append(f"seed {seed}: {'; '.join(problems)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_retraining_on_reference_plus_new_data_overlaps_both_ways(task: str) -> None:
    """The scenario the fair rows exist for: the premise holds, and the counts add up."""
    broken = []
    for seed in SEEDS:
        trial = _trial(task, seed, better=True, overlap=True)
        assert trial.champion_holdout is not None
        overlap = trial.challenger_train["row_id"].isin(trial.champion_holdout["row_id"]).sum()
        seen = int(_champion_seen(trial).sum())
        fair = fair_rows(trial.challenger_holdout, trial.champion_train, [*FEATURES, TARGET])
        if overlap == 0 or seen == 0:
            broken.append(f"seed {seed}: no overlap to test (train {overlap}, holdout {seen})")
        elif (fair.seen_by_champion, fair.holdout_rows) != (seen, len(trial.challenger_holdout)):
            broken.append(f"seed {seed}: counted {fair.seen_by_champion} seen, expected {seen}")
    assert not broken, "\n".join(broken)


def test_a_memorising_champion_is_not_flattered_by_rows_it_trained_on() -> None:
    """A champion that memorised its training rows looks better on the raw holdout.

    On the rows it trained on it is perfect (ROC AUC 1.0), so the unfiltered challenger
    holdout flatters it; on the fair rows it is scored on unseen rows only, and the better
    challenger is promoted.
    """
    broken = []
    for seed in SEEDS:
        trial = _trial("binary", seed, better=True, overlap=True, memorising_champion=True)
        decision, fair = _judge(trial)
        problems = _check_fair_counts(trial, fair)
        holdout = trial.challenger_holdout
        seen_rows = holdout[_champion_seen(trial)]
        on_seen = predict_on(trial.champion, seen_rows, TARGET, "binary", "1")
        on_all = predict_on(trial.champion, holdout, TARGET, "binary", "1")
        on_fair = predict_on(trial.champion, fair.rows, TARGET, "binary", "1")
        seen_auc = metric_value("roc_auc", "binary", seen_rows[TARGET].to_numpy(), on_seen)
        all_auc = metric_value("roc_auc", "binary", holdout[TARGET].to_numpy(), on_all)
        fair_auc = metric_value("roc_auc", "binary", fair.rows[TARGET].to_numpy(), on_fair)
        if seen_auc != 1.0:
            problems.append(f"champion ROC AUC on its own training rows is {seen_auc}, not 1.0")
        if not all_auc > fair_auc:
            problems.append(f"raw holdout {all_auc:.4f} does not flatter (fair {fair_auc:.4f})")
        if not decision.promoted:
            problems.append(f"not promoted: {decision.reason()}")
        if problems:
            broken.append(f"seed {seed}: {'; '.join(problems)}")
    assert not broken, "\n".join(broken)
