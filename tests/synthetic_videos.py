"""Odd video files that only tests need; the regular synthetic videos are ``extractors.synthetic``'s (the
benchmarks use them too)."""

from __future__ import annotations

import os

import av
import numpy as np

from extractors.synthetic import AUDIO_RATE, write_silence


def variable_rate_times(segments: list[tuple[float, float]]) -> np.ndarray:
    """Frame times of consecutive (seconds, fps) segments, e.g. [(10, 5), (5, 50)]: 10 s at 5 fps then 5 s at 50 fps."""
    times, start = [], 0.0
    for seconds, fps in segments:
        times.append(start + np.arange(round(seconds * fps)) / fps)
        start += seconds
    return np.concatenate(times)


def write_audio_only(path: str | os.PathLike, seconds: float = 1.0) -> None:
    """An AAC file with no video stream."""
    with av.open(str(path), "w") as container:
        write_silence(container, container.add_stream("aac", rate=AUDIO_RATE), seconds)


def write_frameless_video(path: str | os.PathLike) -> None:
    """An AVI whose header declares a video stream but which holds no frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
