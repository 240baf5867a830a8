"""Chunked batch scoring on real files: parity with whole-frame predictions, all-or-nothing
output, the loader's error messages, and memory that follows the chunk size, not the file."""

from __future__ import annotations

import glob
import os
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from configs.schema import FeatureSpec, TrainingConfig
from steps.data.loading import DataLoadError
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.inference.batch import (
    BatchScoringError,
    _arrow_table,
    _constant,
    _stable_schema,
    iter_chunks,
    output_format,
    prediction_columns,
    score_file,
    string_forms,
)
from steps.registry.mlflow_model import serving_example
from steps.training.model_factory import build_model

FEATURES = fraud_feature_specs()
NAMES = [f.name for f in FEATURES]
STRINGS = [f.name for f in FEATURES if f.kind == "categorical"]
ROWS = 1000
CHUNK = 150  # 7 chunks, the last one 100 rows
HGB = TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 30})


def _no_check(chunk: pd.DataFrame, first_row: int) -> None:
    """A validate that accepts every chunk."""


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return generate_transactions(3000, seed=1, fraud_rate=0.05)


@pytest.fixture(scope="module")
def model(training: pd.DataFrame) -> FixedThresholdClassifier:
    """A binary model as training serves it: a frozen Pipeline behind a fixed threshold.

    The threshold is low, so ``predict`` is not the argmax of ``predict_proba``: the
    tests see whether the scorer really calls ``predict``.
    """
    pipeline = build_model(FEATURES, HGB, "binary")
    pipeline.fit(training.drop(columns=[FRAUD_TARGET]), training[FRAUD_TARGET])
    served = FixedThresholdClassifier(
        FrozenEstimator(pipeline), threshold=0.05, pos_label=1, response_method="predict_proba"
    )
    return served.fit(training.drop(columns=[FRAUD_TARGET]), training[FRAUD_TARGET])


@pytest.fixture(scope="module")
def batch() -> pd.DataFrame:
    """Rows to score, with gaps, an id to keep and a row index that is not 0..n-1."""
    frame = generate_transactions(ROWS, seed=2, fraud_rate=0.05).drop(columns=[FRAUD_TARGET])
    frame["customer_ref"] = [f"c{i:05d}" for i in range(ROWS)]
    frame.loc[[3, 400, 999], "amount"] = np.nan
    frame["merchant_category"] = frame["merchant_category"].astype(object)
    frame.loc[[5, 401], "merchant_category"] = None
    frame.index = pd.Index(np.arange(ROWS) * 3 + 10)
    return frame


@pytest.fixture(scope="module")
def files(batch: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    csv, parquet = str(folder / "batch.csv"), str(folder / "batch.parquet")
    batch.to_csv(csv)  # as usually published: the index as a leading unnamed column
    batch.to_parquet(parquet)  # a non-range index is stored as __index_level_0__
    return {"csv": csv, "parquet": parquet}


def _whole_file(path: str, fmt: str) -> pd.DataFrame:
    """The file loaded at once, string features as strings: what the chunks must agree with."""
    if fmt == "csv":
        return pd.read_csv(path, dtype=dict.fromkeys(STRINGS, str))
    frame = pd.read_parquet(path)
    for name in STRINGS:
        frame[name] = frame[name].astype(str).astype(object).where(frame[name].notna(), None)
    return frame


def _read_output(path: str) -> pd.DataFrame:
    """The output as written; floats in a CSV parsed exactly (pandas' default parser may not)."""
    if output_format(path) == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, float_precision="round_trip")


def _score(model: Any, source: str, out: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"chunk_rows": CHUNK, "validate": _no_check}
    options.update(kwargs)
    return score_file(model, source, out, FEATURES, "binary", None, "7", **options)


def _leftovers(folder: Path) -> list[str]:
    return glob.glob(str(folder / ".*partial"))


# --- output_format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("p.csv", "csv"), ("p.CSV.GZ", "csv"), ("d/p.parquet", "parquet"), ("p.pq", "parquet")],
)
def test_output_format_follows_the_suffix(name: str, fmt: str) -> None:
    assert output_format(name) == fmt


