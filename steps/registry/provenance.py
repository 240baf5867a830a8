"""Where a model came from: config file and hash, git commit, stack, package versions.

Collected on the client (config, commit) and in the step (stack, versions), so
an auditor can go from a registered model version back to exactly what made it.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import BaseModel, ConfigDict

#: Packages whose versions decide whether a model can be reproduced.
TRACKED_PACKAGES = ("zenml", "mlflow", "scikit-learn", "pandas", "numpy", "great-expectations")


class Provenance(BaseModel):
    """Client-side facts about a run, passed to the pipeline as a parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_file: str
    config_sha256: str
    git_commit: str


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit(directory: Path) -> str:
    """The commit checked out in ``directory`` ("-dirty" if it has changes), or "unknown".

    "unknown" rather than an error: running from an exported tarball or a
    container image without .git is legitimate.
    """
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if status else commit


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`TRACKED_PACKAGES` ("not installed" if absent)."""
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def collect_provenance(config_path: Path) -> Provenance:
    """Provenance of a run started from ``config_path``."""
    resolved = config_path.resolve()
    return Provenance(
        config_file=str(resolved),
        config_sha256=file_sha256(resolved),
        git_commit=git_commit(resolved.parent),
    )
