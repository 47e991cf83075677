"""Headless Chromium (Debian's ``chromium``) for the tests: a report page loaded from disk and checked
(``check_page_in_browser``), and a page driven as a user would (``BrowserPage``).

The page's own inline script marks ``<html>`` with ``data-images`` (loaded/total) and ``data-errors``
(see ``hscnet.report.page``); ``--dump-dom`` returns the DOM after the load event, and
``--enable-logging=stderr`` prints every console message as an ``INFO:CONSOLE`` line.
Without chromium the check skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
import time
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
ANSWER_SECONDS = 60  # a hung browser fails the test instead of stalling CI


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


class BrowserPage:
    """One page in headless Chromium, driven over the DevTools protocol the way a user would: typing,
    clicking, choosing a file; scripts of the test read what the page shows.

    The protocol runs over a pipe (``--remote-debugging-pipe``: JSON messages ended by NUL, written to
    the browser's fd 3 and read from its fd 4), so no port and no websocket library are needed.
    """

    def __init__(self, url: str, window: tuple[int, int] = WINDOW) -> None:
        self._profile = tempfile.TemporaryDirectory()
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        # Above 10 so that moving them to 3 and 4 in the child cannot overwrite one another.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)

        def as_fds_3_and_4() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._process = subprocess.Popen(
            [
                chromium(),
                *FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "--autoplay-policy=no-user-gesture-required",
                f"--window-size={window[0]},{window[1]}",
                "about:blank",
            ],
            pass_fds=(3, 4, *high),
            preexec_fn=as_fds_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in high:
            os.close(fd)
        self._buffer, self._next_id, self.console = b"", 0, []
        target = self._command("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._command("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.command("Runtime.enable")
        self.command("Page.enable")
        self.command(
            "Emulation.setDeviceMetricsOverride", width=window[0], height=window[1], deviceScaleFactor=1, mobile=False
        )
        self.command("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def _command(self, method: str, session: str | None = None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                ready, _, _ = select.select([self._from_browser], [], [], ANSWER_SECONDS)
                assert ready, f"{method}: chromium did not answer within {ANSWER_SECONDS} s"
                chunk = os.read(self._from_browser, 1 << 16)
                assert chunk, f"chromium closed the pipe (exit {self._process.poll()})"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("method") == "Runtime.consoleAPICalled":
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in answer["params"]["args"])
                )
            elif answer.get("method") == "Runtime.exceptionThrown":
                self.console.append(answer["params"]["exceptionDetails"].get("text", "exception"))
            if answer.get("id") == self._next_id:
                assert "error" not in answer, f"{method}: {answer['error']}"
                return answer["result"]

    def command(self, method: str, **params):
        """A DevTools protocol command to the page; its result."""
        return self._command(method, self._session, **params)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, f"{expression}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"after {timeout} s still false: {expression}"
            time.sleep(0.1)
        return value

    def click(self, selector: str) -> None:
        """A mouse click at the middle of the element, as a user's."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.command("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field and type ``text`` into it."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.command("Input.insertText", text=text)

    def choose_file(self, selector: str, path: Path) -> None:
        """Choose ``path`` in a file input, as the file dialog does (fires its change event)."""
        document = self.command("DOM.getDocument")["root"]["nodeId"]
        node = self.command("DOM.querySelector", nodeId=document, selector=selector)["nodeId"]
        self.command("DOM.setFileInputFiles", nodeId=node, files=[str(path.resolve())])

    def screenshot(self, path: Path) -> Path:
        data = self.command("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self._command("Browser.close")
        except (AssertionError, OSError):
            pass  # already gone
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> BrowserPage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
