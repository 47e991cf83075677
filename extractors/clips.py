"""Uniform clip sampling: N^V clips, each covering ``clip_len`` frames, over the whole video.

HSCNet (Sec. 4.1) "uniformly sample[s] 256 and 512 video clips" of 16 frames. Clip ``i`` starts at
frame ``round(linspace(0, num_frames - clip_len, N^V)[i])`` (NumPy rounding, half to even), so
the first clip starts at frame 0 and the last one ends on the last frame.

Edge cases, chosen so that every video yields exactly N^V clips:

* fewer than ``N^V * clip_len`` frames: the clips overlap (and several clips may even share a
  start frame when ``num_frames - clip_len < N^V - 1``);
* fewer than ``clip_len`` frames: every clip starts at frame 0 and frame indices past the end are
  clamped to the last frame, i.e. the last frame is repeated to fill the clip.

A clip's span in seconds is ``[start / fps, (start + clip_len) / fps]``, both ends clamped to
``[0, duration]`` (a clip of a very short video, or with a container duration shorter than the
frame count suggests, may end past the video).

Variable-frame-rate videos (``clip_start_frames_in_time``): frame index is not proportional to
time there, so the clip starts are the frames nearest to ``N^V`` times spaced uniformly between
the first frame and the last possible start frame, and a clip's span runs from its first frame's
presentation time to the next clip-length frame's (``clip_spans_from_times``).

An extractor that takes its frames at a lower rate than the video's (``ClipSampling.fps``) lays out
clips of ``frames_per_clip * stride`` frames and reads every ``stride``-th of them
(``clip_frame_indices``).

All functions are pure and work on NumPy arrays.
"""

from __future__ import annotations

import numpy as np

CLIP_LEN = 16  # frames per clip unless an extractor says otherwise (C3D's; ``extractors.base.ClipSampling``)


def clip_start_frames(num_frames: int, num_clips: int, clip_len: int = CLIP_LEN) -> np.ndarray:
    """Start frame of each clip, (num_clips,) int64, non-decreasing."""
    _check_layout(num_frames, num_clips, clip_len)
    last_start = max(num_frames - clip_len, 0)
    return np.round(np.linspace(0, last_start, num_clips)).astype(np.int64)


def _check_layout(num_frames: int, num_clips: int, clip_len: int) -> None:
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    if num_clips < 1:
        raise ValueError(f"num_clips must be at least 1, got {num_clips}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be at least 1, got {clip_len}")


def clip_start_frames_in_time(frame_times: np.ndarray, num_clips: int, clip_len: int = CLIP_LEN) -> np.ndarray:
    """Start frame of each clip, uniform in presentation time; ``frame_times`` (num_frames,) increasing seconds."""
    times = np.asarray(frame_times, dtype=np.float64)
    _check_layout(len(times), num_clips, clip_len)
    last_start = max(len(times) - clip_len, 0)
    wanted = np.linspace(times[0], times[last_start], num_clips)
    after = np.clip(np.searchsorted(times, wanted), 0, last_start)  # first frame at or after each time
    before = np.maximum(after - 1, 0)
    nearer_before = wanted - times[before] < times[after] - wanted
    return np.where(nearer_before, before, after).astype(np.int64)


def clip_spans_from_times(
    starts: np.ndarray, frame_times: np.ndarray, duration: float, clip_len: int = CLIP_LEN
) -> np.ndarray:
    """Span of each clip in seconds from the frames' presentation times, (num_clips, 2) within ``[0, duration]``.

    A clip ends where the frame after its last one starts, or at ``duration`` for the video's last frames.
    """
    times = np.asarray(frame_times, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    ends = starts + clip_len
    end_times = np.where(ends < len(times), times[np.minimum(ends, len(times) - 1)], duration)
    return np.clip(np.stack([times[starts], end_times], axis=1), 0.0, duration)


def clip_frame_indices(starts: np.ndarray, num_frames: int, clip_len: int = CLIP_LEN, stride: int = 1) -> np.ndarray:
    """Frame indices of each clip, (num_clips, clip_len) int64: every ``stride``-th frame from its start,
    clamped to ``num_frames - 1``."""
    starts = np.asarray(starts, dtype=np.int64)
    indices = starts[:, None] + stride * np.arange(clip_len, dtype=np.int64)[None, :]
    return np.minimum(indices, num_frames - 1)


def clip_spans(starts: np.ndarray, fps: float, duration: float, clip_len: int = CLIP_LEN) -> np.ndarray:
    """Span of each clip in seconds, (num_clips, 2) float64 ``[start, end]`` within ``[0, duration]``."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    starts = np.asarray(starts, dtype=np.float64)
    spans = np.stack([starts / fps, (starts + clip_len) / fps], axis=1)
    return np.clip(spans, 0.0, duration)


def uniform_spans(num_clips: int, duration: float) -> np.ndarray:
    """``num_clips`` equal, contiguous spans covering ``[0, duration]``, (num_clips, 2) float64.

    Used for imported precomputed features, whose rows are resampled to equal time bins.
    """
    edges = np.linspace(0.0, duration, num_clips + 1)
    return np.stack([edges[:-1], edges[1:]], axis=1)
