"""Great Expectations' per-call bookkeeping, cut where it does nothing for our checks.

Batch scoring validates every chunk, so what GE spends per ``validate`` call whatever the
rows (about 0.2 s for the training suite's 86 expectations on 2 cores) is paid once per
chunk, and it competes with the model for the same cores. Three parts of it are pure
overhead for us, and each is switched off only for the duration of our own validation:

- the batch fingerprint: a hash of every row, kept only as a batch label;
- rebuilding an expectation's ``configuration`` (a pydantic ``dict()`` and a new
  ``ExpectationConfiguration``) every time one of its keyword arguments is read: 4,765
  rebuilds for 86 expectations per call, about half of the fixed cost;
- turning that configuration back into a new expectation for each metric an expectation
  asks for, only to read its keyword arguments again (``get_metric_kwargs``: 496 new
  objects, each then serialised anew, per call).

The last two take ``check_batch``'s fixed cost from about 0.20 to 0.10 s of CPU per chunk
(the generator's schema, a 1k-row chunk; bench/README.md, Monitoring). None changes GE's
results (tests/unit/validation/test_ge_overhead.py compares the reports and GE's raw
results with and without them on good and bad data).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_active = threading.local()
_install_lock = threading.Lock()
_installed = False


@contextlib.contextmanager
def without_batch_fingerprint() -> Iterator[None]:
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


@contextlib.contextmanager
def memoised_configurations() -> Iterator[None]:
    """In this thread, build each expectation's configuration, and each round trip, once.

    GE's ``Expectation.configuration`` is a property that serialises the expectation anew
    on every read, and reading one keyword argument reads it (``_get_domain_kwargs`` does
    so once per domain key). Inside this block a read returns the configuration built for
    the same object while its fields are the ones it was built from; a field set to another
    value builds a new one, as GE would (GE's validation only ever sets fields, it does not
    change a field's list or dict in place).

    GE's ``get_metric_kwargs`` rebuilds an expectation from that configuration
    (``to_domain_obj``) for every metric, reads its keyword arguments and drops it. Inside
    this block, and only for that caller, the expectation built from a configuration is
    reused while the configuration's fields and keyword arguments are the ones it was built
    from. Other threads, and this one outside the block, get GE's own methods unchanged.
    """
    _install()
    saved = getattr(_active, "cache", None), getattr(_active, "round_trips", None)
    _active.cache, _active.round_trips = {}, {}
    try:
        yield
    finally:
        _active.cache, _active.round_trips = saved


def _install() -> None:
    """Put the memoising methods on GE's classes once per process (they defer to GE's)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _memoise_configuration_property()
        _memoise_metric_round_trip()
        _installed = True


def _memoise_configuration_property() -> None:
    from great_expectations.expectations.expectation import Expectation

    shipped = Expectation.__dict__["configuration"]
    assert isinstance(shipped, property) and shipped.fget is not None
    built_by_ge = shipped.fget

    def configuration(self: Any) -> Any:
        cache: _Memo | None = getattr(_active, "cache", None)
        if cache is None:
            return built_by_ge(self)
        return _memoised(cache, self, dict(self.__dict__), lambda: built_by_ge(self))

    configuration.__doc__ = shipped.__doc__
    setattr(Expectation, "configuration", property(configuration))  # noqa: B010


def _memoise_metric_round_trip() -> None:
    from great_expectations.expectations import registry
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built_by_ge = ExpectationConfiguration.to_domain_obj
    metric_kwargs_code = registry.get_metric_kwargs.__code__

    def to_domain_obj(self: Any) -> Any:
        round_trips: _Memo | None = getattr(_active, "round_trips", None)
        if round_trips is None or sys._getframe(1).f_code is not metric_kwargs_code:
            return built_by_ge(self)
        fields = {**self.__dict__, "_kwargs": dict(self._kwargs)}
        return _memoised(round_trips, self, fields, lambda: built_by_ge(self))

    to_domain_obj.__doc__ = built_by_ge.__doc__
    setattr(ExpectationConfiguration, "to_domain_obj", to_domain_obj)  # noqa: B010


#: id(source) -> (source, its fields when built, what was built from it).
_Memo = dict[int, tuple[Any, dict[str, Any], Any]]


def _memoised(memo: _Memo, source: Any, fields: dict[str, Any], build: Callable[[], Any]) -> Any:
    """What ``build`` made from ``source`` earlier, if its fields are still those; else build."""
    held = memo.get(id(source))
    if held is not None and held[0] is source and _same_fields(held[1], fields):
        return held[2]
    built = build()
    # The source is held too, so its id cannot be reused by another object while cached.
    memo[id(source)] = (source, fields, built)
    return built


def _same_fields(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """Field by field the same objects or equal values; anything not comparable is a change."""
    if before.keys() != now.keys():
        return False
    try:
        return all(before[name] is now[name] or bool(before[name] == now[name]) for name in now)
    except Exception:  # e.g. an array field, whose == is not a truth value
        return False
