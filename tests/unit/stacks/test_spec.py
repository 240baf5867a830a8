"""Stack files: the checks a file fails on its own, before any ZenML store is involved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.spec import (
    STACKS_DIR,
    SecretUse,
    StackFileError,
    find_stack_file,
    load_stack_file,
    load_stack_files,
    secret_uses,
    stack_files,
)

EXPECTED_STACKS = {"local", "local-seldon", "kubeflow-seldon", "sagemaker-seldon"}


def _kubeflow() -> dict[str, Any]:
    return yaml.safe_load((STACKS_DIR / "kubeflow-seldon.yaml").read_text())


def _write(tmp_path: Path, raw: object, name: str = "stack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_stack_files_load_and_agree() -> None:
    files = load_stack_files(stack_files())
    assert {stack_file.spec.stack_name for stack_file in files} == EXPECTED_STACKS
    orchestrators = {f.spec.components["orchestrator"][0].flavor for f in files}
    deployers = {f.spec.components["model_deployer"][0].flavor for f in files}
    assert orchestrators == {"local", "kubeflow", "sagemaker"}
    assert deployers == {"mlflow_haproxy", "seldon_mlserver"}


def test_secret_uses_finds_references_and_secret_names() -> None:
    spec = load_stack_file(STACKS_DIR / "kubeflow-seldon.yaml").spec
    uses = {
        (component.type, use)
        for components in spec.components.values()
        for component in components
        for use in secret_uses(component)
    }
    assert (
        "artifact_store",
        SecretUse(name="aws_credentials", key="aws_access_key_id", field="key"),
    ) in uses
    assert (
        "model_deployer",
        SecretUse(name="seldon_s3_credentials", key=None, field="secret"),
    ) in uses
    assert (
        "orchestrator",
        SecretUse(name="kubeflow_credentials", key="password", field="client_password"),
    ) in uses


def test_nested_secret_reference_is_rejected(tmp_path: Path) -> None:
    """ZenML would pass it on as literal text, so a credential would silently be wrong."""
    raw = _kubeflow()
    raw["components"]["artifact_store"][0]["configuration"]["client_kwargs"] = {
        "aws_session_token": "{{aws_credentials.token}}"
    }
    path = _write(tmp_path, raw)
    with pytest.raises(StackFileError) as caught:
        load_stack_file(path)
    assert "'components.artifact_store.0.configuration.client_kwargs'" in str(caught.value)
    assert "nested" in str(caught.value)


def test_find_stack_file_by_name() -> None:
    assert find_stack_file("sagemaker-seldon") == STACKS_DIR / "sagemaker-seldon.yaml"
    assert find_stack_file("no-such-stack") is None


def _without_artifact_store(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["components"]["artifact_store"]
    return raw


def _two_orchestrators(raw: dict[str, Any]) -> dict[str, Any]:
    raw["components"]["orchestrator"].append(dict(raw["components"]["orchestrator"][0]))
    return raw


def _unknown_type(raw: dict[str, Any]) -> dict[str, Any]:
    raw["components"]["orchestrater"] = raw["components"].pop("orchestrator")
    return raw


def _type_mismatch(raw: dict[str, Any]) -> dict[str, Any]:
    raw["components"]["orchestrator"][0]["type"] = "artifact_store"
    return raw


def _unknown_top_level(raw: dict[str, Any]) -> dict[str, Any]:
    raw["colour"] = "blue"
    return raw


def _no_flavor(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["components"]["model_deployer"][0]["flavor"]
    return raw


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_without_artifact_store, "components.artifact_store"),
        (_two_orchestrators, "components.orchestrator"),
        (_unknown_type, "components.orchestrater"),
        (_type_mismatch, "components.orchestrator.0.type"),
        (_unknown_top_level, "colour"),
        (_no_flavor, "components.model_deployer.0.flavor"),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_bad_file_names_file_and_field(tmp_path: Path, mutate: Any, field: str) -> None:
    path = _write(tmp_path, mutate(_kubeflow()))
    with pytest.raises(StackFileError) as caught:
        load_stack_file(path)
    assert str(path) in str(caught.value) and f"'{field}" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("stack_name: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("components: {}\n", "stack_name"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(StackFileError) as caught:
        load_stack_file(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_files_must_agree_on_shared_components(tmp_path: Path) -> None:
    other = _kubeflow()
    other["stack_name"] = "other"
    other["components"]["artifact_store"][0]["configuration"]["path"] = "s3://elsewhere"
    path = _write(tmp_path, other)
    with pytest.raises(StackFileError) as caught:
        load_stack_files([STACKS_DIR / "kubeflow-seldon.yaml", path])
    message = str(caught.value)
    assert str(path) in message and "components.artifact_store.0" in message
    assert "kubeflow-seldon.yaml" in message


def test_two_files_may_not_define_one_stack(tmp_path: Path) -> None:
    path = _write(tmp_path, _kubeflow())
    with pytest.raises(StackFileError, match="also defined"):
        load_stack_files([STACKS_DIR / "kubeflow-seldon.yaml", path])
