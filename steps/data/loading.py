"""Load a dataset from a file or the generator, and describe it for lineage.

Plain functions (no ZenML) so they are testable on their own; the data step only
adapts them. Every failure a user can cause with a bad path or a bad file ends
in a :class:`DataLoadError` that names the path and says what was expected,
instead of a parser traceback from deep inside pandas or pyarrow.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import os
import posixpath
import re
import zlib
from collections.abc import Iterator
from typing import NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from configs.schema import FileSource, SyntheticSource
from steps.data.synthetic import generate_transactions

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
_EXPECTED_SUFFIXES = ", ".join(suffix for suffix, _ in _SUFFIXES)
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
#: Suffixes pandas decompresses on its own (compression="infer").
_COMPRESSED_SUFFIXES = (".bz2", ".zip", ".xz", ".zst", ".tar")
_SNIFF_BYTES = 8192
#: Bytes read at a time when looking for the first byte that is not UTF-8.
_SCAN_CHUNK_BYTES = 1 << 20
#: The compressions whose decompressed bytes are scanned for a bad byte (see _open_scannable).
_SCANNABLE_COMPRESSIONS = (".gz", ".bz2", ".xz")
_NOT_UTF8_HINT = (
    "a UTF-8 encoded CSV (re-save it as UTF-8, e.g. 'CSV UTF-8' in Excel, or convert it: "
    "iconv -f latin1 -t utf-8 old.csv > new.csv if it is Latin-1)"
)


class DataLoadError(ValueError):
    """A dataset could not be loaded; the message names the path and what was expected."""


def _fail(path: str, problem: str, expected: str) -> DataLoadError:
    return DataLoadError(f"cannot load data from '{path}': {problem}; expected {expected}")


def resolve_path(path: str, base_dir: str) -> str:
    """Resolve a configured path the way the config author meant it.

    URLs (s3://, gs://, http(s)://, file://) and absolute paths are used as they
    are; a relative path is relative to ``base_dir`` (the config file's folder),
    so a config means the same thing from any working directory. ``~`` expands.
    """
    if _SCHEME.match(path):
        return path
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return os.path.normpath(path)
    if _SCHEME.match(base_dir):
        return posixpath.join(base_dir.rstrip("/") + "/", path)
    return os.path.normpath(os.path.join(os.path.abspath(os.path.expanduser(base_dir)), path))


def _local_path(path: str) -> str | None:
    """The filesystem path behind ``path``, or None for a remote URL."""
    if not _SCHEME.match(path):
        return path
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return url2pathname(parsed.path)
    return None


def _table_format(source: FileSource, path: str) -> str:
    """The configured format, else the one the file's suffix names."""
    if source.format is not None:
        return source.format
    name = (urlparse(path).path if _SCHEME.match(path) else path).lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    raise _fail(
        path,
        "cannot tell the file format from its name",
        f"a name ending in one of {_EXPECTED_SUFFIXES}, or 'format: csv' / 'format: parquet' "
        "in the data source config",
    )


def _check_local_file(path: str, fmt: str) -> None:
    """Catch the common local mistakes before a parser turns them into noise."""
    if not os.path.exists(path):
        raise _fail(path, "the file does not exist", f"a {fmt.upper()} file at this path")
    if os.path.isdir(path):
        if fmt == "parquet":
            return  # a partitioned Parquet dataset is a directory; pyarrow reads it
        raise _fail(path, "this is a directory", "a CSV file")
    if not os.access(path, os.R_OK):
        raise _fail(path, "the file is not readable (permission denied)", "a readable file")
    size = os.path.getsize(path)
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes)", f"a {fmt.upper()} file with data rows")
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        handle.seek(max(size - len(_PARQUET_MAGIC), 0))
        tail = handle.read()
    if fmt == "parquet":
        if not (head.startswith(_PARQUET_MAGIC) and tail == _PARQUET_MAGIC):
            raise _fail(
                path,
                "the file is not Parquet (no PAR1 magic bytes)",
                "a Parquet file (or set 'format: csv' if it is a CSV)",
            )
    else:
        _check_csv_head(path, head)


def _check_csv_head(path: str, head: bytes) -> None:
    """Reject bytes that cannot be CSV text, with a hint when they are Parquet."""
    name = path.lower()
    if name.endswith(".gz"):
        if not head.startswith(_GZIP_MAGIC):
            raise _fail(path, "the file is not gzip data despite its .gz suffix", "a gzipped CSV")
        return
    if name.endswith(_COMPRESSED_SUFFIXES):
        return  # pandas decompresses these; the parser judges the content
    if head.startswith(_PARQUET_MAGIC):
        raise _fail(
            path,
            "the file is Parquet, not CSV",
            "a CSV text file (or set 'format: parquet', or rename it to .parquet)",
        )
    if b"\x00" in head:
        raise _fail(path, "the file holds binary data, not CSV text", "a CSV text file")


def _read(path: str, fmt: str) -> pd.DataFrame:
    """Read with pandas, translating parser errors into DataLoadError."""
    with read_errors(path, fmt):
        if fmt == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)


