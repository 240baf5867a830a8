"""Score a CSV or Parquet file chunk by chunk with a fitted Pipeline, in bounded memory.

Plain functions (no ZenML); the batch-inference step only adapts :func:`score_file`.
A batch may hold 10 million rows, so nothing here ever holds the whole input or the
whole output: a chunk is read and validated by the caller; only then is the next one
read and validated, in a background thread while this one is scored, and this one's
predictions are appended to the output in another thread while the next is scored
(:mod:`steps.inference.overlap`). The summary is built from running tallies. Memory
therefore grows with ``chunk_rows`` (three chunks at most), not with the file.

The output appears all at once or not at all: chunks go to a hidden temporary file
beside the output, which is renamed into place only when every chunk passed
validation and was scored. A rejected chunk, an unreadable line, a model error or
Ctrl-C removes the temporary file and leaves any earlier output untouched, so a
downstream reader never sees half a batch.

Reading reuses the training loader's checks and messages (missing, empty, binary,
non-UTF-8 files), so a bad batch file fails the way a bad training file does.
Categorical (and text) features are read as strings and every chunk goes through
:func:`serving_example`, the conversion the serving path applies, so a chunk is fed
to the model exactly as the whole file would be and as a serving request is.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Literal, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from configs.schema import FeatureSpec, FileSource
from steps.data.loading import (
    _check_local_file,
    _fail,
    _local_path,
    _table_format,
    read_errors,
)
from steps.evaluation.metrics import positive_column, positive_label
from steps.evaluation.predictions import predict_once
from steps.inference.overlap import ReadAhead, WriteBehind
from steps.registry.mlflow_model import serving_example

OutputFormat = Literal["csv", "parquet"]
_Chunks = Generator[pd.DataFrame, None, None]
#: How a string feature is read: object strings, or a categorical of strings.
StringForm = Literal["str", "category"]

_OUTPUT_SUFFIXES: tuple[tuple[str, OutputFormat], ...] = (
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
#: Names pandas and pyarrow give a row index written out as a column; carried as the row key.
INDEX_COLUMNS = ("Unnamed: 0", "__index_level_0__")
#: Read buffer for Parquet column chunks (see _parquet_chunks).
_PARQUET_BUFFER_BYTES = 1 << 20
#: Columns the scorer adds; an input column of the same name cannot be kept beside them.
GENERATED_COLUMNS = ("row", "prediction", "probability", "model_version", "predicted_at")


class BatchScoringError(RuntimeError):
    """A chunk could not be scored or written; the message names the file, chunk and rows."""


class BatchSummary(BaseModel):
    """What a scored batch was: where from and to, how big, by which version, with what result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str
    output: str
    format: OutputFormat
    rows: int
    chunks: int
    model_version: str
    predicted_at: str  #: ISO-8601 UTC, when scoring started; the same on every output row
    columns: list[str]  #: the output's columns, in order
    prediction_counts: dict[str, int] = {}  #: classification: rows per predicted label
    prediction_mean: float | None = None  #: regression: the mean prediction


def output_format(path: str) -> OutputFormat:
    """The output format the file name asks for; ValueError naming the path otherwise."""
    name = path.lower()
    for suffix, fmt in _OUTPUT_SUFFIXES:
        if name.endswith(suffix):
            return fmt
    expected = ", ".join(suffix for suffix, _ in _OUTPUT_SUFFIXES)
    raise ValueError(
        f"cannot write predictions to '{path}': the name does not say which format; "
        f"expected a name ending in one of {expected}"
    )


# --- reading ---------------------------------------------------------------------------------


def iter_chunks(
    path: str, fmt: str, chunk_rows: int, strings: Mapping[str, StringForm]
) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time (the last chunk may be shorter), in order.

    ``strings`` names the columns to read as strings (categorical and text features),
    each as object strings (``"str"``) or as a categorical of strings (``"category"``,
    see :func:`_with_strings`): a CSV chunk would otherwise guess their type from its
    own rows, and a chunk of ``"1"``/``"2"`` labels would come back as numbers. A local file is checked
    now (missing, empty, binary, non-UTF-8 text); parser errors surface while iterating,
    as DataLoadError naming the file (and the line when pandas names one), as does a
    file with no data rows.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    local = _local_path(path)
    if local is not None:
        _check_local_file(local, fmt)
    if fmt == "csv":
        return _non_empty(_csv_chunks(path, chunk_rows, strings), path, fmt)
    return _non_empty(_parquet_chunks(local or path, chunk_rows, strings), path, fmt)


