"""What a run config may say, as strict pydantic models.

Every config file in ``configs/`` is parsed into :class:`RunConfig` before ZenML
starts, so a typo or a wrong type fails loudly with the field's path instead of
surfacing as a confusing error halfway through a pipeline run. All models use
``extra="forbid"`` for that reason.

The models are also passed to steps as parameters, so they must stay
JSON-serialisable (no paths that only exist on the client, no callables).
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["binary", "multiclass", "regression"]
FeatureKind = Literal["numeric", "categorical", "text"]
EstimatorName = Literal[
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "hist_gradient_boosting",
]

CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "precision", "recall", "f1", "accuracy")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: Metrics where a smaller value is better; gate thresholds on them are maxima.
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": CLASSIFICATION_METRICS,
    "multiclass": ("roc_auc", "precision", "recall", "f1", "accuracy"),
    "regression": REGRESSION_METRICS,
}
ESTIMATORS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("logistic_regression", "random_forest", "hist_gradient_boosting"),
    "multiclass": ("logistic_regression", "random_forest", "hist_gradient_boosting"),
    "regression": ("linear_regression", "random_forest", "hist_gradient_boosting"),
}


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(StrictModel):
    """One input column and the rules its values must follow."""

    name: str = Field(min_length=1)
    kind: FeatureKind
    min: float | None = Field(None, description="Smallest allowed value (numeric only).")
    max: float | None = Field(None, description="Largest allowed value (numeric only).")
    allowed: list[str] | None = Field(
        None, description="Allowed categories (categorical only); None accepts any."
    )
    max_null_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of nulls tolerated; a column that is all null always fails.",
    )

    @model_validator(mode="after")
    def _rules_fit_kind(self) -> FeatureSpec:
        if self.kind != "numeric" and (self.min is not None or self.max is not None):
            raise ValueError(f"feature '{self.name}': min/max only apply to numeric features")
        if self.kind != "categorical" and self.allowed is not None:
            raise ValueError(f"feature '{self.name}': allowed only applies to categorical features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"feature '{self.name}': min ({self.min}) is greater than max ({self.max})"
            )
        if self.allowed is not None and not self.allowed:
            raise ValueError(f"feature '{self.name}': allowed must list at least one category")
        return self


class SyntheticSource(StrictModel):
    """The built-in card-transaction fraud generator (seeded, reproducible)."""

    kind: Literal["synthetic"]
    rows: int = Field(ge=100, le=10_000_000)
    seed: int = 42
    fraud_rate: float = Field(0.01, gt=0.0, lt=0.5)
    shift: float = Field(
        0.0, ge=0.0, le=1.0, description="Distribution shift severity, 0 = reference data."
    )


class FileSource(StrictModel):
    """A CSV or Parquet file, local or on an fsspec URL (s3://, gs://).

    A relative ``path`` is resolved against the directory of the config file,
    so a config means the same thing whatever the working directory is.
    """

    kind: Literal["file"]
    path: str = Field(min_length=1)
    format: Literal["csv", "parquet"] | None = Field(
        None, description="Defaults to the file's suffix."
    )


DataSource = Annotated[SyntheticSource | FileSource, Field(discriminator="kind")]


class LeakageCheck(StrictModel):
    """The single-feature leakage probe run on (a sample of) the training split.

    A feature that alone predicts the target almost perfectly is far more often a
    leak (a row index on a sorted file, a field filled in after the outcome) than a
    gift; ``action: warn`` keeps the run going with a warning, ``off`` skips it.
    """

    action: Literal["fail", "warn", "off"] = "fail"
    max_auc: float = Field(
        0.99, gt=0.5, le=1.0, description="Classification: single-feature ROC AUC limit."
    )
    max_abs_spearman: float = Field(
        0.99, gt=0.0, le=1.0, description="Regression: single-feature |Spearman| limit."
    )
    sample_rows: int = Field(
        100_000, ge=100, description="Rows the probe looks at, so it stays cheap at 10M rows."
    )


class DataChecks(StrictModel):
    """Limits on the table as a whole (beyond the per-column rules)."""

    min_class_rows: int = Field(
        10, ge=1, description="Classification: rows each class needs in the whole table."
    )
    max_duplicate_fraction: float = Field(
        0.05, ge=0.0, le=1.0, description="Share of rows that exactly repeat an earlier row."
    )
    min_row_ratio: float = Field(
        0.5, gt=0.0, le=1.0, description="Rows at least this share of the reference's rows."
    )
    max_row_ratio: float = Field(
        2.0, ge=1.0, description="Rows at most this multiple of the reference's rows."
    )
    profile_margin: float = Field(
        0.1,
        ge=0.0,
        description="Inferred mode: observed ranges are widened by this share of their span.",
    )
    leakage: LeakageCheck = LeakageCheck()


class DataConfig(StrictModel):
    """Where the data comes from and what it must look like."""

    source: DataSource
    target: str = Field(min_length=1)
    task: Task
    features: list[FeatureSpec] | None = Field(
        None, description="Feature columns; omitted means inferred from the data and recorded."
    )
    target_classes: list[str] | None = Field(
        None, description="Allowed labels (classification); compared as strings."
    )
    target_min: float | None = None
    target_max: float | None = None
    positive_class: str | None = Field(
        None,
        description="Binary: the label that counts as positive. Default: the second of "
        "target_classes, else the label that sorts last (scikit-learn's classes_[1]).",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Columns that are never features (ids, notes)."
    )
    segments: list[str] = Field(
        default_factory=list,
        description="Columns kept with every dataset and holdout but never used as features "
        "(protected attributes the fairness gate reads).",
    )
    min_rows: int = Field(100, ge=1)
    checks: DataChecks = DataChecks()

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.features is not None:
            names = [f.name for f in self.features]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"features: duplicate names {duplicates}")
            if self.target in names:
                raise ValueError(f"features: the target '{self.target}' cannot also be a feature")
            if not names:
                raise ValueError(
                    "features: list at least one feature, or omit the key to infer them"
                )
        self._check_column_roles()
        if self.task != "binary" and self.positive_class is not None:
            raise ValueError("positive_class only applies to binary tasks")
        if (
            self.positive_class is not None
            and self.target_classes is not None
            and self.positive_class not in self.target_classes
        ):
            raise ValueError(
                f"positive_class: '{self.positive_class}' is not one of target_classes "
                f"{self.target_classes}"
            )
        if self.checks.min_row_ratio > self.checks.max_row_ratio:
            raise ValueError("checks: min_row_ratio is greater than max_row_ratio")
        if self.task == "regression" and self.target_classes is not None:
            raise ValueError("target_classes only apply to classification tasks")
        if self.task != "regression" and (
            self.target_min is not None or self.target_max is not None
        ):
            raise ValueError("target_min/target_max only apply to regression")
        if (
            self.task == "binary"
            and self.target_classes is not None
            and len(self.target_classes) != 2
        ):
            raise ValueError("target_classes: a binary task needs exactly 2 classes")
        return self

    def _check_column_roles(self) -> None:
        """A column has one role: target, feature, segment or excluded."""
        for key in ("exclude", "segments"):
            names: list[str] = getattr(self, key)
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{key}: duplicate names {repeated}")
            if self.target in names:
                raise ValueError(f"{key}: the target '{self.target}' cannot be listed here")
        both = sorted(set(self.exclude) & set(self.segments))
        if both:
            raise ValueError(f"exclude and segments both list {both}; a column has one role")
        if self.features is not None:
            features = {f.name for f in self.features}
            for key in ("exclude", "segments"):
                clash = sorted(features & set(getattr(self, key)))
                if clash:
                    role = "segment" if key == "segments" else "excluded"
                    raise ValueError(
                        f"{key}: {clash} also listed in features; "
                        f"a {role} column is never a feature"
                    )


class SplitConfig(StrictModel):
    """Holdout split; stratified on the target for classification."""

    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 42


ParamValue = float | int | str | bool | None


class SearchConfig(StrictModel):
    """Randomized hyperparameter search over the estimator's parameters."""

    n_iter: int = Field(8, ge=1, le=500)
    cv: int = Field(3, ge=2, le=20)
    param_distributions: dict[str, list[ParamValue]] = Field(
        default_factory=dict,
        description="Estimator parameter -> candidate values; empty uses built-in defaults.",
    )


class TrainingConfig(StrictModel):
    """The estimator and how to fit it."""

    estimator: EstimatorName
    params: dict[str, ParamValue] = Field(default_factory=dict)
    search: SearchConfig | None = None
    seed: int = 42
    max_text_features: int = Field(5000, ge=10)


class ThresholdCosts(StrictModel):
    """What each kind of mistake costs, for a cost-minimising threshold."""

    false_positive: float = Field(ge=0.0)
    false_negative: float = Field(ge=0.0)

    @model_validator(mode="after")
    def _some_cost(self) -> ThresholdCosts:
        if self.false_positive == 0 and self.false_negative == 0:
            raise ValueError("costs: at least one of false_positive, false_negative must be > 0")
        return self


class ThresholdRule(StrictModel):
    """How a binary model's decision threshold is chosen, on the training data only.

    scikit-learn's ``TunedThresholdClassifierCV`` searches the threshold by
    cross-validation on the training split (never the holdout), and the model is
    served with it, so predictions use the chosen threshold natively.
    """

    rule: Literal["max_f1", "min_precision", "min_recall", "min_cost"]
    value: float | None = Field(
        None, gt=0.0, lt=1.0, description="min_precision / min_recall: the floor to hold."
    )
    costs: ThresholdCosts | None = Field(None, description="min_cost: the cost of each mistake.")
    cv: int = Field(5, ge=2, le=20, description="Folds of the threshold search.")

    @model_validator(mode="after")
    def _arguments_fit_rule(self) -> ThresholdRule:
        needs_value = self.rule in ("min_precision", "min_recall")
        if needs_value and self.value is None:
            raise ValueError(f"rule '{self.rule}' needs 'value' (the floor, between 0 and 1)")
        if not needs_value and self.value is not None:
            raise ValueError(f"rule '{self.rule}' takes no 'value'")
        if self.rule == "min_cost" and self.costs is None:
            raise ValueError("rule 'min_cost' needs 'costs: {false_positive, false_negative}'")
        if self.rule != "min_cost" and self.costs is not None:
            raise ValueError(f"rule '{self.rule}' takes no 'costs'")
        return self


class EvaluationConfig(StrictModel):
    """How the model is scored on the holdout and which scores it must reach."""

    primary_metric: str = Field(
        description="The metric the search optimises and reports lead with."
    )
    decision_threshold: float | ThresholdRule = Field(
        0.5,
        description="Binary: a fixed probability above which a prediction is positive, or a "
        "rule that tunes it on the training data.",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Quality gate: metric -> minimum (or maximum for rmse/mae).",
    )


class BootstrapConfig(StrictModel):
    """A paired bootstrap over the compared rows: "better" must hold beyond noise."""

    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 0


class ComparisonConfig(StrictModel):
    """Champion vs challenger, scored on the same rows that neither trained on."""

    metric: str | None = Field(
        None, description="The metric compared; default evaluation.primary_metric."
    )
    min_improvement: float = Field(
        0.0,
        ge=0.0,
        description="How much the challenger must beat the champion by, in the metric's own "
        "units (direction-aware: for rmse/mae it must be this much lower).",
    )
    min_rows: int = Field(
        200, ge=1, description="Fewest rows unseen by both models that make a fair comparison."
    )
    bootstrap: BootstrapConfig | None = Field(
        None, description="If set, the lower end of the improvement's interval must clear "
        "min_improvement, not only its point estimate."
    )


class FairnessConfig(StrictModel):
    """The metric per value of a segment column; the best-worst gap must stay under a limit."""

    segment: str = Field(
        min_length=1, description="A feature or a data.segments column present in the holdout."
    )
    metric: str = Field(min_length=1, description="The metric computed per segment.")
    max_gap: float = Field(gt=0.0, description="Largest allowed best-minus-worst difference.")
    min_rows: int = Field(
        100, ge=1, description="Segments with fewer compared rows are reported, not judged."
    )
    insufficient: Literal["fail", "warn"] = Field(
        "fail",
        description="Fewer than two segments could be judged (below min_rows or an undefined "
        "metric), so no gap was measured: 'fail' refuses the challenger; 'warn' lets it pass "
        "with a warning in the gate's verdict, the comparison report and the run output.",
    )


class ServingConfig(StrictModel):
    """How the stable endpoint behaves (read by stacks with a local traffic splitter)."""

    port: int | None = Field(
        None,
        ge=1024,
        le=65535,
        description="The stable endpoint's port; omitted: a free port is chosen once and kept "
        "for this model (python run.py --status shows it).",
    )
    host: str = Field("127.0.0.1", min_length=1, description="Address the endpoint binds.")
    metrics_port: int | None = Field(
        None,
        ge=1024,
        le=65535,
        description="Loopback port of the endpoint's /metrics and /stats (never the clients' "
        "port); omitted: a free port is chosen once and kept for this model.",
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Larger request bodies are refused with 413."
    )
    smoke_rows: int = Field(
        20, ge=1, le=10_000, description="Compared rows sent to a new server before traffic."
    )
    startup_timeout: int = Field(
        180, ge=10, description="Seconds a new prediction server may take to become healthy."
    )
    drain_timeout: float = Field(
        30.0, gt=0.0, description="Seconds to wait for in-flight requests before stopping."
    )
    workers: int = Field(1, ge=1, le=16, description="Worker processes per prediction server.")
    replicas: int = Field(
        2,
        ge=1,
        le=8,
        description="Prediction servers per live version, each supervised; one dying costs no "
        "request while another answers.",
    )
    max_in_flight: int = Field(
        2,
        ge=1,
        le=1_000,
        description="Requests one replica holds at once (HAProxy maxconn per server); the rest "
        "wait in HAProxy's queue, so a health check never waits behind a deep backlog.",
    )
    max_queue: int = Field(
        20,
        ge=0,
        le=10_000,
        description="Requests waiting in HAProxy's queue per replica; beyond it a request is "
        "shed at once with 503 and Retry-After.",
    )
    queue_timeout: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="Seconds a queued request may wait for a replica before it is shed (503).",
    )
    retry_after: int = Field(
        1, ge=1, le=3_600, description="Seconds a shed client is told to wait (Retry-After)."
    )
    lease_seconds: float = Field(
        15.0,
        ge=3.0,
        le=3_600.0,
        description="A roll-out renews its lease this often (a third of it); if the deploy "
        "process stops renewing, every request goes back to the champion.",
    )


