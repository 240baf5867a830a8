"""A fairness gate that could judge fewer than two segments says so: it fails, or warns.

Seen on a real public data set: of two segments one had 38 compared rows (ROC AUC 0.31),
so only one was judged, no gap was measured, and the gate said "passed". Now
``deployment.fairness.insufficient`` decides: ``fail`` (the default) refuses the
challenger, ``warn`` lets it pass with a warning in the verdict, the decision, the
comparison report and the run output; either way every segment is named with its rows and
why it was not judged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from configs.loader import parse_run_config
from configs.schema import FairnessConfig, TrainingConfig
from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.promotion.comparison import FairRows, SegmentFigure
from steps.promotion.evaluation import CandidateEvaluation, LoadedPair, evaluate_challenger
from steps.promotion.report import comparison_report_html
from steps.promotion.rules import (
    champion_verdict,
    decide,
    fair_comparison_verdict,
    fairness_verdict,
)
from steps.promotion.step import PromotionRejectedError, fairness_gate
from steps.training.training import fit_model, split_holdout
from tests.unit.configs.test_loader import _local

#: The case as it was seen: 'male' has too few rows to be judged, so no gap exists.
SEX = [
    SegmentFigure(value="female", rows=812, metric=0.84, judged=True),
    SegmentFigure(
        value="male",
        rows=38,
        metric=0.31,
        judged=False,
        note="fewer than deployment.fairness.min_rows=100",
    ),
]
MESSAGE = (
    "fairness on 'sex' could not be judged: 1 of 2 segments has enough rows and a defined "
    "roc_auc (min_rows 100), and a gap needs 2: 'female' 812 rows judged, 'male' 38 rows "
    "not judged (fewer than min_rows)"
)
FAIR = FairRows(
    rows=pd.DataFrame({"x": range(850)}), holdout_rows=850, seen_by_champion=0, hashed_columns=[]
)


def _rule(**changes: object) -> FairnessConfig:
    settings: dict[str, object] = {"segment": "sex", "metric": "roc_auc", "max_gap": 0.1}
    return FairnessConfig.model_validate(settings | changes)


# --- the rule -------------------------------------------------------------------------------


def test_by_default_one_judged_segment_fails_and_names_every_segment() -> None:
    verdict = fairness_verdict(SEX, _rule())
    assert not verdict.passed
    assert verdict.warnings == []
    [reason] = verdict.reasons
    assert reason.startswith(MESSAGE)
    assert "deployment.fairness.insufficient: warn" in reason
    assert "deployment.fairness.min_rows" in reason
    decision = decide([verdict])
    assert not decision.promoted and decision.failed_gate == "fairness"
    assert MESSAGE in decision.reason()


def test_warn_passes_with_the_same_message_as_a_warning() -> None:
    verdict = fairness_verdict(SEX, _rule(insufficient="warn"))
    assert verdict.passed and verdict.reasons == []
    [warning] = verdict.warnings
    assert warning.startswith(MESSAGE)
    assert "deployment.fairness.insufficient: warn" in warning
    assert verdict.outcome() == "passed with a warning"
    summary = verdict.summary()
    assert summary.startswith("fairness gate passed with a warning")
    assert f"  WARNING: {warning}" in summary.splitlines()
    decision = decide([verdict])
    assert decision.promoted
    assert decision.warnings() == [f"fairness: {warning}"]
    assert MESSAGE in decision.reason() and "WARNING" in decision.reason()


def test_every_reason_a_segment_was_not_judged_is_given() -> None:
    segments = [
        SegmentFigure(value="a", rows=500, metric=0.9, judged=True),
        SegmentFigure(value="b", rows=300, metric=None, judged=False, note="undefined"),
        SegmentFigure(value="<null>", rows=20, metric=None, judged=False, note="both"),
    ]
    [reason] = fairness_verdict(segments, _rule(segment="region", min_rows=100)).reasons
    assert "1 of 3 segments has enough rows and a defined roc_auc (min_rows 100)" in reason
    assert "'a' 500 rows judged" in reason
    assert "'b' 300 rows not judged (roc_auc undefined, e.g. one class only)" in reason
    assert (
        "'<null>' 20 rows not judged (fewer than min_rows; roc_auc undefined, e.g. one class only)"
    ) in reason


def test_no_judged_segment_at_all_fails_too() -> None:
    segments = [
        SegmentFigure(value="a", rows=50, metric=0.7, judged=False, note="small"),
        SegmentFigure(value="b", rows=40, metric=0.6, judged=False, note="small"),
    ]
    verdict = fairness_verdict(segments, _rule())
    assert not verdict.passed
    assert "0 of 2 segments have enough rows" in verdict.reasons[0]
    assert verdict.figures["judged_segments"] == 0


def test_two_judged_segments_are_judged_on_their_gap_whatever_insufficient_says() -> None:
    segments = [*SEX, SegmentFigure(value="other", rows=400, metric=0.80, judged=True)]
    for insufficient in ("fail", "warn"):
        verdict = fairness_verdict(segments, _rule(insufficient=insufficient))
        assert verdict.passed and verdict.warnings == []
        assert verdict.figures["gap"] == pytest.approx(0.04)
        assert any("'male' (38 rows) reported, not judged" in n for n in verdict.notes)


def test_the_figures_record_what_was_and_was_not_judged() -> None:
    figures = fairness_verdict(SEX, _rule(insufficient="warn")).figures
    assert figures["segment"] == "sex" and figures["min_rows"] == 100
    assert figures["insufficient"] == "warn" and figures["judged_segments"] == 1
    assert "gap" not in figures
    json.dumps(figures, allow_nan=False)


# --- the config ------------------------------------------------------------------------------


def test_insufficient_defaults_to_fail_and_takes_only_fail_or_warn() -> None:
    assert _rule().insufficient == "fail"
    assert _rule(insufficient="warn").insufficient == "warn"
    with pytest.raises(ValidationError, match="insufficient"):
        _rule(insufficient="ignore")


# --- the report, the metadata and the step ---------------------------------------------------


def _evaluation(insufficient: str) -> CandidateEvaluation:
    decision = decide(
        [
            fair_comparison_verdict(FAIR, 200, has_champion=False),
            champion_verdict(None, 0.0),
            fairness_verdict(SEX, _rule(insufficient=insufficient)),
        ]
    )
    return CandidateEvaluation(
        model_name="screening",
        challenger_version="3",
        champion_version=None,
        holdout_rows=850,
        compared_rows=850,
        seen_by_champion=0,
        challenger_metrics={"roc_auc": 0.83},
        comparison=None,
        segments=SEX,
        decision=decision,
    )


def _page(evaluation: CandidateEvaluation) -> str:
    return comparison_report_html(
        "screening", "3", None, evaluation.decision, None, evaluation.segments, FAIR
    )


def test_the_report_shows_a_warned_gate_as_a_warning() -> None:
    page = _page(_evaluation("warn"))
    assert "PASSED EVERY GATE" in page
    assert '<span class="status warn">1 WARNING</span>' in page
    assert '<a class="chip warn" href="#fairness">' in page
    assert '<section id="fairness" class="warn">' in page
    assert '<span class="count warn">passed with a warning</span>' in page
    assert '<ul class="gate-warnings"><li><strong>Warning:</strong> ' in page
    assert "&#x27;male&#x27; 38 rows not judged (fewer than min_rows)" in page
    assert "No gap measured: <strong>1 of 2</strong> segments could be judged" in page
    assert "Segment <code>sex</code>" in page


def test_the_report_shows_the_refusal_and_why() -> None:
    page = _page(_evaluation("fail"))
    assert "REJECTED</span> by the <strong>Fairness across segments</strong> gate" in page
    assert '<section id="fairness" class="fail">' in page
    assert "&#x27;female&#x27; 812 rows judged" in page
    assert '<ul class="gate-warnings">' not in page


def test_the_metadata_keeps_the_warning() -> None:
    metadata = _evaluation("warn").metadata()
    assert metadata["decision"] == "passed"
    [warning] = metadata["warnings"]
    assert warning.startswith(f"fairness: {MESSAGE}")
    assert metadata["gates"]["fairness"]["warnings"] == [warning.removeprefix("fairness: ")]
    assert metadata["gates"]["fairness"]["judged_segments"] == 1
    assert "WARNING" in metadata["summary"]
    json.dumps(metadata, allow_nan=False)


def test_the_gate_step_warns_in_the_run_output_or_stops_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="steps.promotion.step"):
        fairness_gate.entrypoint(_evaluation("warn"))
    [record] = [r for r in caplog.records if r.name == "steps.promotion.step"]
    assert record.levelno == logging.WARNING
    assert "fairness gate passed with a warning" in record.getMessage()
    assert MESSAGE in record.getMessage()
    with pytest.raises(PromotionRejectedError) as stopped:
        fairness_gate.entrypoint(_evaluation("fail"))
    assert MESSAGE in str(stopped.value)
    assert "production and serving are unchanged" in str(stopped.value)


# --- a real model on real rows -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> tuple[object, pd.DataFrame]:
    """A model of the generator's transactions (5 % fraud) and its holdout of 1,200 rows."""
    frame = generate_transactions(6_000, seed=7, fraud_rate=0.05)
    config = parse_run_config(_local(), Path("configs/local.yaml"))
    features = fraud_feature_specs()
    names = [f.name for f in features]
    train, holdout = split_holdout(
        frame, FRAUD_TARGET, "binary", config.split, [*names, FRAUD_TARGET]
    )
    training = TrainingConfig(estimator="hist_gradient_boosting", params={"max_iter": 40})
    model = fit_model(train, features, FRAUD_TARGET, "binary", training, "roc_auc").model
    return model, holdout


