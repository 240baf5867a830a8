"""Challengers that pass every offline gate and fail only under traffic, for the canary tests.

The gates and the smoke test judge the model artifact ZenML keeps; what the
endpoint serves is the MLflow version the ZenML version points at. These
helpers log a wrapped copy of a real version's model as a new MLflow version
and point the ZenML version at it, which is how a fault that only shows in
serving (a bug in a dependency, a slow feature lookup) reaches a canary.

The wrapper is pickled by value (cloudpickle), so the server needs nothing
from tests/ on its path.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

#: ZenML model version metadata key naming the MLflow version served (steps/promotion/stages.py).
SERVED_MLFLOW_VERSION = "mlflow_registered_version"


class FaultyModel(BaseEstimator):
    """A real model that sleeps on every call and/or raises on some single-row requests.

    Only single-row requests with ``amount`` above ``raise_above_amount`` fail:
    the smoke test (20 rows) and the tests' request loop (3 rows) never do,
    about half of the replayer's one-row requests do.
    """

    def __init__(
        self, model: Any, raise_above_amount: float | None = None, delay_s: float = 0.0
    ) -> None:
        self.model = model
        self.raise_above_amount = raise_above_amount
        self.delay_s = delay_s

    def predict(self, features: pd.DataFrame) -> Any:
        """The real model's predictions, late or not at all, as configured."""
        if self.delay_s:
            time.sleep(self.delay_s)
        if (
            self.raise_above_amount is not None
            and len(features) == 1
            and float(features["amount"].iloc[0]) > self.raise_above_amount
        ):
            raise ValueError("injected fault: this model fails on large single transactions")
        return self.model.predict(features)


def serve_faulty_copy(
    tracking_uri: str,
    model_name: str,
    zenml_version: str,
    raise_above_amount: float | None = None,
    delay_s: float = 0.0,
) -> str:
    """Log a faulty copy of the version's own MLflow model; the ZenML version now serves it.

    Returns the MLflow version number of the copy. :func:`serve_original`
    points the ZenML version back at its own model.
    """
    import sys

    import cloudpickle
    import mlflow
    import mlflow.sklearn
    from zenml import log_metadata
    from zenml.client import Client

    original = original_mlflow_version(model_name, zenml_version)
    mlflow.set_tracking_uri(tracking_uri)
    uri = f"models:/{model_name}/{original}"
    signature = mlflow.models.get_model_info(uri).signature
    real = mlflow.sklearn.load_model(uri)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    info = mlflow.sklearn.log_model(
        FaultyModel(real, raise_above_amount=raise_above_amount, delay_s=delay_s),
        name="model",
        signature=signature,
        registered_model_name=model_name,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        pip_requirements=["scikit-learn"],
    )
    copy = str(info.registered_model_version)
    log_metadata(
        metadata={SERVED_MLFLOW_VERSION: copy, "original_mlflow_version": original},
        model_name=model_name,
        model_version=zenml_version,
    )
    assert Client().get_model_version(model_name, zenml_version).run_metadata[
        SERVED_MLFLOW_VERSION
    ] == copy
    return copy


def original_mlflow_version(model_name: str, zenml_version: str) -> str:
    """The MLflow version training registered for the ZenML version (before any copy)."""
    from zenml.client import Client

    metadata = Client().get_model_version(model_name, zenml_version).run_metadata
    return str(metadata.get("original_mlflow_version", metadata[SERVED_MLFLOW_VERSION]))


def serve_original(model_name: str, zenml_version: str) -> None:
    """Point the ZenML version back at the MLflow model training registered for it."""
    from zenml import log_metadata

    log_metadata(
        metadata={SERVED_MLFLOW_VERSION: original_mlflow_version(model_name, zenml_version)},
        model_name=model_name,
        model_version=zenml_version,
    )
