"""More than the endpoint can take, bounded and on 127.0.0.1: it sheds the excess and keeps serving.

First the test measures what the endpoint answers with a closed loop of a few clients
(its capacity here, on this machine, now), then offers about twice that as an open
loop for a bounded time. Every request must be answered 200, or 503 with Retry-After,
within a bound; the replicas must keep answering near their capacity; and no replica
may be marked DOWN (a health check that queued behind predictions would be).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import requests

from stacks.flavors.haproxy import model_servers
from tests.integration.serving.conftest import Endpoint, ensure_serving

#: Rows per request: enough that the servers, not this test's client, are the bottleneck.
ROWS = 50
#: The overload's length and its factor over the measured capacity.
OVERLOAD_SECONDS = 12.0
OVERLOAD_FACTOR = 2.0
#: Longest any request may take to be answered (queue timeout 1 s, plus scheduling slack).
ANSWER_BOUND_S = 5.0


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    ok_latencies: list[float] = field(default_factory=list)


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, outcome: Outcome) -> None:
    started = time.monotonic()
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as answer:
            await answer.read()
            outcome.statuses[answer.status] += 1
            if answer.status == 503:
                outcome.retry_after[answer.headers.get("Retry-After", "missing")] += 1
            elif answer.status == 200:
                outcome.ok_latencies.append(time.monotonic() - started)
    except (TimeoutError, aiohttp.ClientError) as error:
        outcome.errors[type(error).__name__] += 1
    outcome.slowest_s = max(outcome.slowest_s, time.monotonic() - started)


async def _closed_loop(url: str, body: bytes, clients: int, seconds: float) -> float:
    """Answers per second with ``clients`` each sending as soon as the last answer came."""
    outcome = Outcome()
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def client() -> None:
            while time.monotonic() < deadline:
                await _one(session, url, body, outcome)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - started
    assert not outcome.errors and set(outcome.statuses) == {200}, outcome
    return outcome.statuses[200] / elapsed


async def _open_loop(url: str, body: bytes, rate: float, seconds: float) -> Outcome:
    """Send at ``rate`` whatever the answers do (at most 2,000 in flight: bounded)."""
    outcome = Outcome()
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = []
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            tasks.append(asyncio.create_task(_one(session, url, body, outcome)))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    return outcome


def _down_transitions(endpoint: Endpoint) -> int:
    """HAProxy's count of UP -> DOWN transitions over every replica (``chkdown``)."""
    return sum(s.down_transitions for s in model_servers(endpoint.admin().show_stat()).values())


def test_overload_is_shed_while_the_replicas_keep_answering(endpoint: Endpoint) -> None:
    ensure_serving(endpoint)
    body = json.dumps(endpoint.model.payload(ROWS)).encode()
    capacity = asyncio.run(_closed_loop(endpoint.url, body, clients=8, seconds=5))
    offered = capacity * OVERLOAD_FACTOR
    downs_before = _down_transitions(endpoint)
    started = time.monotonic()
    outcome = asyncio.run(_open_loop(endpoint.url, body, offered, OVERLOAD_SECONDS))
    elapsed = time.monotonic() - started
    downs = _down_transitions(endpoint) - downs_before
    answered = outcome.statuses[200] / elapsed
    shed = outcome.statuses[503] / elapsed
    latencies = sorted(outcome.ok_latencies)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    print(
        f"\ncapacity {capacity:.0f} req/s ({ROWS} rows each); offered {offered:.0f} req/s for "
        f"{OVERLOAD_SECONDS:.0f} s: answered {answered:.0f}/s, shed {shed:.0f}/s, "
        f"statuses {dict(outcome.statuses)}, errors {dict(outcome.errors)}, p99 of the answered "
        f"{p99 * 1000:.0f} ms, slowest {outcome.slowest_s:.2f} s, DOWN transitions {downs}"
    )
    assert not outcome.errors, outcome.errors
    assert set(outcome.statuses) <= {200, 503}, outcome.statuses
    assert outcome.statuses[503] > 0, "twice the capacity shed nothing: the bound was not reached"
    assert set(outcome.retry_after) == {"1"}, outcome.retry_after
    assert downs == 0, "a busy replica was marked DOWN"
    assert outcome.slowest_s <= ANSWER_BOUND_S
    assert answered >= 0.6 * capacity, "the replicas stopped answering at their capacity"


def test_a_request_after_the_overload_is_served(endpoint: Endpoint) -> None:
    answer = requests.post(endpoint.url, json=endpoint.model.payload(1), timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Served-By"].startswith("v")
