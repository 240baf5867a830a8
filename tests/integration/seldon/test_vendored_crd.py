"""The SeldonDeployment CRD the manifest checks use is the vendored upstream file.

A fresh clone has nothing beside it, so the CRD lives in the repository
(tests/integration/seldon/schemas/); these tests keep it the unmodified
seldon-core v1.17.1 file its NOTICE names, and keep the suite from reading
anything outside the repository again.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.integration.seldon.crd import SCHEMAS_DIR, crd_path, load_crd_schema


def test_the_vendored_crd_is_the_file_its_notice_names() -> None:
    """Same bytes as upstream (the NOTICE's sha256), with its source and licence beside it."""
    notice = (SCHEMAS_DIR / "NOTICE.md").read_text(encoding="utf-8")
    recorded = re.search(r"`([0-9a-f]{64})`", notice)
    assert recorded, "NOTICE.md records no sha256"
    assert hashlib.sha256(crd_path().read_bytes()).hexdigest() == recorded.group(1)
    assert "v1.17.1" in notice and "Apache License 2.0" in notice
    assert "Apache License" in (SCHEMAS_DIR / "LICENSE-Apache-2.0.txt").read_text(encoding="utf-8")


def test_the_vendored_crd_declares_the_fields_the_flavor_sets() -> None:
    """protocol and per-predictor traffic are what the Seldon flavor relies on."""
    schema = load_crd_schema(crd_path())
    spec = schema["properties"]["spec"]["properties"]
    assert "protocol" in spec
    assert "traffic" in spec["predictors"]["items"]["properties"]


def test_nothing_in_the_tests_or_ci_reads_outside_the_repository() -> None:
    """A user's clone has no ../shared: no test, benchmark or CI script may need it."""
    outside = re.compile(r"\.\./shared|/work/shared|parent\s*/\s*\"shared\"")
    roots = [PROJECT_ROOT / name for name in ("tests", "bench", ".ci", ".github")]
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for root in roots
        for path in root.rglob("*")
        if path.is_file()
        and "node_modules" not in path.parts
        and path.suffix in {".py", ".yml", ".yaml", ".sh", ".md", ""}
        and path != Path(__file__).resolve()
        and outside.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []
