"""Probe a video file: frame rate, frame count, duration and frame size.

decord is tried first because it indexes every packet when it opens a file, so its frame count is
the number of frames it can actually return. Files decord cannot open (some AVI/MKV variants, odd
pixel formats) fall back to PyAV, which reads the container header and, when the header carries
no frame count, counts the video packets without decoding them. The backend that succeeded is
recorded so that decoding later uses the same one.

``duration`` is the container's duration (the value annotation files such as ActivityNet
Captions use, which may include a slightly longer audio track) when the header states one, else
``num_frames / fps``.

Every problem a user can cause (missing file, empty file, not a video, truncated file, audio only,
no frames) raises ``FileNotFoundError`` or ``ValueError`` whose message starts with the path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import av
import decord

from hscnet.errors import InputError, MissingInputError

log = logging.getLogger(__name__)

BACKENDS = ("decord", "pyav")


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the extractor needs to know about a video before decoding it."""

    path: str
    fps: float
    num_frames: int
    duration: float  # seconds
    width: int
    height: int
    backend: str  # "decord" or "pyav": the library that opened the file
    size_bytes: int


def check_video_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path after checking that it is an existing, non-empty file."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"{p}: video file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: video file is empty (0 bytes)")
    return p


def probe_video(path: str | os.PathLike, backend: str = "auto") -> VideoInfo:
    """Probe ``path`` with decord, or PyAV when decord cannot open it (``backend="auto"``).

    ``backend`` may force "decord" or "pyav" (used by tests and benchmarks).
    """
    if backend not in ("auto", *BACKENDS):
        raise InputError(f"unknown video backend {backend!r}; expected auto, decord or pyav")
    p = check_video_file(path)
    container_duration, pyav_error = _container_duration(p)
    if backend in ("auto", "decord"):
        try:
            return _probe_decord(p, container_duration)
        except (decord.DECORDError, RuntimeError, AssertionError) as err:
            # decord reports every failure as one of these (AssertionError for a zero frame count).
            if backend == "decord":
                raise InputError(f"{p}: decord cannot open the video ({_short_message(err)})") from err
            log.info("%s: decord cannot open it (%s); falling back to PyAV", p, _short_message(err))
    if pyav_error is not None:
        raise InputError(f"{p}: not a readable video, truncated or corrupt ({pyav_error})")
    return _probe_pyav(p, container_duration)


def _probe_decord(path: Path, container_duration: float | None) -> VideoInfo:
    reader = decord.VideoReader(str(path), num_threads=1)
    num_frames = len(reader)
    fps = float(reader.get_avg_fps())
    height, width = reader[0].shape[:2]
    if not fps > 0:
        raise InputError(f"{path}: video stream has no valid frame rate ({fps})")
    return VideoInfo(
        path=str(path),
        fps=fps,
        num_frames=num_frames,
        duration=container_duration or num_frames / fps,
        width=int(width),
        height=int(height),
        backend="decord",
        size_bytes=path.stat().st_size,
    )


def _probe_pyav(path: Path, container_duration: float | None) -> VideoInfo:
    with av.open(str(path)) as container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise InputError(f"{path}: file has no video stream (streams: {kinds})")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise InputError(f"{path}: video stream has no valid frame rate")
        fps = float(rate)
        num_frames = stream.frames
        if num_frames <= 0:
            # Header without a frame count (common in MKV/WebM): count packets, no decoding.
            num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        width, height = stream.codec_context.width, stream.codec_context.height
    if num_frames <= 0:
        raise InputError(f"{path}: video stream has zero frames")
    return VideoInfo(
        path=str(path),
        fps=fps,
        num_frames=int(num_frames),
        duration=container_duration or num_frames / fps,
        width=int(width),
        height=int(height),
        backend="pyav",
        size_bytes=path.stat().st_size,
    )


def _container_duration(path: Path) -> tuple[float | None, str | None]:
    """Container duration in seconds (None when unknown) and the PyAV open error, if any."""
    try:
        with av.open(str(path)) as container:
            if container.duration is None or container.duration <= 0:
                return None, None
            return container.duration / av.time_base, None
    except (av.FFmpegError, IndexError, UnicodeDecodeError) as err:
        return None, _short_message(err)


def _short_message(err: BaseException) -> str:
    """The last line of an error message, capped: native libraries prepend long source paths."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1][-200:] if lines else type(err).__name__
