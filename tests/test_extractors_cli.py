"""The video-stage subcommands end to end through ``hscnet`` (hscnet.cli.main)."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from extractors.store import read_file_attrs, read_video_features
from extractors.synthetic import write_video
from extractors.videos import shard_of
from hscnet.cli import main


@pytest.fixture
def dataset(tmp_path):
    """Three tiny videos, with and without extension in their ids, and paragraph annotations."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "v_one.mp4", num_frames=20, fps=10)
    write_video(videos / "v_two.mkv", num_frames=24, fps=12)
    write_video(videos / "clip3.mp4", num_frames=17, fps=10)
    annotations = tmp_path / "train.json"
    annotations.write_text(
        json.dumps(
            [
                {"video": "v_one", "duration": 2.0, "sentences": ["a"], "timestamps": [[0, 1]]},
                {"video": "v_two", "duration": 2.0, "sentences": ["b"], "timestamps": [[0, 1]]},
                {"video": "clip3.mp4", "duration": 1.7, "sentences": ["c"], "timestamps": [[0, 1]]},
            ]
        )
    )
    return tmp_path


def run(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:C3D has no pretrained weights")
def test_index_extract_merge_in_two_shards(dataset, tmp_path):
    shards = []
    for shard in range(2):
        index = tmp_path / f"clips_{shard}.json"
        assert (
            run(
                "clip-index",
                "--annotations",
                dataset / "train.json",
                "--video-dir",
                dataset / "videos",
                "--extensions",
                ".mp4",
                ".mkv",
                "--num-shards",
                2,
                "--shard",
                shard,
                "--num-clips",
                2,
                "--output",
                index,
            )
            == 0
        )
        ids = [v["id"] for v in json.loads(index.read_text())["videos"]]
        assert all(shard_of(v, 2) == shard for v in ids)
        out = tmp_path / f"shard_{shard}.h5"
        assert (
            run(
                "extract-features",
                "--clips",
                index,
                "--weights",
                "random",
                "--batch-size",
                2,
                "--device",
                "cpu",
                "--output",
                out,
            )
            == 0
        )
        shards.append(out)
    merged = tmp_path / "features" / "c3d.h5"
    assert run("merge-features", *shards, "--annotations", dataset / "train.json", "--output", merged) == 0
    with h5py.File(merged, "r") as h5:
        assert sorted(h5) == ["clip3.mp4", "v_one", "v_two"]
        assert h5["v_two"].shape == (2, 4096) and h5["v_two"].dtype == np.float32
        assert h5["v_two"].attrs["fps"] == pytest.approx(12.0)
    assert read_file_attrs(merged)["extractor"] == "c3d"


def test_clip_index_from_list_and_from_arguments(dataset, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"v_one={dataset / 'videos' / 'v_one.mp4'}\nclip3=videos/clip3.mp4\n")
    out = tmp_path / "from_list.json"
    assert run("clip-index", "--video-list", listing, "--num-clips", 3, "--output", out) == 0
    index = json.loads(out.read_text())
    assert [v["id"] for v in index["videos"]] == ["clip3", "v_one"]  # sorted by id
    assert index["videos"][1]["clip_starts"] == [0, 2, 4]  # linspace(0, 20 - 16, 3)
    assert index["videos"][1]["num_frames"] == 20 and index["num_clips"] == 3

    out2 = tmp_path / "from_args.json"
    assert (
        run(
            "clip-index",
            "--videos",
            f"v_two={dataset / 'videos' / 'v_two.mkv'}",
            "--num-clips",
            2,
            "--backend",
            "pyav",
            "--output",
            out2,
        )
        == 0
    )
    assert json.loads(out2.read_text())["videos"][0]["backend"] == "pyav"


def test_bad_video_fails_cleanly_without_output(dataset, tmp_path, caplog):
    broken = dataset / "videos" / "broken.mp4"
    broken.write_bytes(b"")
    out = tmp_path / "clips.json"
    with caplog.at_level(logging.ERROR):
        code = run(
            "clip-index",
            "--videos",
            f"v_one={dataset / 'videos' / 'v_one.mp4'}",
            f"bad={broken}",
            "--num-clips",
            2,
            "--output",
            out,
        )
    assert code == 1
    assert f"{broken}: video file is empty (0 bytes)" in caplog.text
    assert not out.exists()


def test_missing_videos_are_reported(dataset, tmp_path, caplog):
    out = tmp_path / "clips.json"
    with caplog.at_level(logging.ERROR):
        code = run(
            "clip-index",
            "--annotations",
            dataset / "train.json",
            "--video-dir",
            dataset / "videos",
            "--num-clips",
            2,
            "--output",
            out,
        )  # no --extensions: v_one and v_two are not found
    assert code == 1
    assert "2 of 3 videos not found" in caplog.text
    assert not out.exists()


def test_shard_argument_checked(dataset, tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert (
            run(
                "clip-index",
                "--videos",
                "a=x.mp4",
                "--num-shards",
                2,
                "--shard",
                2,
                "--num-clips",
                2,
                "--output",
                tmp_path / "c.json",
            )
            == 1
        )
    assert "--shard 2 is not in 0..1" in caplog.text


def test_extract_with_bad_weights_file(dataset, tmp_path, caplog):
    index = tmp_path / "clips.json"
    assert (
        run("clip-index", "--videos", f"v_one={dataset / 'videos' / 'v_one.mp4'}", "--num-clips", 2, "--output", index)
        == 0
    )
    weights = tmp_path / "c3d.pickle"
    weights.write_bytes(b"garbage")
    out = tmp_path / "shard.h5"
    with caplog.at_level(logging.ERROR):
        assert run("extract-features", "--clips", index, "--weights", weights, "--output", out) == 1
    assert f"{weights}: cannot be read as a PyTorch checkpoint" in caplog.text
    assert not out.exists()


def test_extract_features_lists_the_registry(capsys):
    assert run("extract-features", "--list") == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"c3d", "c3d_fc7", "r3d_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"} <= set(listed)


def test_extract_without_weights_or_with_another_extractors_index(dataset, tmp_path, caplog):
    video = f"v_one={dataset / 'videos' / 'v_one.mp4'}"
    index = tmp_path / "clips.json"
    assert run("clip-index", "--videos", video, "--num-clips", 2, "--output", index) == 0
    with caplog.at_level(logging.ERROR):
        assert run("extract-features", "--clips", index, "--output", tmp_path / "a.h5") == 1
    assert "C3D has no official download" in caplog.text  # no silent random init
    caplog.clear()
    r3d = tmp_path / "r3d_clips.json"
    assert run("clip-index", "--videos", video, "--extractor", "r3d_18", "--num-clips", 2, "--output", r3d) == 0
    entry = json.loads(r3d.read_text())
    assert (entry["extractor"], entry["frames_per_clip"], entry["fps"]) == ("r3d_18", 16, 15.0)
    with caplog.at_level(logging.ERROR):
        assert run("clip-index", "--videos", video, "--extractor", "i3d", "--num-clips", 2, "--output", index) == 1
    assert "unknown extractor 'i3d'; known: c3d, c3d_fc7, r3d_18" in caplog.text


def test_import_features(dataset, tmp_path):
    source = tmp_path / "tall_c3d_features.hdf5"
    with h5py.File(source, "w") as h5:
        for video in ("v_one", "v_two", "clip3.mp4"):
            h5[video] = np.ones((9, 4096), np.float32)
    out = tmp_path / "c3d.h5"
    assert (
        run(
            "import-features",
            "--input",
            source,
            "--layout",
            "tacos",
            "--num-clips",
            4,
            "--annotations",
            dataset / "train.json",
            "--output",
            out,
        )
        == 0
    )
    features, attrs = read_video_features(out, "clip3.mp4")
    assert features.shape == (4, 4096)
    np.testing.assert_allclose(attrs["clip_spans"][-1], [1.275, 1.7])
