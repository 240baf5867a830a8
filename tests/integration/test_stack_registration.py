"""Registering stacks from stacks/*.yaml is idempotent and validates files first."""

from __future__ import annotations

from pathlib import Path

import pytest
from zenml.client import Client

from stacks.registration import (
    STACKS_DIR,
    StackFileError,
    load_stack_spec,
    register_stack,
    registered_stack_names,
)


def test_registering_twice_changes_nothing_the_second_time() -> None:
    spec = load_stack_spec(STACKS_DIR / "local.yaml")
    register_stack(spec)
    components_before = Client().list_stack_components(size=100).total
    again = register_stack(spec)
    assert not again.changed
    assert registered_stack_names().count("local") == 1
    assert Client().list_stack_components(size=100).total == components_before
    stack = Client().get_stack("local")
    flavors = {kind.value: comps[0].flavor_name for kind, comps in stack.components.items()}
    assert flavors["orchestrator"] == "local"
    assert flavors["experiment_tracker"] == "mlflow"
    assert flavors["model_deployer"] == "mlflow"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("stack_name: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("components: {}\n", "stack_name"),
        (
            "stack_name: x\ncomponents:\n  orchestrator:\n  - {name: o, type: orchestrator}\n",
            "flavor",
        ),
        (
            "stack_name: x\ncomponents:\n  orchestrator:\n"
            "  - {name: o, flavor: local, type: artifact_store}\n",
            "components.orchestrator.0.type",
        ),
        ("stack_name: x\ncolour: blue\ncomponents: {}\n", "colour"),
    ],
)
def test_bad_stack_file_names_file_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(StackFileError) as caught:
        load_stack_spec(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
