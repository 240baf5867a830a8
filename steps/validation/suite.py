"""The data-validation rules, built from the config's data schema and run with Great Expectations.

The data gate needs two things from this module: a verdict on a dataframe and a report a person
can act on ("column 'amount': max 99999.0, expected at most 50000.0"). Great Expectations 1.x is
called directly (ZenML's GE integration pins GE<1.0), on an *ephemeral* context, so nothing is
written to the repository or the home directory, and with progress bars off, so step logs stay
readable.

Speed shapes the choice of expectations. GE's pandas engine copies the *whole* frame once per
null-filtering column-map expectation (``expect_column_values_to_be_between``, ``..._in_set``),
which made 1M rows x 20 columns take 10-20 s. Ranges and categories are therefore checked
with column aggregates (min, max, distinct values), and everything runs in one batch and one
``validate`` call. Per-value (map) checks remain only where they are cheap (nulls) or where
per-value detail is the point (the type of values in an ``object`` column; those run on a second,
narrow batch of just the columns they read).

Rules that cannot be evaluated on a column are left out: a missing column gets only its
existence check, and a column that is not numeric gets no range check, so each problem is reported
once and clearly instead of as a cascade of GE exceptions.
"""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from configs.schema import DataConfig, FeatureSpec
from steps.validation.ge_overhead import memoised_configurations, without_batch_fingerprint

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation import Expectation

#: How many example values a failure shows; enough to recognise a pattern, short enough to read.
MAX_EXAMPLES = 5
#: Longest rendering of a single example value, so one huge string cannot flood the report.
MAX_VALUE_CHARS = 40

#: Type names GE accepts for "a number": numpy dtypes (a numeric column's dtype), the pandas
#: nullable dtypes, and the Python types GE checks value by value in an ``object`` column.
NUMERIC_TYPE_NAMES: tuple[str, ...] = (
    "int",
    "float",
    *(f"int{bits}" for bits in (8, 16, 32, 64)),
    *(f"uint{bits}" for bits in (8, 16, 32, 64)),
    "float16",
    "float32",
    "float64",
    *(f"Int{bits}Dtype" for bits in (8, 16, 32, 64)),
    *(f"UInt{bits}Dtype" for bits in (8, 16, 32, 64)),
    "Float32Dtype",
    "Float64Dtype",
)
#: Type names GE accepts for "a string": Python ``str`` values and pandas' default string dtype.
TEXT_TYPE_NAMES: tuple[str, ...] = ("str", "StringDtype")

#: How rows are numbered in messages: by position, as ``df.iloc`` counts them; for a CSV with a
#: header, row N is on file line N + 2 (unless blank lines or quoted line breaks come before).
ROW_NUMBERING = "Row 0 is the first data row."
#: Categories a passed category rule lists before it says "and N more".
_MAX_CATEGORIES = 20

_SUITE_NAME = "data_validation"
_NOT_NULL = "expect_column_values_to_not_be_null"
_NOT_ALL_NULL = "expect_column_proportion_of_non_null_values_to_be_between"
_IN_SET = "expect_column_distinct_values_to_be_in_set"
_TYPE_LIST = "expect_column_values_to_be_in_type_list"
_MISSING_FROM = "read as missing from"
_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": MAX_EXAMPLES,
}


class FailedExpectation(BaseModel):
    """One failed rule, in words: what was checked, on which column, what was expected and seen."""

    expectation: str = Field(description="GE expectation type, e.g. expect_column_to_exist.")
    column: str | None = Field(None, description="The column checked; None for table rules.")
    observed: str = Field(description="What the data showed, e.g. counts and example values.")
    expected: str = Field(description="The rule in words, e.g. 'between 0.0 and 50000.0'.")


class CheckRecord(BaseModel):
    """One evaluated rule, passed or failed, for the report a person reads either way."""

    expectation: str = Field(description="Rule name, e.g. expect_column_to_exist.")
    column: str | None = Field(None, description="The column checked; None for table rules.")
    expected: str = Field(description="The rule in words.")
    observed: str = Field(description="What the data showed (also when the rule passed).")
    passed: bool

    def as_failure(self) -> FailedExpectation:
        """The failed-rule view the gate's summary lists."""
        return FailedExpectation(
            expectation=self.expectation,
            column=self.column,
            observed=self.observed,
            expected=self.expected,
        )


