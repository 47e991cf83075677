"""Clip index of a shard: the probe and the clip layout of each of its videos, as JSON.

Written by ``hscnet clip-index`` and read by ``hscnet extract-features``, so that probing (cheap, may
fail on bad files) and the network's forward (expensive) are separate, individually cached steps. The
layout follows the extractor's ``ClipSampling`` (frames per clip, frame rate)::

    {"num_clips": 256, "extractor": "c3d", "frames_per_clip": 16, "fps": null,
     "videos": [{"id": "v_x", "path": "data/v_x.mp4", "backend": "decord", "fps": 30.0,
                 "num_frames": 420, "duration": 14.05, "width": 480, "height": 360,
                 "size_bytes": 1234, "variable_frame_rate": false, "frame_stride": 1,
                 "clip_starts": [0, ...], "clip_spans": [[0.0, 0.533], ...]}]}

``clip_layout`` places clips of ``frames_per_clip * frame_stride`` frames by frame index (constant
frame rate) or by the frames' presentation times (variable frame rate, see ``extractors.clips``); the
index keeps the spans it computed, so the feature store reports the clips' real times.

Videos are sorted by id, so the file does not depend on the order they were listed in.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping

import numpy as np

from extractors.base import ClipSampling
from extractors.clips import (
    clip_frame_indices,
    clip_spans,
    clip_spans_from_times,
    clip_start_frames,
    clip_start_frames_in_time,
)
from extractors.probe import VideoInfo, probe_video_with_times
from hscnet.errors import InputError
from hscnet.io import read_json, write_json
from hscnet.progress import progress

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class IndexedVideo:
    """One video of a clip index: its probe, the start frame (N^V,) and span in seconds (N^V, 2) of each clip,
    and the frames between two frames of a clip (1: consecutive)."""

    video_id: str
    info: VideoInfo
    clip_starts: np.ndarray
    clip_spans: np.ndarray
    frame_stride: int = 1

    def frame_indices(self, frames_per_clip: int) -> np.ndarray:
        """(N^V, frames_per_clip) frame indices of the clips."""
        return clip_frame_indices(self.clip_starts, self.info.num_frames, frames_per_clip, self.frame_stride)


@dataclasses.dataclass(frozen=True)
class ClipIndex:
    num_clips: int
    extractor: str  # whose sampling laid the clips out
    sampling: ClipSampling
    videos: list[IndexedVideo]


def clip_layout(info: VideoInfo, frame_times: np.ndarray, num_clips: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(start frames (N^V,), spans (N^V, 2) s) of ``num_clips`` clips of ``window`` frames over a probed video."""
    if info.variable_frame_rate:
        starts = clip_start_frames_in_time(frame_times, num_clips, window)
        return starts, clip_spans_from_times(starts, frame_times, info.duration, window)
    starts = clip_start_frames(info.num_frames, num_clips, window)
    return starts, clip_spans(starts, info.fps, info.duration, window)


def lay_out_clips(
    video_id: str, info: VideoInfo, frame_times: np.ndarray, num_clips: int, sampling: ClipSampling
) -> IndexedVideo:
    """``num_clips`` clips of ``sampling`` laid out uniformly over a probed video."""
    starts, spans = clip_layout(info, frame_times, num_clips, sampling.window(info.fps))
    return IndexedVideo(video_id, info, starts, spans, sampling.stride(info.fps))


def build_clip_index(
    videos: Mapping[str, str | os.PathLike],
    num_clips: int,
    extractor: str,
    sampling: ClipSampling,
    backend: str = "auto",
) -> dict:
    """Probe every video (id -> path) and lay out ``num_clips`` clips of ``extractor``'s ``sampling`` over it."""
    if num_clips < 1:
        raise InputError(f"num_clips must be at least 1, got {num_clips}")
    entries = []
    for video_id in progress(sorted(videos), desc="probe", unit="video"):
        info, frame_times = probe_video_with_times(videos[video_id], backend=backend)
        video = lay_out_clips(video_id, info, frame_times, num_clips, sampling)
        entry = {"id": video_id, **dataclasses.asdict(info), "frame_stride": video.frame_stride}
        entry["clip_starts"] = video.clip_starts.tolist()
        entry["clip_spans"] = video.clip_spans.tolist()
        entries.append(entry)
        log.debug("%s: %d frames at %.3f fps via %s", video_id, info.num_frames, info.fps, info.backend)
        if info.variable_frame_rate:
            log.info("%s: variable frame rate; clips laid out by frame times", video_id)
    return {
        "num_clips": num_clips,
        "extractor": extractor,
        "frames_per_clip": sampling.frames_per_clip,
        "fps": sampling.fps,
        "videos": entries,
    }


def write_clip_index(path: str | os.PathLike, index: dict) -> None:
    write_json(path, index)


def read_clip_index(path: str | os.PathLike) -> ClipIndex:
    """The clip index in a file; InputError naming the file if it is malformed."""
    data = read_json(path)
    try:
        num_clips = int(data["num_clips"])
        sampling = ClipSampling(int(data["frames_per_clip"]), None if data["fps"] is None else float(data["fps"]))
        videos = []
        for entry in data["videos"]:
            info = VideoInfo(**{f.name: entry[f.name] for f in dataclasses.fields(VideoInfo)})
            starts = np.asarray(entry["clip_starts"], dtype=np.int64)
            spans = np.asarray(entry["clip_spans"], dtype=np.float64)
            if starts.shape != (num_clips,) or spans.shape != (num_clips, 2):
                raise InputError(
                    f"video {entry['id']!r} has {starts.size} clip starts and {len(spans)} spans, expected {num_clips}"
                )
            videos.append(IndexedVideo(entry["id"], info, starts, spans, int(entry["frame_stride"])))
        extractor = str(data["extractor"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: malformed clip index ({err!r})") from err
    return ClipIndex(num_clips, extractor, sampling, videos)
