"""Evidently's data drift (and, with labels, quality) report, for people.

The monitoring decision is made from statistics over the whole batch
(steps/monitoring/statistics.py); this report is what a person opens to see
*why*. Evidently is slow on large frames (45 s at 1M rows), so both sides are
reduced to a recorded, seeded sample first, and the figures the pipeline keeps
(per-column method, threshold, score and verdict; quality of the current batch)
are read back from the same snapshot that drew the HTML, so page and figures
never disagree.

The current Evidently API is called directly (``evidently.Report``, presets), not
``evidently.legacy`` nor ZenML's integration. ``import evidently`` takes 5-7 s, so
it happens inside :func:`run_report` only; the models here are imported by steps
and configs that must stay fast to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from configs.schema import FeatureSpec
from steps.data.inference import label_text

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
DRIFTED_COLUMNS_COUNT = "evidently:metric_v2:DriftedColumnsCount"
#: Methods Evidently applies to numeric columns only; categoricals then get
#: Jensen-Shannon, a distance in [0, 1] with the same default threshold (0.1).
NUMERIC_ONLY_METHODS = frozenset({"wasserstein"})
CATEGORICAL_FALLBACK_METHOD = "jensenshannon"
REPORT_METHODS = frozenset({"psi", "jensenshannon", "wasserstein"})
#: Evidently metric type (after ``metric_v2:``) -> the project's metric name
#: (configs.schema.METRICS_BY_TASK), so quality floors can be checked against it.
QUALITY_NAMES: dict[str, str] = {
    "Accuracy": "accuracy",
    "Precision": "precision",
    "Recall": "recall",
    "F1Score": "f1",
    "RocAuc": "roc_auc",
    "LogLoss": "log_loss",
    "RMSE": "rmse",
    "MAE": "mae",
    "R2Score": "r2",
    "MeanError": "mean_error",
    "AbsMaxError": "abs_max_error",
}
_DRIFTED_STATUSES = frozenset({"FAIL", "WARNING"})
_PASSED_STATUSES = frozenset({"SUCCESS"})


class SampleInfo(BaseModel):
    """Which rows Evidently saw: ``rows`` of ``of_rows``, drawn with ``seed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int
    of_rows: int
    seed: int