class ValidationReport(BaseModel):
    """The outcome of validating one dataframe; what the data gate shows when it stops a run."""

    success: bool
    evaluated: int = Field(description="Number of expectations evaluated.")
    failures: list[FailedExpectation] = Field(default_factory=list)
    rows: int = Field(description="Rows in the validated frame.")
    checks: list[CheckRecord] = Field(
        default_factory=list, description="Every rule evaluated, passed or failed."
    )
    notes: list[str] = Field(
        default_factory=list, description="Warnings that did not fail the data."
    )

    def with_checks(self, extra: list[CheckRecord]) -> ValidationReport:
        """This report plus table-level checks run outside Great Expectations."""
        failed = [check.as_failure() for check in extra if not check.passed]
        return self.model_copy(
            update={
                "success": self.success and not failed,
                "evaluated": self.evaluated + len(extra),
                "failures": [*self.failures, *failed],
                "checks": [*self.checks, *extra],
            }
        )

    def with_notes(self, notes: list[str]) -> ValidationReport:
        """This report plus warnings shown in the summary and the HTML page."""
        return self.model_copy(update={"notes": [*self.notes, *notes]})

    def summary(self) -> str:
        """A multi-line text naming each failed rule, its column, and what was observed.

        Only failures (and the notes) are listed: the checks that passed are in the HTML page.
        """
        if self.success:
            lines = [f"Data validation passed: {self.evaluated} checks on {self.rows} rows."]
        else:
            count = len(self.failures)
            lines = [
                f"Data validation failed: {count} problem{'' if count == 1 else 's'} found by "
                f"{self.evaluated} checks on {self.rows} rows."
            ]
        for failure in self.failures:
            where = f"column '{failure.column}'" if failure.column is not None else "table"
            lines.append(f"- {where}: {failure.expectation}")
            lines.append(f"    expected: {failure.expected}")
            lines.append(f"    observed: {failure.observed}")
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)


def column_dtypes(df: pd.DataFrame) -> dict[str, str]:
    """The ``present_columns`` argument of :func:`build_expectations` for a frame."""
    return {str(name): str(dtype) for name, dtype in df.dtypes.items()}


def build_expectations(
    features: Sequence[FeatureSpec],
    data_cfg: DataConfig,
    present_columns: Mapping[str, str],
    *,
    include_target: bool = True,
    min_rows: int | None = None,
) -> ExpectationSuite:
    """The expectation suite for the configured schema, fitted to the columns actually present.

    ``present_columns`` maps each column of the data to its pandas dtype name (see
    :func:`column_dtypes`; a recorded column schema works too). It decides which rules can be
    evaluated: a missing column only gets ``expect_column_to_exist``, and range rules need a
    numeric dtype. Every expectation carries ``meta["expected"]``, the rule in words, which
    :func:`validate_frame` puts in the report.

    A batch to score or monitor is checked with the same column rules, without the target
    (``include_target=False`` when it has no labels) and with its own row minimum
    (``min_rows``; default ``data_cfg.min_rows``, the training minimum).
    """
    import great_expectations as gx

    rules: list[Expectation] = []
    for feature in features:
        rules.extend(_feature_rules(feature, present_columns))
    if include_target:
        rules.extend(_target_rules(data_cfg, present_columns))
    least = data_cfg.min_rows if min_rows is None else min_rows
    rules.append(
        gx.expectations.ExpectTableRowCountToBeBetween(
            min_value=least, meta={"expected": f"at least {least} row{'' if least == 1 else 's'}"}
        )
    )
    for order, rule in enumerate(rules):
        rule.catch_exceptions = True
        rule.meta = {**(rule.meta or {}), "order": order}
    return gx.ExpectationSuite(name=_SUITE_NAME, expectations=rules)


def validate_frame(
    df: pd.DataFrame,
    features: Sequence[FeatureSpec],
    data_cfg: DataConfig,
    source_path: str | None = None,
    *,
    include_target: bool = True,
    min_rows: int | None = None,
) -> ValidationReport:
    """Validate ``df`` against the configured schema with real GE and report every check.

    Never raises on bad data: a missing column, a wrong dtype, an all-null column or an empty
    frame each become a failure in the report. Column names are compared as strings, and a frame
    with duplicate column names is reported as such and validated on the first of each.

    Every rule evaluated becomes a :class:`CheckRecord`, passed or failed, with what was
    observed (the HTML page lists them all); ``failures`` are the failed ones. ``source_path``
    is where ``df`` was read from (``DatasetInfo.source``): for a local CSV file, a column with
    more nulls than it may have is re-read from the file to name the tokens pandas read as
    missing (see :func:`explain_missing_values`); other sources are ignored.
    ``include_target`` and ``min_rows`` are :func:`build_expectations`'s.
    """
    frame, structural = _normalise_columns(df)
    suite = build_expectations(
        features,
        data_cfg,
        column_dtypes(frame),
        include_target=include_target,
        min_rows=min_rows,
    )
    results = sorted(_run_suite(frame, suite), key=_result_order)
    checks = structural + _without_restatements(
        [
            _to_check(result, frame)
            for result in results
            if result.success or not _explained_elsewhere(result, rows=len(frame))
        ]
    )
    report = ValidationReport(
        success=all(check.passed for check in checks),
        evaluated=len(checks),
        failures=[check.as_failure() for check in checks if not check.passed],
        rows=len(frame),
        checks=checks,
    )
    return explain_missing_values(report, frame, source_path)


