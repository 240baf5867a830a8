"""Which deployer component a stored MLflow service belongs to (``started_under``)."""

from __future__ import annotations

from types import SimpleNamespace

from stacks.flavors.mlflow_haproxy import started_under

MINE = "/store/local_stores/aaaa"
OTHER = "/store/local_stores/bbbb"


def test_a_service_read_back_from_the_store_is_matched_by_its_daemon_s_runtime_path() -> None:
    # the stored config has no root_runtime_path; the stored status has <root>/<uuid>
    assert started_under(MINE, None, SimpleNamespace(runtime_path=f"{MINE}/1234"))
    assert not started_under(MINE, None, SimpleNamespace(runtime_path=f"{OTHER}/1234"))


def test_the_config_s_root_wins_when_it_is_set() -> None:
    assert started_under(MINE, MINE, SimpleNamespace(runtime_path=f"{OTHER}/1234"))
    assert not started_under(MINE, OTHER, SimpleNamespace(runtime_path=f"{MINE}/1234"))
    assert started_under(MINE, MINE + "/", None)


def test_a_service_that_never_got_a_daemon_counts_as_mine_so_cleanup_removes_it() -> None:
    assert started_under(MINE, None, SimpleNamespace(runtime_path=None))
    assert started_under(MINE, None, None)
