"""Small synthetic videos for tests and benchmarks (bench/bench_extract.py), written with PyAV (H.264 in MP4
by default). Odd files that only tests need (audio only, no frames) are tests/synthetic_videos.py's.

Frame ``i`` of ``write_video`` is a uniform grey of level ``frame_level(i)`` with a little texture,
so a test can tell from a decoded frame's mean which frame it is (within codec error).
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

MILLISECOND = Fraction(1, 1000)
AUDIO_RATE = 16000


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
    frame_times: np.ndarray | None = None,
    faststart: bool = False,
    audio_seconds: float = 0.0,
) -> None:
    """Write ``num_frames`` frames whose grey level encodes their index (see ``frame_level``).

    ``frame_times`` (num_frames,) seconds makes a variable-frame-rate video: frame ``i`` is shown
    at ``frame_times[i]`` (millisecond time base) instead of ``i / fps``. ``faststart`` puts the MP4
    index before the frames (as web videos have it). ``audio_seconds`` adds a silent AAC track that long.
    """
    rng = np.random.default_rng(0)
    texture = rng.integers(-3, 4, size=(height, width, 3)).astype(np.int16)  # fixed, cheap detail
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if frame_times is not None:
            stream.time_base = stream.codec_context.time_base = MILLISECOND
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        audio = container.add_stream("aac", rate=AUDIO_RATE) if audio_seconds else None
        for i in range(num_frames):
            image = np.clip(frame_level(i) + texture, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if frame_times is not None:
                frame.pts, frame.time_base = round(frame_times[i] * 1000), MILLISECOND
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            write_silence(container, audio, audio_seconds)


def write_silence(container: av.container.OutputContainer, stream: av.audio.AudioStream, seconds: float) -> None:
    """``seconds`` of silence into an AAC ``stream`` of ``container``."""
    samples = 1024
    for i in range(int(seconds * AUDIO_RATE / samples)):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, i * samples
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
