"""Import public precomputed C3D features into the project's feature store, resampled to N^V clips.

Layouts:

* ``tacos``: TALL's ``tall_c3d_features.hdf5`` (used by 2D-TAN, MMN, PRVG): ``f[video]`` is a
  (T, 4096) dataset, ``video`` like ``s13-d21.avi``.
* ``activitynet``: the ActivityNet challenge's ``sub_activitynet_v1-3.c3d.hdf5``:
  ``f[video]["c3d_features"]`` is (T, 500) (C3D fc7 reduced to 500-d by PCA), ``video`` like
  ``v_QOlSCBRmfWY``. The feature dimension stays 500 and is recorded in the store.
* ``generic``: any per-video features someone extracted once (I3D 1024-d, CLIP 512/768-d, SlowFast
  2304-d, ...): an HDF5 file whose root holds one (T, D) dataset per video id, or a directory of
  ``<video id>.npy`` files (``<id without its extension>.npy`` also found), each (T, D) float. D is
  read from the file, must be the same for every video, and is recorded in the store. ``.npy`` files
  are read without pickles.

How each release's rows were made from the videos (``Release``; sources and certainty in the
docs/datasets.md, "How the public feature files were made"), which ``hscnet ground`` repeats on a new video:

* TALL (2D-TAN's ``merge_npys_to_hdf5.py`` stacks TALL's ``Interval64_128_256_512_overlap0.8_c3d_fc6``
  window files): row i is C3D fc6 (Sports-1M) of 16 frames sampled uniformly from the 64-frame
  window starting at frame 12 i.
* ActivityNet challenge 2016: row i is C3D fc7 (Sports-1M) of the 16 frames starting at frame 8 i,
  projected to 500-d with the challenge's PCA (``PCA_activitynet_v1-3.hdf5``).

Resampling (``resample_rows``): the T source rows are split into N^V equal bins; bin i holds rows
``round(i*T/N^V) .. round((i+1)*T/N^V) - 1`` and becomes their mean; a bin with no row (T < N^V)
takes the nearest row, ``min(round(i*T/N^V), T-1)``. Every video gets exactly N^V rows, the same at
training and test time, and the rows are not normalised (the dataset standardises them, if the
config says so). The peers differ:

* 2D-TAN's ``average_to_fixed_length`` is the same bin mean, except that it clamps the bin edges to
  T-1, which drops the last source row from the last bin; we keep it.
* PRVG's TACoS loader (``new_tsn_sample``/``new_tsn_sample_test``, 512 clips) averages nothing: at
  test time bin i is its first row, ``min(round(i*T/512), T-1)``; in training it is one row drawn
  at random from ``round(i*T/512) .. round((i+1)*T/512)`` (both ends included, so sometimes the
  next bin's first row). A video with fewer than 512 rows gets 256, 128, ... clips, halving until
  the count is at most T, so clip counts differ between videos. Every row is L2-normalised first
  (``DATASET.NORMALIZE: True`` in its TACoS config).

The source rows carry no timing, so durations come from the paragraph annotations and the clip
spans are N^V equal spans over ``[0, duration]``. ``fps`` is stored as NaN and ``num_frames`` as
-1 (unknown), ``weights`` as "precomputed", ``source`` as ``precomputed:<layout>``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from extractors.clips import uniform_spans
from extractors.store import check_video_id, write_file_attrs, write_video_features
from hscnet.errors import InputError, check_finite_rows
from hscnet.io import atomic_path, open_hdf5
from hscnet.progress import progress

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Release:
    """A public precomputed feature file: the store attrs it is imported with, and how its rows were made."""

    name: str  # what users download, for messages
    extractor: str  # the feature store's ``extractor`` attr
    feature_dim: int
    layer: str  # C3D layer of every row
    backbone: str  # the registry's extractor of that layer (``extractors.registry``)
    window: int  # frames one row covers (16 of them, evenly spaced, go through C3D)
    stride: int  # frames between the first frames of consecutive rows
    pca: bool  # rows were projected to ``feature_dim`` with the release's PCA


LAYOUTS = {
    "tacos": Release(
        "TALL's TACoS C3D features (tall_c3d_features.hdf5)",
        "c3d-tall-precomputed",
        4096,
        layer="fc6",
        backbone="c3d",
        window=64,
        stride=12,
        pca=False,
    ),
    "activitynet": Release(
        "the ActivityNet challenge 2016 C3D features (sub_activitynet_v1-3.c3d.hdf5)",
        "c3d-fc7-pca500",
        500,
        layer="fc7",
        backbone="c3d_fc7",
        window=16,
        stride=8,
        pca=True,
    ),
}


def resample_rows(features: np.ndarray, num_bins: int) -> np.ndarray:
    """Average (T, D) rows into ``num_bins`` equal bins -> (num_bins, D) float32."""
    num_rows = features.shape[0]
    if num_rows < 1:
        raise InputError("cannot resample zero feature rows")
    edges = np.round(np.arange(num_bins + 1) * num_rows / num_bins).astype(np.int64)
    out = np.empty((num_bins, features.shape[1]), dtype=np.float32)
    for i in range(num_bins):
        start, end = edges[i], edges[i + 1]
        if end > start:
            out[i] = features[start:end].mean(axis=0, dtype=np.float64)
        else:
            out[i] = features[min(start, num_rows - 1)]
    return out


GENERIC = "generic"
GENERIC_EXTRACTOR = "generic-precomputed"  # the store's ``extractor`` attr for features of a generic source
PRECOMPUTED_LAYOUTS = (*LAYOUTS, GENERIC)


class GenericFeatures:
    """Per-video (T, D) arrays of a generic source: an HDF5 file (one root dataset per video id) or a
    directory of ``.npy`` files. Use as a context manager."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._h5 = None if self.path.is_dir() else open_hdf5(self.path, "precomputed feature")

    def __enter__(self) -> GenericFeatures:
        return self

    def __exit__(self, *exc) -> None:
        if self._h5 is not None:
            self._h5.close()

    def _npy(self, video_id: str) -> Path | None:
        found = [self.path / name for name in dict.fromkeys((f"{video_id}.npy", f"{Path(video_id).stem}.npy"))]
        found = [path for path in found if path.is_file()]
        if len(found) > 1:  # s13-d21.avi.npy and s13-d21.npy: taking either would be a guess
            raise InputError(
                f"{self.path}: both {found[0].name} and {found[1].name} would be the features of {video_id!r}; keep one"
            )
        return found[0] if found else None

    def ids(self) -> list[str]:
        """The video ids the source holds (an HDF5 file's root names; a directory's .npy names)."""
        if self._h5 is not None:
            return list(self._h5)
        return sorted(p.name.removesuffix(".npy") for p in self.path.glob("*.npy"))

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._h5 if self._h5 is not None else self._npy(video_id) is not None

    def rows(self, video_id: str) -> np.ndarray:
        """The video's (T, D) float rows, checked."""
        if self._h5 is not None:
            node = self._h5[video_id]
            if not isinstance(node, h5py.Dataset):
                raise InputError(f"{self.path}: {video_id!r} is a group, not a (T, D) dataset of features")
            return _checked_rows(_read_dataset(node, self.path), self.path, video_id)
        where = self._npy(video_id)
        return _checked_rows(_read_npy(where), where, video_id)


