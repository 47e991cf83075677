"""Probing videos (extractors.probe) on generated files, the real sample video and bad inputs."""

from __future__ import annotations

import logging

import pytest
from synthetic_videos import write_audio_only, write_frameless_video

from extractors.probe import probe_video
from extractors.synthetic import write_video


@pytest.fixture(scope="module")
def tiny_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("probe") / "tiny.mp4"
    write_video(path, num_frames=40, width=64, height=48, fps=10)
    return path


@pytest.mark.parametrize("backend", ["auto", "decord", "pyav"])
def test_probe_tiny_mp4(tiny_mp4, backend):
    info = probe_video(tiny_mp4, backend=backend)
    assert info.num_frames == 40
    assert info.fps == pytest.approx(10.0)
    assert info.duration == pytest.approx(4.0, abs=0.11)
    assert (info.width, info.height) == (64, 48)
    assert info.backend == ("pyav" if backend == "pyav" else "decord")
    assert info.size_bytes == tiny_mp4.stat().st_size


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_probe_real_video(real_video, backend):
    info = probe_video(real_video, backend=backend)
    assert info.num_frames == 420
    assert info.fps == pytest.approx(30.0)
    # The video stream's 420 frames at 30 fps; the container, and the annotation, say 14.05 s: the audio's end.
    assert info.duration == pytest.approx(14.0, abs=0.01)
    assert (info.width, info.height) == (480, 360)


def test_frameless_avi_falls_back_to_pyav_then_fails(tmp_path, caplog):
    path = tmp_path / "empty.avi"
    write_frameless_video(path)
    with caplog.at_level(logging.INFO, logger="extractors.probe"):
        with pytest.raises(ValueError, match=r"empty\.avi: video stream has zero frames"):
            probe_video(path)
    assert "falling back to PyAV" in caplog.text


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4: video file not found"):
        probe_video(tmp_path / "nope.mp4")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "zero.mp4"
    path.touch()
    with pytest.raises(ValueError, match=r"zero\.mp4: video file is empty"):
        probe_video(path)


def test_truncated_mp4(tmp_path, tiny_mp4):
    path = tmp_path / "truncated.mp4"
    data = tiny_mp4.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.mp4: not a readable video"):
        probe_video(path)


def test_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    with pytest.raises(ValueError, match=r"notes\.mp4: not a readable video"):
        probe_video(path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "audio.mp4"
    write_audio_only(path)
    with pytest.raises(ValueError, match=r"audio\.mp4: file has no video stream \(streams: audio\)"):
        probe_video(path)


def test_forced_decord_reports_its_error(tmp_path):
    path = tmp_path / "audio.m4a"
    write_audio_only(path)
    with pytest.raises(ValueError, match=r"audio\.m4a: decord cannot open the video"):
        probe_video(path, backend="decord")


def test_unknown_backend(tiny_mp4):
    with pytest.raises(ValueError, match="unknown video backend"):
        probe_video(tiny_mp4, backend="opencv")