class LoadTestConfig(StrictModel):
    """A bounded, headless Locust run against the challenger's own server, before any traffic.

    Its figures are Locust's, measured by Locust's own client processes on this
    machine: they include the client's scheduling and JSON handling, not only
    the server's time (on 2 cores several times a lean loader's). Set the SLA
    with that in mind.
    """

    rate: float = Field(20.0, gt=0.0, le=10_000.0, description="Requests per second aimed at.")
    users: int = Field(
        4, ge=1, le=1_000, description="Locust users sharing the rate (each paced)."
    )
    duration: int = Field(20, ge=2, le=3_600, description="Seconds the load lasts.")
    rows_per_request: int = Field(1, ge=1, le=10_000, description="Holdout rows per request.")
    max_p99_ms: float = Field(1_000.0, gt=0.0, description="SLA: Locust's 99th percentile.")
    max_error_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="SLA: failed requests / requests."
    )
    min_requests: int = Field(
        20, ge=1, description="Fewer completed requests than this cannot show the SLA holds."
    )


class CanaryConfig(StrictModel):
    """A growing share of real traffic for the challenger, judged against the champion.

    Each step routes ``steps[i]`` percent to the challenger, waits until it has
    answered ``min_requests`` (at most ``max_wait`` seconds), then compares the
    window's figures the splitter counted for both versions. A check that fails
    is repeated on a new window; ``max_failed_checks`` failures in a row roll
    the challenger back. After the last step passes the challenger takes 100%.
    """

    steps: list[int] = Field(
        default_factory=lambda: [10, 50],
        min_length=1,
        description="Challenger's share per step, percent, strictly increasing, each 1..99.",
    )
    min_requests: int = Field(
        50, ge=1, description="Challenger requests a window needs before it is judged."
    )
    max_wait: float = Field(
        120.0, gt=0.0, description="Seconds a window may take to collect min_requests."
    )
    poll_interval: float = Field(
        1.0, gt=0.0, le=60.0, description="Seconds between reads of the splitter's figures."
    )
    max_error_rate_increase: float = Field(
        0.01, ge=0.0, le=1.0,
        description="Challenger's error rate (4xx + 5xx) may exceed the champion's by this much.",
    )
    max_latency_ms: float = Field(
        500.0, gt=0.0, description="Challenger's mean response time the splitter reports."
    )
    max_failed_checks: int = Field(
        2, ge=1, le=100, description="Failed checks in a row that trigger rollback."
    )
    too_little_traffic: Literal["rollback", "hold"] = Field(
        "rollback",
        description="When a window ends with fewer than min_requests: 'rollback' rejects the "
        "challenger; 'hold' routes all traffic back to the champion, keeps the challenger in "
        "staging (not rejected) and fails the run so it can be deployed again later.",
    )

    @field_validator("steps")
    @classmethod
    def _increasing_shares(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= s <= 99 for s in steps):
            raise ValueError(f"every step must be a share 1..99 percent, got {steps}")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        return steps


