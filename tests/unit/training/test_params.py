"""Estimator parameters are checked against scikit-learn's own constraints when a config loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.loader import ConfigError, load_run_config, parse_run_config
from configs.schema import ESTIMATORS_BY_TASK, SearchConfig, TrainingConfig
from steps.training.model_factory import DEFAULT_SEARCH_SPACES, check_training_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.mark.parametrize(
    ("estimator", "task", "params", "field", "expected"),
    [
        (
            "hist_gradient_boosting",
            "binary",
            {"learning_rate": -1},
            "training.params.learning_rate",
            "must be a float in the range (0.0, inf)",
        ),
        (
            "hist_gradient_boosting",
            "regression",
            {"learning_rate": 0},
            "training.params.learning_rate",
            "must be a float in the range (0.0, inf)",
        ),
        (
            "hist_gradient_boosting",
            "binary",
            {"max_iter": "200"},
            "training.params.max_iter",
            "must be an int in the range [1, inf)",
        ),
        (
            "hist_gradient_boosting",
            "multiclass",
            {"max_leaf_nodes": 1},
            "training.params.max_leaf_nodes",
            "must be an int in the range [2, inf) or None",
        ),
        (
            "random_forest",
            "binary",
            {"n_estimators": 0},
            "training.params.n_estimators",
            "must be an int in the range [1, inf)",
        ),
        (
            "random_forest",
            "regression",
            {"max_features": "most"},
            "training.params.max_features",
            "a str among",
        ),
        (
            "logistic_regression",
            "binary",
            {"max_iter": -5},
            "training.params.max_iter",
            "must be an int in the range [0, inf)",
        ),
        (
            "logistic_regression",
            "multiclass",
            {"C": "high"},
            "training.params.C",
            "must be a float in the range (0.0, inf]",
        ),
        (
            "linear_regression",
            "regression",
            {"alpha": -1.0},
            "training.params.alpha",
            "in the range [0.0, inf)",
        ),
    ],
)
def test_a_bad_value_names_its_field_and_what_is_expected(
    estimator: str, task: str, params: dict[str, Any], field: str, expected: str
) -> None:
    config = TrainingConfig(estimator=estimator, params=params)
    with pytest.raises(ValueError) as caught:
        check_training_config(config, task)
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert expected in message
    assert f"got {next(iter(params.values()))!r}" in message


def test_every_bad_value_is_reported_at_once() -> None:
    config = TrainingConfig(
        estimator="hist_gradient_boosting", params={"learning_rate": -1, "max_iter": 0}
    )
    with pytest.raises(ValueError) as caught:
        check_training_config(config, "binary")
    lines = str(caught.value).split("\n  - ")
    assert [line.split(":")[0] for line in lines] == [
        "training.params.learning_rate",
        "training.params.max_iter",
    ]


@pytest.mark.parametrize(
    ("estimator", "space", "field", "bad"),
    [
        ("random_forest", {"max_depth": [None, 8, 0]}, "max_depth", "0"),
        ("hist_gradient_boosting", {"learning_rate": [0.1, -0.1]}, "learning_rate", "-0.1"),
        ("logistic_regression", {"C": [1.0, "big"]}, "C", "'big'"),
    ],
)
def test_a_bad_search_candidate_names_its_field(
    estimator: str, space: dict[str, list[Any]], field: str, bad: str
) -> None:
    config = TrainingConfig(
        estimator=estimator,
        search=SearchConfig(param_distributions=space),
    )
    with pytest.raises(ValueError) as caught:
        check_training_config(config, "binary")
    message = str(caught.value)
    assert message.startswith(f"training.search.param_distributions.{field}: ")
    assert message.endswith(f"got {bad}")
    assert "\n" not in message, "only the bad candidate is reported"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TrainingConfig(estimator="random_forest", params={"trees": 3}), "unknown parameter"),
        (
            TrainingConfig(
                estimator="random_forest", search=SearchConfig(param_distributions={"depth": [1]})
            ),
            "param_distributions",
        ),
        (
            TrainingConfig(
                estimator="random_forest",
                search=SearchConfig(param_distributions={"max_depth": []}),
            ),
            "at least one value",
        ),
    ],
)
def test_bad_training_configs_fail_early(config: TrainingConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_training_config(config, "binary")


@pytest.mark.parametrize(
    ("estimator", "task"),
    [(e, task) for task, estimators in ESTIMATORS_BY_TASK.items() for e in estimators],
)
def test_good_values_and_the_default_search_spaces_pass(estimator: str, task: str) -> None:
    config = TrainingConfig(
        estimator=estimator,
        params={"random_state": 3},
        search=SearchConfig(param_distributions=DEFAULT_SEARCH_SPACES[estimator]),
    )
    check_training_config(config, task)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_pass(path: Path) -> None:
    load_run_config(path)


def test_loading_a_config_with_a_bad_value_is_a_config_error_naming_the_field() -> None:
    path = CONFIGS / "local.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["training"]["params"]["learning_rate"] = -1
    raw["training"]["search"] = {"param_distributions": {"max_depth": [4, -2]}}
    with pytest.raises(ConfigError) as caught:
        parse_run_config(raw, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid config:")
    assert "\n  - training.params.learning_rate: must be a float in the range (0.0, inf)" in message
    assert "\n  - training.search.param_distributions.max_depth: " in message
    assert message.endswith("got -2")
