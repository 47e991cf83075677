"""`hscnet demo-data`: the generated tiny dataset keeps the data contract, is deterministic and atomic."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import decord
import numpy as np
import pytest

from hscnet import cli
from hscnet.demo import generate as demo
from hscnet.io import read_json
from hscnet.text.tokenize import tokenize_sentences

REPO_ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_seed0") / "tiny"
    demo.generate_demo(out, size="tiny", seed=0)
    return out


@pytest.fixture(scope="module")
def tiny_again_by_cli(tmp_path_factory) -> Path:
    """Same seed through the CLI in a fresh interpreter with another string-hash seed and two
    processes rendering the videos (the fixture ``tiny`` has one).

    The output directory already exists with an empty ``annotations/`` folder, as Snakemake leaves
    it when it creates the parents of a rule's outputs.
    """
    out = tmp_path_factory.mktemp("tiny_seed0_cli") / "tiny"
    (out / "annotations").mkdir(parents=True)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hscnet.cli",
            "demo-data",
            "--size",
            "tiny",
            "--seed",
            "0",
            "--out",
            str(out),
            "--workers",
            "2",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def tiny_seed1(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_seed1") / "tiny"
    demo.generate_demo(out, size="tiny", seed=1)
    return out


def _annotations(root: Path) -> dict[str, list[dict]]:
    return {split: read_json(root / "annotations" / f"{split}.json") for split in SPLITS}


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_output_layout_and_no_leftovers(tiny):
    assert sorted(p.name for p in tiny.iterdir()) == sorted(demo.OUTPUT_ENTRIES)
    assert sorted(p.name for p in tiny.parent.iterdir()) == ["tiny"], "temporary siblings must be gone"
    assert sorted(p.name for p in (tiny / "videos").iterdir()) == [f"{v}.mp4" for v in demo.video_ids("tiny")]
    readme = (tiny / "README.txt").read_text()
    assert "--size tiny --seed 0" in readme and "size: tiny   seed: 0" in readme


def test_annotations_keep_the_paragraph_contract(tiny):
    events = read_json(tiny / "events.json")
    ids = []
    for split, paragraphs in _annotations(tiny).items():
        assert paragraphs, split
        for p in paragraphs:
            assert set(p) == {"id", "video", "duration", "sentences", "timestamps"}
            assert p["id"].startswith(f"{split}_")
            ids.append(p["id"])
            video = events["videos"][p["video"]]
            assert video["split"] == split
            assert p["duration"] == pytest.approx(video["num_frames"] / events["fps"])
            assert 2 <= len(p["sentences"]) <= 9 and len(p["sentences"]) == len(p["timestamps"])
            assert all(isinstance(s, str) and s.strip() for s in p["sentences"])
            for start, end in p["timestamps"]:
                assert 0 <= start < end <= p["duration"]
            for (_, end), (start, _) in itertools.pairwise(p["timestamps"]):
                assert end < start, "sentences follow the video in temporal order"
            # The paragraph is a run of consecutive events of its video.
            spans = [[e["start"], e["end"]] for e in video["events"]]
            first = spans.index(p["timestamps"][0])
            assert spans[first : first + len(p["timestamps"])] == p["timestamps"]
    assert len(ids) == len(set(ids))


def test_splits_are_disjoint_by_video_and_sized_like_tiny(tiny):
    annotations = _annotations(tiny)
    videos = {split: {p["video"] for p in ps} for split, ps in annotations.items()}
    assert not (videos["train"] & videos["val"] or videos["train"] & videos["test"] or videos["val"] & videos["test"])
    assert [len(videos[s]) for s in SPLITS] == [4, 1, 1]
    assert 25 <= sum(len(ps) for ps in annotations.values()) <= 35


def test_videos_decode_with_pyav_and_decord(tiny):
    events = read_json(tiny / "events.json")
    for video, info in events["videos"].items():
        path = tiny / "videos" / f"{video}.mp4"
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert float(stream.average_rate) == demo.FPS
            assert container.duration / av.time_base == pytest.approx(info["duration"], abs=1 / demo.FPS)
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        assert frames.shape == (info["num_frames"], 128, 172, 3)
        reader = decord.VideoReader(str(path))
        assert len(reader) == info["num_frames"]
        assert reader.get_avg_fps() == pytest.approx(demo.FPS)
        assert reader[0].shape == (128, 172, 3)


def test_glove_has_300_floats_per_word_and_covers_every_sentence(tiny):
    vocabulary = set()
    for line in (tiny / "glove.txt").read_text(encoding="utf-8").splitlines():
        word, *values = line.split(" ")
        assert len(values) == 300 and np.isfinite(np.array(values, dtype=np.float64)).all()
        assert word not in vocabulary
        vocabulary.add(word)
    texts = [s for ps in _annotations(tiny).values() for p in ps for s in p["sentences"]]
    texts += (tiny / "corpus.txt").read_text(encoding="utf-8").splitlines()
    tokens = {t for words in tokenize_sentences(texts) for t in words}
    assert tokens <= vocabulary, sorted(tokens - vocabulary)


def test_same_seed_gives_identical_dataset(tiny, tiny_again_by_cli):
    for name in (
        "annotations/train.json",
        "annotations/val.json",
        "annotations/test.json",
        "events.json",
        "corpus.txt",
        "glove.txt",
        "README.txt",
    ):
        assert (tiny / name).read_bytes() == (tiny_again_by_cli / name).read_bytes(), name
    for video in demo.video_ids("tiny"):
        a, b = (_decode(root / "videos" / f"{video}.mp4") for root in (tiny, tiny_again_by_cli))
        assert np.array_equal(a, b), video


def test_another_seed_gives_another_dataset(tiny, tiny_seed1):
    assert _annotations(tiny) != _annotations(tiny_seed1)
    a, b = (_decode(root / "videos" / "tiny_000.mp4") for root in (tiny, tiny_seed1))
    assert a.shape != b.shape or not np.array_equal(a, b)
    assert (tiny / "glove.txt").read_bytes() != (tiny_seed1 / "glove.txt").read_bytes()


def test_failure_leaves_no_output_and_no_temporary_files(tmp_path, monkeypatch):
    """A video that fails in its worker process fails the whole run with the worker's error."""
    make_script, made = demo.demo_script.make_script, []

    def third_script_unrenderable(*args, **kwargs):
        script = make_script(*args, **kwargs)
        made.append(script)
        return dataclasses.replace(script, shapes=("hexagon",) * len(script.shapes)) if len(made) == 3 else script

    monkeypatch.setattr(demo.demo_script, "make_script", third_script_unrenderable)
    quick = dataclasses.replace(demo.SIZES["tiny"], corpus_sentences=500, word_vector_epochs=1)
    monkeypatch.setitem(demo.SIZES, "tiny", quick)
    out = tmp_path / "tiny"
    with pytest.raises(ValueError, match="unknown demo shape 'hexagon'"):
        demo.generate_demo(out, size="tiny", seed=0, workers=2)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_directory_with_foreign_files(tmp_path, caplog):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli.main(["demo-data", "--size", "tiny", "--out", str(out)]) == 1
    assert str(out) in caplog.text and "notes.txt" in caplog.text
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_rejects_a_file_as_output_a_negative_seed_and_no_workers(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        demo.generate_demo(target, size="tiny")
    with pytest.raises(ValueError, match="non-negative"):
        demo.generate_demo(tmp_path / "out", size="tiny", seed=-1)
    with pytest.raises(ValueError, match="unknown demo size"):
        demo.generate_demo(tmp_path / "out", size="huge")
    with pytest.raises(ValueError, match="at least one worker"):
        demo.generate_demo(tmp_path / "out", size="tiny", workers=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_regenerating_replaces_a_previous_output(tiny, tiny_seed1, tmp_path):
    out = tmp_path / "tiny"
    shutil.copytree(tiny_seed1, out)
    demo.generate_demo(out, size="tiny", seed=0)
    assert (out / "annotations" / "train.json").read_bytes() == (tiny / "annotations" / "train.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


@pytest.mark.slow
def test_random_c3d_features_carry_colour_and_action(tmp_path, monkeypatch):
    """The learnability check: linear probes on random-init C3D fc6 of generated clips beat the baseline.

    The tiny set has too few events for a probe, so this generates 24 tiny-length videos of 4
    events (96 clips, ~45 s of C3D on 2 cores) through the full generator. Many short videos give
    the video-wise cross-validation objects of every colour; bench/demo.md has the full-size probe.
    """
    from hscnet.demo import probe as demo_probe

    probe_size = demo.DemoSize(
        num_videos=24,
        held_out_videos=4,
        num_frames=(120, 128),
        num_events=(4, 4),
        paragraphs_per_video=1,
        corpus_sentences=500,
        word_vector_epochs=5,
    )
    monkeypatch.setitem(demo.SIZES, "probe", probe_size)
    demo.generate_demo(tmp_path / "probe", size="probe", seed=0)
    results = demo_probe.run_probe(tmp_path / "probe")
    print(
        json.dumps(
            {task: {k: r[k] for k in ("accuracy", "majority_baseline", "num_clips")} for task, r in results.items()}
        )
    )
    assert results["action"]["num_clips"] == 96
    for task in ("colour", "action"):
        r = results[task]
        assert r["accuracy"] >= max(r["majority_baseline"], r["uniform_chance"]) + 0.1, (task, r)
