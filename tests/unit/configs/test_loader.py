"""Bad configs fail with the file and the field named; the shipped configs load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.loader import ConfigError, load_run_config, parse_run_config
from configs.schema import RunConfig

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def _local() -> dict[str, Any]:
    return yaml.safe_load((CONFIGS / "local.yaml").read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    config = load_run_config(path)
    assert isinstance(config, RunConfig)
    assert path.read_text().startswith("#"), (
        "each config starts with a comment saying what it is for"
    )


def test_environments_share_one_schema_and_differ_in_environment_knobs() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"local", "staging", "prod"} <= names
    loaded = {
        name: load_run_config(CONFIGS / f"{name}.yaml") for name in ("local", "staging", "prod")
    }
    assert len({c.model.name for c in loaded.values()}) == 3
    assert loaded["local"].data.features == loaded["prod"].data.features
    assert loaded["local"].evaluation.thresholds != loaded["prod"].evaluation.thresholds


def _mutate(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(_local())
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return raw


_DELETE = object()

BAD_CONFIGS = [
    # (mutation path, value, text expected in the message)
    ("training.estimatr", "x", "training.estimatr"),  # typo'd key
    ("training.estimator", "xgboost", "training.estimator"),  # unknown estimator
    ("training.estimator", "linear_regression", "training.estimator"),  # wrong for task
    ("data.task", "clustering", "data.task"),
    ("data.source.rows", "many", "data.source.rows"),  # wrong type
    ("data.source.rows", 20_000_000, "data.source.rows"),  # above the limit
    ("data.source.kind", "ftp", "data.source"),  # unknown source kind
    ("split.test_size", 1.5, "split.test_size"),
    ("evaluation.thresholds", {"auc": 0.9}, "evaluation.thresholds"),  # unknown metric
    ("evaluation.primary_metric", "rmse", "evaluation.primary_metric"),  # not a binary metric
    ("model.name", "has spaces!", "model.name"),
    ("data.target", _DELETE, "data.target"),  # required key missing
    ("training.params", {"n_trees": 5}, "training.params"),  # estimator rejects the param
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_file_and_field(path: str, value: Any, field: str) -> None:
    where = Path("configs/bad.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_run_config(_mutate(path, value), where)
    message = str(caught.value)
    assert str(where) in message
    assert field in message


def test_feature_rule_that_does_not_fit_its_kind() -> None:
    raw = _mutate("data.features.3.min", 1.0)  # merchant_category is categorical
    with pytest.raises(ConfigError, match="min/max only apply to numeric"):
        parse_run_config(raw, Path("c.yaml"))


def test_search_space_with_unknown_parameter() -> None:
    raw = _mutate("training.search", {"n_iter": 2, "param_distributions": {"depth": [1, 2]}})
    with pytest.raises(ConfigError, match="param_distributions"):
        parse_run_config(raw, Path("c.yaml"))


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_run_config(path)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("data: {source: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_run_config(path)
    assert str(path) in str(caught.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ConfigError, match=str(binary)):
        load_run_config(binary)
