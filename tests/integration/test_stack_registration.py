"""Registering stacks/*.yaml in a real ZenML store: idempotent, validated first, all or nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from zenml.client import Client

from stacks.registration import register_files, registered_stack_names, resolve_stack_files
from stacks.spec import STACKS_DIR, StackFileError, stack_files
from tests.integration.remote.client_setup import create_secrets

SHIPPED_STACKS = ["kubeflow-seldon", "local", "local-seldon", "sagemaker-seldon"]

StoreSnapshot = dict[str, Any]


def store_snapshot() -> StoreSnapshot:
    """Every stack and component in the store, with flavors and configurations."""
    client = Client()
    components = {
        (item.type.value, item.name): (item.flavor_name, dict(item.configuration))
        for item in client.list_stack_components(size=1000, hydrate=True).items
    }
    stacks = {
        stack.name: sorted((kind.value, comps[0].name) for kind, comps in stack.components.items())
        for stack in client.list_stacks(size=1000, hydrate=True).items
    }
    return {"components": components, "stacks": stacks}


def stored_active_stack_id() -> str:
    """The active stack saved in the ZenML config file: the user's choice, which runs keep."""
    config = yaml.safe_load((Path(os.environ["ZENML_CONFIG_PATH"]) / "config.yaml").read_text())
    return str(config["active_stack_id"])


@pytest.fixture(scope="module")
def registered() -> Iterator[list[str]]:
    """The shipped stacks, registered once, with test values for their secrets."""
    create_secrets()
    results = register_files(stack_files())
    yield [result.stack for result in results]


def test_registering_twice_gives_the_same_stacks(registered: list[str]) -> None:
    assert sorted(registered) == SHIPPED_STACKS
    before = store_snapshot()
    ids_before = {name: Client().get_stack(name).id for name in SHIPPED_STACKS}
    again = register_files(stack_files())
    assert [result.changed for result in again] == [False] * len(SHIPPED_STACKS)
    assert store_snapshot() == before
    assert {name: Client().get_stack(name).id for name in SHIPPED_STACKS} == ids_before
    flavors = {
        kind.value: comps[0].flavor_name
        for kind, comps in Client().get_stack("kubeflow-seldon").components.items()
    }
    assert flavors["orchestrator"] == "kubeflow"
    assert flavors["model_deployer"] == "seldon_mlserver"
    assert flavors["artifact_store"] == "s3"


def test_resolve_by_name_or_path() -> None:
    assert resolve_stack_files(["local-seldon"]) == [STACKS_DIR / "local-seldon.yaml"]
    assert resolve_stack_files([]) == stack_files()
    with pytest.raises(StackFileError, match=r"no stack file defines stack 'nope'.*kubeflow"):
        resolve_stack_files(["nope"])


def _renamed(suffix: str = "-bad") -> dict[str, Any]:
    """kubeflow-seldon.yaml under new names, so registering it would create everything."""
    raw: dict[str, Any] = yaml.safe_load((STACKS_DIR / "kubeflow-seldon.yaml").read_text())
    raw["stack_name"] += suffix
    for components in raw["components"].values():
        for component in components:
            component["name"] += suffix
    return raw


def _config(raw: dict[str, Any], component_type: str) -> dict[str, Any]:
    config: dict[str, Any] = raw["components"][component_type][0]["configuration"]
    return config


def unknown_flavor(raw: dict[str, Any]) -> None:
    raw["components"]["orchestrator"][0]["flavor"] = "kubeflw"


def unknown_setting(raw: dict[str, Any]) -> None:
    _config(raw, "artifact_store")["pth"] = "s3://typo"


def wrong_type(raw: dict[str, Any]) -> None:
    _config(raw, "orchestrator")["timeout"] = "soon"


def missing_required_setting(raw: dict[str, Any]) -> None:
    del _config(raw, "artifact_store")["path"]


