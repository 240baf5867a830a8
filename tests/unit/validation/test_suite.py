"""The data-validation rules, run with real Great Expectations on small inline frames.

Each bad-data kind must fail with a report that names the column and what was observed, because
that report is all a user sees when the data gate stops a run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from configs.schema import DataConfig, FeatureSpec
from pipelines.console import quiet_console
from steps.validation.suite import (
    FailedExpectation,
    ValidationReport,
    build_expectations,
    column_dtypes,
    explain_missing_values,
    render_report_html,
    validate_frame,
)

ROWS = 300
CHANNELS = ["online", "pos", "atm"]
FEATURES = [
    FeatureSpec(name="amount", kind="numeric", min=0.0, max=50_000.0),
    FeatureSpec(name="channel", kind="categorical", allowed=CHANNELS),
    FeatureSpec(name="memo", kind="text", max_null_fraction=0.2),
    FeatureSpec(name="age", kind="numeric", min=18, max_null_fraction=0.5),
]


def data_config(**overrides: object) -> DataConfig:
    settings: dict[str, object] = {
        "source": {"kind": "synthetic", "rows": 1000},
        "target": "is_fraud",
        "task": "binary",
        "target_classes": ["0", "1"],
        "min_rows": 100,
    }
    settings.update(overrides)
    return DataConfig.model_validate(settings)


BINARY = data_config()


def good_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.uniform(0, 5_000, rows),
            "channel": rng.choice(CHANNELS, rows),
            "memo": rng.choice(["groceries", "fuel station", "online shop"], rows),
            "age": rng.integers(18, 90, rows).astype(float),
            "is_fraud": rng.integers(0, 2, rows),
        }
    )


def failures_for(report: ValidationReport, column: str | None) -> list[FailedExpectation]:
    return [f for f in report.failures if f.column == column]


def only_failure(report: ValidationReport, column: str | None) -> FailedExpectation:
    """The single failure for a column: each problem should be reported once."""
    assert not report.success
    found = failures_for(report, column)
    assert len(found) == 1, report.summary()
    return found[0]


# --- a good frame -------------------------------------------------------------------------------


def test_good_frame_passes():
    report = validate_frame(good_frame(), FEATURES, BINARY)

    assert report.success, report.summary()
    assert report.failures == []
    assert report.rows == ROWS
    assert report.evaluated >= len(FEATURES) + 2  # at least existence per column + row count
    assert report.summary().startswith("Data validation passed")


def test_tolerated_nulls_pass_exactly_at_the_limit():
    df = good_frame()
    df.loc[: ROWS // 2 - 1, "age"] = np.nan  # exactly 50%, the tolerated share
    df.loc[: ROWS // 5 - 1, "memo"] = None  # exactly 20%

    assert validate_frame(df, FEATURES, BINARY).success


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(lambda s: s.astype(str), id="strings"),
        pytest.param(lambda s: s.astype(float), id="floats"),
        pytest.param(lambda s: s.astype(bool), id="bools"),
        pytest.param(lambda s: s.astype("Int64"), id="nullable-ints"),
    ],
)
def test_int_labels_match_string_classes(labels: Callable[[pd.Series], pd.Series]):
    df = good_frame()
    df["is_fraud"] = labels(df["is_fraud"])

    assert validate_frame(df, FEATURES, BINARY).success


def test_pandas_extension_dtypes_pass():
    df = good_frame().astype(
        {"amount": "Float64", "memo": "string", "channel": "category", "age": "float32"}
    )

    assert validate_frame(df, FEATURES, BINARY).success


# --- each bad-data kind -------------------------------------------------------------------------


def test_missing_column_is_reported_once_by_name():
    report = validate_frame(good_frame().drop(columns=["amount"]), FEATURES, BINARY)

    failure = only_failure(report, "amount")
    assert failure.expectation == "expect_column_to_exist"
    assert failure.observed == "column 'amount' is missing"
    assert len(report.failures) == 1


def test_strings_in_a_numeric_column_fail_the_type_rule_with_examples():
    df = good_frame()
    df["amount"] = df["amount"].astype(object)
    df.loc[[3, 10, 11], "amount"] = ["abc", "n/a", "abc"]

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "amount")
    assert failure.expectation == "expect_column_values_to_be_in_type_list"
    assert "dtype object" in failure.observed
    assert "3 of 300" in failure.observed
    assert "'abc'" in failure.observed and "'n/a'" in failure.observed
    assert "numeric" in failure.expected


def test_a_column_of_another_dtype_names_the_dtype():
    df = good_frame()
    df["memo"] = 7
    df["amount"] = df["amount"] > 100

    report = validate_frame(df, FEATURES, BINARY)

    assert only_failure(report, "memo").observed == "dtype int64"
    assert only_failure(report, "amount").observed == "dtype bool"


def test_all_null_column_fails_even_with_a_null_tolerance():
    df = good_frame()
    df["age"] = np.nan  # age tolerates 50% nulls
    lenient = [*FEATURES[:3], FEATURES[3].model_copy(update={"max_null_fraction": 0.99})]

    for features in (FEATURES, lenient):
        failure = only_failure(validate_frame(df, features, BINARY), "age")
        assert failure.observed == "all 300 values are null"


def test_all_null_column_fails_when_the_tolerance_rounds_away():
    df = good_frame()
    df["age"] = np.nan
    features = [*FEATURES[:3], FEATURES[3].model_copy(update={"max_null_fraction": 1 - 1e-14})]

    failure = only_failure(validate_frame(df, features, BINARY), "age")
    assert failure.expectation == "expect_column_proportion_of_non_null_values_to_be_between"
    assert failure.observed == "all values are null"


def test_values_out_of_range_report_the_observed_extremes():
    df = good_frame()
    df.loc[5, "amount"] = 99_999.0
    df.loc[6, "amount"] = -5.0
    df.loc[7, "age"] = 12.0

    report = validate_frame(df, FEATURES, BINARY)

    amount = failures_for(report, "amount")
    assert {f.expectation for f in amount} == {
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
    }
    assert {f.observed for f in amount} == {"min -5.0", "max 99999.0"}
    assert all(f.expected == "between 0.0 and 50000.0" for f in amount)
    age = only_failure(report, "age")
    assert (age.observed, age.expected) == ("min 12.0", "at least 18.0")


def test_unknown_category_is_named():
    df = good_frame()
    df.loc[[1, 2], "channel"] = "crypto"

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "channel")
    assert failure.expectation == "expect_column_distinct_values_to_be_in_set"
    assert "'crypto'" in failure.observed
    assert failure.expected == "one of ['online', 'pos', 'atm']"


def test_empty_frame_fails_on_row_count_only():
    report = validate_frame(good_frame().iloc[:0], FEATURES, BINARY)

    failure = only_failure(report, None)
    assert failure.expectation == "expect_table_row_count_to_be_between"
    assert failure.observed == "0 rows"
    assert failure.expected == "at least 100 rows"
    assert len(report.failures) == 1
    assert report.rows == 0


def test_too_few_rows_fail():
    failure = only_failure(validate_frame(good_frame(rows=40), FEATURES, BINARY), None)
    assert failure.observed == "40 rows"


def test_missing_target_is_reported_once():
    report = validate_frame(good_frame().drop(columns=["is_fraud"]), FEATURES, BINARY)

    failure = only_failure(report, "is_fraud")
    assert failure.observed == "column 'is_fraud' is missing"
    assert len(report.failures) == 1


def test_target_with_an_unexpected_label_is_named():
    df = good_frame()
    df.loc[9, "is_fraud"] = 2

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "is_fraud")
    assert failure.observed == "1 unexpected distinct value: [2]"
    assert failure.expected == "one of ['0', '1']"


def test_target_may_not_have_nulls():
    df = good_frame()
    df["is_fraud"] = df["is_fraud"].astype(float)
    df.loc[[0, 1], "is_fraud"] = np.nan

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "is_fraud")
    assert failure.observed == "2 of 300 values are null (0.67%)"


def test_binary_target_without_classes_allows_two_labels():
    config = data_config(target_classes=None)
    df = good_frame()
    assert validate_frame(df, FEATURES, config).success

    df.loc[0, "is_fraud"] = 7
    failure = only_failure(validate_frame(df, FEATURES, config), "is_fraud")
    assert failure.observed == "3 distinct values"


def test_regression_target_is_numeric_and_within_bounds():
    config = data_config(task="regression", target_classes=None, target_min=0.0, target_max=1.0)
    df = good_frame()
    df["is_fraud"] = np.linspace(0, 1, ROWS)
    assert validate_frame(df, FEATURES, config).success

    df.loc[0, "is_fraud"] = 3.5
    assert only_failure(validate_frame(df, FEATURES, config), "is_fraud").observed == "max 3.5"

    df["is_fraud"] = "high"
    failure = only_failure(validate_frame(df, FEATURES, config), "is_fraud")
    assert failure.expectation == "expect_column_values_to_be_in_type_list"
    assert "'high'" in failure.observed


def test_nulls_above_the_tolerated_fraction_are_counted():
    df = good_frame()
    df.loc[: 0.3 * ROWS - 1, "memo"] = None  # 30% > the tolerated 20%
    df.loc[4, "channel"] = None  # channel tolerates none

    report = validate_frame(df, FEATURES, BINARY)

    memo = only_failure(report, "memo")
    assert memo.expectation == "expect_column_values_to_not_be_null"
    assert memo.observed == "90 of 300 values are null (30.00%)"
    assert memo.expected == "at most 20.0% nulls"
    channel = only_failure(report, "channel")
    assert (channel.observed, channel.expected) == ("1 of 300 values are null (0.33%)", "no nulls")


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda df: df.assign(channel=[[1]] * len(df)), id="unhashable-values"),
        pytest.param(lambda df: df.assign(amount=pd.Timestamp("2024-01-01")), id="datetimes"),
        pytest.param(lambda df: df.assign(amount=[1, "x", 2.5] * (len(df) // 3)), id="mixed"),
        pytest.param(lambda df: df.set_axis(range(df.shape[1]), axis=1), id="int-names"),
        pytest.param(lambda df: pd.DataFrame(), id="no-columns"),
    ],
)
def test_bad_data_never_raises(spoil: Callable[[pd.DataFrame], pd.DataFrame]):
    report = validate_frame(spoil(good_frame()), FEATURES, BINARY)

    assert not report.success
    assert all(f.observed and f.expected for f in report.failures)


def test_duplicate_column_names_are_reported():
    df = good_frame()
    df = pd.concat([df, df[["amount"]]], axis=1)

    failure = only_failure(validate_frame(df, FEATURES, BINARY), None)
    assert "duplicate column names ['amount']" in failure.observed


# --- the suite itself ---------------------------------------------------------------------------


def test_missing_and_non_numeric_columns_get_no_value_rules():
    present = column_dtypes(good_frame().drop(columns=["memo"]).astype({"amount": object}))

    suite = build_expectations(FEATURES, BINARY, present)

    by_column: dict[str, set[str]] = {}
    for rule in suite.expectations:
        by_column.setdefault(str(getattr(rule, "column", None)), set()).add(rule.expectation_type)
    assert by_column["memo"] == {"expect_column_to_exist"}
    assert "expect_column_min_to_be_between" not in by_column["amount"]
    assert "expect_column_values_to_be_in_type_list" in by_column["amount"]
    assert "expect_table_row_count_to_be_between" in by_column["None"]
    assert all((rule.meta or {}).get("expected") for rule in suite.expectations)


def test_validation_prints_nothing_and_writes_no_files(tmp_path, monkeypatch, capfd):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    df = good_frame()
    df.loc[0, "amount"] = -1.0
    quiet_console()  # as run.py sets it up: GX's one known INFO line is silenced at its source

    validate_frame(df, FEATURES, BINARY)

    captured = capfd.readouterr()
    assert captured.out == ""
    assert "Calculating Metrics" not in captured.err
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == []


# --- what the user reads ------------------------------------------------------------------------


def test_summary_names_each_failure_with_column_and_observed_values():
    df = good_frame()
    df.loc[1, "channel"] = "crypto"
    df.loc[2, "amount"] = 99_999.0

    text = validate_frame(df, FEATURES, BINARY).summary()

    assert text.splitlines()[0].startswith("Data validation failed: 2 problems found by")
    assert "column 'channel': expect_column_distinct_values_to_be_in_set" in text
    assert "observed: 1 unexpected distinct value: ['crypto']" in text
    assert "column 'amount': expect_column_max_to_be_between" in text
    assert "expected: between 0.0 and 50000.0" in text
    assert "observed: max 99999.0" in text


def test_summary_of_a_table_rule_says_table():
    report = ValidationReport(
        success=False,
        evaluated=3,
        rows=5,
        failures=[
            FailedExpectation(
                expectation="expect_table_row_count_to_be_between",
                column=None,
                observed="5 rows",
                expected="at least 100 rows",
            )
        ],
    )
    assert report.summary().splitlines()[1] == "- table: expect_table_row_count_to_be_between"


def test_html_report_escapes_everything_and_is_self_contained():
    report = ValidationReport(
        success=False,
        evaluated=4,
        rows=10,
        failures=[
            FailedExpectation(
                expectation="expect_column_distinct_values_to_be_in_set",
                column="<b>chan</b>",
                observed="1 unexpected distinct value: ['<script>alert(1)</script>']",
                expected="one of ['a&b', \"quote\"]",
            )
        ],
    )

    page = render_report_html(report, dataset_label="train <v2> & more")

    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;chan&lt;/b&gt;" in page
    assert "a&amp;b" in page and "&quot;quote&quot;" in page
    assert "train &lt;v2&gt; &amp; more" in page
    assert "FAILED" in page and "<table>" in page and "<style>" in page
    assert "http" not in page and "src=" not in page and "<link" not in page


def test_html_report_for_a_pass_lists_every_check():
    """A passing page shows each rule and what was observed (it used to say only "passed")."""
    report = validate_frame(good_frame(), FEATURES, BINARY)

    page = render_report_html(report, dataset_label="reference")

    assert "PASSED" in page and "FAILED" not in page
    assert f"{report.evaluated} checks on {ROWS} rows and 5 columns: 0 failed" in page
    assert page.count('<span class="mark pass">') == len(report.checks) == report.evaluated
    assert '<span class="mark fail">' not in page


def test_validation_leaves_ge_batch_fingerprinting_as_it_found_it() -> None:
    """We turn GE's per-batch row hash off only while our suite runs (see _run_suite)."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    from configs.schema import DataConfig, FeatureSpec, SyntheticSource
    from steps.validation.suite import validate_frame

    before = engine.HASH_THRESHOLD
    config = DataConfig(
        source=SyntheticSource(kind="synthetic", rows=100),
        target="y",
        task="binary",
        features=[FeatureSpec(name="x", kind="numeric", min=0, max=1)],
        min_rows=1,
    )
    report = validate_frame(
        pd.DataFrame({"x": [0.5, 2.0], "y": [0, 1]}), config.features or [], config
    )
    assert not report.success and report.failures[0].column == "x"
    assert before == engine.HASH_THRESHOLD


