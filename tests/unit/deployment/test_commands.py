"""What --status says about the last decision, from the metadata versions carry."""

from __future__ import annotations

from steps.deployment.commands import decision_records


def test_each_kind_of_record_becomes_one_dated_line() -> None:
    metadata = {
        "deployment_gates": {"at": "2026-12-01T10:00:00+00:00", "summary": "rejected by fairness"},
        "deployment": {
            "serving_since": "2026-12-01T11:00:00+00:00",
            "replaced_version": "2",
            "promoted_by": "ana",
            "rollback": True,
            "reason": "alert 4711",
        },
    }
    records = dict(decision_records(metadata, "1"))
    assert records["2026-12-01T10:00:00+00:00"] == "version 1: rejected by fairness"
    line = records["2026-12-01T11:00:00+00:00"]
    assert "rolled back to from version 2 by ana: alert 4711" in line


def test_the_newest_record_wins_and_nothing_recorded_gives_nothing() -> None:
    older = decision_records({"deployment_gates": {"at": "2026-01-01", "summary": "a"}}, "1")
    newer = decision_records({"deployment_gates": {"at": "2026-02-01", "summary": "b"}}, "2")
    assert max(older + newer)[1] == "version 2: b"
    assert decision_records({"holdout_metrics": {}}, "3") == []
