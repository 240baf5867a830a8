"""``run.py --describe-data``: the inferred schema, as YAML a user can paste into a config.

Loads the data exactly as a training run would (no ZenML, nothing registered), applies
the same safe inference (row indexes, identifiers, exclusions and segments left out),
and prints each feature with its kind, observed range or categories and null share,
so that making the schema explicit is a copy, a paste and a review.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from configs.schema import RunConfig
from steps.data.inference import tolerated_null_share
from steps.data.info import DatasetInfo, describe_dataset
from steps.data.loading import load_source
from steps.validation.profile import ColumnProfile, profile_frame

#: Categories listed per feature; beyond this the YAML would be unreadable to review.
MAX_LISTED_CATEGORIES = 50


def describe_data(config: RunConfig, config_path: Path) -> str:
    """Load the configured data and return the inferred features as commented YAML."""
    data_cfg = config.data
    frame, source = load_source(data_cfg.source, str(config_path.resolve().parent))
    info = describe_dataset(frame, source, data_cfg)
    profile = profile_frame(
        frame, info.features, data_cfg, sha256=info.sha256, excluded=info.excluded
    )
    return render_yaml(info, profile.features)


def render_yaml(info: DatasetInfo, columns: list[ColumnProfile]) -> str:
    """The header comments, then a ``features:`` list, one flow mapping per feature."""
    how = "inferred from the data" if info.features_inferred else "as listed in data.features"
    lines = [
        f"# {info.source}: {info.rows} rows, target '{info.target}' ({info.task}); features {how}.",
        "# Paste under 'data:' in the run config to make the schema explicit. The ranges and",
        "# categories are what this file holds: widen them to what is valid, not just seen.",
    ]
    if info.positive_class is not None:
        lines.append(
            f"# Positive class: '{info.positive_class}' (set data.positive_class to choose)."
        )
    if info.excluded:
        lines.append("# Left out (never features):")
        lines += [f"#   {name}: {reason}" for name, reason in info.excluded.items()]
    if info.segments:
        lines.append(f"# Segments (kept, not features): {', '.join(info.segments)}")
    lines.append("features:")
    lines += [f"  - {_flow(_feature_entry(column))}" for column in columns]
    return "\n".join(lines) + "\n"


def _feature_entry(column: ColumnProfile) -> dict[str, object]:
    entry: dict[str, object] = {"name": column.name, "kind": column.kind}
    if column.kind == "numeric" and column.min is not None and column.max is not None:
        entry["min"] = _number(column.min)
        entry["max"] = _number(column.max)
    categories = column.categories
    if column.kind == "categorical" and categories and len(categories) <= MAX_LISTED_CATEGORIES:
        entry["allowed"] = list(categories)
    tolerated = tolerated_null_share(column.null_fraction)
    if tolerated > 0:
        entry["max_null_fraction"] = tolerated
    return entry


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _flow(entry: dict[str, object]) -> str:
    """One YAML flow mapping on one line, quoted where YAML needs it."""
    text: str = yaml.safe_dump(
        entry, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True
    )
    return text.strip()