def test_unknown_output_suffix_names_the_path_and_the_suffixes(tmp_path: Path, model: Any) -> None:
    with pytest.raises(ValueError, match=r"'preds\.xlsx'.*\.csv\.gz, \.csv, \.parquet, \.pq"):
        output_format("preds.xlsx")
    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"preds\.json"):
        score_file(
            model,
            str(source),
            str(tmp_path / "preds.json"),
            FEATURES,
            "binary",
            None,
            "1",
            _no_check,
        )


# --- parity with the whole frame ---------------------------------------------------------------


@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("in_fmt", ["csv", "parquet"])
def test_chunks_score_like_the_whole_file(
    model: Any,
    batch: pd.DataFrame,
    files: dict[str, str],
    tmp_path: Path,
    in_fmt: str,
    out_suffix: str,
) -> None:
    source = files[in_fmt]
    out = str(tmp_path / "new" / f"predictions{out_suffix}")  # the folder does not exist yet
    done: list[int] = []
    summary = _score(
        model, source, out, keep_columns=["customer_ref", "absent"], progress=done.append
    )

    whole = serving_example(_whole_file(source, in_fmt)[NAMES])
    expected_labels = model.predict(whole)
    expected_proba = model.predict_proba(whole)[:, 1]
    result = _read_output(out)
    key = "Unnamed: 0" if in_fmt == "csv" else "__index_level_0__"
    assert list(result.columns) == [
        key,
        "row",
        "customer_ref",
        "prediction",
        "probability",
        "model_version",
        "predicted_at",
    ]
    assert summary.columns == list(result.columns)
    assert len(result) == ROWS
    assert result["row"].tolist() == list(range(ROWS))
    assert result[key].tolist() == batch.index.tolist()
    assert result["customer_ref"].tolist() == batch["customer_ref"].tolist()
    assert np.array_equal(result["prediction"].to_numpy(), expected_labels)
    assert np.array_equal(result["probability"].to_numpy(), expected_proba)  # exact, not close
    assert (expected_labels != (expected_proba > 0.5)).any()  # predict is the model's, not argmax
    assert set(result["model_version"].astype(str)) == {"7"}
    assert set(result["predicted_at"]) == {summary.predicted_at}
    assert datetime.fromisoformat(summary.predicted_at).utcoffset() is not None
    assert (summary.rows, summary.chunks, summary.format) == (ROWS, 7, output_format(out))
    assert done == [*range(CHUNK, ROWS, CHUNK), ROWS]
    labels, counts = np.unique(expected_labels, return_counts=True)
    assert summary.prediction_counts == {
        str(k): int(v) for k, v in zip(labels, counts, strict=True)
    }
    assert summary.prediction_mean is None
    assert summary.model_dump(mode="json")["rows"] == ROWS
    assert not _leftovers(tmp_path / "new")


def test_parquet_input_scores_like_the_frame_it_was_written_from(
    model: Any, batch: pd.DataFrame, files: dict[str, str], tmp_path: Path
) -> None:
    """Categoricals read back as strings give what the in-memory categorical frame gives."""
    out = str(tmp_path / "p.parquet")
    _score(model, files["parquet"], out)
    frame = batch[NAMES].copy()
    frame["merchant_category"] = frame["merchant_category"].astype("category")
    result = pd.read_parquet(out)
    assert np.array_equal(result["probability"].to_numpy(), model.predict_proba(frame)[:, 1])


def test_gzipped_csv_output_reads_back(model: Any, files: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "p.csv.gz")
    _score(model, files["parquet"], out)
    assert Path(out).read_bytes()[:2] == b"\x1f\x8b"
    assert len(pd.read_csv(out)) == ROWS


def test_positive_class_picks_the_probability_column(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "p.parquet")
    score_file(
        model, files["parquet"], out, FEATURES, "binary", "0", "7", _no_check, chunk_rows=400
    )
    whole = serving_example(_whole_file(files["parquet"], "parquet")[NAMES])
    expected = model.predict_proba(whole)[:, 0]
    assert np.array_equal(pd.read_parquet(out)["probability"].to_numpy(), expected)