# --- every check is recorded, passed or failed --------------------------------------------------


def test_every_rule_becomes_a_check_with_what_was_observed():
    df = good_frame()
    report = validate_frame(df, FEATURES, BINARY)

    assert report.evaluated == len(report.checks) > len(FEATURES) + 2
    assert all(check.passed and check.observed and check.expected for check in report.checks)
    by_rule = {(c.column, c.expectation): c.observed for c in report.checks}
    assert by_rule[("amount", "expect_column_to_exist")] == "present, dtype float64"
    assert by_rule[("amount", "expect_column_values_to_not_be_null")] == "0 of 300 values are null"
    assert by_rule[("amount", "expect_column_min_to_be_between")] == f"min {df['amount'].min()}"
    assert by_rule[("amount", "expect_column_max_to_be_between")] == f"max {df['amount'].max()}"
    assert by_rule[("amount", "expect_column_values_to_be_in_type_list")] == "dtype float64"
    assert by_rule[("memo", "expect_column_values_to_be_in_type_list")] == (
        "dtype object; all 300 non-null values are strings"
    )
    assert by_rule[(None, "expect_table_row_count_to_be_between")] == "300 rows"


def test_a_passed_category_rule_lists_the_categories_seen_with_their_shares():
    df = good_frame().astype({"channel": "category"})
    df["channel"] = df["channel"].cat.set_categories([*CHANNELS, "unused"])
    df.loc[df["channel"] == "atm", "channel"] = "pos"  # 'atm' is allowed but absent

    report = validate_frame(df, FEATURES, BINARY)

    observed = {c.column: c.observed for c in report.checks if "distinct" in c.expectation}
    shares = df["channel"].value_counts(normalize=True)
    assert observed["channel"] == (
        f"2 categories seen: '{shares.index[0]}' ({shares.iloc[0]:.1%}), "
        f"'{shares.index[1]}' ({shares.iloc[1]:.1%}); allowed but not seen: ['atm']"
    )
    labels = df["is_fraud"].value_counts(normalize=True)
    assert observed["is_fraud"].startswith(f"2 categories seen: {labels.index[0]} (")


