"""A Prometheus HTTP API on 127.0.0.1 that answers instant queries with recorded answers.

It stands in for the Prometheus that scrapes Seldon's executors, nothing
else: the flavor's own code (``requests`` against ``prometheus_url``) does the
HTTP, and the answers are the files in tests/unit/stacks/data/. Like the real
server it answers ``GET /api/v1/query?query=...`` and a plain-text 404 for any
other path; it records every query it was asked, in order.

Which answer a query gets depends on its kind: ``latency`` for the one with
``rate(`` in it, ``counts`` for the other (the two queries seldon_metrics.py
builds). An answer is (HTTP status, body): a dict or list is sent as JSON,
text as text (what a proxy in front might send).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: Where the recorded answers live (shared with the unit tests of seldon_metrics.py).
RECORDED = Path(__file__).resolve().parents[2] / "unit" / "stacks" / "data"

Answer = tuple[int, Any]


def recorded(name: str) -> Any:
    """``prometheus_<name>.json`` as parsed JSON."""
    return json.loads((RECORDED / f"prometheus_{name}.json").read_text())


def query_kind(query: str) -> str:
    """``latency`` or ``counts``: which of the flavor's two queries this is."""
    return "latency" if "rate(" in query else "counts"


@dataclass
class PrometheusState:
    """The answers to give, and what was asked."""

    answers: dict[str, Answer] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    #: Seconds to wait before answering (for the client's timeout).
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_with(self, counts: Answer, latency: Answer) -> None:
        """Answer the counts query with ``counts`` and the latency query with ``latency``."""
        with self.lock:
            self.answers = {"counts": counts, "latency": latency}
            self.queries.clear()
            self.delay = 0.0


class PrometheusHandler(BaseHTTPRequestHandler):
    """Answers one request from the server's state."""

    server: FakePrometheus

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest's output clean; the state has every query."""

    def do_GET(self) -> None:
        """An instant query, or 404 for anything else."""
        url = urlsplit(self.path)
        state = self.server.state
        if url.path != "/api/v1/query":
            self._send(404, "404 page not found\n")
            return
        query = parse_qs(url.query).get("query", [""])[0]
        with state.lock:
            state.queries.append(query)
            status, body = state.answers.get(query_kind(query), (200, recorded("empty")))
            delay = state.delay
        if delay:
            time.sleep(delay)
        self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        is_text = isinstance(body, str)
        data = body.encode() if is_text else json.dumps(body).encode()
        kind = "text/plain; charset=utf-8" if is_text else "application/json"
        # The client may have given up waiting (the timeout test): nothing to answer then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


class FakePrometheus(ThreadingHTTPServer):
    """The HTTP server; ``state`` is what tests set and inspect."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PrometheusHandler)
        self.state = PrometheusState()
        self._thread = threading.Thread(target=self.serve_forever, name="fake-prometheus")
        self._thread.daemon = True

    @property
    def url(self) -> str:
        """What ``prometheus_url`` is set to."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakePrometheus:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
