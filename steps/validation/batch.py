"""Validate a batch to score or monitor with the rules its production model was trained under.

The column rules are the training suite's (the production version's recorded
features, the config's target rules); the target is checked only when the batch
carries labels, and a batch needs one row, not the training minimum. Chunked
scoring validates every chunk before scoring it, so a bad row anywhere stops the
whole batch (the scorer then writes nothing).
"""

from __future__ import annotations

import pandas as pd

from configs.schema import DataConfig
from steps.data.info import DatasetInfo
from steps.validation.errors import DataValidationError
from steps.validation.suite import ValidationReport, validate_frame


def validate_batch(
    frame: pd.DataFrame,
    info: DatasetInfo,
    data_cfg: DataConfig,
    source_path: str | None = None,
) -> ValidationReport:
    """The training suite on ``frame``: the target's rules only if the batch has the column.

    ``source_path`` (a local CSV the whole frame came from) lets failed null rules
    name the tokens read as missing; pass None for a chunk, whose rows are not the
    file's.
    """
    return validate_frame(
        frame,
        info.features,
        data_cfg,
        source_path=source_path,
        include_target=info.target in frame.columns,
        min_rows=1,
    )


def check_batch(
    frame: pd.DataFrame,
    info: DatasetInfo,
    data_cfg: DataConfig,
    path: str,
    first_row: int | None = None,
) -> ValidationReport:
    """Validate and raise DataValidationError naming the file (and the chunk) on failure."""
    report = validate_batch(frame, info, data_cfg, path if first_row is None else None)
    if report.success:
        return report
    where = f"'{path}'"
    if first_row is not None:
        last = first_row + len(frame) - 1
        where += (
            f" (data rows {first_row}-{last}, counted from 0; a row number below is within "
            f"these rows: add {first_row})"
        )
    raise DataValidationError(
        f"The batch {where} failed validation; nothing was scored or compared.\n" + report.summary()
    )
