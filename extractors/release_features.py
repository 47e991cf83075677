"""Features of a new video made the way a public precomputed release was made (for ``hscnet ground``).

A model trained on an imported release (``extractors.precomputed``) takes rows made by that
release's recipe (``Release``: C3D layer, window, stride, PCA), resampled to N^V bins. This module
repeats the recipe on one video:

1. row i covers the ``window`` frames starting at frame ``i * stride``; 16 of them, evenly spaced
   (``i * stride + k * window // 16``), go through C3D; rows stop at the last whole window (a
   video shorter than one window gives one row, its missing frames clamped to the last frame);
2. with ``Release.pca``: ``(row - x_mean) @ U[:, :feature_dim]``, the projection of the release's
   PCA file (``load_pca``);
3. ``resample_rows`` to N^V bins and equal clip spans, exactly as ``import_precomputed`` does.

PCA file format (the ActivityNet challenge's ``PCA_activitynet_v1-3.hdf5``): HDF5 datasets ``U``
(4096, K >= feature_dim), columns the principal axes by decreasing variance, and ``x_mean``
(4096,), either under a group ``data`` (the challenge file) or at the root; other datasets (``S``)
are ignored.
"""

from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np

from extractors.c3d import FEATURE_DIM
from extractors.clips import CLIP_LEN, uniform_spans
from extractors.extract import FeatureExtractor
from extractors.precomputed import Release, resample_rows
from extractors.probe import probe_video
from hscnet.errors import InputError
from hscnet.io import open_hdf5
from hscnet.progress import progress


@dataclasses.dataclass(frozen=True)
class PcaProjection:
    """``project(x) = (x - mean) @ components``: (N, 4096) -> (N, dim)."""

    mean: np.ndarray  # (4096,)
    components: np.ndarray  # (4096, dim)

    def project(self, rows: np.ndarray) -> np.ndarray:
        return ((rows.astype(np.float64) - self.mean) @ self.components).astype(np.float32)


def load_pca(path: str | os.PathLike, dim: int) -> PcaProjection:
    """The first ``dim`` principal axes and the mean of a PCA file; ValueError naming the file and problem."""
    with open_hdf5(path, "PCA") as h5:
        group = h5["data"] if isinstance(h5.get("data"), h5py.Group) else h5
        missing = [name for name in ("U", "x_mean") if not isinstance(group.get(name), h5py.Dataset)]
        if missing:
            raise InputError(
                f"{path}: not a PCA file: no dataset {' or '.join(missing)} under {group.name} "
                "(expected U (4096, K) and x_mean (4096,), e.g. PCA_activitynet_v1-3.hdf5)"
            )
        components, mean = group["U"], group["x_mean"]
        if components.ndim != 2 or components.shape[0] != FEATURE_DIM or components.shape[1] < dim:
            raise InputError(f"{path}: U has shape {components.shape}, expected ({FEATURE_DIM}, K >= {dim})")
        mean = np.asarray(mean[()], dtype=np.float64).reshape(-1)
        if mean.shape != (FEATURE_DIM,):
            raise InputError(f"{path}: x_mean has {mean.size} values, expected {FEATURE_DIM}")
        components = np.asarray(components[:, :dim], dtype=np.float64)
    if not (np.isfinite(mean).all() and np.isfinite(components).all()):
        raise InputError(f"{path}: U or x_mean holds NaN or infinite values")
    return PcaProjection(mean, components)


def window_frame_indices(num_frames: int, window: int, stride: int, clip_len: int = CLIP_LEN) -> np.ndarray:
    """Frame indices (T, clip_len) of the release rows of a ``num_frames`` video, clamped to the last frame."""
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    num_rows = max((num_frames - window) // stride + 1, 1)
    offsets = np.arange(clip_len) * window // clip_len  # evenly spaced inside the window
    indices = np.arange(num_rows)[:, None] * stride + offsets[None, :]
    return np.minimum(indices, num_frames - 1)


def release_features(
    extractor: FeatureExtractor, path: str | os.PathLike, release: Release, pca: PcaProjection | None = None
) -> dict[str, np.ndarray]:
    """``extractor.extract_video(path)``'s dict, with features made by ``release``'s recipe (N^V =
    extractor.num_clips)."""
    if extractor.backbone.name != release.backbone:
        raise InputError(f"the release rows are C3D {release.layer}, but the extractor gives {extractor.backbone.name}")
    if release.pca != (pca is not None):
        raise InputError(f"release {release.extractor}: a PCA projection is {'needed' if release.pca else 'not used'}")
    info = probe_video(path)
    indices = window_frame_indices(info.num_frames, release.window, release.stride)
    with progress(total=len(indices), desc=os.path.basename(info.path), unit="clip", leave=False) as bar:
        rows = extractor.extract(info, indices, bar.update)
    if pca is not None:
        rows = pca.project(rows)
    return {
        "features": resample_rows(rows, extractor.num_clips),
        "clip_spans": uniform_spans(extractor.num_clips, info.duration),
        "fps": info.fps,
        "num_frames": info.num_frames,
        "duration": info.duration,
    }