def explain_missing_values(
    report: ValidationReport, frame: pd.DataFrame, source_path: str | None
) -> ValidationReport:
    """The report with each failed null rule naming what the file held where the nulls are.

    pandas reads "", "NA", "n/a", "null", "NaN", "None" and more as missing, so "3 values are
    null" can surprise whoever looks at the file. Only on this failure path, and only when
    ``source_path`` is a local CSV file (not a remote URL, ``synthetic://`` data or Parquet),
    the failing column is re-read as raw strings and the tokens at the null rows are counted.
    Safe to apply twice; a report without such failures comes back unchanged.
    """
    from steps.data.loading import local_csv_path

    path = local_csv_path(source_path) if source_path else None
    if path is None:
        return report
    # (rule, column, old observed) -> new observed, for the checks and the failures alike
    changed: dict[tuple[str, str | None, str], str] = {}
    for check in report.checks:
        if check.passed or check.expectation != _NOT_NULL or check.column is None:
            continue
        if _MISSING_FROM in check.observed or check.column not in frame.columns:
            continue
        tokens = _missing_tokens(frame[check.column], path, check.column)
        if tokens:
            changed[(check.expectation, check.column, check.observed)] = (
                f"{check.observed}: {tokens}"
            )
    if not changed:
        return report
    checks = [
        c.model_copy(update={"observed": changed.get((c.expectation, c.column, c.observed))})
        if (c.expectation, c.column, c.observed) in changed
        else c
        for c in report.checks
    ]
    failures = [
        f.model_copy(update={"observed": changed.get((f.expectation, f.column, f.observed))})
        if (f.expectation, f.column, f.observed) in changed
        else f
        for f in report.failures
    ]
    return report.model_copy(update={"checks": checks, "failures": failures})


def render_report_html(report: ValidationReport, dataset_label: str) -> str:
    """A self-contained HTML page (inline CSS, no scripts) listing every check, for people.

    Like Great Expectations' Data Docs: the checks are grouped per column (table-level checks
    in their own group), each with what was expected and what was observed; groups with a
    failure come first, and inside a group the failed checks come first. Notes (warnings that
    did not fail the data) sit at the top. A report built without ``checks`` lists its
    failures.
    """
    checks = report.checks or [
        CheckRecord(**failure.model_dump(), passed=False) for failure in report.failures
    ]
    failed = len(report.failures)
    status, status_class = ("PASSED", "pass") if report.success else ("FAILED", "fail")
    grouped = _check_groups(checks)
    columns = sum(1 for column, _ in grouped if column is not None)
    failed_text = f"<strong>{failed} failed</strong>" if failed else "0 failed"
    overview = (
        f"{report.evaluated} check{'' if report.evaluated == 1 else 's'} on "
        f"{report.rows:,} rows and {columns} column{'' if columns == 1 else 's'}: "
        f"{failed_text}, {max(report.evaluated - failed, 0)} passed."
    )
    notes = (
        '<div class="notes"><h2>&#9888; Notes</h2><ul>'
        + "".join(f"<li>{_esc(note)}</li>" for note in report.notes)
        + "</ul></div>"
        if report.notes
        else ""
    )
    index = "".join(
        f'<a class="chip {"pass" if all(c.passed for c in group) else "fail"}" '
        f'href="#group-{number}">{"&#10003;" if all(c.passed for c in group) else "&#10007;"} '
        f"{'table' if column is None else _esc(column)}</a>"
        for number, (column, group) in enumerate(grouped)
    )
    groups = "\n".join(
        _group_html(column, group, number) for number, (column, group) in enumerate(grouped)
    )
    title = _esc(dataset_label)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Data validation: {title}</title>
<style>{_REPORT_CSS}</style></head>
<body>
<header><h1>Data validation</h1><p class="source"><code>{title}</code></p>
<p><span class="status {status_class}">{status}</span> {overview}</p>
<nav>{index}</nav></header>
{notes}
{groups or "<p>No checks were recorded.</p>"}
</body></html>
"""


#: Short names for the rules, shown above their GE name on the HTML page.
_RULE_NAMES: dict[str, str] = {
    "expect_column_to_exist": "column present",
    "expect_column_values_to_not_be_null": "nulls",
    "expect_column_proportion_of_non_null_values_to_be_between": "not entirely null",
    "expect_column_values_to_be_in_type_list": "type",
    "expect_column_min_to_be_between": "minimum",
    "expect_column_max_to_be_between": "maximum",
    "expect_column_distinct_values_to_be_in_set": "categories",
    "expect_column_unique_value_count_to_be_between": "distinct labels",
    "expect_table_row_count_to_be_between": "row count",
    "unique_column_names": "unique column names",
}

_REPORT_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em;
       color: #1f2328; line-height: 1.4; }
h1 { font-size: 1.5em; margin: 0 0 0.2em; }
h2 { font-size: 1.05em; margin: 0 0 0.5em; }
.source { margin: 0 0 0.6em; color: #59636e; word-break: break-all; }
.status { display: inline-block; padding: 0.15em 0.7em; border-radius: 1em; color: #fff;
          font-weight: 700; margin-right: 0.4em; }
.status.pass { background: #1a7f37; }
.status.fail { background: #cf222e; }
.notes { border: 1px solid #d4a72c; border-left: 6px solid #bf8700; background: #fff8c5;
         padding: 0.6em 1em; margin: 1em 0; border-radius: 6px; }
.notes ul { margin: 0; padding-left: 1.2em; }
section { border: 1px solid #d0d7de; border-left: 6px solid #1a7f37; border-radius: 6px;
          margin: 1em 0; padding: 0.6em 1em 0.8em; }
section.fail { border-left-color: #cf222e; }
section h2 .count { font-weight: normal; color: #59636e; margin-left: 0.5em; }
section h2 .count.fail { color: #cf222e; font-weight: 600; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border-top: 1px solid #d0d7de; padding: 0.35em 0.5em; text-align: left;
         vertical-align: top; font-size: 0.9em; overflow-wrap: anywhere; }
th { color: #59636e; font-weight: 600; border-top: none; }
th.result { width: 5.5em; } th.rule { width: 22%; } th.expected { width: 28%; }
tr.fail td { background: #ffebe9; }
.mark { display: inline-block; min-width: 4.2em; text-align: center; font-weight: 700;
        font-size: 0.85em; padding: 0.05em 0.4em; border-radius: 4px; }
.mark.pass { color: #1a7f37; border: 1px solid #1a7f37; }
.mark.fail { color: #fff; background: #cf222e; border: 1px solid #cf222e; }
.rule code { display: block; color: #59636e; font-size: 0.8em; }
nav { margin: 0.4em 0 0; line-height: 2; }
.chip { display: inline-block; padding: 0 0.6em; margin: 0 0.3em 0 0; border-radius: 1em;
        font-size: 0.85em; text-decoration: none; border: 1px solid #1a7f37; color: #1a7f37;
        line-height: 1.6; }
.chip.fail { background: #cf222e; border-color: #cf222e; color: #fff; font-weight: 600; }
"""


