"""extractors.release_features: a new video's features made by a public release's recipe."""

from __future__ import annotations

import decord
import h5py
import numpy as np
import pytest

from extractors.c3d import PREPROCESSING, RESIZE
from extractors.extract import FeatureExtractor
from extractors.precomputed import LAYOUTS, resample_rows
from extractors.release_features import load_pca, release_features, window_frame_indices
from extractors.synthetic import write_video


def write_pca(path, num_axes: int, at_root: bool = False, seed: int = 0):
    """A PCA file of the ActivityNet release's layout (``data/U``, ``data/x_mean``, ``data/S``), or at the root."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        group = h5 if at_root else h5.create_group("data")
        group["U"] = rng.normal(size=(4096, num_axes)).astype(np.float32) / 64
        group["x_mean"] = rng.uniform(size=4096).astype(np.float32)
        group["S"] = np.sort(rng.uniform(size=num_axes))[::-1]
    return path


def test_tall_windows_sample_16_of_64_frames_every_12():
    indices = window_frame_indices(100, window=64, stride=12)
    assert indices.shape == (4, 16)  # (100 - 64) // 12 + 1 whole windows
    assert indices[1].tolist() == [12 + 4 * k for k in range(16)]
    assert indices[-1, -1] == 36 + 60


def test_activitynet_windows_are_16_consecutive_frames_every_8():
    indices = window_frame_indices(40, window=16, stride=8)
    assert indices.tolist() == [list(range(s, s + 16)) for s in (0, 8, 16, 24)]


def test_a_video_shorter_than_a_window_gives_one_clamped_row():
    assert window_frame_indices(20, window=64, stride=12).tolist() == [[min(4 * k, 19) for k in range(16)]]
    with pytest.raises(ValueError, match="at least one frame"):
        window_frame_indices(0, 16, 8)


@pytest.mark.parametrize("at_root", [False, True])
def test_pca_projects_centred_rows_on_the_first_axes(tmp_path, at_root):
    path = write_pca(tmp_path / "pca.h5", num_axes=600, at_root=at_root)
    pca = load_pca(path, 500)
    rows = np.random.default_rng(1).uniform(size=(3, 4096)).astype(np.float32)
    with h5py.File(path) as h5:
        group = h5 if at_root else h5["data"]
        expected = (rows - group["x_mean"][()]) @ group["U"][:, :500]
    np.testing.assert_allclose(pca.project(rows), expected, rtol=1e-4, atol=1e-5)


def test_bad_pca_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"too_few.h5: U has shape \(4096, 10\), expected \(4096, K >= 500\)"):
        load_pca(write_pca(tmp_path / "too_few.h5", num_axes=10), 500)
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["U"] = np.zeros((4096, 500))
    with pytest.raises(ValueError, match=r"other.h5: not a PCA file: no dataset x_mean under /"):
        load_pca(tmp_path / "other.h5", 500)
    nan = write_pca(tmp_path / "nan.h5", num_axes=500)
    with h5py.File(nan, "a") as h5:
        h5["data/x_mean"][3] = np.nan
    with pytest.raises(ValueError, match="nan.h5: U or x_mean holds NaN"):
        load_pca(nan, 500)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["tacos", "activitynet"])
def test_release_features_follow_the_recipe(tmp_path, pickle_weights, one_thread, layout):
    """Rows recomputed by hand from every decoded frame: frame choice, PCA and resampling match."""
    release = LAYOUTS[layout]
    video = tmp_path / "clip.mp4"
    write_video(video, num_frames=80, fps=10)
    pca = load_pca(write_pca(tmp_path / "pca.h5", num_axes=500), 500) if release.pca else None
    extractor = FeatureExtractor.named(release.backbone, str(pickle_weights), num_clips=3, device="cpu")
    got = release_features(extractor, video, release, pca)

    frames = decord.VideoReader(str(video), width=RESIZE[1], height=RESIZE[0]).get_batch(list(range(80))).asnumpy()
    starts = range(0, 80 - release.window + 1, release.stride)  # 2 TALL rows, 9 ActivityNet rows
    step = release.window // 16
    clips = np.stack([frames[s : s + release.window : step] for s in starts])
    rows = extractor.forward(PREPROCESSING["c3d-pickle"](clips))
    if pca is not None:
        rows = (rows - pca.mean) @ pca.components
    assert got["features"].shape == (3, release.feature_dim)
    np.testing.assert_allclose(got["features"], resample_rows(rows, 3), rtol=1e-4, atol=1e-4)
    assert got["duration"] == pytest.approx(8.0)
    np.testing.assert_allclose(got["clip_spans"], [[0, 8 / 3], [8 / 3, 16 / 3], [16 / 3, 8]])
