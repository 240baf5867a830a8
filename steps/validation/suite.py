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
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, Field

from configs.schema import DataConfig, FeatureSpec

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

_SUITE_NAME = "data_validation"
_NOT_ALL_NULL = "expect_column_proportion_of_non_null_values_to_be_between"
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
        """A multi-line text naming each failed rule, its column, and what was observed."""
        if self.success:
            return f"Data validation passed: {self.evaluated} checks on {self.rows} rows."
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
        return "\n".join(lines)


def column_dtypes(df: pd.DataFrame) -> dict[str, str]:
    """The ``present_columns`` argument of :func:`build_expectations` for a frame."""
    return {str(name): str(dtype) for name, dtype in df.dtypes.items()}


def build_expectations(
    features: Sequence[FeatureSpec],
    data_cfg: DataConfig,
    present_columns: Mapping[str, str],
) -> ExpectationSuite:
    """The expectation suite for the configured schema, fitted to the columns actually present.

    ``present_columns`` maps each column of the data to its pandas dtype name (see
    :func:`column_dtypes`; a recorded column schema works too). It decides which rules can be
    evaluated: a missing column only gets ``expect_column_to_exist``, and range rules need a
    numeric dtype. Every expectation carries ``meta["expected"]``, the rule in words, which
    :func:`validate_frame` puts in the report.
    """
    import great_expectations as gx

    rules: list[Expectation] = []
    for feature in features:
        rules.extend(_feature_rules(feature, present_columns))
    rules.extend(_target_rules(data_cfg, present_columns))
    rules.append(
        gx.expectations.ExpectTableRowCountToBeBetween(
            min_value=data_cfg.min_rows, meta={"expected": f"at least {data_cfg.min_rows} rows"}
        )
    )
    for order, rule in enumerate(rules):
        rule.catch_exceptions = True
        rule.meta = {**(rule.meta or {}), "order": order}
    return gx.ExpectationSuite(name=_SUITE_NAME, expectations=rules)


def validate_frame(
    df: pd.DataFrame, features: Sequence[FeatureSpec], data_cfg: DataConfig
) -> ValidationReport:
    """Validate ``df`` against the configured schema with real GE and report every problem.

    Never raises on bad data: a missing column, a wrong dtype, an all-null column or an empty
    frame each become a failure in the report. Column names are compared as strings, and a frame
    with duplicate column names is reported as such and validated on the first of each.
    """
    frame, structural_failures = _normalise_columns(df)
    suite = build_expectations(features, data_cfg, column_dtypes(frame))
    results = _run_suite(frame, suite)
    failures = structural_failures + _without_restatements(
        [
            _to_failure(result)
            for result in sorted(results, key=_result_order)
            if not result.success and not _explained_elsewhere(result, rows=len(frame))
        ]
    )
    return ValidationReport(
        success=not failures,
        evaluated=len(results) + len(structural_failures),
        failures=failures,
        rows=len(frame),
    )


