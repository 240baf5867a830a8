"""Bad deployment sections fail when the config loads, naming the field (exit 2 in run.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configs.loader import ConfigError, parse_run_config
from tests.unit.configs.test_loader import _local

BAD_DEPLOYMENTS = [
    # (deployment section, text expected in the message)
    ({"comparison": {"metric": "rmse"}}, "deployment.comparison.metric"),  # not a binary metric
    ({"comparison": {"min_improvement": -0.1}}, "min_improvement"),
    ({"comparison": {"min_rows": 0}}, "min_rows"),
    ({"comparison": {"bootstrap": {"resamples": 10}}}, "resamples"),
    ({"comparison": {"bootstrap": {"confidence": 1.5}}}, "confidence"),
    ({"thresholds": {"auc": 0.9}}, "deployment.thresholds"),
    ({"fairness": {"segment": "card_type", "metric": "rmse", "max_gap": 0.1}}, "fairness.metric"),
    ({"fairness": {"segment": "nope", "metric": "recall", "max_gap": 0.1}}, "fairness.segment"),
    ({"fairness": {"segment": "card_type", "metric": "recall", "max_gap": 0}}, "max_gap"),
    ({"fairness": {"segment": "card_type", "metric": "recall"}}, "max_gap"),  # required
    ({"serving": {"port": 80}}, "serving.port"),  # privileged
    ({"serving": {"max_body_bytes": 10}}, "max_body_bytes"),
    ({"serving": {"startup_timeout": 1}}, "startup_timeout"),
    ({"rollout": {"steps": [10, 50]}}, "deployment.rollout"),  # unknown key
    ({"canary": {"steps": [50, 10]}}, "canary.steps"),
    ({"canary": {"steps": [10, 100]}}, "canary.steps"),
    ({"canary": {"too_little_traffic": "wait"}}, "too_little_traffic"),
    ({"canary": {"min_requests": 0}}, "canary.min_requests"),
    ({"canary": {"max_wait": 0}}, "canary.max_wait"),
    ({"canary": {"setps": [10]}}, "canary.setps"),  # a typo fails loudly
    ({"load_test": {"rate": 0}}, "load_test.rate"),
    ({"load_test": {"max_error_rate": 2}}, "load_test.max_error_rate"),
    ({"load_test": {"duration": "long"}}, "load_test.duration"),
]


def _with(deployment: dict[str, Any]) -> dict[str, Any]:
    raw = _local()
    raw["deployment"] = deployment
    return raw


@pytest.mark.parametrize(("section", "field"), BAD_DEPLOYMENTS, ids=[f for _, f in BAD_DEPLOYMENTS])
def test_bad_deployment_section_names_the_field(section: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_run_config(_with(section), Path("configs/bad.yaml"))
    assert "configs/bad.yaml" in str(caught.value)
    assert field in str(caught.value)


def test_defaults_reuse_the_training_gate_and_primary_metric() -> None:
    config = parse_run_config(_local(), Path("c.yaml"))
    assert config.comparison_metric == config.evaluation.primary_metric
    assert config.deployment_thresholds == config.evaluation.thresholds
    assert config.deployment.serving.host == "127.0.0.1"


def test_own_thresholds_and_metric_win_over_the_training_ones() -> None:
    raw = _with({"comparison": {"metric": "roc_auc"}, "thresholds": {"recall": 0.3}})
    config = parse_run_config(raw, Path("c.yaml"))
    assert config.comparison_metric == "roc_auc"
    assert config.deployment_thresholds == {"recall": 0.3}


def test_a_segment_column_may_be_judged_for_fairness() -> None:
    raw = _with({"fairness": {"segment": "region", "metric": "recall", "max_gap": 0.2}})
    raw["data"]["segments"] = ["region"]
    config = parse_run_config(raw, Path("c.yaml"))
    assert config.deployment.fairness is not None
