"""Which categorical features a batch reads as strings: those the model learnt as strings."""

from __future__ import annotations

from configs.schema import FeatureSpec
from steps.data.info import DatasetInfo
from steps.inference.step import string_features


def _info(columns: dict[str, str]) -> DatasetInfo:
    kinds = {"amount": "numeric", "store": "categorical", "zip": "categorical", "note": "text"}
    return DatasetInfo(
        source="s",
        sha256="x",
        rows=1,
        columns=columns,
        features=[FeatureSpec(name=n, kind=k) for n, k in kinds.items()],
        features_inferred=False,
        target="y",
        task="binary",
    )


def test_categories_learnt_as_numbers_are_not_read_as_strings() -> None:
    info = _info({"amount": "float64", "store": "category", "zip": "int64", "note": "object"})
    assert string_features(info) == ["store", "note"]


def test_string_and_unknown_dtypes_are_read_as_strings() -> None:
    info = _info({"amount": "float64", "store": "object", "zip": "string"})
    assert string_features(info) == ["store", "zip", "note"]
