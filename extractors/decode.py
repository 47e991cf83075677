"""Streaming frame readers: return only the requested frames, already resized, as RGB uint8.

Frames are scaled to the network's input size (128x171 for C3D) by FFmpeg's swscale while they
are decoded (bilinear; swscale's bilinear filter widens with the scale factor, so downscaling
averages like an anti-aliased resize). Scaling at decode time keeps a batch of clips small in
memory whatever the source resolution (TACoS is 1624x1224): peak memory depends on the batch
size, not on the video's length or size.

* ``DecordFrames`` asks decord for exactly the frame indices of one batch of clips
  (``get_batch``), which seeks to the nearest keyframe when the next clip is far ahead.
* ``PyAVFrames`` decodes the stream once, sequentially, converting only the requested frames.
  Requests must be sorted and never go back further than the previous request (which holds for
  clips with non-decreasing start frames: overlapping clips re-use frames of the previous batch,
  kept for that purpose).

Both return frames in their displayed orientation: decord applies a rotation in the container's
display matrix (phone videos), PyAV does not, so ``PyAVFrames`` turns them itself.

Both raise ``ValueError`` naming the file when decoding fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import av
import decord
import numpy as np

from extractors.probe import VideoInfo, quarter_turns
from hscnet.errors import InputError

log = logging.getLogger(__name__)


class DecordFrames:
    """Random access to the frames of one video through decord."""

    def __init__(self, info: VideoInfo, size: tuple[int, int], num_threads: int = 1):
        height, width = size
        self.path = info.path
        try:
            self._reader = decord.VideoReader(info.path, width=width, height=height, num_threads=num_threads)
        except (decord.DECORDError, RuntimeError, AssertionError) as err:
            raise InputError(f"{info.path}: decord cannot open the video ({err})") from err
        if len(self._reader) != info.num_frames:
            raise InputError(
                f"{info.path}: has {len(self._reader)} frames but was probed with {info.num_frames}; "
                "the file changed since it was indexed"
            )

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (sorted, unique), (len(indices), H, W, 3) uint8 RGB."""
        try:
            return self._reader.get_batch([int(i) for i in indices]).asnumpy()
        except (decord.DECORDError, RuntimeError) as err:
            raise InputError(
                f"{self.path}: decoding frames {int(indices[0])}..{int(indices[-1])} failed ({err})"
            ) from err

    def close(self) -> None:
        del self._reader


class PyAVFrames:
    """Sequential access to the frames of one video through PyAV (FFmpeg).

    A stream that ends early (container frame counts are sometimes a little high) repeats its
    last decoded frame, with a warning, for up to ``max(2, fps)`` frames (about one second); a
    larger shortfall means a truncated or corrupt file and raises ``ValueError``.
    """

    def __init__(self, info: VideoInfo, size: tuple[int, int], num_threads: int = 1):
        self.path = info.path
        self._height, self._width = size
        self._num_frames = info.num_frames
        self._max_shortfall = max(2, int(round(info.fps)))
        try:
            self._container = av.open(info.path)
        except av.FFmpegError as err:
            raise InputError(f"{info.path}: PyAV cannot open the video ({err})") from err
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = num_threads
        self._frames: Iterator[av.VideoFrame] = self._container.decode(stream)
        self._next_index = 0  # index of the next frame the decoder will return
        self._last_frame: av.VideoFrame | None = None
        self._decoded_frames = 0
        self._previous: dict[int, np.ndarray] = {}  # frames returned by the previous read

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (sorted, unique), (len(indices), H, W, 3) uint8 RGB."""
        out = []
        kept: dict[int, np.ndarray] = {}
        for index in (int(i) for i in indices):
            if index < self._next_index:
                frame = self._previous.get(index)
                if frame is None:
                    raise RuntimeError(
                        f"{self.path}: frame {index} requested after the decoder passed it; "
                        "PyAVFrames needs non-decreasing clip starts"
                    )
            else:
                frame = self._convert(self._advance_to(index))
            kept[index] = frame
            out.append(frame)
        self._previous = kept
        return np.stack(out)

    def _advance_to(self, index: int) -> av.VideoFrame:
        """Decode up to frame ``index`` and return it (or the last frame if the stream ends)."""
        while self._next_index <= index:
            try:
                frame = next(self._frames, None)
            except av.FFmpegError as err:
                raise InputError(f"{self.path}: decoding frame {self._next_index} failed ({err})") from err
            if frame is None:
                return self._past_end(index)
            self._last_frame = frame
            self._decoded_frames += 1
            self._next_index += 1
        return self._last_frame

    def _past_end(self, index: int) -> av.VideoFrame:
        shortfall = self._num_frames - self._decoded_frames
        if self._last_frame is None or shortfall > self._max_shortfall:
            raise InputError(
                f"{self.path}: stream ends after {self._decoded_frames} of {self._num_frames} frames "
                "(truncated or corrupt file?)"
            )
        if self._next_index == self._decoded_frames:  # warn once
            log.warning(
                "%s: stream ends after %d of %d frames; repeating the last frame",
                self.path,
                self._decoded_frames,
                self._num_frames,
            )
        self._next_index = index + 1
        return self._last_frame

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        # Displayed orientation, as decord gives it: scale to the turned size, then turn.
        turns = quarter_turns(frame.rotation)
        width, height = (self._height, self._width) if turns % 2 else (self._width, self._height)
        image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR")
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def close(self) -> None:
        self._container.close()


def open_frames(info: VideoInfo, size: tuple[int, int], num_threads: int = 1) -> DecordFrames | PyAVFrames:
    """A frame reader for ``info`` using the backend that probed it; ``size`` is (height, width)."""
    if info.backend == "decord":
        return DecordFrames(info, size, num_threads)
    if info.backend == "pyav":
        return PyAVFrames(info, size, num_threads)
    raise InputError(f"{info.path}: unknown video backend {info.backend!r}")