def test_failures_are_the_failed_checks_in_order():
    df = good_frame()
    df.loc[1, "channel"] = "crypto"
    df.loc[2, "amount"] = 99_999.0

    report = validate_frame(df, FEATURES, BINARY)

    assert report.failures == [c.as_failure() for c in report.checks if not c.passed]
    assert [f.column for f in report.failures] == ["amount", "channel"]
    assert len(report.checks) == report.evaluated


def test_summary_lists_notes_after_the_failures():
    passed = validate_frame(good_frame(), FEATURES, BINARY).with_notes(["rules locked from v3"])
    assert passed.summary().splitlines()[1:] == ["Notes:", "- rules locked from v3"]

    df = good_frame()
    df.loc[2, "amount"] = 99_999.0
    text = validate_frame(df, FEATURES, BINARY).with_notes(["rules locked from v3"]).summary()
    assert text.index("observed: max 99999.0") < text.index("Notes:\n- rules locked from v3")


# --- a wrong type names the values that break it, and their rows ---------------------------------


def _through_csv(df: pd.DataFrame, tmp_path) -> tuple[pd.DataFrame, str]:
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return pd.read_csv(path), str(path)


def test_one_word_in_a_numeric_csv_column_is_named_with_its_row(tmp_path):
    """pandas reads the whole column as strings; only the word is the problem."""
    df = good_frame()
    df["amount"] = df["amount"].astype(object)
    df.loc[17, "amount"] = "unknown"
    frame, _ = _through_csv(df, tmp_path)
    assert frame["amount"].map(type).eq(str).all()  # every value is a string now

    failure = only_failure(validate_frame(frame, FEATURES, BINARY), "amount")

    assert failure.observed == (
        "dtype object: 1 of 300 non-null values is not a number: 'unknown' (row 17); "
        "the other 299 parse as numbers. Row 0 is the first data row."
    )


