"""A bounded request loop against the stable endpoint, run beside a deploy or a rollback.

It sends real requests at a steady pace from a thread and records every
outcome, so a test can assert that not one request failed while versions
were switched underneath.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from steps.data.synthetic import generate_transactions
from steps.deployment.smoke import mlflow_payload


def request_body(rows: int = 3, seed: int = 99) -> str:
    """A valid scoring request: a few generated transactions, as a client sends them."""
    frame = generate_transactions(rows, seed=seed, fraud_rate=0.05).drop(columns=["is_fraud"])
    return mlflow_payload(frame)


@dataclass
class RequestLoop:
    """Send POSTs to ``url`` every ``interval`` seconds until stopped (at most ``limit``)."""

    url: str
    interval: float = 0.05
    limit: int = 20_000
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    served_by: Counter[str] = field(default_factory=Counter)  # X-Served-By of each response
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RequestLoop:
        body = request_body()
        session = requests.Session()

        def loop() -> None:
            sent = 0
            while not self._stop.is_set() and sent < self.limit:
                started = time.monotonic()
                try:
                    response = session.post(
                        self.url,
                        data=body,
                        headers={"Content-Type": "application/json"},
                        timeout=30,
                    )
                    self.outcomes[str(response.status_code)] += 1
                    self.served_by[response.headers.get("X-Served-By", "?")] += 1
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                except requests.RequestException as error:
                    self.outcomes["error"] += 1
                    self.failures.append(f"{type(error).__name__}: {error}")
                sent += 1
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    @property
    def sent(self) -> int:
        """Requests sent so far."""
        return sum(self.outcomes.values())
