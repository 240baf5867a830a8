"""The xdist units: one per test file, except the remote proofs, which share one unit."""

from __future__ import annotations

from tests.scheduling import schedule_unit


def test_every_remote_proof_file_is_in_one_unit() -> None:
    units = {
        schedule_unit(f"tests/integration/remote/{name}::test_x")
        for name in ("test_kubeflow.py", "test_sagemaker.py", "test_monitor_schedules.py")
    }
    assert units == {"tests/integration/remote/"}


def test_any_other_test_is_scheduled_with_its_file() -> None:
    assert schedule_unit("tests/e2e/test_canary.py::test_a[1]") == "tests/e2e/test_canary.py"
    assert schedule_unit("tests/unit/x/test_y.py::Cls::test_z") == "tests/unit/x/test_y.py"
    assert schedule_unit("tests/integration/remote_like/test_a.py::t") == (
        "tests/integration/remote_like/test_a.py"
    )
