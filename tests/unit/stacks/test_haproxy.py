"""HAProxy rules as plain functions: the rendered config, ``show stat`` parsing, weight rules.

The config test runs ``haproxy -c`` (HAProxy's own parser, no process
started); everything else needs nothing but Python.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stacks.flavors import haproxy
from stacks.flavors.haproxy import (
    MAX_SOCKET_PATH,
    SplitterFiles,
    SplitterState,
    VersionRecord,
    admin_socket_path,
    parse_show_stat,
    render_config,
    server_name,
    server_weights,
    validate_weights,
    version_of,
    version_stats,
)
from stacks.flavors.local_endpoint import normalized_weights
from stacks.flavors.traffic import EndpointSettings, ServingError

#: ``show stat`` of HAProxy 2.6.12 (Debian) with five servers: v1 and v2 UP at 60/40 after
#: ten requests, v3 set to drain, v4 to maintenance, v5 pointing at a closed port.
RECORDED_SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
endpoint,FRONTEND,,,0,1,2000,10,1070,1160,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,10,0,10,,,,0,10,0,0,0,0,,10,10,10,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,10,10,10,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,10,10,1230,1130,0,0,
model,v1,0,0,0,1,,6,642,696,,0,,0,0,0,0,UP,60,1,0,0,0,4,0,,1,3,1,,6,,2,6,,6,L7OK,200,1,0,6,0,0,0,0,,,,6,0,0,,,,,0,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:41483,,http,,,,,,,,0,6,0,,,0,,0,0,0,0,0,0,0,0,1,60,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,v2,0,0,0,1,,4,428,464,,0,,0,0,0,0,UP,40,1,0,0,0,4,0,,1,3,2,,4,,2,4,,4,L7OK,200,0,0,4,0,0,0,0,,,,4,0,0,,,,,0,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:40231,,http,,,,,,,,0,4,0,,,0,,0,0,0,0,0,0,0,0,1,40,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,v3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,0,1,0,0,0,0,0,,1,3,3,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:43229,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,0,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,v4,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,0,1,0,0,1,0,0,,1,3,4,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:33275,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,0,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,v5,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,0,1,0,1,1,3,3,,1,3,5,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,2,0,,,,127.0.0.1:1,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,0,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,BACKEND,0,0,0,1,200,10,1070,1160,0,0,,0,0,0,0,UP,100,2,0,,0,4,0,,1,3,0,,10,,1,10,,10,,,,0,10,0,0,0,0,,,,10,0,0,0,0,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,10,0,0,0,,,0,0,0,0,0,,,,,100,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,29,29,2823,1370,0,0,
"""


def _state(**versions: tuple[int, int]) -> SplitterState:
    return SplitterState(
        model_name="fraud-detector",
        port=5080,
        max_body_bytes=4096,
        metrics_port=9190,
        versions={v: VersionRecord(ports=[port], weight=w) for v, (port, w) in versions.items()},
    )


def test_recorded_show_stat_parses_to_servers() -> None:
    """A show stat recorded before replicas (servers ``v1``..``v5``) still reads per version."""
    servers = version_stats(parse_show_stat(RECORDED_SHOW_STAT))
    assert sorted(servers) == ["1", "2", "3", "4", "5"]
    assert [servers[v].status for v in sorted(servers)] == ["UP", "UP", "DRAIN", "MAINT", "DOWN"]
    assert (servers["1"].weight, servers["2"].weight) == (60, 40)
    assert (servers["1"].total_requests, servers["2"].total_requests) == (6, 4)
    assert servers["1"].replicas[0].check_status == "L7OK"
    assert servers["5"].replicas[0].check_status == "L4CON"
    assert servers["1"].healthy and not servers["3"].healthy and not servers["5"].healthy
    assert servers["5"].replicas[0].address == "127.0.0.1:1"
    assert servers["5"].replicas[0].down_transitions == 1
    assert all(stat.current_sessions == 0 for stat in servers.values())


def test_replicas_of_a_version_are_summed() -> None:
    lines = RECORDED_SHOW_STAT.splitlines()
    renamed = [lines[0], lines[1]]
    renamed += [
        lines[2].replace("model,v1,", "model,v1_r1,"),
        lines[2].replace("model,v1,", "model,v1_r2,"),
    ]
    renamed += [lines[5].replace("model,v4,", "model,v1_r3,")]
    stats = version_stats(parse_show_stat("\n".join(renamed) + "\n"))
    assert list(stats) == ["1"]
    version = stats["1"]
    assert len(version.replicas) == 3 and version.total_requests == 12 and version.healthy
    assert [s.server for s in version.replicas] == ["v1_r1", "v1_r2", "v1_r3"]


