"""Which videos a dataset has, where their files are, and which extraction shard each belongs to.

* Video ids are the ``video`` strings of the paragraph JSON annotations (project data contract).
* A video's file is ``{video_dir}/{video}`` if that exists, else ``{video_dir}/{video}{ext}`` for the
  first ``ext`` of the dataset's ``video_extensions`` that exists.
* ``shard_of`` uses CRC-32 of the id, which is stable across runs and machines (unlike
  ``hash()``) and does not depend on the other ids, so adding a video never moves another video
  to a different shard and never invalidates the other shards' cached outputs.
* A video list file has one ``ID=PATH`` per line (blank lines and ``#`` comments ignored), the
  same syntax as ``--videos ID=PATH`` on the command line; relative paths are relative to the
  list file's folder.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from hscnet.errors import InputError, MissingInputError
from hscnet.io import read_json

DURATION_TOLERANCE = 1e-3  # seconds; paragraphs of one video must agree on its duration
# ActivityNet Captions keys are "v_" + the YouTube id, without the file's extension.
ACTIVITYNET_ID = re.compile(r"v_[A-Za-z0-9_-]{11}")


def annotation_video_id(video: str | os.PathLike) -> str:
    """The video's key as the annotation formats spell it: ActivityNet's ``v_<YouTube id>`` without
    the extension, any other name whole (TACoS: ``s13-d21.avi``)."""
    path = Path(video)
    return path.stem if ACTIVITYNET_ID.fullmatch(path.stem) else path.name


def shard_of(video_id: str, num_shards: int) -> int:
    """Shard (0..num_shards-1) of ``video_id``: CRC-32 of its UTF-8 bytes modulo ``num_shards``."""
    if num_shards < 1:
        raise InputError(f"num_shards must be at least 1, got {num_shards}")
    return zlib.crc32(video_id.encode("utf-8")) % num_shards


def resolve_video_path(video_dir: str | os.PathLike, video_id: str, extensions: Sequence[str] = ()) -> Path | None:
    """The file of ``video_id`` in ``video_dir`` per the data contract, or None if there is none."""
    base = Path(video_dir)
    exact = base / video_id
    if exact.is_file():
        return exact
    for ext in extensions:
        candidate = base / f"{video_id}{ext}"
        if candidate.is_file():
            return candidate
    return None


def resolve_videos(
    video_ids: Iterable[str], video_dir: str | os.PathLike, extensions: Sequence[str] = ()
) -> dict[str, Path]:
    """Map every id to its file; FileNotFoundError listing how many and some of those without one."""
    found: dict[str, Path] = {}
    missing = []
    for video_id in video_ids:
        path = resolve_video_path(video_dir, video_id, extensions)
        if path is None:
            missing.append(video_id)
        else:
            found[video_id] = path
    if missing:
        tried = ", ".join(extensions) if extensions else "no extensions"
        raise MissingInputError(
            f"{video_dir}: {len(missing)} of {len(missing) + len(found)} videos not found "
            f"(tried the id itself and {tried}), e.g. {', '.join(missing[:5])}"
        )
    return found


def read_paragraph_videos(annotation_paths: Iterable[str | os.PathLike]) -> dict[str, float]:
    """Video id -> duration (s) over paragraph JSON files, in order of first appearance.

    Raises ValueError naming the file for a malformed entry or for two paragraphs of one video
    that disagree on its duration.
    """
    durations: dict[str, float] = {}
    first_seen: dict[str, str] = {}
    for path in annotation_paths:
        paragraphs = read_json(path)
        if not isinstance(paragraphs, list):
            raise InputError(f"{path}: expected a JSON list of paragraphs, got {type(paragraphs).__name__}")
        for i, paragraph in enumerate(paragraphs):
            video, duration = _video_and_duration(paragraph, path, i)
            if video in durations and abs(durations[video] - duration) > DURATION_TOLERANCE:
                raise InputError(
                    f"{path}: paragraph {i} gives video {video!r} duration {duration}, but "
                    f"{first_seen[video]} gives {durations[video]}"
                )
            durations.setdefault(video, duration)
            first_seen.setdefault(video, str(path))
    return durations


def _video_and_duration(paragraph: object, path: str | os.PathLike, index: int) -> tuple[str, float]:
    if not isinstance(paragraph, dict):
        raise InputError(f"{path}: paragraph {index} is not a JSON object")
    video = paragraph.get("video")
    duration = paragraph.get("duration")
    if not isinstance(video, str) or not video:
        raise InputError(f"{path}: paragraph {index} has no 'video' string")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        raise InputError(f"{path}: paragraph {index} (video {video!r}) has no positive 'duration'")
    return video, float(duration)


def parse_video_spec(spec: str, source: str = "--videos") -> tuple[str, str]:
    """Split ``ID=PATH`` at the first ``=``."""
    video_id, sep, path = spec.partition("=")
    if not sep or not video_id.strip() or not path.strip():
        raise InputError(f"{source}: expected ID=PATH, got {spec!r}")
    return video_id.strip(), path.strip()


def parse_video_specs(specs: Iterable[tuple[str, str]], base: Path = Path()) -> dict[str, Path]:
    """``(source, "ID=PATH")`` pairs -> id -> ``base / PATH``; a repeated id is an error naming both sources."""
    videos: dict[str, Path] = {}
    first: dict[str, str] = {}
    for source, spec in specs:
        video_id, video_path = parse_video_spec(spec, source)
        if video_id in videos:
            raise InputError(f"{source}: duplicate video id {video_id!r} (also given by {first[video_id]})")
        videos[video_id] = base / video_path
        first[video_id] = source
    return videos


def read_video_list(path: str | os.PathLike) -> dict[str, Path]:
    """Read an ``ID=PATH`` list file; duplicate ids are an error."""
    list_path = Path(path)
    if not list_path.is_file():
        raise MissingInputError(f"{list_path}: video list not found")
    specs = []
    for number, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            specs.append((f"{list_path}:{number}", line))
    return parse_video_specs(specs, list_path.parent)
