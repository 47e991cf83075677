"""Probe a video file: frame rate, frame count, duration and frame size.

decord is tried first because it indexes every packet when it opens a file, so its frame count is
the number of frames it can actually return. Files decord cannot open (some AVI/MKV variants, odd
pixel formats) fall back to PyAV, which reads the container header and, when the header carries
no frame count, counts the video packets without decoding them. The backend that succeeded is
recorded so that decoding later uses the same one.

``duration`` is the video stream's: from its first frame to the end of its last (the last frame's
time plus one frame interval). The container's duration is not used: it spans every stream, and an
audio track longer than the picture (a 4 s video with 40 s of sound) would put every clip, and every
grounded span, after the last frame. A container that lasts more than a second longer is logged.
A single image (a PNG, JPEG, ... however the file is named) is refused: it is not a video.

Frame times: ``probe_video_with_times`` also returns every frame's presentation time (seconds from
the first frame; decord's index, or PyAV's packet timestamps, no decoding). A stream whose frame
intervals differ from their median by more than ``VARIABLE_RATE_TOLERANCE`` is recorded as
``variable_frame_rate`` (phone recordings, screen captures, spliced videos): its clips must be laid
out by these times, not by frame index and the average fps.

Every problem a user can cause (missing file, empty file, not a video, truncated file, audio only,
no frames) raises ``FileNotFoundError`` or ``ValueError`` whose message starts with the path.
The probe decodes the video's last frame (a seek, not a pass over the video), which every clip
layout ends on: an MP4 cut short whose index sits at the front ("faststart") has a complete
header and would otherwise fail only midway through extraction.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import av
import decord
import numpy as np

from hscnet.errors import InputError, MissingInputError

log = logging.getLogger(__name__)

BACKENDS = ("decord", "pyav")
_LAST_FRAME_FAILS = "the last frame does not decode (truncated or corrupt file?)"
VARIABLE_RATE_TOLERANCE = 0.25  # relative; timestamp rounding of constant-rate streams stays well below it


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
    variable_frame_rate: bool = False  # frame intervals differ: clips are laid out by frame times


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
    return probe_video_with_times(path, backend)[0]


def probe_video_with_times(path: str | os.PathLike, backend: str = "auto") -> tuple[VideoInfo, np.ndarray]:
    """``probe_video`` and the presentation time of every frame, (num_frames,) float64 seconds from the first."""
    if backend not in ("auto", *BACKENDS):
        raise InputError(f"unknown video backend {backend!r}; expected auto, decord or pyav")
    p = check_video_file(path)
    container_duration, pyav_error = _container_duration(p)
    if backend in ("auto", "decord"):
        try:
            return _checked_duration(_probe_decord(p), container_duration)
        except (decord.DECORDError, RuntimeError, AssertionError) as err:
            # decord reports every failure as one of these (AssertionError for a zero frame count).
            if backend == "decord":
                raise InputError(f"{p}: decord cannot open the video ({_short_message(err)})") from err
            log.info("%s: decord cannot open it (%s); falling back to PyAV", p, _short_message(err))
    if pyav_error is not None:
        raise InputError(f"{p}: not a readable video, truncated or corrupt ({pyav_error})")
    return _checked_duration(_probe_pyav(p), container_duration)


def stream_duration(times: np.ndarray, fps: float) -> float:
    """Seconds from the first frame to the end of the last: its time plus the typical frame interval."""
    interval = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
    return float(times[-1] - times[0]) + (interval if interval > 0 else 1.0 / fps)


def _checked_duration(probed: tuple[VideoInfo, np.ndarray], container_duration: float | None):
    info = probed[0]
    if container_duration is not None and container_duration > info.duration + 1.0:
        log.warning(
            "%s: the file lasts %.2f s but its video stream %.2f s (a longer audio or other stream); "
            "the video's duration is used",
            info.path,
            container_duration,
            info.duration,
        )
    return probed


def _probe_decord(path: Path) -> tuple[VideoInfo, np.ndarray]:
    reader = decord.VideoReader(str(path), num_threads=1)
    num_frames = len(reader)
    fps = float(reader.get_avg_fps())
    height, width = reader[0].shape[:2]
    if not fps > 0:
        raise InputError(f"{path}: video stream has no valid frame rate ({fps})")
    try:
        reader[num_frames - 1]
    except (decord.DECORDError, RuntimeError) as err:
        raise InputError(f"{path}: {_LAST_FRAME_FAILS} ({_short_message(err)})") from err
    times = reader.get_frame_timestamp(np.arange(num_frames))[:, 0].astype(np.float64)
    times -= times[0]
    info = VideoInfo(
        path=str(path),
        fps=fps,
        num_frames=num_frames,
        duration=stream_duration(times, fps),
        width=int(width),
        height=int(height),
        backend="decord",
        size_bytes=path.stat().st_size,
        variable_frame_rate=is_variable_rate(times),
    )
    return info, times


def _probe_pyav(path: Path) -> tuple[VideoInfo, np.ndarray]:
    with av.open(str(path)) as container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise InputError(f"{path}: file has no video stream (streams: {kinds})")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise InputError(f"{path}: video stream has no valid frame rate")
        fps = float(rate)
        # Packet timestamps, no decoding; also the frame count of headers without one (MKV/WebM).
        stamps = [packet.pts for packet in container.demux(stream) if packet.size]
        num_frames = stream.frames if stream.frames > 0 else len(stamps)
        if num_frames - len(stamps) > max(2, round(fps)):  # the shortfall PyAVFrames tolerates
            raise InputError(
                f"{path}: {_LAST_FRAME_FAILS}: the header lists {num_frames} frames, the file holds {len(stamps)}"
            )
        width, height = stream.codec_context.width, stream.codec_context.height
        last = _decode_frame_at(container, stream, max((s for s in stamps if s is not None), default=0))
        if num_frames > 0 and last is None:
            raise InputError(f"{path}: {_LAST_FRAME_FAILS}")
        if num_frames > 0 and quarter_turns(last.rotation) % 2:
            width, height = height, width  # displayed size, as decord reports it
        if len(stamps) == num_frames and None not in stamps:
            times = np.sort(np.asarray(stamps, dtype=np.float64)) * float(stream.time_base)
            if times.size:
                times -= times[0]
        else:  # timestamps missing (some AVIs) or not one per frame: assume a constant rate
            times = np.arange(num_frames) / fps
    if num_frames <= 0:
        raise InputError(f"{path}: video stream has zero frames")
    info = VideoInfo(
        path=str(path),
        fps=fps,
        num_frames=int(num_frames),
        duration=stream_duration(times, fps),
        width=int(width),
        height=int(height),
        backend="pyav",
        size_bytes=path.stat().st_size,
        variable_frame_rate=is_variable_rate(times),
    )
    return info, times


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0..3) that show a frame upright, from its display-matrix rotation.

    PyAV reports the rotation (``VideoFrame.rotation``, degrees counter-clockwise) but, unlike decord
    and the ffmpeg command line, does not apply it; ``np.rot90(frame, quarter_turns(rotation))`` does.
    """
    return round(rotation / 90) % 4