def _read_dataset(node: h5py.Dataset, path: str | os.PathLike) -> np.ndarray:
    """The dataset's array; one whose declared shape would not fit in memory is refused before it is read
    (a tiny file can declare any shape, and HDF5 fills what was never written)."""
    _check_fits_in_memory(node.shape, node.dtype, f"{path}: dataset {node.name!r}")
    return node[()]


def _check_fits_in_memory(shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    size = math.prod(shape) * dtype.itemsize
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if size > memory:
        raise InputError(
            f"{where}: declares {dtype} {shape}, {size / 2**30:.1f} GiB, more than this machine's memory "
            f"({memory / 2**30:.1f} GiB): not one video's features"
        )


def _check_npy_size(path: Path) -> None:
    """Refuse an .npy whose header declares more data than the file holds (NumPy would allocate it all first)."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            shape, _fortran_order, dtype = _NPY_HEADER_READERS[version](f)
        except (ValueError, KeyError, OSError):
            return  # not an .npy header this can read: np.load says what is wrong
        stored = os.fstat(f.fileno()).st_size - f.tell()
    declared = math.prod(shape) * dtype.itemsize
    if not dtype.hasobject and declared > stored:
        raise InputError(
            f"{path}: declares {dtype} {shape}, {declared} bytes, but holds {stored} bytes of data: truncated, "
            "or not a features array"
        )
    _check_fits_in_memory(shape, dtype, str(path))


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_npy(path: Path) -> np.ndarray:
    _check_npy_size(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as err:  # EOFError: an empty file
        raise InputError(f"{path}: {_npy_problem(path, err)}") from err


def _checked_rows(rows: np.ndarray, where: str | os.PathLike, video_id: str) -> np.ndarray:
    if rows.ndim != 2 or rows.shape[0] < 1 or rows.shape[1] < 1 or not np.issubdtype(rows.dtype, np.floating):
        raise InputError(f"{where}: {video_id!r} features are {rows.dtype} {rows.shape}, expected float (T>0, D)")
    check_finite_rows(rows, f"{where}: video {video_id!r}: source features")
    return rows


def _npy_problem(path: Path, err: Exception) -> str:
    """Why ``np.load(path, allow_pickle=False)`` failed, in words (NumPy blames pickles for any non-.npy file
    and advises loading unsafely)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if not head:
        return "empty file, not an .npy array"
    if head != b"\x93NUMPY":
        return "not an .npy file (no NumPy header)"
    if "allow_pickle" in str(err):
        return (
            "holds Python objects (a pickled object array), which are never loaded: save the features as a float array"
        )
    return f"not a readable .npy array ({err})"


def single_video_rows(path: str | os.PathLike, video_id: str) -> np.ndarray:
    """One video's (T, D) rows from a file given for it alone: a ``.npy`` array, or an HDF5 file whose root
    holds one dataset (or several, one named ``video_id``)."""
    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise InputError(f"{path}: features file not found")
        return _checked_rows(_read_npy(path), path, video_id)
    with GenericFeatures(path) as source:
        names = source.ids()
        name = names[0] if len(names) == 1 else video_id
        if name not in source:
            raise InputError(f"{path}: holds {len(names)} datasets, none named {video_id!r}: which is the video's?")
        return source.rows(name)


def source_rows(h5: h5py.File, video_id: str, layout: str, path: str | os.PathLike) -> np.ndarray:
    """The (T, D) feature rows of one video in a precomputed file of ``layout``."""
    node = h5[video_id]
    if layout == "tacos":
        if not isinstance(node, h5py.Dataset):
            raise InputError(f"{path}: {video_id!r} is a group, not a (T, 4096) dataset; is the layout activitynet?")
        rows = _read_dataset(node, path)
    else:
        if not isinstance(node, h5py.Group) or "c3d_features" not in node:
            raise InputError(f"{path}: {video_id!r} has no 'c3d_features' dataset; is the layout tacos?")
        rows = _read_dataset(node["c3d_features"], path)
    expected_dim = LAYOUTS[layout].feature_dim
    if rows.ndim != 2 or rows.shape[1] != expected_dim or rows.shape[0] < 1:
        raise InputError(f"{path}: {video_id!r} features have shape {rows.shape}, expected (T>0, {expected_dim})")
    check_finite_rows(rows, f"{path}: video {video_id!r}: source features")
    return rows


def import_precomputed(
    input_path: str | os.PathLike,
    layout: str,
    num_clips: int,
    durations: Mapping[str, float],
    output: str | os.PathLike,
) -> int:
    """Resample the features of every video in ``durations`` (id -> s) into ``output`` (atomic).

    Raises ValueError listing how many and some of the videos the input file lacks, before any
    output is written. Returns the number of videos written.
    """
    if layout not in PRECOMPUTED_LAYOUTS:
        raise InputError(f"unknown precomputed layout {layout!r}; expected one of {', '.join(PRECOMPUTED_LAYOUTS)}")
    if num_clips < 1:
        raise InputError(f"num_clips must be at least 1, got {num_clips}")
    for video_id in durations:
        check_video_id(video_id)
    with GenericFeatures(input_path) if layout == GENERIC else open_hdf5(input_path, "precomputed feature") as source:
        missing = [v for v in durations if v not in source]
        if missing:
            raise InputError(
                f"{input_path}: {len(missing)} of {len(durations)} annotated videos have no features, "
                f"e.g. {', '.join(missing[:5])}"
            )
        if layout == GENERIC:
            extractor, (feature_dim, rows) = GENERIC_EXTRACTOR, _generic_rows(source, input_path, sorted(durations)[0])
        else:
            release = LAYOUTS[layout]
            extractor, feature_dim = release.extractor, release.feature_dim

            def rows(video_id: str) -> np.ndarray:
                return source_rows(source, video_id, layout, input_path)

        attrs = {
            "extractor": extractor,
            "weights": "precomputed",
            "source": f"precomputed:{layout}",
            "num_clips": num_clips,
            "feature_dim": feature_dim,
            "preprocessing": f"resampled to {num_clips} equal bins (mean of rows) from {os.path.basename(input_path)}",
        }
        _write_resampled(output, attrs, durations, rows, input_path)
    log.info("imported %d videos (%d-d) from %s (%s) into %s", len(durations), feature_dim, input_path, layout, output)
    return len(durations)


def _generic_rows(source: GenericFeatures, input_path: str | os.PathLike, first: str):
    """The dimension of a generic source (its ``first`` video's) and a reader that holds every video to it."""
    feature_dim = source.rows(first).shape[1]

    def rows(video_id: str) -> np.ndarray:
        found = source.rows(video_id)
        if found.shape[1] != feature_dim:
            raise InputError(
                f"{input_path}: {video_id!r} has {found.shape[1]}-d features, {first!r} {feature_dim}-d: "
                "every video needs the same dimension"
            )
        return found

    return feature_dim, rows


def _write_resampled(
    output: str | os.PathLike, attrs: dict, durations: Mapping[str, float], rows, input_path: str | os.PathLike
) -> None:
    """A feature store of every video's ``rows(video_id)`` resampled to the store's clips (atomic)."""
    num_clips = attrs["num_clips"]
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        write_file_attrs(h5, attrs)
        for video_id in progress(sorted(durations), desc="import", unit="video"):
            write_video_features(
                h5,
                video_id,
                resample_rows(rows(video_id), num_clips),
                fps=float("nan"),
                num_frames=-1,
                duration=durations[video_id],
                clip_spans=uniform_spans(num_clips, durations[video_id]),
                source=str(input_path),
            )