def render_report_html(report: ValidationReport, dataset_label: str) -> str:
    """A small self-contained HTML page (inline CSS, no scripts) for the ZenML dashboard."""
    status = "PASSED" if report.success else "FAILED"
    colour = "#1a7f37" if report.success else "#cf222e"
    rows = "".join(
        "<tr>"
        f"<td><code>{_esc(f.expectation)}</code></td>"
        f"<td>{_esc(f.column) if f.column is not None else '<em>table</em>'}</td>"
        f"<td>{_esc(f.expected)}</td>"
        f"<td>{_esc(f.observed)}</td>"
        "</tr>"
        for f in report.failures
    )
    table = (
        "<table><thead><tr><th>Expectation</th><th>Column</th><th>Expected</th>"
        f"<th>Observed</th></tr></thead><tbody>{rows}</tbody></table>"
        if report.failures
        else "<p>All checks passed.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Data validation: {_esc(dataset_label)}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em;
       color: #1f2328; }}
.status {{ display: inline-block; padding: 0.2em 0.7em; border-radius: 1em; color: #fff;
          background: {colour}; font-weight: 600; }}
table {{ border-collapse: collapse; margin-top: 1em; width: 100%; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.4em 0.6em; text-align: left;
         vertical-align: top; font-size: 0.9em; }}
th {{ background: #f6f8fa; }}
code {{ font-size: 0.85em; }}
</style></head>
<body>
<h2>Data validation: {_esc(dataset_label)}</h2>
<p><span class="status">{status}</span></p>
<p>{report.evaluated} checks evaluated, {len(report.failures)} problems, {report.rows} rows.</p>
{table}
</body></html>
"""


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

    rules: list[Expectation] = [
        gx.expectations.ExpectColumnValuesToBeInTypeList(
            column=name,
            type_list=list(NUMERIC_TYPE_NAMES),
            meta={"expected": "a numeric dtype (int or float)"},
        )
    ]
    if not _is_numeric_dtype(dtype):
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
        meta={"expected": f"one of {list(labels)!r}"},
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


def _normalise_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, list[FailedExpectation]]:
    """String column names and no duplicates, which GE needs to address columns by name."""
    frame = df
    if not all(isinstance(name, str) for name in frame.columns):
        frame = frame.set_axis([str(name) for name in frame.columns], axis="columns")
    duplicated = frame.columns.duplicated()
    if not duplicated.any():
        return frame, []
    names = sorted(set(frame.columns[duplicated]))
    failure = FailedExpectation(
        expectation="unique_column_names",
        column=None,
        observed=f"duplicate column names {names!r}; only the first of each was validated",
        expected="each column name appears once",
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
    with _without_batch_fingerprint():
        for data, rules in ((frame, others), (frame[scanned_columns], scans)):
            if not rules:
                continue
            batch = whole_frame.get_batch(batch_parameters={"dataframe": data})
            part = gx.ExpectationSuite(name=suite.name, expectations=rules)
            results.extend(batch.validate(part, result_format=_RESULT_FORMAT).results)
    return results


@contextlib.contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    """Stop GE hashing every row of each batch just to label it.

    GE's pandas engine fingerprints any batch under ``HASH_THRESHOLD`` (1 GB)
    with ``hash_pandas_object`` and stores it only as a batch marker; the
    ingest step already fingerprints the data. At 10M rows that hash is 7 of
    the 8.6 s validation takes. The threshold is read per batch, so lowering
    it for the duration of our validation and restoring it after is enough.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


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


def _without_restatements(failures: list[FailedExpectation]) -> list[FailedExpectation]:
    """Drop "not entirely null" where the null-share rule already failed with its counts.

    The separate rule exists for when the null-share rule cannot catch an all-null column (a
    tolerance so close to 1 that ``mostly`` rounds to 0); otherwise it would say the same twice.
    """
    null_share_failed = {
        f.column for f in failures if f.expectation == "expect_column_values_to_not_be_null"
    }
    return [
        f
        for f in failures
        if not (f.expectation == _NOT_ALL_NULL and f.column in null_share_failed)
    ]


def _to_failure(result: ExpectationValidationResult) -> FailedExpectation:
    """A failed GE result in words: the rule from the suite's meta, the observation from GE."""
    config = result.expectation_config
    kind = config.type if config else "unknown_expectation"
    kwargs = config.kwargs if config else {}
    meta = (config.meta if config else None) or {}
    column = kwargs.get("column")
    return FailedExpectation(
        expectation=kind,
        column=None if column is None else str(column),
        observed=_observed(kind, column, result),
        expected=str(meta.get("expected", kind)),
    )


def _observed(kind: str, column: Any, result: ExpectationValidationResult) -> str:
    """A short human summary of what GE saw, per kind of result."""
    error = _exception_message(result.exception_info)
    if error is not None:
        return f"could not be evaluated: {error}"
    details: dict[str, Any] = dict(result.result or {})
    if kind == "expect_column_to_exist":
        return f"column '{column}' is missing"
    if kind == "expect_column_values_to_not_be_null":
        return _null_summary(details)
    if kind == "expect_column_distinct_values_to_be_in_set":
        return _unexpected_labels_summary(details)
    if kind == "expect_column_values_to_be_in_type_list" and "unexpected_count" in details:
        return f"dtype object; {_map_summary(details, 'have another type')}"
    if "unexpected_count" in details and "element_count" in details:
        return _map_summary(details, "break the rule")
    return _observed_value_summary(kind, details.get("observed_value"))


def _null_summary(details: Mapping[str, Any]) -> str:
    total = int(details.get("element_count", 0))
    nulls = int(details.get("unexpected_count", 0))
    if total and nulls == total:
        return f"all {total} values are null"
    return f"{nulls} of {total} values are null ({_percent(nulls, total)})"


def _unexpected_labels_summary(details: Mapping[str, Any]) -> str:
    count = int(details.get("unexpected_count", 0))
    examples = list(details.get("partial_unexpected_list") or [])
    shown = _examples(examples)
    noun = "value" if count == 1 else "values"
    return f"{count} unexpected distinct {noun}: {shown}"


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
    """A compact rendering of one value: numpy scalars as plain numbers, long text cut."""
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
    return f"{part / whole:.2%}" if whole else "n/a"


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
