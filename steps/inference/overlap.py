"""Reading the next chunk and writing the last one while the model scores the current one.

Batch scoring reads (and validates) a chunk, scores it and writes its predictions. Done
one after the other, the model waits for the reading, Great Expectations' checks and the
writing of every chunk. Here they run in one background thread each, one chunk ahead and
one behind, and memory stays bounded at three chunks (one ahead, one scored, one being
written). On 2 cores this gained about 5% at 1M rows (bench/README.md, Monitoring), not
more: the model's tree part already keeps both cores busy, and the checks and the
Pipeline's encoders both need the GIL. With more cores the overlap has more to hide behind.

Order is kept: chunks come out in file order, writes happen in order, and an error
in either thread is raised in the caller's thread at the point the chunk it belongs
to would have been handled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")


class ReadAhead(Generic[Item]):
    """Items of ``source``, the next one fetched in a background thread after :meth:`ahead`.

    Without a call to :meth:`ahead`, :meth:`next` reads in the caller's thread, so a
    caller decides how far reading may run ahead of its checks (the scorer asks for
    the next chunk only once the current one passed validation).
    """

    def __init__(self, source: Iterator[Item], name: str = "read-ahead") -> None:
        self._source = source
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[Item | None] | None = None

    def ahead(self) -> None:
        """Start reading the next item now (at most one is ever pending)."""
        if self._pending is None:
            self._pending = self._pool.submit(next, self._source, None)

    def next(self) -> Item | None:
        """The next item, or None at the end; the reader's exception is raised here."""
        pending, self._pending = self._pending, None
        if pending is None:
            return next(self._source, None)
        return pending.result()

    def close(self) -> None:
        """Wait for a pending read (its result or error no longer matters), then close the source.

        A generator cannot be closed while another thread is running it, so the wait comes
        first; then the source's own cleanup (closing its file) runs in this thread.
        """
        if self._pending is not None:
            with contextlib.suppress(BaseException):
                self._pending.result()
            self._pending = None
        self._pool.shutdown(wait=True)
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class WriteBehind:
    """Runs each write in a background thread, one at a time and in order.

    :meth:`submit` first waits for the previous write, so at most one is in flight and a
    failed write is raised before the next chunk is handed over. :meth:`wait` raises a
    pending write's error without submitting anything (call it before committing, or
    before reporting a later chunk's problem, so problems are reported in file order).
    """

    def __init__(self, name: str = "write-behind") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[None] | None = None

    def submit(self, write: Callable[[], None]) -> None:
        self.wait()
        self._pending = self._pool.submit(write)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Let a write in flight finish (its error is dropped: the caller is already failing)."""
        with contextlib.suppress(BaseException):
            self.wait()
        self._pool.shutdown(wait=True)
