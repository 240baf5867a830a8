"""Check a SeldonDeployment manifest the way the Kubernetes API server would check it.

The API server validates a custom object against the CRD's openAPIV3Schema
and silently drops ("prunes") fields the schema does not declare. The fake
cluster does neither, so this module does both: a field the server would drop
(a typo such as ``protocl``) is reported as an error, since a dropped
``protocol`` would quietly turn MLServer back into the default server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_FILE = "seldondeployments.machinelearning.seldon.io.crd.yaml"
#: Where the repository vendors the CRD (source and licence in its NOTICE.md).
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


def crd_path() -> Path:
    """The CRD vendored in the repository, so a fresh clone needs nothing beside it."""
    return SCHEMAS_DIR / CRD_FILE


def load_crd_schema(path: Path) -> dict[str, Any]:
    """The openAPIV3Schema of the CRD's first (storage) version."""
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def schema_node(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """The sub-schema governing ``path`` (object keys and list indexes), for tests that
    must show the schema constrains the field they break."""
    node = schema
    for part in path:
        node = node["items"] if isinstance(part, int) else node["properties"][part]
    return node


def _where(path: tuple[str | int, ...] | list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def schema_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Type, required-field and format violations, each as ``path: message``."""
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{_where(list(error.absolute_path))}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]


def pruned_fields(
    value: Any, schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> list[str]:
    """Paths of fields a structural schema does not declare (the API server drops them).

    An object schema without ``properties`` (such as ``metadata``, which the
    server checks itself) or one marked ``x-kubernetes-preserve-unknown-fields``
    keeps everything; ``additionalProperties`` declares the values of a map.
    """
    found: list[str] = []
    if isinstance(value, dict) and not schema.get("x-kubernetes-preserve-unknown-fields"):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                found += pruned_fields(item, properties[key], (*path, key))
            elif isinstance(extra, dict):
                found += pruned_fields(item, extra, (*path, key))
            elif properties is not None:
                found.append(_where((*path, key)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += pruned_fields(item, schema["items"], (*path, index))
    return found


def manifest_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Everything the API server would reject or drop; empty means it applies as written."""
    dropped = [
        f"{path}: not in the CRD schema, the API server would drop it"
        for path in pruned_fields(manifest, schema)
    ]
    return schema_errors(manifest, schema) + dropped
