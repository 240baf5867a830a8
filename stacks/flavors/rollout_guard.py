"""The side of a roll-out that outlives its deploy: ends a roll-out nobody vouches for.

supervisord runs one guard per endpoint (``<model>--guard``). Every second it reads the
endpoint's roll-out lease; when the lease has expired, or the deploy process that holds
it is gone, it routes every request back to the champion, stops the challenger's
replicas and records the version as interrupted (:meth:`LocalEndpoint.recover_abandoned_rollout`).
The deploy itself restores routing on Ctrl-C or SIGTERM; the guard is for ``kill -9``, a
crash, or a machine that slept through the lease.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from stacks.flavors.haproxy import SplitterFiles
from stacks.flavors.local_endpoint import LocalEndpoint
from stacks.flavors.supervision import Supervisor
from stacks.flavors.traffic import ServingError

logger = logging.getLogger("rollout_guard")
POLL_SECONDS = 1.0


def check_once(endpoint: LocalEndpoint) -> str | None:
    """One look at the lease; what was done, in words, if anything."""
    state = endpoint.state()
    name = state.model_name if state is not None else endpoint.files.directory.name
    interruption = endpoint.recover_abandoned_rollout(name)
    return interruption.reason if interruption is not None else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, type=Path, help="the endpoint's directory")
    parser.add_argument("--supervisor", required=True, type=Path, help="supervisord's directory")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    endpoint = LocalEndpoint(SplitterFiles(args.endpoint), Supervisor(args.supervisor))
    running = True

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    logger.info("guarding roll-outs of %s", args.endpoint)
    while running:
        try:
            done = check_once(endpoint)
        except (ServingError, OSError) as error:  # HAProxy restarting: try again next tick
            logger.warning("could not end an abandoned roll-out yet: %s", error)
        else:
            if done:
                logger.info("%s", done)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
