"""Load a report page from disk in headless Chromium (Debian's ``chromium``) and check it.

The page's own inline script marks ``<html>`` with ``data-images`` (loaded/total) and ``data-errors``
(see ``hscnet.report.page``); ``--dump-dom`` returns the DOM after the load event, and
``--enable-logging=stderr`` prints every console message as an ``INFO:CONSOLE`` line.
Without chromium the check skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

# Offline and quiet: no sandbox as root, no GPU, nothing that phones home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WINDOW = (1280, 1600)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium not installed (apt-get install -y --no-install-recommends chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; .ci/run installs it, so CI must have it")
        pytest.skip(message)
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def check_page_in_browser(page: Path, expected_images: int) -> Path:
    """Assert the page loads with every image and no console message or error; returns the screenshot
    written beside it (``<page stem>.screenshot.png``, the window's size)."""
    loaded = _run(["--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()])
    root = re.search(r"<html[^>]*>", loaded.stdout)
    assert root, f"{page}: chromium returned no DOM:\n{loaded.stdout[:500]}"
    assert f'data-images="{expected_images}/{expected_images}"' in root[0], f"{page}: images not all loaded: {root[0]}"
    assert 'data-errors="0"' in root[0], f"{page}: errors while loading: {root[0]}"
    console = [line for line in loaded.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, f"{page}: console messages:\n" + "\n".join(console)

    screenshot = page.with_name(f"{page.stem}.screenshot.png")
    _run(
        [
            f"--screenshot={screenshot.resolve()}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--hide-scrollbars",
            page.resolve().as_uri(),
        ]
    )
    assert png_size(screenshot) == WINDOW
    return screenshot
