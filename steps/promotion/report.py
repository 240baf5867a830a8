"""The champion-vs-challenger report: one self-contained HTML page for the ZenML dashboard.

It is shown as an ``HTMLString`` visualization, so it carries its own CSS (the data-validation
report's, plus a few rules), no scripts and no external assets, and every value is escaped:
model names, versions and segment values come from users and data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from steps.promotion.comparison import ComparisonFigures, FairCounts, SegmentFigure
from steps.promotion.rules import GateVerdict, PromotionDecision
from steps.validation.suite import _REPORT_CSS as VALIDATION_CSS

#: Every gate, in the order the promotion judges them, with the title people read.
GATE_TITLES: dict[str, str] = {
    "fair_comparison": "Fair comparison",
    "champion_vs_challenger": "Champion vs challenger",
    "absolute_thresholds": "Absolute thresholds",
    "fairness": "Fairness across segments",
}

_EXTRA_CSS = """
.decision { font-size: 1.15em; margin: 0.5em 0 0.2em; }
.reason { margin: 0.2em 0 0.6em; }
section.skipped { border-left-color: #8c959f; color: #59636e; }
.reasons { margin: 0.3em 0 0.6em; padding: 0.4em 1em 0.4em 1.8em; background: #ffebe9;
           border-radius: 6px; }
.gate-notes { margin: 0.3em 0 0.6em; padding-left: 1.2em; color: #59636e; }
table.figures th { width: 19em; border-top: 1px solid #d0d7de; }
th code.key { display: block; color: #59636e; font-size: 0.8em; font-weight: normal; }
table.figures td, td.num { font-variant-numeric: tabular-nums; }
tr.muted td { color: #59636e; }
.chip.muted { border-color: #8c959f; color: #59636e; }
section.skipped h2 { margin: 0; }
.mark.muted { color: #59636e; border: 1px solid #8c959f; }
.better { color: #1a7f37; font-weight: 600; }
.worse { color: #cf222e; font-weight: 600; }
.status.warn { background: #9a6700; }
section.warn { border-left-color: #bf8700; }
section h2 .count.warn { color: #9a6700; font-weight: 600; }
.chip.warn { border-color: #bf8700; color: #9a6700; font-weight: 600; }
.gate-warnings { margin: 0.3em 0 0.6em; padding: 0.4em 1em 0.4em 1.8em; background: #fff8c5;
                 border: 1px solid #d4a72c; border-radius: 6px; }
"""


def comparison_report_html(
    model_name: str,
    challenger_version: str,
    champion_version: str | None,
    decision: PromotionDecision,
    comparison: ComparisonFigures | None,
    segments: list[SegmentFigure] | None,
    fair: FairCounts,
) -> str:
    """The decision at the top, then one section per gate with the figures it judged.

    Gates the run never reached (an earlier gate refused) get a short "not evaluated" section,
    so the page always shows the four gates in order.
    """
    verdicts: dict[str, GateVerdict] = {v.gate: v for v in decision.verdicts}
    if decision.promoted:
        status = '<span class="status pass">PASSED EVERY GATE</span>'
        warned = [v for v in decision.verdicts if v.warnings]
        if warned:
            count = sum(len(v.warnings) for v in warned)
            titles = ", ".join(_esc(GATE_TITLES.get(v.gate, v.gate)) for v in warned)
            status += (
                f' <span class="status warn">{count} WARNING{"S" if count > 1 else ""}</span>'
                f" {titles}: passed without judging"
            )
    else:
        gate = GATE_TITLES.get(decision.failed_gate or "", decision.failed_gate or "")
        status = (
            f'<span class="status fail">REJECTED</span> by the <strong>{_esc(gate)}</strong> gate'
        )
    champion = (
        f"champion version <code>{_esc(champion_version)}</code>"
        if champion_version is not None
        else "no production champion"
    )
    chips = "".join(_chip(gate, verdicts.get(gate)) for gate in GATE_TITLES)
    sections = "\n".join(
        _section(
            gate,
            verdicts.get(gate),
            decision.promoted,
            _gate_figures(gate, verdicts.get(gate), comparison, segments, fair),
        )
        for gate in GATE_TITLES
    )
    title = _esc(model_name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Promotion: {title}</title>
<style>{VALIDATION_CSS}{_EXTRA_CSS}</style></head>
<body>
<header><h1>Promotion: {title}</h1>
<p class="source">challenger version <code>{_esc(challenger_version)}</code> against {champion}</p>
<p class="decision">{status}</p>
<p class="reason">{_esc(decision.reason())}</p>
<nav>{chips}</nav></header>
{sections}
</body></html>
"""


def _chip(gate: str, verdict: GateVerdict | None) -> str:
    if verdict is None:
        return f'<a class="chip muted" href="#{gate}">&#8212; {_esc(GATE_TITLES[gate])}</a>'
    kind, mark = _state(verdict)
    return f'<a class="chip {kind}" href="#{gate}">{mark} {_esc(GATE_TITLES[gate])}</a>'


def _state(verdict: GateVerdict) -> tuple[str, str]:
    """CSS class and mark of a judged gate: failed, passed with a warning, or passed."""
    if not verdict.passed:
        return "fail", "&#10007;"
    if verdict.warnings:
        return "warn", "&#9888;"
    return "pass", "&#10003;"


def _section(gate: str, verdict: GateVerdict | None, promoted: bool, body: str) -> str:
    title = _esc(GATE_TITLES[gate])
    if verdict is None:
        why = "not part of this decision" if promoted else "an earlier gate refused the challenger"
        return (
            f'<section id="{gate}" class="skipped"><h2>{title} '
            f'<span class="count">not evaluated: {why}</span></h2></section>'
        )
    kind, _ = _state(verdict)
    count = {
        "pass": '<span class="count">passed</span>',
        "warn": f'<span class="count warn">{_esc(verdict.outcome())}</span>',
        "fail": '<span class="count fail">failed</span>',
    }[kind]
    warnings = (
        '<ul class="gate-warnings">'
        + "".join(f"<li><strong>Warning:</strong> {_esc(w)}</li>" for w in verdict.warnings)
        + "</ul>"
        if verdict.warnings
        else ""
    )
    reasons = (
        '<ul class="reasons">' + "".join(f"<li>{_esc(r)}</li>" for r in verdict.reasons) + "</ul>"
        if verdict.reasons
        else ""
    )
    notes = (
        '<ul class="gate-notes">' + "".join(f"<li>{_esc(n)}</li>" for n in verdict.notes) + "</ul>"
        if verdict.notes
        else ""
    )
    return (
        f'<section id="{gate}" class="{kind}"><h2>{title} {count}</h2>'
        f"{reasons}{warnings}{notes}{body}</section>"
    )


def _gate_figures(
    gate: str,
    verdict: GateVerdict | None,
    comparison: ComparisonFigures | None,
    segments: list[SegmentFigure] | None,
    fair: FairCounts,
) -> str:
    """The figures table of one gate (empty for a gate that was not evaluated)."""
    if verdict is None:
        return ""
    if gate == "fair_comparison":
        return _fair_table(fair, verdict.figures)
    if gate == "champion_vs_challenger":
        return _comparison_table(comparison, verdict.figures)
    if gate == "absolute_thresholds":
        return _thresholds_table(verdict.figures)
    return _segments_table(segments, verdict.figures)


def _figures_table(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of (label, already-escaped value) pairs.

    A label may end in a config key in parentheses, "Minimum (deployment.comparison.min_rows)":
    the key is shown on its own line, small, so it never wraps mid-word.
    """
    body = "".join(f"<tr><th>{_label(label)}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="figures"><tbody>{body}</tbody></table>'


def _label(text: str) -> str:
    name, key = text, ""
    if text.endswith(")") and " (deployment." in text:
        name, key = text[:-1].split(" (", 1)
    return _esc(name) + (f'<code class="key">{_esc(key)}</code>' if key else "")


def _fair_table(fair: FairCounts, figures: dict[str, Any]) -> str:
    hashed = figures.get("hashed_columns") or []
    rows = [
        ("Rows compared", f"{fair.compared_rows:,}"),
        ("Rows in the challenger's holdout", f"{fair.holdout_rows:,}"),
        ("Left out: seen by the champion", f"{fair.seen_by_champion:,}"),
    ]
    if "min_rows" in figures:
        rows.append(("Minimum (deployment.comparison.min_rows)", f"{figures['min_rows']:,}"))
    if hashed:
        rows.append(("Rows matched on", ", ".join(f"<code>{_esc(c)}</code>" for c in hashed)))
    return _figures_table(rows)


def _comparison_table(comparison: ComparisonFigures | None, figures: dict[str, Any]) -> str:
    if comparison is None:
        return "<p>No production champion to compare with.</p>"
    better = "lower is better" if comparison.lower_is_better else "higher is better"
    improvement = comparison.improvement
    tone = "better" if improvement > 0 else "worse" if improvement < 0 else ""
    rows = [
        ("Metric", f"<code>{_esc(comparison.metric)}</code> ({better})"),
        ("Rows compared", f"{comparison.rows:,}"),
        ("Champion", _fmt(comparison.champion)),
        ("Challenger", _fmt(comparison.challenger)),
        (
            "Improvement (positive: challenger better)",
            f'<span class="{tone}">{_fmt(improvement, signed=True)}</span>',
        ),
    ]
    if "min_improvement" in figures:
        rows.append(
            (
                "Required (deployment.comparison.min_improvement)",
                _fmt(figures["min_improvement"]),
            )
        )
    if comparison.interval is not None:
        low, high = comparison.interval
        level = f"{comparison.confidence:.0%} " if comparison.confidence is not None else ""
        skipped = (
            f", {comparison.skipped_resamples:,} undefined and left out"
            if comparison.skipped_resamples
            else ""
        )
        rows += [
            (
                f"{level}bootstrap interval of the improvement",
                f"[{_fmt(low, signed=True)}, {_fmt(high, signed=True)}]",
            ),
            (
                "Resamples (paired)",
                f"{comparison.resamples or 0:,}{skipped}; seed {_esc(str(comparison.seed))}",
            ),
        ]
    else:
        rows.append(("Bootstrap", "off (deployment.comparison.bootstrap)"))
    return _figures_table(rows)


def _thresholds_table(figures: dict[str, Any]) -> str:
    thresholds: dict[str, Any] = figures.get("thresholds") or {}
    if not thresholds:
        return ""
    values: dict[str, Any] = figures.get("values") or {}
    lower = set(figures.get("lower_is_better") or [])
    body = ""
    for metric, limit in thresholds.items():
        value = values.get(metric)
        rule = f"&le; {_fmt(limit)}" if metric in lower else f"&ge; {_fmt(limit)}"
        passed = value is not None and (value <= limit if metric in lower else value >= limit)
        body += (
            f'<tr class="{"pass" if passed else "fail"}"><td>{_mark(passed)}</td>'
            f"<td><code>{_esc(metric)}</code></td><td>{rule}</td>"
            f'<td class="num">{_fmt(value)}</td></tr>'
        )
    return (
        '<table><thead><tr><th class="result">Result</th><th>Metric</th>'
        "<th>Rule</th><th>Challenger</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _segments_table(segments: list[SegmentFigure] | None, figures: dict[str, Any]) -> str:
    if segments is None:
        return ""
    metric = _esc(str(figures.get("metric", "metric")))
    column = (
        f"Segment <code>{_esc(str(figures['segment']))}</code>"
        if "segment" in figures
        else "Segment"
    )
    best, worst = figures.get("best"), figures.get("worst")
    gap = ""
    if "gap" in figures:
        gap = (
            f"<p>Gap between the best and the worst judged segment: "
            f"<strong>{_fmt(figures['gap'])}</strong> (at most "
            f"{_fmt(figures.get('max_gap'))}, deployment.fairness.max_gap).</p>"
        )
    elif "judged_segments" in figures:
        gap = (
            f"<p>No gap measured: <strong>{figures['judged_segments']} of {len(segments)}</strong>"
            f" segments could be judged (at least {_esc(str(figures.get('min_rows')))} rows "
            f"and a defined {metric} each, deployment.fairness.min_rows) and a gap needs 2; "
            "with fewer, deployment.fairness.insufficient is "
            f"<code>{_esc(str(figures.get('insufficient')))}</code>.</p>"
        )
    body = ""
    for segment in segments:
        role = " (best)" if segment.value == best else " (worst)" if segment.value == worst else ""
        judged = (
            '<span class="mark pass">judged</span>'
            if segment.judged
            else '<span class="mark muted">not judged</span>'
        )
        body += (
            f'<tr class="{"" if segment.judged else "muted"}"><td>{judged}</td>'
            f"<td><code>{_esc(segment.value)}</code>{role}</td>"
            f'<td class="num">{segment.rows:,}</td><td class="num">{_fmt(segment.metric)}</td>'
            f"<td>{_esc(segment.note)}</td></tr>"
        )
    return (
        f'{gap}<table><thead><tr><th class="result">Judged</th><th>{column}</th>'
        f"<th>Rows</th><th>{metric}</th><th>Why not judged</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _mark(passed: bool) -> str:
    if passed:
        return '<span class="mark pass">&#10003; pass</span>'
    return '<span class="mark fail">&#10007; FAIL</span>'


def _fmt(value: Any, *, signed: bool = False) -> str:
    """A figure with four decimals (escaped text); missing or NaN reads 'undefined'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _esc(str(value))
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
