"""A real MLflow pyfunc model for the scoring app's tests, and the bodies a client sends it.

Shared by ``test_scoring_app.py`` and ``test_malformed_bodies.py``: each test module builds
its own copy (a module-scoped fixture), a second or two of training.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The signature: float (float32), long (int64), string and double (float64) columns.
COLUMNS = ["amount", "count", "channel", "score"]


def training_frame(rows: int, seed: int) -> pd.DataFrame:
    """Rows of the model's four columns, in the dtypes its signature was inferred from."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 30.0, rows).astype("float32"),
            "count": rng.integers(0, 10, rows).astype("int64"),
            "channel": rng.choice(["web", "pos", "atm"], rows),
            "score": rng.random(rows),
        }
    )


def save_and_load_model(directory: Path) -> Any:
    """A scikit-learn pipeline (one-hot + gradient boosting) saved by MLflow, then loaded."""
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from steps.registry.mlflow_model import trusted_types_for

    train = training_frame(400, seed=1)
    target = (train["amount"] * train["score"] > 25).astype(int)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("onehot", OneHotEncoder(handle_unknown="ignore"), ["channel"])],
                    remainder="passthrough",
                ),
            ),
            ("trees", HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        ]
    ).fit(train, target)
    path = directory / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MLflow's hint on integer columns
        signature = infer_signature(train, pipeline.predict(train))
    mlflow.sklearn.save_model(
        pipeline, str(path), signature=signature, skops_trusted_types=trusted_types_for(pipeline)
    )
    return mlflow.pyfunc.load_model(str(path))


def split_body(frame: pd.DataFrame) -> bytes:
    """A ``dataframe_split`` request body for the frame's rows."""
    split = json.loads(frame.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def mlflow_answer(
    model: Any, body: bytes, content_type: str = "application/json"
) -> tuple[int, str]:
    """What MLflow's own ``invocations`` answers (status, body), as its server sends it."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import invocations

    try:
        result = invocations(body, content_type, model, model.metadata.get_input_schema())
    except MlflowException as error:
        return error.get_http_status_code(), error.serialize_as_json()
    return result.status, result.response
