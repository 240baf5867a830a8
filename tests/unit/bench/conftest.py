"""bench/ holds scripts, not a package: its modules import each other by top-level name
(``python bench/serving.py`` puts bench/ first on sys.path), and so do these tests."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[3] / "bench"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
