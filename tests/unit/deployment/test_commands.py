"""What --status says about the last decision, from the metadata versions carry."""

from __future__ import annotations

from steps.deployment.commands import decision_records, release_check_lines


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


def test_a_canary_or_load_test_verdict_is_a_decision_line() -> None:
    rejected = {"at": "2026-12-01T12:00:00+00:00", "decision": "rejected",
                "rejected_by": "load_test", "reason": "p99 300 ms > limit 100 ms"}
    held = {"at": "2026-12-01T13:00:00+00:00", "decision": "held", "rejected_by": "",
            "reason": "could not be judged"}
    (line,) = decision_records({"release_checks": rejected}, "4")
    assert line[1] == "version 4: rejected by the load test: p99 300 ms > limit 100 ms"
    (line,) = decision_records({"release_checks": held}, "5")
    assert line[1] == "version 5: held by the canary: could not be judged"


def test_release_check_lines_show_the_load_test_and_every_canary_window() -> None:
    window = {"requests": 30, "error_rate": 0.0}
    rollout = {
        "load_test": {"requests": 200, "error_rate": 0.005, "p50_ms": 21.4, "p99_ms": 88.0,
                      "achieved_rps": 19.9, "report": "reports/x/locust.html"},
        "canary": [
            {"step": 1, "share": 10, "check": 1, "outcome": "pass", "seconds": 12.3,
             "challenger": window, "champion": {"requests": 270, "error_rate": 0.01}},
        ],
    }
    load, canary = release_check_lines(rollout)
    assert load == ("Load test: 200 requests, 0.50% errors, p50 21 ms, p99 88 ms (19.9 req/s); "
                    "report: reports/x/locust.html")
    assert canary == ("Canary step 1 (10%), check 1: pass: 30 vs 270 requests, errors 0.00% vs "
                      "1.00%, 12 s")
    assert release_check_lines({"endpoint": "x"}) == []
