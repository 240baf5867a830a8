"""The stack file format (what ``zenml stack export`` writes) and the checks a file can fail alone.

Nothing here touches a ZenML store, so a bad file is reported before
registration creates anything; ZenML's own enums and secret-reference parser
are used so that this module reads a file the way ZenML will. Checks that need the
store (does the flavor exist, is the configuration valid for it, do the
referenced secrets exist) live in :mod:`stacks.registration`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from zenml.enums import StackComponentType
from zenml.utils.secret_utils import is_secret_reference, parse_secret_reference

STACKS_DIR = Path(__file__).resolve().parent

#: Component types a stack file may list, as ZenML names them.
COMPONENT_TYPES = tuple(kind.value for kind in StackComponentType)
#: Every ZenML stack needs these two.
REQUIRED_COMPONENT_TYPES = ("orchestrator", "artifact_store")

#: Fields whose value is the *name* of a ZenML secret rather than a reference to one key.
SECRET_NAME_FIELDS = {
    ("model_deployer", "seldon", "secret"),
    ("model_deployer", "seldon_mlserver", "secret"),
}
SECRET_NAME_FIELD_ANY_FLAVOR = "authentication_secret"


class StackFileError(ValueError):
    """A stack file that cannot be registered; the message names file and field."""


class ComponentSpec(BaseModel):
    """One stack component as ``zenml stack export`` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    flavor: str = Field(min_length=1)
    type: str = Field(min_length=1)
    configuration: dict[str, Any] = Field(default_factory=dict)


class StackSpec(BaseModel):
    """A whole stack file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stack_name: str = Field(min_length=1)
    zenml_version: str | None = None
    components: dict[str, list[ComponentSpec]]


class SecretUse(BaseModel):
    """A secret a component needs: by ``{{name.key}}`` reference, or by name (key is None)."""

    model_config = ConfigDict(frozen=True)

    name: str
    key: str | None
    field: str


class StackFile(BaseModel):
    """A validated stack file and where it came from, for error messages."""

    model_config = ConfigDict(frozen=True)

    path: Path
    spec: StackSpec

    def field(self, component_type: str, *parts: str) -> str:
        """The dotted path of a field of this file's ``component_type`` component."""
        return ".".join(("components", component_type, "0", *parts))

    def components(self) -> Iterator[ComponentSpec]:
        """The file's components, one per type."""
        for components in self.spec.components.values():
            yield from components


def load_stack_spec(path: Path) -> StackSpec:
    """Parse and validate a stack file; errors name the file and the field."""
    return load_stack_file(path).spec


def load_stack_file(path: Path) -> StackFile:
    """Parse a stack file and apply every check that needs no ZenML store."""
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
    check_spec(path, spec)
    return StackFile(path=path, spec=spec)


def check_spec(path: Path, spec: StackSpec) -> None:
    """Every check a parsed stack needs before it meets a store."""
    check_component_sections(path, spec)
    check_no_nested_references(path, spec)


def check_component_sections(path: Path, spec: StackSpec) -> None:
    """Known component types, exactly one component each, the two every stack needs."""
    for component_type, components in spec.components.items():
        where = f"{path}: field 'components.{component_type}"
        if component_type not in COMPONENT_TYPES:
            raise StackFileError(
                f"{where}': unknown component type; expected one of {list(COMPONENT_TYPES)}"
            )
        if len(components) != 1:
            raise StackFileError(
                f"{where}': a stack holds exactly one {component_type}, found {len(components)}"
            )
        if components[0].type != component_type:
            raise StackFileError(
                f"{where}.0.type': '{components[0].type}' does not match its section "
                f"'{component_type}'"
            )
    for required in REQUIRED_COMPONENT_TYPES:
        if required not in spec.components:
            raise StackFileError(
                f"{path}: field 'components.{required}': missing; every stack needs an "
                f"orchestrator and an artifact store"
            )


def secret_uses(component: ComponentSpec) -> list[SecretUse]:
    """The ZenML secrets ``component`` reads, with the configuration field of each.

    Only top-level values count: ZenML resolves ``{{name.key}}`` in a
    component's own fields, never inside a dict or list (see
    ``check_no_nested_references``).
    """
    uses = []
    for field, value in component.configuration.items():
        if is_secret_name_field(component, field):
            if value is not None:
                uses.append(SecretUse(name=str(value), key=None, field=field))
        elif is_secret_reference(value):
            reference = parse_secret_reference(value)
            uses.append(SecretUse(name=reference.name, key=reference.key, field=field))
    return uses


def is_secret_name_field(component: ComponentSpec, field: str) -> bool:
    """Whether ``field`` holds the name of a ZenML secret (not a ``{{name.key}}`` reference)."""
    return field == SECRET_NAME_FIELD_ANY_FLAVOR or (
        (component.type, component.flavor, field) in SECRET_NAME_FIELDS
    )


def check_no_nested_references(path: Path, spec: StackSpec) -> None:
    """A ``{{name.key}}`` inside a dict or list would reach the component as literal text."""
    for component_type, components in spec.components.items():
        for field, value in components[0].configuration.items():
            if isinstance(value, dict | list) and _holds_reference(value):
                raise StackFileError(
                    f"{path}: field 'components.{component_type}.0.configuration.{field}': "
                    "a secret reference inside a nested value; ZenML resolves references "
                    "only in a component's top-level settings"
                )


def _holds_reference(value: object) -> bool:
    """Whether a secret reference appears anywhere inside ``value``."""
    if isinstance(value, dict):
        return any(_holds_reference(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_reference(item) for item in value)
    return is_secret_reference(value)


def stack_files(directory: Path = STACKS_DIR) -> list[Path]:
    """The stack files in ``directory``, sorted by name."""
    return sorted(directory.glob("*.yaml"))


def load_stack_files(paths: list[Path]) -> list[StackFile]:
    """Load several files and check they agree with each other.

    Two files may share a component (the same bucket, the same MLflow server),
    but only if they define it identically; otherwise which definition wins
    would depend on the order of registration.
    """
    files = [load_stack_file(path) for path in paths]
    stacks: dict[str, Path] = {}
    components: dict[tuple[str, str], tuple[Path, ComponentSpec]] = {}
    for stack_file in files:
        name = stack_file.spec.stack_name
        if name in stacks:
            raise StackFileError(
                f"{stack_file.path}: field 'stack_name': stack '{name}' is also defined "
                f"in {stacks[name]}"
            )
        stacks[name] = stack_file.path
        for component in stack_file.components():
            key = (component.type, component.name)
            if key in components and components[key][1] != component:
                other = components[key][0]
                raise StackFileError(
                    f"{stack_file.path}: field '{stack_file.field(component.type)}': "
                    f"{component.type} '{component.name}' is defined differently in {other}; "
                    "shared components must be identical (or use another name)"
                )
            components.setdefault(key, (stack_file.path, component))
    return files


def find_stack_file(name: str, directory: Path = STACKS_DIR) -> Path | None:
    """The file in ``directory`` that defines stack ``name``, if any."""
    for path in stack_files(directory):
        try:
            if load_stack_spec(path).stack_name == name:
                return path
        except StackFileError:
            continue
    return None
