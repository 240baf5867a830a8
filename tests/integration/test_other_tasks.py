"""Any CSV with a target and a task: a sentiment model with inferred text features, and a
regression, each through the whole pipeline on the real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from zenml.client import Client

import run
from configs.loader import load_run_config

POSITIVE = [
    "great service",
    "fast delivery and friendly staff",
    "love the new app",
    "refund was quick",
]
NEGATIVE = [
    "card was blocked for no reason",
    "terrible support",
    "charged twice",
    "app keeps crashing",
]
NEUTRAL = ["changed my address", "asked about fees", "ordered a new card", "checked my balance"]


def _feedback(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.choice(["positive", "negative", "neutral"], size=rows)
    pools = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}
    text = [
        f"{rng.choice(pools[lab])} - {'customer since ' + str(rng.integers(2000, 2025))} thanks for reading"
        for lab in label
    ]
    return pd.DataFrame(
        {
            "feedback": text,
            "channel": rng.choice(["email", "chat", "phone"], size=rows),
            "tenure_years": rng.integers(0, 20, size=rows).astype(float),
            "sentiment": label,
        }
    )


def _run(config: dict[str, object], directory: Path) -> object:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run.select_stack(None)
    finished = run.run_training(load_run_config(path), path, no_cache=True)
    return Client().get_pipeline_run(finished.id)


def test_sentiment_model_from_a_csv_with_inferred_text_feature(tmp_path: Path) -> None:
    _feedback(600).to_csv(tmp_path / "feedback.csv", index=False)
    pipeline_run = _run(
        {
            "data": {
                "source": {"kind": "file", "path": "feedback.csv"},
                "target": "sentiment",
                "task": "multiclass",
                "target_classes": ["positive", "negative", "neutral"],
            },
            "training": {"estimator": "logistic_regression"},
            "evaluation": {"primary_metric": "f1", "thresholds": {"f1": 0.9}},
            "model": {"name": "it-sentiment"},
        },
        tmp_path,
    )
    info = pipeline_run.steps["ingest_data"].outputs["dataset_info"][0].load()  # type: ignore[attr-defined]
    kinds = {f.name: f.kind for f in info.features}
    assert info.features_inferred
    assert kinds == {"feedback": "text", "channel": "categorical", "tenure_years": "numeric"}
    metrics = pipeline_run.steps["evaluate_model"].outputs["metrics"][0].load()  # type: ignore[attr-defined]
    assert metrics["f1"] > 0.9
    assert Client().list_model_versions("it-sentiment").total == 1


def test_regression_from_parquet(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, size=800)
    segment = rng.choice(["a", "b"], size=800)
    # Two informative features: with x alone at |Spearman| 0.99 the leakage guard (rightly)
    # calls x a leak; here it explains the target with the segment (|Spearman| of x 0.94).
    y = 3 * x + 6 * (segment == "b") + rng.normal(size=800)
    frame = pd.DataFrame({"x": x, "segment": segment, "y": y})
    frame.to_parquet(tmp_path / "sales.parquet", index=False)
    pipeline_run = _run(
        {
            "data": {
                "source": {"kind": "file", "path": "sales.parquet"},
                "target": "y",
                "task": "regression",
                "features": [
                    {"name": "x", "kind": "numeric", "min": 0, "max": 10},
                    {"name": "segment", "kind": "categorical", "allowed": ["a", "b"]},
                ],
            },
            "training": {"estimator": "linear_regression"},
            "evaluation": {"primary_metric": "rmse", "thresholds": {"rmse": 1.5, "r2": 0.9}},
            "model": {"name": "it-regression"},
        },
        tmp_path,
    )
    metrics = pipeline_run.steps["evaluate_model"].outputs["metrics"][0].load()  # type: ignore[attr-defined]
    assert metrics["rmse"] < 1.5 and metrics["r2"] > 0.9
    assert Client().list_model_versions("it-regression").total == 1