# --- validation and all-or-nothing output -------------------------------------------------------


def test_validate_sees_every_raw_chunk_before_it_is_scored(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    events: list[tuple[str, int, int]] = []
    missing: list[int] = []

    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        # Read as strings, as training did: a categorical of str labels (quicker to validate).
        column = chunk["merchant_category"]
        assert isinstance(column.dtype, pd.CategoricalDtype)
        assert all(isinstance(label, str) for label in column.cat.categories)
        assert "nan" not in set(column.cat.categories)  # missing stays missing
        missing.extend(first_row + np.flatnonzero(column.isna().to_numpy()))
        assert "Unnamed: 0" in chunk.columns  # as read: nothing dropped yet
        events.append(("validate", first_row, len(chunk)))

    _score(
        model,
        files["csv"],
        str(tmp_path / "p.csv"),
        validate=validate,
        progress=lambda rows: events.append(("scored", rows, 0)),
    )
    chunks = [(start, min(CHUNK, ROWS - start)) for start in range(0, ROWS, CHUNK)]
    assert [(first, n) for kind, first, n in events if kind == "validate"] == chunks
    assert [rows for kind, rows, _ in events if kind == "scored"] == [s + n for s, n in chunks]
    validated = [events.index(("validate", start, n)) for start, n in chunks]
    scored = [events.index(("scored", start + n, 0)) for start, n in chunks]
    # Each chunk is validated before it is scored, and at most one chunk ahead: chunk
    # i + 1 is validated (in the read-ahead thread) only once chunk i - 1 was scored.
    assert all(v < s for v, s in zip(validated, scored, strict=True))
    assert all(validated[i + 1] > scored[i - 1] for i in range(1, len(chunks) - 1))
    assert missing == [5, 401]


@pytest.mark.parametrize("row_group", [64, 150, 1000])
def test_parquet_chunks_have_chunk_rows_rows_whatever_the_row_groups(
    model: Any, batch: pd.DataFrame, tmp_path: Path, row_group: int
) -> None:
    """pyarrow's batches stop at each row group; the chunks do not (each chunk is validated)."""
    source = tmp_path / "groups.parquet"
    batch.to_parquet(source, row_group_size=row_group)
    sizes: list[tuple[int, int]] = []
    _score(
        model,
        str(source),
        str(tmp_path / "p.parquet"),
        validate=lambda chunk, first_row: sizes.append((first_row, len(chunk))),
    )
    assert sizes == [(start, min(CHUNK, ROWS - start)) for start in range(0, ROWS, CHUNK)]
    whole = serving_example(_whole_file(str(source), "parquet")[NAMES])
    assert np.array_equal(
        pd.read_parquet(tmp_path / "p.parquet")["prediction"].to_numpy(), model.predict(whole)
    )


class Rejected(Exception):
    """What a caller's validation raises."""


@pytest.mark.parametrize("out_name", ["p.csv", "p.parquet"])
def test_a_rejected_chunk_leaves_no_output_and_the_old_file_untouched(
    model: Any, files: dict[str, str], tmp_path: Path, out_name: str
) -> None:
    out = tmp_path / out_name
    out.write_bytes(b"yesterday's predictions")
    error = Rejected("chunk 3 broke a rule")
    seen: list[int] = []

    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        seen.append(first_row)
        if len(seen) == 3:
            raise error

    with pytest.raises(Rejected) as raised:
        _score(model, files["csv"], str(out), validate=validate)
    assert raised.value is error
    assert seen == [0, 150, 300]  # nothing read after the rejected chunk
    assert out.read_bytes() == b"yesterday's predictions"
    assert not _leftovers(tmp_path)


def test_an_interrupt_removes_the_partial_file(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    def progress(rows: int) -> None:
        if rows >= 2 * CHUNK:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _score(model, files["parquet"], str(tmp_path / "p.parquet"), progress=progress)
    assert os.listdir(tmp_path) == []


def test_a_model_that_cannot_score_names_the_chunk_and_rows(
    training: pd.DataFrame, files: dict[str, str], tmp_path: Path
) -> None:
    """Logistic regression without an imputer rejects the NaN at row 400 (the third chunk)."""
    numeric = [f.name for f in FEATURES if f.kind == "numeric"]
    strict = Pipeline(
        [
            ("select", ColumnTransformer([("numeric", "passthrough", numeric)])),
            ("scale", StandardScaler()),  # lets NaN through, to the estimator that rejects it
            ("model", LogisticRegression()),
        ]
    ).fit(training[numeric], training[FRAUD_TARGET])
    # the first NaN is at row 3: start at row 4, so the first NaN left is at 396 (chunk 3)
    source = tmp_path / "gaps.csv"
    pd.read_csv(files["csv"]).iloc[4:].to_csv(source, index=False)
    with pytest.raises(BatchScoringError, match=r"chunk 3 of '.*gaps\.csv' \(data rows 300-449"):
        score_file(
            strict,
            str(source),
            str(tmp_path / "out.csv"),
            FEATURES,
            "binary",
            None,
            "1",
            _no_check,
            chunk_rows=CHUNK,
        )
    assert not (tmp_path / "out.csv").exists()
    assert not _leftovers(tmp_path)


def test_nan_numbers_and_missing_categories_still_score(
    model: Any, batch: pd.DataFrame, files: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "p.csv")
    _score(model, files["csv"], out)
    result = pd.read_csv(out)
    gaps = [3, 400, 999, 5, 401]
    assert batch.iloc[gaps][["amount", "merchant_category"]].isna().any(axis=1).all()
    assert result.loc[gaps, "probability"].between(0, 1).all()


# --- bad input files ----------------------------------------------------------------------------


def _expect_load_error(model: Any, source: Path, match: str, tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match=match) as raised:
        _score(model, str(source), str(tmp_path / "out" / "p.csv"))
    assert str(source) in str(raised.value)
    assert not (tmp_path / "out" / "p.csv").exists()
    assert not _leftovers(tmp_path / "out")


def test_header_only_csv(model: Any, tmp_path: Path) -> None:
    source = tmp_path / "header.csv"
    source.write_text(",amount,channel\n")
    _expect_load_error(model, source, "has a header but no data rows", tmp_path)


def test_parquet_without_rows(model: Any, batch: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "empty.parquet"
    batch.iloc[:0].to_parquet(source)
    _expect_load_error(model, source, "has a header .* but no data rows", tmp_path)


def test_missing_file(model: Any, tmp_path: Path) -> None:
    _expect_load_error(model, tmp_path / "nowhere.csv", "does not exist", tmp_path)


def test_ragged_csv_line_is_named(model: Any, files: dict[str, str], tmp_path: Path) -> None:
    """An extra field on line 402 (data row 400) fails after two chunks were written."""
    lines = Path(files["csv"]).read_text().splitlines()
    lines[401] += ",surplus"
    source = tmp_path / "ragged.csv"
    source.write_text("\n".join(lines) + "\n")
    _expect_load_error(model, source, "malformed .*line 402", tmp_path)


def test_unknown_input_suffix(model: Any, tmp_path: Path) -> None:
    source = tmp_path / "batch.xlsx"
    source.write_text("x")
    _expect_load_error(model, source, "cannot tell the file format", tmp_path)


def test_output_cannot_overwrite_the_input(model: Any, tmp_path: Path) -> None:
    source = tmp_path / "batch.csv"
    source.write_text("a\n1\n")
    with pytest.raises(ValueError, match="it is the input file"):
        _score(model, str(source), str(source))
    assert source.read_text() == "a\n1\n"


def test_iter_chunks_rejects_a_chunk_size_below_one(files: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="chunk_rows"):
        iter_chunks(files["csv"], "csv", 0, string_forms(FEATURES))


# --- Parquet output schema ----------------------------------------------------------------------


def test_parquet_schema_holds_when_a_later_chunk_has_gaps(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    """An integer id read as float in the chunk where it has a blank stays int64 (with a null)."""
    frame = pd.read_csv(files["csv"])
    frame["account"] = pd.array(range(ROWS), dtype="Int64")
    frame.loc[700, "account"] = pd.NA
    source = tmp_path / "ids.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "p.parquet"
    _score(model, str(source), str(out), keep_columns=["account"])
    table = pq.read_table(out)
    assert table.schema.field("account").type == pa.int64()
    assert table.column("account").null_count == 1
    assert table.schema.field("Unnamed: 0").type == pa.int64()


def _output_like(rows: int) -> pd.DataFrame:
    """A frame with every kind of column an output chunk can hold."""
    return pd.DataFrame(
        {
            "Unnamed: 0": np.arange(rows),
            "row": np.arange(rows, dtype=np.int64),
            "account": pd.array([1, None] * (rows // 2), dtype="Int64"),
            "memo": ["a", None] * (rows // 2),
            "channel": pd.Categorical(["pos", "atm"] * (rows // 2)),
            "level": pd.Categorical([1, 2] * (rows // 2)),
            "prediction": ["0", "1"] * (rows // 2),
            "probability": np.linspace(0, 1, rows),
            "model_version": _constant("3", rows),
            "predicted_at": _constant("2026-12-03T14:00:00+00:00", rows),
            "empty": [None] * rows,
        }
    )


def test_arrow_table_is_what_pyarrow_builds_from_the_frame_and_schema() -> None:
    frame = _output_like(100)
    schema = _stable_schema(frame)
    ours = _arrow_table(frame, schema)
    assert ours.schema.equals(schema)
    assert ours.equals(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
    assert ours.column("model_version").type == pa.string()
    assert ours.column("level").type == pa.int64()


@pytest.mark.parametrize(
    ("column", "values", "error"),
    [
        ("account", [1.5] * 100, pa.ArrowInvalid),
        ("empty", np.arange(100) * 1.0, pa.ArrowTypeError),
        ("predicted_at", _constant("x", 100).cat.rename_categories([1.5]), pa.ArrowTypeError),
    ],
)
def test_arrow_table_errors_name_the_column(column: str, values: Any, error: type) -> None:
    schema = _stable_schema(_output_like(100))
    frame = _output_like(100)
    frame[column] = values
    with pytest.raises(error, match=f"column '{column}'"):
        _arrow_table(frame, schema)


def test_parquet_output_rejects_a_column_whose_type_changes(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    frame = pd.read_csv(files["csv"])
    frame["account"] = [str(i) for i in range(ROWS)]
    frame.loc[700, "account"] = "1.5"  # integers in chunks 1-4, a fraction in chunk 5
    source = tmp_path / "ids.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(BatchScoringError, match=r"data rows 600-749.*first chunk"):
        _score(model, str(source), str(tmp_path / "p.parquet"), keep_columns=["account"])
    assert not (tmp_path / "p.parquet").exists()
    assert not _leftovers(tmp_path)


def test_a_failed_write_is_reported_before_a_later_chunks_rejection(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    """Chunk 5's write fails in the background while chunk 6 is validated (and rejected).

    Problems come out in file order, as they would without the overlap: chunk 5's.
    """
    frame = pd.read_csv(files["csv"])
    frame["account"] = [str(i) for i in range(ROWS)]
    frame.loc[700, "account"] = "1.5"  # chunk 5 (rows 600-749) cannot be written
    source = tmp_path / "ids.csv"
    frame.to_csv(source, index=False)

    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        if first_row >= 750:
            raise Rejected(f"rows from {first_row} broke a rule")

    with pytest.raises(BatchScoringError, match=r"data rows 600-749"):
        _score(
            model, str(source), str(tmp_path / "p.parquet"), keep_columns=["account"],
            validate=validate,
        )
    assert not (tmp_path / "p.parquet").exists()
    assert not _leftovers(tmp_path)


def test_partitioned_parquet_directory(model: Any, batch: pd.DataFrame, tmp_path: Path) -> None:
    folder = tmp_path / "parts.parquet"
    batch.reset_index(drop=True).to_parquet(folder, partition_cols=["channel"])
    out = tmp_path / "p.parquet"
    summary = _score(model, str(folder), str(out), chunk_rows=100)
    whole = serving_example(_whole_file(str(folder), "parquet")[NAMES])
    assert summary.rows == ROWS
    assert np.array_equal(pd.read_parquet(out)["probability"], model.predict_proba(whole)[:, 1])


# --- other tasks --------------------------------------------------------------------------------


def _fitted(
    training: pd.DataFrame, target: pd.Series, task: str
) -> tuple[Pipeline, list[FeatureSpec]]:
    features = [f for f in FEATURES if f.name != target.name]
    model = build_model(features, HGB, task)
    return model.fit(training[[f.name for f in features]], target), features


def test_regression_predicts_floats_and_reports_the_mean(
    training: pd.DataFrame, files: dict[str, str], tmp_path: Path
) -> None:
    model, features = _fitted(training, training["amount"], "regression")
    out = str(tmp_path / "p.parquet")
    summary = score_file(
        model, files["parquet"], out, features, "regression", None, "2", _no_check, chunk_rows=CHUNK
    )
    result = pd.read_parquet(out)
    whole = serving_example(_whole_file(files["parquet"], "parquet")[[f.name for f in features]])
    expected = model.predict(whole)
    assert "probability" not in result.columns
    assert np.array_equal(result["prediction"].to_numpy(), expected)
    assert summary.prediction_mean == pytest.approx(float(expected.mean()), rel=1e-12)
    assert summary.prediction_counts == {}


def test_multiclass_probability_is_the_highest_class_probability(training: pd.DataFrame) -> None:
    target = training["channel"].astype(str).rename("channel")
    model, features = _fitted(training, target, "multiclass")
    chunk = serving_example(training[[f.name for f in features]].iloc[:200])
    columns = prediction_columns(model, chunk, "multiclass", None)
    assert list(columns.columns) == ["prediction", "probability"]
    assert columns["prediction"].tolist() == model.predict(chunk).tolist()
    assert np.array_equal(columns["probability"], model.predict_proba(chunk).max(axis=1))


# --- memory -------------------------------------------------------------------------------------


def test_memory_follows_the_chunk_size_not_the_file(
    model: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """300k rows in 20k-row chunks: the traced peak stays well below the whole frame's size.

    numpy and pandas allocations are traced, so a scorer that concatenated the chunks,
    or kept the output, would peak above the whole frame; reading chunk by chunk peaks at
    a few chunks' worth.
    """
    folder = tmp_path_factory.mktemp("memory")
    source = str(folder / "big.csv")
    generate_transactions(300_000, seed=5).drop(columns=[FRAUD_TARGET]).to_csv(source)
    whole_bytes = int(_whole_file(source, "csv").memory_usage(deep=True).sum())
    validate: Callable[[pd.DataFrame, int], None] = _no_check
    tracemalloc.start()
    try:
        summary = _score(
            model, source, str(folder / "p.parquet"), chunk_rows=20_000, validate=validate
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.rows == 300_000
    assert summary.chunks == 15
    print(f"traced peak {peak:,} B, whole frame {whole_bytes:,} B")
    assert peak < 0.5 * whole_bytes, f"peak {peak:,} B vs whole frame {whole_bytes:,} B"


def test_a_missing_feature_column_is_named(
    model: Any, files: dict[str, str], tmp_path: Path
) -> None:
    """Validation normally catches it; without it the scorer still says what is missing."""
    source = tmp_path / "short.csv"
    pd.read_csv(files["csv"]).drop(columns=["device_score"]).to_csv(source, index=False)
    with pytest.raises(BatchScoringError, match=r"chunk 1 .*\['device_score'\] are missing"):
        _score(model, str(source), str(tmp_path / "p.csv"))
    assert os.listdir(tmp_path) == ["short.csv"]
