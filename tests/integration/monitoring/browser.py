"""A real headless Chromium for tests of HTML pages that draw themselves with JavaScript.

Evidently's report is a JavaScript bundle with its data inlined as JSON: the raw
file has no visible text at all, so a page check means running it in a browser.
Chromium's own ``--dump-dom`` / ``--screenshot`` modes are enough, no driver
library needed. ``--virtual-time-budget`` lets the page's scripts and timers run
to completion (in fast-forwarded virtual time) before the DOM is dumped or the
picture taken; each call gets its own profile so parallel tests do not share one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Where Debian's package puts it; CHROMIUM overrides, PATH is searched otherwise.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio")
#: Milliseconds of virtual time the page gets to render (measured: Evidently's needs ~1 s).
BUDGET_MS = 10_000
TIMEOUT_S = 120


class ChromiumMissing(RuntimeError):
    """No Chromium on this machine; CI installs one, so this is a failure, not a skip."""


def chromium() -> str:
    """The Chromium executable, or :class:`ChromiumMissing` saying how to get one."""
    override = os.environ.get("CHROMIUM")
    if override:
        if Path(override).is_file():
            return override
        raise ChromiumMissing(f"CHROMIUM={override} is not a file: point it at a Chromium binary")
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    raise ChromiumMissing(
        f"no Chromium on PATH (looked for {', '.join(CANDIDATES)}): install it "
        "(Debian/Ubuntu: `apt-get install chromium`) or set CHROMIUM to its path"
    )


def _run(page: Path, *flags: str) -> str:
    """Run Chromium headless on ``page`` with ``flags``; its stdout."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={BUDGET_MS}",
                *flags,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def rendered_dom(page: Path) -> str:
    """The page's DOM after its JavaScript ran, serialised as HTML."""
    return _run(page, "--dump-dom")


def screenshot(page: Path, picture: Path, width: int = 1400, height: int = 2000) -> Path:
    """A PNG of the page's first ``width`` x ``height`` pixels, after its JavaScript ran."""
    _run(page, f"--screenshot={picture.resolve()}", f"--window-size={width},{height}")
    if not picture.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {picture}")
    return picture


def visible_text(html: str) -> list[str]:
    """The text nodes a reader sees: no scripts, no styles, stripped, empties dropped."""
    body = re.sub(r"<(script|style)\b[^>]*>.*?</\1\s*>", " ", html, flags=re.S | re.I)
    return [t.strip() for t in re.split(r"<[^>]*>", body) if t.strip()]
