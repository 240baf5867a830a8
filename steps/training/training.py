"""Split the data and fit the model, with an optional randomized search and a tuned threshold.

Plain functions: the ZenML steps in ``steps/training/step.py`` only adapt them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import (
    FixedThresholdClassifier,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    TunedThresholdClassifierCV,
)
from sklearn.pipeline import Pipeline

from configs.schema import FeatureSpec, SplitConfig, ThresholdRule, TrainingConfig
from steps.evaluation.metrics import (
    describe_rule,
    positive_label,
    sklearn_scorer,
    threshold_scorer,
)
from steps.training.model_factory import DEFAULT_SEARCH_SPACES, build_model
from steps.validation.errors import DataValidationError
from steps.validation.table_checks import row_hashes

logger = logging.getLogger(__name__)


class SearchSummary(BaseModel):
    """What a hyperparameter search tried and which candidate won, for the record."""

    metric: str
    scorer: str
    best_params: dict[str, Any]
    best_score: float
    candidates: list[dict[str, Any]]


class ThresholdSummary(BaseModel):
    """The decision threshold a binary model is served with, and how it was chosen."""

    threshold: float
    rule: str = "fixed"
    positive_class: str
    cv_score: float | None = None
    cv_folds: int | None = None


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`fit_model` produced: the model to serve and how it was chosen."""

    model: BaseEstimator
    search: SearchSummary | None
    threshold: ThresholdSummary | None


def pipeline_of(model: BaseEstimator) -> Pipeline:
    """The fitted Pipeline inside a served model (unwraps the threshold classifier)."""
    inner = getattr(model, "estimator_", model)
    inner = getattr(inner, "estimator", inner) if isinstance(inner, FrozenEstimator) else inner
    if not isinstance(inner, Pipeline):
        raise TypeError(f"expected a Pipeline inside {type(model).__name__}, got {type(inner)}")
    return inner


