"""The project's command line: validate a run config, pick a pipeline and a stack, run it.

    python run.py --pipeline train --config configs/local.yaml
    python run.py --register-stacks [NAME_OR_FILE ...]

The config (and that a local data file exists) is checked before ZenML is
imported, so a typo costs a second, not a pipeline run. Exit codes are part of
the interface (CI branches on them). What a run prints is set up in
pipelines/console.py (``--verbose`` prints everything).
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import textwrap
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from configs.loader import ConfigError, load_run_config
from configs.schema import FileSource, RunConfig
from pipelines.console import configure_console

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_STACK = "local"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DATA_INVALID = 3
EXIT_QUALITY_GATE = 4

PIPELINES = {"train": "the training pipeline: ingest, validate, split, train, evaluate, register"}

#: Exception class names raised by gates, mapped to the exit code they end a run with.
GATE_EXIT_CODES = {
    "DataValidationError": EXIT_DATA_INVALID,
    "DataLoadError": EXIT_DATA_INVALID,
    "QualityGateError": EXIT_QUALITY_GATE,
}


class GateTracebackFilter(logging.Filter):
    """Drop the traceback from ZenML's log of a step that a gate stopped.

    A gate failing is the pipeline working as designed, and its message already
    names the rule, column and values; a stack trace above it only buries that.
    Tracebacks of any other exception (a bug) are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without its traceback when a gate raised it."""
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__name__ in GATE_EXIT_CODES:
            record.exc_info = None
            record.exc_text = None
        return True


#: The logger that prints a failed step's traceback when steps run in this process.
STEP_FAILURE_LOGGER = "zenml.orchestrators.local.local_orchestrator"


class UsageError(Exception):
    """A problem with what the user asked for (stack, file); exit 2, nothing run."""


@dataclass(frozen=True)
class StepFailure:
    """A failed step, as the user should read it."""

    step: str
    exception: str
    message: str


def build_parser() -> argparse.ArgumentParser:
    """The CLI, with help text that explains each option and the exit codes."""
    pipelines = "\n".join(f"  {name:<8} {text}" for name, text in PIPELINES.items())
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Run one of the project's ZenML pipelines with a validated run config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            pipelines:
            {pipelines}

            stacks:
              Without --stack the active ZenML stack is used; if that is ZenML's bare
              'default' stack, the project's 'local' stack (stacks/local.yaml: local
              orchestrator, MLflow tracking in SQLite, MLflow deployer) is used and is
              registered first if it is missing.

            exit codes:
              0  success
              1  a step failed (see the message and the ZenML logs above it)
              2  bad usage: invalid config or stack file, unknown pipeline or stack;
                 nothing ran or was registered
              3  the data could not be loaded or failed validation; no model registered
              4  the model missed a quality threshold; no model registered

            examples:
              python run.py --pipeline train --config configs/local.yaml
              python run.py --describe-data --config configs/ci.yaml  # the schema as YAML
              python run.py --pipeline train --config X --accept-data-change
              python run.py --register-stacks                  # every file in stacks/
              python run.py --register-stacks kubeflow-seldon  # one stack, by name
              python run.py --pipeline train --config configs/prod.yaml --stack kubeflow-seldon
            """
        ).replace("{pipelines}", pipelines),
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--pipeline",
        choices=sorted(PIPELINES),
        help="which pipeline to run (needs --config)",
    )
    action.add_argument(
        "--register-stacks",
        nargs="*",
        metavar="NAME_OR_FILE",
        help="register stacks from stacks/*.yaml (all, or the named stacks or files) in "
        "the ZenML store: validated first, all or nothing, never prompts, and a second "
        "call changes nothing",
    )
    action.add_argument(
        "--describe-data",
        action="store_true",
        help="load the config's data, print the features a run would use as YAML to paste "
        "into the config (kinds, observed ranges, categories, null shares, the columns left "
        "out and why), and exit; nothing is run or registered (needs --config)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="run config YAML (configs/local.yaml, staging.yaml, prod.yaml); "
        "validated before anything runs",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="run on this registered ZenML stack for this run only, "
        "without changing the active stack",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="re-run every step even if ZenML has cached results for the same inputs",
    )
    parser.add_argument(
        "--accept-data-change",
        action="store_true",
        help="skip the checks against the reference version's data (recorded profile, row "
        "count) for this run, to accept a deliberate change; this run's data becomes the "
        "next reference",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print every line ZenML, MLflow and Great Expectations log (by default a few "
        "known, harmless ones are silenced: see pipelines/console.py); ZenML's level "
        "stays ZENML_LOGGING_VERBOSITY (INFO, or DEBUG for more)",
    )
    return parser


def local_data_problem(config: RunConfig, config_path: Path) -> str | None:
    """Why a local data file cannot be loaded, said before ZenML starts; None if it may be.

    Only what the path tells: that it exists and is a file (a directory only
    for Parquet, which may be partitioned), in the loader's own words. The
    content is for the ingest step to judge; remote URLs are left to it too.
    Costs the import of the loader (pandas, no ZenML): about half a second.
    """
    source = config.data.source
    if not isinstance(source, FileSource):
        return None
    from steps.data.loading import (
        DataLoadError,
        _check_local_file,
        _local_path,
        _table_format,
        resolve_path,
    )

    path = resolve_path(source.path, str(config_path.resolve().parent))
    local = _local_path(path)
    if local is None or os.path.isfile(local):
        return None
    try:
        _check_local_file(local, _table_format(source, path))
    except DataLoadError as error:
        return str(error)
    return None


def ensure_default_stack() -> None:
    """Register the project's local stack from stacks/local.yaml if it is missing.

    A registered ``local`` stack is used as it is, even if the user changed it:
    the full check (and its cost on every run) is for ``--register-stacks``.
    """
    from stacks.registration import (
        StackFileError,
        find_stack_file,
        register_files,
        registered_stack_names,
    )

    if DEFAULT_STACK in registered_stack_names():
        return
    path = find_stack_file(DEFAULT_STACK)
    if path is None:
        raise UsageError(f"stacks/: no stack file defines stack '{DEFAULT_STACK}'")
    try:
        (result,) = register_files([path])
    except StackFileError as error:
        raise UsageError(str(error)) from error
    if result.changed:
        print(f"Registered stack '{result.stack}' from {path.relative_to(PROJECT_ROOT)}")


def register_stacks(requested: list[str]) -> int:
    """Register stacks from stack files, all or nothing, and say what changed."""
    from stacks.registration import StackFileError, register_files, resolve_stack_files

    try:
        paths = resolve_stack_files(requested)
        print(f"Validating {len(paths)} stack file(s) against the ZenML store ...")
        results = register_files(paths)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        print("Nothing was registered.", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # the store failed (unreachable server, refused write)
        print(f"error: the ZenML store failed: {type(error).__name__}: {error}", file=sys.stderr)
        print("Nothing was registered (what this call created was removed).", file=sys.stderr)
        return EXIT_FAILED
    for result in results:
        if not result.changed:
            print(f"  {result.stack}: already registered, unchanged")
            continue
        created = [f"flavor/{name}" for name in result.created_flavors] + result.created_components
        what = ", ".join(created) or "no new components"
        verb = "registered" if result.created_stack else "completed"
        print(f"  {result.stack}: {verb} (created {what})")
    if not any(result.changed for result in results):
        print("Nothing changed.")
    names = " | ".join(result.stack for result in results)
    print(f"Switch with: zenml stack set <{names}>   or per run: run.py --stack NAME")
    return EXIT_OK


def select_stack(requested: str | None) -> str:
    """Pick the stack for this run and point this process (only) at it.

    ZenML reads ``ZENML_ACTIVE_STACK_ID`` before the stored active stack, so the
    user's own choice of active stack is never changed by a run.
    """
    from zenml.client import Client

    from stacks.registration import registered_stack_names

    client = Client()
    if requested is None:
        active = client.active_stack_model.name
        if active != "default":
            return active
        requested = DEFAULT_STACK
    if requested == DEFAULT_STACK:
        ensure_default_stack()
    names = registered_stack_names()
    if requested not in names:
        raise UsageError(
            f"--stack: no registered stack named '{requested}'; registered stacks: "
            + ", ".join(names)
        )
    stack = client.get_stack(requested, allow_name_prefix_match=False)
    os.environ["ZENML_ACTIVE_STACK_ID"] = str(stack.id)
    return requested


def describe_data(config: RunConfig, config_path: Path) -> int:
    """Print the inferred schema of the config's data as YAML; exit 3 if it cannot be loaded."""
    from steps.data.describe import describe_data as render
    from steps.data.loading import DataLoadError

    try:
        print(render(config, config_path), end="")
    except DataLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA_INVALID
    return EXIT_OK


def run_training(
    config: RunConfig, config_path: Path, no_cache: bool, accept_data_change: bool = False
) -> PipelineRunResponse:
    """Run the training pipeline and return its run."""
    from configs.zenml_settings import pipeline_settings
    from pipelines.training import training_pipeline
    from steps.data.loading import resolve_path
    from steps.data.stamp import source_stamp
    from steps.registry.provenance import collect_provenance

    base_dir = str(config_path.resolve().parent)
    source = config.data.source
    resolved = resolve_path(source.path, base_dir) if isinstance(source, FileSource) else None
    pipeline = training_pipeline.with_options(
        enable_cache=not no_cache, settings=pipeline_settings(config)
    )
    run = pipeline(
        config=config,
        base_dir=base_dir,
        source_stamp=source_stamp(source, resolved),
        provenance=collect_provenance(config_path),
        accept_data_change=accept_data_change,
    )
    assert run is not None
    return run


def latest_run(
    pipeline_name: str, created_after: datetime | None = None
) -> PipelineRunResponse | None:
    """The newest run of ``pipeline_name`` in the active store (optionally, a recent one)."""
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        pipeline_name=pipeline_name, sort_by="desc:created", size=1, hydrate=True
    )
    if not runs.items:
        return None
    newest = runs.items[0]
    if created_after is not None and newest.created < created_after:
        return None
    return newest


def step_failures(run: PipelineRunResponse) -> list[StepFailure]:
    """Failed steps of a run with their exception class and message."""
    failures = []
    for name, step_run in run.steps.items():
        info = step_run.exception_info
        if step_run.status.value != "failed" or info is None:
            continue
        exception = (info.source or "").rsplit(".", 1)[-1] or "Exception"
        message = info.message or info.traceback.strip().splitlines()[-1]
        failures.append(StepFailure(step=name, exception=exception, message=message))
    return failures


def report_failure(pipeline_name: str, error: Exception, started: datetime) -> int:
    """Explain a failed run in a few lines and choose the exit code.

    A failure before any step ran (the stack lacks a component a step needs)
    is a usage error: nothing ran, exit 2.
    """
    from zenml.exceptions import StackValidationError

    if isinstance(error, StackValidationError):
        print(f"error: the stack cannot run this pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    run = latest_run(pipeline_name, created_after=started)
    failures = step_failures(run) if run else []
    print(f"\nRun failed: {run.name if run else pipeline_name}", file=sys.stderr)
    if not failures:
        print(f"  {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    for failure in failures:
        print(f"  step '{failure.step}' ({failure.exception}):", file=sys.stderr)
        print(textwrap.indent(failure.message, "    "), file=sys.stderr)
    print("No model version was registered.", file=sys.stderr)
    return max(GATE_EXIT_CODES.get(f.exception, EXIT_FAILED) for f in failures)


def report_success(run: PipelineRunResponse, stack: str) -> None:
    """Tell the user what was produced (or submitted) and where to look at it."""
    from zenml.client import Client

    status = run.status.value
    if status != "completed":
        # A remote orchestrator returned before the run ended (not synchronous,
        # or ZenML could only submit it): nothing was produced yet.
        print(f"\nRun '{run.name}' submitted to stack '{stack}' (status: {status}).")
        print(f"ZenML dashboard: {dashboard_hint()}")
        return
    print(f"\nRun '{run.name}' finished on stack '{stack}'.")
    register = run.steps.get("register_model")
    if register is not None and register.model_version is not None:
        version = register.model_version
        print(f"Model: {version.model.name} version {version.name}")
        metrics = version.run_metadata.get("holdout_metrics")
        if isinstance(metrics, dict):
            shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
            print(f"Holdout metrics: {shown}")
    tracker = Client().active_stack.experiment_tracker
    if tracker is not None:
        uri = tracker.get_tracking_uri()  # type: ignore[attr-defined]
        if uri.startswith(("http://", "https://")):
            print(f"MLflow UI:       {uri}")
        else:
            print(f"MLflow UI:       mlflow ui --backend-store-uri '{uri}' --host 127.0.0.1")
    print(f"ZenML dashboard: {dashboard_hint()}")


def dashboard_hint() -> str:
    """Where this client's ZenML dashboard is: the server it talks to, or how to start one."""
    from zenml.client import Client
    from zenml.enums import StoreType

    store = Client().zen_store
    if store.type == StoreType.REST:
        return store.url
    return "zenml login --local   (then open http://127.0.0.1:8237)"


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_console(verbose=args.verbose)
    if args.register_stacks is not None:
        return register_stacks(args.register_stacks)
    if args.config is None:
        parser.error(
            f"{'--describe-data' if args.describe_data else '--pipeline'} needs --config PATH"
        )
    try:
        config = load_run_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    problem = local_data_problem(config, args.config)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_DATA_INVALID
    if args.describe_data:
        return describe_data(config, args.config)
    try:
        stack = select_stack(args.stack)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Running pipeline '{args.pipeline}' with {args.config} on stack '{stack}'")
    logging.getLogger(STEP_FAILURE_LOGGER).addFilter(GateTracebackFilter())
    # ZenML stores creation times in naive UTC; a second of slack covers rounding.
    started = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    try:
        run = run_training(config, args.config, args.no_cache, args.accept_data_change)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception as error:
        return report_failure("training", error, started)
    report_success(run, stack)
    return EXIT_OK


def exit_without_teardown(code: int) -> NoReturn:
    """Exit once everything that must finish has finished, skipping module teardown.

    After a pipeline run Python spends 2-3 s freeing the module graph of ZenML,
    MLflow and Great Expectations, time a user waits for nothing. Non-daemon
    threads are joined and atexit handlers run first, as on a normal exit, so
    nothing ZenML or MLflow flushes at exit is lost.
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
