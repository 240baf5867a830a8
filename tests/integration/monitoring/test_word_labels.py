"""Monitoring a labelled batch whose binary labels are words, with real Evidently and real models.

Evidently 0.7's ``BinaryClassification`` counts the integer 1 as positive unless told
otherwise: a "yes"/"no" target has no such label (``monitor`` crashed in drift_report with
``KeyError: 1``), and a 0/1 target whose positive class is 0 was scored for the wrong class
without a word. Here public data published as CSV with pandas' index column (scikit-learn's
breast cancer set) and the project's own generator's transactions are labelled "yes"/"no",
read back by the project's loader, described and trained on by the training's own code (a
tuned threshold, so the positive class decides the predictions), and monitored by the
functions the monitoring steps call. The same rows labelled 1/0, and 0/1 with
``positive_class: "0"``, must give the same quality figures, number for number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from configs.schema import (
    DataConfig,
    FileSource,
    MonitoringConfig,
    SplitConfig,
    ThresholdRule,
    TrainingConfig,
)
from steps.data.info import DatasetInfo, describe_dataset
from steps.data.loading import load_source
from steps.data.synthetic import FRAUD_TARGET, generate_transactions
from steps.monitoring.quality import batch_quality
from steps.monitoring.reference import ProductionInputs
from steps.monitoring.report import ReportFigures, ReportInputs, build_report
from steps.monitoring.report_inputs import PREDICTION_COLUMN, report_figures_and_html
from steps.training.training import fit_model, split_holdout

#: What Evidently's label report gives and the project's metrics define alike.
DECISION_METRICS = ("accuracy", "precision", "recall", "f1")
YES_NO = {1: "yes", 0: "no"}


@dataclass(frozen=True)
class Labelled:
    """A trained model, what training recorded about its data, and a labelled batch."""

    model: Any
    info: DatasetInfo
    reference: pd.DataFrame
    batch: pd.DataFrame

    @property
    def inputs(self) -> ProductionInputs:
        return ProductionInputs(
            version="1", model=self.model, info=self.info, reference=self.reference
        )


def publish(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as data sets are often published: CSV with pandas' index column."""
    frame.to_csv(path)
    return path


def train_on(path: Path, target: str, positive_class: str) -> tuple[Any, DatasetInfo, pd.DataFrame]:
    """Load, describe and fit as the training pipeline does; the model, info and train split."""
    config = DataConfig(
        source=FileSource(kind="file", path=str(path)),
        target=target,
        task="binary",
        positive_class=positive_class,
        min_rows=100,
    )
    frame, source = load_source(config.source, str(path.parent))
    info = describe_dataset(frame, source, config)
    names = [f.name for f in info.features]
    train, _ = split_holdout(frame, target, "binary", SplitConfig(), [*names, target])
    model = fit_model(
        train,
        info.features,
        target,
        "binary",
        TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 40}),
        "roc_auc",
        decision_threshold=ThresholdRule(rule="max_f1", cv=3),
        positive_class=info.positive_class,
    ).model
    return model, info, train


def labelled_pair(
    directory: Path,
    data: pd.DataFrame,
    batch: pd.DataFrame,
    target: str,
    words: dict[int, str],
) -> tuple[Labelled, Labelled]:
    """The same rows and batch labelled with words ("yes" positive) and with 1/0 ("1")."""
    pair = []
    for name, mapping, positive in (("words", words, "yes"), ("numbers", None, "1")):
        labels = data.copy()
        scored = batch.copy()
        if mapping is not None:
            labels[target] = labels[target].map(mapping)
            scored[target] = scored[target].map(mapping)
        path = publish(labels, directory / f"{name}.csv")
        batch_path = publish(scored, directory / f"{name}-batch.csv")
        model, info, train = train_on(path, target, positive)
        read_batch, _ = load_source(FileSource(kind="file", path=str(batch_path)), ".")
        pair.append(Labelled(model=model, info=info, reference=train, batch=read_batch))
    return pair[0], pair[1]


def breast_cancer(directory: Path) -> tuple[Labelled, Labelled]:
    """Malignant (scikit-learn's 0) is "yes" and 1; a held-out fifth of the rows is the batch."""
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = 1 - frame["target"]  # 1: malignant, the class a screening looks for
    rng = np.random.default_rng(3)
    in_batch = rng.random(len(frame)) < 0.2
    data, batch = frame[~in_batch].reset_index(drop=True), frame[in_batch].reset_index(drop=True)
    return labelled_pair(directory, data, batch, "target", YES_NO)


def transactions(directory: Path) -> tuple[Labelled, Labelled]:
    """The generator's transactions (5 % fraud) and a drifted batch, fraud "yes" or 1."""
    data = generate_transactions(3_000, seed=21, fraud_rate=0.05)
    batch = generate_transactions(1_500, seed=22, fraud_rate=0.05, shift=0.5)
    for frame in (data, batch):
        frame[FRAUD_TARGET] = frame[FRAUD_TARGET].astype(int)
    return labelled_pair(directory, data, batch, FRAUD_TARGET, YES_NO)


