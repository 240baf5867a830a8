"""Register ZenML stacks from the YAML files in ``stacks/``: validated first, all or nothing.

``zenml stack import`` prompts on a name clash and refuses a version mismatch,
which rules it out for CI and first runs. This module reads the same format
that ``zenml stack export`` writes and works in two phases:

1. plan: every file is checked against the store (flavor known, configuration
   valid for that flavor, secrets referenced and present, no clash with an
   existing component or stack of the same name). Nothing is written, so a bad
   file leaves the store as it was.
2. apply: the missing components and stacks are created; if the store fails
   halfway, what this call created is deleted again.

Running it twice changes nothing the second time, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from stacks.spec import (
    STACKS_DIR,
    ComponentSpec,
    StackFile,
    StackFileError,
    StackSpec,
    check_spec,
    find_stack_file,
    load_stack_files,
    load_stack_spec,
    secret_uses,
    stack_files,
)

if TYPE_CHECKING:
    from zenml.client import Client

#: Flavors this project ships, by (component type, name): registered with the first stack
#: that uses one. ``seldon_mlserver`` is ZenML's Seldon deployer with protocol v2 (MLServer);
#: ``mlflow_haproxy`` is ZenML's MLflow deployer with HAProxy as the stable local endpoint.
PROJECT_FLAVORS = {
    ("model_deployer", "mlflow_haproxy"): (
        "stacks.flavors.mlflow_haproxy.MLflowHAProxyModelDeployerFlavor"
    ),
    ("model_deployer", "seldon_mlserver"): (
        "stacks.flavors.seldon_mlserver.SeldonMLServerModelDeployerFlavor"
    ),
}

__all__ = [
    "STACKS_DIR",
    "RegistrationPlan",
    "RegistrationResult",
    "StackFileError",
    "StackSpec",
    "find_stack_file",
    "load_stack_spec",
    "plan_registration",
    "register_files",
    "register_stack",
    "registered_stack_names",
    "resolve_stack_files",
]


class RegistrationResult(BaseModel):
    """What a registration created, so the caller can say whether anything changed.

    A flavor or component shared by several files counts for the first that needs it.
    """

    stack: str
    created_flavors: list[str] = []
    created_components: list[str] = []
    created_stack: bool

    @property
    def changed(self) -> bool:
        """Whether the store was modified."""
        return self.created_stack or bool(self.created_components or self.created_flavors)


class RegistrationPlan(BaseModel):
    """What registering a set of files would create; computed without writing anything."""

    model_config = ConfigDict(frozen=True)

    files: list[StackFile]
    new_flavors: list[tuple[str, str]]
    new_components: list[ComponentSpec]
    #: One per file, in the same order.
    results: list[RegistrationResult]


def resolve_stack_files(requested: list[str], directory: Path = STACKS_DIR) -> list[Path]:
    """Files for the requested stack names or paths; every file in ``directory`` if none."""
    if not requested:
        return stack_files(directory)
    paths = []
    for item in requested:
        candidate = Path(item)
        if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
            paths.append(candidate)
            continue
        found = find_stack_file(item, directory)
        if found is None:
            known = [load_stack_spec(path).stack_name for path in stack_files(directory)]
            raise StackFileError(
                f"{directory}: no stack file defines stack '{item}'; defined: {', '.join(known)}"
            )
        paths.append(found)
    return paths


def register_files(paths: list[Path]) -> list[RegistrationResult]:
    """Validate every file, then create what is missing; nothing is created if any file is bad."""
    plan = plan_registration(load_stack_files(paths))
    apply_plan(plan)
    return plan.results


def register_stack(spec: StackSpec, path: Path | None = None) -> RegistrationResult:
    """Register one already-loaded stack (for callers that adjust a spec before registering)."""
    stack_file = StackFile(path=path or Path(f"<{spec.stack_name}>"), spec=spec)
    check_spec(stack_file.path, spec)
    plan = plan_registration([stack_file])
    apply_plan(plan)
    return plan.results[0]


def plan_registration(files: list[StackFile]) -> RegistrationPlan:
    """Check every file against the active store and list what would be created.

    A component shared by several files is checked once: ``load_stack_files``
    has already made sure every file defines it the same way.
    """
    from zenml.client import Client

    client = Client()
    new_flavors: list[tuple[str, str]] = []
    new_components: list[ComponentSpec] = []
    results: list[RegistrationResult] = []
    seen: set[tuple[str, str]] = set()
    for stack_file in files:
        result = RegistrationResult(
            stack=stack_file.spec.stack_name, created_stack=not check_stack(client, stack_file)
        )
        for component in stack_file.components():
            if (component.type, component.name) in seen:
                continue
            seen.add((component.type, component.name))
            flavor = (component.type, component.flavor)
            if needs_project_flavor(client, flavor, new_flavors):
                new_flavors.append(flavor)
                result.created_flavors.append(component.flavor)
            if not check_component(client, stack_file, component):
                new_components.append(component)
                result.created_components.append(f"{component.type}/{component.name}")
        results.append(result)
    return RegistrationPlan(
        files=files, new_flavors=new_flavors, new_components=new_components, results=results
    )


def needs_project_flavor(
    client: Client, flavor: tuple[str, str], planned: list[tuple[str, str]]
) -> bool:
    """Whether ``flavor`` is one this project ships that the store lacks and is not yet planned."""
    return flavor in PROJECT_FLAVORS and flavor not in planned and not flavor_known(client, flavor)


def flavor_known(client: Client, key: tuple[str, str]) -> bool:
    """Whether the store has the flavor ``key`` = (component type, flavor name)."""
    from zenml.enums import StackComponentType

    component_type, name = key
    try:
        client.get_flavor_by_name_and_type(
            name=name, component_type=StackComponentType(component_type)
        )
    except KeyError:
        return False
    return True


def check_component(client: Client, stack_file: StackFile, component: ComponentSpec) -> bool:
    """Raise if ``component`` cannot be registered as written; return whether it already exists."""
    config_class = flavor_config_class(client, stack_file, component)
    check_configuration(stack_file, component, config_class)
    check_secrets(client, stack_file, component)
    return existing_component_matches(client, stack_file, component, config_class)


def flavor_config_class(
    client: Client, stack_file: StackFile, component: ComponentSpec
) -> type[BaseModel]:
    """The configuration model of the component's flavor; error if the flavor is unknown."""
    from zenml.enums import StackComponentType
    from zenml.stack.flavor import Flavor

    kind = StackComponentType(component.type)
    source = PROJECT_FLAVORS.get((component.type, component.flavor))
    if source is not None:
        return project_flavor_config_class(stack_file, component, source)
    try:
        model = client.get_flavor_by_name_and_type(name=component.flavor, component_type=kind)
    except KeyError:
        available = sorted(
            flavor.name for flavor in client.list_flavors(type=kind.value, size=1000).items
        )
        raise StackFileError(
            f"{stack_file.path}: field '{stack_file.field(component.type, 'flavor')}': "
            f"unknown {component.type} flavor '{component.flavor}'; known flavors: "
            f"{', '.join(available)} (a flavor from an integration appears once its "
            "extra is installed, e.g. pip install -e '.[all]')"
        ) from None
    try:
        config_class: type[BaseModel] = Flavor.from_model(model).config_class
    except (ImportError, ValueError) as error:
        raise StackFileError(
            f"{stack_file.path}: field '{stack_file.field(component.type, 'flavor')}': "
            f"flavor '{component.flavor}' cannot be loaded here ({error}); install the "
            "project's extras: pip install -e '.[all]'"
        ) from error
    return config_class


