"""What a person sees of a run: the known, harmless lines kept off the console.

ZenML, MLflow, Great Expectations and Google's client libraries print a few
lines on every run that tell the user nothing about *this* run: a warning
about an MLflow flavor MLflow no longer has, an advertisement, a hint about a
schema we already chose, a temporary folder nobody asked for. Each is
silenced here at its source, by exactly that logger and message or that
warning's category, message and module, so that anything new or different
from the same library still shows. Nothing redirects or swallows stdout or
stderr, and a ``--verbose`` run installs none of it.

Logger filters and warning filters are process-wide, so they also hold inside
steps, which the local orchestrator runs in this process while ZenML captures
their logs. A filter is attached to the named logger itself (not to a handler),
so ZenML re-creating its console handler cannot drop it, and a library setting
its logger's level at import (Great Expectations does) cannot undo it.

No ZenML import: this module is installed before ZenML starts.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class LogNoise:
    """One log line to drop: the logger that emits it and its message, from the start."""

    logger: str
    message: str
    why: str


@dataclass(frozen=True)
class WarningNoise:
    """One warning to ignore: its category, message (from the start) and emitting module."""

    category: type[Warning]
    message: str
    module: str
    why: str


LOG_NOISE: tuple[LogNoise, ...] = (
    LogNoise(
        logger="zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker",
        message=r"Failed to disable MLflow autologging for the following frameworks: "
        r"\['fastai'\]\.$",
        why="MLflow 3 has no mlflow.fastai; ZenML still tries to switch its autologging off, "
        "once per step that uses the tracker. Any other framework failing still shows.",
    ),
    LogNoise(
        logger="great_expectations.data_context.types.base",
        message=r"Created temporary directory '[^']*' for ephemeral docs site$",
        why="the validation step's in-memory GX context names a docs folder it never builds",
    ),
    LogNoise(
        logger="zenml.orchestrators.step_run_utils",
        message=r"Models can be viewed in the dashboard using ZenML Pro\. ",
        why="an advertisement; run.py's summary says where the model version is",
    ),
    LogNoise(
        logger="zenml.pipelines.pipeline_definition",
        message=r"Caching is disabled by default for `[^`]*`\.$",
        why="--no-cache asked for exactly that",
    ),
    LogNoise(
        logger="zenml.orchestrators.local.local_orchestrator",
        message=r"Skipping step \S+ due to (the failed step|failure in upstream step|"
        r"the skipped upstream step)",
        why="after a gate stops a run, every later step is skipped by design; "
        "run.py's report says the run stopped and why",
    ),
    LogNoise(
        logger="zenml.orchestrators.step_launcher",
        message=r"Failed to run step `[^`]*`: ",
        why="the step's exception, which run.py's report prints with the step name "
        "(and the local orchestrator's 'Step X failed.' carries a bug's traceback)",
    ),
    LogNoise(
        logger="zenml.model_deployers.base_model_deployer",
        message=r"Deploying model server for \S+ with the following configuration: ",
        why="a dump of the server's whole service config; the deploy prints the version it "
        "serves and its endpoint",
    ),
    LogNoise(
        logger="zenml.integrations.mlflow.model_deployers.mlflow_model_deployer",
        message=r"Created a new MLflow deployment service: ",
        why="the service's internal UUID; --status shows each server's version, pid and port",
    ),
    LogNoise(
        logger="mlflow.store.db.utils",
        message=r"(Creating initial MLflow database tables|Updating database tables)\.*$",
        why="MLflow creating its SQLite tracking store on a machine's first run; nothing to do",
    ),
)

WARNING_NOISE: tuple[WarningNoise, ...] = (
    WarningNoise(
        category=FutureWarning,
        message=r"You are using a Python version \([0-9.]+\) which Google will stop supporting",
        module=r"google\.api_core\._python_version_support$",
        why="google-api-core (pulled in by cloud clients) announcing a future end of support "
        "for this Python; the project pins its Python",
    ),
    WarningNoise(
        category=UserWarning,
        message=r"Hint: Inferred schema contains integer column\(s\)",
        module=r"mlflow\.types\.utils$",
        why="raised for the model's integer predictions (class labels, never missing); the "
        "input schema is already float for integer features (steps/registry/mlflow_model.py)",
    ),
)


class DropMessages(logging.Filter):
    """Drop records whose rendered message starts with one of the given patterns."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__()
        self.patterns = [re.compile(pattern) for pattern in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless its message is one of the known noise lines."""
        message = record.getMessage()
        return not any(pattern.match(message) for pattern in self.patterns)


def _installed(logger: logging.Logger) -> DropMessages | None:
    return next((f for f in logger.filters if isinstance(f, DropMessages)), None)


def quiet_console() -> None:
    """Silence each line of :data:`LOG_NOISE` and :data:`WARNING_NOISE` at its source.

    Idempotent: a second call adds nothing.
    """
    by_logger: dict[str, list[str]] = {}
    for noise in LOG_NOISE:
        by_logger.setdefault(noise.logger, []).append(noise.message)
    for name, patterns in by_logger.items():
        logger = logging.getLogger(name)
        if _installed(logger) is None:
            logger.addFilter(DropMessages(patterns))
    for warning in WARNING_NOISE:
        warnings.filterwarnings(
            "ignore", message=warning.message, category=warning.category, module=warning.module
        )


def configure_console(verbose: bool) -> None:
    """Set up what a run prints: quiet by default, everything with ``verbose``.

    ``verbose`` applies none of the silencing; ZenML's own level stays what
    ``ZENML_LOGGING_VERBOSITY`` says (INFO unless set, DEBUG for more).
    """
    if not verbose:
        quiet_console()
