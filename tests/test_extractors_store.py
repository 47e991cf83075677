"""Feature store shards and merging (extractors.store), video lists and shards (extractors.videos)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from extractors.store import (
    merge_feature_files,
    read_file_attrs,
    read_video_features,
    write_file_attrs,
    write_video_features,
)
from extractors.videos import read_paragraph_videos, read_video_list, resolve_video_path, resolve_videos, shard_of

ATTRS = {
    "extractor": "c3d",
    "weights": "random-seed-0",
    "source": "video",
    "num_clips": 2,
    "feature_dim": 3,
    "preprocessing": "test",
}


def make_shard(path, videos: dict[str, float], **attrs) -> None:
    """A shard whose video ``v`` has features filled with ``videos[v]``."""
    with h5py.File(path, "w") as h5:
        write_file_attrs(h5, {**ATTRS, **attrs})
        for video_id, value in videos.items():
            write_video_features(
                h5,
                video_id,
                np.full((2, 3), value, np.float32),
                fps=25.0,
                num_frames=100,
                duration=4.0,
                clip_spans=np.array([[0, 2.0], [2.0, 4.0]]),
                source="v.mp4",
            )


def test_merge_keeps_every_video_and_its_attrs(tmp_path):
    make_shard(tmp_path / "s0.h5", {"a": 1.0, "c": 3.0})
    make_shard(tmp_path / "s1.h5", {"b": 2.0})
    make_shard(tmp_path / "s2.h5", {})  # a shard may be empty
    output = tmp_path / "c3d.h5"
    count = merge_feature_files([tmp_path / f"s{i}.h5" for i in range(3)], output, expected_ids=["a", "b", "c"])
    assert count == 3
    assert read_file_attrs(output) == ATTRS
    for video_id, value in {"a": 1.0, "b": 2.0, "c": 3.0}.items():
        features, attrs = read_video_features(output, video_id)
        np.testing.assert_array_equal(features, np.full((2, 3), value))
        assert attrs["fps"] == 25.0 and attrs["num_frames"] == 100 and attrs["duration"] == 4.0
        assert attrs["extractor"] == "c3d" and attrs["source"] == "video"
        np.testing.assert_array_equal(attrs["clip_spans"], [[0, 2], [2, 4]])


def test_merge_duplicate_id_is_an_error_and_writes_nothing(tmp_path):
    make_shard(tmp_path / "s0.h5", {"a": 1.0})
    make_shard(tmp_path / "s1.h5", {"a": 2.0})
    with pytest.raises(ValueError, match=r"s1\.h5: video 'a' is also in .*s0\.h5"):
        merge_feature_files([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "c3d.h5")
    assert not (tmp_path / "c3d.h5").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s0.h5", "s1.h5"]


def test_merge_missing_expected_ids(tmp_path):
    make_shard(tmp_path / "s0.h5", {"a": 1.0})
    with pytest.raises(ValueError, match=r"c3d\.h5: 2 of 3 expected videos are in none of the 1 shards, e.g. b, c"):
        merge_feature_files([tmp_path / "s0.h5"], tmp_path / "c3d.h5", expected_ids=["a", "b", "c"])
    assert not (tmp_path / "c3d.h5").exists()


def test_merge_refuses_mixed_extractors(tmp_path):
    make_shard(tmp_path / "s0.h5", {"a": 1.0})
    make_shard(tmp_path / "s1.h5", {"b": 1.0}, weights="random-seed-1")
    with pytest.raises(ValueError, match=r"s1\.h5: file attrs weights differ"):
        merge_feature_files([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "c3d.h5")


def test_merge_keeps_precision_and_refuses_mixed_precisions(tmp_path):
    make_shard(tmp_path / "s0.h5", {"a": 1.0}, precision="bf16", layout="channels_last_3d")
    make_shard(tmp_path / "s1.h5", {"b": 1.0}, precision="bf16", layout="channels_last_3d")
    merge_feature_files([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "c3d.h5")
    assert read_file_attrs(tmp_path / "c3d.h5") == {**ATTRS, "precision": "bf16", "layout": "channels_last_3d"}
    make_shard(tmp_path / "s2.h5", {"c": 1.0}, precision="fp32", layout="channels_last_3d")
    with pytest.raises(ValueError, match=r"s2\.h5: file attrs precision differ .*'fp32' vs 'bf16'"):
        merge_feature_files([tmp_path / "s0.h5", tmp_path / "s2.h5"], tmp_path / "mixed.h5")
    make_shard(tmp_path / "s3.h5", {"d": 1.0})  # a store written before precision was recorded
    with pytest.raises(ValueError, match=r"s3\.h5: file attrs precision, layout differ"):
        merge_feature_files([tmp_path / "s0.h5", tmp_path / "s3.h5"], tmp_path / "mixed.h5")


def test_merge_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"gone\.h5: feature file not found"):
        merge_feature_files([tmp_path / "gone.h5"], tmp_path / "c3d.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"text\.h5: not a readable HDF5 feature file"):
        merge_feature_files([tmp_path / "text.h5"], tmp_path / "c3d.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as h5:
        h5["x"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"plain\.h5: not a feature store"):
        merge_feature_files([tmp_path / "plain.h5"], tmp_path / "c3d.h5")
    assert not (tmp_path / "c3d.h5").exists()


def test_write_checks_ids_and_shapes(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as h5:
        write_file_attrs(h5, ATTRS)
        spans = np.zeros((2, 2))
        with pytest.raises(ValueError, match="cannot be an HDF5 dataset name"):
            write_video_features(
                h5, "dir/video", np.zeros((2, 3)), fps=1, num_frames=1, duration=1, clip_spans=spans, source="v.mp4"
            )
        with pytest.raises(ValueError, match=r"features \(3, 3\)"):
            write_video_features(
                h5, "v", np.zeros((3, 3)), fps=1, num_frames=1, duration=1, clip_spans=spans, source="v.mp4"
            )
        write_video_features(
            h5, "v", np.zeros((2, 3)), fps=1, num_frames=1, duration=1, clip_spans=spans, source="v.mp4"
        )
        with pytest.raises(ValueError, match="duplicate video id 'v'"):
            write_video_features(
                h5, "v", np.zeros((2, 3)), fps=1, num_frames=1, duration=1, clip_spans=spans, source="v.mp4"
            )
        features = np.zeros((2, 3))
        features[1, 2] = np.inf
        with pytest.raises(ValueError, match=r"v2\.mp4: video 'w': features: row 1 has non-finite values"):
            write_video_features(h5, "w", features, fps=1, num_frames=1, duration=1, clip_spans=spans, source="v2.mp4")
        assert "w" not in h5


def test_shard_of_is_stable_crc32():
    assert shard_of("v_QOlSCBRmfWY", 7) == zlib.crc32(b"v_QOlSCBRmfWY") % 7
    assert shard_of("s13-d21.avi", 1) == 0
    ids = [f"video_{i}" for i in range(200)]
    before = {v: shard_of(v, 4) for v in ids}
    after = {v: shard_of(v, 4) for v in ids + ["new_video"]}  # adding a video moves no other
    assert all(after[v] == before[v] for v in ids)
    assert set(before.values()) == {0, 1, 2, 3}
    with pytest.raises(ValueError):
        shard_of("x", 0)


def test_resolve_video_paths(tmp_path):
    (tmp_path / "s13-d21.avi").touch()
    (tmp_path / "v_abc.mkv").touch()
    (tmp_path / "v_abc.mp4").touch()
    assert resolve_video_path(tmp_path, "s13-d21.avi", [".mp4"]) == tmp_path / "s13-d21.avi"
    assert resolve_video_path(tmp_path, "v_abc", [".mp4", ".mkv"]) == tmp_path / "v_abc.mp4"  # first extension wins
    assert resolve_video_path(tmp_path, "v_abc", [".webm"]) is None
    with pytest.raises(FileNotFoundError, match=r"2 of 3 videos not found .* e.g. v_x, v_y"):
        resolve_videos(["v_abc", "v_x", "v_y"], tmp_path, [".mp4"])


def test_read_video_list(tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("# shard 0\nv_a = a.mp4\n\nv_b=/abs/b.mp4\n")
    assert read_video_list(listing) == {"v_a": tmp_path / "a.mp4", "v_b": Path("/abs/b.mp4")}  # absolute kept
    listing.write_text("v_a=a.mp4\nv_a=b.mp4\n")
    with pytest.raises(ValueError, match=r"videos\.txt:2: duplicate video id 'v_a'"):
        read_video_list(listing)
    listing.write_text("just-a-path.mp4\n")
    with pytest.raises(ValueError, match=r"videos\.txt:1: expected ID=PATH"):
        read_video_list(listing)


def test_read_paragraph_videos(tmp_path):
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(
        json.dumps([{"video": "b", "duration": 5.0}, {"video": "a", "duration": 3.0}, {"video": "b", "duration": 5.0}])
    )
    test.write_text(json.dumps([{"video": "c", "duration": 1.5}]))
    assert read_paragraph_videos([train, test]) == {"b": 5.0, "a": 3.0, "c": 1.5}
    test.write_text(json.dumps([{"video": "a", "duration": 4.0}]))
    with pytest.raises(
        ValueError, match=r"test\.json: paragraph 0 gives video 'a' duration 4\.0, but .*train\.json gives 3\.0"
    ):
        read_paragraph_videos([train, test])
    test.write_text(json.dumps([{"video": "a", "duration": -1}]))
    with pytest.raises(ValueError, match=r"test\.json: paragraph 0 \(video 'a'\) has no positive 'duration'"):
        read_paragraph_videos([test])
    test.write_text(json.dumps({"a": {"duration": 1}}))
    with pytest.raises(ValueError, match=r"test\.json: expected a JSON list of paragraphs"):
        read_paragraph_videos([test])


def test_real_annotations_list_their_videos(shared_data):
    tacos = read_paragraph_videos(sorted((shared_data / "tacos" / "paragraphs").glob("*.json")))
    assert len(tacos) == 127 and all(v.endswith(".avi") for v in tacos)
    assert tacos["s26-d70.avi"] == pytest.approx(198.333, abs=1e-3)
    shards = [shard_of(v, 4) for v in tacos]
    assert min(shards.count(k) for k in range(4)) > 15  # CRC-32 spreads real ids evenly enough


def test_a_store_takes_as_many_clips_as_the_config_allows(tmp_path):
    from hscnet.limits import MAX_CLIPS

    spans = np.stack([np.arange(MAX_CLIPS), np.arange(1, MAX_CLIPS + 1)], axis=1) * 0.5
    with h5py.File(tmp_path / "many.h5", "w") as h5:
        write_file_attrs(h5, {**ATTRS, "num_clips": MAX_CLIPS})
        write_video_features(
            h5, "v", np.zeros((MAX_CLIPS, 3), np.float32), fps=25.0, num_frames=16 * MAX_CLIPS,
            duration=MAX_CLIPS * 0.5, clip_spans=spans, source="v.mp4",
        )  # fmt: skip
    with h5py.File(tmp_path / "many.h5", "r") as h5:
        np.testing.assert_array_equal(h5["v"].attrs["clip_spans"], spans)


def test_an_output_that_is_a_symlink_is_written_through_and_the_link_kept(tmp_path):
    from hscnet.cli import main

    make_shard(tmp_path / "s0.h5", {"a": 1.0})
    disk = tmp_path / "big_disk"
    disk.mkdir()
    (disk / "c3d.h5").write_bytes(b"the previous run's store")
    link = tmp_path / "results" / "c3d.h5"
    link.parent.mkdir()
    link.symlink_to(disk / "c3d.h5")
    assert main(["merge-features", str(tmp_path / "s0.h5"), "--output", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == (disk / "c3d.h5").resolve()
    with h5py.File(disk / "c3d.h5", "r") as h5:
        np.testing.assert_array_equal(h5["a"][()], np.full((2, 3), 1.0))
    assert sorted(p.name for p in disk.iterdir()) == ["c3d.h5"] and sorted(p.name for p in link.parent.iterdir()) == [
        "c3d.h5"
    ]  # no temporary left on either side
