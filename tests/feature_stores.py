"""Reading a feature store back in tests (the pipeline itself reads stores through ParagraphDataset)."""

from __future__ import annotations

import h5py
import numpy as np

from extractors.store import FILE_ATTRS, OPTIONAL_FILE_ATTRS


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value.item() if isinstance(value, np.generic) else value


def read_file_attrs(path) -> dict:
    """The store-level attrs of ``path`` (every one of ``FILE_ATTRS`` must be there, ``OPTIONAL_FILE_ATTRS`` may)."""
    with h5py.File(path, "r") as h5:
        optional = [key for key in OPTIONAL_FILE_ATTRS if key in h5.attrs]
        return {key: _plain(h5.attrs[key]) for key in (*FILE_ATTRS, *optional)}


def read_video_features(path, video_id: str) -> tuple[np.ndarray, dict]:
    """(features (num_clips, feature_dim), attrs) of one video of the store at ``path``."""
    with h5py.File(path, "r") as h5:
        dataset = h5[video_id]
        return dataset[()], {key: _plain(value) for key, value in dataset.attrs.items()}