class DeploymentConfig(StrictModel):
    """The rules a challenger must pass to replace the production champion, and serving."""

    comparison: ComparisonConfig = ComparisonConfig()
    thresholds: dict[str, float] | None = Field(
        None, description="Absolute thresholds; default evaluation.thresholds (the training "
        "quality gate's rules)."
    )
    fairness: FairnessConfig | None = None
    serving: ServingConfig = ServingConfig()
    load_test: LoadTestConfig | None = Field(
        default_factory=LoadTestConfig,
        description="Locust against the challenger's own server before any traffic; null skips.",
    )
    canary: CanaryConfig | None = Field(
        default_factory=CanaryConfig,
        description="Widen the challenger's share in steps while a champion serves; null "
        "switches all traffic at once after the smoke test (and load test).",
    )


DriftMethod = Literal["psi", "jensenshannon", "wasserstein", "evidently"]
#: Per-column thresholds used when ``monitoring.drift.threshold`` is not set. PSI: 0.1-0.25
#: is the band risk teams call "moderate shift", 0.2 the usual alarm. JS distance and normed
#: Wasserstein: Evidently's own default (0.1).
DEFAULT_DRIFT_THRESHOLDS: dict[str, float] = {
    "psi": 0.2,
    "jensenshannon": 0.1,
    "wasserstein": 0.1,
    "evidently": 0.1,
}
_CRON_FIELD = r"(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*"