class ReportColumn(BaseModel):
    """One column's drift verdict, as Evidently's report shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


class ReportFigures(BaseModel):
    """What the pipeline keeps from the report (JSON-serialisable, queryable on the run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drifted_share: float
    drifted_count: int
    columns: list[ReportColumn]
    quality: dict[str, float] = Field(default_factory=dict)
    reference_sample: SampleInfo
    current_sample: SampleInfo


class ReportInputs(BaseModel):
    """How to build the report: which columns, which task, which drift rule, which sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[FeatureSpec]
    target: str | None = Field(
        description="None, or a target missing from the current batch: no quality section."
    )
    task: Literal["binary", "multiclass", "regression"]
    prediction: str | None = Field(
        None, description="Predicted label (or value) column, present in both frames."
    )
    positive_class: str | None = Field(
        None,
        description="Binary: the label counted as positive, as the config spells it "
        "(data.positive_class, recorded on the dataset info). None: the label that sorts "
        "last, scikit-learn's classes_[1].",
    )
    method: str | None = Field(
        None,
        description="None: Evidently's own choice per column; else psi, jensenshannon "
        "or wasserstein (categoricals then use jensenshannon).",
    )
    threshold: float | None = Field(None, gt=0.0)
    drift_share: float = Field(0.5, gt=0.0, le=1.0)
    sample_rows: int = Field(50_000, ge=1)
    seed: int = 0

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        if value is not None and value not in REPORT_METHODS:
            raise ValueError(
                f"method must be one of {sorted(REPORT_METHODS)} or None, got {value!r}"
            )
        return value


def seeded_sample(frame: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, SampleInfo]:
    """A uniform sample of ``rows`` rows without replacement, in the frame's own order.

    Deterministic for a seed, so a report can be rebuilt from the recorded
    :class:`SampleInfo`; positions are sorted so time-ordered data stays ordered.
    The whole frame (the same object) comes back when it is not larger than ``rows``.
    """
    if rows < 1:
        raise ValueError(f"sample rows must be at least 1, got {rows}")
    total = len(frame)
    if total <= rows:
        return frame, SampleInfo(rows=total, of_rows=total, seed=seed)
    positions = np.sort(np.random.default_rng(seed).choice(total, size=rows, replace=False))
    return frame.iloc[positions], SampleInfo(rows=rows, of_rows=total, seed=seed)


def drift_columns(features: Sequence[FeatureSpec]) -> tuple[list[str], list[str]]:
    """Numerical and categorical feature names, in spec order; text features are left out.

    Declared explicitly because Evidently's own typing calls 0/1 and small-integer
    columns categorical, and would drift the target too.
    """
    numerical = [f.name for f in features if f.kind == "numeric"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    return numerical, categorical


def drift_preset_options(
    method: str | None, threshold: float | None, drift_share: float
) -> dict[str, Any]:
    """Keyword arguments for ``DataDriftPreset`` (besides ``columns``).

    A numeric-only method (wasserstein) given as ``method`` makes Evidently raise on
    the first categorical column, so it goes to ``num_method`` and categoricals get
    :data:`CATEGORICAL_FALLBACK_METHOD`. The threshold applies to every column, as
    Evidently reads it: a distance drifts at or above it, a p-value below it.
    """
    options: dict[str, Any] = {"drift_share": drift_share}
    if threshold is not None:
        options["threshold"] = threshold
    if method in NUMERIC_ONLY_METHODS:
        options |= {"num_method": method, "cat_method": CATEGORICAL_FALLBACK_METHOD}
    elif method is not None:
        options["method"] = method
    return options


def as_strings(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` as object strings, missing values kept missing.

    Parquet and the generator give pandas ``category`` columns, CSV gives object
    strings; Evidently bins them differently unless both sides look the same.
    """
    converted = frame.copy()
    for name in columns:
        values = frame[name].astype(object)
        converted[name] = values.where(values.isna(), values.astype(str))
    return converted


def quality_wanted(reference: pd.DataFrame, current: pd.DataFrame, inputs: ReportInputs) -> bool:
    """Whether the report gets a quality section: labels in the batch and predictions to judge.

    A missing target in the current batch is the normal unlabelled case; a
    prediction or target missing from the reference is a caller's bug, named here
    instead of deep inside Evidently.
    """
    if inputs.target is None or inputs.target not in current.columns or inputs.prediction is None:
        return False
    for side, frame in (("reference", reference), ("current", current)):
        missing = [c for c in (inputs.target, inputs.prediction) if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the {side} frame has no column(s) {missing}: a quality report needs the target "
                f"and the prediction in both frames"
            )
    return True


def label_strings(values: pd.Series) -> pd.Series:
    """Class labels as the config spells them (``"1"`` for 1 and 1.0), missing kept missing.

    Evidently reads a float label column as probabilities and keys its per-label tables
    by the exact value, so 1 (a Parquet reference) and 1.0 or "1" (a CSV batch) would be
    three labels; as text they are one, and the positive label is one string.
    """
    objects = values.astype(object)
    return objects.where(objects.isna(), objects.map(label_text))


def report_positive_label(labels: pd.Series, positive_class: str | None) -> str:
    """Which of ``labels`` (as :func:`label_strings` spells them) Evidently counts as positive.

    ``positive_class`` is the one the training resolved and recorded (data.positive_class;
    see steps/data/inference.resolve_positive_class), matched as training matches it
    (:func:`~steps.evaluation.metrics.positive_label`: "1" names 1 and 1.0); None falls
    back to the same default, the label that sorts last among the values as they are (1
    over 0, "yes" over "no", 10 over 2).
    Evidently's own default is the integer 1, which is no label at all of a yes/no target
    (its report then raises ``KeyError: 1``) and the wrong one when the positive class is 0.
    Raises DataValidationError when the configured class is not among the labels.
    """
    from steps.evaluation.metrics import positive_label

    present = pd.unique(labels.dropna().astype(object))
    try:
        ordered = list(np.sort(present))
    except TypeError:  # mixed types: order them as text
        ordered = sorted(present, key=str)
    return label_text(positive_label(np.asarray(ordered, dtype=object), positive_class))


def _missing_features(frame: pd.DataFrame, names: Sequence[str], side: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"the {side} frame lacks feature column(s) {missing}")


def run_report(reference: pd.DataFrame, current: pd.DataFrame, inputs: ReportInputs) -> Snapshot:
    """Run Evidently on the given (already sampled) frames; return its snapshot.

    Tests are included because per-column verdicts exist only as tests; the
    quality preset's own tests (current vs reference within 20 %) are left out, so
    the page shows no verdict the project's quality floor does not make.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical, categorical = drift_columns(inputs.features)
    names = [f.name for f in inputs.features if f.kind != "text"]
    _missing_features(reference, names, "reference")
    _missing_features(current, names, "current")
    labelled = quality_wanted(reference, current, inputs)
    keep = list(dict.fromkeys(names + ([inputs.target, inputs.prediction] if labelled else [])))
    current, reference = current[keep], reference[keep]
    positive: str | None = None
    if labelled and inputs.task == "binary":  # the labels as they are: 10 sorts after 2
        positive = report_positive_label(
            _all_labels(reference, current, inputs), inputs.positive_class
        )
    if labelled and inputs.task != "regression":
        current, reference = _labels_as_text(current, inputs), _labels_as_text(reference, inputs)
    classification, regression, quality = (
        _task_parts(inputs, positive) if labelled else (None, None, [])
    )
    definition = DataDefinition(
        numerical_columns=numerical,
        categorical_columns=categorical,
        classification=classification,
        regression=regression,
    )
    drift = DataDriftPreset(
        columns=names, **drift_preset_options(inputs.method, inputs.threshold, inputs.drift_share)
    )
    report = Report([drift, *quality], include_tests=True)
    return report.run(
        Dataset.from_pandas(as_strings(current, categorical), data_definition=definition),
        Dataset.from_pandas(as_strings(reference, categorical), data_definition=definition),
    )


def _labels_as_text(frame: pd.DataFrame, inputs: ReportInputs) -> pd.DataFrame:
    """``frame`` with the target and prediction columns as :func:`label_strings`."""
    assert inputs.target is not None and inputs.prediction is not None
    converted = frame.copy()
    for column in dict.fromkeys((inputs.target, inputs.prediction)):
        converted[column] = label_strings(frame[column])
    return converted


def _all_labels(reference: pd.DataFrame, current: pd.DataFrame, inputs: ReportInputs) -> pd.Series:
    """Every target and predicted label of both frames, in one series."""
    assert inputs.target is not None and inputs.prediction is not None
    columns = (inputs.target, inputs.prediction)
    return pd.concat(
        [frame[c] for frame in (reference, current) for c in columns], ignore_index=True
    )


def _task_parts(
    inputs: ReportInputs, positive: str | None
) -> tuple[list[Any] | None, list[Any] | None, list[Any]]:
    """The data definition's classification / regression entries and the quality preset.

    Binary gets ``pos_label`` (``positive``, a label as text) and predicted labels only,
    no probabilities: given a probability column, Evidently 0.7 re-derives the labels at
    0.5 instead of the served model's threshold, so its precision and recall would not be
    the served model's.
    """
    from evidently import BinaryClassification, MulticlassClassification, Regression

    assert inputs.target is not None and inputs.prediction is not None
    if inputs.task == "regression":
        return (
            None,
            [Regression(target=inputs.target, prediction=inputs.prediction)],
            [_regression()],
        )
    task: Any
    if inputs.task == "binary":
        task = BinaryClassification(
            target=inputs.target, prediction_labels=inputs.prediction, pos_label=positive
        )
    else:
        task = MulticlassClassification(target=inputs.target, prediction_labels=inputs.prediction)
    return [task], None, [_classification()]


def _classification() -> Any:
    """``ClassificationPreset`` without its tests.

    Evidently 0.7.23 turns ``include_tests=False`` into ``[]`` for the by-label
    metrics, which expect a dict and raise; an explicit empty dict means "no tests".
    """
    from evidently.presets import ClassificationPreset

    no_tests: dict[Any, Any] = {}
    return ClassificationPreset(
        include_tests=False,
        f1score_by_label_tests=no_tests,
        precision_by_label_tests=no_tests,
        recall_by_label_tests=no_tests,
        rocauc_by_label_tests=no_tests,
    )


def _regression() -> Any:
    """``RegressionPreset`` without its tests.

    With ``include_tests=False`` alone, Evidently 0.7.23 renders MAPE, AbsMaxError
    and R2 with their default tests, a different metric id than it computed, and
    raises ``KeyError``; explicit empty test lists keep both ids the same.
    """
    from evidently.core.metric_types import MeanStdMetricTests
    from evidently.presets import RegressionPreset

    return RegressionPreset(
        include_tests=False,
        mean_error_tests=MeanStdMetricTests(mean=[], std=[]),
        mape_tests=MeanStdMetricTests(mean=[], std=[]),
        mae_tests=MeanStdMetricTests(mean=[], std=[]),
        rmse_tests=[],
        r2score_tests=[],
        abs_max_error_tests=[],
    )


def _status(test: Mapping[str, Any]) -> str:
    """A test's status as text (``snapshot.dict()`` holds enum members)."""
    status = test.get("status")
    return str(getattr(status, "value", status))


def drift_figures(snapshot: Mapping[str, Any]) -> tuple[float, int, list[ReportColumn]]:
    """Share and count of drifted columns, and each column's verdict, from ``snapshot.dict()``.

    The verdict is the status of the column's drift test (linked by metric id),
    never re-derived from the score: p-value methods drift *below* the threshold,
    distances at or above it, and only Evidently knows which one it picked.
    """
    metrics = list(snapshot.get("metrics", []))
    statuses = {
        t["metric_config"]["metric_id"]: _status(t)
        for t in snapshot.get("tests", [])
        if t.get("metric_config", {}).get("params", {}).get("type") == VALUE_DRIFT
    }
    columns = []
    for metric in metrics:
        config = metric["config"]
        if config["type"] != VALUE_DRIFT:
            continue
        status = statuses.get(metric["id"])
        if status not in _DRIFTED_STATUSES | _PASSED_STATUSES:
            raise ValueError(
                f"no drift verdict for column {config['column']!r} (test status {status!r}); "
                f"the report must be run with include_tests=True"
            )
        columns.append(
            ReportColumn(
                column=config["column"],
                method=str(config["method"]),
                threshold=float(config["threshold"]),
                score=float(metric["value"]),
                drifted=status in _DRIFTED_STATUSES,
            )
        )
    counts = [m["value"] for m in metrics if m["config"]["type"] == DRIFTED_COLUMNS_COUNT]
    if len(counts) != 1:
        raise ValueError(f"expected one {DRIFTED_COLUMNS_COUNT} metric, found {len(counts)}")
    return float(counts[0]["share"]), int(counts[0]["count"]), columns


def quality_figures(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """The current batch's quality metrics from ``snapshot.dict()``, under the project's names.

    Binary precision/recall/f1 are for the positive label (``ReportInputs.positive_class``,
    the one training recorded, whatever its spelling: "yes", 0, 1); multiclass ones are
    Evidently's macro averages; MAE is the mean absolute error (Evidently also
    gives its spread). ``roc_auc`` needs probabilities, which this report is not
    given, so it is absent for label predictions.
    """
    quality: dict[str, float] = {}
    for metric in snapshot.get("metrics", []):
        kind = str(metric["config"]["type"]).rpartition(":")[2]
        name = QUALITY_NAMES.get(kind)
        if name is None:
            continue
        value = metric["value"]
        number = value.get("mean") if isinstance(value, Mapping) else value
        if number is not None and np.isfinite(float(number)):
            quality[name] = float(number)
    return quality


def build_report(
    reference: pd.DataFrame, current: pd.DataFrame, inputs: ReportInputs
) -> tuple[str, ReportFigures]:
    """The report's self-contained HTML and its figures, on seeded samples of both frames.

    Both frames are sampled with ``inputs.seed``; the HTML (about 5 MB, scripts
    inlined) needs no network to open.
    """
    reference_part, reference_sample = seeded_sample(reference, inputs.sample_rows, inputs.seed)
    current_part, current_sample = seeded_sample(current, inputs.sample_rows, inputs.seed)
    snapshot = run_report(reference_part, current_part, inputs)
    content = snapshot.dict()
    share, count, columns = drift_figures(content)
    figures = ReportFigures(
        drifted_share=share,
        drifted_count=count,
        columns=columns,
        quality=quality_figures(content),
        reference_sample=reference_sample,
        current_sample=current_sample,
    )
    return snapshot.get_html_str(as_iframe=False), figures
