"""Small synthetic videos for tests and benchmarks, written with PyAV (H.264 in MP4 by default).

Frame ``i`` of ``write_video`` is a uniform grey of level ``frame_level(i)`` with a little texture,
so a test can tell from a decoded frame's mean which frame it is (within codec error).
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np


def frame_level(index: int) -> int:
    """Grey level of frame ``index``: 10, 16, 22, ... cycling within 10..249 (steps of 6)."""
    return 10 + (6 * index) % 240


def write_video(
    path: str | os.PathLike,
    num_frames: int,
    width: int = 64,
    height: int = 48,
    fps: float = 10,
    codec: str = "libx264",
    gop: int = 12,
) -> None:
    """Write ``num_frames`` frames whose grey level encodes their index (see ``frame_level``)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(-3, 4, size=(height, width, 3)).astype(np.int16)  # fixed, cheap detail
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(num_frames):
            image = np.clip(frame_level(i) + texture, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_audio_only(path: str | os.PathLike, seconds: float = 1.0, rate: int = 16000) -> None:
    """An AAC file with no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = 1024
        for i in range(int(seconds * rate / samples)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i * samples
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_frameless_video(path: str | os.PathLike) -> None:
    """An AVI whose header declares a video stream but which holds no frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
