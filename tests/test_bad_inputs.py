"""Every bad input, run through the real CLI: exit status 1, one error line naming the file and the
problem, and nothing at the cached output path (no temporary either). docs/evaluation.md "Bad input" table
lists them.

Each case builds its inputs under ``tmp_path``, its outputs under ``tmp_path/out``, and returns the
argv, the cached output path that must not appear and the fragments the error line must contain.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from builders import write_synthetic_dataset
from synthetic_videos import write_audio_only

from extractors.synthetic import write_video
from hscnet.cli import main
from hscnet.errors import InputError
from hscnet.io import atomic_directory, atomic_path


def write_json_file(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def paragraphs_file(path: Path, videos=("v_a",), duration=2.0) -> Path:
    return write_json_file(
        path,
        [{"video": v, "duration": duration, "sentences": ["a person walks"], "timestamps": [[0, 1]]} for v in videos],
    )


# ------------------------------------------------------------------ cases


def clip_index_of(video: Path, out: Path) -> list[str]:
    return ["clip-index", "--videos", f"v_a={video}", "--num-clips", "4", "--output", str(out)]


def missing_video(tmp: Path):
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "nope.mp4", out), out, ["nope.mp4", "video file not found"]


def empty_video(tmp: Path):
    (tmp / "empty.mp4").write_bytes(b"")
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "empty.mp4", out), out, ["empty.mp4", "empty (0 bytes)"]


def truncated_video(tmp: Path):
    write_video(tmp / "full.mp4", num_frames=30)
    data = (tmp / "full.mp4").read_bytes()
    (tmp / "cut.mp4").write_bytes(data[: len(data) // 3])
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "cut.mp4", out), out, ["cut.mp4", "truncated or corrupt"]


def truncated_faststart_video(tmp: Path):
    """Cut at half, the index at the front: the header is complete, half of the frames are gone."""
    write_video(tmp / "full.mp4", num_frames=200, faststart=True)
    data = (tmp / "full.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    (tmp / "half.mp4").write_bytes(data[: len(data) // 2])
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "half.mp4", out), out, ["half.mp4", "last frame does not decode"]


def audio_only_video(tmp: Path):
    write_audio_only(tmp / "sound.m4a")
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "sound.m4a", out), out, ["sound.m4a", "no video stream"]


def image_named_like_a_video(tmp: Path):
    from PIL import Image

    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp / "still.png")
    (tmp / "still.png").rename(tmp / "still.mp4")
    out = tmp / "out" / "clips.json"
    return clip_index_of(tmp / "still.mp4", out), out, ["still.mp4", "an image (png), not a video"]


def malformed_annotations(tmp: Path):
    bad = write_json_file(
        tmp / "bad.json", [{"video": "v_a", "duration": 2.0, "sentences": ["ok", ""], "timestamps": [[0, 1], [1, 2]]}]
    )
    out = tmp / "out" / "train.json"
    argv = [
        "prepare-annotations",
        "--format",
        "paragraphs",
        "--input",
        str(bad),
        "--split",
        "train",
        "--output",
        str(out),
    ]
    return argv, out, ["bad.json", "empty sentence"]


def annotations_not_json(tmp: Path):
    bad = tmp / "bad.json"
    bad.write_text('[{"video": ')
    out = tmp / "out" / "train.json"
    argv = [
        "prepare-annotations",
        "--format",
        "paragraphs",
        "--input",
        str(bad),
        "--split",
        "train",
        "--output",
        str(out),
    ]
    return argv, out, ["bad.json", "not valid JSON"]


def activitynet_duplicate_video_key(tmp: Path):
    raw = tmp / "val_1.json"
    entry = '{"duration": 20.0, "timestamps": [[0, 5]], "sentences": ["a man walks."]}'
    raw.write_text(f'{{"v_a": {entry}, "v_b": {entry}, "v_a": {entry}}}')
    out = tmp / "out" / "val.json"
    argv = [
        "prepare-annotations",
        "--format",
        "activitynet",
        "--input",
        str(raw),
        "--split",
        "val",
        "--output",
        str(out),
    ]
    return argv, out, ["val_1.json", "'v_a' appears twice"]


def every_span_dropped(tmp: Path):
    raw = write_json_file(
        tmp / "val_1.json",
        {"v_a": {"duration": 20.0, "timestamps": [[25, 30], [5, 5]], "sentences": ["after the end.", "empty span."]}},
    )
    out = tmp / "out" / "val.json"
    argv = [
        "prepare-annotations",
        "--format",
        "activitynet",
        "--input",
        str(raw),
        "--split",
        "val",
        "--output",
        str(out),
    ]
    return argv, out, ["val_1.json", "no paragraph left", "all 2 spans have start >= end"]


def duplicate_video_ids_on_the_command_line(tmp: Path):
    write_video(tmp / "a.mp4", num_frames=20)
    write_video(tmp / "b.mp4", num_frames=20)
    out = tmp / "out" / "clips.json"
    argv = [
        "clip-index",
        "--videos",
        f"x={tmp / 'a.mp4'}",
        f"x={tmp / 'b.mp4'}",
        "--num-clips",
        "4",
        "--output",
        str(out),
    ]
    return argv, out, ["b.mp4", "duplicate video id 'x'", "a.mp4"]


def precomputed_wrong_dim(tmp: Path):
    source = tmp / "tall.hdf5"
    with h5py.File(source, "w") as h5:
        h5["v_a"] = np.zeros((10, 500), np.float32)
    out = tmp / "out" / "c3d.h5"
    argv = [
        "import-features",
        "--input",
        str(source),
        "--layout",
        "tacos",
        "--num-clips",
        "4",
        "--annotations",
        str(paragraphs_file(tmp / "train.json")),
        "--output",
        str(out),
    ]
    return argv, out, ["tall.hdf5", "'v_a'", "expected (T>0, 4096)"]


def precomputed_nan_row(tmp: Path):
    source = tmp / "tall.hdf5"
    rows = np.zeros((10, 4096), np.float32)
    rows[3, 7] = np.nan
    with h5py.File(source, "w") as h5:
        h5["v_a"] = rows
    out = tmp / "out" / "c3d.h5"
    argv = [
        "import-features",
        "--input",
        str(source),
        "--layout",
        "tacos",
        "--num-clips",
        "4",
        "--annotations",
        str(paragraphs_file(tmp / "train.json")),
        "--output",
        str(out),
    ]
    return argv, out, ["tall.hdf5", "video 'v_a'", "row 3", "non-finite"]


def truncated_hdf5(tmp: Path):
    source = tmp / "tall.hdf5"
    with h5py.File(source, "w") as h5:
        h5["v_a"] = np.zeros((100, 4096), np.float32)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    out = tmp / "out" / "c3d.h5"
    argv = [
        "import-features",
        "--input",
        str(source),
        "--layout",
        "tacos",
        "--num-clips",
        "4",
        "--annotations",
        str(paragraphs_file(tmp / "train.json")),
        "--output",
        str(out),
    ]
    return argv, out, ["tall.hdf5", "not a readable HDF5"]


def glove_convert(tmp: Path, text: str, fmt: str = "glove") -> tuple[list[str], Path]:
    source = tmp / "vectors.txt"
    source.write_text(text)
    out = tmp / "out" / "vectors"
    return ["glove-convert", "--input", str(source), "--format", fmt, "--output", str(out)], out


def glove_line_with_letters(tmp: Path):
    argv, out = glove_convert(tmp, "the 0.1 0.2 0.3\ncat 0.1 x 0.3\n")
    return argv, out, ["vectors.txt", "line 2"]


def word2vec_given_as_glove(tmp: Path):
    argv, out = glove_convert(tmp, "2 3\nthe 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n")
    return argv, out, ["vectors.txt", "word2vec header", "--format word2vec"]


def glove_line_with_too_many_numbers(tmp: Path):
    argv, out = glove_convert(tmp, "the 0.1 0.2 0.3\ncat 0.9 0.1 0.2 0.3\n")
    return argv, out, ["vectors.txt", "line 2", "more than 3 numbers"]


def glove_tab_separated(tmp: Path):
    argv, out = glove_convert(tmp, "the\t0.1 0.2 0.3\ncat\t0.4 0.5 0.6\n")
    return argv, out, ["vectors.txt", "line", "tab-separated"]


def glove_nan_vector(tmp: Path):
    argv, out = glove_convert(tmp, "the 0.1 0.2 0.3\ncat 0.1 nan 0.3\n")
    return argv, out, ["vectors.txt", "line 2", "non-finite"]


def train_on(tmp: Path, spoil) -> tuple[list[str], Path, dict[str, Path]]:
    """``hscnet train`` on a small synthetic dataset after ``spoil(features h5py.File, paragraphs by split)``."""
    data = write_synthetic_dataset(tmp / "data", splits={"train": 4, "val": 2})
    paragraphs = {split: json.loads(data[split].read_text()) for split in ("train", "val")}
    with h5py.File(data["features"], "a") as feats:
        spoil(feats, paragraphs)
    out = tmp / "out" / "run"  # its config.json appears at the start; best.pt is the cached output
    argv = [
        "train",
        "--features",
        str(data["features"]),
        "--text",
        str(data["text"]),
        "--train",
        str(data["train"]),
        "--val",
        str(data["val"]),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    return argv, out / "best.pt", data


def spoil_row(split: str, value: float):
    def spoil(feats, paragraphs):
        feats[paragraphs[split][0]["video"]][2, 5] = value

    return spoil


def nan_row_in_training_video(tmp: Path):
    argv, out, _ = train_on(tmp, spoil_row("train", np.nan))
    return argv, out, ["features.h5", "video 'train_video_0.mp4'", "row 2", "non-finite"]


def inf_row_in_validation_video(tmp: Path):
    argv, out, _ = train_on(tmp, spoil_row("val", np.inf))
    return argv, out, ["features.h5", "video 'val_video_0.mp4'", "row 2", "non-finite"]


def nan_row_in_a_test_video(tmp: Path):
    """Scoring a trained model on a split whose features hold a NaN row."""
    argv, best, data = train_on(tmp, lambda feats, paragraphs: None)
    assert main(argv) == 0
    test_split = data["val"]  # the synthetic dataset's held-out split
    with h5py.File(data["features"], "a") as feats:
        feats[json.loads(test_split.read_text())[1]["video"]][4, 0] = np.nan
    predictions = tmp / "out" / "predictions.json"
    argv = [
        "evaluate",
        "--checkpoint",
        str(best),
        "--features",
        str(data["features"]),
        "--text",
        str(data["text"]),
        "--annotations",
        str(test_split),
        "--predictions",
        str(predictions),
    ]
    return argv, predictions, ["features.h5", "video 'val_video_1.mp4'", "row 4", "non-finite"]


def store_with_more_clips_than_its_attrs(tmp: Path):
    def spoil(feats, paragraphs):
        video = paragraphs["val"][1]["video"]
        rows = feats[video][()]
        del feats[video]
        feats[video] = np.concatenate([rows, rows])  # 16 clips, attrs say 8

    argv, out, _ = train_on(tmp, spoil)
    return argv, out, ["features.h5", "'val_video_1.mp4' has 16 clips", "num_clips=8"]


def soft_link_to_another_video(tmp: Path):
    def spoil(feats, paragraphs):
        video, other = paragraphs["val"][1]["video"], paragraphs["val"][0]["video"]
        del feats[video]
        feats[video] = h5py.SoftLink(f"/{other}")  # followed, the video would silently get the other's rows

    argv, out, _ = train_on(tmp, spoil)
    return argv, out, ["features.h5", "soft link at '/val_video_1.mp4' to '/val_video_0.mp4'"]


def dangling_soft_link(tmp: Path):
    def spoil(feats, paragraphs):
        video = paragraphs["val"][1]["video"]
        del feats[video]
        feats[video] = h5py.SoftLink("/nowhere")

    argv, out, _ = train_on(tmp, spoil)
    return argv, out, ["features.h5", "soft link at '/val_video_1.mp4' to '/nowhere'"]


def shard_with_an_external_link(tmp: Path):
    data = write_synthetic_dataset(tmp / "data", splits={"train": 2})
    outside = tmp / "elsewhere.h5"
    with h5py.File(outside, "w") as h5:
        h5["rows"] = np.ones((8, 16), dtype=np.float32)
    with h5py.File(data["features"], "a") as feats:
        feats["train_video_9.mp4"] = h5py.ExternalLink(str(outside), "/rows")
    out = tmp / "out" / "c3d.h5"
    argv = ["merge-features", str(data["features"]), "--output", str(out)]
    return argv, out, ["features.h5", "external link at '/train_video_9.mp4'", "elsewhere.h5"]


def text_made_from_other_annotations(tmp: Path):
    argv, out, data = train_on(tmp, lambda feats, paragraphs: None)
    other = write_synthetic_dataset(tmp / "other", splits={"train": 4, "val": 2}, seed=1)  # same ids, other text
    argv[argv.index("--text") + 1] = str(other["text"])
    return argv, out, ["text.h5", "the annotations give it", "made from other annotations"]


def text_file_as_checkpoint(tmp: Path):
    data = write_synthetic_dataset(tmp / "data", splits={"test": 2})
    notes = tmp / "best.pt"
    notes.write_text("these are my notes, not a model\n")
    out = tmp / "out" / "predictions.json"
    argv = ["evaluate", "--checkpoint", notes, "--features", data["features"], "--text", data["text"]]
    argv += ["--annotations", data["test"], "--predictions", out, "--metrics", tmp / "out" / "metrics.json"]
    return argv, out, ["best.pt", "not a checkpoint (not a PyTorch archive"]


def paragraph_longer_than_the_model_reads(tmp: Path):
    words = " ".join(["walk"] * 4097)
    annotations = write_json_file(
        tmp / "train.json",
        [{"id": "p0", "video": "v_a", "duration": 9.0, "sentences": [words], "timestamps": [[0, 5]]}],
    )
    out = tmp / "out" / "tokens.json"
    return ["tokenize", "--annotations", annotations, "--output", out], out, ["train.json", "'p0' has 4097 words"]


CASES = {
    "missing video": missing_video,
    "empty video": empty_video,
    "truncated video": truncated_video,
    "audio-only video": audio_only_video,
    "PNG image named .mp4": image_named_like_a_video,
    "mp4 truncated at 50% with the index at the front": truncated_faststart_video,
    "malformed annotations": malformed_annotations,
    "annotations not JSON": annotations_not_json,
    "duplicate video key in an ActivityNet JSON": activitynet_duplicate_video_key,
    "every span of a split dropped by cleaning": every_span_dropped,
    "duplicate ids in --videos": duplicate_video_ids_on_the_command_line,
    "precomputed features of the wrong dim": precomputed_wrong_dim,
    "truncated HDF5": truncated_hdf5,
    "malformed GloVe line": glove_line_with_letters,
    "NaN row in precomputed features": precomputed_nan_row,
    "NaN word vector": glove_nan_vector,
    "word2vec file given as GloVe": word2vec_given_as_glove,
    "GloVe line with too many numbers": glove_line_with_too_many_numbers,
    "tab-separated GloVe file": glove_tab_separated,
    "NaN row in a training video's features": nan_row_in_training_video,
    "Inf row in a validation video's features": inf_row_in_validation_video,
    "NaN row in a test video's features (evaluate)": nan_row_in_a_test_video,
    "feature store with more clips than its attrs": store_with_more_clips_than_its_attrs,
    "feature store with a soft link to another video": soft_link_to_another_video,
    "word vectors made from other annotations": text_made_from_other_annotations,
    "a text file given as --checkpoint": text_file_as_checkpoint,
    "a paragraph longer than the model reads": paragraph_longer_than_the_model_reads,
    "feature store with a dangling soft link": dangling_soft_link,
    "feature shard with an external link to another file": shard_with_an_external_link,
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_error_naming_file_and_problem(case, tmp_path, caplog):
    argv, output, fragments = CASES[case](tmp_path)
    caplog.set_level(logging.INFO)
    assert main([str(a) for a in argv]) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    message = errors[0].getMessage()
    for fragment in fragments:
        assert fragment in message
    assert not errors[0].exc_info  # one line, no traceback without -v
    assert not output.exists()
    assert not list(tmp_path.glob("out/**/*.tmp*"))  # no temporary left either


def test_an_audio_track_longer_than_the_video_does_not_stretch_it(tmp_path, caplog):
    """4 s of video with 40 s of sound: the clips, and so every grounded span, lie within the 4 s of frames."""
    write_video(tmp_path / "talk.mp4", num_frames=40, fps=10, audio_seconds=40)
    out = tmp_path / "out" / "clips.json"
    with caplog.at_level(logging.WARNING):
        assert main(clip_index_of(tmp_path / "talk.mp4", out)) == 0
    (video,) = json.loads(out.read_text())["videos"]
    assert video["duration"] == pytest.approx(4.0, abs=0.01)
    assert max(end for _, end in video["clip_spans"]) <= 4.0 + 1e-6
    assert "talk.mp4: the file lasts 40.00 s but its video stream 4.00 s" in caplog.text


# ------------------------------------------------------------------ the CLI's handling of errors


def test_verbose_adds_the_cause_chain(tmp_path, caplog):
    argv, _, _ = annotations_not_json(tmp_path)
    assert main(["-v", *argv]) == 1
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], InputError)
    assert isinstance(error.exc_info[1].__cause__, json.JSONDecodeError)


def test_a_library_value_error_is_a_bug_with_its_traceback(tmp_path, monkeypatch):
    """A ValueError that is not an InputError (numpy, torch, a project bug) must not become one quiet line."""
    import extractors.clip_index

    def broken(*args, **kwargs):
        return np.zeros(3).reshape(2, 2)  # numpy raises ValueError

    monkeypatch.setattr(extractors.clip_index, "build_clip_index", broken)
    write_video(tmp_path / "v.mp4", num_frames=10)
    with pytest.raises(ValueError, match="cannot reshape") as raised:
        main(clip_index_of(tmp_path / "v.mp4", tmp_path / "clips.json"))
    assert not isinstance(raised.value, InputError)


def test_a_non_finite_loss_names_the_videos_of_its_batch(tmp_path):
    """Finite but huge raw features overflow in the network: training stops naming the batch's videos."""

    def spoil(feats, paragraphs):
        feats[paragraphs["train"][1]["video"]][...] = 3e38

    argv, _, _ = train_on(tmp_path, spoil)
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) on paragraphs .*train_video_1\.mp4"):
        main([*argv, "--feature-norm", "none"])


