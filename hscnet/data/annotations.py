"""Annotation readers: the public TACoS / ActivityNet Captions releases -> normalised paragraphs.

Every reader returns :class:`Paragraph` objects that follow the project's data contract (the
"paragraph JSON" written by ``hscnet prepare-annotations``): timestamps in seconds, clamped to
``[0, duration]``, every span with ``start < end``, every sentence a non-empty stripped string,
paragraphs of at most ``max_sentences`` sentences, ids unique within the file.

Input formats (``fmt``):

``paragraphs``
    A JSON list of ``{"video", "duration", "sentences", "timestamps"}`` in seconds (the PRVG
    paragraph split, e.g. ``tacos/paragraphs/*.json``); an optional ``"id"`` per entry (the demo
    data) is kept, otherwise ids are ``f"{split}_{n:05d}"``.
``prvg_npy``
    PRVG's original ``.npy`` paragraph files (MCG-NJU/PRVG ``data/TACoS/*.npy``,
    ``data/ActivityNet/test.npy``): the same records as ``paragraphs``, read by
    :func:`hscnet.data.prvg.read_prvg_npy`, which refuses any pickle that asks for more than a
    NumPy object array of plain values.
``tacos``
    The 2D-TAN per-video files ``{"s13-d21.avi": {"timestamps": [[start_frame, end_frame], ...],
    "sentences": [...], "fps": 29.4, "num_frames": 12438}}``: seconds = frame / fps, duration =
    num_frames / fps; each video's paragraph is chunked.
``activitynet``
    The original release ``{"v_x": {"duration": 82.73, "timestamps": [[s, e], ...],
    "sentences": [...]}}``: one paragraph per video, chunked.

Sentence order: every reader KEEPS the release's order, at every split, and never sorts by the
annotated times (why: ``hscnet/DESIGN.md``, "Sentence order"). Paragraphs not in (start, end) order are
counted in the log. Each paragraph records where its sentences sit in the release (``positions``,
``video_sentences``), which is how ``hscnet.metrics`` matches predictions that carry no paragraph ids.

What counts as malformed (-> ``ValueError`` naming the file and the entry) and what is a
documented quirk of the real files (-> cleaned, counted in the log):

* Spans reaching outside ``[0, duration]`` are clamped (quirk: 43 TACoS train / 5 test ends,
  261 / 134 / 111 ActivityNet ends).
* "Reversed" means ``start > end`` in the raw file. In the original releases (``tacos``,
  ``activitynet``) reversed and zero-length spans are degenerate annotations (quirk: ActivityNet
  train has 2 reversed and 2 zero-length ones) and are DROPPED with a warning, like any span
  with ``start >= end`` after clamping. In the ``paragraphs`` format, which is already a cleaned
  split, a reversed span is an error; a span that is empty after clamping is dropped.
* A paragraph left without sentences by dropping is skipped with a warning.
* Errors: missing file, invalid JSON, wrong top-level type (usually a wrong ``--format``),
  missing keys, non-numeric or non-finite numbers, non-positive duration / fps / frame count,
  timestamps that are not ``[start, end]`` pairs, ``len(timestamps) != len(sentences)``, an
  empty paragraph, an empty or non-string sentence, a duplicate id.

Chunking: a paragraph with more than ``max_sentences`` sentences is split into consecutive
pieces of ``max_sentences`` with the remainder last (never truncated). This is PRVG's rule: on
ActivityNet val_2 with ``max_sentences=8`` it gives the 4929 paragraphs of PRVG's test file,
with the same chunk sizes per video (a 9-sentence video becomes 8 + 1).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hscnet.data.prvg import read_prvg_npy
from hscnet.errors import InputError
from hscnet.io import read_json, write_json

log = logging.getLogger(__name__)

FORMATS = ("paragraphs", "prvg_npy", "tacos", "activitynet")


@dataclass
class Paragraph:
    """One paragraph query: sentences in paragraph order and their (start, end) spans in seconds."""

    id: str
    video: str
    duration: float
    sentences: list[str]
    timestamps: list[tuple[float, float]]
    # Release position of each sentence: its index among all the sentences the source file gives
    # this video, in file order (over the video's paragraphs, for paragraph lists); spans the
    # reader dropped leave gaps. None for paragraphs not read from a release (then file order).
    # Provenance, not content: not written to the contract JSON, not compared.
    positions: list[int] | None = field(default=None, compare=False)
    video_sentences: int | None = field(
        default=None, compare=False
    )  # the video's sentences in the file, dropped ones included
    # The spans as the release wrote them, before clamping to the video (scoring without clamping,
    # as PRVG's evaluation does); None where they are the timestamps (the contract's files are clamped).
    release_timestamps: list[tuple[float, float]] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object for this paragraph."""
        return {
            "id": self.id,
            "video": self.video,
            "duration": self.duration,
            "sentences": list(self.sentences),
            "timestamps": [[start, end] for start, end in self.timestamps],
        }