def missing_secret(raw: dict[str, Any]) -> None:
    _config(raw, "artifact_store")["key"] = "{{nope_credentials.aws_access_key_id}}"


def missing_secret_key(raw: dict[str, Any]) -> None:
    _config(raw, "artifact_store")["key"] = "{{aws_credentials.access_key}}"


def missing_named_secret(raw: dict[str, Any]) -> None:
    _config(raw, "model_deployer")["secret"] = "nope_seldon_secret"


def plain_text_secret(raw: dict[str, Any]) -> None:
    _config(raw, "experiment_tracker")["tracking_password"] = "hunter2"


def clashes_with_registered(raw: dict[str, Any]) -> None:
    store = raw["components"]["artifact_store"][0]
    store["name"] = "s3-artifacts"
    store["configuration"]["path"] = "s3://another-bucket"


def missing_orchestrator(raw: dict[str, Any]) -> None:
    del raw["components"]["orchestrator"]


BAD_FILES: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (unknown_flavor, "components.orchestrator.0.flavor", "known flavors: "),
    (unknown_setting, "components.artifact_store.0.configuration.pth", "unknown setting"),
    (wrong_type, "components.orchestrator.0.configuration.timeout", "integer"),
    (missing_required_setting, "components.artifact_store.0.configuration.path", "required"),
    (missing_secret, "components.artifact_store.0.configuration.key", "does not exist"),
    (missing_secret_key, "components.artifact_store.0.configuration.key", "has no key"),
    (missing_named_secret, "components.model_deployer.0.configuration.secret", "does not exist"),
    (
        plain_text_secret,
        "components.experiment_tracker.0.configuration.tracking_password",
        "plain-text",
    ),
    (clashes_with_registered, "components.artifact_store.0.name", "already registered"),
    (missing_orchestrator, "components.orchestrator", "missing"),
]


@pytest.mark.parametrize(
    ("mutate", "field", "message"), BAD_FILES, ids=[case[0].__name__ for case in BAD_FILES]
)
def test_bad_file_leaves_the_store_unchanged(
    registered: list[str],
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    message: str,
) -> None:
    raw = _renamed()
    mutate(raw)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = store_snapshot()
    with pytest.raises(StackFileError) as caught:
        register_files([bad])
    text = str(caught.value)
    assert str(bad) in text and f"'{field}'" in text and message in text, text
    assert store_snapshot() == before


def test_a_bad_file_stops_the_good_ones_too(registered: list[str], tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_renamed("-good"), sort_keys=False))
    raw = _renamed()
    missing_secret(raw)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = store_snapshot()
    with pytest.raises(StackFileError, match=r"bad\.yaml"):
        register_files([good, bad])
    assert store_snapshot() == before
    assert "kubeflow-seldon-good" not in registered_stack_names()


def test_a_store_failure_halfway_undoes_what_was_created(
    registered: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the store refuses the stack after the components were created."""
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(_renamed("-new"), sort_keys=False))
    before = store_snapshot()

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(Client, "create_stack", refuse)
    with pytest.raises(RuntimeError, match="store unavailable"):
        register_files([path])
    assert store_snapshot() == before


@pytest.mark.parametrize("name", SHIPPED_STACKS)
def test_stack_option_selects_each_stack_for_this_process_only(
    registered: list[str], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from run import select_stack

    monkeypatch.delenv("ZENML_ACTIVE_STACK_ID", raising=False)
    stored_active = stored_active_stack_id()
    assert select_stack(name) == name
    assert os.environ["ZENML_ACTIVE_STACK_ID"] == str(Client().get_stack(name).id)
    assert Client().active_stack_model.name == name
    assert stored_active_stack_id() == stored_active


def test_unknown_stack_lists_the_registered_ones(registered: list[str]) -> None:
    from run import UsageError, select_stack

    with pytest.raises(UsageError) as caught:
        select_stack("kubeflow")
    for name in SHIPPED_STACKS:
        assert name in str(caught.value)
