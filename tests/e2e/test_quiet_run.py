"""What a person sees of a run: only the steps and the summary, everything with --verbose.

Three pipeline runs in all (a successful one, a gate-stopped one, the same with
--verbose); the missing-file cases never start ZenML. The runs use ZenML's INFO
level, as a user's terminal does (the suite itself runs at WARN), and no colours,
so lines read as plain text.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import run
from configs.loader import load_run_config
from pipelines.console import LOG_NOISE, DropMessages
from tests.conftest import write_config
from tests.e2e.test_cli import run_cli

AS_A_USER = {"ZENML_LOGGING_VERBOSITY": "INFO", "ZENML_LOGGING_COLORS_DISABLED": "true"}

#: A piece of each line the issue lists, as ZenML, MLflow, GX and Google print it.
NOISE = {
    "MLflow fastai autologging": "Failed to disable MLflow autologging for the following frameworks",
    "google-api-core Python support": "which Google will stop supporting",
    "GX docs site": "for ephemeral docs site",
    "ZenML Pro advert": "Models can be viewed in the dashboard using ZenML Pro",
    "MLflow integer schema hint": "Inferred schema contains integer column(s)",
    "--no-cache echo": "Caching is disabled by default for",
    "skipped steps": "Skipping step",
    "ZenML's copy of the step failure": "Failed to run step",
    "MLflow store creation": "Creating initial MLflow database tables",
}
MIN_ROWS = 1_000_000
GATE_REASON = f"expected: at least {MIN_ROWS} rows"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _noise_in(text: str) -> list[str]:
    return [name for name, piece in NOISE.items() if piece in text]


@pytest.fixture(scope="module")
def gate_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small config whose data fails validation: fewer rows than ``min_rows``."""
    path = write_config(tmp_path_factory.mktemp("quiet-gate"), model_name="quiet-gate")
    raw = yaml.safe_load(path.read_text())
    raw["data"]["min_rows"] = MIN_ROWS
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_successful_run_prints_steps_and_summary_and_none_of_the_noise(tmp_path: Path) -> None:
    path = write_config(tmp_path, model_name="quiet-run")
    # A machine's first run (a fresh ZenML config, so MLflow creates its store), with
    # --no-cache: every step runs (a cached step prints nothing), and ZenML echoes the choice.
    first_run = {**AS_A_USER, "ZENML_CONFIG_PATH": str(tmp_path / "zenml")}
    result = run_cli("--pipeline", "train", "--config", str(path), "--no-cache", env=first_run)
    output = _output(result)
    assert result.returncode == 0, output[-4000:]
    assert _noise_in(output) == [], output
    assert "Step `ingest_data` has started." in result.stdout
    assert "Step `register_model` has finished" in result.stdout
    assert "Run 'training-" in result.stdout and "' finished on stack 'local'." in result.stdout
    assert "Model: quiet-run version 1" in result.stdout


def test_gate_stop_prints_its_reason_once_and_no_skipped_steps(gate_config: Path) -> None:
    result = run_cli("--pipeline", "train", "--config", str(gate_config), env=AS_A_USER)
    output = _output(result)
    assert result.returncode == 3, output[-4000:]
    assert output.count(GATE_REASON) == 1, output
    assert output.count("Data validation failed:") == 1, output
    assert "step 'data_validation_gate' (DataValidationError):" in result.stderr
    assert _noise_in(output) == [], output
    assert "Traceback" not in output, "a gate stopping the run is not a crash"


def test_verbose_prints_what_is_silenced_otherwise(gate_config: Path) -> None:
    result = run_cli(
        "--pipeline", "train", "--config", str(gate_config), "--no-cache", "--verbose",
        env=AS_A_USER,
    )  # fmt: skip
    output = _output(result)
    assert result.returncode == 3, output[-4000:]
    shown = _noise_in(output)
    for name in ("GX docs site", "--no-cache echo", "skipped steps"):
        assert name in shown, f"--verbose hid the {name} line"
    assert output.count(GATE_REASON) == 2, "ZenML's copy and run.py's report"
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("make", "problem", "expected"),
    [
        (lambda path: None, "the file does not exist", "a CSV file at this path"),
        (lambda path: path.mkdir(), "this is a directory", "a CSV file"),
    ],
    ids=["missing", "directory"],
)
def test_missing_data_file_exits_3_naming_it_before_zenml_starts(
    tmp_path: Path, make: Callable[[Path], object], problem: str, expected: str
) -> None:
    data = tmp_path / "data" / "transactions.csv"
    data.parent.mkdir()
    make(data)
    path = write_config(
        tmp_path,
        model_name="quiet-missing",
        source={"kind": "file", "path": "data/transactions.csv"},
    )
    untouched = tmp_path / "zenml-state"
    result = run_cli(
        "--pipeline", "train", "--config", str(path),
        env={**AS_A_USER, "ZENML_CONFIG_PATH": str(untouched)},
    )  # fmt: skip
    assert result.returncode == 3, _output(result)[-3000:]
    assert f"error: cannot load data from '{data}': {problem}; expected {expected}" in result.stderr
    assert result.stdout == "", "nothing about a pipeline or ZenML is printed"
    assert not untouched.exists(), "ZenML was started for a data file that is not there"


def test_data_check_leaves_a_parquet_directory_and_remote_urls_to_the_ingest_step(
    tmp_path: Path,
) -> None:
    partitioned = tmp_path / "partitioned.parquet"
    partitioned.mkdir()
    sources: list[tuple[dict[str, object], str | None]] = [
        ({"kind": "file", "path": "partitioned.parquet"}, None),
        ({"kind": "file", "path": "s3://bucket/transactions.parquet"}, None),
        ({"kind": "file", "path": "gone.parquet"}, "the file does not exist"),
        ({"kind": "file", "path": f"file://{tmp_path}/gone.csv"}, "the file does not exist"),
    ]
    for source, problem in sources:
        path = write_config(tmp_path, model_name="quiet-check", source=source)
        found = run.local_data_problem(load_run_config(path), path)
        if problem is None:
            assert found is None, source
        else:
            assert found is not None and problem in found, source


def test_console_filters_keep_tracebacks_of_bugs() -> None:
    """The failure lines a bug needs (ZenML's 'Step X failed.' with its traceback) stay."""
    logger = "zenml.orchestrators.local.local_orchestrator"
    drop = DropMessages([noise.message for noise in LOG_NOISE if noise.logger == logger])

    def record(message: str, *args: object) -> logging.LogRecord:
        try:
            raise ValueError("a bug")
        except ValueError:
            return logging.LogRecord(logger, logging.ERROR, "", 0, message, args, sys.exc_info())

    assert drop.filter(record("Step %s failed.", "train_model"))
    assert not drop.filter(
        record("Skipping step %s due to failure in upstream step(s): %s", "a", "b")
    )
