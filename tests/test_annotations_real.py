"""Annotation readers on the real public files, checked against the counts in ../shared/data/README.md."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import pytest

from hscnet.data.annotations import load_paragraphs
from hscnet.data.prvg import read_prvg_npy


def check_contract(paragraphs, max_sentences):
    assert len({p.id for p in paragraphs}) == len(paragraphs)
    for p in paragraphs:
        assert 1 <= len(p.sentences) <= max_sentences
        assert len(p.timestamps) == len(p.sentences)
        assert all(s == s.strip() and s for s in p.sentences)
        assert all(0.0 <= start < end <= p.duration for start, end in p.timestamps)


@pytest.mark.parametrize(
    ("split", "paragraphs", "sentences"),
    [("train", 1526, 9732), ("val", 688, 4398), ("test", 673, 3989)],
)
def test_tacos_prvg_paragraphs(shared_data, split, paragraphs, sentences):
    loaded = load_paragraphs(shared_data / "tacos" / "paragraphs" / f"{split}.json", "paragraphs", split, 9)
    assert len(loaded) == paragraphs
    assert sum(len(p.sentences) for p in loaded) == sentences
    check_contract(loaded, 9)


@pytest.mark.parametrize(
    ("split", "videos", "sentences", "clamped_ends"),
    [("train", 75, 9790, 43), ("val", 27, 4436, 0), ("test", 25, 4001, 5)],
)
def test_tacos_per_video_release(shared_data, split, videos, sentences, clamped_ends):
    path = shared_data / "tacos" / f"{split}.json"
    loaded = load_paragraphs(path, "tacos", split, 9)
    raw = json.loads(path.read_text())
    assert len({p.video for p in loaded}) == videos
    assert sum(len(p.sentences) for p in loaded) == sentences
    # One paragraph per video, chunked into pieces of 9 with the remainder last.
    sizes = Counter(p.video for p in loaded)
    assert all(sizes[v] == -(-len(entry["sentences"]) // 9) for v, entry in raw.items())
    ends_at_duration = sum(end == p.duration for p in loaded for _, end in p.timestamps)
    raw_overflowing = sum(e > v["num_frames"] for v in raw.values() for _, e in v["timestamps"])
    assert raw_overflowing == clamped_ends and ends_at_duration >= clamped_ends
    # the release's sentence order, never re-sorted by time (the release is not in time order)
    for video, video_paragraphs in _by_video((p.video, p) for p in loaded).items():
        assert [s for p in video_paragraphs for s in p.sentences] == [s.strip() for s in raw[video]["sentences"]]
    assert any(p.timestamps != sorted(p.timestamps) for p in loaded)
    check_contract(loaded, 9)


@pytest.mark.parametrize(
    ("split", "videos", "sentences"),
    [("train", 10009, 37417), ("val_1", 4917, 17505), ("val_2", 4885, 17031)],
)
def test_activitynet_release(shared_data, split, videos, sentences):
    loaded = load_paragraphs(shared_data / "activitynet" / f"{split}.json", "activitynet", split, 8)
    assert len({p.video for p in loaded}) == videos
    assert sum(len(p.sentences) for p in loaded) == sentences  # train: 37421 minus 4 degenerate spans
    check_contract(loaded, 8)


def test_activitynet_train_drops_exactly_the_degenerate_spans(shared_data):
    loaded = load_paragraphs(shared_data / "activitynet" / "train.json", "activitynet", "train", 8)
    kept = Counter((p.video, s) for p in loaded for s in p.sentences)
    raw = json.loads((shared_data / "activitynet" / "train.json").read_text())
    missing = Counter((v, s.strip()) for v, e in raw.items() for s in e["sentences"]) - kept
    assert sorted(v for v, _ in missing) == sorted(["v_N7ppHQNikv8", "v_4rKTw99bM8g", "v_0bosp4-pyTM", "v_rhOtqArO-3Y"])


@pytest.mark.parametrize("prvg_file", ["activitynet/paragraphs/val_2.json", "prvg/activitynet_test.npy"])
def test_activitynet_val2_chunked_at_8_is_prvgs_test_file(shared_data, prvg_file):
    """Paragraph for paragraph: video, duration, sentences, timestamps and their order, per video.

    PRVG lists the videos in another order, keeps the release's leading spaces and does not clamp
    the 111 ends after the duration; we strip and clamp (as the README says), nothing else differs.
    """
    ours = load_paragraphs(shared_data / "activitynet" / "val_2.json", "activitynet", "test", 8)
    if prvg_file.endswith(".npy"):
        # the file the README lists, byte for byte, before any unpickling (restricted anyway)
        published = re.search(
            rf"^\| {re.escape(prvg_file)} \| ([0-9a-f]{{64}}) \|$",
            (shared_data / "README.md").read_text(),
            re.MULTILINE,
        )
        assert published and hashlib.sha256((shared_data / prvg_file).read_bytes()).hexdigest() == published[1]
        prvg = read_prvg_npy(shared_data / prvg_file)
    else:
        prvg = json.loads((shared_data / prvg_file).read_text())
    assert len(ours) == len(prvg) == 4929
    clamped = [
        [(min(max(s, 0.0), e["duration"]), min(max(t, 0.0), e["duration"])) for s, t in e["timestamps"]] for e in prvg
    ]
    theirs = _by_video(
        (e["video"], (e["duration"], [s.strip() for s in e["sentences"]], spans))
        for e, spans in zip(prvg, clamped, strict=True)
    )
    assert _by_video((p.video, (p.duration, p.sentences, p.timestamps)) for p in ours) == theirs
    assert sum(e["timestamps"] != spans for e, spans in zip(prvg, clamped, strict=True)) > 0  # the clamp did something


def _by_video(pairs):
    """{video: [value, ...]} from (video, value) pairs, in their order."""
    grouped: dict[str, list] = {}
    for video, value in pairs:
        grouped.setdefault(video, []).append(value)
    return grouped
