"""The serving venv is exactly what stacks/mlserver/requirements.txt pins, and is
rebuilt when that file changes (reused only while it is the same)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from stacks.mlserver.environment import REQUIREMENTS, is_current, venv_python


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def _installed(venv: Path) -> dict[str, str]:
    """Distributions the venv sees; -I keeps the cwd (and its egg-info) off sys.path."""
    script = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv_python(venv)), "-I", "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return {_normalize(k): v for k, v in json.loads(out).items()}


def test_the_venv_holds_exactly_the_pinned_packages(mlserver_venv: Path) -> None:
    pinned = _pinned(REQUIREMENTS)
    assert pinned["uvloop"] == "0.21.0", "uvloop 0.23 kills MLServer 1.7.1's inference worker"
    assert _installed(mlserver_venv) == pinned


def test_a_changed_requirements_file_means_a_rebuild(mlserver_venv: Path, tmp_path: Path) -> None:
    assert is_current(mlserver_venv, REQUIREMENTS)
    changed = tmp_path / "requirements.txt"
    changed.write_text(REQUIREMENTS.read_text() + "# one more line\n")
    assert not is_current(mlserver_venv, changed)
