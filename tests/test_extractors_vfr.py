"""Variable frame rate: clips are laid out uniformly in presentation time and timed by the frames' timestamps.

The generated video shows 10 s at 5 fps then 5 s at 50 fps (300 frames, average 20 fps). Laid out
by frame index and timed with the average rate, its clip "at 2.1 s" would really be at 8.2 s and
7 of 8 clips would fall in the last 5 s.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from synthetic_videos import variable_rate_times

from extractors import registry
from extractors.clip_index import build_clip_index, read_clip_index, write_clip_index
from extractors.clips import (
    clip_spans_from_times,
    clip_start_frames,
    clip_start_frames_in_time,
)
from extractors.decode import open_frames
from extractors.extract import FeatureExtractor, extract_shard
from extractors.probe import probe_video, probe_video_with_times
from extractors.store import read_video_features
from extractors.synthetic import frame_level, write_video

TIMES = variable_rate_times([(10, 5), (5, 50)])
NUM_CLIPS = 8

C3D = registry.get("c3d")


@pytest.fixture(scope="module")
def vfr_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    write_video(path, num_frames=len(TIMES), frame_times=TIMES)
    return path


def test_starts_in_time_pick_the_frames_nearest_uniform_times():
    starts = clip_start_frames_in_time(TIMES, NUM_CLIPS)
    wanted = np.linspace(0.0, TIMES[len(TIMES) - 16], NUM_CLIPS)
    assert np.all(np.abs(TIMES[starts] - wanted) <= 0.1 + 1e-9)  # half of the longest frame interval
    assert starts[0] == 0 and starts[-1] == len(TIMES) - 16
    # Constant rate: the same layout as by frame index.
    np.testing.assert_array_equal(clip_start_frames_in_time(np.arange(1000) / 25, 8), clip_start_frames(1000, 8))


def test_spans_from_times_end_where_the_next_clip_length_frame_starts():
    spans = clip_spans_from_times(np.array([0, 10, 284]), TIMES, duration=15.0)
    np.testing.assert_allclose(spans, [[0.0, 3.2], [2.0, 5.2], [14.68, 15.0]])


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_probe_records_the_variable_rate_and_frame_times(vfr_mp4, backend):
    info, times = probe_video_with_times(vfr_mp4, backend=backend)
    assert info.variable_frame_rate
    assert info.num_frames == len(TIMES)
    np.testing.assert_allclose(times, TIMES, atol=1e-3)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_constant_rate_video_is_not_variable(tmp_path, backend):
    write_video(tmp_path / "cfr.mp4", num_frames=40, fps=10)
    assert not probe_video(tmp_path / "cfr.mp4", backend=backend).variable_frame_rate


def test_real_video_is_constant_rate(real_video):
    assert not probe_video(real_video).variable_frame_rate


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_clip_index_lays_clips_uniformly_in_time(vfr_mp4, backend):
    [entry] = build_clip_index({"v": vfr_mp4}, NUM_CLIPS, C3D.name, C3D.sampling, backend=backend)["videos"]
    starts, spans = np.array(entry["clip_starts"]), np.array(entry["clip_spans"])
    assert entry["variable_frame_rate"]
    np.testing.assert_allclose(spans[:, 0], TIMES[starts], atol=1e-3)  # reported times are the frames' own
    np.testing.assert_allclose(np.diff(spans[:, 0]), 14.68 / 7, atol=0.2)  # uniform in time
    assert (spans[:, 0] >= 10).sum() == 3  # the last 5 s of 15 get 3 of 8 clips, not 7
    # The decoder returns the frames the index names (grey level encodes the frame index).
    reader = open_frames(probe_video(vfr_mp4, backend=backend), (48, 64))
    try:
        levels = reader.read(starts).mean(axis=(1, 2, 3))
    finally:
        reader.close()
    np.testing.assert_allclose(levels, [frame_level(i) for i in starts], atol=3)


@pytest.mark.slow
def test_feature_store_reports_the_clip_index_times(vfr_mp4, tmp_path, one_thread):
    index = build_clip_index({"v": vfr_mp4}, 2, C3D.name, C3D.sampling)
    path = tmp_path / "index.json"
    write_clip_index(path, index)
    indexed = read_clip_index(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random-init warning
        extractor = FeatureExtractor.named("c3d", "random", num_clips=indexed.num_clips, batch_size=2, device="cpu")
    extract_shard(indexed.videos, indexed.num_clips, tmp_path / "c3d.h5", extractor)
    _, attrs = read_video_features(tmp_path / "c3d.h5", "v")
    np.testing.assert_allclose(attrs["clip_spans"], index["videos"][0]["clip_spans"])
    assert attrs["clip_spans"][1, 0] == pytest.approx(14.68, abs=1e-3)  # the average rate would say 284 / 20 = 14.2
