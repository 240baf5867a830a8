"""The validation report's HTML page: every check, grouped per column, failures first.

The page is what a person opens in the dashboard, passed or failed, so these tests read it the
way a person would: which groups come first, which rows are marked failed, what each says.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from configs.schema import DataConfig, FeatureSpec
from steps.validation.suite import (
    CheckRecord,
    FailedExpectation,
    ValidationReport,
    render_report_html,
    validate_frame,
)

ROWS = 300
FEATURES = [
    FeatureSpec(name="amount", kind="numeric", min=0.0, max=50_000.0),
    FeatureSpec(name="channel", kind="categorical", allowed=["online", "pos", "atm"]),
    FeatureSpec(name="age", kind="numeric", min=18, max_null_fraction=0.5),
]
CONFIG = DataConfig.model_validate(
    {
        "source": {"kind": "synthetic", "rows": 1000},
        "target": "is_fraud",
        "task": "binary",
        "target_classes": ["0", "1"],
        "min_rows": 100,
    }
)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.uniform(0, 5_000, ROWS),
            "channel": rng.choice(["online", "pos", "atm"], ROWS),
            "age": rng.integers(18, 90, ROWS).astype(float),
            "is_fraud": rng.integers(0, 2, ROWS),
        }
    )


def _sections(page: str) -> list[tuple[str, str]]:
    """(heading text, section html) per group, in page order."""
    found = re.findall(r"<section [^>]*><h2>(.*?)</h2>(.*?)</section>", page, flags=re.S)
    return [(html.unescape(re.sub(r"<[^>]+>", "", title)), body) for title, body in found]


def _marks(body: str) -> list[str]:
    return re.findall(r'<span class="mark (pass|fail)">', body)


def test_a_passing_page_shows_what_each_check_observed():
    report = validate_frame(_frame(), FEATURES, CONFIG)

    page = render_report_html(report, "reference")

    for check in report.checks:
        assert html.escape(check.observed, quote=True) in page
        assert html.escape(check.expected, quote=True) in page
    titles = [title for title, _ in _sections(page)]
    assert titles[0].startswith("Table")  # the table group leads when nothing failed
    assert [t.split()[1] for t in titles[1:]] == ["amount", "channel", "age", "is_fraud"]
    assert "min " in page and "categories seen: " in page and "0 of 300 values are null" in page


def test_failed_groups_come_first_and_failed_checks_lead_their_group():
    df = _frame()
    df.loc[3, "age"] = 5.0  # age: min fails
    df.loc[4, "channel"] = "crypto"
    extra = CheckRecord(
        expectation="duplicate_rows",
        column=None,
        expected="at most 5.0% duplicate rows",
        observed="40 of 300 rows (13.3%) repeat an earlier row",
        passed=False,
    )
    report = validate_frame(df, FEATURES, CONFIG).with_checks([extra])

    sections = _sections(render_report_html(report, "batch"))

    titles = [title for title, _ in sections]
    assert titles[0] == "Table 1 of 2 checks failed"
    assert titles[1].startswith("Column channel") and titles[2].startswith("Column age")
    assert all("all passed" in title for title in titles[3:])
    for _, body in sections[:3]:
        marks = _marks(body)
        assert marks[0] == "fail" and marks.count("fail") == 1
        assert marks == sorted(marks, key=lambda mark: mark == "pass")
    assert "40 of 300 rows (13.3%) repeat an earlier row" in sections[0][1]
    assert "duplicate rows" in sections[0][1]  # a readable name for a rule it does not know


def test_notes_are_shown_before_the_checks():
    report = validate_frame(_frame(), FEATURES, CONFIG).with_notes(
        ["Column rules locked from version 3 <profile>"]
    )

    page = render_report_html(report, "batch")

    notes = page.index('<div class="notes">')
    assert notes < page.index("<section")
    assert "Column rules locked from version 3 &lt;profile&gt;" in page[notes:]


def test_every_group_is_linked_from_the_index_at_the_top():
    df = _frame()
    df.loc[0, "amount"] = -1.0
    page = render_report_html(validate_frame(df, FEATURES, CONFIG), "batch")

    links = re.findall(r'<a class="chip (pass|fail)" href="#(group-\d+)">', page)
    ids = re.findall(r'<section id="(group-\d+)"', page)
    assert [target for _, target in links] == ids
    assert links[0][0] == "fail" and [kind for kind, _ in links].count("fail") == 1


def test_a_report_without_check_records_lists_its_failures():
    report = ValidationReport(
        success=False,
        evaluated=2,
        rows=10,
        failures=[
            FailedExpectation(
                expectation="expect_column_to_exist",
                column="x",
                observed="column 'x' is missing",
                expected="column 'x' is present",
            )
        ],
    )

    sections = _sections(render_report_html(report, "old report"))

    assert len(sections) == 1 and sections[0][0] == "Column x 1 of 1 check failed"
    assert "column &#x27;x&#x27; is missing" in sections[0][1]


def test_the_page_escapes_check_records_and_stays_self_contained():
    check = CheckRecord(
        expectation="<rule>",
        column="<b>col</b>",
        expected="a & b",
        observed="<script>alert(1)</script>",
        passed=False,
    )
    report = ValidationReport(success=True, evaluated=0, rows=1).with_checks([check])

    page = render_report_html(report, "x")

    assert "<script" not in page and "<b>col" not in page and "<rule>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; b" in page
    assert "http" not in page and "src=" not in page and "<link" not in page