def test_several_bad_values_are_counted_with_their_rows(tmp_path):
    df = good_frame()
    df["amount"] = df["amount"].astype(object)
    df.loc[[3, 40, 41, 90], "amount"] = ["twelve", "12,50", "twelve", "twelve"]
    bad = [f"bad{n}" for n in range(6)]
    df.loc[200:205, "amount"] = bad
    frame, _ = _through_csv(df, tmp_path)

    observed = only_failure(validate_frame(frame, FEATURES, BINARY), "amount").observed

    assert observed.startswith("dtype object: 10 of 300 non-null values are not numbers: ")
    assert "'twelve' (3 times: rows 3, 41, 90), '12,50' (row 40), 'bad0' (row 200)" in observed
    assert "'bad2' (row 202) and 3 other distinct values; the other 290 parse" in observed
    assert "'bad3'" not in observed


def test_a_bad_value_among_numbers_in_memory_is_named_alone():
    df = good_frame()
    df["age"] = df["age"].astype(object)
    df.loc[[5, 250], "age"] = "?"

    observed = only_failure(validate_frame(df, FEATURES, BINARY), "age").observed

    assert "2 of 300 non-null values are not numbers: '?' (2 times: rows 5, 250)" in observed


def test_numbers_stored_as_text_say_so():
    df = good_frame()
    df["amount"] = df["amount"].astype(str)

    observed = only_failure(validate_frame(df, FEATURES, BINARY), "amount").observed

    assert observed.startswith("dtype object; 300 of 300 non-null values (100.00%) are not int")
    assert "each reads as a number" in observed


