"""Features of videos already seen: in memory for one ``Grounder``, and on disk in ``cache_dir`` when given.

An entry is keyed by the video's content (sha256), the feature recipe's attrs and the contents of the
files its rows depend on (weights, PCA, the given features): a file replaced in place is a new entry.
Entries are written atomically; one that cannot be used (damaged, foreign, wrong shape or dtype,
non-finite) is made again and replaced, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hscnet.errors import InputError
from hscnet.fingerprint import fingerprint, refresh
from hscnet.io import atomic_path

log = logging.getLogger(__name__)


class FeatureCache:
    """``get(key, make)``: ``{"features": (N_V, D) float32, "duration": s}``, made by ``make()`` only once."""

    def __init__(self, shape: tuple[int, int], cache_dir: str | os.PathLike | None = None):
        self.shape = shape  # (N_V, D) of every entry
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None and self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise InputError(f"{self.cache_dir}: the feature cache must be a directory, and this is a file")
        self._entries: dict[str, dict] = {}
        self._fingerprints: dict[str, dict] = {}  # resolved path -> size, mtime and sha256 of the file

    def key(self, recipe: dict, files: dict[str, str | os.PathLike]) -> str:
        """Of the ``recipe`` attrs and the contents of ``files`` (the video among them)."""
        contents = {name: self.content(path) for name, path in files.items()}
        return hashlib.sha256(json.dumps([recipe, contents], sort_keys=True, default=str).encode()).hexdigest()[:32]

    def content(self, path: str | os.PathLike) -> str:
        """sha256 of a file, hashed again only when its size or mtime changed (``hscnet.fingerprint``)."""
        key = str(Path(path).resolve())
        known = refresh(self._fingerprints[key], path) if key in self._fingerprints else fingerprint(path)
        if known["sha256"] is None:  # the size changed: the content did too
            known = fingerprint(path)
        self._fingerprints[key] = known
        return known["sha256"]

    def get(self, key: str, make: Callable[[], dict], source) -> dict:
        """The entry ``key``: from memory, from disk, or ``make()``'s, checked (InputError naming ``source``)."""
        if key in self._entries:
            return self._entries[key]
        stored = self.cache_dir / f"{key}.npz" if self.cache_dir is not None else None
        clips = self._read(stored) if stored is not None else None
        if clips is not None:
            log.info("%s: features from the cache %s", source, stored)
        else:
            clips = checked_clips(make(), self.shape, source)
            if stored is not None:
                with atomic_path(stored) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, features=clips["features"], duration=clips["duration"])
        self._entries[key] = clips
        return clips

    def _read(self, stored: Path) -> dict | None:
        if stored.exists() and not stored.is_file():
            raise InputError(f"{stored}: something other than a file is in the way of this feature cache entry")
        if not stored.is_file():
            return None
        try:
            with np.load(stored, allow_pickle=False) as cached:
                features, duration = cached["features"], cached["duration"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("%s: unreadable feature cache entry (%s); extracting again", stored, err)
            return None
        if not (features.dtype.kind == "f" and duration.dtype.kind in "fi" and duration.shape == ()):
            log.warning(
                "%s: feature cache entry of %s features and a %s duration of shape %s; extracting again",
                stored,
                features.dtype,
                duration.dtype,
                duration.shape,
            )
            return None
        try:
            return checked_clips({"features": features, "duration": duration}, self.shape, stored)
        except InputError as err:
            log.warning("%s; extracting again", err)
            return None


def checked_clips(clips: dict, shape: tuple[int, int], source) -> dict:
    """Features as float32 of ``shape``, finite after the conversion (float64 rows of 1e300 are inf as float32),
    and a finite positive duration; InputError naming ``source`` otherwise."""
    features = np.asarray(clips["features"]).astype(np.float32, copy=False)
    duration = float(clips["duration"])
    if features.shape != shape:
        raise InputError(f"{source}: features of shape {features.shape}, but the model takes {shape}")
    if not np.isfinite(features).all():
        raise InputError(f"{source}: features are not finite as float32 (NaN, inf, or beyond float32's range)")
    if not (math.isfinite(duration) and duration > 0):
        raise InputError(f"{source}: duration {duration}, not a finite positive number of seconds")
    return {"features": features, "duration": duration}
