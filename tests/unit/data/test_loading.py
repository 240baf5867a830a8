"""Loading files and the generator, fingerprints, and feature inference, on real files."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from configs.schema import DataConfig, FeatureSpec, FileSource, SyntheticSource
from steps.data.inference import infer_feature_specs, resolve_feature_specs
from steps.data.info import DatasetInfo, describe_dataset
from steps.data.loading import (
    DataLoadError,
    fingerprint,
    first_non_utf8_byte,
    load_source,
    load_table,
    local_csv_path,
    raw_csv_column,
    resolve_path,
)
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions

REPO_ROOT = Path(__file__).resolve().parents[3]


def _file(path: str, fmt: str | None = None) -> FileSource:
    return FileSource(kind="file", path=path, format=fmt)


def _small() -> pd.DataFrame:
    return generate_transactions(500, seed=9, fraud_rate=0.05)


@pytest.fixture
def sample() -> pd.DataFrame:
    return _small()


# --- resolve_path --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/data/train.parquet",
        "gs://bucket/train.csv",
        "https://example.com/train.csv",
        "http://example.com/train.csv",
        "file:///data/train.csv",
    ],
)
def test_urls_pass_through_unchanged(url):
    assert resolve_path(url, "/configs") == url


def test_absolute_paths_stay_and_relative_ones_join_the_base_dir(tmp_path):
    absolute = str(tmp_path / "train.csv")
    assert resolve_path(absolute, "/elsewhere") == absolute
    assert resolve_path("data/train.csv", str(tmp_path)) == str(tmp_path / "data" / "train.csv")
    assert resolve_path("../train.csv", str(tmp_path / "configs")) == str(tmp_path / "train.csv")


def test_relative_paths_under_a_url_base_stay_urls():
    assert resolve_path("train.csv", "s3://bucket/configs") == "s3://bucket/configs/train.csv"


# --- load_table: round trips ---------------------------------------------------------------


def test_parquet_round_trip_keeps_values_dtypes_and_fingerprint(tmp_path, sample):
    sample.to_parquet(tmp_path / "train.parquet")
    loaded = load_table(_file("train.parquet"), str(tmp_path))
    pd.testing.assert_frame_equal(loaded, sample)
    assert fingerprint(loaded) == fingerprint(sample)


def test_pq_suffix_is_parquet(tmp_path, sample):
    sample.to_parquet(tmp_path / "train.pq")
    assert len(load_table(_file("train.pq"), str(tmp_path))) == len(sample)


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_csv_round_trip_keeps_values(tmp_path, sample, name):
    sample.to_csv(tmp_path / name, index=False)
    loaded = load_table(_file(name), str(tmp_path))
    assert list(loaded.columns) == list(sample.columns)
    assert len(loaded) == len(sample)
    np.testing.assert_allclose(loaded["amount"], sample["amount"], rtol=1e-6)
    assert (loaded["channel"] == sample["channel"].astype(str)).all()
    assert (loaded[FRAUD_TARGET] == sample[FRAUD_TARGET]).all()


def test_format_in_the_config_beats_the_suffix(tmp_path, sample):
    sample.to_csv(tmp_path / "export.txt", index=False)
    loaded = load_table(_file("export.txt", fmt="csv"), str(tmp_path))
    assert len(loaded) == len(sample)


def test_file_urls_are_read(tmp_path, sample):
    sample.to_parquet(tmp_path / "train.parquet")
    url = (tmp_path / "train.parquet").as_uri()
    assert len(load_table(_file(url), "/unused")) == len(sample)


# --- load_table: every failure names the path and what was expected ------------------------


def _assert_load_error(source: FileSource, base_dir: Path, *fragments: str) -> str:
    with pytest.raises(DataLoadError) as caught:
        load_table(source, str(base_dir))
    message = str(caught.value)
    assert resolve_path(source.path, str(base_dir)) in message
    assert "expected" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    _assert_load_error(_file("nope.csv"), tmp_path, "does not exist")


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_zero_byte_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    _assert_load_error(_file(name), tmp_path, "empty (0 bytes)")


def test_csv_with_only_a_header_has_no_data_rows(tmp_path):
    (tmp_path / "header.csv").write_text("amount,channel,is_fraud\n")
    _assert_load_error(_file("header.csv"), tmp_path, "no data rows")


def test_parquet_with_no_rows_has_no_data_rows(tmp_path, sample):
    sample.iloc[:0].to_parquet(tmp_path / "none.parquet")
    _assert_load_error(_file("none.parquet"), tmp_path, "no data rows")


def test_csv_of_blank_lines_is_empty(tmp_path):
    (tmp_path / "blank.csv").write_text("\n\n\n")
    _assert_load_error(_file("blank.csv"), tmp_path, "empty")


def test_random_bytes_in_a_csv(tmp_path):
    (tmp_path / "noise.csv").write_bytes(np.random.default_rng(0).bytes(4096))
    _assert_load_error(_file("noise.csv"), tmp_path, "binary")


def test_random_bytes_without_nul_bytes_in_a_csv(tmp_path):
    noise = np.random.default_rng(1).integers(0x80, 0x100, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "noise.csv").write_bytes(b"a,b\n" + noise)
    _assert_load_error(_file("noise.csv"), tmp_path, "not UTF-8")


def test_random_bytes_named_csv_gz(tmp_path):
    (tmp_path / "noise.csv.gz").write_bytes(np.random.default_rng(2).bytes(4096))
    _assert_load_error(_file("noise.csv.gz"), tmp_path, "not gzip")


def test_gzipped_random_bytes(tmp_path):
    (tmp_path / "noise.csv.gz").write_bytes(gzip.compress(np.random.default_rng(2).bytes(4096)))
    _assert_load_error(_file("noise.csv.gz"), tmp_path, "not UTF-8")


def test_truncated_gzip_csv(tmp_path, sample):
    sample.to_csv(tmp_path / "full.csv.gz", index=False)
    data = (tmp_path / "full.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    _assert_load_error(_file("cut.csv.gz"), tmp_path, "could not be read as CSV")


def test_other_compressions_pandas_infers_still_load(tmp_path, sample):
    sample.to_csv(tmp_path / "train.csv.bz2", index=False)
    loaded = load_table(_file("train.csv.bz2", fmt="csv"), str(tmp_path))
    assert len(loaded) == len(sample)


def test_text_file_named_parquet(tmp_path):
    (tmp_path / "train.parquet").write_text("amount,channel\n1.0,pos\n")
    _assert_load_error(_file("train.parquet"), tmp_path, "not Parquet")


def test_random_bytes_named_parquet(tmp_path):
    (tmp_path / "noise.parquet").write_bytes(np.random.default_rng(3).bytes(4096))
    _assert_load_error(_file("noise.parquet"), tmp_path, "not Parquet")


def test_truncated_parquet(tmp_path, sample):
    sample.to_parquet(tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[:-100] + b"PAR1")
    _assert_load_error(_file("cut.parquet"), tmp_path, "could not be read as PARQUET")


def test_parquet_file_named_csv_gets_a_hint(tmp_path, sample):
    sample.to_parquet(tmp_path / "train.csv")
    _assert_load_error(_file("train.csv"), tmp_path, "is Parquet, not CSV", "format: parquet")


def test_unknown_suffix_names_the_expected_formats(tmp_path):
    (tmp_path / "train.xlsx").write_bytes(b"whatever")
    _assert_load_error(_file("train.xlsx"), tmp_path, ".csv", ".csv.gz", ".parquet", ".pq")


def test_directory_given_as_a_csv(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    _assert_load_error(_file("folder.csv"), tmp_path, "directory")


def test_load_errors_are_value_errors():
    assert issubclass(DataLoadError, ValueError)


# --- a file that is not UTF-8 names where the first bad byte is ------------------------------


def _csv_with_a_latin1_word(path: Path, rows: int, bad_line: int) -> tuple[int, int]:
    """A CSV of the generator's data, with 'café' in Latin-1 on ``bad_line`` (1-based).

    Returns the line and the 1-based character column of the bad byte.
    """
    generate_transactions(rows, seed=1).to_csv(path, index=False)
    lines = path.read_bytes().split(b"\n")
    # a UTF-8 'é' before it, so the column counts characters, not bytes
    prefix = lines[bad_line - 1].split(b",", 1)[0] + b",\xc3\xa9caf"
    lines[bad_line - 1] = prefix + b"\xe9" + lines[bad_line - 1].split(b",", 1)[1]
    path.write_bytes(b"\n".join(lines))
    column = len(prefix.decode("utf-8")) + 1
    return bad_line, column


def test_a_bad_byte_deep_in_a_large_csv_is_located_by_line_and_column(tmp_path):
    path = tmp_path / "export.csv"
    line, column = _csv_with_a_latin1_word(path, rows=30_000, bad_line=21_345)
    assert path.stat().st_size > 2_000_000  # far beyond the chunk pandas decodes first

    message = _assert_load_error(_file("export.csv"), tmp_path, "not UTF-8")

    assert f"byte 0xe9 at line {line}, column {column} (invalid continuation byte;" in message
    assert "the column in characters" in message
    assert "expected a UTF-8 encoded CSV (re-save it as UTF-8" in message


def test_a_bad_byte_in_a_gzipped_csv_is_located_in_the_decompressed_data(tmp_path):
    plain = tmp_path / "plain.csv"
    line, column = _csv_with_a_latin1_word(plain, rows=20_000, bad_line=15_000)
    (tmp_path / "export.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))

    message = _assert_load_error(_file("export.csv.gz"), tmp_path, "not UTF-8")

    assert f"byte 0xe9 in the decompressed data at line {line}, column {column}" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"a,b\n1,2\n", None, id="clean"),
        pytest.param(b"a,b\n\xc3\xa9\xc3\xa9x\xffy\n", (9, 0xFF, 2, 4), id="after-two-chars"),
        # a two-byte character split by the 1 MB chunk boundary is not an error...
        pytest.param(
            b"x" * ((1 << 20) - 1) + b"\xc3\xa9\nab\xfe", ((1 << 20) + 4, 0xFE, 2, 3), id="split"
        ),
        # ...but a lead byte with nothing after it at the end of the file is
        pytest.param(b"a\nbc\xc3", (4, 0xC3, 2, 3), id="truncated-at-eof"),
        pytest.param(b"\xe9", (0, 0xE9, 1, 1), id="first-byte"),
        pytest.param(b"a\r\nb\r\n\x80", (6, 0x80, 3, 1), id="crlf"),
    ],
)
def test_first_non_utf8_byte(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    path.write_bytes(content)

    found = first_non_utf8_byte(str(path))

    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.offset, found.byte, found.line, found.column) == expected


def test_first_non_utf8_byte_skips_compressions_it_cannot_open(tmp_path):
    (tmp_path / "data.csv.zip").write_bytes(b"\xff" * 10)
    assert first_non_utf8_byte(str(tmp_path / "data.csv.zip")) is None
    assert first_non_utf8_byte(str(tmp_path / "missing.csv")) is None


# --- the raw CSV column the validation report reads missing-value tokens from ----------------


def test_local_csv_path_is_only_a_local_csv(tmp_path, sample):
    sample.to_csv(tmp_path / "train.csv", index=False)
    sample.to_parquet(tmp_path / "train.parquet")
    sample.to_parquet(tmp_path / "parquet_inside.csv")
    csv = str(tmp_path / "train.csv")

    assert local_csv_path(csv) == csv
    assert local_csv_path((tmp_path / "train.csv").as_uri()) == csv
    for source in (
        str(tmp_path / "train.parquet"),
        str(tmp_path / "parquet_inside.csv"),
        str(tmp_path / "missing.csv"),
        str(tmp_path),
        "s3://bucket/train.csv",
        "synthetic://transactions?rows=500&seed=9",
    ):
        assert local_csv_path(source) is None, source


def test_raw_csv_column_keeps_every_token_as_written(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,n/a\n2,\n3,NULL\n4,x\n")

    raw = raw_csv_column(str(path), "b")

    assert raw is not None and raw.tolist() == ["n/a", "", "NULL", "x"]
    assert pd.read_csv(path)["b"].isna().tolist() == [True, True, True, False]
    assert raw_csv_column(str(path), "no_such_column") is None


# --- load_source ---------------------------------------------------------------------------


def test_load_source_generates_synthetic_data_with_a_descriptor():
    source = SyntheticSource(kind="synthetic", rows=300, seed=5, fraud_rate=0.02, shift=0.5)
    df, descriptor = load_source(source, "/unused")
    assert len(df) == 300
    assert descriptor == "synthetic://transactions?rows=300&seed=5&fraud_rate=0.02&shift=0.5"
    pd.testing.assert_frame_equal(df, generate_transactions(300, 5, 0.02, 0.5))


def test_load_source_reads_a_file_and_reports_the_resolved_path(tmp_path, sample):
    (tmp_path / "data").mkdir()
    sample.to_parquet(tmp_path / "data" / "train.parquet")
    df, descriptor = load_source(_file("data/train.parquet"), str(tmp_path))
    assert descriptor == str(tmp_path / "data" / "train.parquet")
    assert len(df) == len(sample)


# --- fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_a_sha256_hex_and_repeatable(sample):
    digest = fingerprint(sample)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert fingerprint(sample.copy()) == digest


def test_fingerprint_is_stable_across_processes(sample):
    code = (
        "from steps.data.synthetic import generate_transactions;"
        "from steps.data.loading import fingerprint;"
        "print(fingerprint(generate_transactions(500, seed=9, fraud_rate=0.05)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == fingerprint(sample)


def test_fingerprint_ignores_the_index(sample):
    assert fingerprint(sample.set_axis(range(1000, 1500))) == fingerprint(sample)


def _changed_cell(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[123, "amount"] = out.loc[123, "amount"] + np.float32(0.01)
    return out


def _changed_category(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.loc[7, "channel"] = "atm" if out.loc[7, "channel"] != "atm" else "pos"
    return out


def _changed_text(df: pd.DataFrame) -> pd.DataFrame:
    out = df.assign(note="same")
    out.loc[0, "note"] = "other"
    return out


@pytest.mark.parametrize(
    "change",
    [
        _changed_cell,
        _changed_category,
        lambda df: df.rename(columns={"amount": "amount_usd"}),
        lambda df: df[[*df.columns[1:], df.columns[0]]],
        lambda df: df.astype({"hour_of_day": "int64"}),
        lambda df: df.astype({"channel": "object"}),
        lambda df: df.iloc[::-1].reset_index(drop=True),
        lambda df: df.iloc[:-1],
        lambda df: df.assign(channel=df["channel"].cat.add_categories(["kiosk"])),
    ],
    ids=[
        "cell",
        "category",
        "rename",
        "order",
        "dtype",
        "category-to-object",
        "row-order",
        "row-dropped",
        "categories",
    ],
)
def test_fingerprint_notices_every_change(sample, change):
    assert fingerprint(change(sample)) != fingerprint(sample)


def test_fingerprint_sees_a_change_in_a_string_column(sample):
    base = sample.assign(note="same")
    assert fingerprint(_changed_text(sample)) != fingerprint(base)


def test_fingerprint_handles_mixed_and_extension_dtypes():
    df = pd.DataFrame(
        {
            "mixed": [1, "x", None, 2.5],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-01-04"]),
            "flag": [True, False, True, True],
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
            "name": pd.array(["a", None, "b", "c"], dtype="string"),
        }
    )
    assert fingerprint(df) == fingerprint(df.copy())
    assert fingerprint(df) != fingerprint(df.assign(name=pd.array(["a", None, "b", "d"])))


# --- feature inference ---------------------------------------------------------------------

_SENTENCES = [
    "customer called to dispute the charge at the airport",
    "card reported stolen after the trip",
    "merchant refunded part of the amount later",
    "no issue found on review by the analyst",
]


@pytest.fixture
def mixed() -> pd.DataFrame:
    n = 200
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.random(n) * 100,
            "count": rng.integers(0, 5, n),
            "flag": rng.random(n) > 0.5,
            "channel": rng.choice(["pos", "online", "atm"], n),
            "channel_cat": pd.Categorical(rng.choice(["a", "b"], n)),
            "city": rng.choice(["New York", "San Jose", "Los Angeles"], n),
            "comment": [f"{_SENTENCES[i % 4]} (case {i})" for i in range(n)],
            "short_note": [f"flagged by rule {i} today" for i in range(n)],
            "sparse": np.where(np.arange(n) % 10 == 0, np.nan, 1.0),
            "empty": [None] * n,
            "label": rng.integers(0, 2, n),
        }
    )


def test_inference_assigns_kinds_and_skips_the_target(mixed):
    kinds = {spec.name: spec.kind for spec in infer_feature_specs(mixed, target="label")}
    assert kinds == {
        "amount": "numeric",
        "count": "numeric",
        "flag": "categorical",
        "channel": "categorical",
        "channel_cat": "categorical",
        "city": "categorical",
        "comment": "text",
        "short_note": "text",
        "sparse": "numeric",
        "empty": "categorical",
    }


def test_inference_sets_no_value_rules(mixed):
    for spec in infer_feature_specs(mixed, target="label"):
        assert spec.min is None and spec.max is None and spec.allowed is None


def test_inferred_null_tolerance_accepts_the_data_it_came_from(mixed):
    specs = {spec.name: spec for spec in infer_feature_specs(mixed, target="label")}
    assert specs["amount"].max_null_fraction == 0.0
    assert 0.1 <= specs["sparse"].max_null_fraction <= 0.12
    assert specs["empty"].max_null_fraction == 0.0  # all-null must still fail validation


def test_inferred_null_tolerance_rounds_up():
    values = [None] + [1.0] * 299  # 0.333 % null
    spec = infer_feature_specs(pd.DataFrame({"x": values, "y": 0}), target="y")[0]
    assert 1 / 300 <= spec.max_null_fraction <= 0.01


def test_inference_on_generated_data_matches_its_kinds(sample):
    inferred = {spec.name: spec.kind for spec in infer_feature_specs(sample, FRAUD_TARGET)}
    assert inferred == {spec.name: spec.kind for spec in fraud_feature_specs()}


# --- resolve_feature_specs and describe_dataset --------------------------------------------


def _config(source: FileSource | SyntheticSource, features=None, target=FRAUD_TARGET):
    return DataConfig(source=source, target=target, task="binary", features=features)


def test_configured_features_win(sample):
    features = [FeatureSpec(name="amount", kind="numeric", min=0.0)]
    specs, inferred = resolve_feature_specs(sample, _config(_file("x.csv"), features))
    assert specs == features
    assert inferred is False


def test_features_are_inferred_when_omitted(sample):
    specs, inferred = resolve_feature_specs(sample, _config(_file("x.csv")))
    assert inferred is True
    assert [spec.name for spec in specs] == list(sample.columns[:-1])


def test_synthetic_data_uses_the_generator_contract(sample):
    source = SyntheticSource(kind="synthetic", rows=500)
    specs, inferred = resolve_feature_specs(sample, _config(source))
    assert specs == fraud_feature_specs()
    assert inferred is False


def test_synthetic_data_with_another_target_is_inferred(sample):
    source = SyntheticSource(kind="synthetic", rows=500)
    specs, inferred = resolve_feature_specs(sample, _config(source, target="amount"))
    assert inferred is True
    assert "amount" not in {spec.name for spec in specs}


def test_describe_dataset_records_lineage(tmp_path, sample):
    sample.to_parquet(tmp_path / "train.parquet")
    cfg = _config(_file("train.parquet"))
    df, source = load_source(cfg.source, str(tmp_path))
    info = describe_dataset(df, source, cfg)
    assert info.source == str(tmp_path / "train.parquet")
    assert info.sha256 == fingerprint(sample)
    assert info.rows == 500
    assert info.columns["amount"] == "float32"
    assert info.columns["channel"] == "category"
    assert info.features_inferred is True
    assert info.target == FRAUD_TARGET and info.task == "binary"
    assert DatasetInfo.model_validate_json(info.model_dump_json()) == info


def test_describe_dataset_does_not_raise_without_the_target(sample):
    cfg = _config(_file("x.csv"), target="label")
    info = describe_dataset(sample.drop(columns=FRAUD_TARGET), "x.csv", cfg)
    assert info.target == "label"
    assert FRAUD_TARGET not in info.columns
    assert len(info.features) == len(sample.columns) - 1


def test_dataset_info_is_frozen(sample):
    info = describe_dataset(sample, "x.csv", _config(_file("x.csv")))
    with pytest.raises(pydantic.ValidationError):
        info.rows = 1  # type: ignore[misc]


def test_gzip_csv_is_really_compressed(tmp_path, sample):
    """Guard for the .csv.gz round trip: pandas must have written gzip, not plain text."""
    sample.to_csv(tmp_path / "train.csv.gz", index=False)
    with gzip.open(tmp_path / "train.csv.gz", "rt") as handle:
        assert handle.readline().startswith("amount,")
