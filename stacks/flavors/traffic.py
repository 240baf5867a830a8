"""What the project's model deployer flavors offer beyond ZenML's common interface.

ZenML's ``BaseModelDeployer`` can start and stop one server per model, but it
has no notion of two versions sharing traffic behind one stable endpoint. Our
flavors add that (HAProxy in front of MLflow prediction servers locally, the
predictors of one SeldonDeployment on a cluster). The deployment steps take
the active stack's model deployer, check that it is a :class:`TrafficSplitter`
(a capability check, not a flavor branch) and only call the methods below.

This module holds no ZenML code, so steps may import its types without
importing any flavor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class EndpointSettings:
    """The stable endpoint of one model, as the run config's ``deployment.serving`` says."""

    port: int | None = None  # None: the deployer picks a free port once and keeps it
    host: str = "127.0.0.1"
    max_body_bytes: int = 1_000_000
    workers: int = 1
    replicas: int = 1
    max_in_flight: int = 2
    max_queue: int = 20
    queue_timeout: float = 1.0
    retry_after: int = 1
    metrics_port: int | None = None


@dataclass(frozen=True)
class VersionToServe:
    """One model version to bring up behind the endpoint."""

    model_name: str  # the ZenML Model, also the MLflow registered model's name
    version: str  # the ZenML model version number, e.g. "3"
    model_uri: str  # what MLflow serves, e.g. "models:/fraud-detector/3" or "runs:/<id>/model"


@dataclass(frozen=True)
class Replica:
    """One process serving a version, as its supervisor sees it."""

    name: str
    state: str  # the supervisor's word: RUNNING, STARTING, BACKOFF, EXITED, FATAL, STOPPED
    pid: int | None
    port: int | None
    uptime_seconds: float | None
    restarts: int
    healthy: bool  # the splitter's health check passes for this replica


@dataclass(frozen=True)
class Backend:
    """One version's server(s) as the splitter sees them."""

    version: str
    weight: int  # share of new requests, 0..100 (all weights of a model sum to 100 or 0)
    state: str  # "ready" (takes traffic when weighted), "drain", "maint", "stopped"
    healthy: bool  # the splitter's (or the server's own) health check passes
    url: str | None  # the server's own scoring URL (bypasses the splitter): smoke tests
    port: int | None = None
    pid: int | None = None
    protocol: str = "mlflow"  # what ``url`` speaks: "mlflow" (/invocations) or "v2" (MLServer)
    replicas: tuple[Replica, ...] = ()


@dataclass(frozen=True)
class TrafficCounters:
    """What the splitter counted for one version's backend, for the canary's analysis.

    The counts are cumulative (since the splitter or the metrics started), so
    a window's figures are the difference of two reads; ``recent_latency_ms``
    is the splitter's own average response time over its latest responses
    (HAProxy's ``rtime``: the last 1024 responses, time to the response
    headers, idle keep-alive excluded; on Seldon the mean over the component's
    Prometheus lookback), or None while the version has answered nothing.
    """

    version: str
    requests: int
    responses_4xx: int
    responses_5xx: int
    recent_latency_ms: float | None = None


@dataclass(frozen=True)
class Interruption:
    """A roll-out ended by the side that outlived its deploy, because nobody renewed its lease."""

    version: str  # the challenger, now stopped and routed nothing
    champion: str | None  # who got every request back (None: nobody served before)
    at: str  # ISO time the routing was restored
    reason: str  # one sentence for the user
    recorded: bool = False  # written to the model registry by a later command


class ServingError(RuntimeError):
    """Serving could not be done as asked (a server did not start, the splitter refused)."""


class SplitterMissingError(ServingError):
    """The traffic splitter is not installed; the message says how to install it."""


@runtime_checkable
class TrafficSplitter(Protocol):
    """A model deployer that serves several versions of a model behind one endpoint.

    Every method is idempotent, and none of them ever leaves the endpoint
    without a healthy weighted backend while one existed before the call: a
    failure raises :class:`ServingError` with the routing unchanged.
    """

    def check_ready(self) -> None:
        """Raise SplitterMissingError (saying how to install it) if serving cannot work here."""
        ...

    def open_endpoint(self, model_name: str, settings: EndpointSettings) -> str:
        """Start the model's stable endpoint if it is not running; return its scoring URL."""
        ...

    def endpoint_url(self, model_name: str) -> str | None:
        """The stable scoring URL (``.../invocations``), or None if the endpoint is down."""
        ...

    def serve_version(self, version: VersionToServe, timeout: int) -> Backend:
        """Start (or reuse) the version's server; it joins the endpoint at weight 0.

        Returns once the server answers its health check; raises ServingError
        (and leaves nothing of the attempt running) if it does not in time.
        """
        ...

    def set_weights(self, model_name: str, weights: Mapping[str, int]) -> None:
        """Route new requests by ``weights`` (version -> share, summing to 100).

        Versions not named get weight 0; in-flight requests finish where they are.
        """
        ...

    def retire_version(self, model_name: str, version: str, drain_timeout: float) -> None:
        """Drain the version (no new requests, wait for in-flight ones), then stop its server."""
        ...

    def backends(self, model_name: str) -> list[Backend]:
        """Every version the endpoint knows, with its weight, state and health."""
        ...

    def traffic_counters(self, model_name: str) -> dict[str, TrafficCounters]:
        """The splitter's cumulative figures per version (every version it routes to).

        Raises ServingError if the figures cannot be read (the splitter is
        down, the metrics backend does not answer).
        """
        ...

    def shut_down(self, model_name: str | None = None) -> list[str]:
        """Stop every server and splitter this project started (for one model, or all).

        Returns what was stopped, one line each, for the user to read.
        """
        ...

    def begin_rollout(
        self, model_name: str, champion: str | None, challenger: str, lease_seconds: float
    ) -> None:
        """Take a lease on a roll-out of ``challenger`` that this process renews.

        If it is not renewed within ``lease_seconds`` (the deploy was killed, the
        machine slept), the side that outlives the deploy sends every request
        back to ``champion``, stops the challenger and records an Interruption.
        """
        ...

    def renew_rollout(self, model_name: str, lease_seconds: float) -> None:
        """Push the lease's expiry ``lease_seconds`` ahead."""
        ...

    def end_rollout(self, model_name: str) -> None:
        """Release the lease (the roll-out finished, or restored routing itself)."""
        ...

    def recover_rollout(self, model_name: str) -> list[Interruption]:
        """End an abandoned roll-out now if there is one; every interruption not yet recorded."""
        ...

    def mark_recorded(self, model_name: str, versions: set[str]) -> None:
        """The interruptions of these versions were written to the model registry."""
        ...
