"""The comparison report shows the decision and the judged figures, escaped and self-contained."""

from __future__ import annotations

import re

import pandas as pd

from configs.schema import FairnessConfig
from steps.promotion.comparison import ComparisonFigures, FairRows, SegmentFigure
from steps.promotion.report import comparison_report_html
from steps.promotion.rules import (
    champion_verdict,
    decide,
    fair_comparison_verdict,
    fairness_verdict,
    threshold_verdict,
)

FAIR = FairRows(
    rows=pd.DataFrame({"amount": range(640)}),
    holdout_rows=1000,
    seen_by_champion=360,
    hashed_columns=["amount", "<label>"],
)
COMPARISON = ComparisonFigures(
    metric="roc_auc",
    rows=640,
    champion=0.8125,
    challenger=0.8431,
    improvement=0.0306,
    interval=(0.0112, 0.0498),
    confidence=0.9,
    resamples=1000,
    skipped_resamples=3,
    seed=7,
)
FAIRNESS = FairnessConfig(segment="card_type", metric="recall", max_gap=0.1)
SEGMENTS = [
    SegmentFigure(value="debit", rows=400, metric=0.61, judged=True),
    SegmentFigure(value="<b>credit</b>", rows=200, metric=0.42, judged=True),
    SegmentFigure(
        value="prepaid",
        rows=40,
        metric=0.2,
        judged=False,
        note="fewer than deployment.fairness.min_rows=100",
    ),
]


def _page(champion_version: str | None = "11", thresholds: dict[str, float] | None = None) -> str:
    comparison = COMPARISON if champion_version is not None else None
    verdicts = [
        fair_comparison_verdict(FAIR, 200, has_champion=champion_version is not None),
        champion_verdict(comparison, 0.01),
        threshold_verdict({"roc_auc": 0.8431, "rmse": 1.0}, thresholds or {"roc_auc": 0.8}),
        fairness_verdict(SEGMENTS, FAIRNESS),
    ]
    return comparison_report_html(
        "fraud <script>alert(1)</script>",
        "12",
        champion_version,
        decide(verdicts),
        comparison,
        SEGMENTS,
        FAIR,
    )


def test_the_decision_leads_and_names_the_failing_gate() -> None:
    page = _page()
    body = page[page.index("<body>") :]
    assert body.index("REJECTED") < body.index('id="fair_comparison"')
    assert "by the <strong>Fairness across segments</strong> gate" in body
    assert "PASSED EVERY GATE" not in body


def test_a_promotion_says_so() -> None:
    page = comparison_report_html(
        "fraud", "3", None, decide([champion_verdict(None, 0.0)]), None, None, FAIR
    )
    assert '<span class="status pass">PASSED EVERY GATE</span>' in page
    assert "no production champion" in page
    # The gates the decision did not include are shown as not evaluated.
    assert page.count("not evaluated") == 3


def test_the_key_figures_appear() -> None:
    page = _page()
    for figure in ("0.8125", "0.8431", "+0.0306", "[+0.0112, +0.0498]", "90%", "1,000"):
        assert figure in page, figure
    for count in ("640", "1,000", "360"):
        assert count in page
    assert "3 undefined and left out" in page
    assert "&ge; 0.8000" in page  # the thresholds table
    assert "(best)" in page and "(worst)" in page
    assert "fewer than deployment.fairness.min_rows=100" in page
    assert "not judged" in page


def test_thresholds_on_errors_are_maxima() -> None:
    page = _page(thresholds={"rmse": 0.5})
    assert "&le; 0.5000" in page
    assert "&#10007; FAIL" in page


def test_values_from_users_and_data_are_escaped() -> None:
    page = _page()
    assert "<script>" not in page
    assert "fraud &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>credit</b>" not in page and "&lt;b&gt;credit&lt;/b&gt;" in page
    assert "&lt;label&gt;" in page


def test_the_page_is_self_contained() -> None:
    page = _page()
    assert "<style>" in page
    assert not re.search(r"<script|<link|src=|https?://", page)