def test_non_strings_in_a_text_column_are_named_with_their_rows():
    df = good_frame()
    df["memo"] = df["memo"].astype(object)
    df.loc[[5, 6], "memo"] = 7
    df.loc[9, "memo"] = 3.5

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "memo")

    assert failure.observed == (
        "dtype object: 3 of 300 non-null values are not strings: 7 (2 times: rows 5, 6), "
        "3.5 (row 9); the other 297 are strings. Row 0 is the first data row."
    )


def test_unhashable_bad_values_are_still_named():
    df = good_frame()
    df["amount"] = df["amount"].astype(object)
    df.at[4, "amount"] = [1, 2]

    observed = only_failure(validate_frame(df, FEATURES, BINARY), "amount").observed

    assert "[1, 2] (row 4)" in observed


# --- nulls in a CSV name the tokens they were read from -------------------------------------------


def test_nulls_in_a_csv_name_the_tokens_pandas_read_as_missing(tmp_path):
    df = good_frame()
    df["channel"] = df["channel"].astype(object)
    df.loc[[4, 9, 12], "channel"] = ["n/a", "n/a", ""]
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    frame = pd.read_csv(path)

    plain = only_failure(validate_frame(frame, FEATURES, BINARY), "channel")
    explained = only_failure(validate_frame(frame, FEATURES, BINARY, str(path)), "channel")

    assert plain.observed == "3 of 300 values are null (1.00%)"
    assert explained.observed == (
        "3 of 300 values are null (1.00%): read as missing from 'n/a' (2 times), "
        "empty field (once), at rows 4, 9, 12. Row 0 is the first data row."
    )


