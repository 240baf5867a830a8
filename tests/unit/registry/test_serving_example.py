"""``serving_example``: what a client sends, column by column, whatever pandas held.

The reference below is the plain conversion (a copy of the frame, then each column
converted with pandas' own ``astype``/``where``); the fast one must give the same frame,
down to the dtype and the Python object in every cell, on every kind of column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steps.registry.mlflow_model import serving_example


def reference_conversion(features: pd.DataFrame) -> pd.DataFrame:
    example = features.copy()
    for column in example.columns:
        dtype = example[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
            example[column] = example[column].astype(object).where(example[column].notna(), None)
        elif pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            example[column] = example[column].astype("float64")
    return example


def every_kind(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "amount": rng.uniform(0, 100, rows).astype(np.float32),
            "score": rng.normal(size=rows),
            "count": rng.integers(0, 9, rows).astype(np.int8),
            "age": rng.integers(18, 90, rows),
            "flag": rng.integers(0, 2, rows).astype(bool),
            "nullable": pd.array(rng.integers(0, 5, rows), dtype="Int64"),
            "channel": pd.Categorical(rng.choice(["pos", "online", "atm"], rows)),
            "level": pd.Categorical(rng.choice([1, 2, 3], rows)),
            "unused": pd.Categorical(rng.choice(["a", "b"], rows), categories=["a", "b", "z"]),
            "memo": rng.choice(["fuel", "food", "rent"], rows).astype(object),
            "mixed": pd.Series([1, "two", 3.5] * (rows // 3), dtype=object),
        },
        index=pd.RangeIndex(100, 100 + rows, name="id"),
    )
    frame.loc[frame.index[::7], ["channel", "level", "memo", "score", "nullable"]] = None
    frame.loc[frame.index[::5], "mixed"] = np.nan
    return frame


def test_same_frame_as_the_plain_conversion_on_every_kind_of_column() -> None:
    frame = every_kind()
    ours = serving_example(frame)
    expected = reference_conversion(frame)
    pd.testing.assert_frame_equal(ours, expected)
    for column in ours.columns:
        if ours[column].dtype == object:
            assert [type(v) for v in ours[column]] == [type(v) for v in expected[column]], column
    assert ours["channel"].isna().sum() == len(frame.index[::7])
    assert all(v is None for v in ours["channel"][ours["channel"].isna()])


def test_columns_picks_and_orders_without_touching_the_input() -> None:
    frame = every_kind()
    before = frame.copy()
    ours = serving_example(frame, ["level", "amount", "channel"])
    pd.testing.assert_frame_equal(ours, reference_conversion(frame[["level", "amount", "channel"]]))
    ours.loc[ours.index[0], "amount"] = -1.0
    ours.loc[ours.index[1], "channel"] = "changed"
    pd.testing.assert_frame_equal(frame, before)


def test_an_empty_frame_keeps_its_columns() -> None:
    frame = every_kind().iloc[:0]
    pd.testing.assert_frame_equal(serving_example(frame), reference_conversion(frame))


def test_duplicate_names_are_refused() -> None:
    frame = every_kind()
    with pytest.raises(ValueError, match="duplicate column names"):
        serving_example(frame, ["amount", "amount"])