def _decode_frame_at(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, pts: int
) -> av.VideoFrame | None:
    """The frame at ``pts`` (seek to the keyframe before it, decode up to it); None if it does not decode."""
    try:
        container.seek(pts, stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts >= pts:
                return frame
    except av.FFmpegError:
        pass
    return None


def is_variable_rate(times: np.ndarray) -> bool:
    """Whether some frame interval differs from the median interval by more than the tolerance."""
    intervals = np.diff(times)
    if intervals.size < 2:
        return False
    typical = float(np.median(intervals))
    return bool(np.any(np.abs(intervals - typical) > VARIABLE_RATE_TOLERANCE * typical))


def _container_duration(path: Path) -> tuple[float | None, str | None]:
    """Container duration in seconds (None when unknown) and the PyAV open error, if any; refuses an image."""
    try:
        with av.open(str(path)) as container:
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                raise InputError(
                    f"{path}: an image ({container.format.name.removesuffix('_pipe')}), not a video; give a video file"
                )
            if container.duration is None or container.duration <= 0:
                return None, None
            return container.duration / av.time_base, None
    except (av.FFmpegError, IndexError, UnicodeDecodeError) as err:
        return None, _short_message(err)


def _short_message(err: BaseException) -> str:
    """The last line of an error message, capped: native libraries prepend long source paths."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1][-200:] if lines else type(err).__name__