def _check_groups(checks: Sequence[CheckRecord]) -> list[tuple[str | None, list[CheckRecord]]]:
    """Checks per column (None: the table), groups with a failure first, failed checks first.

    Within each of those two tiers the table group leads, then the columns in the order their
    rules were built (the config's order).
    """
    groups: dict[str | None, list[CheckRecord]] = {}
    for check in checks:
        groups.setdefault(check.column, []).append(check)
    ordered = sorted(
        enumerate(groups.items()),
        key=lambda item: (
            all(check.passed for check in item[1][1]),
            item[1][0] is not None,
            item[0],
        ),
    )
    return [
        (column, sorted(group, key=lambda check: check.passed)) for _, (column, group) in ordered
    ]


def _group_html(column: str | None, checks: Sequence[CheckRecord], number: int) -> str:
    failed = sum(not check.passed for check in checks)
    title = "Table" if column is None else f"Column <code>{_esc(column)}</code>"
    total = f"{len(checks)} check{'' if len(checks) == 1 else 's'}"
    count = (
        f'<span class="count fail">{failed} of {total} failed</span>'
        if failed
        else f'<span class="count">{total}, all passed</span>'
    )
    rows = "".join(
        f'<tr class="{"pass" if check.passed else "fail"}">'
        f"<td>{_mark(check.passed)}</td>"
        f'<td class="rule">{_esc(_rule_name(check.expectation))}'
        f"<code>{_esc(check.expectation)}</code></td>"
        f"<td>{_esc(check.expected)}</td>"
        f"<td>{_esc(check.observed)}</td></tr>"
        for check in checks
    )
    return (
        f'<section id="group-{number}" class="{"fail" if failed else "pass"}">'
        f"<h2>{title} {count}</h2>"
        '<table><thead><tr><th class="result">Result</th><th class="rule">Rule</th>'
        '<th class="expected">Expected</th><th>Observed</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _mark(passed: bool) -> str:
    if passed:
        return '<span class="mark pass">&#10003; pass</span>'
    return '<span class="mark fail">&#10007; FAIL</span>'


def _rule_name(expectation: str) -> str:
    return _RULE_NAMES.get(expectation, expectation.removeprefix("expect_").replace("_", " "))


# --- building the rules -------------------------------------------------------------------------


def _feature_rules(feature: FeatureSpec, present: Mapping[str, str]) -> list[Expectation]:
    """The rules for one feature column, limited to what can be evaluated on its dtype."""
    import great_expectations as gx

    name = feature.name
    rules: list[Expectation] = [_exists(name)]
    if name not in present:
        return rules
    dtype = present[name]
    rules.extend(_null_rules(name, feature.max_null_fraction))
    if feature.kind == "numeric":
        rules.extend(_numeric_rules(name, dtype, feature.min, feature.max))
    elif feature.kind == "categorical" and feature.allowed is not None:
        rules.append(_in_labels(name, feature.allowed))
    elif feature.kind == "text" and not _is_string_extension_dtype(dtype):
        rules.append(
            gx.expectations.ExpectColumnValuesToBeInTypeList(
                column=name, type_list=list(TEXT_TYPE_NAMES), meta={"expected": "string values"}
            )
        )
    return rules


def _target_rules(data_cfg: DataConfig, present: Mapping[str, str]) -> list[Expectation]:
    """The target exists, has no nulls, and holds labels or values that fit the task."""
    import great_expectations as gx

    name = data_cfg.target
    rules: list[Expectation] = [_exists(name)]
    if name not in present:
        return rules
    rules.extend(_null_rules(name, 0.0))
    if data_cfg.task == "regression":
        rules.extend(_numeric_rules(name, present[name], data_cfg.target_min, data_cfg.target_max))
    elif data_cfg.target_classes is not None:
        rules.append(_in_labels(name, data_cfg.target_classes))
    elif data_cfg.task == "binary":
        rules.append(
            gx.expectations.ExpectColumnUniqueValueCountToBeBetween(
                column=name, max_value=2, meta={"expected": "at most 2 distinct labels (binary)"}
            )
        )
    return rules


def _exists(name: str) -> Expectation:
    import great_expectations as gx

    return gx.expectations.ExpectColumnToExist(
        column=name, meta={"expected": f"column '{name}' is present"}
    )


def _null_rules(name: str, max_null_fraction: float) -> list[Expectation]:
    """At most the tolerated share of nulls and, when some are tolerated, not all null.

    With no tolerance the first rule already fails an all-null column, so the second is only
    added when it says something new (and a fully null column is reported once).
    """
    import great_expectations as gx

    # Rounded so that 1 - 0.7 does not become 0.30000000000000004 and reject exactly 70% nulls.
    mostly = round(1.0 - max_null_fraction, 12)
    expected = "no nulls" if max_null_fraction == 0 else f"at most {max_null_fraction:.1%} nulls"
    rules: list[Expectation] = [
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=name, mostly=mostly, meta={"expected": expected}
        )
    ]
    if max_null_fraction > 0:
        rules.append(
            gx.expectations.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=name,
                min_value=0.0,
                strict_min=True,
                meta={"expected": "at least one non-null value (column is not entirely null)"},
            )
        )
    return rules


