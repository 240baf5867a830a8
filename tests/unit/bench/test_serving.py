"""bench/serving.py's figures: the overload step, CPU per target, the topology it reports.

Plain functions only: no server, no ZenML (the bench itself runs them end to end).
"""

from __future__ import annotations

import math
from pathlib import Path

import psutil
import pytest
import yaml
from harness import StepResult
from serving import (
    DIRECT,
    ENDPOINT,
    PLAIN,
    Servers,
    bench_config,
    judge,
    judge_overload,
    overload_figures,
    overload_lines,
    parse_args,
    restarted,
    server_cpu,
)


def _step(target: str = ENDPOINT, **changes) -> StepResult:
    figures = {
        "target": target,
        "rows": 1,
        "offered_rps": 360.0,
        "duration_s": 20.0,
        "sent": 7200,
        "ok": 3600,
        "errors": {},
        "achieved_rps": 180.0,
        "p50_ms": 90.0,
        "p90_ms": 120.0,
        "p99_ms": 140.0,
        "max_ms": 200.0,
        "service_p50_ms": 80.0,
        "service_p99_ms": 130.0,
        "lag_p50_ms": 0.5,
        "lag_p99_ms": 2.0,
        "connections": 30,
        "loader_cpu_s": 2.0,
        "tracked_cpu_s": {},
        "busiest_share": {},
        "other_cores": 0.05,
        "saturated": True,
    }
    figures.update(changes)
    return StepResult(**figures)  # type: ignore[arg-type]


def test_overload_figures_tell_shed_from_failed():
    step = _step(
        errors={"HTTP 503": 3500, "HTTP 502": 5, "ConnectionResetError": 2, "timeout": 1},
        statuses={"200": 3600, "503": 3500, "502": 5},
        retry_after={"503": 3500},
        refused_p50_ms=0.8,
        refused_p99_ms=2.5,
    )
    result = overload_figures(
        step,
        180.0,
        True,
        chkdown_before={"v1_r1": 1, "v1_r2": 0},
        chkdown_after={"v1_r1": 1, "v1_r2": 0},
        states_after={"v1_r1": "UP L7OK", "v1_r2": "UP L7OK"},
        queue_max=20,
    )
    assert result.answered == 3600 and result.answered_rps == 180.0
    assert result.shed == 3500 and result.shed_rps == 175.0
    assert result.shed_with_retry_after == 3500
    assert result.other_statuses == {"502": 5}
    assert result.connection_errors == {"ConnectionResetError": 2}
    assert result.timeouts == 1 and result.failed == 3
    # chkdown counts since HAProxy started: only the difference is the step's
    assert result.down_events == 0
    verdicts = {t["target"]: t["verdict"] for t in judge_overload(result)}
    assert verdicts["overload: every 503 carries Retry-After"] == "PASS"
    assert verdicts["overload: requests without an answer (0)"] == "MISS"
    assert verdicts["overload: replicas marked DOWN (0)"] == "PASS"
    text = "\n".join(overload_lines(result))
    assert "3500 of 3500 with Retry-After" in text and "HTTP 502: 5" in text
    assert "2.0x the endpoint's 1-row saturation (180/s)" in text


def test_overload_judges_missing_retry_after_and_down_events():
    step = _step(errors={"HTTP 503": 10}, statuses={"200": 3600, "503": 10}, retry_after={"503": 9})
    result = overload_figures(step, 180.0, False, {"v1_r1": 0}, {"v1_r1": 2}, {}, None)
    assert result.down_events == 2
    verdicts = [t["verdict"] for t in judge_overload(result)]
    assert verdicts == ["-", "MISS", "PASS", "MISS"]
    nothing_shed = overload_figures(_step(statuses={"200": 3600}), 180.0, True, {}, {}, {}, None)
    assert judge_overload(nothing_shed)[1]["verdict"] == "-"
    assert judge_overload(None)[0]["verdict"] == "MISS"


