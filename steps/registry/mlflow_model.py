"""Log a fitted scikit-learn Pipeline to MLflow so MLflow can serve it.

MLflow 3.17 saves scikit-learn models with skops, which refuses to load any
type it does not trust (histogram gradient boosting's ``TreePredictor``, numpy
functions in a ``FunctionTransformer``). We list exactly the types this model
contains and trust those from scikit-learn and numpy only; anything else is a
bug to look at, not something to trust blindly.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo
    from sklearn.pipeline import Pipeline

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
#: HistGradientBoosting keeps ``functools.partial(sklearn...check_array)`` inside;
#: skops lists the wrapped function on its own, so trusting partial itself is safe.
TRUSTED_EXACT = frozenset({"functools.partial"})


def untrusted_types(model: Pipeline) -> list[str]:
    """Types skops would refuse in ``model``."""
    import skops.io  # 1-2 s to import: only when a model is actually logged

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def trusted_types_for(model: Pipeline) -> list[str]:
    """The types to pass as ``skops_trusted_types``; raises on foreign code."""
    types = untrusted_types(model)
    foreign = [t for t in types if not t.startswith(TRUSTED_PREFIXES) and t not in TRUSTED_EXACT]
    if foreign:
        raise ValueError(f"model contains types skops cannot load safely: {foreign}")
    return types


#: What a serving environment needs to load the model. Listing it spares MLflow
#: from inferring requirements by loading the model in a subprocess (~15 s).
SERVING_PACKAGES = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")


def serving_requirements() -> list[str]:
    """Exact pins of :data:`SERVING_PACKAGES` as installed here."""
    return [f"{package}=={version(package)}" for package in SERVING_PACKAGES]


def serving_example(
    features: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The input example as a client sends it: plain strings and floats.

    Requests arrive as JSON, so categories are strings and an integer column
    may carry a missing value; the signature inferred from this example
    accepts both, where one inferred from pandas categories and ints would
    reject real requests. Categorical and object columns become object
    columns with None for missing, integer and bool columns float64; float
    columns are copied as they are. Column by column, with no copy of the whole
    frame first: batch scoring converts every chunk, and that copy (object and
    categorical columns included) cost more than the conversion. ``columns``
    (default: all, in order) picks the columns to send.
    """
    names = list(features.columns if columns is None else columns)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names in the input example: {names}")
    converted = {name: _as_sent(features[name]) for name in names}
    return pd.DataFrame(converted, index=features.index, columns=names, copy=False)


def _as_sent(values: pd.Series) -> pd.Series:
    """One column as JSON carries it (see :func:`serving_example`)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Labels once, then one take by code (-1, missing, picks the None at the end):
        # the same objects astype(object) gives, without a pass over every row in Python.
        categories = values.cat.categories
        labels = np.empty(len(categories) + 1, dtype=object)  # filled with None
        labels[: len(categories)] = categories.to_numpy(dtype=object)
        return pd.Series(labels[values.cat.codes.to_numpy()], index=values.index, dtype=object)
    if pd.api.types.is_object_dtype(dtype):
        return values.astype(object).where(values.notna(), None)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return values.astype("float64")
    return values.copy()  # the example never shares memory with the caller's frame


def log_sklearn_model(
    model: Pipeline, input_example: pd.DataFrame, registered_model_name: str | None
) -> ModelInfo:
    """Log ``model`` into the active MLflow run, optionally as a registry version."""
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=serving_example(input_example),
        registered_model_name=registered_model_name,
        pip_requirements=serving_requirements(),
        skops_trusted_types=trusted_types_for(model),
    )