def project_flavor_config_class(
    stack_file: StackFile, component: ComponentSpec, source: str
) -> type[BaseModel]:
    """The configuration model of a flavor this project ships, read from its source."""
    from zenml.utils import source_utils

    try:
        flavor_class = source_utils.load(source)
    except (ImportError, AttributeError) as error:
        raise StackFileError(
            f"{stack_file.path}: field '{stack_file.field(component.type, 'flavor')}': "
            f"flavor '{component.flavor}' ({source}) cannot be loaded here ({error}); "
            "install the project's extras: pip install -e '.[all]'"
        ) from error
    config_class: type[BaseModel] = flavor_class().config_class
    return config_class


def check_configuration(
    stack_file: StackFile, component: ComponentSpec, config_class: type[BaseModel]
) -> None:
    """Known keys, values of the right type, and no plain-text value in a sensitive field."""
    from zenml.utils.secret_utils import is_secret_field, is_secret_reference

    where = stack_file.field(component.type, "configuration")
    for key, value in component.configuration.items():
        field = config_class.model_fields.get(key)
        if field is None:
            known = ", ".join(sorted(config_class.model_fields))
            raise StackFileError(
                f"{stack_file.path}: field '{where}.{key}': unknown setting for "
                f"{component.flavor} {component.type}; known: {known}"
            )
        if value is not None and is_secret_field(field) and not is_secret_reference(value):
            raise StackFileError(
                f"{stack_file.path}: field '{where}.{key}': a plain-text value in a sensitive "
                "field; stack files hold no secrets: write '{{secret_name.key}}' and create "
                "the ZenML secret (zenml secret create ...)"
            )
    try:
        config_class.model_validate(component.configuration)
    except ValidationError as error:
        first = error.errors()[0]
        field_path = ".".join(str(part) for part in first["loc"])
        suffix = f".{field_path}" if field_path else ""
        raise StackFileError(
            f"{stack_file.path}: field '{where}{suffix}': {first['msg']}"
        ) from error