def test_an_all_null_csv_column_names_its_token(tmp_path):
    df = good_frame()
    df["age"] = "NULL"
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)

    report = validate_frame(pd.read_csv(path), FEATURES, BINARY, path.as_uri())

    assert only_failure(report, "age").observed == (
        "all 300 values are null: read as missing from 'NULL' (300 times)"
    )


def test_tokens_are_only_looked_up_in_local_csv_files(tmp_path):
    df = good_frame()
    df.loc[[4, 9], "channel"] = None
    df.to_parquet(tmp_path / "data.parquet")
    df.to_parquet(tmp_path / "parquet_named.csv")
    expected = "2 of 300 values are null (0.67%)"

    for source in (
        str(tmp_path / "data.parquet"),
        str(tmp_path / "parquet_named.csv"),
        str(tmp_path / "missing.csv"),
        "synthetic://transactions?rows=300&seed=0",
        "s3://bucket/data.csv",
    ):
        failure = only_failure(validate_frame(df, FEATURES, BINARY, source), "channel")
        assert failure.observed == expected, source


def test_explaining_missing_values_twice_changes_nothing(tmp_path):
    df = good_frame()
    df["channel"] = df["channel"].astype(object)
    df.loc[7, "channel"] = "N/A"
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    frame = pd.read_csv(path)
    report = validate_frame(frame, FEATURES, BINARY, str(path))

    assert explain_missing_values(report, frame, str(path)) == report
    assert "'N/A' (once), at row 7." in only_failure(report, "channel").observed
    assert report.checks[[c.passed for c in report.checks].index(False)].observed == (
        report.failures[0].observed
    )


def test_a_tiny_null_share_is_not_rounded_to_zero():
    df = good_frame(rows=30_000)
    df.loc[123, "channel"] = None

    failure = only_failure(validate_frame(df, FEATURES, BINARY), "channel")

    assert failure.observed == "1 of 30000 values are null (<0.01%)"
