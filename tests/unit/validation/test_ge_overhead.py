"""GE's bookkeeping cuts (steps/validation/ge_overhead.py) change no validation result.

Each case validates the same frame twice with real Great Expectations, once as batch scoring
does (configurations memoised) and once with GE's own property, and compares every check
record and every raw GE result. The frames cover each kind of bad data the suite reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from steps.validation import suite as suite_module
from steps.validation.ge_overhead import memoised_configurations, without_batch_fingerprint
from steps.validation.suite import build_expectations, column_dtypes, validate_frame
from tests.unit.validation.test_suite import BINARY, FEATURES, good_frame

ROWS = 400  # the bad-data cases below change rows up to 300


def with_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[:150, "memo"] = None
    frame.loc[:300, "age"] = np.nan
    return frame


def with_wrong_types(frame: pd.DataFrame) -> pd.DataFrame:
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[[3, 9], "amount"] = "n/a"
    frame["memo"] = frame["memo"].astype(object)
    frame.loc[5, "memo"] = 12.5
    return frame


def out_of_range(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[0, 4], "amount"] = [-1.0, 80_000.0]
    frame.loc[2, "age"] = 3.0
    return frame


def unknown_categories(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[1, 6], "channel"] = ["crypto", "fax"]
    frame.loc[8, "is_fraud"] = 7
    return frame


def missing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["channel"])


def empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


CASES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "good": lambda frame: frame,
    "nulls": with_nulls,
    "wrong types": with_wrong_types,
    "out of range": out_of_range,
    "unknown categories": unknown_categories,
    "missing column": missing_column,
    "empty": empty,
}


@contextlib.contextmanager
def ge_as_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Validation with GE's own configuration property (the memo not entered)."""
    with monkeypatch.context() as patch:
        patch.setattr(suite_module, "memoised_configurations", contextlib.nullcontext)
        yield


def raw_results(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Every GE result of the suite on ``frame``, as GE serialises it, in suite order."""
    suite = build_expectations(FEATURES, BINARY, column_dtypes(frame))
    results = suite_module._run_suite(frame, suite)
    dicts = [result.to_json_dict() for result in results]
    return sorted(dicts, key=lambda item: item["expectation_config"]["meta"]["order"])


def with_and_without_the_memo(
    validate: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any]:
    """``validate`` on a copy of ``frame`` as the project runs it, then with GE as shipped.

    Equal results alone would also come from a ``_run_suite`` that stopped entering the memo
    (both sides would be GE's own), so the memoised side must also have built fewer
    expectations from configurations than GE as shipped.
    """
    built = count_round_trips(monkeypatch)
    memoised = validate(frame.copy())
    built_with_memo, built[0] = built[0], 0
    with ge_as_shipped(monkeypatch):
        shipped = validate(frame.copy())
    assert built_with_memo < built[0], "the validation did not run with the memo"
    return memoised, shipped


@pytest.mark.parametrize("case", list(CASES))
def test_reports_are_the_same_with_and_without_the_memo(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = CASES[case](good_frame(ROWS))
    memoised, shipped = with_and_without_the_memo(
        lambda data: validate_frame(data, FEATURES, BINARY), frame, monkeypatch
    )
    assert memoised.model_dump() == shipped.model_dump()
    assert memoised.success is (case == "good"), memoised.summary()


@pytest.mark.parametrize("case", ["good", "wrong types", "unknown categories", "empty"])
def test_raw_ge_results_are_the_same_with_and_without_the_memo(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = CASES[case](good_frame(ROWS))
    memoised, shipped = with_and_without_the_memo(raw_results, frame, monkeypatch)
    assert memoised == shipped
    assert len(memoised) == len(build_expectations(FEATURES, BINARY, column_dtypes(frame)).expectations)


def an_expectation() -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=10)


def test_outside_the_block_each_read_builds_a_new_configuration() -> None:
    rule = an_expectation()
    with memoised_configurations():
        pass  # installs the property
    first, second = rule.configuration, rule.configuration
    assert first is not second
    assert first == second
    first.kwargs["max_value"] = 99  # a caller may change what it got, as with GE's own property
    assert rule.configuration.kwargs["max_value"] == 10


def test_inside_the_block_reads_share_one_configuration_until_a_field_changes() -> None:
    rule = an_expectation()
    with memoised_configurations():
        first = rule.configuration
        assert rule.configuration is first
        rule.max_value = 20
        changed = rule.configuration
        assert changed is not first
        assert changed.kwargs["max_value"] == 20
        assert rule.configuration is changed
    assert rule.configuration is not changed


def test_another_thread_gets_ge_s_own_property_while_a_block_is_open() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rule = an_expectation()
    with memoised_configurations(), ThreadPoolExecutor(max_workers=1) as pool:
        cached = rule.configuration
        elsewhere = pool.submit(lambda: (rule.configuration, rule.configuration)).result()
    assert elsewhere[0] is not elsewhere[1]
    assert all(built is not cached and built == cached for built in elsewhere)


def test_blocks_nest_and_restore_the_outer_cache() -> None:
    rule = an_expectation()
    with memoised_configurations():
        outer = rule.configuration
        with memoised_configurations():
            inner = rule.configuration
            assert inner is not outer
        assert rule.configuration is outer


def test_the_batch_fingerprint_threshold_is_restored_even_on_error() -> None:
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = engine.HASH_THRESHOLD
    with pytest.raises(RuntimeError), without_batch_fingerprint():
        assert engine.HASH_THRESHOLD == 0
        raise RuntimeError("validation failed")
    assert saved == engine.HASH_THRESHOLD


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of expectations GE builds from a configuration (one impl lookup per build)."""
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = [0]
    lookup = ExpectationConfiguration._get_expectation_impl

    def counted(self: Any) -> Any:
        built[0] += 1
        return lookup(self)

    monkeypatch.setattr(ExpectationConfiguration, "_get_expectation_impl", counted)
    return built


def metric_kwargs(configuration: Any) -> dict[str, Any]:
    from great_expectations.expectations.registry import get_metric_kwargs

    return get_metric_kwargs("column_values.between.condition", configuration=configuration)


def test_metric_kwargs_reuse_one_round_trip_per_configuration_inside_the_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = an_expectation()
    outside = [metric_kwargs(rule.configuration) for _ in range(3)]
    built = count_round_trips(monkeypatch)
    with memoised_configurations():
        configuration = rule.configuration
        inside = [metric_kwargs(configuration) for _ in range(3)]
        assert built[0] == 1
        configuration.kwargs["max_value"] = 20  # changed in place: built anew
        changed = metric_kwargs(configuration)
        assert built[0] == 2
    assert inside == outside
    assert changed["metric_value_kwargs"]["max_value"] == 20


def test_other_callers_of_to_domain_obj_always_get_a_new_expectation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = an_expectation()
    built = count_round_trips(monkeypatch)
    with memoised_configurations():
        configuration = rule.configuration
        first, second = configuration.to_domain_obj(), configuration.to_domain_obj()
        metric_kwargs(configuration)
        metric_kwargs(configuration)
    assert first is not second
    assert first == second
    assert built[0] == 3
    metric_kwargs(configuration)
    assert built[0] == 4  # outside the block: GE's own behaviour