def _non_empty(chunks: _Chunks, path: str, fmt: str) -> _Chunks:
    """Drop empty chunks; a file that yields no rows at all is an error, as in training."""
    rows = 0
    with contextlib.closing(chunks):
        for chunk in chunks:
            if len(chunk):
                rows += len(chunk)
                yield chunk
    if rows == 0:
        header = "a header" if fmt == "csv" else "a header (a schema)"
        raise _fail(path, f"the file has {header} but no data rows", "at least one data row")


def _translated(path: str, fmt: str) -> contextlib.AbstractContextManager[None]:
    """The training loader's translation of reader errors, plus pyarrow's own."""
    return read_errors(path, fmt, corrupt=(pa.ArrowException,))


def _csv_chunks(path: str, chunk_rows: int, strings: Mapping[str, StringForm]) -> _Chunks:
    """pandas' chunked reader; every ``next`` is translated, never the consumer's code."""
    dtypes = {name: str if form == "str" else "category" for name, form in strings.items()}
    with _translated(path, "csv"):
        reader = pd.read_csv(path, chunksize=chunk_rows, dtype=dtypes)
    with reader:
        while True:
            with _translated(path, "csv"):
                chunk = next(reader, None)
            if chunk is None:
                return
            yield chunk


def _parquet_chunks(path: str, chunk_rows: int, strings: Mapping[str, StringForm]) -> _Chunks:
    """Record batches as frames, string features as strings (see :func:`_with_strings`).

    A directory is a partitioned dataset (its partition columns included, as
    pandas reads it); read-ahead is off so only the current batch is decoded.
    Pre-buffering is off too: with it, pyarrow keeps every row group's bytes it has
    read until the file is closed, so memory grew with the file (+285 MB by the end
    of a 10M-row file); a 1 MB buffered stream keeps it flat, and was faster.
    """
    with _translated(path, "parquet"):
        if os.path.isdir(path):
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet", partitioning="hive")
            options = ds.ParquetFragmentScanOptions(
                pre_buffer=False, use_buffered_stream=True, buffer_size=_PARQUET_BUFFER_BYTES
            )
            batches: Iterator[pa.RecordBatch] = iter(
                dataset.to_batches(
                    batch_size=chunk_rows,
                    batch_readahead=0,
                    fragment_readahead=0,
                    fragment_scan_options=options,
                )
            )
            handle: pq.ParquetFile | None = None
        else:
            handle = pq.ParquetFile(path, pre_buffer=False, buffer_size=_PARQUET_BUFFER_BYTES)
            batches = handle.iter_batches(batch_size=chunk_rows)
    tables = _regrouped(batches, chunk_rows)
    try:
        while True:
            with _translated(path, "parquet"):
                table = next(tables, None)
                frame = None if table is None else table.to_pandas()
            if frame is None:
                return
            yield _with_strings(frame, strings)
    finally:
        if handle is not None:
            handle.close()


