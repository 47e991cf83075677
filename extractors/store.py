"""HDF5 visual feature store (project data contract).

One dataset per video id at the root, shape (num_clips, feature_dim) float32, with attrs
``fps``, ``num_frames``, ``duration`` (s), ``clip_spans`` ((num_clips, 2) s), ``extractor``
(e.g. "c3d"), ``weights`` (sha256 of the weights file, "random-seed-<n>", or "precomputed")
and ``source`` ("video" or "precomputed:<layout>"). File attrs describe the whole file:
``extractor`` (a name of ``extractors.registry``, or an imported release's), ``weights``, ``source``,
``num_clips``, ``feature_dim`` and ``preprocessing``, and for features extracted here also where the
weights came from (``weights_source``: "random init, seed 0", "file c3d.pickle", "torchvision
R3D_18_Weights.KINETICS400_V1") and in which form (``weights_format``: "random", "c3d-pickle", "mmaction2",
"pretrained", "state-dict", "none"; "pretrained" ones are loaded again by the extractor itself), the
extractor's ``recipe`` (JSON: frames per clip, frame rate, frame
size, crop, normalisation and its own settings) and how the network ran: ``precision`` ("fp32",
"bf16", "fp16") and ``layout`` ("contiguous" or "channels_last_3d"); merging refuses shards whose
file attrs differ, so one store never mixes features of different extractors or precisions.

Shard files (one per extraction job) have the same layout; ``merge_feature_files`` joins them into
the final store. Every output goes through ``hscnet.io.atomic_path``. Readers: ``read_file_attrs``,
``read_video_features``, and ``read_attrs`` for the attrs of any open HDF5 node as plain values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import h5py
import numpy as np

from hscnet.errors import InputError, check_finite_rows
from hscnet.io import atomic_path, open_hdf5
from hscnet.progress import progress

log = logging.getLogger(__name__)

FILE_ATTRS = ("extractor", "weights", "source", "num_clips", "feature_dim", "preprocessing")
# Absent from imported features:
OPTIONAL_FILE_ATTRS = ("weights_source", "weights_format", "recipe", "precision", "layout")


def check_video_id(video_id: str) -> str:
    """HDF5 treats '/' as a group separator: such ids cannot be root datasets."""
    if not video_id or "/" in video_id or video_id in (".", ".."):
        raise InputError(f"video id {video_id!r} cannot be an HDF5 dataset name (empty, '/' or '.')")
    return video_id


def write_file_attrs(h5: h5py.File, attrs: dict) -> None:
    missing = [k for k in FILE_ATTRS if k not in attrs]
    if missing:
        raise InputError(f"feature file attrs lack {', '.join(missing)}")
    for key in (*FILE_ATTRS, *OPTIONAL_FILE_ATTRS):
        if key in attrs:
            h5.attrs[key] = attrs[key]


def write_video_features(
    h5: h5py.File,
    video_id: str,
    features: np.ndarray,
    *,
    fps: float,
    num_frames: int,
    duration: float,
    clip_spans: np.ndarray,
    source: str,
) -> None:
    """Add one video's features (num_clips, feature_dim) to an open store; attrs follow the file's.

    ``source`` (the video or precomputed file the features come from) is named in errors: a NaN or
    Inf row is refused here, before it can reach training.
    """
    check_video_id(video_id)
    if video_id in h5:
        raise InputError(f"{h5.filename}: duplicate video id {video_id!r}")
    expected = (int(h5.attrs["num_clips"]), int(h5.attrs["feature_dim"]))
    if features.shape != expected or clip_spans.shape != (expected[0], 2):
        raise InputError(
            f"{video_id}: features {features.shape} / clip_spans {clip_spans.shape} do not match "
            f"the store's (num_clips, feature_dim) = {expected}"
        )
    check_finite_rows(features, f"{source}: video {video_id!r}: features")
    dataset = h5.create_dataset(video_id, data=np.asarray(features, dtype=np.float32))
    dataset.attrs["fps"] = float(fps)
    dataset.attrs["num_frames"] = int(num_frames)
    dataset.attrs["duration"] = float(duration)
    dataset.attrs["clip_spans"] = np.asarray(clip_spans, dtype=np.float64)
    for key in ("extractor", "weights", "source"):
        dataset.attrs[key] = h5.attrs[key]


def merge_feature_files(
    shard_paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    expected_ids: Iterable[str] | None = None,
) -> int:
    """Merge shard stores into ``output`` (atomic); returns the number of videos.

    Raises ValueError naming the files for mismatched file attrs or a video in two shards, and,
    when ``expected_ids`` is given, listing how many and some of the expected videos no shard has.
    """
    if not shard_paths:
        raise InputError("merge needs at least one shard file")
    owners: dict[str, str] = {}
    reference: dict | None = None
    for path in shard_paths:
        with open_hdf5(path, "feature") as h5:
            attrs = _file_attrs(h5, path)
            if reference is None:
                reference = attrs
            elif attrs != reference:
                diff = [k for k in (*FILE_ATTRS, *OPTIONAL_FILE_ATTRS) if attrs.get(k) != reference.get(k)]
                raise InputError(
                    f"{path}: file attrs {', '.join(diff)} differ from {shard_paths[0]} "
                    f"({', '.join(f'{k}={attrs.get(k)!r} vs {reference.get(k)!r}' for k in diff)})"
                )
            for video_id in h5:
                if video_id in owners:
                    raise InputError(f"{path}: video {video_id!r} is also in {owners[video_id]}")
                owners[video_id] = str(path)
    if expected_ids is not None:
        expected = list(dict.fromkeys(expected_ids))
        missing = [v for v in expected if v not in owners]
        if missing:
            raise InputError(
                f"{output}: {len(missing)} of {len(expected)} expected videos are in none of the "
                f"{len(shard_paths)} shards, e.g. {', '.join(missing[:5])}"
            )
        extra = len(owners) - (len(expected) - len(missing))
        if extra:
            log.info("%d videos in the shards are not in the annotations; kept", extra)
    with atomic_path(output) as tmp:
        with h5py.File(tmp, "w") as out:
            write_file_attrs(out, reference)
            for path in progress(shard_paths, desc="merge", unit="shard"):
                with h5py.File(path, "r") as h5:
                    for video_id in sorted(h5):
                        h5.copy(h5[video_id], out, name=video_id)
    log.info("merged %d videos from %d shards into %s", len(owners), len(shard_paths), output)
    return len(owners)


def _file_attrs(h5: h5py.File, path: str | os.PathLike) -> dict:
    missing = [k for k in FILE_ATTRS if k not in h5.attrs]
    if missing:
        raise InputError(f"{path}: not a feature store (file attrs lack {', '.join(missing)})")
    return {k: plain(h5.attrs[k]) for k in (*FILE_ATTRS, *OPTIONAL_FILE_ATTRS) if k in h5.attrs}


# ---------------------------------------------------------------- reading


def read_file_attrs(path: str | os.PathLike) -> dict:
    """The file attrs of the store at ``path``: every one of ``FILE_ATTRS`` (else it is no feature store) and
    those of ``OPTIONAL_FILE_ATTRS`` it has, as plain values."""
    with open_hdf5(path, "feature") as h5:
        return _file_attrs(h5, path)


def read_video_features(path: str | os.PathLike, video_id: str) -> tuple[np.ndarray, dict]:
    """(features (num_clips, feature_dim), attrs) of one video of the store at ``path``; ``clip_spans`` stays an
    array."""
    with open_hdf5(path, "feature") as h5:
        if video_id not in h5:
            raise InputError(f"{path}: no features for video {video_id!r}")
        dataset = h5[video_id]
        return dataset[()], read_attrs(dataset)


def read_attrs(node: h5py.File | h5py.Group | h5py.Dataset, lists: bool = False) -> dict:
    """Every attr of an open HDF5 file, group or dataset as a plain value (``plain``)."""
    return {key: plain(value, lists) for key, value in node.attrs.items()}


def plain(value, lists: bool = False):
    """HDF5 attr -> plain Python value for comparison and JSON: bytes decoded to str, a numpy scalar as int,
    float, bool or str; an array stays an ndarray, or becomes nested lists with ``lists``."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if lists and isinstance(value, np.ndarray):
        return value.tolist()
    return value
