"""Annotation readers on small hand-made files: conversion rules, chunking, quirks and bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hscnet.cli import main
from hscnet.data.annotations import Paragraph, load_normalised, load_paragraphs, write_paragraphs


def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def paragraph_entry(**overrides) -> dict:
    entry = {
        "video": "v1.avi",
        "duration": 10.0,
        "sentences": ["A man walks.", "He sits down."],
        "timestamps": [[0.0, 4.0], [4.5, 9.0]],
    }
    entry.update(overrides)
    return entry


# ---------------------------------------------------------------- format conversion


def test_paragraphs_format_keeps_order_and_generates_ids(tmp_path):
    entries = [
        paragraph_entry(),
        # Not in time order: a whole-video summary first, as in one real TACoS val paragraph.
        paragraph_entry(video="v2.avi", sentences=[" Summary.", "First step."], timestamps=[[1, 9], [1, 2]]),
    ]
    paragraphs = load_paragraphs(write(tmp_path / "p.json", entries), "paragraphs", "val")
    assert [p.id for p in paragraphs] == ["val_00000", "val_00001"]
    assert paragraphs[1].sentences == ["Summary.", "First step."]  # stripped, order kept
    assert paragraphs[1].timestamps == [(1.0, 9.0), (1.0, 2.0)]


def test_paragraphs_format_keeps_given_ids_and_suffixes_chunks(tmp_path):
    entries = [
        paragraph_entry(id="demo_a"),
        paragraph_entry(
            id="demo_b",
            sentences=["One.", "Two.", "Three."],
            timestamps=[[0, 1], [1, 2], [2, 3]],
        ),
    ]
    paragraphs = load_paragraphs(write(tmp_path / "p.json", entries), "paragraphs", "train", max_sentences=2)
    assert [p.id for p in paragraphs] == ["demo_a", "demo_b_0", "demo_b_1"]
    assert [p.sentences for p in paragraphs[1:]] == [["One.", "Two."], ["Three."]]


def test_tacos_frames_to_seconds_release_order_and_clamped(tmp_path):
    raw = {
        "s1.avi": {
            "timestamps": [[60, 120], [0, 30], [100, 400], [0, 15]],
            "sentences": ["third", "second", "last, ends after the video", "first"],
            "fps": 30.0,
            "num_frames": 300,
        }
    }
    (paragraph,) = load_paragraphs(write(tmp_path / "t.json", raw), "tacos", "train")
    assert paragraph.video == "s1.avi"
    assert paragraph.duration == pytest.approx(10.0)
    # the release's order, never re-sorted by the annotated times
    assert paragraph.sentences == ["third", "second", "last, ends after the video", "first"]
    assert paragraph.timestamps == [(2.0, 4.0), (0.0, 1.0), (100 / 30, 10.0), (0.0, 0.5)]
    assert paragraph.positions == [0, 1, 2, 3] and paragraph.video_sentences == 4


def test_activitynet_release_order_stripped_and_degenerate_spans_dropped(tmp_path, caplog):
    raw = {
        "v_a": {
            "duration": 20.0,
            "timestamps": [[5.0, 9.0], [0.0, 4.0], [7.0, 7.0], [12.0, 11.0], [15.0, 25.0], [-1.0, 2.0]],
            "sentences": [" b", " a", " zero length", " reversed", " clamped end", " clamped start"],
        }
    }
    with caplog.at_level(logging.INFO, logger="hscnet.data.annotations"):
        (paragraph,) = load_paragraphs(write(tmp_path / "a.json", raw), "activitynet", "train")
    assert paragraph.sentences == ["b", "a", "clamped end", "clamped start"]
    assert paragraph.timestamps == [(5.0, 9.0), (0.0, 4.0), (15.0, 20.0), (0.0, 2.0)]
    # the dropped sentences leave gaps in the release positions; the video still has 6
    assert paragraph.positions == [0, 1, 4, 5] and paragraph.video_sentences == 6
    assert "dropped 2 spans" in caplog.text
    assert "clamped 2 spans" in caplog.text
    assert "1 paragraphs kept in their given, not (start, end), sentence order" in caplog.text


def test_paragraph_list_positions_count_over_the_videos_paragraphs(tmp_path):
    entries = [
        {"video": "v", "duration": 9.0, "sentences": ["a", "b"], "timestamps": [[0, 1], [8, 12]]},
        {"video": "w", "duration": 3.0, "sentences": ["c"], "timestamps": [[0, 1]]},
        {"video": "v", "duration": 9.0, "sentences": ["d", "e", "f"], "timestamps": [[9.5, 10], [2, 3], [1, 2]]},
    ]
    paragraphs = load_paragraphs(write(tmp_path / "p.json", entries), "paragraphs", "test", max_sentences=2)
    assert [(p.video, p.sentences, p.positions) for p in paragraphs] == [
        ("v", ["a", "b"], [0, 1]),
        ("w", ["c"], [0]),
        ("v", ["e", "f"], [3, 4]),  # "d" is empty after clamping
    ]
    assert [p.video_sentences for p in paragraphs] == [5, 1, 5]


@pytest.mark.parametrize(
    ("num_sentences", "max_sentences", "sizes"),
    [(3, 8, [3]), (8, 8, [8]), (9, 8, [8, 1]), (17, 8, [8, 8, 1]), (5, 1, [1, 1, 1, 1, 1])],
)
def test_chunking_is_consecutive_and_never_truncates(tmp_path, num_sentences, max_sentences, sizes):
    raw = {
        "v": {
            "duration": 100.0,
            "timestamps": [[k, k + 1] for k in range(num_sentences)],
            "sentences": [f"sentence {k}" for k in range(num_sentences)],
        },
        "w": {"duration": 3.0, "timestamps": [[0, 1]], "sentences": ["alone"]},
    }
    paragraphs = load_paragraphs(write(tmp_path / "a.json", raw), "activitynet", "train", max_sentences)
    assert [len(p.sentences) for p in paragraphs] == sizes + [1]
    assert [p.id for p in paragraphs] == [f"train_{n:05d}" for n in range(len(sizes) + 1)]
    flat = [s for p in paragraphs[:-1] for s in p.sentences]
    assert flat == [f"sentence {k}" for k in range(num_sentences)]
    assert all(p.video == "v" and p.duration == 100.0 for p in paragraphs[:-1])


def test_video_left_without_sentences_is_skipped(tmp_path, caplog):
    raw = {
        "v_bad": {"duration": 5.0, "timestamps": [[3.0, 3.0]], "sentences": ["zero length"]},
        "v_ok": {"duration": 5.0, "timestamps": [[0, 1]], "sentences": ["fine"]},
    }
    with caplog.at_level(logging.WARNING, logger="hscnet.data.annotations"):
        paragraphs = load_paragraphs(write(tmp_path / "a.json", raw), "activitynet", "train")
    assert [p.video for p in paragraphs] == ["v_ok"]
    assert "v_bad" in caplog.text


def test_written_file_roundtrips_through_strict_reader(tmp_path):
    raw = {"v": {"duration": 5.0, "timestamps": [[0, 9], [1, 2]], "sentences": [" a", "b"]}}
    paragraphs = load_paragraphs(write(tmp_path / "a.json", raw), "activitynet", "train")
    write_paragraphs(paragraphs, tmp_path / "out.json")
    assert load_normalised(tmp_path / "out.json") == paragraphs
    assert json.loads((tmp_path / "out.json").read_text())[0] == {
        "id": "train_00000",
        "video": "v",
        "duration": 5.0,
        "sentences": ["a", "b"],
        "timestamps": [[0.0, 5.0], [1.0, 2.0]],
    }


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("paragraphs", {"not": "a list"}, "expected a JSON list"),
        ("tacos", [paragraph_entry()], "expected a JSON object mapping video id"),
        ("paragraphs", [{"video": "v1.avi", "duration": 3.0, "sentences": ["x"]}], "missing key(s) timestamps"),
        ("paragraphs", [paragraph_entry(timestamps=[[0, 1]])], "1 timestamps for 2 sentences"),
        ("paragraphs", [paragraph_entry(timestamps=[[0, 1], [5, 3]])], "sentence 1: reversed span"),
        ("paragraphs", [paragraph_entry(sentences=["ok", "  "])], "video 'v1.avi'): sentence 1: empty sentence"),
        ("paragraphs", [paragraph_entry(sentences=["ok", 3])], "sentence 1: expected a string"),
        ("paragraphs", [paragraph_entry(sentences=[], timestamps=[])], "'sentences' must be a non-empty list"),
        ("paragraphs", [paragraph_entry(duration=0)], "'duration': expected a positive number"),
        ("paragraphs", [paragraph_entry(duration="10")], "'duration': expected a finite number"),
        ("paragraphs", [paragraph_entry(timestamps=[[0, 1], [1, True]])], "sentence 1: end: expected a finite number"),
        ("paragraphs", [paragraph_entry(timestamps=[[0, 1], [1, 2, 3]])], "must be a [start, end] pair"),
        ("paragraphs", [paragraph_entry(id="a"), paragraph_entry(id="a")], "duplicate paragraph id 'a'"),
        ("paragraphs", [paragraph_entry(id="a/b")], "contains '/'"),
        (
            "tacos",
            {"s.avi": {"timestamps": [[0, 10]], "sentences": ["x"], "fps": 0, "num_frames": 100}},
            "video 's.avi': 'fps': expected a positive number",
        ),
        (
            "activitynet",
            {"v_x": {"duration": 10.0, "timestamps": [[0, 1], [1, 2]], "sentences": ["ok", ""]}},
            "video 'v_x': sentence 1: empty sentence",
        ),
        ("activitynet", {"v_x": {"duration": 10.0, "sentences": ["x"]}}, "video 'v_x': missing key(s) timestamps"),
    ],
)
def test_malformed_input_names_file_and_entry(tmp_path, fmt, content, message):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(ValueError) as info:
        load_paragraphs(path, fmt, "train")
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_non_finite_number_is_an_error(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('{"v": {"duration": NaN, "timestamps": [[0, 1]], "sentences": ["x"]}}')
    with pytest.raises(ValueError, match="'duration': expected a finite number"):
        load_paragraphs(path, "activitynet", "train")


def test_missing_and_invalid_json_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json: file not found"):
        load_paragraphs(tmp_path / "missing.json", "paragraphs", "train")
    (tmp_path / "broken.json").write_text('[{"video": ')
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        load_paragraphs(tmp_path / "broken.json", "paragraphs", "train")
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(ValueError, match="empty.json: not valid JSON"):
        load_paragraphs(tmp_path / "empty.json", "paragraphs", "train")


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "p.json", [paragraph_entry()])
    with pytest.raises(ValueError, match="unknown annotation format"):
        load_paragraphs(path, "csv", "train")
    with pytest.raises(ValueError, match="max_sentences must be at least 1"):
        load_paragraphs(path, "paragraphs", "train", max_sentences=0)


def test_strict_reader_rejects_unrepaired_spans(tmp_path):
    entry = {"id": "p", "video": "v", "duration": 5.0, "sentences": ["x"], "timestamps": [[0.0, 6.0]]}
    path = write(tmp_path / "n.json", [entry])
    with pytest.raises(ValueError, match=r"n.json: paragraph 'p': sentence 0: span \(0.0, 6.0\) is not within"):
        load_normalised(path)
    del entry["id"]
    write(path, [entry])
    with pytest.raises(ValueError, match="missing key"):
        load_normalised(path)


# ---------------------------------------------------------------- CLI


def test_cli_writes_contract_json(tmp_path):
    raw = {"s.avi": {"timestamps": [[30, 60], [0, 30]], "sentences": ["b", "a"], "fps": 30, "num_frames": 90}}
    out = tmp_path / "results" / "annotations" / "test.json"
    argv = ["prepare-annotations", "--format", "tacos", "--input", str(write(tmp_path / "t.json", raw))]
    assert main([*argv, "--split", "test", "--max-sentences", "1", "--output", str(out)]) == 0
    assert load_normalised(out) == [
        Paragraph("test_00000", "s.avi", 3.0, ["b"], [(1.0, 2.0)]),  # release order
        Paragraph("test_00001", "s.avi", 3.0, ["a"], [(0.0, 1.0)]),
    ]


def test_cli_bad_input_leaves_no_output(tmp_path, caplog):
    bad = write(tmp_path / "bad.json", [paragraph_entry(sentences=["ok", ""])])
    out = tmp_path / "out" / "train.json"
    argv = ["prepare-annotations", "--format", "paragraphs", "--input", str(bad), "--split", "train"]
    assert main([*argv, "--output", str(out)]) == 1
    assert "bad.json" in caplog.text and "empty sentence" in caplog.text
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temporary left either
