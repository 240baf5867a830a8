"""Read-ahead and write-behind: order kept, errors where they belong, nothing left running."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from steps.inference.overlap import ReadAhead, WriteBehind


class Broken(Exception):
    """What a source or a write raises."""


def _numbers(n: int, log: list[tuple[int, str]], fail_at: int | None = None) -> Iterator[int]:
    try:
        for i in range(n):
            if i == fail_at:
                raise Broken(f"item {i}")
            log.append((i, threading.current_thread().name))
            yield i
    finally:
        log.append((-1, "closed"))


def test_items_come_in_order_and_only_ahead_reads_in_the_background() -> None:
    log: list[tuple[int, str]] = []
    reader = ReadAhead(_numbers(3, log), "test-read")
    assert reader.next() == 0  # no ahead(): read by the caller
    reader.ahead()
    reader.ahead()  # at most one read is pending: this changes nothing
    assert reader.next() == 1
    assert reader.next() == 2
    assert reader.next() is None
    reader.close()
    caller = threading.current_thread().name
    assert log[0] == (0, caller)
    assert log[1][0] == 1 and log[1][1].startswith("test-read")
    assert log[2] == (2, caller)
    assert log[-1] == (-1, "closed")


def test_a_reading_error_is_raised_by_next_not_by_ahead() -> None:
    log: list[tuple[int, str]] = []
    reader = ReadAhead(_numbers(5, log, fail_at=1))
    assert reader.next() == 0
    reader.ahead()
    time.sleep(0.05)  # the background read has failed by now; nothing is raised yet
    with pytest.raises(Broken, match="item 1"):
        reader.next()
    reader.close()


def test_close_waits_for_the_pending_read_and_closes_the_source() -> None:
    started = threading.Event()
    log: list[str] = []

    def slow() -> Iterator[int]:
        try:
            yield 0
            started.set()
            time.sleep(0.2)
            yield 1
        finally:
            log.append("closed")

    reader = ReadAhead(slow())
    assert reader.next() == 0
    reader.ahead()
    started.wait(5)
    reader.close()  # would raise "generator already executing" without the wait
    assert log == ["closed"]


def test_writes_run_one_at_a_time_in_order_in_the_background() -> None:
    done: list[int] = []
    running: list[int] = []
    overlapped: list[int] = []
    threads: set[str] = set()

    def write(i: int) -> None:
        if running:
            overlapped.append(i)
        running.append(i)
        threads.add(threading.current_thread().name)
        time.sleep(0.01)
        done.append(i)
        running.remove(i)

    behind = WriteBehind("test-write")
    for i in range(5):
        behind.submit(lambda i=i: write(i))  # type: ignore[misc]
    behind.wait()
    behind.close()
    assert done == [0, 1, 2, 3, 4]
    assert overlapped == []
    assert all(name.startswith("test-write") for name in threads)


def test_a_failed_write_is_raised_at_the_next_submit_and_the_next_is_not_run() -> None:
    done: list[int] = []

    def fail() -> None:
        raise Broken("disk full")

    behind = WriteBehind()
    behind.submit(fail)
    with pytest.raises(Broken, match="disk full"):
        behind.submit(lambda: done.append(1))
    behind.wait()
    assert done == []
    behind.close()


def test_close_drops_a_failed_writes_error() -> None:
    def fail() -> None:
        raise Broken("late")

    behind = WriteBehind()
    behind.submit(fail)
    behind.close()  # the caller is already failing: no second error