def _numeric_rules(
    name: str, dtype: str, low: float | None, high: float | None
) -> list[Expectation]:
    """A numeric dtype, then the bounds; bounds are only checked when the dtype is numeric."""
    import great_expectations as gx

    numeric = _is_numeric_dtype(dtype)
    expected = "a numeric dtype (int or float)"
    if not numeric and (low is not None or high is not None):
        expected += f"; then {_range_words(low, high)}, checked once it is numeric"
    rules: list[Expectation] = [
        gx.expectations.ExpectColumnValuesToBeInTypeList(
            column=name, type_list=list(NUMERIC_TYPE_NAMES), meta={"expected": expected}
        )
    ]
    if not numeric:
        return rules
    if low is not None:
        rules.append(
            gx.expectations.ExpectColumnMinToBeBetween(
                column=name, min_value=low, meta={"expected": _range_words(low, high)}
            )
        )
    if high is not None:
        rules.append(
            gx.expectations.ExpectColumnMaxToBeBetween(
                column=name, max_value=high, meta={"expected": _range_words(low, high)}
            )
        )
    return rules


def _in_labels(name: str, labels: Sequence[str]) -> Expectation:
    """Every distinct value is one of ``labels``, compared as strings (so 0/1 match "0"/"1")."""
    import great_expectations as gx

    return gx.expectations.ExpectColumnDistinctValuesToBeInSet(
        column=name,
        value_set=_label_values(labels),
        meta={"expected": f"one of {list(labels)!r}", "labels": list(labels)},
    )


def _label_values(labels: Sequence[str]) -> list[Any]:
    """The labels plus the numbers and booleans they spell, for a set-membership check.

    Labels are strings in the config, but a CSV or Parquet column of 0/1 loads as numbers; adding
    ``0`` for ``"0"`` lets ints, floats (``0.0 == 0``) and booleans match as their strings would.
    """
    values: list[Any] = []
    for label in labels:
        values.append(label)
        if label.strip().lower() in ("true", "false"):
            values.append(label.strip().lower() == "true")
            continue
        try:
            number = float(label)
        except ValueError:
            continue
        if math.isfinite(number):
            values.append(int(number) if number.is_integer() else number)
    return values


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _pandas_dtype(dtype: str) -> Any:
    try:
        return pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return None


def _is_numeric_dtype(dtype: str) -> bool:
    """int or float (plain or nullable); bool is not a number for a numeric feature."""
    resolved = _pandas_dtype(dtype)
    return (
        resolved is not None
        and pd.api.types.is_numeric_dtype(resolved)
        and not pd.api.types.is_bool_dtype(resolved)
    )


def _is_string_extension_dtype(dtype: str) -> bool:
    """pandas' ``string``/``str`` dtypes hold only strings by construction (unlike ``object``).

    GE can only match the default one by name, so the text type rule is skipped for them rather
    than failing ``string[pyarrow]`` columns that are exactly what a text column should be.
    """
    resolved = _pandas_dtype(dtype)
    return isinstance(resolved, pd.StringDtype)


# --- running and reading the results -------------------------------------------------------------


def _normalise_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, list[CheckRecord]]:
    """String column names and no duplicates, which GE needs to address columns by name."""
    frame = df
    if not all(isinstance(name, str) for name in frame.columns):
        frame = frame.set_axis([str(name) for name in frame.columns], axis="columns")
    duplicated = frame.columns.duplicated()
    if not duplicated.any():
        return frame, []
    names = sorted(set(frame.columns[duplicated]))
    failure = CheckRecord(
        expectation="unique_column_names",
        column=None,
        observed=f"duplicate column names {names!r}; only the first of each was validated",
        expected="each column name appears once",
        passed=False,
    )
    return frame.loc[:, ~duplicated], [failure]


