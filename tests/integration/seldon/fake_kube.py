"""A Kubernetes API server on 127.0.0.1 that answers only what ZenML's Seldon client asks.

It stands in for the cluster, nothing else: the real ``kubernetes`` client
(the version we install) builds the requests from a real kubeconfig, and ZenML's
Seldon code (or the project's flavor) decides what to send. The fake answers
reads, lists (equality label selectors), creates, replaces and deletes of two
resource kinds, the way the API server does (404 ``Status`` for a missing
object, 201 with the stored object for a create, 409 for a duplicate):

- ``/api/v1/namespaces/{ns}/secrets[/{name}]`` (core v1 Secrets)
- ``/apis/machinelearning.seldon.io/v1/namespaces/{ns}/seldondeployments[/{name}]``

Given the CRD schema, it checks every SeldonDeployment it is sent as the API
server would (``crd.manifest_errors``) and answers 422 ``Invalid`` instead of
storing a manifest the real server would reject or prune.

Any other request (a patch, say) gets 501 and stays in the log, so a test can
assert that the code path made no call the fake does not understand. Nothing
is reconciled unless ``operator_ready`` is set: then, standing in for the
Seldon operator, each stored SeldonDeployment gets an ``Available`` status.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.integration.seldon.crd import manifest_errors

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
    #: The SeldonDeployment CRD's openAPIV3Schema; None accepts any manifest.
    crd_schema: dict[str, Any] | None = None
    #: Stand in for the Seldon operator: stored SeldonDeployments report Available.
    operator_ready: bool = False

    def mark(self) -> int:
        """A point in the call log, for ``summary(since=...)`` and ``bodies(since=...)``."""
        return len(self.calls)

    def bodies(self, method: str, kind: str, since: int = 0) -> list[Any]:
        """Request bodies of answered calls of ``method`` on ``kind`` (after ``since``)."""
        return [
            c.body
            for c in self.calls[since:]
            if c.method == method and ROUTES[kind].match(c.path) and c.status < 300
        ]

    def summary(self, since: int = 0) -> list[tuple[str, str, int]]:
        """(method, path, status) of every call (after ``since``), for exact assertions and
        readable failures."""
        return [(c.method, c.path, c.status) for c in self.calls[since:]]


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
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        state = self.server.state
        with state.lock:
            status, answer = self._route(method, url.path, body, parse_qs(url.query))
            state.calls.append(Call(method, url.path, body, status))
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(
        self, method: str, path: str, body: Any, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        for kind, pattern in ROUTES.items():
            match = pattern.match(path)
            if not match:
                continue
            namespace, name = match.group(1), match.group(2)
            if name and method in {"GET", "PUT", "DELETE"}:
                return self._on_object(method, kind, namespace, name, body)
            if not name and method == "GET":
                return 200, self._list(kind, namespace, query.get("labelSelector", [""])[0])
            if not name and method == "POST" and isinstance(body, dict):
                return self._store(kind, namespace, body, create=True)
        return 501, _status(501, "NotImplemented", f"the fake does not answer {method} {path}")

    def _on_object(
        self, method: str, kind: str, namespace: str, name: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        """Read, replace or delete one named object."""
        objects = self.server.state.objects
        key = (kind, namespace, name)
        if key not in objects:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found')
        if method == "GET":
            return 200, self._with_status(kind, objects[key])
        if method == "DELETE":
            del objects[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        if not isinstance(body, dict) or body.get("metadata", {}).get("name") != name:
            return 400, _status(400, "BadRequest", "the body must be the object named in the URL")
        return self._store(kind, namespace, body, create=False)

    def _store(
        self, kind: str, namespace: str, body: dict[str, Any], create: bool
    ) -> tuple[int, dict[str, Any]]:
        """Create (409 if present) or replace an object, after the CRD check."""
        state = self.server.state
        name = str(body.get("metadata", {}).get("name", ""))
        key = (kind, namespace, name)
        if create and key in state.objects:
            return 409, _status(409, "AlreadyExists", f'{kind} "{name}" already exists')
        if kind == "seldondeployments" and state.crd_schema is not None:
            errors = manifest_errors(body, state.crd_schema)
            if errors:
                message = f'SeldonDeployment "{name}" is invalid: ' + "; ".join(errors)
                return 422, _status(422, "Invalid", message)
        stored = json.loads(json.dumps(body))
        stored.setdefault("metadata", {})["namespace"] = namespace
        state.objects[key] = stored
        return (201 if create else 200), self._with_status(kind, stored)

    def _list(self, kind: str, namespace: str, selector: str) -> dict[str, Any]:
        """Objects of ``kind`` in ``namespace`` carrying every ``key=value`` of the selector."""
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        items = [
            self._with_status(kind, obj)
            for (k, ns, _), obj in sorted(self.server.state.objects.items())
            if k == kind
            and ns == namespace
            and all(obj["metadata"].get("labels", {}).get(k2) == v for k2, v in wanted.items())
        ]
        return {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}

    def _with_status(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as the server returns it: Available if the stand-in operator runs."""
        if kind != "seldondeployments" or not self.server.state.operator_ready:
            return obj
        return {**obj, "status": {"state": "Available", "conditions": []}}


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


def start_fake_kube(
    crd_schema: dict[str, Any] | None = None,
) -> tuple[FakeKubeServer, threading.Thread]:
    """Serve a fresh, empty cluster on a free port in a background thread; given the CRD
    schema, it refuses SeldonDeployments the real API server would refuse."""
    server = FakeKubeServer(ClusterState(crd_schema=crd_schema))
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
