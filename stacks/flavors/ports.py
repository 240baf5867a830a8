"""Which port each model's endpoint listens on, so several models serve side by side.

A configured port is used as it is; a model without one gets a free port from a fixed
range the first time and keeps it (``ports.json`` beside the endpoints), so its URL does not
change across ``--serve``, reboots and ``--undeploy``. A port held by another model's
endpoint is refused with that model's name, one held by another program says so. No ZenML.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from stacks.flavors import haproxy
from stacks.flavors.haproxy import SplitterFiles, SplitterState
from stacks.flavors.traffic import EndpointSettings, ServingError

#: Where a model without a configured port gets one (clients' ports, then metrics ports).
ENDPOINT_PORTS = range(5100, 6000)
METRICS_PORTS = range(9180, 9980)


def endpoint_states(root: Path) -> list[SplitterState]:
    """The saved state of every model's endpoint under ``root`` (one deployer's)."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.is_dir():
            with contextlib.suppress(ValueError, OSError):
                state = haproxy.load_state(SplitterFiles(path))
                if state is not None:
                    found.append(state)
    return found


def check_port_free(host: str, port: int, root: Path, model_name: str) -> None:
    """ServingError naming who holds ``port``: another model's endpoint of ours, or a program."""
    owner = next(
        (
            s.model_name
            for s in endpoint_states(root)
            if s.port == port and s.model_name != model_name
        ),
        None,
    )
    if owner is not None:
        raise ServingError(
            f"port {port} is the endpoint of model '{owner}' (served by this project); give "
            f"'{model_name}' another deployment.serving.port, or omit it to get a free one, or "
            f"stop '{owner}' with python run.py --undeploy --config <its config>"
        )
    if haproxy.port_in_use(host, port):
        raise ServingError(
            f"port {port} on {host} is already in use by another program (not an endpoint of "
            "this project); stop it, or choose another deployment.serving.port in the run "
            "config (or omit it to get a free one)"
        )


def assign_ports(root: Path, model_name: str, settings: EndpointSettings) -> EndpointSettings:
    """The settings with the clients' and metrics ports fixed for this model.

    A configured port is used as it is. An omitted one is the port the model
    was given before (kept in ``ports.json`` beside the endpoints, so it is stable
    across --serve, reboots and --undeploy), else the first free one of a fixed
    range that no other model of this deployer holds.
    """
    registry = root / "ports.json"
    try:
        assigned: dict[str, dict[str, int]] = json.loads(registry.read_text())
    except (FileNotFoundError, ValueError):
        assigned = {}
    mine = dict(assigned.get(model_name, {}))
    taken = {
        port for name, ports in assigned.items() if name != model_name for port in ports.values()
    }
    taken |= {s.port for s in endpoint_states(root) if s.model_name != model_name}
    port = settings.port or mine.get("port") or _first_free(ENDPOINT_PORTS, taken, settings.host)
    metrics = (
        settings.metrics_port
        or mine.get("metrics_port")
        or _first_free(METRICS_PORTS, taken | {port}, "127.0.0.1")
    )
    if mine != {"port": port, "metrics_port": metrics}:
        assigned[model_name] = {"port": port, "metrics_port": metrics}
        _write_json(registry, assigned)
    return EndpointSettings(**{**asdict(settings), "port": port, "metrics_port": metrics})


def _first_free(candidates: range, taken: set[int], host: str) -> int:
    for port in candidates:
        if port not in taken and not haproxy.port_in_use(host, port):
            return port
    raise ServingError(
        f"no free port in {candidates.start}..{candidates.stop - 1}; set deployment.serving.port"
    )


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=2))
    os.replace(temporary, path)
