"""Rotation metadata (a display matrix, as phones write it): both backends decode the displayed orientation.

decord applies the rotation; PyAV reports it (``VideoFrame.rotation``) without applying it, so
``PyAVFrames`` turns the frames itself. Features then do not depend on the backend.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from extractors.decode import open_frames
from extractors.probe import probe_video

WIDTH, HEIGHT = 64, 48


def stored_frame() -> np.ndarray:
    """Right half bright, a grey marker in the top-left corner: every turn and flip looks different."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, WIDTH // 2 :] = 200
    image[:8, : WIDTH // 2] = 100
    return image


def write_rotated(path, degrees: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        stream.set_display_rotation(degrees)  # counter-clockwise, as VideoFrame.rotation reads it back
        for _ in range(20):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored_frame(), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_first_frames(path, backend: str, size=(30, 40)) -> np.ndarray:
    reader = open_frames(probe_video(path, backend=backend), size)
    try:
        return reader.read(np.array([0, 5])).astype(np.int16)
    finally:
        reader.close()


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_backends_agree_on_the_displayed_orientation(tmp_path, degrees):
    path = tmp_path / f"rotated{degrees}.mp4"
    write_rotated(path, degrees)
    decord_frames, pyav_frames = read_first_frames(path, "decord"), read_first_frames(path, "pyav")
    assert decord_frames.shape == pyav_frames.shape == (2, 30, 40, 3)
    assert np.abs(decord_frames - pyav_frames).mean() < 2
    # The displayed orientation: the stored frame turned counter-clockwise by ``degrees``.
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0))
        turns = round(degrees / 90) % 4
        size = {"width": 30, "height": 40} if turns % 2 else {"width": 40, "height": 30}
        expected = np.rot90(stored.to_ndarray(format="rgb24", interpolation="BILINEAR", **size), turns)
    assert np.abs(pyav_frames[0] - expected).mean() < 2
    assert np.abs(pyav_frames[0] - stored.to_ndarray(format="rgb24", width=40, height=30)).mean() > 50


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_probe_reports_the_displayed_size(tmp_path, backend):
    write_rotated(tmp_path / "r.mp4", 90)
    info = probe_video(tmp_path / "r.mp4", backend=backend)
    assert (info.width, info.height) == (HEIGHT, WIDTH)
