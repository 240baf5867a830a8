"""Each kind of bad data stops at load or validation with a message naming the problem.

These call the plain functions the ingest and validation steps wrap (no ZenML
run per case, which would cost ~20 s each); one case goes through the whole
pipeline in test_training_pipeline.py and one through run.py in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from configs.schema import DataConfig, FileSource
from steps.data.info import describe_dataset
from steps.data.loading import DataLoadError, load_source
from steps.data.synthetic import fraud_feature_specs, generate_transactions

ROWS = 400


def _config(path: Path) -> DataConfig:
    return DataConfig(
        source=FileSource(kind="file", path=str(path)),
        target="is_fraud",
        task="binary",
        target_classes=["0", "1"],
        features=fraud_feature_specs(),
        min_rows=100,
    )


def _good_frame() -> pd.DataFrame:
    frame = generate_transactions(ROWS, seed=11, fraud_rate=0.05)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame


def _validate(path: Path) -> str:
    """Load and validate like the pipeline does (with the source path); return the failure text."""
    from steps.validation.suite import validate_frame

    config = _config(path)
    frame, source = load_source(config.source, str(path.parent))
    info = describe_dataset(frame, source, config)
    report = validate_frame(frame, info.features, config, source_path=info.source)
    assert not report.success, "bad data passed validation"
    return report.summary()


def _missing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["device_score"])


def _wrong_type(frame: pd.DataFrame) -> pd.DataFrame:
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[3, "amount"] = "twelve dollars"
    return frame


def _all_null(frame: pd.DataFrame) -> pd.DataFrame:
    frame["customer_age"] = np.nan
    return frame


def _out_of_range(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[9, "hour_of_day"] = 31
    return frame


def _unknown_category(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[4, "channel"] = "carrier_pigeon"
    return frame


def _missing_target(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["is_fraud"])


def _bad_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame["is_fraud"] = frame["is_fraud"].astype(object)
    frame.loc[2, "is_fraud"] = "maybe"
    return frame


def _too_few_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(20)


def _nulls_in_required_column(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[::10, "country"] = None
    return frame


CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], list[str]]] = [
    ("missing column", _missing_column, ["device_score", "missing"]),
    ("wrong type", _wrong_type, ["amount", "twelve dollars"]),
    ("column all null", _all_null, ["customer_age", "null"]),
    ("value out of range", _out_of_range, ["hour_of_day", "31"]),
    ("unknown category", _unknown_category, ["channel", "carrier_pigeon"]),
    ("missing target", _missing_target, ["is_fraud", "missing"]),
    ("unexpected label", _bad_label, ["is_fraud", "maybe"]),
    ("too few rows", _too_few_rows, ["20"]),
    ("nulls in a required column", _nulls_in_required_column, ["country", "null"]),
]


@pytest.mark.parametrize(("kind", "corrupt", "named"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bad_table_fails_validation_naming_the_problem(
    tmp_path: Path,
    kind: str,
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    named: list[str],
    fmt: str,
) -> None:
    frame = corrupt(_good_frame())
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        if kind in ("wrong type", "unexpected label"):
            frame = frame.astype({c: str for c in frame.columns if frame[c].dtype == object})
        frame.to_parquet(path, index=False)
    summary = _validate(path)
    for text in named:
        assert text in summary, f"{kind}: {text!r} not in report:\n{summary}"


def test_good_table_passes(tmp_path: Path) -> None:
    from steps.validation.suite import validate_frame

    path = tmp_path / "good.csv"
    _good_frame().to_csv(path, index=False)
    config = _config(path)
    frame, source = load_source(config.source, str(tmp_path))
    report = validate_frame(frame, describe_dataset(frame, source, config).features, config)
    assert report.success, report.summary()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "empty"),
        ("header_only.csv", b"amount,channel,is_fraud\n", "no data rows"),
        ("garbage.csv", bytes(range(256)) * 40, "expected"),
        ("garbage.parquet", b"PAR1 this is not parquet at all" * 10, "parquet"),
        ("table.xlsx", b"whatever", "expected"),
    ],
)
def test_unloadable_file_fails_naming_the_path(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataLoadError) as caught:
        load_source(FileSource(kind="file", path=name), str(tmp_path))
    message = str(caught.value)
    assert str(path) in message
    assert problem.lower() in message.lower()


def test_missing_file_fails_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match=r"nope\.parquet"):
        load_source(FileSource(kind="file", path="nope.parquet"), str(tmp_path))


# --- what a user sees for the commonest CSV faults ---------------------------------------------


def test_a_word_in_a_numeric_csv_column_is_named_with_its_row(tmp_path: Path) -> None:
    """One bad token makes pandas read the whole column as text; the report names the token."""
    frame = _good_frame()
    frame["device_score"] = frame["device_score"].astype(object)
    frame.loc[17, "device_score"] = "unknown"
    frame.to_csv(tmp_path / "data.csv", index=False)

    summary = _validate(tmp_path / "data.csv")

    assert "column 'device_score': expect_column_values_to_be_in_type_list" in summary
    assert (
        "observed: dtype object: 1 of 400 non-null values is not a number: 'unknown' (row 17); "
        "the other 399 parse as numbers. Row 0 is the first data row."
    ) in summary
    assert "then between 0.0 and 1.0, checked once it is numeric" in summary


def test_missing_value_tokens_in_a_required_csv_column_are_named(tmp_path: Path) -> None:
    frame = _good_frame()
    frame.loc[[4, 9, 12, 30], "country"] = ["n/a", "NULL", "", "n/a"]
    frame.to_csv(tmp_path / "data.csv", index=False)

    summary = _validate(tmp_path / "data.csv")

    assert (
        "observed: 4 of 400 values are null (1.00%): read as missing from 'n/a' (2 times), "
        "'NULL' (once), empty field (once), at rows 4, 9, 12, 30. Row 0 is the first data row."
    ) in summary


def test_a_latin1_csv_names_the_line_and_column_of_the_first_bad_byte(tmp_path: Path) -> None:
    frame = generate_transactions(20_000, seed=5)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    lines = path.read_bytes().split(b"\n")
    lines[12_344] = b"Z\xfcrich," + lines[12_344]  # line 12345 in an editor
    path.write_bytes(b"\n".join(lines))
    assert path.stat().st_size > 1_500_000

    with pytest.raises(DataLoadError) as caught:
        load_source(FileSource(kind="file", path="data.csv"), str(tmp_path))

    message = str(caught.value)
    assert str(path) in message
    assert "the file is not UTF-8 text: byte 0xfc at line 12345, column 2" in message