@dataclass
class _CleaningStats:
    """Counts of the quirks repaired while reading one file, for the log."""

    clamped: int = 0
    dropped: list[str] = field(default_factory=list)  # "video #index (start, end)" of dropped spans
    emptied: list[str] = field(default_factory=list)  # videos left without any sentence
    unordered: int = 0  # source paragraphs not in (start, end) order (kept as they are)
    chunked: int = 0  # source paragraphs split into several


def load_paragraphs(path: str | os.PathLike, fmt: str, split: str, max_sentences: int | None = None) -> list[Paragraph]:
    """Read an annotation file of format ``fmt`` (one of :data:`FORMATS`) into paragraphs.

    ``split`` names the generated ids (``f"{split}_{n:05d}"``, ``n`` the position in the
    returned list); ``max_sentences`` (None = no limit) is the chunk size. Raises
    FileNotFoundError / ValueError naming the file and the offending entry.
    """
    _check_arguments(fmt, split, max_sentences)
    path = Path(path)
    data = read_prvg_npy(path) if fmt == "prvg_npy" else read_json(path)
    stats = _CleaningStats()
    if fmt in ("paragraphs", "prvg_npy"):
        sources = _read_paragraph_list(path, data, stats)
    elif fmt == "tacos":
        sources = _read_tacos(path, data, stats)
    else:
        sources = _read_activitynet(path, data, stats)
    paragraphs, seen = _chunked_paragraphs(sources, split, max_sentences, stats)
    for paragraph in paragraphs:
        paragraph.video_sentences = seen[paragraph.video]
    if not paragraphs:
        why = (
            f"all {len(stats.dropped)} spans have start >= end after clamping to [0, duration], "
            f"e.g. {stats.dropped[:3]}"
            if stats.dropped
            else "it has no entries"
        )
        raise InputError(f"{path}: no paragraph left for split {split!r}: {why}")
    _check_ids(path, paragraphs)
    _log_stats(path, stats, paragraphs)
    return paragraphs


def _check_arguments(fmt: str, split: str, max_sentences: int | None) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown annotation format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not split or "/" in split:
        raise InputError(f"split name must be non-empty and contain no '/', got {split!r}")
    if max_sentences is not None and max_sentences < 1:
        raise InputError(f"max_sentences must be at least 1, got {max_sentences}")


def _chunked_paragraphs(
    sources: Iterable, split: str, max_sentences: int | None, stats: _CleaningStats
) -> tuple[list[Paragraph], dict[str, int]]:
    """The source paragraphs chunked into paragraphs with ids and release positions, and per video the number
    of sentences of the file."""
    paragraphs: list[Paragraph] = []
    seen: dict[str, int] = {}  # per video: sentences of the file before the current source paragraph
    for given_id, video, duration, sentences, timestamps, raw_spans, kept, raw_count in sources:
        offset = seen.get(video, 0)
        seen[video] = offset + raw_count
        if not sentences:  # every span dropped (counted in stats.emptied)
            continue
        if timestamps != sorted(timestamps):
            stats.unordered += 1
        positions = [offset + k for k in kept]
        pieces = _chunk(len(sentences), max_sentences)
        if len(pieces) > 1:
            stats.chunked += 1
        for k, (lo, hi) in enumerate(pieces):
            if given_id is None:
                pid = f"{split}_{len(paragraphs):05d}"
            else:
                pid = given_id if len(pieces) == 1 else f"{given_id}_{k}"
            paragraphs.append(
                Paragraph(
                    pid,
                    video,
                    duration,
                    sentences[lo:hi],
                    timestamps[lo:hi],
                    positions[lo:hi],
                    release_timestamps=raw_spans[lo:hi],
                )
            )
    return paragraphs, seen


