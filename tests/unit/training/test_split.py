"""The holdout split: identical rows stay together, every class lands on both sides."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from configs.schema import SplitConfig
from steps.training.training import split_holdout
from steps.validation.errors import DataValidationError


def _frame(rows: int = 1000, seed: int = 0, positive_rate: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=rows)),
            "y": (rng.random(rows) < positive_rate).astype(int),
        }
    )


def _row_hashes(frame: pd.DataFrame) -> set[int]:
    return set(pd.util.hash_pandas_object(frame, index=False).tolist())


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_identical_rows_never_straddle_the_split(task: str) -> None:
    distinct = _frame(rows=300)
    if task == "regression":
        distinct["y"] = distinct["x"] * 2.0
    # Every row ten times, shuffled, so copies sit far apart in the table.
    repeated = pd.concat([distinct] * 10, ignore_index=True).sample(frac=1.0, random_state=3)
    train, holdout = split_holdout(repeated, "y", task, SplitConfig(test_size=0.2, seed=1))
    assert len(train) + len(holdout) == len(repeated)
    assert not _row_hashes(train) & _row_hashes(holdout)
    assert len(holdout) == 10 * math.ceil(0.2 * 300)  # whole groups of ten


def test_some_duplicates_stay_together_and_the_rest_split_as_usual() -> None:
    frame = _frame(rows=1000)
    frame = pd.concat([frame, frame.iloc[:50], frame.iloc[:50]], ignore_index=True)
    train, holdout = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.25, seed=4))
    assert not _row_hashes(train) & _row_hashes(holdout)
    assert abs(len(holdout) - 0.25 * len(frame)) <= 2 * 3  # within a few triplets


def test_the_split_is_deterministic_for_a_seed() -> None:
    frame = pd.concat([_frame(rows=800), _frame(rows=800).iloc[:100]], ignore_index=True)
    first = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.2, seed=7))
    again = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.2, seed=7))
    other = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.2, seed=8))
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert not first[1].equals(other[1])


def test_without_duplicates_the_holdout_has_the_configured_size_and_class_shares() -> None:
    frame = _frame(rows=1000, positive_rate=0.05)
    train, holdout = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.2, seed=7))
    assert len(holdout) == 200 and len(train) == 800
    positives = int(frame["y"].sum())
    assert abs(int(holdout["y"].sum()) - positives * 0.2) <= 1
    assert train["y"].mean() == pytest.approx(holdout["y"].mean(), abs=0.01)
    # Rows keep their order, and the index is fresh.
    assert train["x"].tolist() == frame.loc[frame["x"].isin(train["x"]), "x"].tolist()
    assert list(holdout.index) == list(range(200))


def test_stratification_holds_with_duplicates_per_class() -> None:
    frame = _frame(rows=2000, positive_rate=0.1)
    frame = pd.concat([frame] * 3, ignore_index=True)
    _, holdout = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.3, seed=2))
    assert holdout["y"].mean() == pytest.approx(frame["y"].mean(), abs=0.01)


def test_a_rare_class_with_two_distinct_rows_gets_one_on_each_side() -> None:
    frame = _frame(rows=1000, positive_rate=0.0)
    frame.loc[[10, 500], "y"] = 1  # 2 of 1000: 0.2 of a row would go to a 10% holdout
    train, holdout = split_holdout(frame, "y", "binary", SplitConfig(test_size=0.1, seed=0))
    assert int(train["y"].sum()) == 1 and int(holdout["y"].sum()) == 1
    assert len(holdout) == 100


def test_a_class_with_a_single_row_is_named_with_both_sides_counts() -> None:
    frame = _frame(rows=500)
    frame["y"] = frame["y"].astype(str)
    frame.loc[42, "y"] = "2"
    with pytest.raises(DataValidationError) as caught:
        split_holdout(frame, "y", "multiclass", SplitConfig(test_size=0.2, seed=0))
    message = str(caught.value)
    assert "class '2' has 1 row: 1 in train, 0 in holdout" in message
    assert "every class needs rows on both sides" in message
    assert "class '0'" not in message and "class '1'" not in message


def test_a_class_whose_rows_are_all_identical_is_named() -> None:
    frame = _frame(rows=500, positive_rate=0.0)
    copies = frame.iloc[[0] * 6].assign(y=1)
    frame = pd.concat([frame, copies], ignore_index=True)
    with pytest.raises(DataValidationError) as caught:
        split_holdout(frame, "y", "binary", SplitConfig(test_size=0.2, seed=0))
    message = str(caught.value)
    assert "class '1' has 6 rows (all identical, so they stay together)" in message
    assert ": 6 in train, 0 in holdout" in message or ": 0 in train, 6 in holdout" in message


def test_all_rows_identical_cannot_be_split() -> None:
    frame = pd.DataFrame({"x": [1.0] * 20, "y": [0.5] * 20})
    with pytest.raises(DataValidationError, match="all 20 rows are identical"):
        split_holdout(frame, "y", "regression", SplitConfig())


def test_copies_that_differ_only_in_an_index_column_stay_together() -> None:
    """The pipeline compares rows over the features and target: a row number must not split copies."""
    distinct = _frame(rows=300)
    repeated = pd.concat([distinct] * 3, ignore_index=True).sample(frac=1.0, random_state=2)
    repeated.insert(0, "row", np.arange(len(repeated)))  # unique per row, not a feature
    compared = ["x", "colour"]
    train, holdout = split_holdout(repeated, "y", "binary", SplitConfig(), compared)
    content = [*compared, "y"]
    assert not _row_hashes(train[content]) & _row_hashes(holdout[content])
    # Over every column, the row number makes each copy distinct, and copies do straddle.
    train_all, holdout_all = split_holdout(repeated, "y", "binary", SplitConfig())
    assert _row_hashes(train_all[content]) & _row_hashes(holdout_all[content])
