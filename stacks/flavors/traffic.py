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

    port: int = 5080
    host: str = "127.0.0.1"
    max_body_bytes: int = 1_000_000
    workers: int = 1


@dataclass(frozen=True)
class VersionToServe:
    """One model version to bring up behind the endpoint."""

    model_name: str  # the ZenML Model, also the MLflow registered model's name
    version: str  # the ZenML model version number, e.g. "3"
    model_uri: str  # what MLflow serves, e.g. "models:/fraud-detector/3" or "runs:/<id>/model"


@dataclass(frozen=True)
class Backend:
    """One version's server as the splitter sees it."""

    version: str
    weight: int  # share of new requests, 0..100 (all weights of a model sum to 100 or 0)
    state: str  # "ready" (takes traffic when weighted), "drain", "maint", "stopped"
    healthy: bool  # the splitter's (or the server's own) health check passes
    url: str | None  # the server's own scoring URL (bypasses the splitter): smoke tests
    port: int | None = None
    pid: int | None = None
    protocol: str = "mlflow"  # what ``url`` speaks: "mlflow" (/invocations) or "v2" (MLServer)


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