@contextlib.contextmanager
def read_errors(
    path: str, fmt: str, corrupt: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Turn a reader's exception into a DataLoadError naming ``path`` and what was expected.

    Shared by the training loader and the chunked batch reader, so a bad file
    fails with the same words wherever it is read; ``corrupt`` adds exception
    types a reader raises for unreadable content (pyarrow's).
    """
    unreadable: tuple[type[BaseException], ...] = (
        ValueError,
        OSError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        *corrupt,
    )
    try:
        yield
    except DataLoadError:
        raise
    except FileNotFoundError as exc:
        raise _fail(path, f"the file does not exist ({exc})", f"a {fmt.upper()} file") from exc
    except pd.errors.EmptyDataError as exc:
        raise _fail(path, "the file has no columns (empty)", "a CSV with a header row") from exc
    except UnicodeDecodeError as exc:
        raise _fail(path, _not_utf8_problem(path, exc), _NOT_UTF8_HINT) from exc
    except pd.errors.ParserError as exc:
        raise _fail(path, f"the CSV is malformed ({exc})", "a well-formed CSV file") from exc
    except ImportError as exc:
        raise _fail(
            path,
            f"a package needed to read it is missing ({exc})",
            "the filesystem package for its URL scheme installed (s3fs for s3://, gcsfs for gs://)",
        ) from exc
    except unreadable as exc:
        expected = f"a valid {fmt.upper()} file"
        if _local_path(path) is None:
            expected += " at a reachable URL (check the network and the credentials)"
        raise _fail(
            path, f"it could not be read as {fmt.upper()} ({type(exc).__name__}: {exc})", expected
        ) from exc


def _not_utf8_problem(path: str, exc: UnicodeDecodeError) -> str:
    """What is wrong, with the line and column of the first bad byte when the file is local.

    ``exc.start`` is an offset in whichever chunk pandas was decoding, not in the file, so the
    file is scanned again (only on this failure path) to find the first bad byte itself.
    """
    local = _local_path(path)
    found = first_non_utf8_byte(local) if local is not None else None
    if found is None:
        return f"the file is not UTF-8 text ({exc.reason})"
    compressed = local is not None and local.lower().endswith(_SCANNABLE_COMPRESSIONS)
    where = "in the decompressed data " if compressed else ""
    return (
        f"the file is not UTF-8 text: byte 0x{found.byte:02x} {where}at line {found.line}, "
        f"column {found.column} ({found.reason}; lines and columns count from 1, the column "
        "in characters)"
    )


class BadByte(NamedTuple):
    """Where the first byte that is not valid UTF-8 sits in a file (see first_non_utf8_byte)."""

    offset: int  #: 0-based byte offset in the file (in its decompressed bytes if compressed)
    byte: int  #: the byte's value
    line: int  #: 1-based line number
    column: int  #: 1-based column, counted in characters on that line
    reason: str  #: the codec's reason, e.g. "invalid continuation byte"


def first_non_utf8_byte(path: str) -> BadByte | None:
    """The first byte of a local file (decompressed for .gz/.bz2/.xz) that is not UTF-8.

    Decodes the file incrementally in 1 MB chunks, counting newlines and the characters since
    the last one, so it costs one pass at codec speed and constant memory. None if the file
    decodes cleanly, cannot be opened, or uses a compression it cannot open (.zip, .zst).
    """
    lowered = path.lower()
    if lowered.endswith(_COMPRESSED_SUFFIXES) and not lowered.endswith(_SCANNABLE_COMPRESSIONS):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0  # bytes handed to the decoder so far
    line, column = 1, 0  # column: characters decoded on the current line so far
    try:
        with _open_scannable(path) as handle:
            while True:
                chunk = handle.read(_SCAN_CHUNK_BYTES)
                pending = len(decoder.getstate()[0])  # an incomplete sequence held back
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    valid = exc.object[: exc.start].decode("utf-8")
                    line, column = _advance(line, column, valid)
                    return BadByte(
                        offset=fed - pending + exc.start,
                        byte=exc.object[exc.start],
                        line=line,
                        column=column + 1,
                        reason=exc.reason,
                    )
                line, column = _advance(line, column, text)
                fed += len(chunk)
                if not chunk:
                    return None
    except (OSError, EOFError, zlib.error, lzma.LZMAError):
        return None


def _open_scannable(path: str) -> io.BufferedIOBase:
    """The file's bytes as pandas decodes them: decompressed for .gz, .bz2 and .xz."""
    lowered = path.lower()
    if lowered.endswith(".gz"):
        return gzip.open(path, "rb")
    if lowered.endswith(".bz2"):
        return bz2.open(path, "rb")
    if lowered.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    """Line and column after reading ``text`` from (line, column)."""
    newlines = text.count("\n")
    if not newlines:
        return line, column + len(text)
    return line + newlines, len(text) - text.rfind("\n") - 1


def local_csv_path(source: str) -> str | None:
    """The local file behind a dataset's recorded source when it is a CSV, else None.

    None for remote URLs, ``synthetic://`` data, directories and Parquet files (by suffix or
    by their PAR1 magic bytes, since ``format: csv`` may name any file).
    """
    local = _local_path(source)
    if local is None or not os.path.isfile(local):
        return None
    if local.lower().endswith((".parquet", ".pq")):
        return None
    try:
        with open(local, "rb") as handle:
            if handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC:
                return None
    except OSError:
        return None
    return local


def raw_csv_column(path: str, column: str) -> pd.Series | None:
    """One column of a CSV exactly as written: strings, nothing read as missing.

    Read with the options :func:`_read` uses, except that no token becomes NaN, so the result
    lines up row for row with the loaded column and shows what each missing value was written
    as ("NA", "n/a", ""...). None if the file cannot be read that way.
    """
    try:
        raw = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)
    except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, UnicodeDecodeError):
        return None
    return raw[column] if column in raw.columns else None


