"""How pytest-xdist shares the suite between its workers: by file, with shared servers together.

``--dist loadfile`` sends each test file to one worker. The remote-stack proofs are
four files whose session fixture starts the same stand-ins (a ZenML server, moto,
MLflow and a fake Kubeflow: 35-40 s on 2 cores); by file, every worker that gets one
of them starts its own set. Here they form one unit, so the set starts once.

This is a scheduler rather than ``xdist_group`` marks with ``--dist loadgroup``:
pytest-xdist 3.8 tells the scheduler a test's group by appending it to the node id,
which pytest 9.2 no longer lets a plugin change, so on these pins the marks are
silently ignored and every test is scheduled on its own (pytest-xdist issue #1386).
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

#: Folders whose test files share session fixtures too costly to start on every worker.
SHARED_SESSION_FOLDERS = ("tests/integration/remote/",)


def schedule_unit(nodeid: str) -> str:
    """The unit a test is scheduled in: its shared folder, or else its file."""
    path = nodeid.split("::", 1)[0]
    for folder in SHARED_SESSION_FOLDERS:
        if path.startswith(folder):
            return folder
    return path


class SharedSessionFileScheduling(LoadFileScheduling):
    """``--dist loadfile``, except that each shared-session folder is one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return schedule_unit(nodeid)
