"""Progress bars that suit their destination: tqdm's redrawn bar on a terminal, plain log lines elsewhere.

A Snakemake rule log (or any redirected stderr) would otherwise fill with tqdm's carriage-return
frames: a 60-epoch log becomes mostly progress bars. Off a terminal, ``progress`` writes one log
line (logger ``hscnet.progress``) every ``HSCNET_PROGRESS_SECONDS`` seconds (default 30) while a
loop runs, and none for loops shorter than that; each stage's own summary lines stay readable.

A caller that shows progress elsewhere (``hscnet serve``'s page) sets ``progress_listener`` in its
thread; every bar then also reports ``(description, done, total)`` to it on each update.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)

DEFAULT_LOG_SECONDS = 30.0

# Called with (description, done, total) whenever a bar of this thread advances; None: nobody listens.
progress_listener: ContextVar[Callable[[str, int, int | None], None] | None] = ContextVar(
    "progress_listener", default=None
)


def progress(iterable: Any = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on a terminal; off one, a tqdm that logs a line every so often."""
    if sys.stderr.isatty():
        return _ReportedProgress(iterable, **kwargs)
    seconds = float(os.environ.get("HSCNET_PROGRESS_SECONDS", DEFAULT_LOG_SECONDS))
    plain = {
        "file": _LogLines(),
        "mininterval": seconds,
        "maxinterval": max(seconds, 10.0),  # tqdm's monitor thread would otherwise refresh every 10 s
        "delay": seconds,  # no line at all for a loop shorter than one interval
        "dynamic_ncols": False,
        "bar_format": "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]",
    }
    return _LoggedProgress(iterable, **{**kwargs, **plain})


class _ReportedProgress(tqdm):
    """tqdm that also tells this thread's ``progress_listener``, if any, how far it is."""

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        listener = progress_listener.get()
        if listener is not None:
            listener(self.desc, int(self.n), self.total)
        return shown


class _LoggedProgress(_ReportedProgress):
    """tqdm whose postfix updates wait for the next interval (by default each one redraws the bar)."""

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_postfix_str(self, s="", refresh=True) -> None:
        super().set_postfix_str(s, refresh=False)


class _LogLines(io.TextIOBase):
    """A file for tqdm: each frame becomes one log line instead of a carriage-return redraw."""

    def __init__(self) -> None:
        super().__init__()
        self._last = ""

    def write(self, text: str) -> int:
        line = text.strip("\r\n ")
        if line and line != self._last:  # tqdm clears a bar with a frame of spaces
            log.info("%s", line)
            self._last = line
        return len(text)

    def flush(self) -> None:
        pass
