"""The deploy's side of a roll-out lease: taken before a challenger can get traffic, renewed
while the roll-out runs, released when it ends either way.

If this process stops renewing (``kill -9``, a crash, a laptop lid closed), the splitter's
side that outlives it (locally the supervised guard, on Seldon the next command) sends every
request back to the champion and records the challenger as interrupted. Ctrl-C and SIGTERM
do not need it: they raise here, and the switch's own undo restores routing at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from stacks.flavors.traffic import TrafficSplitter

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def rollout_lease(
    splitter: TrafficSplitter,
    model_name: str,
    champion: str | None,
    challenger: str,
    lease_seconds: float,
) -> Iterator[None]:
    """Hold the lease for the body; renew it every third of ``lease_seconds`` in a thread."""
    splitter.begin_rollout(model_name, champion, challenger, lease_seconds)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                splitter.renew_rollout(model_name, lease_seconds)
            except Exception as error:  # a missed renewal is retried; expiry is the guard's call
                logger.warning("could not renew the roll-out lease: %s", error)

    renewer = threading.Thread(target=renew, name="rollout-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        try:
            splitter.end_rollout(model_name)
        except Exception as error:
            logger.warning("could not release the roll-out lease: %s", error)
