"""Uniform clip sampling (extractors.clips): pure functions on frame counts."""

from __future__ import annotations

import numpy as np
import pytest

from extractors.clips import clip_frame_indices, clip_spans, clip_start_frames, uniform_spans


def test_starts_cover_whole_video_without_overlap_when_long_enough():
    starts = clip_start_frames(num_frames=1000, num_clips=8)
    assert starts[0] == 0
    assert starts[-1] == 1000 - 16  # the last clip ends on the last frame
    assert np.all(np.diff(starts) >= 16)  # 8 clips * 16 frames fit: no overlap
    np.testing.assert_array_equal(starts, np.round(np.linspace(0, 984, 8)).astype(int))


def test_short_video_gives_overlapping_clips():
    starts = clip_start_frames(num_frames=40, num_clips=4)  # 4 * 16 = 64 > 40 frames
    np.testing.assert_array_equal(starts, [0, 8, 16, 24])
    assert np.any(np.diff(starts) < 16)


def test_more_clips_than_start_positions_repeat_starts():
    starts = clip_start_frames(num_frames=18, num_clips=5)  # only starts 0..2 exist
    assert starts.tolist() == [0, 0, 1, 2, 2]  # linspace(0, 2, 5) = 0, .5, 1, 1.5, 2 rounded half to even


def test_video_shorter_than_a_clip_repeats_last_frame():
    starts = clip_start_frames(num_frames=5, num_clips=3)
    assert starts.tolist() == [0, 0, 0]
    indices = clip_frame_indices(starts, num_frames=5)
    assert indices.shape == (3, 16)
    assert indices[0].tolist() == [0, 1, 2, 3, 4] + [4] * 11
    assert indices.max() == 4


def test_frame_indices_are_consecutive_and_in_range():
    starts = clip_start_frames(num_frames=420, num_clips=32)
    indices = clip_frame_indices(starts, num_frames=420)
    assert indices.shape == (32, 16)
    np.testing.assert_array_equal(np.diff(indices, axis=1), 1)
    assert indices.min() == 0 and indices.max() == 419


def test_spans_in_seconds_clamped_to_duration():
    starts = np.array([0, 10, 20])
    spans = clip_spans(starts, fps=10.0, duration=3.0)
    np.testing.assert_allclose(spans, [[0.0, 1.6], [1.0, 2.6], [2.0, 3.0]])  # last end 3.6 -> 3.0


def test_single_clip_and_invalid_arguments():
    assert clip_start_frames(num_frames=100, num_clips=1).tolist() == [0]
    with pytest.raises(ValueError, match="at least one frame"):
        clip_start_frames(num_frames=0, num_clips=4)
    with pytest.raises(ValueError, match="num_clips"):
        clip_start_frames(num_frames=10, num_clips=0)
    with pytest.raises(ValueError, match="fps"):
        clip_spans(np.array([0]), fps=0.0, duration=1.0)


def test_uniform_spans_tile_the_duration():
    spans = uniform_spans(4, 10.0)
    np.testing.assert_allclose(spans, [[0, 2.5], [2.5, 5], [5, 7.5], [7.5, 10]])
