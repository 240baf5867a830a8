"""Create, or reuse, the virtualenv that MLServer serves our MLflow models from.

A SeldonDeployment with ``protocol: v2`` and ``implementation: MLFLOW_SERVER``
runs MLServer with its MLflow runtime, in an image of its own. MLServer's pins
(fastapi<0.116 among them) clash with ZenML's server extra, so here too it gets
an environment of its own, built only from ``requirements.txt`` beside this
file: every package pinned exactly, so an install resolves nothing and gives
the same environment on every machine.

The venv records the sha256 of the requirements it was built from; a venv
whose record matches is reused as it is, any other is rebuilt. That keeps the
test fixture and CI's install phase to one cheap check once the venv exists.

Usage (from the project root, with the project's venv active so ``uv`` is on
PATH; only the standard library is imported, so any Python 3.11 can run it)::

    python -m stacks.mlserver.environment             # create or reuse .venv-mlserver
    python -m stacks.mlserver.environment --compile   # re-pin requirements.in
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
REQUIREMENTS_IN = HERE / "requirements.in"
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_VENV = PROJECT_ROOT / ".venv-mlserver"
#: Written inside the venv after a complete install, never before.
STAMP_NAME = "fraudops-requirements.sha256"
PYTHON = "python3.11"


def requirements_hash(requirements: Path = REQUIREMENTS) -> str:
    """The sha256 of the pinned list: the identity of an environment built from it."""
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def venv_python(venv: Path) -> Path:
    """The venv's interpreter (POSIX layout: the pod image and CI are Linux)."""
    return venv / "bin" / "python"


def is_current(venv: Path, requirements: Path = REQUIREMENTS) -> bool:
    """Whether ``venv`` was completely built from exactly these requirements."""
    stamp = venv / STAMP_NAME
    return (
        stamp.is_file()
        and venv_python(venv).exists()
        and stamp.read_text().strip() == requirements_hash(requirements)
    )


def _uv() -> str | None:
    """uv from the running interpreter's venv or PATH; None means fall back to pip."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("uv", path=search)


def _run(command: list[str]) -> None:
    """Run a command with the machine's CA store for uv, failing loudly."""
    env = {**os.environ, "UV_NATIVE_TLS": "1"}
    subprocess.run(command, check=True, env=env)


def _install_with_uv(uv: str, venv: Path, requirements: Path) -> None:
    """The fast path: ``pip sync`` installs exactly the list, resolving nothing.

    --no-python-downloads: no machine here may fetch a toolchain; a missing
    python3.11 must be an error, not a download attempt.
    """
    _run([uv, "venv", "--quiet", "--no-python-downloads", "--python", PYTHON, str(venv)])
    python = str(venv_python(venv))
    sync = [uv, "pip", "sync", "--quiet", "--compile-bytecode", "--python", python]
    _run([*sync, str(requirements)])


def _install_with_pip(venv: Path, requirements: Path) -> None:
    """The same pins without uv (--no-deps: the list is already complete), then bytecode."""
    _run([PYTHON, "-m", "venv", str(venv)])
    python = str(venv_python(venv))
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(requirements)])
    _run([python, "-m", "compileall", "-q", "-j", "2", str(venv / "lib")])


def _install(venv: Path, requirements: Path) -> None:
    """Build the venv with precompiled bytecode; pip installs the same pins if uv fails.

    --compile-bytecode matters: with PYTHONDONTWRITEBYTECODE set, every
    MLServer process would otherwise compile its imports on each start.
    """
    uv = _uv()
    if uv is not None:
        try:
            _install_with_uv(uv, venv, requirements)
            return
        except subprocess.CalledProcessError:
            print("uv failed; installing the MLServer venv with pip", file=sys.stderr)
            shutil.rmtree(venv, ignore_errors=True)
    _install_with_pip(venv, requirements)


def ensure_venv(venv: Path = DEFAULT_VENV, requirements: Path = REQUIREMENTS) -> Path:
    """Return a venv built from ``requirements``, building it only when needed.

    A half-built venv (an install that failed or was interrupted) has no stamp,
    so the next call removes it and starts over instead of serving from it.
    """
    if is_current(venv, requirements):
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    _install(venv, requirements)
    # uv writes this itself; `python -m venv` on 3.11 does not, and git, ruff
    # and mypy must never look inside the venv.
    (venv / ".gitignore").write_text("*\n")
    (venv / STAMP_NAME).write_text(requirements_hash(requirements) + "\n")
    return venv


def compile_requirements() -> None:
    """Re-pin requirements.in into requirements.txt (run after editing the .in file).

    Resolved for Linux x86_64 and Python 3.11, what the serving image runs.
    """
    uv = _uv()
    if uv is None:
        raise SystemExit("uv is needed to compile requirements: pip install uv==0.13.9")
    _run(
        [
            uv,
            "pip",
            "compile",
            "--quiet",
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-unknown-linux-gnu",
            str(REQUIREMENTS_IN.relative_to(PROJECT_ROOT)),
            "-o",
            str(REQUIREMENTS.relative_to(PROJECT_ROOT)),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: create/reuse the venv, or re-pin the requirements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where the venv lives")
    parser.add_argument("--compile", action="store_true", help="re-pin requirements.in")
    args = parser.parse_args(argv)
    os.chdir(PROJECT_ROOT)
    if args.compile:
        compile_requirements()
        return 0
    start = time.monotonic()
    reused = is_current(args.venv)
    ensure_venv(args.venv)
    state = "reused" if reused else f"created in {time.monotonic() - start:.0f} s"
    print(f"MLServer venv {args.venv}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
