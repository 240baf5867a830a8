"""Build the scikit-learn Pipeline a config describes.

Preprocessing depends on the estimator, not just on the columns: linear models
need scaled numbers and one-hot categories, while histogram gradient boosting
handles missing values and ordinal-encoded categories natively and would pay
gigabytes at 10M rows for a dense one-hot matrix. Keeping that choice here,
in one function per estimator family, keeps the steps free of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from configs.schema import FeatureSpec, TrainingConfig

#: HistGradientBoosting accepts at most 255 bins per categorical feature
#: (one is kept for missing values), so rarer categories are grouped.
HGB_MAX_CATEGORIES = 254

#: Candidate values for a randomized search when the config lists none.
DEFAULT_SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "logistic_regression": {"C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]},
    "linear_regression": {"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]},
    "random_forest": {
        "n_estimators": [100, 200, 300],
        "max_depth": [None, 8, 16, 24],
        "min_samples_leaf": [1, 2, 5, 10],
    },
    "hist_gradient_boosting": {
        "learning_rate": [0.03, 0.05, 0.1, 0.2],
        "max_leaf_nodes": [15, 31, 63],
        "min_samples_leaf": [20, 50, 100],
        "l2_regularization": [0.0, 0.1, 1.0],
    },
}


def make_estimator(config: TrainingConfig, task: str) -> BaseEstimator:
    """Instantiate the configured estimator with its params, seeded.

    Raises ValueError naming the parameter when ``params`` holds a name the
    estimator does not have; :func:`check_training_config` also checks values.
    """
    classification = task != "regression"
    seed = config.seed
    estimator: BaseEstimator
    if config.estimator == "logistic_regression":
        estimator = LogisticRegression(max_iter=2000, random_state=seed)
    elif config.estimator == "linear_regression":
        estimator = Ridge(alpha=1.0, random_state=seed)
    elif config.estimator == "random_forest":
        forest = RandomForestClassifier if classification else RandomForestRegressor
        estimator = forest(n_estimators=200, n_jobs=-1, random_state=seed)
    else:
        hgb = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        estimator = hgb(random_state=seed)
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(config.params) - set(valid))
    if unknown:
        raise ValueError(
            f"training.params: unknown parameter(s) {unknown} for {config.estimator}; "
            f"expected some of {sorted(valid)}"
        )
    estimator.set_params(**config.params)
    return estimator


def invalid_param_values(estimator: BaseEstimator, params: dict[str, Any], field: str) -> list[str]:
    """One message per value in ``params`` that the estimator's own constraints reject.

    scikit-learn declares what each parameter accepts (``_parameter_constraints``)
    and checks it only when ``fit`` starts; checking the same declarations here
    turns a config typo into an error at load time that names the field
    (``training.params.learning_rate``) and says what is expected. Constraints
    between parameters (a solver that does not support a penalty) are still
    only checked by ``fit``.
    """
    constraints: dict[str, Any] = getattr(estimator, "_parameter_constraints", {})
    caller = type(estimator).__name__
    problems: list[str] = []
    for name, value in params.items():
        if name not in constraints:
            continue
        try:
            validate_parameter_constraints(
                {name: constraints[name]}, {name: value}, caller_name=caller
            )
        except InvalidParameterError as error:
            # sklearn says "The 'x' parameter of Caller must be ... Got v instead."
            expected, got = str(error).removeprefix(f"The {name!r} parameter of {caller} "), ""
            if ". Got " in expected:
                expected, got = expected.rsplit(". Got ", 1)
                got = f"; got {got.removesuffix(' instead.')}"
            problems.append(f"{field}.{name}: {expected} for {caller}{got}")
    return problems


def check_training_config(config: TrainingConfig, task: str) -> None:
    """Fail early on estimator parameters or search spaces the estimator cannot take.

    Raises one ValueError listing every problem, each on its own line and named
    by its field: unknown parameter names, values outside what scikit-learn
    accepts for the parameter (in ``params`` and in every candidate of
    ``search.param_distributions``), and empty candidate lists.
    """
    estimator = make_estimator(config, task)
    problems = invalid_param_values(estimator, dict(config.params), "training.params")
    if config.search is not None:
        space = config.search.param_distributions
        field = "training.search.param_distributions"
        valid = estimator.get_params(deep=False)
        unknown = sorted(set(space) - set(valid))
        if unknown:
            problems.append(
                f"{field}: unknown parameter(s) {unknown} for {config.estimator}; "
                f"expected some of {sorted(valid)}"
            )
        empty = sorted(k for k, v in space.items() if not v)
        if empty:
            problems.append(f"{field}: {empty} must list at least one value")
        for name, candidates in space.items():
            for value in candidates:
                problems.extend(invalid_param_values(estimator, {name: value}, field))
    if problems:
        # The loader prints each line as its own bullet.
        raise ValueError("\n  - ".join(problems))


def _columns(features: list[FeatureSpec], kind: str) -> list[str]:
    return [f.name for f in features if f.kind == kind]


def _text_pipeline(max_features: int) -> Pipeline:
    """Fill missing text with '' and TF-IDF encode it (one column in, sparse matrix out).

    Missing text arrives as NaN from CSV and as None from Parquet; one imputer
    recognises only one marker, so there is one for each.
    """
    return Pipeline(
        [
            ("fill_nan", SimpleImputer(strategy="constant", fill_value="")),
            ("fill_none", SimpleImputer(missing_values=None, strategy="constant", fill_value="")),
            ("flatten", FunctionTransformer(np.ravel)),
            ("tfidf", TfidfVectorizer(max_features=max_features, sublinear_tf=True)),
        ]
    )


def build_preprocessor(
    features: list[FeatureSpec], estimator_name: str, max_text_features: int
) -> ColumnTransformer:
    """Column-wise encoding suited to the estimator family (see module docstring)."""
    numeric, categorical, text = (_columns(features, k) for k in ("numeric", "categorical", "text"))
    transformers: list[tuple[str, Any, Any]] = []
    if estimator_name in ("logistic_regression", "linear_regression"):
        if numeric:
            num = Pipeline(
                [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
            )
            transformers.append(("numeric", num, numeric))
        if categorical:
            cat = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                    (
                        "onehot",
                        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5),
                    ),
                ]
            )
            transformers.append(("categorical", cat, categorical))
        sparse_threshold = 0.3
    else:
        tree_numeric: Any = (
            "passthrough"
            if estimator_name == "hist_gradient_boosting"
            else SimpleImputer(strategy="median")
        )
        if numeric:
            transformers.append(("numeric", tree_numeric, numeric))
        if categorical:
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                max_categories=HGB_MAX_CATEGORIES,
            )
            if estimator_name == "random_forest":
                encoder.set_params(unknown_value=-1, encoded_missing_value=-1)
            transformers.append(("categorical", encoder, categorical))
        # Gradient boosting needs a dense matrix; forests take sparse TF-IDF as is.
        sparse_threshold = 0.0 if estimator_name == "hist_gradient_boosting" else 0.3
    for column in text:
        # The imputer needs a 2-D column; it is flattened again for TfidfVectorizer.
        transformers.append((f"text_{column}", _text_pipeline(max_text_features), [column]))
    return ColumnTransformer(transformers, sparse_threshold=sparse_threshold)


def build_model(features: list[FeatureSpec], config: TrainingConfig, task: str) -> Pipeline:
    """The full Pipeline: preprocessing plus the configured estimator.

    For gradient boosting the ordinal-encoded categorical columns are flagged as
    categorical by position, which follows the transformer order above:
    numeric columns first, then categorical ones.
    """
    estimator = make_estimator(config, task)
    if config.estimator == "hist_gradient_boosting":
        n_numeric = len(_columns(features, "numeric"))
        n_categorical = len(_columns(features, "categorical"))
        if n_categorical:
            estimator.set_params(
                categorical_features=list(range(n_numeric, n_numeric + n_categorical))
            )
    preprocessor = build_preprocessor(features, config.estimator, config.max_text_features)
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])