# ------------------------------------------------------------------ killed writers


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_next_write_removes_only_its_own_stale_temporaries(tmp_path):
    host, dead = socket.gethostname(), dead_pid()
    target = tmp_path / "c3d_0.h5"
    names = {
        "dead writer": f".c3d_0.h5.{host}-{dead}.k2j4_x9q.tmp.h5",
        "live writer": f".c3d_0.h5.{host}-{os.getpid()}.a8b7c6d5.tmp.h5",
        "other host": f".c3d_0.h5.elsewhere-{dead}.a8b7c6d5.tmp.h5",
        "other target": f".c3d_1.h5.{host}-{dead}.a8b7c6d5.tmp.h5",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"done")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"c3d_0.h5"} | {names[k] for k in ("live writer", "other host", "other target")}


def test_next_directory_write_removes_a_dead_writers_temporary(tmp_path):
    stale = tmp_path / f".vectors.{socket.gethostname()}-{dead_pid()}.k2j4_x9q.tmp"
    stale.mkdir()
    (stale / "vectors.kv").write_bytes(b"partial")
    with atomic_directory(tmp_path / "vectors") as tmp:
        (tmp / "meta.json").write_text("{}")
    assert {p.name for p in tmp_path.iterdir()} == {"vectors"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:C3D has no pretrained weights")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_extraction_killed_midway(tmp_path, sig):
    """SIGTERM unwinds and removes the temporary at once; after SIGKILL the next run of that output removes it."""
    write_video(tmp_path / "v.mp4", num_frames=200)
    index = tmp_path / "clips.json"
    assert main(["clip-index", "--videos", f"v={tmp_path / 'v.mp4'}", "--num-clips", "12", "--output", str(index)]) == 0
    out = tmp_path / "out" / "c3d_0.h5"
    argv = [
        sys.executable,
        "-m",
        "hscnet",
        "extract-features",
        "--clips",
        str(index),
        "--weights",
        "random",
        "--batch-size",
        "1",
        "--device",
        "cpu",
        "--output",
        str(out),
    ]
    job = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(".c3d_0.h5.*.tmp.h5")) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the forward passes
    job.send_signal(sig)
    assert job.wait(60) == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM)
    orphans = list(out.parent.glob(".c3d_0.h5.*.tmp.h5"))
    assert not out.exists()
    assert len(orphans) == (1 if sig == signal.SIGKILL else 0)
    assert (
        main(
            ["extract-features", "--clips", str(index), "--weights", "random", "--device", "cpu", "--output", str(out)]
        )
        == 0
    )
    assert [p.name for p in out.parent.iterdir()] == ["c3d_0.h5"]