def load_table(source: FileSource, base_dir: str) -> pd.DataFrame:
    """Load a CSV or Parquet file (local path or fsspec URL) as a DataFrame.

    Raises DataLoadError for a missing, empty, header-only, binary or otherwise
    unreadable file, and for a suffix that names no known format.
    """
    path = resolve_path(source.path, base_dir)
    fmt = _table_format(source, path)
    local = _local_path(path)
    if local is not None:
        _check_local_file(local, fmt)
    df = _read(path, fmt)
    if df.shape[1] == 0:
        raise _fail(path, "the file has no columns", f"a {fmt.upper()} file with named columns")
    if len(df) == 0:
        raise _fail(
            path, "the file has a header (columns) but no data rows", "at least one data row"
        )
    return df


def synthetic_descriptor(source: SyntheticSource) -> str:
    """A URL-like name for generated data that is enough to regenerate it."""
    return (
        f"synthetic://transactions?rows={source.rows}&seed={source.seed}"
        f"&fraud_rate={source.fraud_rate}&shift={source.shift}"
    )


def load_source(source: SyntheticSource | FileSource, base_dir: str) -> tuple[pd.DataFrame, str]:
    """Load any configured source; return the frame and where it came from."""
    if isinstance(source, SyntheticSource):
        df = generate_transactions(
            source.rows, seed=source.seed, fraud_rate=source.fraud_rate, shift=source.shift
        )
        return df, synthetic_descriptor(source)
    return load_table(source, base_dir), resolve_path(source.path, base_dir)


def fingerprint(df: pd.DataFrame) -> str:
    """sha256 of the table's content, column names, order and dtypes.

    Stable across processes and machines, so a model version can name the
    exact data it was trained on. The index is ignored: row order, not row
    labels, is the content. Numpy-backed columns are hashed as their raw
    little-endian bytes (categoricals as codes, categories in the header)
    because ``hash_pandas_object`` on every column took ~8 s for 10M rows
    against ~0.4 s; other columns (object, strings, nullable extension types)
    go through ``hash_pandas_object``, whose fixed key keeps it stable.
    """
    digest = hashlib.sha256()
    header = [[str(name), _dtype_signature(dtype)] for name, dtype in df.dtypes.items()]
    digest.update(json.dumps({"columns": header, "rows": len(df)}).encode())
    for position in range(df.shape[1]):
        digest.update(_column_bytes(df.iloc[:, position]))
    return digest.hexdigest()


def _column_bytes(values: pd.Series) -> memoryview:
    """A column's content as bytes with a fixed width per row."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        array = values.cat.codes.to_numpy()
    elif isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        array = values.to_numpy()
    else:
        array = pd.util.hash_pandas_object(values, index=False).to_numpy()
    array = np.ascontiguousarray(array)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return array.view(np.uint8).data


def _dtype_signature(dtype: object) -> str:
    """The dtype as text; a categorical's categories count (row hashes ignore them)."""
    if isinstance(dtype, pd.CategoricalDtype):
        categories = json.dumps([str(c) for c in dtype.categories])
        return f"category(ordered={dtype.ordered}, categories={categories})"
    return str(dtype)
