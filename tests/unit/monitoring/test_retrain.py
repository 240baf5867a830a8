"""What a fired drift rule trains on: the config's choice, the batch's labels, the combined data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from configs.loader import load_run_config
from configs.schema import FileSource, RunConfig
from steps.data.synthetic import generate_transactions
from steps.monitoring.retrain import (
    RetrainDataError,
    check_labels,
    combined_training_data,
    retraining_config,
    retraining_source,
)

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "local.yaml"


def _config(data: str) -> RunConfig:
    base = load_run_config(CONFIG)
    retrain = base.monitoring.retrain.model_copy(update={"data": data})
    return base.model_copy(
        update={"monitoring": base.monitoring.model_copy(update={"retrain": retrain})}
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("batch", "/b/batch.csv"),
        ("reference_and_batch", "/store/retrain.parquet"),
    ],
)
def test_each_choice_names_the_file_training_reads(data: str, expected: str) -> None:
    source = retraining_source(_config(data), "/b/batch.csv", "/store/retrain.parquet")
    assert source == FileSource(kind="file", path=expected)


def test_source_keeps_the_configs_own_data() -> None:
    config = _config("source")
    assert retraining_source(config, "/b/batch.csv", "") == config.data.source


def test_retraining_config_changes_only_the_data_source() -> None:
    config = _config("batch")
    new = retraining_config(config, FileSource(kind="file", path="/b/batch.csv"))
    assert new.data.source == FileSource(kind="file", path="/b/batch.csv")
    assert new.model_copy(update={"data": config.data}) == config


def test_a_batch_without_labels_cannot_be_retrained_on() -> None:
    with pytest.raises(RetrainDataError, match="has no 'is_fraud' column"):
        check_labels(_config("reference_and_batch"), ["amount"], "/b/batch.csv")
    check_labels(_config("source"), ["amount"], "/b/batch.csv")  # fresh data: no labels needed
    check_labels(_config("batch"), ["amount", "is_fraud"], "/b/batch.csv")


def test_combined_data_is_reference_then_batch_in_the_references_columns() -> None:
    reference = generate_transactions(300, seed=1)
    batch = generate_transactions(200, seed=2, shift=0.5).astype({"channel": object})
    batch.insert(0, "Unnamed: 0", range(200))  # a CSV's index column
    batch = batch.drop(columns=["device_score"])  # a column the batch lacks
    combined = combined_training_data(reference, batch)
    assert list(combined.columns) == list(reference.columns)
    assert len(combined) == 500
    assert combined["device_score"].iloc[300:].isna().all()
    pd.testing.assert_series_equal(
        combined["channel"].iloc[:300].reset_index(drop=True),
        reference["channel"].astype(object),
        check_names=False,
    )
    assert combined["channel"].iloc[300:].tolist() == batch["channel"].tolist()
    assert combined["is_fraud"].tolist() == [*reference["is_fraud"], *batch["is_fraud"]]