@pytest.mark.parametrize(
    ("weights", "replicas", "expected"),
    [
        ({"1": 100}, {"1": 2}, {"1": 100}),
        ({"1": 90, "2": 10}, {"1": 2, "2": 2}, {"1": 90, "2": 10}),
        ({"1": 90, "2": 10}, {"1": 2, "2": 1}, {"1": 90, "2": 20}),
        ({"1": 50, "2": 50}, {"1": 3, "2": 2}, {"1": 100, "2": 150}),
        ({"1": 100, "2": 0}, {"1": 8, "2": 7}, {"1": 256, "2": 0}),
        ({"1": 50, "2": 50}, {"1": 8, "2": 7}, {"1": 224, "2": 256}),
    ],
)
def test_server_weights_keep_each_version_s_share(
    weights: dict[str, int], replicas: dict[str, int], expected: dict[str, int]
) -> None:
    got = server_weights(weights, replicas)
    assert got == expected
    assert max(got.values()) <= 256
    total = sum(got[v] * replicas[v] for v in got)
    for version, weight in weights.items():
        assert abs(got[version] * replicas[version] / total * 100 - weight) <= 1


def test_server_names_round_trip() -> None:
    assert server_name("12", 3) == "v12_r3"
    assert version_of("v12_r3") == "12" and version_of("v7") == "7"
    assert version_of("BACKEND") is None and version_of("v") is None


def test_frontend_and_backend_totals_are_not_servers() -> None:
    names = {stat.server for stat in parse_show_stat(RECORDED_SHOW_STAT)}
    assert "FRONTEND" not in names and "BACKEND" not in names


def test_an_error_answer_is_not_parsed_as_stats() -> None:
    with pytest.raises(ServingError, match="show stat"):
        parse_show_stat("Unknown command.\n")


@pytest.mark.parametrize(
    "state",
    [_state(), _state(**{"1": (8001, 100)}), _state(**{"1": (8001, 30), "12": (8002, 70)})],
    ids=["no-versions", "one", "two"],
)
def test_rendered_config_passes_haproxy_check(tmp_path: Path, state: SplitterState) -> None:
    binary = shutil.which("haproxy")
    assert binary is not None, "HAProxy is needed: sudo apt-get install haproxy"
    path = tmp_path / "haproxy.cfg"
    path.write_text(render_config(state, tmp_path / "admin.sock"))
    haproxy.check_config(binary, path)


def test_rendered_config_carries_state_and_limits(tmp_path: Path) -> None:
    text = render_config(_state(**{"1": (8001, 30), "2": (8002, 70)}), tmp_path / "a.sock")
    assert "bind 127.0.0.1:5080" in text
    assert "server v1_r1 127.0.0.1:8001 weight 30 maxconn 2 check inter 1s" in text
    assert "server v2_r1 127.0.0.1:8002 weight 70 maxconn 2 check" in text
    assert "{ req.hdr_val(content-length) gt 4096 }" in text
    assert "http-response set-header X-Served-By %[srv_name,field(1,_)]" in text
    assert "option httpchk GET /ping" in text
    assert "retry-on conn-failure empty-response" in text and "all-retryable" not in text
    assert f"stats socket {tmp_path / 'a.sock'} mode 600 level admin" in text
    for status in (404, 405, 411, 413, 415, 503):
        assert f"return status {status} content-type application/json" in text
    assert "hdr Retry-After 1 if { queue(model) ge 20 }" in text
    assert "http-error status 503" in text and "timeout queue 1000ms" in text


def test_metrics_are_on_their_own_loopback_port_only(tmp_path: Path) -> None:
    text = render_config(_state(), tmp_path / "a.sock")
    clients, _, rest = text.partition("frontend stats")
    assert "prometheus-exporter" not in clients and "stats uri" not in clients
    assert "bind 127.0.0.1:9190" in rest and "prometheus-exporter if { path /metrics }" in rest


def test_a_broken_config_is_reported_with_haproxys_words(tmp_path: Path) -> None:
    binary = shutil.which("haproxy")
    assert binary is not None
    path = tmp_path / "haproxy.cfg"
    path.write_text(render_config(_state(), tmp_path / "a.sock") + "backend x\n    balanse rr\n")
    with pytest.raises(ServingError, match="balanse"):
        haproxy.check_config(binary, path)