def load_normalised(path: str | os.PathLike) -> list[Paragraph]:
    """Read and strictly validate a contract paragraph JSON (the output of prepare-annotations).

    Unlike :func:`load_paragraphs` nothing is repaired: an ``id`` is required and spans must
    already satisfy ``0 <= start < end <= duration``.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of paragraphs, got {type(data).__name__}")
    paragraphs = []
    for index, entry in enumerate(data):
        where = f"{path}: paragraph #{index}"
        _require_keys(entry, ("id", "video", "duration", "sentences", "timestamps"), where)
        pid = _string(entry["id"], f"{where}: 'id'")
        where = f"{path}: paragraph {pid!r}"
        video = _string(entry["video"], f"{where}: 'video'")
        duration = _positive(entry["duration"], f"{where}: 'duration'")
        sentences = _sentences(entry["sentences"], where)
        spans = _spans(entry["timestamps"], len(sentences), where)
        for k, (start, end) in enumerate(spans):
            if not 0 <= start < end <= duration:
                raise InputError(
                    f"{where}: sentence {k}: span ({start}, {end}) is not within 0 <= start < end <= "
                    f"duration ({duration})"
                )
        paragraphs.append(Paragraph(pid, video, duration, sentences, spans))
    _check_ids(path, paragraphs)
    return paragraphs


def write_paragraphs(paragraphs: Iterable[Paragraph], path: str | os.PathLike) -> None:
    """Write paragraphs as the contract's paragraph JSON, atomically."""
    write_json(path, [p.to_dict() for p in paragraphs])


# ---------------------------------------------------------------- format readers
# Each yields (id or None, video, duration, sentences, timestamps, kept, raw_count) per source
# paragraph in file order, cleaned (stripped, clamped, degenerate spans dropped) but never
# reordered: ``kept`` are the indices of the remaining sentences among the ``raw_count`` given.

_Source = tuple[str | None, str, float, list[str], list[tuple[float, float]], list[int], int]


def _read_paragraph_list(path: Path, data: Any, stats: _CleaningStats) -> Iterable[_Source]:
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of paragraphs (format 'paragraphs'), got {type(data).__name__}")
    for index, entry in enumerate(data):
        where = f"{path}: paragraph #{index}"
        _require_keys(entry, ("video", "duration", "sentences", "timestamps"), where)
        given_id = _string(entry["id"], f"{where}: 'id'") if "id" in entry else None
        video = _string(entry["video"], f"{where}: 'video'")
        where = f"{where} (video {video!r})"
        duration = _positive(entry["duration"], f"{where}: 'duration'")
        sentences = _sentences(entry["sentences"], where)
        spans = _spans(entry["timestamps"], len(sentences), where)
        for k, (start, end) in enumerate(spans):
            if start > end:
                raise InputError(f"{where}: sentence {k}: reversed span (start {start} > end {end})")
        yield given_id, video, duration, *_clamp_and_drop(sentences, spans, duration, video, stats)


def _read_tacos(path: Path, data: Any, stats: _CleaningStats) -> Iterable[_Source]:
    for video, entry, where in _per_video_entries(path, data, "tacos"):
        _require_keys(entry, ("timestamps", "sentences", "fps", "num_frames"), where)
        fps = _positive(entry["fps"], f"{where}: 'fps'")
        num_frames = _positive(entry["num_frames"], f"{where}: 'num_frames'")
        sentences = _sentences(entry["sentences"], where)
        frame_spans = _spans(entry["timestamps"], len(sentences), where)
        spans = [(start / fps, end / fps) for start, end in frame_spans]
        duration = num_frames / fps
        yield None, video, duration, *_clamp_and_drop(sentences, spans, duration, video, stats)


def _read_activitynet(path: Path, data: Any, stats: _CleaningStats) -> Iterable[_Source]:
    for video, entry, where in _per_video_entries(path, data, "activitynet"):
        _require_keys(entry, ("duration", "timestamps", "sentences"), where)
        duration = _positive(entry["duration"], f"{where}: 'duration'")
        sentences = _sentences(entry["sentences"], where)
        spans = _spans(entry["timestamps"], len(sentences), where)
        yield None, video, duration, *_clamp_and_drop(sentences, spans, duration, video, stats)


def _per_video_entries(path: Path, data: Any, fmt: str) -> Iterable[tuple[str, Any, str]]:
    if not isinstance(data, dict):
        raise InputError(
            f"{path}: expected a JSON object mapping video id to its annotation (format {fmt!r}), "
            f"got {type(data).__name__}"
        )
    for video, entry in data.items():
        if not video.strip():
            raise InputError(f"{path}: empty video id")
        yield video, entry, f"{path}: video {video!r}"


