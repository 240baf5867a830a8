"""Test-session isolation: never touch the user's own ZenML or MLflow state.

The environment is set at import time on purpose: pytest imports this file
before any test module, and ZenML reads ZENML_CONFIG_PATH when it is first
imported. Every subprocess the tests start inherits the same variables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler.protocol import Scheduling

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="fraudops-tests-"))
os.environ["ZENML_CONFIG_PATH"] = str(_SESSION_ROOT / "zenml")
SESSION_TRACKING_URI = f"sqlite:///{_SESSION_ROOT / 'mlflow.db'}"
os.environ["MLFLOW_TRACKING_URI"] = SESSION_TRACKING_URI
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["ZENML_LOGGING_VERBOSITY"] = "WARN"
os.environ.pop("ZENML_ACTIVE_STACK_ID", None)
os.environ.pop("ZENML_STORE_URL", None)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, tell ZenML where the sources are.

    ZenML finds the source root from the main module's file, and an xdist
    worker's main module has none; the project root is what every other run
    resolves to.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from zenml.utils import source_utils

        source_utils.set_custom_source_root(str(PROJECT_ROOT))


@pytest.fixture(scope="session")
def session_root() -> Iterator[Path]:
    """The temp directory holding this session's ZenML and MLflow state."""
    yield _SESSION_ROOT


def _restore_stack_choice(before: str | None) -> None:
    if before is None:
        os.environ.pop("ZENML_ACTIVE_STACK_ID", None)
    else:
        os.environ["ZENML_ACTIVE_STACK_ID"] = before


@pytest.fixture(autouse=True, scope="module")
def _stack_choice_stays_with_its_module() -> Iterator[None]:
    """Undo a stack chosen for this process by a module's fixtures or tests.

    ``run.select_stack`` sets ``ZENML_ACTIVE_STACK_ID`` for the process. Left
    set, it would put every later in-process run on that stack, and a
    subprocess on another ZenML store would look for a stack id it lacks.
    Autouse module fixtures are set up before the module's own, so this also
    undoes a choice made by a module fixture (which trains once per module).
    """
    before = os.environ.get("ZENML_ACTIVE_STACK_ID")
    yield
    _restore_stack_choice(before)
    _restore_tracking_uri()


def _restore_tracking_uri() -> None:
    """Point MLflow back at the session's store after a module that moved it.

    ZenML's tracker sets ``MLFLOW_TRACKING_URI`` to the stack's store for a
    step and empties MLflow's URI after it (MLflow then falls back to a
    ``./mlruns`` file store it refuses); the next module in this process,
    whichever it is under xdist, starts from the session's store again.
    """
    import sys

    os.environ["MLFLOW_TRACKING_URI"] = SESSION_TRACKING_URI
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(SESSION_TRACKING_URI)


@pytest.fixture(autouse=True)
def _stack_choice_stays_with_its_test() -> Iterator[None]:
    """The same for one test: one that selects e.g. ``sagemaker-seldon`` keeps it to itself."""
    before = os.environ.get("ZENML_ACTIVE_STACK_ID")
    yield
    _restore_stack_choice(before)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    """``--dist loadfile`` with the remote proofs' files as one unit (see tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import SharedSessionFileScheduling

    return SharedSessionFileScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop what the session's servers left running, then remove its state (unless kept).

    Serving runs under supervisord, which outlives the command that started it by
    design; a test that failed before its own clean-up would otherwise leave a
    supervisord (and HAProxy, replicas) running for good. Every such process names
    the session's directory on its command line.
    """
    stop_session_processes(_SESSION_ROOT)  # each xdist worker has a root of its own
    if not os.environ.get("FRAUDOPS_KEEP_TEST_STATE"):
        shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


def stop_session_processes(root: Path) -> list[int]:
    """Terminate (then kill) every process whose command line names ``root``; their pids."""
    import psutil

    marker = str(root)
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid == os.getpid():
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        try:  # a replica names its model (under the session's store) in its environment
            environment = " ".join(process.environ().values()) if marker not in cmdline else ""
        except psutil.Error:
            environment = ""
        if marker in cmdline or marker in environment:
            found.append(process)
    supervisors = [p for p in found if "supervisor.supervisord" in " ".join(p.cmdline())]
    for process in supervisors or found:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(found, timeout=15)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return [p.pid for p in found]


def write_config(
    directory: Path,
    *,
    model_name: str,
    rows: int = 6000,
    source: dict[str, object] | None = None,
    thresholds: dict[str, float] | None = None,
    name: str = "config.yaml",
) -> Path:
    """A small run config derived from configs/local.yaml, for fast pipeline runs.

    5% fraud instead of 1% keeps enough positives in a few thousand rows for
    stable ranking metrics.
    """
    import yaml

    raw = yaml.safe_load((PROJECT_ROOT / "configs" / "local.yaml").read_text())
    raw["data"]["source"] = source or {
        "kind": "synthetic",
        "rows": rows,
        "seed": 7,
        "fraud_rate": 0.05,
    }
    raw["data"]["min_rows"] = 100
    raw["training"]["params"] = {"max_iter": 60}
    raw["evaluation"]["thresholds"] = thresholds if thresholds is not None else {"roc_auc": 0.7}
    raw["model"]["name"] = model_name
    path = directory / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