class DriftWindow(StrictModel):
    """Retrain only when ``k`` of the last ``n`` monitoring runs (this one included) drifted."""

    k: int = Field(ge=1, description="Drifted runs needed.")
    n: int = Field(ge=1, le=100, description="Runs looked at, this one included.")

    @model_validator(mode="after")
    def _k_fits(self) -> DriftWindow:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) cannot be larger than n ({self.n})")
        return self


class DriftRule(StrictModel):
    """When a batch counts as drifted, from statistics over the whole batch.

    ``psi``, ``jensenshannon`` and ``wasserstein`` are computed by the project on
    every row (steps/monitoring/statistics.py); ``evidently`` takes the per-column
    verdicts of Evidently's report, which sees the sample of ``report.sample_rows``.
    """

    method: DriftMethod = Field(
        "psi", description="Per-column statistic: psi (reference-quantile bins), jensenshannon, "
        "wasserstein (normed) or evidently (Evidently's own choice per column, on the sample)."
    )
    threshold: float | None = Field(
        None, gt=0.0, description="A column drifted when its score is at least this; default "
        "per method: psi 0.2, jensenshannon 0.1, wasserstein 0.1, evidently 0.1."
    )
    bins: int = Field(10, ge=2, le=100, description="Quantile bins for psi/jensenshannon.")
    drift_share: float = Field(
        0.5, gt=0.0, le=1.0, description="The batch drifted when at least this share of the "
        "columns drifted."
    )
    columns: list[str] = Field(
        default_factory=list, description="Columns whose drift alone marks the batch drifted."
    )
    quality_floor: dict[str, float] = Field(
        default_factory=dict, description="With labels in the batch: metric -> minimum (maximum "
        "for rmse/mae) of the production model on the batch; missing it fires the rule too."
    )
    window: DriftWindow | None = Field(
        None, description="Retrain only when k of the last n runs drifted (one noisy batch "
        "does not retrain)."
    )

    @property
    def column_threshold(self) -> float:
        """The per-column threshold in force."""
        return self.threshold if self.threshold is not None else DEFAULT_DRIFT_THRESHOLDS[self.method]


