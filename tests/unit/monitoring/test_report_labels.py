"""Which label the Evidently report counts as positive, and how labels are spelled for it.

The whole report on real data is tests/integration/monitoring/test_word_labels.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steps.monitoring.report import label_strings, report_positive_label
from steps.validation.errors import DataValidationError


def test_labels_are_spelled_as_the_config_spells_them() -> None:
    values = pd.Series([1, 0.0, "yes", np.int64(1), None, np.nan, True], dtype=object)
    spelled = label_strings(values)
    assert spelled.iloc[:4].tolist() == ["1", "0", "yes", "1"]
    assert spelled.iloc[4:6].isna().all()
    assert spelled.iloc[6] == "True"


def test_a_parquet_and_a_csv_spelling_of_one_label_are_one_label() -> None:
    reference = pd.Series([0, 1, 1], dtype="int64")
    batch = pd.Series([0.0, 1.0, np.nan])
    assert set(label_strings(reference)) == set(label_strings(batch).dropna()) == {"0", "1"}


@pytest.mark.parametrize(
    ("labels", "positive_class", "expected"),
    [
        (["no", "yes", "no"], "yes", "yes"),
        (["no", "yes"], "no", "no"),
        ([0, 1, 1], "0", "0"),
        ([0.0, 1.0], "1", "1"),
        ([0, 1], "1.0", "1"),
        (["no", "yes"], None, "yes"),  # the default: the label that sorts last
        ([0, 1], None, "1"),
        ([2, 10], None, "10"),  # as numbers, not as text ("2" > "10")
    ],
)
def test_the_positive_label_is_the_recorded_class(
    labels: list[object], positive_class: str | None, expected: str
) -> None:
    assert report_positive_label(pd.Series(labels), positive_class) == expected


def test_a_positive_class_the_labels_lack_is_named() -> None:
    with pytest.raises(DataValidationError, match=r"positive class 'fraud'.*'no', 'yes'"):
        report_positive_label(pd.Series(["yes", "no", None]), "fraud")
