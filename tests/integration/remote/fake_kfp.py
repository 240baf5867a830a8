"""A Kubeflow Pipelines endpoint on 127.0.0.1 that answers the calls ZenML's orchestrator makes.

It imitates the two parts a multi-user Kubeflow puts in front of the KFP API:
the Dex login form (the orchestrator posts ``client_username`` and
``client_password`` and keeps the ``authservice_session`` cookie) and the KFP
v2beta1 REST API (healthz, experiments, runs). API calls without the session
cookie get 401, as behind Kubeflow's auth proxy. Every request is recorded, so a
test can check what was uploaded, not only that nothing failed.

Nothing is executed: a created run is reported ``SUCCEEDED`` when asked, which
is all the orchestrator's synchronous wait needs.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/pipeline"
API = f"{PREFIX}/apis/v2beta1"
LOGIN_PATH = "/dex/auth/local/login"
SESSION_COOKIE = "authservice_session"
#: Status recorded for a request answered by closing the connection (no HTTP response).
DROPPED = 0


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class KfpState:
    """What the fake KFP knows: the accepted login, experiments, runs, and the request log."""

    username: str
    password: str
    session_token: str = field(default_factory=lambda: uuid.uuid4().hex)
    experiments: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Fault injection: drop the connection on run creation, as a flaky proxy would.
    drop_uploads: bool = False
    log: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def created_runs(self) -> list[Recorded]:
        """The run creations (the upload of a pipeline spec) that were accepted."""
        return [
            r
            for r in self.log
            if r.method == "POST" and r.path == f"{API}/runs" and r.status == 200
        ]


class KfpHandler(BaseHTTPRequestHandler):
    """Routes one request; the state lives on the server object."""

    server: FakeKfpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest's output clean; the state's log has every request."""

    def do_GET(self) -> None:
        """Login pages, healthz, experiment lookup, run status."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Login form, experiment and run creation."""
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        with state.lock:
            status, headers, payload = self._route(method, parts.path, parse_qs(parts.query), raw)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            state.log.append(
                Recorded(
                    method=method,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers=dict(self.headers.items()),
                    body=body,
                    status=status,
                )
            )
        if status == DROPPED:
            self.close_connection = True
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _logged_in(self) -> bool:
        cookies = self.headers.get("Cookie", "")
        wanted = f"{SESSION_COOKIE}={self.server.state.session_token}"
        return any(part.strip() == wanted for part in cookies.split(";"))

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        state = self.server.state
        json_type = {"Content-Type": "application/json"}
        if path.rstrip("/") == PREFIX and method == "GET":
            if self._logged_in():
                return 200, {"Content-Type": "text/html"}, b"<html>Kubeflow Pipelines</html>"
            return 302, {"Location": LOGIN_PATH}, b""
        if path == LOGIN_PATH and method == "GET":
            return 200, {"Content-Type": "text/html"}, b"<form method=post>login</form>"
        if path == LOGIN_PATH and method == "POST":
            form = parse_qs(raw.decode())
            if form.get("login") == [state.username] and form.get("password") == [state.password]:
                return (
                    303,
                    {
                        "Location": PREFIX,
                        "Set-Cookie": f"{SESSION_COOKIE}={state.session_token}; Path=/",
                    },
                    b"",
                )
            return 200, {"Content-Type": "text/html"}, b"Invalid Email Address and password"
        if not path.startswith(API):
            return 404, json_type, {"error": f"no route {method} {path}"}
        if not self._logged_in():
            return 401, json_type, {"error": "unauthenticated: no valid session cookie"}
        route = path[len(API) :]
        if route == "/healthz" and method == "GET":
            return 200, json_type, {"multi_user": True}
        if route == "/experiments" and method == "GET":
            namespace = query.get("namespace", [""])[0]
            wanted = json.loads(query.get("filter", ["{}"])[0]).get("predicates", [])
            names = {p.get("stringValue") for p in wanted if p.get("key") == "display_name"}
            found = [
                e
                for e in state.experiments
                if e["namespace"] == namespace and (not names or e["display_name"] in names)
            ]
            return 200, json_type, {"experiments": found, "total_size": len(found)}
        if route == "/experiments" and method == "POST":
            experiment = dict(json.loads(raw), experiment_id=uuid.uuid4().hex)
            state.experiments.append(experiment)
            return 200, json_type, experiment
        if route == "/runs" and method == "POST":
            if state.drop_uploads:
                return DROPPED, {}, b""
            run = json.loads(raw)
            run_id = uuid.uuid4().hex
            state.runs[run_id] = run
            return 200, json_type, {"run_id": run_id, "display_name": run.get("display_name")}
        if route.startswith("/runs/") and method == "GET":
            run_id = route[len("/runs/") :]
            if run_id not in state.runs:
                return 404, json_type, {"error": f"no run {run_id}"}
            return 200, json_type, {"run_id": run_id, "state": "SUCCEEDED"}
        return 404, json_type, {"error": f"no route {method} {path}"}


class FakeKfpServer(ThreadingHTTPServer):
    """The HTTP server; ``state`` is shared with the test."""

    daemon_threads = True

    def __init__(self, state: KfpState) -> None:
        super().__init__(("127.0.0.1", 0), KfpHandler)
        self.state = state

    @property
    def hostname(self) -> str:
        """The value for the orchestrator's ``kubeflow_hostname`` (ends in /pipeline)."""
        return f"http://127.0.0.1:{self.server_address[1]}{PREFIX}"


def start_fake_kfp(username: str, password: str) -> tuple[FakeKfpServer, threading.Thread]:
    """Serve a fake KFP accepting one login in a background thread of this process."""
    server = FakeKfpServer(KfpState(username=username, password=password))
    thread = threading.Thread(target=server.serve_forever, name="fake-kfp", daemon=True)
    thread.start()
    return server, thread


def stop_fake_kfp(server: FakeKfpServer, thread: threading.Thread) -> None:
    """Stop serving and free the port."""
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
