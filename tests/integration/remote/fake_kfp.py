"""A Kubeflow Pipelines endpoint on 127.0.0.1 that answers the calls ZenML's orchestrator makes.

It imitates the two parts a multi-user Kubeflow puts in front of the KFP API:
the Dex login form (the orchestrator posts ``client_username`` and
``client_password`` and keeps the ``authservice_session`` cookie) and the KFP
v2beta1 REST API (healthz, experiments, runs, recurring runs). API calls without the session
cookie get 401, as behind Kubeflow's auth proxy. Every request is recorded, so a
test can check what was uploaded, not only that nothing failed.

Nothing is executed: a created run is reported ``SUCCEEDED`` when asked, which
is all the orchestrator's synchronous wait needs; a recurring run (a schedule)
is stored and never fires.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    #: Recurring runs (schedules) as created, with the fields the KFP API server adds.
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    def created_recurring_runs(self) -> list[Recorded]:
        """The recurring run creations (a schedule with its pipeline spec) that were accepted."""
        return [
            r
            for r in self.log
            if r.method == "POST" and r.path == f"{API}/recurringruns" and r.status == 200
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
        """Login form, experiment, run and recurring run creation."""
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
        if route.startswith("/experiments/") and method == "GET":
            experiment_id = route[len("/experiments/") :]
            found = [e for e in state.experiments if e["experiment_id"] == experiment_id]
            if not found:
                return 404, json_type, {"error": f"no experiment {experiment_id}", "code": 5}
            return 200, json_type, found[0]
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
        if route == "/recurringruns" and method == "POST":
            return self._create_recurring_run(json.loads(raw))
        if route.startswith("/runs/") and method == "GET":
            run_id = route[len("/runs/") :]
            if run_id not in state.runs:
                return 404, json_type, {"error": f"no run {run_id}"}
            return 200, json_type, {"run_id": run_id, "state": "SUCCEEDED"}
        return 404, json_type, {"error": f"no route {method} {path}"}

    def _create_recurring_run(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Store a recurring run; answer as the KFP API server does (the run plus its status).

        Like the real server, an unknown experiment is refused and the namespace
        is the experiment's. Nothing is scheduled or run.
        """
        state = self.server.state
        json_type = {"Content-Type": "application/json"}
        experiment = next(
            (e for e in state.experiments if e["experiment_id"] == body.get("experiment_id")),
            None,
        )
        if experiment is None:
            return 404, json_type, {"error": f"no experiment {body.get('experiment_id')}"}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        recurring_run = {
            **body,
            "recurring_run_id": uuid.uuid4().hex,
            "namespace": experiment["namespace"],
            "created_at": now,
            "updated_at": now,
            "status": "ENABLED" if body.get("mode") == "ENABLE" else "DISABLED",
        }
        state.recurring_runs[recurring_run["recurring_run_id"]] = recurring_run
        return 200, json_type, recurring_run


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
