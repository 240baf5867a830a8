"""Ports per model: a configured one as it is, an omitted one chosen once and kept."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from stacks.flavors import haproxy
from stacks.flavors.haproxy import SplitterFiles, SplitterState
from stacks.flavors.ports import ENDPOINT_PORTS, METRICS_PORTS, assign_ports, check_port_free
from stacks.flavors.traffic import EndpointSettings, ServingError


def test_a_configured_port_is_used_as_it_is(tmp_path: Path) -> None:
    resolved = assign_ports(tmp_path, "m", EndpointSettings(port=6001, metrics_port=9301))
    assert (resolved.port, resolved.metrics_port) == (6001, 9301)


def test_an_omitted_port_is_chosen_once_and_kept_per_model(tmp_path: Path) -> None:
    first = assign_ports(tmp_path, "a", EndpointSettings(port=None))
    assert first.port in ENDPOINT_PORTS and first.metrics_port in METRICS_PORTS
    other = assign_ports(tmp_path, "b", EndpointSettings(port=None))
    assert other.port != first.port and other.metrics_port != first.metrics_port
    again = assign_ports(tmp_path, "a", EndpointSettings(port=None, replicas=3))
    assert (again.port, again.metrics_port, again.replicas) == (first.port, first.metrics_port, 3)
    assert (tmp_path / "ports.json").is_file()


def test_a_port_in_use_by_a_program_is_skipped(tmp_path: Path) -> None:
    would_be = assign_ports(tmp_path / "probe", "m", EndpointSettings(port=None)).port
    assert would_be is not None
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", would_be))
        squatter.listen()
        chosen = assign_ports(tmp_path / "real", "m", EndpointSettings(port=None))
    assert chosen.port != would_be and chosen.port in ENDPOINT_PORTS


def test_a_clash_names_the_model_that_holds_the_port(tmp_path: Path) -> None:
    holder = SplitterState(model_name="fraud-detector-dev", port=5080)
    haproxy.save_state(SplitterFiles(tmp_path / "fraud-detector-dev"), holder)
    with pytest.raises(
        ServingError, match="port 5080 is the endpoint of model 'fraud-detector-dev'"
    ):
        check_port_free("127.0.0.1", 5080, tmp_path, "fraud-detector")
    check_port_free("127.0.0.1", free := haproxy.free_port(), tmp_path, "fraud-detector")
    assert free > 0
