"""Read a run config file into a validated :class:`~configs.schema.RunConfig`.

Every problem becomes one :class:`ConfigError` whose message names the file,
the field and what was expected, so ``run.py`` can print it and exit 2 before
ZenML is even imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from configs.schema import FileSource, RunConfig, SyntheticSource

#: The ``kind`` tags of data sources, which pydantic adds to error locations.
SOURCE_KINDS = frozenset(
    str(get_args(model.model_fields["kind"].annotation)[0])
    for model in (SyntheticSource, FileSource)
)


class ConfigError(ValueError):
    """A config file that cannot be used; the message is meant for the user."""


def _field_path(loc: tuple[Any, ...]) -> str:
    """Dotted path of the YAML keys, without pydantic's union-member tags.

    For ``data.source`` pydantic reports ``data.source.synthetic.rows``, where
    ``synthetic`` is the discriminator value, not a key the user wrote.
    """
    parts: list[str] = []
    for part in loc:
        text = str(part)
        if text.startswith("function-") or (parts[-1:] == ["source"] and text in SOURCE_KINDS):
            continue
        parts.append(text)
    return ".".join(parts)


def _describe(error: ErrorDetails) -> str:
    field = _field_path(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"field '{field}': unknown key (check the spelling; see configs/schema.py)"
    if error["type"] == "missing":
        return f"field '{field}': required but missing"
    got = error.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"field '{field}': {message}{shown}" if field else message


def parse_run_config(raw: object, path: Path) -> RunConfig:
    """Validate already-parsed YAML; errors are reported against ``path``."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections (data, training, ...), got {type(raw).__name__}"
        )
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        raise ConfigError(f"{path}: invalid config:\n  - " + "\n  - ".join(problems)) from error
    from steps.training.model_factory import check_training_config

    try:
        check_training_config(config.training, config.data.task)
    except ValueError as error:
        raise ConfigError(f"{path}: invalid config:\n  - {error}") from error
    return config


def load_run_config(path: Path) -> RunConfig:
    """Load and validate the YAML config at ``path``."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    return parse_run_config(raw, path)
