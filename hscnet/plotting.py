"""Matplotlib for the project's figures (report and ``ground --plot``): the file-only Agg backend, PNGs written
atomically, and frame thumbnails of a video."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from extractors.decode import open_frames
from extractors.probe import probe_video
from hscnet.io import atomic_path

THUMB_PIXELS = 180  # decoded thumbnail height


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


def thumbnails(video: str | os.PathLike, count_for_aspect) -> np.ndarray:
    """RGB frames (n, H, W, 3) at the centres of n equal stretches of the video.

    ``count_for_aspect(width / height)`` chooses n from the frames' aspect ratio.
    """
    info = probe_video(video)
    count = int(count_for_aspect(info.width / info.height))
    times = (np.arange(count) + 0.5) * info.duration / count
    wanted = np.clip(np.round(times * info.fps).astype(np.int64), 0, info.num_frames - 1)
    indices, inverse = np.unique(wanted, return_inverse=True)  # readers take sorted, unique indices
    reader = open_frames(info, (THUMB_PIXELS, max(1, round(THUMB_PIXELS * info.width / info.height))))
    try:
        return reader.read(indices)[inverse]
    finally:
        reader.close()
