"""The whole validation of a dataset: column rules plus table checks, one report.

The column rules come from the config's features, or, with features inferred,
from the reference version's recorded profile (locked), or, on a model's first
run, from inference alone (kinds and null shares). The table checks (target,
duplicates, row count, feature roles, segments) run in every mode.
"""

from __future__ import annotations

import pandas as pd

from configs.schema import DataConfig, FeatureSpec, FileSource
from steps.data.info import DatasetInfo
from steps.validation.profile import ACCEPT_SCHEMA_HINT, ReferenceProfile
from steps.validation.suite import CheckRecord, ValidationReport, validate_frame
from steps.validation.table_checks import (
    duplicate_check,
    feature_role_checks,
    new_column_check,
    row_count_check,
    segment_checks,
    target_checks,
)


def rules_for(
    info: DatasetInfo, data_cfg: DataConfig, reference: ReferenceProfile | None
) -> tuple[list[FeatureSpec], DataConfig, bool]:
    """The feature rules and data config to validate with, and whether they are locked.

    Locked means: features were inferred and the reference version has a profile,
    so its ranges, categories and null shares (and its target classes, unless the
    config names them) are the rules.
    """
    profile = reference.profile if reference is not None else None
    if not info.features_inferred or profile is None:
        return list(info.features), data_cfg, False
    locked_cfg = data_cfg
    classes = profile.target_classes or []
    fits_task = data_cfg.task == "multiclass" or (data_cfg.task == "binary" and len(classes) == 2)
    if data_cfg.target_classes is None and classes and fits_task:
        locked_cfg = data_cfg.model_copy(update={"target_classes": classes})
    return profile.locked_specs(), locked_cfg, True


def validate_dataset(
    df: pd.DataFrame,
    info: DatasetInfo,
    data_cfg: DataConfig,
    reference: ReferenceProfile | None = None,
) -> ValidationReport:
    """Validate ``df`` in whichever mode applies and return one report of every check.

    ``info.source`` is where ``df`` was read from (a path, a URL or ``synthetic://``).
    """
    features, rules_cfg, locked = rules_for(info, data_cfg, reference)
    # A local CSV's failed null rules then name the tokens pandas read as missing ("n/a", "").
    report = validate_frame(df, features, rules_cfg, source_path=info.source)
    extra: list[CheckRecord] = [
        *target_checks(df, data_cfg, info.positive_class),
        duplicate_check(
            df,
            [f.name for f in info.features] + [data_cfg.target],
            data_cfg.checks.max_duplicate_fraction,
        ),
        *feature_role_checks(df, info.features if not info.features_inferred else []),
        *segment_checks(df, data_cfg.segments),
    ]
    notes = [reference.note] if reference is not None else []
    if reference is not None and reference.profile is not None and reference.version is not None:
        if isinstance(data_cfg.source, FileSource):  # the generator makes the rows it is told
            extra.append(row_count_check(len(df), reference.profile, reference.version, data_cfg))
        if locked:
            notes.append(
                f"Column rules locked from the data profile of version {reference.version} "
                f"(ranges widened by {reference.profile.margin:.0%} of their span); "
                f"{ACCEPT_SCHEMA_HINT}."
            )
            extra.append(new_column_check(df, reference.profile, reference.version, data_cfg))
            extra.append(_same_features(info, [f.name for f in features], reference.version))
    return report.with_checks(extra).with_notes(notes)


def _same_features(info: DatasetInfo, locked: list[str], version: str) -> CheckRecord:
    """Inference on this data chose the reference's features (no column changed role)."""
    chosen = [f.name for f in info.features]
    gone = [name for name in locked if name not in chosen]
    added = [name for name in chosen if name not in locked]
    changes = [f"'{n}' no longer a feature ({info.excluded.get(n, 'missing')})" for n in gone]
    changes += [f"'{n}' is a new feature" for n in added]
    return CheckRecord(
        expectation="features_match_reference",
        column=None,
        expected=f"the features of the reference (version {version})",
        observed=("; ".join(changes) + f"; {ACCEPT_SCHEMA_HINT}") if changes else "same features",
        passed=not changes,
    )