def _judged_once(trained: tuple[object, pd.DataFrame], insufficient: str) -> CandidateEvaluation:
    """Evaluate with min_rows between the largest and the second largest card type."""
    model, holdout = trained
    counts = holdout["card_type"].astype(str).value_counts()
    raw = _local()
    raw["deployment"] = {
        "comparison": {"min_rows": 1000},
        "thresholds": {"roc_auc": 0.5},
        "fairness": {
            "segment": "card_type",
            "metric": "roc_auc",
            "max_gap": 0.1,
            "min_rows": int(counts.iloc[1]) + 1,
            "insufficient": insufficient,
        },
    }
    config = parse_run_config(raw, Path("configs/local.yaml"))
    pair = LoadedPair(challenger_version="1", challenger_model=model, challenger_holdout=holdout)
    names = [f.name for f in fraud_feature_specs()]
    evaluation, _ = evaluate_challenger(pair, names, FRAUD_TARGET, "binary", "1", config)
    return evaluation


def test_a_real_evaluation_with_one_judgeable_card_type_fails_by_default(
    trained: tuple[object, pd.DataFrame],
) -> None:
    evaluation = _judged_once(trained, "fail")
    counts = trained[1]["card_type"].astype(str).value_counts()
    assert evaluation.decision.failed_gate == "fairness"
    [reason] = evaluation.decision.reason().split(": ", 1)[1:]
    assert "fairness on 'card_type' could not be judged: 1 of 3 segments has" in reason
    largest, *others = counts.index
    assert f"'{largest}' {counts[largest]} rows judged" in reason
    for name in others:
        assert f"'{name}' {counts[name]} rows not judged (fewer than min_rows" in reason


def test_a_real_evaluation_with_warn_is_promoted_with_the_warning(
    trained: tuple[object, pd.DataFrame],
) -> None:
    evaluation = _judged_once(trained, "warn")
    assert evaluation.decision.promoted
    [warning] = evaluation.decision.warnings()
    assert "fairness on 'card_type' could not be judged: 1 of 3 segments has" in warning
    assert "WARNING" in _page(evaluation)