# ------------------------------------------ crafted pickles (in subprocesses: a crash must not end pytest)


def crafted_prvg_npy(path: Path, declared: int, items: int = 3) -> Path:
    """A PRVG-style .npy whose header and pickled array state declare ``declared`` paragraphs while the
    pickle holds ``items`` (only the globals a real file uses: what a plain reader would trust)."""
    entries = np.empty(items, dtype=object)
    for i in range(items):
        entries[i] = {"video": f"v_{i}", "duration": 10.0, "sentences": ["a man walks."], "timestamps": [[0.0, 5.0]]}
    np.save(path, entries, allow_pickle=True)
    data = bytearray(path.read_bytes())
    header = f"'shape': ({items},)".encode()
    new_header = f"'shape': ({declared},)".encode()
    at = data.index(header)
    grow = len(new_header) - len(header)
    newline = data.index(b"\n", at)
    data[at:newline] = new_header + data[at + len(header) : newline][: newline - at - len(header) - grow]
    state = b"(K\x01K" + bytes([items]) + b"\x85"  # MARK, version 1, shape (items,): the array state's start
    assert data.count(state) == 1 and declared < 256
    data[data.index(state) + 4] = declared
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("declared", [200, 5, 1], ids=["shape 200, 3 items", "shape 5, 3 items", "shape 1, 3 items"])
@pytest.mark.parametrize("command", ["prepare-annotations", "evaluate"])
def test_a_crafted_prvg_npy_is_refused_without_reading_memory(tmp_path, declared, command):
    crafted = crafted_prvg_npy(tmp_path / "test.npy", declared)
    out = tmp_path / "out" / "test.json"
    if command == "prepare-annotations":
        argv = ["prepare-annotations", "--format", "prvg_npy", "--input", crafted, "--split", "test", "--output", out]
    else:
        predictions = write_json_file(tmp_path / "predictions.json", [{"video": "v_0", "timestamps": [[0, 5]]}])
        argv = ["evaluate", predictions, "--annotations", crafted, "--format", "prvg_npy", "--metrics", out]
    result = subprocess.run([sys.executable, "-m", "hscnet", *map(str, argv)], capture_output=True, text=True)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"{crafted}:" in errors[0] and f"declares shape ({declared},) but holds 3 items" in errors[0]
    assert not out.exists()


