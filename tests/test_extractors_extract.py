"""Feature extraction (extractors.extract) with C3D on generated videos and the real sample video.

A C3D forward costs about half a second per clip on a 2-core CPU, so the tests share one
extractor of 3 clips (batches of 2: the last batch is partial) and the features of one video.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import h5py
import numpy as np
import pytest
import torch

from extractors import registry
from extractors.clip_index import build_clip_index, read_clip_index, write_clip_index
from extractors.extract import FeatureExtractor, extract_shard
from extractors.store import read_file_attrs, read_video_features
from extractors.synthetic import write_video
from hscnet.device import has_native_bf16


def make_extractor(seed: int = 0, **kwargs) -> FeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-init warning is tested in test_extractors_c3d
        return FeatureExtractor.named(
            "c3d", "random", seed, **{"num_clips": 3, "batch_size": 2, "device": "cpu", **kwargs}
        )


def shard_index(videos: dict, path):
    """The clip index of ``videos`` (id -> file) for C3D, written to ``path`` and read back."""
    c3d = registry.get("c3d")
    write_clip_index(path, build_clip_index(videos, 3, c3d.name, c3d.sampling))
    return read_clip_index(path)


@pytest.fixture(scope="module")
def extractor():
    return make_extractor()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    write_video(root / "ramp.mp4", num_frames=40, fps=10)  # grey level rises every frame
    write_video(root / "short.mp4", num_frames=6, fps=10)  # shorter than one clip
    return root


@pytest.fixture(scope="module")
def ramp(extractor, videos):
    """extract() of ramp.mp4 by the shared extractor (decord backend)."""
    return extractor.extract_video(videos / "ramp.mp4")


def test_extract_returns_video_features_style_dict(ramp):
    assert set(ramp) == {"features", "clip_spans", "fps", "num_frames", "duration"}
    assert ramp["features"].shape == (3, 4096) and ramp["features"].dtype == np.float32
    assert np.isfinite(ramp["features"]).all() and (ramp["features"] >= 0).all()
    np.testing.assert_allclose(ramp["clip_spans"], [[0, 1.6], [1.2, 2.8], [2.4, 4.0]])  # starts 0, 12, 24
    assert (ramp["fps"], ramp["num_frames"]) == (10.0, 40)
    # Each clip sees different grey levels, so no two clips may share features.
    distances = np.linalg.norm(ramp["features"][:, None] - ramp["features"][None], axis=-1)
    assert distances[~np.eye(3, dtype=bool)].min() > 1e-3


def test_video_shorter_than_a_clip(extractor, videos):
    result = extractor.extract_video(videos / "short.mp4")
    assert result["features"].shape == (3, 4096)
    # All clips are frames 0..5 with the last frame repeated: identical inputs, so the features
    # agree up to float rounding (a batch of 2 and a batch of 1 take different kernel paths).
    features = result["features"]
    np.testing.assert_allclose(features, np.repeat(features[:1], 3, axis=0), rtol=0, atol=1e-3 * features.max())
    assert result["clip_spans"][:, 1].max() == pytest.approx(result["duration"])


@pytest.mark.slow
def test_same_seed_same_features_other_seed_differs(ramp, videos):
    again = make_extractor().extract_video(videos / "ramp.mp4")["features"]
    np.testing.assert_array_equal(ramp["features"], again)
    other = make_extractor(seed=1, num_clips=1).extract_video(videos / "ramp.mp4")["features"]
    assert not np.allclose(other[0], again[0])


@pytest.mark.slow
def test_backends_and_batch_sizes_agree(extractor, ramp, videos):
    reference = ramp["features"]
    pyav = extractor.extract_video(videos / "ramp.mp4", backend="pyav")["features"]
    np.testing.assert_allclose(pyav, reference, rtol=1e-2, atol=1e-2 * np.abs(reference).max())
    whole = make_extractor(batch_size=3).extract_video(videos / "ramp.mp4")["features"]  # one batch instead of 2 + 1
    np.testing.assert_allclose(whole, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_bf16_and_channels_last_stay_close_to_float32(ramp, videos):
    reference = ramp["features"][0]
    variants = [({"channels_last": True}, 1e-4)]
    # Emulated bf16 convolutions take minutes per clip (bench/README.md); precision auto never picks them.
    if has_native_bf16(torch.device("cpu")):
        variants.append(({"precision": "bf16", "channels_last": True}, 2e-2))
    for kwargs, tolerance in variants:
        features = make_extractor(num_clips=1, **kwargs).extract_video(videos / "ramp.mp4")["features"]
        assert features.dtype == np.float32
        error = np.linalg.norm(features[0] - reference) / np.linalg.norm(reference)
        assert 0 < error < tolerance, (kwargs, error)  # not bit-identical: the other path really ran


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        make_extractor(precision="fp8")


@pytest.mark.slow
def test_real_video(extractor, real_video):
    result = extractor.extract_video(real_video)
    assert result["features"].shape == (3, 4096)
    assert result["num_frames"] == 420 and result["fps"] == pytest.approx(30.0)
    assert result["duration"] == pytest.approx(14.0, abs=0.01)  # the video stream's; the audio ends at 14.05 s
    # Clips start at frames 0, 202, 404 (linspace over 0..404).
    np.testing.assert_allclose(result["clip_spans"][:, 0], np.array([0, 202, 404]) / 30.0)
    assert result["clip_spans"][-1, 1] == pytest.approx(14.0)
    assert np.isfinite(result["features"]).all() and result["features"].std() > 0


def test_extract_bad_file(extractor, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(ValueError, match=r"empty\.mp4: video file is empty"):
        extractor.extract_video(empty)


def test_extract_shard_writes_contract_store(extractor, ramp, videos, tmp_path):
    index_path = tmp_path / "shard.json"
    index = shard_index({"v_ramp": videos / "ramp.mp4", "v_short": videos / "short.mp4"}, index_path)
    output = tmp_path / "shard.h5"
    clips_before = extractor.stats.clips
    extract_shard(index.videos, index.num_clips, output, extractor)
    assert extractor.stats.clips == clips_before + 6
    assert 0 <= extractor.stats.decode_wait_s < extractor.stats.seconds

    attrs = read_file_attrs(output)
    assert attrs["extractor"] == "c3d" and attrs["weights"] == "random-seed-0" and attrs["source"] == "video"
    assert (attrs["weights_source"], attrs["weights_format"]) == ("random init, seed 0", "random")
    assert attrs["num_clips"] == 3 and attrs["feature_dim"] == 4096
    assert attrs["precision"] == "fp32" and attrs["layout"] == "contiguous"
    recipe = json.loads(attrs["recipe"])
    assert recipe["frames_per_clip"] == 16 and recipe["fps"] is None and recipe["crop"] == 112
    assert recipe["layer"] == "fc6" and recipe["channel_order"] == "bgr"
    features, video_attrs = read_video_features(output, "v_ramp")
    np.testing.assert_array_equal(features, ramp["features"])
    assert video_attrs["num_frames"] == 40 and video_attrs["fps"] == 10.0
    np.testing.assert_array_equal(video_attrs["clip_spans"], ramp["clip_spans"])
    assert video_attrs["extractor"] == "c3d" and video_attrs["weights"] == "random-seed-0"


def test_extract_shard_refuses_changed_video_and_leaves_nothing(extractor, tmp_path):
    video = tmp_path / "v.mp4"
    write_video(video, num_frames=20)
    index_path = tmp_path / "shard.json"
    c3d = registry.get("c3d")
    write_clip_index(index_path, build_clip_index({"v": video}, 3, c3d.name, c3d.sampling))
    write_video(video, num_frames=30)  # re-encoded after indexing
    index = read_clip_index(index_path)
    output = tmp_path / "shard.h5"
    with pytest.raises(ValueError, match=r"v\.mp4: file size changed since the clip index"):
        extract_shard(index.videos, index.num_clips, output, extractor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard.json", "v.mp4"]


def test_decoding_failure_mid_shard_leaves_no_output(extractor, videos, tmp_path):
    index_path = tmp_path / "shard.json"
    index = shard_index({"a": videos / "ramp.mp4", "b": videos / "short.mp4"}, index_path)
    num_clips, indexed = index.num_clips, index.videos
    # Claim more frames than "b" has: its reader refuses it after "a" was already written.
    broken = type(indexed[1].info)(**{**indexed[1].info.__dict__, "num_frames": 60})
    indexed[1] = dataclasses.replace(indexed[1], info=broken)
    with pytest.raises(ValueError, match=r"short\.mp4: has 6 frames but was probed with 60"):
        extract_shard(indexed, num_clips, tmp_path / "shard.h5", extractor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard.json"]


def test_empty_shard_is_a_valid_store(extractor, tmp_path):
    extract_shard([], 3, tmp_path / "empty.h5", extractor)  # a shard can receive no video
    assert read_file_attrs(tmp_path / "empty.h5")["num_clips"] == 3
    with h5py.File(tmp_path / "empty.h5", "r") as h5:
        assert len(h5) == 0


def test_clip_count_mismatch(extractor, tmp_path):
    with pytest.raises(ValueError, match="samples 3 clips but the clip index has 8"):
        extract_shard([], 8, tmp_path / "x.h5", extractor)
