"""Matplotlib for the project's figures: the file-only Agg backend, and PNGs written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from hscnet.io import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only; no display on the workflow's machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: str | os.PathLike) -> None:
    """Write ``fig`` to ``out`` (format from the suffix, PNG by default) through a temporary file; close it."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(out).suffix.lstrip(".") or "png")
    pyplot().close(fig)