def row_groups(
    df: pd.DataFrame, columns: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Groups of identical rows: each row's group id and each group's first row.

    Rows are compared over ``columns`` (default: all) by the same 64-bit row hash the
    duplicate check uses (:func:`steps.validation.table_checks.row_hashes`; two different rows share one with odds of
    about n^2 / 2^65, 3e-6 at 10M rows). Returns None when every row is unique,
    the usual case, found with one sort of the hashes. Otherwise groups are
    numbered in hash order and a group's first row is its smallest row index.
    """
    hashes = row_hashes(df, list(df.columns) if columns is None else columns)
    if len(hashes) < 2 or not (np.diff(np.sort(hashes)) == 0).any():
        return None
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.empty(len(order), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    codes = np.empty(len(order), dtype=np.int64)
    codes[order] = np.cumsum(starts) - 1
    return codes, order[starts]


def _holdout_counts(counts: np.ndarray, n_test: int) -> np.ndarray:
    """How many groups of each class go to the holdout: ``n_test`` shared by class size.

    Largest remainders, so the shares add up to ``n_test``; a class with at least
    two groups keeps at least one on each side (raising a floor of 0 to 1 moves
    at most one group per class, taken back from the classes most above their
    quota).
    """
    quota = counts * (n_test / counts.sum())
    low = np.where(counts >= 2, 1, 0)
    high = np.where(counts >= 2, counts - 1, counts)
    taken = np.clip(np.floor(quota).astype(np.int64), low, high)
    remainder = quota - taken
    while (short := n_test - int(taken.sum())) != 0:
        step = 1 if short > 0 else -1
        candidates = np.flatnonzero(taken < high if step > 0 else taken > low)
        if not len(candidates):
            break
        # The class furthest below (above) its quota moves; ties go to the first class.
        pick = candidates[np.argmax(remainder[candidates] * step)]
        taken[pick] += step
        remainder[pick] -= step
    return taken


def _holdout_groups(
    labels: np.ndarray | None, n_groups: int, test_size: float, seed: int
) -> np.ndarray:
    """A seeded boolean mask of the groups in the holdout, stratified on ``labels``.

    ``ceil(test_size * n_groups)`` groups, as scikit-learn's ``train_test_split``
    counts; within each class a seeded random choice of its share.
    """
    rng = np.random.default_rng(seed)
    n_test = min(max(int(np.ceil(test_size * n_groups)), 1), n_groups - 1)
    shuffled = rng.permutation(n_groups)
    holdout = np.zeros(n_groups, dtype=bool)
    if labels is None:
        holdout[shuffled[:n_test]] = True
        return holdout
    classes, _ = pd.factorize(labels, sort=True, use_na_sentinel=False)
    counts = np.bincount(classes)
    # The smallest unsigned type lets the stable sort below run as a radix sort.
    codes = classes.astype(np.min_scalar_type(len(counts)))
    # Each class's groups in shuffled order, classes one after the other.
    by_class = shuffled[np.argsort(codes[shuffled], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for start, take in zip(starts, _holdout_counts(counts, n_test), strict=True):
        holdout[by_class[start : start + take]] = True
    return holdout


def split_holdout(
    df: pd.DataFrame,
    target: str,
    task: str,
    config: SplitConfig,
    compared: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/holdout split that never splits identical rows, stratified by class.

    Rows equal in every ``compared`` column (default: all; the pipeline passes the
    features and the target, since a row index or an id would make every row
    distinct) form one group and land on the same side, so the holdout never
    scores the model on a row it was trained on. The split draws whole groups: ``ceil(test_size * groups)`` of them, for
    classification shared among the classes by their number of groups (largest
    remainders, so the holdout holds the configured share of each class to
    within one group) and chosen at random within each class, seeded by
    ``split.seed``. A group has one label because the target is one of the
    hashed columns. This is a group-level stratified shuffle split, written
    with numpy: scikit-learn's ``StratifiedGroupKFold`` loops over groups in
    Python (minutes at 10M rows) and ``train_test_split`` spends seconds on
    bookkeeping this needs none of. A class with at least two distinct rows
    always gets one on each side. Both parts keep the rows in their original
    order.

    Stratifying keeps the ~1% fraud share equal in both parts, so holdout
    metrics do not swing with how many positives happened to land there.

    Raises DataValidationError for classification when a class has no rows on
    one side (a single row, or all its rows identical).
    """
    if len(df) < 2:
        raise DataValidationError(
            f"the holdout split needs at least 2 rows, got {len(df)}; add rows"
        )
    if compared is not None and target not in compared:
        compared = [*compared, target]  # a group must have one label
    groups = row_groups(df, compared)
    codes, first_rows = groups if groups is not None else (None, None)
    n_groups = len(df) if first_rows is None else len(first_rows)
    if n_groups < 2:
        raise DataValidationError(
            f"all {len(df)} rows are identical, so they cannot be split into train and "
            "holdout; add distinct rows"
        )
    labels = None
    if task != "regression":
        labels = df[target].to_numpy()
        labels = labels if first_rows is None else labels[first_rows]
    in_holdout = _holdout_groups(labels, n_groups, config.test_size, config.seed)
    if codes is not None:
        in_holdout = in_holdout[codes]
    train, holdout = df.take(np.flatnonzero(~in_holdout)), df.take(np.flatnonzero(in_holdout))
    # A fresh index without reset_index, which copies every column again.
    train.index, holdout.index = pd.RangeIndex(len(train)), pd.RangeIndex(len(holdout))
    if task != "regression":
        _check_every_class_on_both_sides(df[target], train[target], holdout[target])
    return train, holdout


def _check_every_class_on_both_sides(
    target: pd.Series, train: pd.Series, holdout: pd.Series
) -> None:
    """Raise DataValidationError naming each class missing from train or holdout."""
    total = target.value_counts()
    in_train = train.value_counts()
    in_holdout = holdout.value_counts()
    problems = []
    for label, count in total.items():
        n_train, n_holdout = int(in_train.get(label, 0)), int(in_holdout.get(label, 0))
        if n_train and n_holdout:
            continue
        rows = f"{count} row{'s' if count != 1 else ''}"
        identical = " (all identical, so they stay together)" if count > 1 else ""
        problems.append(
            f"class '{label}' has {rows}{identical}: {n_train} in train, {n_holdout} in holdout"
        )
    if problems:
        raise DataValidationError(
            "the holdout split leaves a class without rows on one side:\n  - "
            + "\n  - ".join(problems)
            + "\nevery class needs rows on both sides: add (distinct) rows of that class, "
            "or remove the class from the data; a larger split.test_size helps a class "
            "that is only missing from the holdout"
        )


def _cross_validator(task: str, folds: int, seed: int) -> KFold | StratifiedKFold:
    if task == "regression":
        return KFold(n_splits=folds, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def _search(
    model: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    task: str,
    config: TrainingConfig,
    primary_metric: str,
    refit: bool,
) -> tuple[RandomizedSearchCV, SearchSummary]:
    """Randomized search scored on the primary metric; ``refit`` fits the winner on all rows."""
    assert config.search is not None
    space = config.search.param_distributions or DEFAULT_SEARCH_SPACES[config.estimator]
    scorer = sklearn_scorer(primary_metric, task)
    search = RandomizedSearchCV(
        model,
        {f"model__{name}": values for name, values in space.items()},
        n_iter=config.search.n_iter,
        scoring=scorer,
        cv=_cross_validator(task, config.search.cv, config.seed),
        random_state=config.seed,
        refit=refit,
        n_jobs=1,
        error_score="raise",
    )
    search.fit(x, y)
    results = search.cv_results_
    candidates = [
        {
            "params": {k.removeprefix("model__"): v for k, v in params.items()},
            "mean_score": float(score),
            "rank": int(rank),
        }
        for params, score, rank in zip(
            results["params"],
            results["mean_test_score"],
            results["rank_test_score"],
            strict=True,
        )
    ]
    summary = SearchSummary(
        metric=primary_metric,
        scorer=scorer,
        best_params={k.removeprefix("model__"): v for k, v in search.best_params_.items()},
        best_score=float(search.best_score_),
        candidates=candidates,
    )
    return search, summary


def _tune_threshold(
    model: Pipeline, x: pd.DataFrame, y: pd.Series, rule: ThresholdRule, pos_label: Any, seed: int
) -> tuple[Pipeline, float, float]:
    """Fit ``model`` and choose its threshold by ``rule`` with cross-validation on ``x``.

    scikit-learn's TunedThresholdClassifierCV fits one clone per seeded fold,
    scores every candidate threshold on the fold's held-out rows, takes the
    threshold with the best mean score, and refits the model on all of ``x``.
    Returns that refitted model, the threshold and its mean CV score.
    """
    tuned = TunedThresholdClassifierCV(
        model,
        scoring=threshold_scorer(rule, pos_label),
        response_method="predict_proba",
        cv=StratifiedKFold(n_splits=rule.cv, shuffle=True, random_state=seed),
        refit=True,
        n_jobs=1,
    )
    tuned.fit(x, y)
    score = float(tuned.best_score_)
    if rule.rule in ("min_precision", "min_recall") and score < 0:
        logger.warning(
            "decision threshold: no threshold reached %s >= %s in cross-validation; using "
            "the one that came closest (%.3f below)",
            rule.rule.removeprefix("min_"),
            rule.value,
            -score,
        )
    return tuned.estimator_, float(tuned.best_threshold_), score


def fit_model(
    train_df: pd.DataFrame,
    features: list[FeatureSpec],
    target: str,
    task: str,
    config: TrainingConfig,
    primary_metric: str,
    decision_threshold: float | ThresholdRule = 0.5,
    positive_class: str | None = None,
) -> TrainingResult:
    """Fit the configured Pipeline; binary models are served at their decision threshold.

    With a search, the best candidate by the primary metric (on seeded folds,
    so the same config gives the same winner) is refitted on all rows.

    Binary tasks return a ``FixedThresholdClassifier`` around the frozen fitted
    Pipeline, so ``predict`` applies the threshold wherever the model is
    loaded (MLflow serving included) and ``predict_proba`` is the Pipeline's.
    The threshold is ``decision_threshold`` itself when it is a number, or the
    one a :class:`ThresholdRule` picks by cross-validation on ``train_df`` (the
    holdout never takes part). ``positive_class`` names the label the
    threshold applies to (default: the label that sorts last).
    """
    model = build_model(features, config, task)
    x = train_df[[f.name for f in features]]
    y = train_df[target]
    rule = decision_threshold if isinstance(decision_threshold, ThresholdRule) else None
    tune = task == "binary" and rule is not None
    summary: SearchSummary | None = None
    fitted = False
    if config.search is not None:
        search, summary = _search(model, x, y, task, config, primary_metric, refit=not tune)
        if tune:
            # The tuning refits it anyway, once per fold and once on all rows.
            model.set_params(**search.best_params_)
        else:
            model, fitted = search.best_estimator_, True
    if task != "binary":
        if not fitted:
            model.fit(x, y)
        return TrainingResult(model, summary, None)
    pos_label = positive_label(np.unique(y.to_numpy()), positive_class)
    cv_score: float | None = None
    if isinstance(decision_threshold, ThresholdRule):
        model, threshold, cv_score = _tune_threshold(
            model, x, y, decision_threshold, pos_label, config.seed
        )
    else:
        if not fitted:
            model.fit(x, y)
        threshold = float(decision_threshold)
    served = FixedThresholdClassifier(
        FrozenEstimator(model),
        threshold=threshold,
        pos_label=pos_label,
        response_method="predict_proba",
    )
    served.fit(x, y)  # the frozen Pipeline is not refitted; this only checks y is binary
    chosen = ThresholdSummary(
        threshold=threshold,
        rule=describe_rule(decision_threshold),
        positive_class=str(pos_label),
        cv_score=cv_score,
        cv_folds=rule.cv if rule is not None else None,
    )
    return TrainingResult(served, summary, chosen)
