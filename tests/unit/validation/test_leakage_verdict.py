"""What the leakage gate does with the probe's findings: pass, warn or stop, as configured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from configs.schema import DataConfig, FileSource, LeakageCheck
from steps.data.info import DatasetInfo, describe_dataset
from steps.validation.leakage_step import judge_leakage


def _info(frame: pd.DataFrame) -> DatasetInfo:
    cfg = DataConfig(source=FileSource(kind="file", path="x.csv"), target="target", task="binary")
    return describe_dataset(frame, "x.csv", cfg)


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def test_genuine_features_pass_and_every_score_is_kept(patients: pd.DataFrame) -> None:
    verdict = judge_leakage(patients, _info(patients), LeakageCheck())
    assert not verdict.stop and verdict.message is None and verdict.findings == []
    assert len(verdict.scores) == 30 and max(verdict.scores.values()) < 0.99


@pytest.mark.parametrize(("action", "stops"), [("fail", True), ("warn", False)])
def test_a_copy_of_the_target_stops_or_warns_as_configured(
    patients: pd.DataFrame, action: str, stops: bool
) -> None:
    leaky = patients.assign(outcome_code=patients["target"] * 2 + 1)
    verdict = judge_leakage(leaky, _info(leaky), LeakageCheck(action=action))
    assert verdict.stop is stops
    assert verdict.message is not None and "feature 'outcome_code'" in verdict.message
    assert "data.exclude" in verdict.message and "action: warn" in verdict.message


def test_off_skips_the_probe(patients: pd.DataFrame) -> None:
    leaky = patients.assign(outcome_code=patients["target"].astype(float) + np.zeros(len(patients)))
    verdict = judge_leakage(leaky, _info(leaky), LeakageCheck(action="off"))
    assert verdict.scores == {} and verdict.findings == []  # not even scored
    assert not verdict.stop and verdict.message is None