def test_server_cpu_counts_every_replica_for_the_endpoint_and_replica_1_for_direct():
    trees = {"replica 1": 3.0, "replica 2": 1.0, "haproxy": 0.5, "plain": 8.0}
    shares = {"replica 1": 0.9, "replica 2": 1.0, "haproxy": 1.0, "plain": 0.5}
    endpoint = _step(ENDPOINT, tracked_cpu_s=trees, busiest_share=shares)
    total, busiest = server_cpu(endpoint)
    assert total == 4.0  # HAProxy is not a replica
    assert busiest == pytest.approx(2.7 / 4.0)
    assert server_cpu(_step(DIRECT, tracked_cpu_s=trees, busiest_share=shares)) == (3.0, 0.9)
    assert server_cpu(_step(PLAIN, tracked_cpu_s=trees, busiest_share=shares)) == (8.0, 0.5)
    assert all(math.isnan(x) for x in server_cpu(_step(PLAIN, tracked_cpu_s={"replica 1": 1.0})))


def test_restarted_names_programs_whose_pid_or_restarts_changed():
    before = {
        "m--v1-r1": {"state": "RUNNING", "pid": 10, "restarts": 0},
        "m--v1-r2": {"state": "RUNNING", "pid": 11, "restarts": 0},
        "m--haproxy": {"state": "RUNNING", "pid": 12, "restarts": 0},
    }
    after = {
        "m--v1-r1": {"state": "RUNNING", "pid": 10, "restarts": 0},
        "m--v1-r2": {"state": "RUNNING", "pid": 21, "restarts": 1},
    }
    assert restarted(before, after) == [
        "m--v1-r2 (pid 11 -> 21, state RUNNING)",
        "m--haproxy (gone)",
    ]
    assert restarted(before, before) == []


def _servers(replicas: int, workers: int, plain_workers: int = 2) -> Servers:
    me = psutil.Process()
    return Servers(
        endpoint_url="http://127.0.0.1:5080/invocations",
        direct_url="http://127.0.0.1:6001/invocations",
        plain_url="",
        model_name="m",
        version="1",
        model_uri="/tmp/models/v1",
        replica_urls=[f"http://127.0.0.1:{6001 + i}/invocations" for i in range(replicas)],
        replicas=[me] * replicas,
        haproxy=None,
        supervisord=None,
        admin_socket=Path("/tmp/x.sock"),
        serving={
            "workers": workers,
            "replicas": replicas,
            "max_in_flight": 2,
            "max_queue": 20,
            "queue_timeout": 1.0,
            "retry_after": 1,
            "port": 5080,
        },
        plain_workers=plain_workers,
    )


def test_the_output_says_what_each_side_runs_and_whether_it_is_like_for_like():
    servers = _servers(replicas=2, workers=1)
    described = servers.describe()
    assert "2 replica(s) x 1 worker(s) = 2 worker process(es)" in described[ENDPOINT]
    assert "maxconn 2 per replica" in described[ENDPOINT]
    assert "1 replica x 1 worker(s)" in described[DIRECT]
    assert "--workers 2" in described[PLAIN]
    assert "like for like" in servers.like_for_like()
    assert servers.like_for_like().startswith("endpoint and plain both run 2")
    assert _servers(replicas=2, workers=2).like_for_like().startswith("NOT LIKE FOR LIKE")
    assert set(servers.tracked()) == {"replica 1", "replica 2"}
    assert judge([], plain_workers=4)[0]["target"].startswith("saturation, endpoint vs plain 4")


def test_bench_config_sets_workers_and_replicas_only_when_asked(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"deployment": {"serving": {"port": 5080, "replicas": 2}}}))
    path, port = bench_config(base, tmp_path, workers=None, replicas=None)
    serving = yaml.safe_load(path.read_text())["deployment"]["serving"]
    assert serving == {"port": port, "replicas": 2}
    path, _ = bench_config(base, tmp_path, workers=2, replicas=1)
    config = yaml.safe_load(path.read_text())["deployment"]
    assert config["serving"]["workers"] == 2 and config["serving"]["replicas"] == 1
    assert config["load_test"] is None and config["canary"] is None


def test_cli_defaults_and_limits():
    args = parse_args(["--quick"])
    assert (args.workers, args.replicas, args.plain_workers) == (None, None, 2)
    assert (args.overload_factor, args.overload_duration) == (2.0, 20.0)
    assert args.duration == 2.0
    args = parse_args(["--replicas", "1", "--workers", "2", "--overload-factor", "0"])
    assert (args.replicas, args.workers, args.overload_factor) == (1, 2, 0.0)
    for bad in (["--replicas", "0"], ["--overload-duration", "0"], ["--overload-factor", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
