"""A Kubernetes API server on 127.0.0.1 that answers only what ZenML's Seldon client asks.

It stands in for the cluster, nothing else: the real ``kubernetes`` client
(the version we install) builds the requests from a real kubeconfig, and ZenML's
Seldon code decides what to send. The fake answers reads and creates of two
resource kinds, the way the API server does (404 ``Status`` for a missing
object, 201 with the stored object for a create, 409 for a duplicate):

- ``/api/v1/namespaces/{ns}/secrets[/{name}]`` (core v1 Secrets)
- ``/apis/machinelearning.seldon.io/v1/namespaces/{ns}/seldondeployments[/{name}]``

Any other request gets 501 and stays in the log, so a test can assert that the
code path made no call the fake does not understand. Nothing is reconciled: no
operator runs, so a SeldonDeployment never gets a ``status``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

#: Route pattern -> the resource kind it serves; group 1 namespace, group 2 name (optional).
ROUTES = {
    "secrets": re.compile(r"^/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?$"),
    "seldondeployments": re.compile(
        r"^/apis/machinelearning\.seldon\.io/v1/namespaces/([^/]+)/seldondeployments(?:/([^/]+))?$"
    ),
}


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it, with the status it answered."""

    method: str
    path: str
    body: Any
    status: int


@dataclass
class ClusterState:
    """Stored objects by (kind, namespace, name), and every request in order."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, method: str, kind: str) -> list[Any]:
        """Request bodies of answered calls of ``method`` on ``kind``."""
        return [
            c.body
            for c in self.calls
            if c.method == method and ROUTES[kind].match(c.path) and c.status < 300
        ]

    def summary(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every call, for exact assertions and readable failures."""
        return [(c.method, c.path, c.status) for c in self.calls]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``Status`` object, the body the API server sends with an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class KubeHandler(BaseHTTPRequestHandler):
    """Routes one request against the server's state."""

    server: FakeKubeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest's output clean; the state's call log has every request."""

    def do_GET(self) -> None:
        """Read one object."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Create one object."""
        self._handle("POST")

    def do_PUT(self) -> None:
        """Not answered (replace): recorded, 501."""
        self._handle("PUT")

    def do_PATCH(self) -> None:
        """Not answered (patch): recorded, 501."""
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        """Not answered (delete): recorded, 501."""
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        state = self.server.state
        with state.lock:
            status, answer = self._route(method, path, body)
            state.calls.append(Call(method, path, body, status))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        objects = self.server.state.objects
        for kind, pattern in ROUTES.items():
            match = pattern.match(path)
            if not match:
                continue
            namespace, name = match.group(1), match.group(2)
            if method == "GET" and name:
                found = objects.get((kind, namespace, name))
                if found is None:
                    return 404, _status(404, "NotFound", f'{kind} "{name}" not found')
                return 200, found
            if method == "POST" and not name and isinstance(body, dict):
                key = (kind, namespace, str(body.get("metadata", {}).get("name", "")))
                if key in objects:
                    return 409, _status(409, "AlreadyExists", f'{kind} "{key[2]}" already exists')
                stored = json.loads(json.dumps(body))
                stored.setdefault("metadata", {})["namespace"] = namespace
                objects[key] = stored
                return 201, stored
        return 501, _status(501, "NotImplemented", f"the fake does not answer {method} {path}")


class FakeKubeServer(ThreadingHTTPServer):
    """The HTTP server; its ``state`` is what tests inspect."""

    daemon_threads = True

    def __init__(self, state: ClusterState) -> None:
        super().__init__(("127.0.0.1", 0), KubeHandler)
        self.state = state

    @property
    def url(self) -> str:
        """Base URL for a kubeconfig ``cluster.server``."""
        return f"http://127.0.0.1:{self.server_address[1]}"


def start_fake_kube() -> tuple[FakeKubeServer, threading.Thread]:
    """Serve a fresh, empty cluster on a free port in a background thread."""
    server = FakeKubeServer(ClusterState())
    thread = threading.Thread(target=server.serve_forever, name="fake-kube", daemon=True)
    thread.start()
    return server, thread


def stop_fake_kube(server: FakeKubeServer, thread: threading.Thread) -> None:
    """Stop serving and release the port."""
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def write_kubeconfig(path: Path, server_url: str, namespace: str) -> Path:
    """A kubeconfig whose current context is the fake cluster (token auth, plain HTTP)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server_url}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
