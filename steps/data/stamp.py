"""A cheap identity for a data source, so ZenML's step cache notices changed files.

ZenML caches a step on its code, parameters and input artifacts; a file read
from a path is none of those. Passing this stamp as a parameter makes a changed
file a cache miss without hashing gigabytes on every run.
"""

from __future__ import annotations

import os
import time

from configs.schema import FileSource, SyntheticSource


def source_stamp(source: SyntheticSource | FileSource, resolved_path: str | None) -> str:
    """``synthetic`` for generated data, size and mtime for local files, else a time.

    Remote files (s3://, gs://, https://) get the current time: they are
    always re-read, which is correct if slower.
    """
    if isinstance(source, SyntheticSource):
        return "synthetic"
    assert resolved_path is not None
    if "://" in resolved_path and not resolved_path.startswith("file://"):
        return f"remote:{time.time_ns()}"
    path = resolved_path.removeprefix("file://")
    try:
        status = os.stat(path)
    except OSError:
        return "missing"  # the ingest step reports the missing file with its path
    return f"{status.st_size}:{status.st_mtime_ns}"