def _run_suite(frame: pd.DataFrame, suite: ExpectationSuite) -> list[ExpectationValidationResult]:
    """Validate the frame with GE on a throwaway in-memory context.

    Everything runs as one batch and one ``validate`` call, except per-value type checks of
    ``object`` columns: GE filters nulls for those by copying the *whole* batch frame (twice per
    rule), which on a wide frame costs more than the check itself, so they run on a second batch
    holding only the columns they read.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.config.analytics_enabled = False
    whole_frame = (
        context.data_sources.add_pandas("frame")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    scans = [rule for rule in suite.expectations if _is_value_scan(rule, frame)]
    others = [rule for rule in suite.expectations if not _is_value_scan(rule, frame)]
    scanned_columns = sorted({str(getattr(rule, "column", "")) for rule in scans})
    results: list[ExpectationValidationResult] = []
    with without_batch_fingerprint(), memoised_configurations():
        for data, rules in ((frame, others), (frame[scanned_columns], scans)):
            if not rules:
                continue
            batch = whole_frame.get_batch(batch_parameters={"dataframe": data})
            part = gx.ExpectationSuite(name=suite.name, expectations=rules)
            results.extend(batch.validate(part, result_format=_RESULT_FORMAT).results)
    return results


def _is_value_scan(rule: Expectation, frame: pd.DataFrame) -> bool:
    """A type rule on an ``object`` column, which GE checks value by value."""
    column = getattr(rule, "column", None)
    return (
        rule.expectation_type == "expect_column_values_to_be_in_type_list"
        and column in frame.columns
        and frame[column].dtype == object
    )


def _result_order(result: ExpectationValidationResult) -> int:
    meta = result.expectation_config.meta if result.expectation_config else None
    return int((meta or {}).get("order", 0))


#: Rules that still say something about a frame with no rows: its columns and their dtypes.
_STRUCTURE_RULES = frozenset(
    {
        "expect_column_to_exist",
        "expect_column_values_to_be_in_type_list",
        "expect_table_row_count_to_be_between",
    }
)


def _explained_elsewhere(result: ExpectationValidationResult, rows: int) -> bool:
    """A failure that only restates another one, and would bury it in noise.

    With no rows, every value rule fails or passes vacuously; the row-count rule (``min_rows``
    is at least 1) says what is wrong. A min or max that is missing (None or NaN) means the
    column has no non-null values, which the null rules always report.
    """
    config = result.expectation_config
    kind = config.type if config else ""
    if _exception_message(result.exception_info) is not None:
        return False
    if rows == 0:
        return kind not in _STRUCTURE_RULES
    if kind in ("expect_column_min_to_be_between", "expect_column_max_to_be_between"):
        value = (result.result or {}).get("observed_value")
        return value is None or (_is_number(value) and math.isnan(float(value)))
    return False


def _without_restatements(checks: list[CheckRecord]) -> list[CheckRecord]:
    """Drop a failed "not entirely null" where the null-share rule already failed with counts.

    The separate rule exists for when the null-share rule cannot catch an all-null column (a
    tolerance so close to 1 that ``mostly`` rounds to 0); otherwise it would say the same twice.
    """
    null_share_failed = {c.column for c in checks if c.expectation == _NOT_NULL and not c.passed}
    return [
        c
        for c in checks
        if c.passed or not (c.expectation == _NOT_ALL_NULL and c.column in null_share_failed)
    ]


def _to_check(result: ExpectationValidationResult, frame: pd.DataFrame) -> CheckRecord:
    """A GE result in words: the rule from the suite's meta, the observation from GE's figures."""
    config = result.expectation_config
    kind = config.type if config else "unknown_expectation"
    kwargs = config.kwargs if config else {}
    meta = (config.meta if config else None) or {}
    column = kwargs.get("column")
    name = None if column is None else str(column)
    values = frame[name] if name is not None and name in frame.columns else None
    return CheckRecord(
        expectation=kind,
        column=name,
        expected=str(meta.get("expected", kind)),
        observed=_observed(kind, name, result, values, meta),
        passed=bool(result.success),
    )


def _observed(
    kind: str,
    column: str | None,
    result: ExpectationValidationResult,
    values: pd.Series | None,
    meta: Mapping[str, Any],
) -> str:
    """A short human summary of what GE saw, per kind of result, passed or failed.

    ``values`` is the column the rule read (None for table rules): a few failures are worth a
    look at the values themselves (which values are not numbers, and on which rows), and a
    passed category rule shows the categories seen, which GE 1.24 does not report.
    """
    error = _exception_message(result.exception_info)
    if error is not None:
        return f"could not be evaluated: {error}"
    details: dict[str, Any] = dict(result.result or {})
    passed = bool(result.success)
    if kind == "expect_column_to_exist":
        if passed:
            return "present" + (f", dtype {values.dtype}" if values is not None else "")
        return f"column '{column}' is missing"
    if kind == _NOT_NULL:
        return _null_summary(details)
    if kind == _IN_SET:
        if passed and values is not None:
            return _categories_seen(values, meta.get("labels") or [])
        return _unexpected_labels_summary(details)
    if kind == _TYPE_LIST and "unexpected_count" in details:
        return _value_types_summary(
            details, values, text="str" in _type_list(result), passed=passed
        )
    if "unexpected_count" in details and "element_count" in details:
        return _map_summary(details, "break the rule")
    return _observed_value_summary(kind, details.get("observed_value"))


def _type_list(result: ExpectationValidationResult) -> list[str]:
    config = result.expectation_config
    return list((config.kwargs if config else {}).get("type_list") or [])


def _null_summary(details: Mapping[str, Any]) -> str:
    total = int(details.get("element_count", 0))
    nulls = int(details.get("unexpected_count", 0))
    if total and nulls == total:
        return f"all {total} values are null"
    if nulls == 0:
        return f"0 of {total} values are null"
    return f"{nulls} of {total} values are null ({_percent(nulls, total)})"


def _unexpected_labels_summary(details: Mapping[str, Any]) -> str:
    count = int(details.get("unexpected_count", 0))
    examples = list(details.get("partial_unexpected_list") or [])
    shown = _examples(examples)
    noun = "value" if count == 1 else "values"
    return f"{count} unexpected distinct {noun}: {shown}"


def _categories_seen(values: pd.Series, labels: Sequence[str]) -> str:
    """The distinct values with their share of the non-null values, most frequent first.

    GE 1.24's distinct-values rule reports only the unexpected values (``observed_value`` is
    None), so the categories are counted here: from the codes for a ``category`` column (about
    30 ms at 10M rows), with ``value_counts`` otherwise.
    """
    try:
        counts = _value_counts(values)
    except TypeError:  # unhashable values; GE's own rule reports on them
        return "categories could not be counted (unhashable values)"
    total = int(counts.sum())
    shown = [
        f"{_short(value)} ({int(count) / total:.1%})"
        for value, count in list(counts.items())[:_MAX_CATEGORIES]
    ]
    more = len(counts) - _MAX_CATEGORIES
    text = (
        f"{len(counts)} categor{'y' if len(counts) == 1 else 'ies'} seen: "
        + ", ".join(shown)
        + (f" and {more} more" if more > 0 else "")
    )
    seen = set(counts.index)
    absent = [label for label in labels if not any(v in seen for v in _label_values([label]))]
    if absent:
        text += f"; allowed but not seen: {absent!r}"
    return text


def _value_counts(values: pd.Series) -> pd.Series:
    """Non-null value counts, most frequent first (ties in first-seen order for categories)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories))
        series = pd.Series(counts, index=values.cat.categories)
        return series[series > 0].sort_values(ascending=False, kind="stable")
    return values.value_counts(dropna=True)