def check_secrets(client: Client, stack_file: StackFile, component: ComponentSpec) -> None:
    """Every secret the component names exists in the store and has the referenced key."""
    where = stack_file.field(component.type, "configuration")
    fetched: dict[str, dict[str, Any] | None] = {}
    for use in secret_uses(component):
        if use.name not in fetched:
            fetched[use.name] = secret_values(client, use.name)
        values = fetched[use.name]
        if values is None:
            raise StackFileError(
                f"{stack_file.path}: field '{where}.{use.field}': ZenML secret '{use.name}' "
                f"does not exist; create it first: zenml secret create {use.name} "
                + (f"--{use.key}=..." if use.key else "--<key>=...")
            )
        if use.key is not None and use.key not in values:
            raise StackFileError(
                f"{stack_file.path}: field '{where}.{use.field}': ZenML secret '{use.name}' "
                f"has no key '{use.key}'; it has: {', '.join(sorted(values)) or 'no keys'}"
            )


def secret_values(client: Client, name: str) -> dict[str, Any] | None:
    """The keys and values of the secret called exactly ``name``, or None if there is none."""
    try:
        secret = client.get_secret(
            name, allow_partial_name_match=False, allow_partial_id_match=False
        )
    except KeyError:
        return None
    return dict(secret.secret_values)


def existing_component_matches(
    client: Client,
    stack_file: StackFile,
    component: ComponentSpec,
    config_class: type[BaseModel],
) -> bool:
    """Whether an identical component is registered; raise if a different one has its name.

    Both configurations go through the flavor's model before comparing, because
    ZenML stores what its validators filled in (Kubeflow adds empty pod
    settings, SageMaker an instance type) beside what the file said.
    """
    existing = client.list_stack_components(name=component.name, type=component.type)
    if existing.total == 0:
        return False
    registered = existing.items[0]
    same = registered.flavor_name == component.flavor and normalized(
        config_class, dict(registered.configuration)
    ) == normalized(config_class, component.configuration)
    if not same:
        raise StackFileError(
            f"{stack_file.path}: field '{stack_file.field(component.type, 'name')}': a "
            f"different {component.type} named '{component.name}' is already registered "
            f"(flavor '{registered.flavor_name}'); rename this one, or remove the old one "
            f"with: zenml {component.type.replace('_', '-')} delete {component.name}"
        )
    return True


def normalized(config_class: type[BaseModel], configuration: dict[str, Any]) -> Any:
    """A configuration as the flavor's model sees it, defaults filled in, for comparison."""
    try:
        return config_class.model_validate(configuration).model_dump(mode="json")
    except ValidationError:
        return configuration


def check_stack(client: Client, stack_file: StackFile) -> bool:
    """Whether the same stack is registered; raise if a different one has its name."""
    name = stack_file.spec.stack_name
    existing = client.list_stacks(name=name)
    if existing.total == 0:
        return False
    stack = client.get_stack(existing.items[0].id)
    registered = {kind.value: comps[0].name for kind, comps in stack.components.items()}
    wanted = {component.type: component.name for component in stack_file.components()}
    if registered != wanted:
        raise StackFileError(
            f"{stack_file.path}: field 'stack_name': a different stack named '{name}' is "
            f"already registered (components {registered}); delete it first with: "
            f"zenml stack delete {name}"
        )
    return True


def apply_plan(plan: RegistrationPlan) -> None:
    """Create the plan's components, then its stacks; undo this call's creations on failure."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    created_flavors: list[str] = []
    created_components: list[ComponentSpec] = []
    created_stacks: list[str] = []
    try:
        for component_type, name in plan.new_flavors:
            client.create_flavor(
                source=PROJECT_FLAVORS[(component_type, name)],
                component_type=StackComponentType(component_type),
            )
            created_flavors.append(name)
        for component in plan.new_components:
            client.create_stack_component(
                name=component.name,
                flavor=component.flavor,
                component_type=StackComponentType(component.type),
                configuration=component.configuration,
            )
            created_components.append(component)
        for stack_file, result in zip(plan.files, plan.results, strict=True):
            name = stack_file.spec.stack_name
            if not result.created_stack:
                continue
            mapping = {
                StackComponentType(component.type): component.name
                for component in stack_file.components()
            }
            client.create_stack(name=name, components=mapping)
            created_stacks.append(name)
    except Exception:
        undo(client, created_stacks, created_components, created_flavors)
        raise


def undo(
    client: Client, stacks: list[str], components: list[ComponentSpec], flavors: list[str]
) -> None:
    """Delete what a failed registration created, newest first."""
    from zenml.enums import StackComponentType

    for name in reversed(stacks):
        client.delete_stack(name)
    for component in reversed(components):
        client.delete_stack_component(component.name, StackComponentType(component.type))
    for name in reversed(flavors):
        client.delete_flavor(name)


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