HEALTHY = {"1": True, "2": True, "3": False}


def test_weights_fill_unnamed_versions_with_zero() -> None:
    assert validate_weights({"1": 50, "2": 50}, HEALTHY, "m") == {"1": 50, "2": 50, "3": 0}
    assert validate_weights({"2": 100, "3": 0}, HEALTHY, "m") == {"1": 0, "2": 100, "3": 0}


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"9": 100}, "no server for version"),
        ({"1": 50, "2": 40}, "sum to 100, got 90"),
        ({"1": 0, "2": 0}, "sum to 100, got 0"),
        ({"1": 150, "2": -50}, "whole number 0..100"),
        ({"1": 50.0, "2": 50}, "whole number 0..100"),
        ({"1": True, "2": 99}, "whole number 0..100"),
        ({"1": 50, "3": 50}, "version(s) 3 fail their health check"),
    ],
    ids=["unknown", "short", "all-zero", "range", "float", "bool", "unhealthy"],
)
def test_weights_refused(weights: dict[str, object], message: str) -> None:
    with pytest.raises(ServingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_weights(weights, HEALTHY, "m")


def test_leaving_share_is_spread_in_proportion() -> None:
    assert normalized_weights({"2": 30, "3": 30}) == {"2": 50, "3": 50}
    assert normalized_weights({"1": 10, "2": 10, "3": 10}) == {"1": 34, "2": 33, "3": 33}
    assert normalized_weights({"2": 70}) == {"2": 100}
    assert sum(normalized_weights({"1": 1, "2": 2, "3": 4}).values()) == 100


def test_socket_path_is_short_for_a_long_state_dir(tmp_path: Path) -> None:
    state_dir = tmp_path / ("deep-" * 20) / ("zenml-local-store-" * 4) / "splitter" / "fraud"
    assert len(str(state_dir / "admin.sock")) > MAX_SOCKET_PATH
    path = admin_socket_path(state_dir, runtime_root=tmp_path)
    assert len(str(path)) <= MAX_SOCKET_PATH
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert admin_socket_path(state_dir, runtime_root=tmp_path) == path
    assert admin_socket_path(state_dir.parent / "other", runtime_root=tmp_path) != path


def test_too_long_runtime_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / ("x" * 90)
    with pytest.raises(ServingError, match="TMPDIR"):
        admin_socket_path(tmp_path / "state", runtime_root=root)


def test_state_file_round_trips(tmp_path: Path) -> None:
    files = SplitterFiles(tmp_path / "m")
    assert haproxy.load_state(files) is None
    settings = EndpointSettings(port=6123, max_body_bytes=10)
    state = SplitterState.for_endpoint("m", settings)
    state.versions["4"] = VersionRecord(ports=[8004, 8005], weight=100)
    haproxy.save_state(files, state)
    loaded = haproxy.load_state(files)
    assert loaded == state and loaded is not None and loaded.settings() == settings
    assert loaded.url() == "http://127.0.0.1:6123/invocations"
    assert files.config.read_text() == render_config(loaded, files.socket)


def test_a_state_written_before_replicas_reads_as_one_replica(tmp_path: Path) -> None:
    files = SplitterFiles(tmp_path / "m")
    files.directory.mkdir()
    files.state.write_text(
        '{"model_name": "m", "port": 5080, "versions": '
        '{"3": {"port": 8003, "weight": 100, "service_uuid": "abc"}}}'
    )
    loaded = haproxy.load_state(files)
    assert loaded is not None and loaded.versions["3"] == VersionRecord(ports=[8003], weight=100)


def test_show_stat_carries_the_canary_figures() -> None:
    """hrsp_4xx, hrsp_5xx and rtime per server, read from their own columns."""
    header = RECORDED_SHOW_STAT.splitlines()[0][2:].split(",")
    values = RECORDED_SHOW_STAT.splitlines()[2].split(",")
    row = dict(zip(header, values, strict=False))
    row.update({"hrsp_4xx": "3", "hrsp_5xx": "2", "rtime": "17", "ttime": "900"})
    line = ",".join(row[name] for name in header)
    text = "\n".join([RECORDED_SHOW_STAT.splitlines()[0], line]) + "\n"
    (stat,) = parse_show_stat(text)
    assert (stat.responses_4xx, stat.responses_5xx, stat.response_ms) == (3, 2, 17.0)