class DriftReportConfig(StrictModel):
    """The Evidently report for people: built on a seeded sample when the batch is large.

    50k rows: measured here, a 50k sample flagged the same columns as the whole frame
    (score differences <= 0.02) while the noise floor of undrifted columns sits near 0.01.
    """

    sample_rows: int = Field(50_000, ge=1_000, le=1_000_000)
    seed: int = 0


class RetrainConfig(StrictModel):
    """What a fired drift rule retrains on, and whether the new version is then deployed."""

    data: Literal["batch", "reference_and_batch", "source"] = Field(
        "reference_and_batch", description="batch: the labelled batch alone; "
        "reference_and_batch: the production version's training data plus the batch; "
        "source: data.source of this config (e.g. a fresh export)."
    )
    deploy: bool = Field(
        True, description="Run the deployment pipeline on the new version (its gates decide)."
    )


class ScheduleConfig(StrictModel):
    """A ZenML schedule for orchestrators that run them (Kubeflow, SageMaker)."""

    cron: str = Field(description="Five cron fields, e.g. '0 6 * * *' (06:00 UTC daily).")

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, cron: str) -> str:
        fields = cron.split()
        if len(fields) != 5 or not all(re.fullmatch(_CRON_FIELD, f) for f in fields):
            raise ValueError(
                f"'{cron}' is not a cron expression of 5 fields (minute hour day month weekday)"
            )
        return " ".join(fields)


