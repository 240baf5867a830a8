"""The active stack's model deployer, as the traffic splitter deployment code talks to.

A capability check, not a flavor branch: any deployer implementing
:class:`stacks.flavors.traffic.TrafficSplitter` will do (the project's MLflow +
HAProxy flavor locally, its Seldon flavor on clusters).
"""

from __future__ import annotations

from configs.schema import ServingConfig
from stacks.flavors.traffic import EndpointSettings, TrafficSplitter


class NoSplitterError(RuntimeError):
    """The active stack cannot serve behind a stable endpoint; nothing was changed."""


def active_splitter() -> TrafficSplitter:
    """The active stack's model deployer, if it can split traffic between versions."""
    from zenml.client import Client

    stack = Client().active_stack
    deployer = stack.model_deployer
    if deployer is None:
        raise NoSplitterError(
            f"stack '{stack.name}' has no model deployer; use a stack from stacks/ "
            "(python run.py --register-stacks) such as 'local'"
        )
    if not isinstance(deployer, TrafficSplitter):
        raise NoSplitterError(
            f"stack '{stack.name}': model deployer '{deployer.name}' (flavor "
            f"'{deployer.flavor}') cannot serve two versions behind one endpoint; the "
            "project's flavors 'mlflow_haproxy' and 'seldon_mlserver' can. If this is an old "
            "registration of the 'local' stack, delete it (zenml stack delete local) and run "
            "python run.py --register-stacks local"
        )
    return deployer


def endpoint_settings(serving: ServingConfig) -> EndpointSettings:
    """The run config's serving section as the deployer flavors take it."""
    return EndpointSettings(
        port=serving.port,
        host=serving.host,
        max_body_bytes=serving.max_body_bytes,
        workers=serving.workers,
        replicas=serving.replicas,
        max_in_flight=serving.max_in_flight,
        max_queue=serving.max_queue,
        queue_timeout=serving.queue_timeout,
        retry_after=serving.retry_after,
        metrics_port=serving.metrics_port,
    )
