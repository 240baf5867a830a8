"""The project's command line: validate a run config, pick a pipeline and a stack, run it.

    python run.py --pipeline train --config configs/local.yaml
    python run.py --pipeline deploy --config configs/local.yaml [--model-version N]
    python run.py --pipeline release --config configs/local.yaml
    python run.py --pipeline rollback --config configs/local.yaml --reason TEXT [--to-version N]
    python run.py --pipeline batch-inference --config configs/local.yaml --data PATH [--output PATH]
    python run.py --pipeline monitor --config configs/local.yaml --data PATH [--no-retrain]
    python run.py --status | --serve | --undeploy --config configs/local.yaml
    python run.py --undeploy --all
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
import signal
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
EXIT_PROMOTION_REJECTED = 5
EXIT_SERVING_FAILED = 6
EXIT_ROLLED_BACK = 7
EXIT_CANARY_HELD = 8

PIPELINES = {
    "train": "the training pipeline: ingest, validate, split, train, evaluate, register",
    "deploy": "gate the newest (or --model-version) version against production, then switch "
    "the endpoint to it",
    "release": "train, then deploy the version just trained (what CI runs on push)",
    "rollback": "serve the previous production version (or --to-version) again; needs --reason",
    "batch-inference": "score --data with the production version into --output (CSV or "
    "Parquet, chunk by chunk)",
    "monitor": "compare --data with the production version's training data (drift, quality, "
    "Evidently report); retrain and deploy when the drift rule fires",
}
#: What a failed run of each pipeline did not change, said after its failure.
UNCHANGED = {
    "training": "No model version was registered.",
    "deployment": "Production, the MLflow aliases and the endpoint's routing are as before.",
    "rollback": "Production, the MLflow aliases and the endpoint's routing are as before.",
    "batch_inference": "No predictions were written (an earlier output file is unchanged).",
    "monitoring": "Nothing was retrained or deployed.",
}

#: Exception class names raised by gates, mapped to the exit code they end a run with.
GATE_EXIT_CODES = {
    "DataValidationError": EXIT_DATA_INVALID,
    "DataLoadError": EXIT_DATA_INVALID,
    "QualityGateError": EXIT_QUALITY_GATE,
    "PromotionRejectedError": EXIT_PROMOTION_REJECTED,
    "SmokeTestError": EXIT_SERVING_FAILED,
    "ServingError": EXIT_SERVING_FAILED,
    "SplitterMissingError": EXIT_SERVING_FAILED,
    "NoSplitterError": EXIT_USAGE,
    "UnknownVersionError": EXIT_USAGE,
    "LoadTestFailedError": EXIT_ROLLED_BACK,
    "CanaryRolledBackError": EXIT_ROLLED_BACK,
    "CanaryHeldError": EXIT_CANARY_HELD,
    "BatchScoringError": EXIT_DATA_INVALID,
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


class MonitoringScheduled(Exception):
    """The monitoring pipeline was scheduled (remote orchestrators), not run now."""


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
              2  bad usage: invalid config or stack file, unknown pipeline or stack, no
                 production version to score or monitor with; nothing ran or was registered
              3  the data could not be loaded or failed validation; no model registered
                 (batch-inference/monitor: the batch, or the model could not score a
                 chunk of it; nothing written, scored or compared)
              4  the model missed a quality threshold; no model registered
              5  deploy: a promotion gate refused the challenger; nothing changed
              6  deploy/rollback: serving failed (server, smoke test, splitter); the
                 endpoint routes to the version that served before
              7  deploy: the challenger failed its load test (it got no traffic) or the
                 canary rolled it back (error rate or latency); it is rejected and the
                 champion serves every request
              8  deploy: the canary saw too little traffic to judge and the config says
                 hold; the champion serves every request, the challenger stays in staging
              monitor: 0 whether or not the batch drifted (the decision is printed and
                 recorded); when it retrains, the training and deploy codes above apply

            examples:
              python run.py --pipeline train --config configs/local.yaml
              python run.py --describe-data --config configs/ci.yaml  # the schema as YAML
              python run.py --pipeline train --config X --accept-data-change
              python run.py --register-stacks                  # every file in stacks/
              python run.py --register-stacks kubeflow-seldon  # one stack, by name
              python run.py --pipeline deploy --config configs/local.yaml
              python run.py --pipeline rollback --config configs/local.yaml --reason "alert 4711"
              python run.py --status --config configs/local.yaml
              python run.py --replay --config configs/local.yaml --rate 20 --duration 300
              python run.py --pipeline batch-inference --config configs/local.yaml --data b.csv
              python run.py --pipeline monitor --config configs/local.yaml --data b.csv --no-retrain
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
    action.add_argument(
        "--status",
        action="store_true",
        help="print the stable endpoint and its metrics port, each live version with its "
        "stage, weight and health and each of its replicas' real state (supervisor state, pid, "
        "port, uptime, restarts), a roll-out a dead deploy left (recorded as interrupted), the "
        "MLflow aliases and the last deployment decision (needs --config)",
    )
    action.add_argument(
        "--serve",
        action="store_true",
        help="bring the production version back behind the endpoint (e.g. after a reboot): "
        "starts the supervisor, which starts the splitter and the replicas; idempotent "
        "(needs --config)",
    )
    action.add_argument(
        "--undeploy",
        action="store_true",
        help="stop the config's model's prediction servers and endpoint (with --all: every "
        "model's), and nothing else; stages are kept, --serve brings production back "
        "(needs --config, or --all)",
    )
    action.add_argument(
        "--replay",
        action="store_true",
        help="send the production version's holdout rows to the stable endpoint at --rate "
        "requests/s for --duration seconds (Locust, headless), e.g. in a second terminal "
        "while a deploy's canary watches real traffic; prints Locust's figures (needs --config)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="undeploy: every model this project serves on the stack, not just the config's",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=20.0,
        metavar="R",
        help="replay: requests per second (default 20)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_int,
        default=120,
        metavar="SECONDS",
        help="replay: how long to send (default 120)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="batch-inference/monitor: the batch, a CSV or Parquet file (local or s3://, "
        "gs://); a label column named like data.target is used when present",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="batch-inference: where the predictions go, .csv or .parquet (default "
        "reports/batch-inference/<batch>-<model>-v<N>.<batch's format>); written only when "
        "every row passed validation",
    )
    parser.add_argument(
        "--no-retrain",
        action="store_true",
        help="monitor: report drift and the decision only; never retrain or deploy",
    )
    parser.add_argument(
        "--model-version",
        metavar="N",
        help="deploy: the version to gate and roll out (default: the newest registered one)",
    )
    parser.add_argument(
        "--to-version",
        metavar="N",
        help="rollback: the version to serve again (default: the one production replaced)",
    )
    parser.add_argument(
        "--reason",
        metavar="TEXT",
        help="rollback: why (recorded on the model version with who and when); required",
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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text}")
    return value


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


def batch_file_problem(text: str) -> str | None:
    """Why a local --data file cannot be read (missing, empty, binary), before ZenML starts.

    URLs (s3://, gs://) are left to the step that reads them.
    """
    from steps.data.loading import DataLoadError, _check_local_file, _local_path, _table_format

    local = _local_path(text if "://" in text else str(Path(text).resolve()))
    if local is None:
        return None
    try:
        _check_local_file(local, _table_format(FileSource(kind="file", path=text), text))
    except DataLoadError as error:
        return f"--data: {error}"
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
    config: RunConfig,
    config_path: Path,
    no_cache: bool,
    accept_data_change: bool = False,
    trigger: dict[str, str] | None = None,
) -> PipelineRunResponse:
    """Run the training pipeline and return its run (``trigger``: what caused it, if not a person)."""
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
        trigger=trigger,
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
    print(UNCHANGED.get(pipeline_name, ""), file=sys.stderr)
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


def run_deploy(config: RunConfig, requested: str | None) -> PipelineRunResponse | None:
    """Check what a deploy needs (versions, splitter), then run the deployment pipeline.

    Returns None when there is nothing to do (the version already serves);
    raises UsageError (exit 2) for an unknown or untrained version or a stack
    that cannot serve, before anything changes.
    """
    from zenml import Model

    from configs.zenml_settings import pipeline_settings
    from pipelines.deployment import deployment_pipeline
    from stacks.flavors.traffic import SplitterMissingError
    from steps.deployment.candidates import NothingToDeployError, choose_candidates
    from steps.deployment.platform import NoSplitterError, active_splitter
    from steps.promotion.stages import UnknownVersionError

    name = config.model.name
    try:
        candidates = choose_candidates(name, requested)
        active_splitter().check_ready()
    except NothingToDeployError as note:
        print(note)
        return None
    except (UnknownVersionError, NoSplitterError, SplitterMissingError) as error:
        raise UsageError(str(error)) from error
    champion = candidates.champion.version if candidates.champion else None
    print(
        f"Challenger: version {candidates.challenger.version}; champion: "
        + (f"version {champion}" if champion else "none (the absolute thresholds decide)")
    )
    pipeline = deployment_pipeline.with_options(
        model=Model(name=name, version=candidates.challenger.version),
        settings=pipeline_settings(config),
    )
    run = pipeline(
        config=config, challenger_version=candidates.challenger.version, champion_version=champion
    )
    assert run is not None
    return run


def run_rollback(config: RunConfig, to_version: str | None, reason: str) -> PipelineRunResponse:
    """Check there is a version to roll back to, then run the rollback pipeline."""
    from configs.zenml_settings import pipeline_settings
    from pipelines.deployment import rollback_pipeline
    from stacks.flavors.traffic import SplitterMissingError
    from steps.deployment.platform import NoSplitterError, active_splitter
    from steps.deployment.rollback import plan_rollback
    from steps.promotion.stages import UnknownVersionError, actor, now

    try:
        plan = plan_rollback(config.model.name, to_version)
        active_splitter().check_ready()
    except (UnknownVersionError, NoSplitterError, SplitterMissingError) as error:
        raise UsageError(str(error)) from error
    print(f"Rolling back from version {plan.current.version} to {plan.target.version}: {reason}")
    pipeline = rollback_pipeline.with_options(settings=pipeline_settings(config))
    run = pipeline(
        config=config, to_version=plan.target.version, reason=reason, who=actor(), when=now()
    )
    assert run is not None
    return run


def production_for(config: RunConfig) -> str:
    """The production version's number; UsageError (exit 2) when none serves."""
    from steps.monitoring.reference import production_version
    from steps.promotion.stages import UnknownVersionError, configure_mlflow_from_stack

    configure_mlflow_from_stack()
    try:
        return production_version(config.model.name).version
    except UnknownVersionError as error:
        raise UsageError(str(error)) from error


def batch_path(args: argparse.Namespace) -> str:
    """--data as the steps read it: URLs as given, local paths absolute."""
    from steps.data.loading import resolve_path

    return resolve_path(args.data, os.getcwd())


def default_output(data: str, model: str, version: str) -> str:
    """reports/batch-inference/<batch>-<model>-v<N>.<the batch's format>."""
    name = data.rstrip("/").rsplit("/", 1)[-1]
    stem, fmt = name.split(".", 1)[0], "parquet" if ".parquet" in name or ".pq" in name else "csv"
    return str((Path("reports") / "batch-inference" / f"{stem}-{model}-v{version}.{fmt}").resolve())


def run_batch_inference(config: RunConfig, args: argparse.Namespace) -> PipelineRunResponse:
    """Score --data with the production version; print where the predictions are."""
    from zenml import Model

    from configs.zenml_settings import pipeline_settings
    from pipelines.monitoring import batch_inference_pipeline
    from steps.inference.batch import output_format

    version = production_for(config)
    data = batch_path(args)
    output = args.output or default_output(data, config.model.name, version)
    if "://" not in output:
        output = str(Path(output).resolve())
    try:
        output_format(output)
    except ValueError as error:
        raise UsageError(f"--output: {error}") from error
    if output == data:
        raise UsageError(f"--output {output} is the batch itself; choose another file")
    print(f"Scoring {data} with version {version} of '{config.model.name}' into {output}")
    pipeline = batch_inference_pipeline.with_options(
        model=Model(name=config.model.name, version=version), settings=pipeline_settings(config)
    )
    run = pipeline(config=config, input_path=data, output_path=output, production_version=version)
    assert run is not None
    summary = run.steps["score_batch"].outputs["batch_predictions_summary"][0].load()
    counts = ", ".join(f"{k}: {v:,}" for k, v in summary.prediction_counts.items())
    print(
        f"\nRun '{run.name}': {summary.rows:,} rows scored in {summary.chunks} chunk(s)"
        + (f" (predicted {counts})" if counts else "")
    )
    print(f"Predictions: {summary.output}")
    print(
        f"Artifact 'batch_predictions' is linked to version {version} (ZenML dashboard: "
        f"{dashboard_hint()})"
    )
    return run


def run_monitor(config: RunConfig, args: argparse.Namespace) -> tuple[PipelineRunResponse, bool]:
    """Run the monitoring pipeline on --data; return its run and whether to retrain."""
    from zenml.client import Client

    from configs.zenml_settings import (
        ScheduleNotSupportedError,
        monitoring_schedule,
        pipeline_settings,
    )
    from pipelines.monitoring import monitoring_pipeline
    from steps.data.stamp import source_stamp
    from steps.monitoring.report_file import save_drift_report

    version = production_for(config)
    data = batch_path(args)
    try:
        flavor = Client().active_stack.orchestrator.flavor
        schedule = monitoring_schedule(config, flavor)
    except ScheduleNotSupportedError as error:
        raise UsageError(str(error)) from error
    if schedule is not None and Client().list_schedules(name=schedule.name).items:
        raise UsageError(
            f"monitoring.schedule: the ZenML server already has a schedule '{schedule.name}' "
            "(ZenML allows one per name); to replace it, stop it in the orchestrator and run "
            f"'zenml pipeline schedule delete {schedule.name} --hard' first"
        )
    print(f"Monitoring {data} against version {version} of '{config.model.name}' (production)")
    if schedule is not None and config.monitoring.schedule is not None:
        print(f"Scheduling it on '{schedule.cron_expression}' ({flavor}'s cron form of "
              f"'{config.monitoring.schedule.cron}'; each run re-reads {data}; "
              "retraining from a scheduled run is left to run.py or CI)")
    pipeline = monitoring_pipeline.with_options(
        # A scheduled run must re-read the batch each time, so it never uses the cache.
        enable_cache=not args.no_cache and schedule is None,
        settings=pipeline_settings(config),
        schedule=schedule,
    )
    run = pipeline(
        config=config,
        batch_path=data,
        batch_stamp=source_stamp(FileSource(kind="file", path=data), data),
        production_version=version,
    )
    if run is None:  # ZenML registered the schedule; no run yet
        raise MonitoringScheduled(f"Schedule 'monitor-{config.model.name}' registered.")
    if run.status.value != "completed":  # submitted to a remote orchestrator or scheduled
        print(f"\nRun '{run.name}' submitted (status: {run.status.value}); its decision and "
              f"report will be on the run in the ZenML dashboard: {dashboard_hint()}")
        return run, False
    decision = run.steps["drift_decision"].outputs["drift_decision"][0].load()
    print(f"\nRun '{run.name}' finished.")
    print("\n".join(decision_lines(decision)))
    path = save_drift_report(run, config.model.name)
    print(
        f"Drift report: {path} (also the 'drift_report' visualization of step drift_report "
        "in the ZenML dashboard, and drift_report.html in the MLflow run of experiment "
        "'monitoring')"
    )
    if decision.retrain and args.no_retrain:
        print("--no-retrain: the rule fired, nothing is retrained.")
    elif not decision.retrain:
        print("Nothing to retrain.")
    return run, decision.retrain and not args.no_retrain


def decision_lines(decision: object) -> list[str]:
    """The decision as a person reads it: the verdict, then each drifted column."""
    from steps.monitoring.decision import DriftDecision

    assert isinstance(decision, DriftDecision)
    lines = [f"Decision: {decision.summary()}"]
    for column in sorted(decision.columns, key=lambda c: -c.score):
        if column.drifted:
            lines.append(
                f"  drifted  {column.column:<28} {column.method} "
                f"{column.score:.4f} >= {column.threshold:g}"
            )
    for quality in decision.quality:
        mark = "ok    " if quality.passed else "missed"
        lines.append(
            f"  {mark}   {quality.metric:<28} {quality.value:.4f} (floor {quality.floor:g})"
        )
    return lines


def retrain_after(
    config: RunConfig, args: argparse.Namespace, monitor: PipelineRunResponse
) -> PipelineRunResponse:
    """Train on the configured retraining data, the monitoring run recorded on the version."""
    from zenml.client import Client

    from steps.monitoring.reference import load_production_inputs
    from steps.monitoring.retrain import (
        RetrainDataError,
        check_labels,
        combined_training_data,
        retraining_config,
        retraining_source,
        trigger_record,
        write_parquet,
    )

    decision = monitor.steps["drift_decision"].outputs["drift_decision"][0].load()
    batch = monitor.steps["ingest_batch"].outputs["monitoring_batch"][0].load()
    data = batch_path(args)
    try:
        check_labels(config, list(batch.columns), data)
    except RetrainDataError as error:
        raise UsageError(str(error)) from error
    combined = ""
    if config.monitoring.retrain.data == "reference_and_batch":
        inputs = load_production_inputs(config.model.name, decision.production_version)
        assert inputs.reference is not None
        store = Client().active_stack.artifact_store.path.rstrip("/")
        combined = f"{store}/monitoring/{config.model.name}/{monitor.id}/retrain.parquet"
        write_parquet(combined_training_data(inputs.reference, batch), combined)
    retrain = retraining_config(config, retraining_source(config, data, combined))
    print(
        f"\nRetraining on {config.monitoring.retrain.data.replace('_', ' ')} "
        f"(monitoring run {monitor.name} recorded on the new version)"
    )
    run = run_training(
        retrain,
        args.config,
        args.no_cache,
        accept_data_change=True,
        trigger=trigger_record(monitor, decision, data),
    )
    return run


def interrupt(signum: int, frame: object) -> NoReturn:
    """A SIGTERM handler: raise KeyboardInterrupt, so what runs below us is stopped too."""
    raise KeyboardInterrupt


def undeploy_everything(stack_name: str | None) -> int:
    """--undeploy --all without a config: stop every model's endpoint on the stack."""
    from steps.deployment.commands import undeploy_lines
    from steps.deployment.platform import NoSplitterError

    try:
        select_stack(stack_name)
        lines = undeploy_lines(None)
    except (UsageError, NoSplitterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(lines))
    return EXIT_OK


def serving_command(args: argparse.Namespace, config: RunConfig) -> int:
    """--status, --serve or --undeploy: print what the command did."""
    from stacks.flavors.traffic import ServingError
    from steps.deployment.commands import (
        replay_traffic,
        serve_production,
        status_lines,
        undeploy_lines,
    )
    from steps.deployment.loadtest import LoadTestError
    from steps.deployment.platform import NoSplitterError
    from steps.promotion.stages import UnknownVersionError

    try:
        if args.status:
            lines = status_lines(config)
        elif args.serve:
            lines = serve_production(config)
        elif args.replay:
            signal.signal(signal.SIGTERM, interrupt)  # `kill PID` stops Locust too, like Ctrl-C
            lines = replay_traffic(
                config, args.rate, args.duration, progress=lambda line: print(line, flush=True)
            )
        else:
            lines = undeploy_lines(None if args.all else config.model.name)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except LoadTestError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (UnknownVersionError, NoSplitterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ServingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SERVING_FAILED
    print("\n".join(lines))
    return EXIT_OK


def report_deploy(run: PipelineRunResponse, config: RunConfig) -> None:
    """Say what the deploy decided and where the endpoint and the report are."""
    from steps.deployment.report_file import save_comparison_report

    path = save_comparison_report(run, config.model.name)
    if path is not None:
        print(f"Comparison report: {path}")
    step = run.steps.get("serve_challenger")
    if step is not None and step.status.value == "completed":
        from steps.deployment.commands import release_check_lines

        rollout = step.outputs["rollout"][0].load()
        print("\n".join(release_check_lines(rollout)))
        replaced = rollout["replaced"]
        print(
            f"Version {rollout['serving']} of '{config.model.name}' is production and serves "
            f"100% at {rollout['endpoint']}"
            + (f" (replaced version {replaced}, now archived)." if replaced != "none" else ".")
        )


def run_pipeline(args: argparse.Namespace, config: RunConfig, stack: str) -> int:
    """Run the requested pipeline(s) and report; return the exit code."""
    started = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    current = "training"
    run: PipelineRunResponse | None = None
    try:
        retrain = False
        if args.pipeline == "batch-inference":
            current = "batch_inference"
            run_batch_inference(config, args)
        if args.pipeline == "monitor":
            current = "monitoring"
            try:
                monitor, retrain = run_monitor(config, args)
            except MonitoringScheduled as scheduled:
                print(f"{scheduled} Each run's decision and report: {dashboard_hint()}")
                return EXIT_OK
            if retrain:
                current = "training"
                started = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
                run = retrain_after(config, args, monitor)
                report_success(run, stack)
        if args.pipeline in ("train", "release"):
            run = run_training(config, args.config, args.no_cache, args.accept_data_change)
            report_success(run, stack)
        if args.pipeline in ("deploy", "release") or (retrain and config.monitoring.retrain.deploy):
            requested = args.model_version
            if args.pipeline in ("release", "monitor"):
                requested = trained_version(run)
            current = "deployment"
            started = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
            run = run_deploy(config, requested)
            if run is not None:
                report_deploy(run, config)
        if args.pipeline == "rollback":
            current = "rollback"
            run = run_rollback(config, args.to_version, args.reason)
            print(f"\nRun '{run.name}' finished: rolled back.")
            print(f"Endpoint: {run.steps['roll_back'].outputs['rollback'][0].load()['endpoint']}")
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:
        code = report_failure(current, error, started)
        if current == "deployment":
            save_failed_report(started, config)
        return code
    return EXIT_OK


def trained_version(run: PipelineRunResponse | None) -> str | None:
    """The model version a training run registered (release deploys exactly that one)."""
    step = run.steps.get("register_model") if run is not None else None
    if step is None or step.model_version is None:
        return None
    return str(step.model_version.number)


def save_failed_report(started: datetime, config: RunConfig) -> None:
    """Keep the comparison report of a refused deploy too (the gate's figures are in it)."""
    from steps.deployment.report_file import save_comparison_report

    run = latest_run("deployment", created_after=started)
    if run is not None:
        path = save_comparison_report(run, config.model.name)
        if path is not None:
            print(f"Comparison report: {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Parse, validate, run; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_console(verbose=args.verbose)
    if args.register_stacks is not None:
        return register_stacks(args.register_stacks)
    if args.all and not args.undeploy:
        parser.error("--all goes with --undeploy only")
    if args.undeploy and args.all and args.config is None:
        return undeploy_everything(args.stack)
    if args.config is None:
        parser.error(f"{action_flag(args)} needs --config PATH (or --undeploy --all)")
    if args.pipeline in ("batch-inference", "monitor") and args.data is None:
        parser.error(f"--pipeline {args.pipeline} needs --data PATH (the batch, CSV or Parquet)")
    if args.pipeline == "rollback" and not (args.reason and args.reason.strip()):
        parser.error('--pipeline rollback needs --reason TEXT (why, e.g. --reason "alert 4711")')
    try:
        config = load_run_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.describe_data or args.pipeline in ("train", "release"):
        problem = local_data_problem(config, args.config)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_DATA_INVALID
    if args.data is not None:
        problem = batch_file_problem(args.data)
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
    logging.getLogger(STEP_FAILURE_LOGGER).addFilter(GateTracebackFilter())
    if args.pipeline is None:
        return serving_command(args, config)
    print(f"Running pipeline '{args.pipeline}' with {args.config} on stack '{stack}'")
    signal.signal(signal.SIGTERM, interrupt)  # `kill PID` undoes a roll-out, as Ctrl-C does
    return run_pipeline(args, config, stack)


def action_flag(args: argparse.Namespace) -> str:
    """The action the user asked for, as they typed it (for usage errors)."""
    for flag in ("describe_data", "status", "serve", "undeploy", "replay"):
        if getattr(args, flag):
            return "--" + flag.replace("_", "-")
    return "--pipeline"


def exit_without_teardown(code: int) -> NoReturn:
    """Exit once everything that must finish has finished, skipping module teardown.

    After a pipeline run Python spends 2-3 s freeing the module graph of ZenML,
    MLflow and Great Expectations, time a user waits for nothing. What a normal
    exit does first still happens, in its order: ``threading._shutdown`` runs the
    thread-exit callbacks (a thread pool tells its idle workers to stop there, e.g.
    the one MLflow starts to download a model; joining them before would wait
    forever) and joins the non-daemon threads; then the atexit handlers run, so
    nothing ZenML or MLflow flushes at exit is lost.
    """
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
