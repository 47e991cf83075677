"""Import of public precomputed features (extractors.precomputed) from small files of both layouts."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from extractors.precomputed import import_precomputed, resample_rows, single_video_rows
from extractors.store import read_file_attrs, read_video_features


def test_resample_averages_equal_bins():
    rows = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)  # row i = [i, i]
    out = resample_rows(rows, 4)
    # Bin edges round(0, 2.5, 5, 7.5, 10) = 0, 2, 5, 8, 10 (half to even): rows 0-1, 2-4, 5-7, 8-9.
    np.testing.assert_allclose(out[:, 0], [0.5, 3.0, 6.0, 8.5])
    assert out.shape == (4, 2) and out.dtype == np.float32


def test_resample_exact_multiple_and_identity():
    rows = np.random.default_rng(0).normal(size=(12, 5)).astype(np.float32)
    np.testing.assert_allclose(resample_rows(rows, 3), rows.reshape(3, 4, 5).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(resample_rows(rows, 12), rows)


def test_resample_upsampling_takes_nearest_rows():
    rows = np.array([[0.0], [10.0], [20.0]], np.float32)
    out = resample_rows(rows, 6)
    # Edges round(0, .5, 1, 1.5, 2, 2.5, 3) = 0, 0, 1, 2, 2, 2, 3: empty bins take row min(edge, 2).
    np.testing.assert_allclose(out[:, 0], [0, 0, 10, 20, 20, 20])


def test_resample_keeps_the_last_row():
    rows = np.array([[0.0], [0.0], [0.0], [9.0]], np.float32)
    assert resample_rows(rows, 2)[1, 0] == pytest.approx(4.5)  # 2D-TAN's clamp would give 0


@pytest.fixture
def tacos_file(tmp_path):
    path = tmp_path / "tall_c3d_features.hdf5"
    with h5py.File(path, "w") as h5:
        h5["s13-d21.avi"] = np.arange(20 * 4096, dtype=np.float32).reshape(20, 4096)
        h5["s14-d22.avi"] = np.ones((3, 4096), np.float32)
        h5["unused.avi"] = np.zeros((5, 4096), np.float32)
    return path


@pytest.fixture
def activitynet_file(tmp_path):
    path = tmp_path / "sub_activitynet_v1-3.c3d.hdf5"
    with h5py.File(path, "w") as h5:
        h5.create_group("v_a")["c3d_features"] = np.linspace(0, 1, 16 * 500, dtype=np.float32).reshape(16, 500)
        h5.create_group("v_b")["c3d_features"] = np.full((7, 500), 2.0, np.float32)
    return path


def test_import_tacos_layout(tacos_file, tmp_path):
    output = tmp_path / "c3d.h5"
    count = import_precomputed(tacos_file, "tacos", 4, {"s13-d21.avi": 10.0, "s14-d22.avi": 2.5}, output)
    assert count == 2
    attrs = read_file_attrs(output)
    assert attrs["feature_dim"] == 4096 and attrs["num_clips"] == 4
    assert attrs["source"] == "precomputed:tacos" and attrs["weights"] == "precomputed"
    features, video_attrs = read_video_features(output, "s13-d21.avi")
    source = np.arange(20 * 4096, dtype=np.float32).reshape(20, 4096)
    np.testing.assert_allclose(features, source.reshape(4, 5, 4096).mean(axis=1))
    np.testing.assert_allclose(video_attrs["clip_spans"], [[0, 2.5], [2.5, 5], [5, 7.5], [7.5, 10]])
    assert video_attrs["duration"] == 10.0 and video_attrs["num_frames"] == -1 and math.isnan(video_attrs["fps"])
    with h5py.File(output, "r") as h5:
        assert sorted(h5) == ["s13-d21.avi", "s14-d22.avi"]  # only annotated videos


def test_import_activitynet_layout_keeps_500_dims(activitynet_file, tmp_path):
    output = tmp_path / "c3d.h5"
    import_precomputed(activitynet_file, "activitynet", 8, {"v_a": 30.0, "v_b": 12.0}, output)
    assert read_file_attrs(output)["feature_dim"] == 500
    features, attrs = read_video_features(output, "v_b")
    assert features.shape == (8, 500)
    np.testing.assert_array_equal(features, 2.0)  # 7 rows into 8 bins: one bin takes its nearest row
    assert attrs["extractor"] == "c3d-fc7-pca500" and attrs["source"] == "precomputed:activitynet"


def test_missing_videos_are_listed_and_nothing_written(tacos_file, tmp_path):
    output = tmp_path / "c3d.h5"
    durations = {"s13-d21.avi": 10.0, "s99-d1.avi": 3.0, "s98-d2.avi": 4.0}
    with pytest.raises(
        ValueError,
        match=r"tall_c3d_features\.hdf5: 2 of 3 annotated videos have no features, e\.g\. s99-d1\.avi, s98-d2\.avi",
    ):
        import_precomputed(tacos_file, "tacos", 4, durations, output)
    assert not output.exists()


def test_wrong_layout_is_named(tacos_file, activitynet_file, tmp_path):
    with pytest.raises(ValueError, match=r"'s13-d21\.avi' has no 'c3d_features' dataset; is the layout tacos\?"):
        import_precomputed(tacos_file, "activitynet", 4, {"s13-d21.avi": 10.0}, tmp_path / "out.h5")
    with pytest.raises(ValueError, match=r"'v_a' is a group, not a \(T, 4096\) dataset"):
        import_precomputed(activitynet_file, "tacos", 4, {"v_a": 10.0}, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_bad_input_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.hdf5: precomputed feature file not found"):
        import_precomputed(tmp_path / "nothing.hdf5", "tacos", 4, {"a": 1.0}, tmp_path / "out.h5")
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=r"bad\.hdf5: not a readable HDF5 precomputed feature file"):
        import_precomputed(bad, "tacos", 4, {"a": 1.0}, tmp_path / "out.h5")
    with pytest.raises(ValueError, match="unknown precomputed layout"):
        import_precomputed(bad, "charades", 4, {"a": 1.0}, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_wrong_feature_width(tmp_path):
    path = tmp_path / "narrow.hdf5"
    with h5py.File(path, "w") as h5:
        h5["v"] = np.zeros((4, 100), np.float32)
    with pytest.raises(ValueError, match=r"narrow\.hdf5: 'v' features have shape \(4, 100\), expected \(T>0, 4096\)"):
        import_precomputed(path, "tacos", 2, {"v": 1.0}, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


# ----------------------------------------------------------------------------- generic per-video arrays


def _durations(videos):
    return {video: 10.0 for video in videos}


@pytest.mark.parametrize("container", ["npy directory", "hdf5"])
def test_generic_arrays_of_any_dimension_are_resampled_into_a_store(tmp_path, container):
    rng = np.random.default_rng(0)
    rows = {"s13-d21.avi": rng.standard_normal((30, 768)), "v_abc": rng.standard_normal((5, 768))}
    source = tmp_path / ("clip" if container == "npy directory" else "clip.h5")
    if container == "hdf5":
        with h5py.File(source, "w") as h5:
            for video, array in rows.items():
                h5[video] = array.astype(np.float32)
    else:
        source.mkdir()
        np.save(source / "s13-d21.npy", rows["s13-d21.avi"].astype(np.float32))  # named without the extension
        np.save(source / "v_abc.npy", rows["v_abc"].astype(np.float32))
    out = tmp_path / "store.h5"
    import_precomputed(source, "generic", 8, _durations(rows), out)
    with h5py.File(out, "r") as h5:
        assert (h5.attrs["extractor"], int(h5.attrs["feature_dim"]), h5.attrs["source"]) == (
            "generic-precomputed",
            768,
            "precomputed:generic",
        )
        for video, array in rows.items():
            np.testing.assert_allclose(h5[video][()], resample_rows(array.astype(np.float32), 8), rtol=1e-6)


def test_generic_arrays_of_different_dimensions_or_pickled_are_refused(tmp_path):
    source = tmp_path / "feats"
    source.mkdir()
    np.save(source / "a.npy", np.zeros((4, 512), np.float32))
    np.save(source / "b.npy", np.zeros((4, 768), np.float32))
    with pytest.raises(ValueError, match=r"'b' has 768-d features, 'a' 512-d: every video needs the same dimension"):
        import_precomputed(source, "generic", 2, _durations(["a", "b"]), tmp_path / "out.h5")
    np.save(source / "b.npy", np.array([{"rows": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"b\.npy: holds Python objects \(a pickled object array\), which are never"):
        import_precomputed(source, "generic", 2, _durations(["a", "b"]), tmp_path / "out.h5")
    # NumPy calls any non-.npy file pickled and advises loading it unsafely; an empty one raised EOFError
    (source / "b.npy").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"b\.npy: not an \.npy file \(no NumPy header\)$"):
        import_precomputed(source, "generic", 2, _durations(["a", "b"]), tmp_path / "out.h5")
    (source / "b.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"b\.npy: empty file, not an \.npy array$"):
        import_precomputed(source, "generic", 2, _durations(["a", "b"]), tmp_path / "out.h5")
    with pytest.raises(ValueError, match=r"1 of 3 annotated videos have no features, e\.g\. c"):
        import_precomputed(source, "generic", 2, _durations(["a", "b", "c"]), tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_a_video_with_two_candidate_npy_files_is_refused_not_guessed(tmp_path):
    source = tmp_path / "feats"
    source.mkdir()
    np.save(source / "s13-d21.avi.npy", np.zeros((4, 8), np.float32))
    np.save(source / "s13-d21.npy", np.ones((4, 8), np.float32))
    with pytest.raises(
        ValueError, match=r"both s13-d21\.avi\.npy and s13-d21\.npy would be the features of 's13-d21\.avi'"
    ):
        import_precomputed(source, "generic", 2, _durations(["s13-d21.avi"]), tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
    # named explicitly (hscnet ground --features), the file given is the one read
    np.testing.assert_array_equal(single_video_rows(source / "s13-d21.npy", "s13-d21.avi"), np.ones((4, 8)))


def test_a_tiny_file_declaring_a_huge_shape_is_refused_before_anything_is_allocated(tmp_path):
    """Issue 30: a 200-byte .npy, or an HDF5 file of a few KB, declaring (10**7, 10**6) float32 (36 TiB) gave a
    MemoryError traceback, both in import-features and in hscnet ground --features."""
    npy = tmp_path / "feats" / "v.npy"
    npy.parent.mkdir()
    with npy.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**7, 10**6)})
        f.write(bytes(64))
    declared = r"declares float32 \(10000000, 1000000\)"
    with pytest.raises(ValueError, match=rf"^{npy}: {declared}, 40000000000000 bytes, but holds 64 bytes of data"):
        import_precomputed(npy.parent, "generic", 2, _durations(["v"]), tmp_path / "out.h5")
    with pytest.raises(ValueError, match=rf"^{npy}: {declared}"):
        single_video_rows(npy, "v")
    h5_path = tmp_path / "feats.h5"
    with h5py.File(h5_path, "w") as h5:
        h5.create_dataset("v", shape=(10**7, 10**6), dtype="f4", chunks=(1, 1024))  # nothing written: fill values
    assert h5_path.stat().st_size < 10_000
    huge = rf"^{h5_path}: dataset '/v': {declared}, 37252\.9 GiB, more than this machine's memory \(.* GiB\)"
    with pytest.raises(ValueError, match=huge):
        import_precomputed(h5_path, "generic", 2, _durations(["v"]), tmp_path / "out.h5")
    with pytest.raises(ValueError, match=huge):
        single_video_rows(h5_path, "v")
    assert not (tmp_path / "out.h5").exists()
