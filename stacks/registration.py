"""Register ZenML stacks from the YAML files in ``stacks/``, without prompting.

``zenml stack import`` prompts on a name clash and refuses a version mismatch,
which rules it out for CI and first runs. This module reads the same format
that ``zenml stack export`` writes, validates it with pydantic before touching
the store, and creates only what is missing, so running it twice changes
nothing the second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

STACKS_DIR = Path(__file__).resolve().parent


class StackFileError(ValueError):
    """A stack file that cannot be registered; the message names file and field."""


class ComponentSpec(BaseModel):
    """One stack component as ``zenml stack export`` writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    flavor: str = Field(min_length=1)
    type: str = Field(min_length=1)
    configuration: dict[str, Any] = Field(default_factory=dict)


class StackSpec(BaseModel):
    """A whole stack file."""

    model_config = ConfigDict(extra="forbid")

    stack_name: str = Field(min_length=1)
    zenml_version: str | None = None
    components: dict[str, list[ComponentSpec]]


class RegistrationResult(BaseModel):
    """What a registration created, so the caller can say whether anything changed."""

    stack: str
    created_components: list[str]
    created_stack: bool

    @property
    def changed(self) -> bool:
        """Whether the store was modified."""
        return self.created_stack or bool(self.created_components)


def load_stack_spec(path: Path) -> StackSpec:
    """Parse and validate a stack file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise StackFileError(f"{path}: cannot read stack file ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: expected a mapping with stack_name and components")
    try:
        spec = StackSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise StackFileError(f"{path}: field '{field}': {first['msg']}") from error
    for component_type, components in spec.components.items():
        for index, component in enumerate(components):
            if component.type != component_type:
                raise StackFileError(
                    f"{path}: field 'components.{component_type}.{index}.type': "
                    f"'{component.type}' does not match its section '{component_type}'"
                )
    return spec


def find_stack_file(name: str, directory: Path = STACKS_DIR) -> Path | None:
    """The file in ``directory`` that defines stack ``name``, if any."""
    for path in sorted(directory.glob("*.yaml")):
        try:
            if load_stack_spec(path).stack_name == name:
                return path
        except StackFileError:
            continue
    return None


def register_stack(spec: StackSpec) -> RegistrationResult:
    """Create the stack's missing components, then the stack, in the active ZenML store.

    Existing components with the same name and type are reused as they are.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    created: list[str] = []
    mapping: dict[StackComponentType, str] = {}
    for component_type, components in spec.components.items():
        kind = StackComponentType(component_type)
        for component in components:
            existing = client.list_stack_components(name=component.name, type=kind.value)
            if existing.total == 0:
                client.create_stack_component(
                    name=component.name,
                    flavor=component.flavor,
                    component_type=kind,
                    configuration=component.configuration,
                )
                created.append(f"{component_type}/{component.name}")
            mapping[kind] = component.name
    if client.list_stacks(name=spec.stack_name).total:
        return RegistrationResult(
            stack=spec.stack_name, created_components=created, created_stack=False
        )
    client.create_stack(name=spec.stack_name, components=mapping)
    return RegistrationResult(stack=spec.stack_name, created_components=created, created_stack=True)


def registered_stack_names() -> list[str]:
    """Names of every stack in the active ZenML store, sorted."""
    from zenml.client import Client

    client = Client()
    names: list[str] = []
    page = 1
    while True:
        stacks = client.list_stacks(page=page, size=100)
        names += [stack.name for stack in stacks.items]
        if page >= stacks.total_pages:
            return sorted(names)
        page += 1