def _value_types_summary(
    details: Mapping[str, Any], values: pd.Series | None, *, text: bool, passed: bool
) -> str:
    """A type rule on an ``object`` column, which GE checks value by value.

    When a numeric column holds one bad token, pandas reads the whole column as strings, and
    GE then reports every value as "another type". So the values are looked at here instead:
    for a numeric rule, the non-null values ``pd.to_numeric`` cannot parse are the offenders;
    for a text rule, the values that are not ``str``. The message names up to MAX_EXAMPLES
    distinct offenders with how often they occur and their row numbers.
    """
    checked = int(details.get("element_count", 0)) - int(details.get("missing_count") or 0)
    kind = "strings" if text else "numbers"
    if passed:
        return f"dtype object; all {checked} non-null values are {kind}"
    found = _type_offenders(values, text=text) if values is not None else None
    if found is None:
        return f"dtype object; {_map_summary(details, 'have another type')}"
    offenders, nonnull, examples = found
    if offenders == 0:  # numeric rule: every value reads as a number, e.g. "1.5" as text
        return (
            f"dtype object; {_map_summary(details, 'are not int or float values')}, though "
            "each reads as a number: store the column as a number type"
        )
    one = offenders == 1
    what = (
        ("is not a string" if one else "are not strings")
        if text
        else ("is not a number" if one else "are not numbers")
    )
    rest = nonnull - offenders
    others = f"; the other {rest} {'are strings' if text else 'parse as numbers'}" if rest else ""
    return (
        f"dtype object: {offenders} of {nonnull} non-null values {what}: {examples}{others}. "
        + ROW_NUMBERING
    )


def _type_offenders(values: pd.Series, *, text: bool) -> tuple[int, int, str] | None:
    """(offending values, non-null values, the offenders in words with their rows), or None.

    Vectorised for numbers (``pd.to_numeric`` on the non-null values: about 2 s at 10M string
    values, and only on the failure path); text needs a type test per value, mirroring GE's.
    """
    array = values.to_numpy(dtype=object)
    present = np.flatnonzero(values.notna().to_numpy())
    candidates = array[present]
    try:
        if text:
            bad = np.fromiter(
                (type(value).__name__ not in TEXT_TYPE_NAMES for value in candidates),
                dtype=bool,
                count=len(candidates),
            )
        else:
            parsed = pd.to_numeric(pd.Series(candidates, dtype=object), errors="coerce")
            bad = parsed.isna().to_numpy()
    except (TypeError, ValueError):
        return None
    rows = present[bad]
    return len(rows), len(present), _offenders_with_rows(array[rows], rows)


