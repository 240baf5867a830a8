"""The Locust user that sends scoring requests: the locustfile of the load test and the replayer.

A separate file because Locust loads it in its own process: importing Locust
monkey-patches sockets, threads and ``ssl`` with gevent, which must never
happen in a process that runs ZenML, MLflow or pytest. ``loadtest.py`` starts
``python -m locust -f <this file>`` as a subprocess and reads its CSV files;
nothing of ours imports this module. For the same reason (and a fast start)
it imports only the standard library and Locust, nothing of the project, and
takes its inputs from environment variables the parent sets:

``FRAUDOPS_PAYLOADS``
    A file of request bodies, one JSON document per line (``write_payloads``).
``FRAUDOPS_PATH``
    The URL path every request is POSTed to, e.g. ``/invocations`` or
    ``/v2/models/<name>/infer``; Locust's ``--host`` gives the rest.
``FRAUDOPS_RATE_PER_USER``
    Requests per second for each user (``constant_throughput``): the run's rate
    is this times ``--users``, whatever the server's latency (up to one request
    in flight per user).

Every request is named ``predict``, so the stats have one line besides
"Aggregated", and any answer outside 2xx counts as a failure.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import gevent
from locust import FastHttpUser, constant_throughput, events, stats, task
from locust.env import Environment

PAYLOADS_ENV = "FRAUDOPS_PAYLOADS"
PATH_ENV = "FRAUDOPS_PATH"
RATE_ENV = "FRAUDOPS_RATE_PER_USER"
REQUEST_NAME = "predict"
HEADERS = {"Content-Type": "application/json"}


def _setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"the environment variable {name} is not set (loadtest.py sets it)")
    return value


def _rate_per_user() -> float:
    """Read at import: Locust takes ``wait_time`` from the class, built when the file loads."""
    text = _setting(RATE_ENV)
    try:
        rate = float(text)
    except ValueError:
        raise RuntimeError(f"{RATE_ENV}={text!r} is not a number of requests per second") from None
    if not rate > 0:
        raise RuntimeError(f"{RATE_ENV}={text!r} must be above 0")
    return rate


def read_bodies(path: Path) -> list[str]:
    """The request bodies, one per non-empty line, as the text to send."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise RuntimeError(f"{PAYLOADS_ENV}: cannot read {path}: {error}") from error
    bodies = [line for line in lines if line.strip()]
    if not bodies:
        raise RuntimeError(f"{PAYLOADS_ENV}: {path} holds no request bodies")
    return bodies


#: Filled once per Locust process by the ``init`` event, before any user starts.
_BODIES: list[str] = []
_PATH: list[str] = []
_user_numbers = itertools.count()


@events.init.add_listener
def _load_inputs(environment: Environment, **_kwargs: object) -> None:
    """Read the bodies and the path once; an error here makes Locust exit 1 before any load.

    Then bring gevent's clock up to date: Locust arms its ``--run-time`` timer
    right after this event, against the loop's cached time, which dates from
    before Locust imported this file and set up. Measured here: 0.4-1 s stale
    (more on a busy machine), so a 3 s run loaded for only 2-2.5 s.
    """
    _BODIES[:] = read_bodies(Path(_setting(PAYLOADS_ENV)))
    path = _setting(PATH_ENV)
    _PATH[:] = [path if path.startswith("/") else f"/{path}"]
    gevent.get_hub().loop.update_now()


@events.quitting.add_listener
def _let_csv_writer_catch_up(environment: Environment, **_kwargs: object) -> None:
    """Give Locust's CSV writer one more turn once the users have stopped.

    It rewrites ``_stats.csv`` once a second and not at shutdown, so without
    this the file misses up to a second of the run (locust#1806) and
    disagrees with the HTML report. ``quitting`` fires after the users stopped
    and before the files are closed.
    """
    if getattr(environment.parsed_options, "csv_prefix", None):
        gevent.sleep(stats.CSV_STATS_INTERVAL_SEC + 0.2)


def _first_offset(user_number: int, users: int, bodies: int) -> int:
    """Spread the users' starting bodies over the file, so they do not send the same rows."""
    return (user_number * bodies // max(users, 1)) % bodies


class ScoringUser(FastHttpUser):
    """POSTs the bodies in turn, starting at its own offset, paced at the per-user rate."""

    wait_time = constant_throughput(_rate_per_user())
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        users = int(getattr(options, "num_users", None) or 1)
        start = _first_offset(next(_user_numbers), users, len(_BODIES))
        self._bodies = itertools.islice(itertools.cycle(_BODIES), start, None)

    @task
    def predict(self) -> None:
        body = next(self._bodies)
        with self.client.post(
            _PATH[0], data=body, headers=HEADERS, name=REQUEST_NAME, catch_response=True
        ) as response:
            status = response.status_code or 0
            if 200 <= status < 300:
                response.success()
            elif status == 0:
                response.failure(f"no response: {response.error!r}")
            else:
                response.failure(f"HTTP {status}")