class MonitoringConfig(StrictModel):
    """Batch inference, drift and quality checks, and what a fired rule does."""

    drift: DriftRule = DriftRule()
    report: DriftReportConfig = DriftReportConfig()
    retrain: RetrainConfig = RetrainConfig()
    chunk_rows: int = Field(
        500_000, ge=1_000, le=10_000_000,
        description="Batch inference reads, validates and scores this many rows at a time "
        "(validation has a fixed cost of about 0.1 s per chunk, whatever its size, on 2 cores; "
        "memory grows with it).",
    )
    schedule: ScheduleConfig | None = Field(
        None, description="Kubeflow/SageMaker: run monitoring on this schedule (local stacks "
        "use the GitHub Actions cron in .github/workflows/monitor.yml)."
    )


class ModelRegistration(StrictModel):
    """The ZenML Model (and MLflow registered model) that runs version."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    tags: list[str] = Field(default_factory=list)


class ResourceConfig(StrictModel):
    """Resources asked of orchestrators that schedule steps (ignored locally)."""

    cpu_count: float | None = Field(None, gt=0)
    gpu_count: int | None = Field(None, ge=0)
    memory: str | None = Field(None, pattern=r"^\d+(KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB)$")


class DockerConfig(StrictModel):
    """How remote orchestrators get the image their steps run in (unused locally).

    By default ZenML builds an image from the parent image plus the project's
    requirements and pushes it to the stack's container registry. ``skip_build``
    with a ``parent_image`` runs a prebuilt image as is (it must contain the
    project and its dependencies): the way to go where CI has no Docker engine.
    """

    parent_image: str | None = Field(None, min_length=1)
    skip_build: bool = False
    requirements: list[str] = Field(
        default_factory=list, description="extra pip requirements installed into the image"
    )
    apt_packages: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(
        default_factory=dict, description="environment variables set in the image"
    )

    @model_validator(mode="after")
    def _prebuilt_needs_image(self) -> DockerConfig:
        if self.skip_build and self.parent_image is None:
            raise ValueError(
                "docker.skip_build: true needs docker.parent_image (the prebuilt image)"
            )
        return self


class KubeflowConfig(StrictModel):
    """Settings only the Kubeflow orchestrator reads (``orchestrator.kubeflow``)."""

    synchronous: bool | None = Field(None, description="wait for the run to finish")
    timeout: int | None = Field(None, gt=0, description="seconds to wait when synchronous")
    user_namespace: str | None = Field(None, min_length=1)
    node_selectors: dict[str, str] = Field(
        default_factory=dict, description="Kubernetes node labels the step pods must match"
    )


class SagemakerConfig(StrictModel):
    """Settings only the SageMaker orchestrator reads (``orchestrator.sagemaker``)."""

    synchronous: bool | None = Field(None, description="wait for the run to finish")
    instance_type: str | None = Field(None, pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    volume_size_in_gb: int | None = Field(None, gt=0)
    max_runtime_in_seconds: int | None = Field(None, gt=0)
    environment: dict[str, str] = Field(default_factory=dict)
    pipeline_tags: dict[str, str] = Field(default_factory=dict)


class SettingsConfig(StrictModel):
    """Pipeline settings for whichever stack runs the config, scoped by flavor.

    ``docker`` and ``resources`` apply to any orchestrator that uses them; the
    ``orchestrator.<flavor>`` keys only to a stack whose orchestrator has that
    flavor (ZenML drops the others), so one config file serves every stack and
    no step or pipeline has to ask where it runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    docker: DockerConfig = DockerConfig()
    resources: ResourceConfig = ResourceConfig()
    kubeflow: KubeflowConfig | None = Field(None, alias="orchestrator.kubeflow")
    sagemaker: SagemakerConfig | None = Field(None, alias="orchestrator.sagemaker")