def _offenders_with_rows(offenders: np.ndarray, rows: np.ndarray) -> str:
    """ "'unknown' (row 17), 'n/a' (2 times: rows 3, 40)": up to MAX_EXAMPLES distinct values."""
    if not len(rows):
        return ""
    try:
        codes, _ = pd.factorize(offenders)
    except TypeError:  # unhashable values: group them by how they print
        codes, _ = pd.factorize(np.array([_short(value) for value in offenders], dtype=object))
    counts = np.bincount(codes)
    parts = []
    for code in range(min(len(counts), MAX_EXAMPLES)):
        members = np.flatnonzero(codes == code)
        times = f"{_times(int(counts[code]))}: " if counts[code] > 1 else ""
        value = _short(offenders[members[0]])
        parts.append(f"{value} ({times}{_rows_words(rows[members], 3)})")
    more = len(counts) - MAX_EXAMPLES
    return ", ".join(parts) + (f" and {more} other distinct values" if more > 0 else "")


def _missing_tokens(values: pd.Series, path: str, column: str) -> str | None:
    """ "read as missing from 'n/a' (2 times), empty field (once), at rows 4, 9, 12. ..." """
    from steps.data.loading import raw_csv_column

    nulls = np.flatnonzero(values.isna().to_numpy())
    if not len(nulls):
        return None
    raw = raw_csv_column(path, column)
    if raw is None or len(raw) != len(values):
        return None
    codes, tokens = pd.factorize(raw.to_numpy(dtype=object)[nulls])
    counts = np.bincount(codes)
    order = np.argsort(-counts, kind="stable")
    shown = ", ".join(
        f"{_short(tokens[k]) if tokens[k] else 'empty field'} ({_times(int(counts[k]))})"
        for k in order[:MAX_EXAMPLES]
    )
    more = len(order) - MAX_EXAMPLES
    if more > 0:
        shown += f" and {more} other tokens"
    if len(nulls) == len(values):
        return f"{_MISSING_FROM} {shown}"
    return f"{_MISSING_FROM} {shown}, at {_rows_words(nulls, MAX_EXAMPLES)}. {ROW_NUMBERING}"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _rows_words(rows: np.ndarray, limit: int) -> str:
    """ "row 17", "rows 3, 40", "rows 1, 2, 3, ... (12 rows)"."""
    shown = ", ".join(str(int(row)) for row in rows[:limit])
    if len(rows) == 1:
        return f"row {shown}"
    return f"rows {shown}" + (f", ... ({len(rows)} rows)" if len(rows) > limit else "")


def _map_summary(details: Mapping[str, Any], verb: str) -> str:
    """For per-value rules: how many non-null values broke the rule, and a few of them."""
    checked = int(details.get("element_count", 0)) - int(details.get("missing_count") or 0)
    unexpected = int(details.get("unexpected_count", 0))
    examples = _examples(list(details.get("partial_unexpected_list") or []))
    return (
        f"{unexpected} of {checked} non-null values ({_percent(unexpected, checked)}) "
        f"{verb}, e.g. {examples}"
    )


def _observed_value_summary(kind: str, value: Any) -> str:
    """For aggregate rules GE reports one observed value; name it by what it measures."""
    shown = _short(value)
    labels = {
        "expect_column_min_to_be_between": f"min {shown}",
        "expect_column_max_to_be_between": f"max {shown}",
        "expect_column_values_to_be_in_type_list": f"dtype {_type_name(value)}",
        "expect_column_unique_value_count_to_be_between": f"{shown} distinct values",
        "expect_table_row_count_to_be_between": f"{shown} rows",
        "expect_column_proportion_of_non_null_values_to_be_between": (
            "all values are null"
            if _is_number(value) and float(value) == 0.0
            else f"{float(value):.2%} of the values are non-null"
            if _is_number(value)
            else f"non-null share {shown}"
        ),
    }
    return labels.get(kind, f"observed {shown}")


def _exception_message(info: Any) -> str | None:
    """The first error message in GE's exception info, which nests per metric in suite runs."""
    if not isinstance(info, Mapping):
        return None
    message = info.get("exception_message")
    if info.get("raised_exception") and message:
        return str(message).strip().splitlines()[-1][:300]
    for value in info.values():
        found = _exception_message(value)
        if found is not None:
            return found
    return None


def _examples(values: list[Any]) -> str:
    """Up to MAX_EXAMPLES distinct values, in the order GE found them."""
    shown: list[str] = []
    for value in values:
        text = _short(value)
        if text not in shown:
            shown.append(text)
    return "[" + ", ".join(shown[:MAX_EXAMPLES]) + "]"


def _short(value: Any) -> str:
    """A compact rendering of one value: numpy scalars as plain numbers, long text cut.

    A numpy float prints in its own precision (float32 0.68 as ``0.68``, not
    ``0.6800000071525574`` as its Python float would).
    """
    if isinstance(value, np.str_):
        value = str(value)
    if isinstance(value, np.generic):
        text = str(value)
    else:
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            with contextlib.suppress(TypeError, ValueError):
                value = value.item()
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _type_name(value: Any) -> str:
    """GE reports a dtype's scalar type name (``object_``, ``bool``); show the usual name."""
    name = str(value)
    return "object" if name == "object_" else name.removesuffix("_")


def _percent(part: int, whole: int) -> str:
    """A share with two decimals; a share too small for them is "<0.01%", never "0.00%"."""
    if not whole:
        return "n/a"
    share = part / whole
    return "<0.01%" if 0 < share < 0.00005 else f"{share:.2%}"


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
