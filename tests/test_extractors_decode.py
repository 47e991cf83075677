"""Streaming frame readers (extractors.decode): the right frames, resized, from both backends."""

from __future__ import annotations

import numpy as np
import pytest

from extractors.decode import open_frames
from extractors.probe import probe_video
from extractors.synthetic import frame_level, write_video

SIZE = (128, 171)


@pytest.fixture(scope="module")
def level_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("decode") / "levels.mp4"
    write_video(path, num_frames=40, width=64, height=48, fps=10, gop=8)
    return path


def frame_ids(frames: np.ndarray) -> list[int]:
    """Index of each decoded frame, recovered from its grey level (frames 0..39 are unambiguous)."""
    levels = frames.reshape(len(frames), -1).mean(axis=1)
    return [int(round((level - 10) / 6)) for level in levels]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_reads_exactly_the_requested_frames(level_video, backend):
    info = probe_video(level_video, backend=backend)
    reader = open_frames(info, SIZE)
    try:
        first = reader.read(np.array([0, 1, 2, 17]))
        # Overlaps the previous request (2, 17) and jumps ahead past a keyframe.
        second = reader.read(np.array([2, 17, 18, 30, 39]))
    finally:
        reader.close()
    assert first.shape == (4, *SIZE, 3) and first.dtype == np.uint8
    assert frame_ids(first) == [0, 1, 2, 17]
    assert frame_ids(second) == [2, 17, 18, 30, 39]
    np.testing.assert_array_equal(first[2:], second[:2])  # re-served frames are identical


def test_pyav_rejects_going_back_past_what_it_kept(level_video):
    reader = open_frames(probe_video(level_video, backend="pyav"), SIZE)
    try:
        reader.read(np.array([10, 11]))
        with pytest.raises(RuntimeError, match="non-decreasing clip starts"):
            reader.read(np.array([3]))
    finally:
        reader.close()


def test_backends_agree_on_real_video(real_video):
    indices = np.array([0, 15, 200, 201, 419])
    frames = {}
    for backend in ("decord", "pyav"):
        reader = open_frames(probe_video(real_video, backend=backend), SIZE)
        frames[backend] = reader.read(indices).astype(np.int16)
        reader.close()
    difference = np.abs(frames["decord"] - frames["pyav"])
    assert difference.mean() < 0.5  # both scale with FFmpeg's bilinear swscale; only rounding differs
    assert frames["decord"][2].std() > 10  # real content, not a blank frame


def test_decord_detects_changed_file(tmp_path, level_video):
    info = probe_video(level_video)
    path = tmp_path / "changed.mp4"
    write_video(path, num_frames=20)
    changed = type(info)(**{**info.__dict__, "path": str(path)})
    with pytest.raises(ValueError, match=r"changed\.mp4: has 20 frames but was probed with 40"):
        open_frames(changed, SIZE)


def test_frame_level_encoding_is_decodable():
    assert [frame_level(i) for i in (0, 1, 39)] == [10, 16, 244]


def test_pyav_repeats_last_frame_for_a_small_shortfall(level_video, caplog):
    info = probe_video(level_video, backend="pyav")
    overstated = type(info)(**{**info.__dict__, "num_frames": 45})  # 5 frames missing, under fps=10
    reader = open_frames(overstated, SIZE)
    try:
        frames = reader.read(np.array([38, 39, 43, 44]))
    finally:
        reader.close()
    assert frame_ids(frames) == [38, 39, 39, 39]
    assert "stream ends after 40 of 45 frames" in caplog.text


def test_pyav_fails_on_a_large_shortfall(level_video):
    info = probe_video(level_video, backend="pyav")
    truncated = type(info)(**{**info.__dict__, "num_frames": 80})
    reader = open_frames(truncated, SIZE)
    try:
        with pytest.raises(ValueError, match=r"levels\.mp4: stream ends after 40 of 80 frames"):
            reader.read(np.array([60]))
    finally:
        reader.close()


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_sparse_reads_across_long_gops(tmp_path, backend):
    path = tmp_path / "long_gop.mp4"
    write_video(path, num_frames=200, fps=25, gop=50)  # keyframes every 50 frames
    reader = open_frames(probe_video(path, backend=backend), SIZE)
    requests = [np.array([3, 4, 47, 48]), np.array([48, 49, 50, 51, 99]), np.array([133, 170, 199])]
    try:
        for request in requests:
            # Levels repeat every 40 frames (frame_level cycles through 240 grey levels in steps of 6).
            assert frame_ids(reader.read(request)) == [int(i) % 40 for i in request]
    finally:
        reader.close()
