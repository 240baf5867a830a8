"""Chunked scoring with the real validation the pipeline runs: bad batches are never scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pytest

from configs.loader import load_run_config
from configs.schema import DataConfig, TrainingConfig
from steps.data.info import DatasetInfo, describe_dataset
from steps.data.loading import DataLoadError
from steps.data.synthetic import generate_transactions
from steps.inference.batch import score_file
from steps.training.model_factory import build_model
from steps.validation.batch import check_batch
from steps.validation.errors import DataValidationError

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "local.yaml"


class Scorer(NamedTuple):
    model: Any
    info: DatasetInfo
    data: DataConfig


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    """A small fitted model and the dataset info the production version would record."""
    data = load_run_config(CONFIG).data
    frame = generate_transactions(3000, seed=1, fraud_rate=0.05)
    info = describe_dataset(frame, "train.parquet", data)
    model = build_model(
        info.features, TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 10}),
        "binary",
    )  # fmt: skip
    model.fit(frame.drop(columns=["is_fraud"]), frame["is_fraud"])
    return Scorer(model, info, data)


def _score(scorer: Scorer, batch: Path, output: Path) -> None:
    def validate(chunk: pd.DataFrame, first_row: int) -> None:
        check_batch(chunk, scorer.info, scorer.data, str(batch), first_row)

    score_file(
        scorer.model, str(batch), str(output), scorer.info.features, "binary", "1", "1",
        validate, chunk_rows=500,
    )  # fmt: skip


def test_a_batch_missing_a_feature_is_refused_naming_the_column(
    scorer: Scorer, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.csv"
    generate_transactions(1200, seed=2).drop(columns=["is_fraud", "device_score"]).to_csv(batch)
    with pytest.raises(DataValidationError) as error:
        _score(scorer, batch, tmp_path / "out.csv")
    message = str(error.value)
    assert "column 'device_score'" in message and "is present" in message
    assert "data rows 0-499" in message and "nothing was scored" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.csv"]


def test_an_empty_batch_is_refused_before_validation(
    scorer: Scorer, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.csv"
    generate_transactions(10, seed=2).head(0).to_csv(batch)
    with pytest.raises(DataLoadError, match="header but no data rows"):
        _score(scorer, batch, tmp_path / "out.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.csv"]


def test_a_labelled_batch_is_also_checked_on_its_labels(
    scorer: Scorer, tmp_path: Path
) -> None:
    frame = generate_transactions(800, seed=3)
    frame["is_fraud"] = frame["is_fraud"].astype(int).replace({1: 7})
    batch = tmp_path / "batch.csv"
    frame.to_csv(batch)
    with pytest.raises(DataValidationError, match="column 'is_fraud'"):
        _score(scorer, batch, tmp_path / "out.csv")


def test_a_batch_without_labels_is_scored(scorer: Scorer, tmp_path: Path) -> None:
    batch = tmp_path / "batch.csv"
    generate_transactions(1200, seed=4).drop(columns=["is_fraud"]).to_csv(batch)
    _score(scorer, batch, tmp_path / "out.csv")
    assert len(pd.read_csv(tmp_path / "out.csv")) == 1200


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_unknown_category_in_a_later_chunk_is_refused(
    scorer: Scorer, tmp_path: Path, suffix: str
) -> None:
    """Categories are read as categoricals of strings: the allowed-labels rule still sees them."""
    frame = generate_transactions(1200, seed=5).drop(columns=["is_fraud"])
    frame["channel"] = frame["channel"].astype(object)
    frame.loc[[700, 901], "channel"] = "carrier_pigeon"
    batch = tmp_path / f"batch{suffix}"
    if suffix == ".csv":
        frame.to_csv(batch)
    else:
        frame.to_parquet(batch)
    out = tmp_path / "out.parquet"
    with pytest.raises(DataValidationError) as error:
        _score(scorer, batch, out)
    message = str(error.value)
    assert "column 'channel'" in message and "carrier_pigeon" in message
    assert "data rows 500-999" in message
    assert not out.exists()