def _regrouped(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The batches as tables of exactly ``rows`` rows, in order (the last may be shorter).

    pyarrow never lets a batch cross a row group (1,048,576 rows when pandas writes the
    file), so 500k-row batches came as 500k, 500k, 48k: 30 chunks for 10M rows instead
    of 20, each paying validation's fixed cost (about 0.25 s).
    """
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _with_strings(frame: pd.DataFrame, strings: Mapping[str, StringForm]) -> pd.DataFrame:
    """``strings`` columns as the strings a CSV column read as ``str`` holds (None if missing).

    A categorical feature becomes a categorical of strings, not object strings: a
    Parquet dictionary column keeps its codes and only its few labels become strings
    (0.06 s per 500k-row column as objects), and Great Expectations checks a
    categorical column's labels in less than half the time (0.33 s against 0.77 s per
    500k-row chunk of the generator's data). Text stays object strings, as the text
    rules expect. The model gets object strings either way (:func:`model_input`).
    """
    for name, form in strings.items():
        if name in frame.columns:
            values = frame[name]
            frame[name] = (
                string_categories(values)
                if form == "category"
                else values.astype(str).astype(object).where(values.notna(), None)
            )
    return frame


def string_categories(values: pd.Series) -> pd.Series:
    """``values`` as a categorical whose labels are ``str(value)``; missing stays missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = values.cat.categories.astype(str)
        if labels.is_unique:  # 1 and "1" would both become "1"
            return values.cat.rename_categories(labels)
        values = values.astype(object)
    return values.astype(str).where(values.notna(), None).astype("category")


def string_forms(
    features: Sequence[FeatureSpec], names: Sequence[str] | None = None
) -> dict[str, StringForm]:
    """How to read each of ``names`` (default: every categorical and text feature) as strings."""
    kinds = {f.name: f.kind for f in features}
    chosen = (
        [n for n, k in kinds.items() if k in ("categorical", "text")] if names is None else names
    )
    return {name: "category" if kinds.get(name) == "categorical" else "str" for name in chosen}


# --- scoring ---------------------------------------------------------------------------------


def model_input(chunk: pd.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """The feature columns only (never the row key or an id), as the serving path sends them."""
    names = [feature.name for feature in features]
    missing = [name for name in names if name not in chunk.columns]
    if missing:
        raise ValueError(f"the feature column(s) {missing} are missing")
    return serving_example(chunk, names)


def prediction_columns(
    model: Any, chunk: pd.DataFrame, task: str, positive_class: str | None
) -> pd.DataFrame:
    """``prediction`` (exactly ``model.predict``) and, for classification, ``probability``.

    ``chunk`` is the model's input (see :func:`model_input`). Binary: the probability of
    the positive class (``positive_class``, default the last of ``classes_``), so it
    means the same whatever the decision threshold; multiclass: the highest class
    probability, the model's confidence in its prediction. A served binary model runs
    once for both (:func:`steps.evaluation.predictions.predict_once`).
    """
    index = pd.RangeIndex(len(chunk))
    scored = predict_once(model, chunk, task)
    if scored.proba is None:
        return pd.DataFrame(
            {"prediction": np.asarray(scored.labels, dtype=np.float64)}, index=index
        )
    if task == "binary":
        classes = model.classes_
        probability = scored.proba[
            :, positive_column(classes, positive_label(classes, positive_class))
        ]
    else:
        probability = scored.proba.max(axis=1)
    return pd.DataFrame(
        {"prediction": scored.labels, "probability": probability.astype(np.float64)},
        index=index,
    )


def _key_columns(chunk: pd.DataFrame) -> dict[str, pd.Series]:
    """The row key the input carries: an index Parquet restored, or a leading index column."""
    index = pd.RangeIndex(len(chunk))
    keys: dict[str, pd.Series] = {}
    if not (isinstance(chunk.index, pd.RangeIndex) and chunk.index.name is None):
        for level, name in enumerate(chunk.index.names):
            label = f"__index_level_{level}__" if name is None else str(name)
            keys[label] = chunk.index.get_level_values(level).to_series(index=index)
    if len(chunk.columns) and str(chunk.columns[0]) in INDEX_COLUMNS:
        keys[str(chunk.columns[0])] = chunk.iloc[:, 0].reset_index(drop=True)
    return keys


def _output_frame(
    chunk: pd.DataFrame,
    predictions: pd.DataFrame,
    first_row: int,
    keep_columns: Sequence[str],
    model_version: str,
    predicted_at: str,
) -> pd.DataFrame:
    """One output row per input row: key, position, kept columns, predictions, provenance."""
    n = len(chunk)
    index = pd.RangeIndex(n)
    parts: dict[str, Any] = _key_columns(chunk)
    parts["row"] = pd.Series(np.arange(first_row, first_row + n, dtype=np.int64), index=index)
    for name in keep_columns:
        if name in chunk.columns and name not in parts:
            parts[name] = chunk[name].reset_index(drop=True)
    for name in predictions.columns:
        parts[name] = predictions[name]
    parts["model_version"] = _constant(model_version, n)
    parts["predicted_at"] = _constant(predicted_at, n)
    return pd.DataFrame(parts, index=index)


def _constant(value: str, n: int) -> pd.Series:
    """``value`` on every row, as a one-label categorical.

    A column of n copies of one Python string cost 0.3 s per 500k rows to build and
    convert for Parquet, a tenth of the model's time; one label and n zero codes cost
    nearly nothing. The file holds plain strings either way (:func:`_stable_schema`).
    """
    codes = np.zeros(n, dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, categories=[value]), index=pd.RangeIndex(n))


class _Tally:
    """Running prediction counts (classification) or sum (regression) over all chunks."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.counts: dict[str, int] = {}
        self.total = 0.0
        self.rows = 0

    def add(self, predictions: pd.Series) -> None:
        self.rows += len(predictions)
        if self.task == "regression":
            self.total += float(np.sum(predictions.to_numpy(dtype=np.float64)))
            return
        for label, count in predictions.value_counts(sort=False).items():
            key = str(label.item() if isinstance(label, np.generic) else label)
            self.counts[key] = self.counts.get(key, 0) + int(count)

    def mean(self) -> float | None:
        if self.task != "regression" or self.rows == 0:
            return None
        return self.total / self.rows


# --- writing ---------------------------------------------------------------------------------


class _ChunkWriter(Protocol):
    def write(self, frame: pd.DataFrame, where: str) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def _durable_close(handle: IO[bytes]) -> None:
    """Flush to disk before the rename, so a crash cannot leave a renamed empty file."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


class _CsvWriter:
    """Appends chunks to one open file; the header goes with the first chunk only."""

    def __init__(self, path: str, compress: bool) -> None:
        self._raw = open(path, "xb")  # noqa: SIM115 (closed in commit/abort)
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb") if compress else None
        self._text = io.TextIOWrapper(self._gzip or self._raw, encoding="utf-8", newline="")
        self._header = True

    def write(self, frame: pd.DataFrame, where: str) -> None:
        frame.to_csv(self._text, mode="a", header=self._header, index=False)
        self._header = False

    def commit(self) -> None:
        self._text.flush()
        self._text.detach()  # without closing what it wraps: gzip's trailer comes next
        if self._gzip is not None:
            self._gzip.close()
        _durable_close(self._raw)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._raw.close()


class _ParquetWriter:
    """One ParquetWriter, one row group per chunk, the schema fixed by the first chunk.

    A CSV column's type can change between chunks (integers, then a chunk with a
    blank that makes them floats); each chunk is cast to the first chunk's schema, and
    a chunk that cannot be cast (1.5 into an integer column) fails with its rows named.
    """

    def __init__(self, path: str) -> None:
        self._handle = open(path, "xb")  # noqa: SIM115 (closed in commit/abort)
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame, where: str) -> None:
        if self._schema is None:
            self._schema = _stable_schema(frame)
            self._writer = pq.ParquetWriter(self._handle, self._schema)
        try:
            table = _arrow_table(frame, self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise BatchScoringError(
                f"cannot write {where} as Parquet: a column's type differs from the first "
                f"chunk's ({exc}); expected the same type in every row (or write CSV output)"
            ) from exc
        assert self._writer is not None
        self._writer.write_table(table)

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.close()
        _durable_close(self._handle)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            self._handle.close()


def _arrow_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table of ``schema``; raises ArrowInvalid / ArrowTypeError if it cannot.

    A categorical column whose labels already have the column's type (the constant
    columns, see :func:`_constant`) is converted as an Arrow dictionary and decoded in
    Arrow: given the plain type directly, pyarrow goes through one Python object per row
    (0.04-0.08 s per 500k rows and constant column, against 0.003 s). Every other column,
    and a categorical of other labels, is converted by pyarrow as from_pandas would.
    """
    columns: list[pa.Array | pa.ChunkedArray] = []
    for field in schema:
        values = frame[field.name]
        try:
            column = pa.Array.from_pandas(values) if _is_categorical(values) else None
            if column is not None and column.type.value_type == field.type:
                columns.append(column.cast(field.type))  # decoding only: exact
            else:
                columns.append(pa.Array.from_pandas(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise type(exc)(
                f"{exc}; conversion failed for column {field.name!r} with type {values.dtype}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype)


def _stable_schema(frame: pd.DataFrame) -> pa.Schema:
    """The first chunk's Arrow schema, in plain types every later chunk can be cast to.

    A column that is all missing there becomes string; a categorical (the constant
    columns, see :func:`_constant`) is written as its labels' type, so a reader gets
    strings, and chunks whose categories differ still fit.
    """
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    for position, field in enumerate(schema):
        if pa.types.is_null(field.type):
            schema = schema.set(position, field.with_type(pa.string()))
        elif pa.types.is_dictionary(field.type):
            schema = schema.set(position, field.with_type(field.type.value_type))
    return schema


def _open_writer(path: str, fmt: OutputFormat, final: str) -> _ChunkWriter:
    if fmt == "parquet":
        return _ParquetWriter(path)
    return _CsvWriter(path, compress=final.lower().endswith(".gz"))


def _partial_path(final: str) -> str:
    """A hidden, unique name beside ``final``: same filesystem, so the rename is atomic."""
    folder, name = os.path.split(final)
    return os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.partial")


def _local_output(output_path: str, input_path: str) -> str:
    """The local file to write, refusing what cannot end well after hours of scoring."""
    local = _local_path(output_path)
    if local is None:
        raise ValueError(
            f"cannot write predictions to '{output_path}': expected a local path "
            "(the output is renamed into place, which object stores cannot do atomically)"
        )
    local = os.path.abspath(local)
    if os.path.isdir(local):
        raise ValueError(f"cannot write predictions to '{output_path}': it is a directory")
    source = _local_path(input_path)
    if source is not None and os.path.abspath(source) == local:
        raise ValueError(
            f"cannot write predictions to '{output_path}': it is the input file; "
            "expected a different output path"
        )
    return local


def _validated(
    chunks: Iterator[pd.DataFrame], validate: Callable[[pd.DataFrame, int], None]
) -> _Chunks:
    """Each chunk once ``validate(chunk, first_row)`` has passed; nothing is read past a failure."""
    first_row = 0
    try:
        for chunk in chunks:
            validate(chunk, first_row)
            first_row += len(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)  # a generator: closes the reader's file now
        if close is not None:
            close()


def _describe_rows(first_row: int, n: int, number: int, path: str) -> str:
    return f"chunk {number} of '{path}' (data rows {first_row}-{first_row + n - 1}, from 0)"


def score_file(
    model: Any,
    input_path: str,
    output_path: str,
    features: Sequence[FeatureSpec],
    task: str,
    positive_class: str | None,
    model_version: str,
    validate: Callable[[pd.DataFrame, int], None],
    chunk_rows: int = 100_000,
    keep_columns: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    string_columns: Sequence[str] | None = None,
) -> BatchSummary:
    """Validate, score and write ``input_path`` chunk by chunk; all of it or nothing.

    ``validate(chunk, first_row)`` gets each chunk as read (string features as strings,
    categorical ones as a categorical of strings)
    with the 0-based position of its first row, before that chunk is scored and before
    the next is read; whatever it raises propagates unchanged, after the chunks before
    it were scored. It runs while the previous chunk is scored, in a background thread
    (never two calls at once; the first chunk's in the caller's thread). The output has one row
    per input row, in order: the input's row key if it has one (``Unnamed: 0``, or the
    index a Parquet file stores), ``row``, the ``keep_columns`` present, ``prediction``
    (and ``probability``), ``model_version`` and ``predicted_at``. It is renamed into
    place only after the last chunk; on any failure the partial file is removed and an
    earlier file at ``output_path`` is untouched. A model error is raised as
    BatchScoringError naming the chunk and its rows. ``string_columns`` are read as
    strings (default: every categorical and text feature); a caller that knows the
    model learnt a numeric-looking category as numbers (a CSV read by pandas) leaves it
    out, so the batch reaches the model as the training data did.
    """
    fmt = output_format(output_path)
    final = _local_output(output_path, input_path)
    clash = sorted(set(keep_columns) & set(GENERATED_COLUMNS))
    if clash:
        raise ValueError(f"keep_columns {clash} clash with the columns scoring adds")
    input_fmt = _table_format(FileSource(kind="file", path=input_path), input_path)
    predicted_at = datetime.now(UTC).isoformat()
    chunks = iter_chunks(input_path, input_fmt, chunk_rows, string_forms(features, string_columns))
    reader = ReadAhead(_validated(chunks, validate), "batch-read")
    behind = WriteBehind("batch-write")
    tally = _Tally(task)
    partial = _partial_path(final)
    writer: _ChunkWriter | None = None
    rows = count = 0
    columns: list[str] = []
    try:
        while True:
            try:
                chunk = reader.next()
            except BaseException:
                behind.wait()  # an earlier chunk's failed write is reported first
                raise
            if chunk is None:
                break
            reader.ahead()  # the next chunk is read and validated while this one is scored
            where = _describe_rows(rows, len(chunk), count + 1, input_path)
            try:
                predictions = prediction_columns(
                    model, model_input(chunk, features), task, positive_class
                )
            except Exception as exc:
                behind.wait()  # an earlier chunk's failed write is reported first
                raise BatchScoringError(
                    f"the model could not score {where}: {type(exc).__name__}: {exc}"
                ) from exc
            frame = _output_frame(
                chunk, predictions, rows, keep_columns, model_version, predicted_at
            )
            if writer is None:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                writer = _open_writer(partial, fmt, final)
                columns = [str(name) for name in frame.columns]
            behind.submit(functools.partial(writer.write, frame, where))
            tally.add(predictions["prediction"])
            rows += len(chunk)
            count += 1
            if progress is not None:
                progress(rows)
        behind.wait()
        assert writer is not None  # iter_chunks raises on a file without rows
        writer.commit()
        os.replace(partial, final)
    except BaseException:
        behind.close()  # a write in flight finishes before its file is closed
        if writer is not None:
            writer.abort()
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
        raise
    finally:
        behind.close()
        reader.close()  # closes the reader's file now
    return BatchSummary(
        input=input_path,
        output=output_path,
        format=fmt,
        rows=rows,
        chunks=count,
        model_version=model_version,
        predicted_at=predicted_at,
        columns=columns,
        prediction_counts=tally.counts,
        prediction_mean=tally.mean(),
    )