# ---------------------------------------------------------------- cleaning


def _clamp_and_drop(
    sentences: list[str],
    spans: list[tuple[float, float]],
    duration: float,
    video: str,
    stats: _CleaningStats,
) -> tuple[list[str], list[tuple[float, float]], list[tuple[float, float]], list[int], int]:
    """Clamp spans to [0, duration]; drop those with start >= end afterwards (counted).

    Returns the kept sentences, their clamped and their given spans, the indices they had, and how many
    were given.
    """
    kept_sentences, kept_spans, given_spans, kept = [], [], [], []
    for k, (sentence, (start, end)) in enumerate(zip(sentences, spans, strict=True)):
        clamped = (min(max(start, 0.0), duration), min(max(end, 0.0), duration))
        if clamped != (start, end):
            stats.clamped += 1
        if clamped[0] >= clamped[1]:
            stats.dropped.append(f"{video} #{k} ({start}, {end})")
            continue
        kept_sentences.append(sentence)
        kept_spans.append(clamped)
        given_spans.append((float(start), float(end)))
        kept.append(k)
    if not kept_sentences:
        stats.emptied.append(video)
    return kept_sentences, kept_spans, given_spans, kept, len(spans)


def _chunk(length: int, max_sentences: int | None) -> list[tuple[int, int]]:
    """[lo, hi) bounds of consecutive pieces of at most ``max_sentences`` (remainder last)."""
    step = length if max_sentences is None else max_sentences
    return [(lo, min(lo + step, length)) for lo in range(0, length, step)]


def _log_stats(path: Path, stats: _CleaningStats, paragraphs: list[Paragraph]) -> None:
    num_sentences = sum(len(p.sentences) for p in paragraphs)
    log.info(
        "%s: %d paragraphs (%d source paragraphs split into chunks), %d sentences",
        path,
        len(paragraphs),
        stats.chunked,
        num_sentences,
    )
    if stats.clamped:
        log.info("%s: clamped %d spans to [0, duration]", path, stats.clamped)
    if stats.dropped:
        log.warning(
            "%s: dropped %d spans with start >= end after clamping: %s",
            path,
            len(stats.dropped),
            "; ".join(stats.dropped),
        )
    if stats.emptied:
        log.warning("%s: skipped %d videos left without sentences: %s", path, len(stats.emptied), stats.emptied)
    if stats.unordered:
        log.info("%s: %d paragraphs kept in their given, not (start, end), sentence order", path, stats.unordered)


def _check_ids(path: Path, paragraphs: list[Paragraph]) -> None:
    """Ids must be unique and usable as HDF5 group names (the text stage keys groups by id)."""
    seen: set[str] = set()
    for paragraph in paragraphs:
        if "/" in paragraph.id:
            raise InputError(f"{path}: paragraph id {paragraph.id!r} contains '/'")
        if paragraph.id in seen:
            raise InputError(f"{path}: duplicate paragraph id {paragraph.id!r}")
        seen.add(paragraph.id)


# ---------------------------------------------------------------- field validation


def _require_keys(entry: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise InputError(f"{where}: missing key(s) {', '.join(missing)}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    # bool is an int subclass; json's NaN/Infinity extensions give non-finite floats.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer past float's range, e.g. 10**400
        raise InputError(f"{where}: expected a finite number, got an integer too large for a float") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return number


def _positive(value: Any, where: str) -> float:
    number = _number(value, where)
    if number <= 0:
        raise InputError(f"{where}: expected a positive number, got {value!r}")
    return number


def _sentences(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: 'sentences' must be a non-empty list, got {value!r}")
    sentences = []
    for k, sentence in enumerate(value):
        if not isinstance(sentence, str):
            raise InputError(f"{where}: sentence {k}: expected a string, got {sentence!r}")
        if not sentence.strip():
            raise InputError(f"{where}: sentence {k}: empty sentence")
        sentences.append(sentence.strip())
    return sentences


def _spans(value: Any, num_sentences: int, where: str) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise InputError(f"{where}: 'timestamps' must be a list, got {type(value).__name__}")
    if len(value) != num_sentences:
        raise InputError(f"{where}: {len(value)} timestamps for {num_sentences} sentences")
    spans = []
    for k, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(f"{where}: sentence {k}: timestamp must be a [start, end] pair, got {pair!r}")
        start = _number(pair[0], f"{where}: sentence {k}: start")
        spans.append((start, _number(pair[1], f"{where}: sentence {k}: end")))
    return spans