SOURCES: dict[str, Callable[[Path], tuple[Labelled, Labelled]]] = {
    "breast_cancer": breast_cancer,
    "transactions": transactions,
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(words, numbers) for one data source, each trained once for the module."""
    directory = tmp_path_factory.mktemp(request.param)
    return SOURCES[request.param](directory)


@pytest.fixture(scope="module")
def reports(pair: tuple[Labelled, Labelled]) -> tuple[ReportFigures, ReportFigures]:
    """The drift_report step's figures for both labellings, real Evidently each time."""
    monitoring = MonitoringConfig()
    words, numbers = pair
    return (
        report_figures_and_html(words.inputs, words.batch, monitoring)[1],
        report_figures_and_html(numbers.inputs, numbers.batch, monitoring)[1],
    )


def test_the_data_really_is_labelled_with_words(pair: tuple[Labelled, Labelled]) -> None:
    words, numbers = pair
    assert set(words.batch[words.info.target]) == {"yes", "no"}
    assert words.info.positive_class == "yes" and numbers.info.positive_class == "1"
    assert list(words.model.classes_) == ["no", "yes"]
    assert "Unnamed: 0" not in {f.name for f in words.info.features}  # the CSV's index column
    # The two models are the same model: every prediction maps across.
    features = [f.name for f in words.info.features]
    predicted = pd.Series(numbers.model.predict(numbers.batch[features])).map(YES_NO)
    np.testing.assert_array_equal(words.model.predict(words.batch[features]), predicted)


def test_the_report_of_a_word_labelled_batch_has_its_quality(
    reports: tuple[ReportFigures, ReportFigures],
) -> None:
    words, _ = reports
    assert set(words.quality) >= set(DECISION_METRICS)
    assert all(0.0 <= words.quality[m] <= 1.0 for m in DECISION_METRICS)


def test_words_and_numbers_give_the_same_report_figures(
    reports: tuple[ReportFigures, ReportFigures],
) -> None:
    words, numbers = reports
    assert words.quality == numbers.quality
    assert words.columns == numbers.columns


def test_monitoring_quality_is_about_the_positive_class(pair: tuple[Labelled, Labelled]) -> None:
    """The figures the drift rule's quality floors read: "yes" is what recall is about."""
    words, numbers = pair
    quality = batch_quality(words.model, words.batch, words.info)
    features = [f.name for f in words.info.features]
    actual = words.batch[words.info.target].to_numpy() == "yes"
    flagged = words.model.predict(words.batch[features]) == "yes"
    probability = words.model.predict_proba(words.batch[features])[:, 1]  # classes_: no, yes
    assert quality["recall"] == pytest.approx(recall_score(actual, flagged))
    assert quality["precision"] == pytest.approx(precision_score(actual, flagged))
    assert quality["f1"] == pytest.approx(f1_score(actual, flagged))
    assert quality["roc_auc"] == pytest.approx(roc_auc_score(actual, probability))
    assert quality["positive_rate"] == pytest.approx(actual.mean())
    assert quality == batch_quality(numbers.model, numbers.batch, numbers.info)


def test_the_report_and_the_monitoring_quality_agree(
    pair: tuple[Labelled, Labelled], reports: tuple[ReportFigures, ReportFigures]
) -> None:
    """The batch is smaller than the report's sample, so both saw every row."""
    words, _ = pair
    assert reports[0].current_sample.rows == len(words.batch)
    quality = batch_quality(words.model, words.batch, words.info)
    for metric in DECISION_METRICS:
        assert reports[0].quality[metric] == pytest.approx(quality[metric]), metric


def test_positive_class_zero_is_honoured_by_the_report(pair: tuple[Labelled, Labelled]) -> None:
    """0/1 labels whose positive class is 0 (scikit-learn's breast cancer set as published).

    Evidently's default (1) would report precision and recall of the other class.
    """
    words, _ = pair
    features = [f.name for f in words.info.features]
    frames = []
    for frame in (words.reference, words.batch):
        scored = frame.copy()
        scored[PREDICTION_COLUMN] = words.model.predict(frame[features])
        frames.append(scored)
    target = words.info.target
    flipped = [
        frame.assign(**{c: frame[c].map({"yes": 0, "no": 1}) for c in (target, PREDICTION_COLUMN)})
        for frame in frames
    ]

    def quality(reference: pd.DataFrame, current: pd.DataFrame, positive: str) -> dict[str, float]:
        inputs = ReportInputs(
            features=list(words.info.features),
            target=target,
            task="binary",
            prediction=PREDICTION_COLUMN,
            positive_class=positive,
        )
        return build_report(reference, current, inputs)[1].quality

    by_words = quality(frames[0], frames[1], "yes")
    by_zero = quality(flipped[0], flipped[1], "0")
    assert by_zero == by_words
    actual = frames[1][target] == "yes"
    flagged = frames[1][PREDICTION_COLUMN] == "yes"
    assert by_zero["recall"] == pytest.approx(recall_score(actual, flagged))
    assert by_zero["accuracy"] == pytest.approx(accuracy_score(actual, flagged))
    # Had the report counted 1 ("no") as positive, recall would be this instead:
    assert by_zero["recall"] != pytest.approx(recall_score(~actual, ~flagged))
