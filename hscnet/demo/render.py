"""Render a demo :class:`~hscnet.demo.script.VideoScript` to RGB frames and an H.264 file."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw

from hscnet.demo.script import (
    BLINK_HALF_PERIOD_S,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    SHAKE_AMPLITUDE_PX,
    SHAKE_HZ,
    Event,
    VideoScript,
)

BACKGROUND_RGB = (28, 28, 34)
SUPERSAMPLE = 3  # shapes are drawn at 3x and box-filtered down: smooth edges, smooth sub-pixel motion
# Vertex distance from the centre relative to the size radius, chosen so that all shapes of one
# size cover about the same area (pi r^2) and none is much harder to see than another.
SQUARE_SCALE = 1.25
TRIANGLE_SCALE = 1.4
STAR_OUTER_SCALE, STAR_INNER_SCALE = 1.45, 0.6


def _events_by_object(script: VideoScript) -> dict[int, list[Event]]:
    by_object: dict[int, list[Event]] = defaultdict(list)
    for event in script.events:
        by_object[event.object_id].append(event)
    return by_object


def _look_at(events: list[Event], t: float) -> tuple[float, float, float, np.ndarray, float] | None:
    """(x, y, radius, rgb float (3,), opacity) of one object at time ``t``, or None when not on stage."""
    current = None
    for event in events:
        if t < event.start:
            break
        current = event
    if current is None:
        return None  # before the object's appear event
    if t >= current.end:
        s = current.after
        if not s.visible:
            return None
        return (*s.xy, s.radius, np.asarray(s.rgb, float), 1.0)
    u = (t - current.start) / (current.end - current.start)
    a, b = current.before, current.after
    x = (1 - u) * a.xy[0] + u * b.xy[0]
    y = (1 - u) * a.xy[1] + u * b.xy[1]
    radius = (1 - u) * a.radius + u * b.radius
    rgb = (1 - u) * np.asarray(a.rgb, float) + u * np.asarray(b.rgb, float)
    if current.action == "shake":
        x += SHAKE_AMPLITUDE_PX * math.sin(2.0 * math.pi * SHAKE_HZ * (t - current.start))
    opacity = 1.0
    if current.action == "appear":
        opacity = u
    elif current.action == "disappear":
        opacity = 1.0 - u
    elif current.action == "blink":
        opacity = 1.0 if int((t - current.start) / BLINK_HALF_PERIOD_S) % 2 == 0 else 0.0
    return x, y, radius, rgb, opacity


def _polygon(x: float, y: float, radii: list[float], angle: float = 0.0) -> list[tuple[float, float]]:
    """Vertices at ``radii`` around (x, y), evenly spaced, the first pointing up, turned clockwise by ``angle``."""
    n = len(radii)
    points = []
    for k, r in enumerate(radii):
        phi = math.radians(angle - 90.0 + 360.0 * k / n)  # screen y points down: +angle is clockwise
        points.append((x + r * math.cos(phi), y + r * math.sin(phi)))
    return points


def shape_mask(shape: str, x: float, y: float, radius: float, width: int, height: int) -> np.ndarray:
    """Anti-aliased coverage (H, W) float32 in [0, 1] of one shape centred at (x, y) pixels."""
    s = SUPERSAMPLE
    image = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(image)
    # Pixel centres sit at +0.5: scale continuous coordinates so the shape is centred at (x, y).
    cx, cy, r = (x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5, radius * s
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, [SQUARE_SCALE * r] * 4, angle=45.0), fill=255)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, [TRIANGLE_SCALE * r] * 3), fill=255)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, [STAR_OUTER_SCALE * r, STAR_INNER_SCALE * r] * 5), fill=255)
    else:
        raise ValueError(f"unknown demo shape {shape!r}")
    small = image.resize((width, height), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def render_frames(script: VideoScript, width: int = FRAME_WIDTH, height: int = FRAME_HEIGHT) -> np.ndarray:
    """All frames of the script, (T, H, W, 3) uint8 RGB; frame i shows time i / fps."""
    by_object = _events_by_object(script)
    frames = np.empty((script.num_frames, height, width, 3), dtype=np.uint8)
    background = np.broadcast_to(np.asarray(BACKGROUND_RGB, np.float32), (height, width, 3))
    for i in range(script.num_frames):
        t = i / script.fps
        canvas = background.copy()  # (H, W, 3)
        for object_id in sorted(by_object):
            look = _look_at(by_object[object_id], t)
            if look is None:
                continue
            x, y, radius, rgb, opacity = look
            if opacity <= 0.0:
                continue
            cover = opacity * shape_mask(script.shapes[object_id], x, y, radius, width, height)[..., None]
            canvas = canvas * (1.0 - cover) + rgb.astype(np.float32) * cover
        frames[i] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return frames


def write_video(frames: np.ndarray, fps: float, path: str | os.PathLike, crf: int = 18) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264 (yuv420p) in an MP4 at ``path``.

    One encoder thread: a seed gives the same decoded frames on every machine with the same libx264.
    Not always the same bytes: now and then one frame of a video is coded one byte longer, with the
    same decoded pixels (seen in about one video in 30 when encoded in a worker process).
    """
    _, height, width, _ = frames.shape  # (T, H, W, 3)
    if width % 2 or height % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {width}x{height}")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
