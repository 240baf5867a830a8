"""The drift report as a person sees it: rendered by a real headless Chromium.

Evidently's HTML is a JavaScript bundle whose data sits in an inline JSON blob:
the column names are in the raw file, but no text is visible until the scripts
run. So these tests compare what the *rendered* page shows (the drift table, its
verdicts, the drifted count) with the figures the pipeline keeps, and check the
screenshot really is a picture. No Chromium is a failure (CI installs it).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.data.synthetic import FRAUD_TARGET, fraud_feature_specs, generate_transactions
from steps.monitoring.report import ReportFigures, ReportInputs, build_report
from tests.integration.monitoring import browser

ROWS = 3_000
PREDICTION = "prediction"
#: Evidently's drift table shows this many rows per page, most drifted first.
TABLE_PAGE = 10
FEATURES = [f.name for f in fraud_feature_specs()]
SUMMARY = re.compile(r"Drift is (?:not )?detected for ([\d.]+)% of columns \((\d+) out of (\d+)\)")


def _labelled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    flip = np.random.default_rng(seed).random(len(frame)) < 0.05
    scored = frame.copy()
    scored[PREDICTION] = np.where(flip, 1 - frame[FRAUD_TARGET], frame[FRAUD_TARGET]).astype("int8")
    return scored


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportFigures]:
    """A labelled report of a shifted batch, written where Chromium can open it."""
    try:
        browser.chromium()
    except browser.ChromiumMissing as missing:
        pytest.fail(str(missing))
    reference = _labelled(generate_transactions(ROWS, seed=1), seed=11)
    current = _labelled(generate_transactions(ROWS, seed=2, shift=0.8), seed=12)
    inputs = ReportInputs(
        features=fraud_feature_specs(), target=FRAUD_TARGET, task="binary", prediction=PREDICTION
    )
    html, figures = build_report(reference, current, inputs)
    path = tmp_path_factory.mktemp("report_page") / "drift_report.html"
    path.write_text(html, encoding="utf-8")
    return path, figures


@pytest.fixture(scope="module")
def rendered(page: tuple[Path, ReportFigures]) -> list[str]:
    return browser.visible_text(browser.rendered_dom(page[0]))


def test_the_raw_file_shows_nothing_until_its_scripts_run(
    page: tuple[Path, ReportFigures],
) -> None:
    raw = page[0].read_text(encoding="utf-8")
    assert "device_score" in raw  # in the inline JSON, which no reader sees
    text = browser.visible_text(raw)
    assert not set(text) & set(FEATURES)
    assert not any(SUMMARY.search(t) for t in text)


def test_rendered_page_summarises_the_drift_as_the_figures_do(
    page: tuple[Path, ReportFigures], rendered: list[str]
) -> None:
    figures = page[1]
    assert "Dataset Drift" in rendered
    assert "Drifted Columns" in rendered
    counts = rendered[rendered.index("Drifted Columns") - 1]
    assert int(counts) == figures.drifted_count
    [summary] = [m for t in rendered if (m := SUMMARY.search(t))]
    assert int(summary[2]) == figures.drifted_count
    assert int(summary[3]) == len(figures.columns) == len(FEATURES)
    assert float(summary[1]) == pytest.approx(100 * figures.drifted_share, abs=1e-3)


def test_rendered_drift_table_rows_match_the_figures(
    page: tuple[Path, ReportFigures], rendered: list[str]
) -> None:
    """Each row reads: column, type, verdict, method, score; the first page holds ten."""
    for header in ("Column", "Data Drift", "Stat Test", "Drift Score"):
        assert header in rendered
    by_name = {c.column: c for c in page[1].columns}
    rows = [i for i, t in enumerate(rendered) if t in by_name]
    assert len(rows) == len({rendered[i] for i in rows}) == min(TABLE_PAGE, len(FEATURES))
    assert FRAUD_TARGET not in {rendered[i] for i in rows}
    for i in rows:
        column = by_name[rendered[i]]
        verdict, method, score = rendered[i + 2], rendered[i + 3], rendered[i + 4]
        assert verdict == ("Detected" if column.drifted else "Not Detected"), column
        assert method == column.method
        assert float(score) == pytest.approx(column.score, abs=1e-3)
    shown = [by_name[rendered[i]].score for i in rows]
    assert shown == sorted(shown, reverse=True)
    assert max(by_name.values(), key=lambda c: c.score).column in {rendered[i] for i in rows}


def test_rendered_quality_section_shows_the_current_figures(
    page: tuple[Path, ReportFigures], rendered: list[str]
) -> None:
    """The "Current" quality block reads value, name pairs, to three decimals."""
    quality = page[1].quality
    start = rendered.index("Current: Model Quality Metrics")
    shown = dict(
        zip(rendered[start + 2 : start + 9 : 2], rendered[start + 1 : start + 8 : 2], strict=True)
    )
    names = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall", "F1": "f1"}
    assert set(shown) == set(names)
    for label, name in names.items():
        assert float(shown[label]) == pytest.approx(quality[name], abs=5e-4)


def test_screenshot_is_a_real_picture_of_the_page(
    page: tuple[Path, ReportFigures], tmp_path: Path
) -> None:
    from PIL import Image

    picture = browser.screenshot(page[0], tmp_path / "drift_report.png")
    with Image.open(picture) as image:
        assert image.size == (1400, 2000)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    distinct = np.unique(pixels, axis=0)
    assert len(distinct) > 50, f"only {len(distinct)} colours: the page did not render"
    red = (pixels[:, 0] > 200) & (pixels[:, 1] < 90) & (pixels[:, 2] < 90)
    assert red.sum() > 1_000, "no red histogram bars in the drift table"