def test_the_crafted_file_is_only_its_counts_away_from_a_valid_one(tmp_path):
    """The crafted file differs from a readable one in the counts alone, so the test above tests the counts."""
    from hscnet.data.prvg import read_prvg_npy

    assert len(read_prvg_npy(crafted_prvg_npy(tmp_path / "same.npy", declared=3))) == 3


# ------------------------------------------------------------------ a full disk, for real: a small tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs mounted under ``tmp_path`` (needs root, as CI runs; skipped elsewhere, failed in CI)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        message = f"cannot mount a tmpfs here ({result.stderr.decode().strip()})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


def assert_one_no_space_error(caplog, target: Path) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"{target}: no space left on the device" in errors[0], caplog.text
    assert "nothing was written" in errors[0]


def test_a_full_disk_during_training_names_the_checkpoint_and_leaves_nothing_corrupt(small_disk, tmp_path, caplog):
    argv, _, _ = train_on(tmp_path, lambda feats, paragraphs: None)
    run = small_disk / "run"
    argv[argv.index("--out") + 1] = str(run)
    with caplog.at_level(logging.INFO):
        assert main(argv) == 1
    assert_one_no_space_error(caplog, run / "best.pt")  # the first checkpoint an epoch writes
    assert not (run / "best.pt").exists() and not (run / "in_progress.pt").exists()
    assert not list(run.glob(".*tmp*"))  # the partial temporary is gone: the space is free again


def test_a_full_disk_in_a_feature_stage_names_the_store_and_leaves_nothing(small_disk, tmp_path, caplog):
    data = write_synthetic_dataset(tmp_path / "data", splits={"train": 40}, video_dim=128)  # about 170 KB
    output = small_disk / "c3d.h5"
    with caplog.at_level(logging.INFO):
        assert main(["merge-features", str(data["features"]), "--output", str(output)]) == 1
    assert_one_no_space_error(caplog, output)
    assert list(small_disk.iterdir()) == []