class RunConfig(StrictModel):
    """A whole run config file: one per environment, all sharing this schema."""

    data: DataConfig
    split: SplitConfig = SplitConfig()
    training: TrainingConfig
    evaluation: EvaluationConfig
    model: ModelRegistration
    deployment: DeploymentConfig = DeploymentConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    settings: SettingsConfig = SettingsConfig()

    @model_validator(mode="after")
    def _fits_task(self) -> RunConfig:
        task = self.data.task
        if self.training.estimator not in ESTIMATORS_BY_TASK[task]:
            raise ValueError(
                f"training.estimator: '{self.training.estimator}' does not fit task '{task}'; "
                f"expected one of {list(ESTIMATORS_BY_TASK[task])}"
            )
        allowed = METRICS_BY_TASK[task]
        if self.evaluation.primary_metric not in allowed:
            raise ValueError(
                f"evaluation.primary_metric: '{self.evaluation.primary_metric}' is not a "
                f"{task} metric; expected one of {list(allowed)}"
            )
        threshold = self.evaluation.decision_threshold
        if isinstance(threshold, float | int) and not 0.0 < threshold < 1.0:
            raise ValueError(
                f"evaluation.decision_threshold: {threshold} must be between 0 and 1 (exclusive)"
            )
        if isinstance(threshold, ThresholdRule) and task != "binary":
            raise ValueError(
                "evaluation.decision_threshold: a threshold rule only applies to binary tasks"
            )
        unknown = sorted(set(self.evaluation.thresholds) - set(allowed))
        if unknown:
            raise ValueError(
                f"evaluation.thresholds: unknown metric(s) {unknown} for task '{task}'; "
                f"expected some of {list(allowed)}"
            )
        self._check_deployment(allowed)
        self._check_monitoring(allowed)
        return self

    def _check_deployment(self, allowed: tuple[str, ...]) -> None:
        """Deployment metrics fit the task; a listed fairness segment is a known column."""
        deployment = self.deployment
        task = self.data.task
        metric = deployment.comparison.metric
        if metric is not None and metric not in allowed:
            raise ValueError(
                f"deployment.comparison.metric: '{metric}' is not a {task} metric; "
                f"expected one of {list(allowed)}"
            )
        unknown = sorted(set(deployment.thresholds or {}) - set(allowed))
        if unknown:
            raise ValueError(
                f"deployment.thresholds: unknown metric(s) {unknown} for task '{task}'; "
                f"expected some of {list(allowed)}"
            )
        fairness = deployment.fairness
        if fairness is None:
            return
        if fairness.metric not in allowed:
            raise ValueError(
                f"deployment.fairness.metric: '{fairness.metric}' is not a {task} metric; "
                f"expected one of {list(allowed)}"
            )
        if self.data.features is not None:
            known = {f.name for f in self.data.features} | set(self.data.segments)
            if fairness.segment not in known:
                raise ValueError(
                    f"deployment.fairness.segment: '{fairness.segment}' is neither a feature "
                    f"nor one of data.segments {self.data.segments}"
                )
        elif fairness.segment in self.data.exclude or fairness.segment == self.data.target:
            raise ValueError(
                f"deployment.fairness.segment: '{fairness.segment}' is excluded or the target; "
                "it must be a feature or a data.segments column"
            )

    def _check_monitoring(self, allowed: tuple[str, ...]) -> None:
        """Quality floors name metrics of the task; named drift columns are features."""
        drift = self.monitoring.drift
        unknown = sorted(set(drift.quality_floor) - set(allowed))
        if unknown:
            raise ValueError(
                f"monitoring.drift.quality_floor: unknown metric(s) {unknown} for task "
                f"'{self.data.task}'; expected some of {list(allowed)}"
            )
        if self.data.features is not None:
            features = {f.name for f in self.data.features}
            missing = [c for c in drift.columns if c not in features]
            if missing:
                raise ValueError(
                    f"monitoring.drift.columns: {missing} are not features of data.features"
                )

    @property
    def comparison_metric(self) -> str:
        """The metric champion and challenger are compared on."""
        return self.deployment.comparison.metric or self.evaluation.primary_metric

    @property
    def deployment_thresholds(self) -> dict[str, float]:
        """The absolute thresholds a challenger must meet (default: the training gate's)."""
        if self.deployment.thresholds is not None:
            return dict(self.deployment.thresholds)
        return dict(self.evaluation.thresholds)
