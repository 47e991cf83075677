"""Paragraph grounding samples from the normalised annotations, the C3D features and the word vectors.

One sample is one paragraph: its video's clip features ``(N_V, D_v)`` (features HDF5, one dataset per
video id), its word vectors ``(N_W, D_w)`` with each word's sentence index (text HDF5, one group per
paragraph id), and the ground-truth span of each sentence normalised by the annotated duration.

Clip features are standardised per dimension with statistics of the TRAINING videos
(``FeatureStats``; training stores them in its checkpoints, evaluation and ``hscnet ground`` reuse
them). Why: ``hscnet/DESIGN.md``, "Data-side choices".

The HDF5 files are opened lazily, once per process, so that DataLoader workers (forked) each get their
own handle; everything is checked when the dataset is built, so a missing video or paragraph, or a
malformed text group, fails before training starts with the file and the entry named.

Arrays read once stay in memory, up to ``MEMORY_CACHE_BYTES`` per dataset and process, since training
reads every paragraph every epoch (what that saves: bench/README.md, "Data loading"). A split larger
than that (ActivityNet's features) keeps what fits and reads the rest from the files each time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from extractors.store import read_attrs
from hscnet.errors import InputError, check_finite_rows
from hscnet.io import open_hdf5

log = logging.getLogger(__name__)

# Annotated durations and the feature extractor's probed durations may differ a little (container vs
# stream duration, frame rounding); beyond this relative gap the features likely belong to another video.
DURATION_MISMATCH_WARNING = 0.05

MEMORY_CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension mean and scale (D_v,) of clip features: ``(x - mean) / scale``.

    ``scale`` is the standard deviation floored at ``SCALE_FLOOR`` times its mean over dimensions, so
    that a unit (nearly) silent on the training clips cannot blow up a test clip's feature.
    """

    mean: np.ndarray  # (D_v,) float32
    scale: np.ndarray  # (D_v,) float32, > 0

    SCALE_FLOOR = 0.01

    @classmethod
    def of_videos(cls, features_path: str | os.PathLike, videos: Iterable[str]) -> FeatureStats:
        """Statistics over every clip of ``videos`` (streamed one video at a time, float64 sums)."""
        total = total_sq = None
        count = 0
        with open_hdf5(features_path, "visual features") as feats:
            for video in sorted(set(videos)):
                x = feats[video][()].astype(np.float64)  # (N_V, D_v)
                check_finite_rows(x, f"{features_path}: video {video!r}: features")
                total = x.sum(0) if total is None else total + x.sum(0)
                total_sq = (x**2).sum(0) if total_sq is None else total_sq + (x**2).sum(0)
                count += len(x)
        if total is None:
            raise InputError(f"{features_path}: no videos to compute feature statistics from")
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        scale = np.maximum(std, cls.SCALE_FLOOR * std.mean()) if std.mean() > 0 else np.ones_like(std)
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(N_V, D_v) -> standardised (N_V, D_v) float32."""
        if features.shape[-1] != self.mean.shape[0]:
            raise InputError(f"features are {features.shape[-1]}-d but the statistics {self.mean.shape[0]}-d")
        return ((features - self.mean) / self.scale).astype(np.float32)

    def to_state(self) -> dict[str, torch.Tensor]:
        """For checkpoints (tensors load with ``weights_only``)."""
        return {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> FeatureStats:
        return cls(state["mean"].numpy(), state["scale"].numpy())


CROP_PROBABILITY = 0.5  # of a training draw being cropped; the rest keep the whole video, as at test time
# PRVG's training draws (lib/datasets/tacos.py): 1..min(SUBSET_MAX_SENTENCES, n) of a paragraph's n sentences.
SUBSET_MAX_SENTENCES = 8


def sentence_subset(num_sentences: int) -> list[int]:
    """Indices, in order, of a random subset of a paragraph's sentences: its size uniform in
    1..min(SUBSET_MAX_SENTENCES, n), then which sentences uniformly (torch's global RNG, as the crop)."""
    size = int(torch.randint(1, min(SUBSET_MAX_SENTENCES, num_sentences) + 1, ()))
    return sorted(torch.randperm(num_sentences)[:size].tolist())


def crop_window(spans: torch.Tensor, num_clips: int) -> tuple[int, int]:
    """A random window [first, stop) of whole clips that contains every span.

    ``spans`` (N_S, 2) are normalised to [0, 1] of the video, whose ``num_clips`` clips tile it evenly. The
    window's ends are drawn uniformly between the video's ends and the paragraph's outermost clips
    (torch's global RNG: seeded and checkpointed by training).
    """
    lowest = min(int(np.floor(float(spans[:, 0].min()) * num_clips)), num_clips - 1)
    highest = max(int(np.ceil(float(spans[:, 1].max()) * num_clips)), lowest + 1)
    first = int(torch.randint(0, lowest + 1, ()))
    stop = int(torch.randint(highest, num_clips + 1, ()))  # highest <= num_clips: spans end at 1 at most
    return first, stop


def paragraph_item(
    item_id: str,
    video: np.ndarray,
    words: np.ndarray,
    word_sentence: np.ndarray,
    duration: float,
    feature_stats: FeatureStats | None = None,
    spans: torch.Tensor | None = None,
) -> dict:
    """One item of ``ParagraphDataset`` (its docstring lists the keys), as ``collate_samples`` batches it: clip
    features ``video`` (N_V, D_v), standardised with ``feature_stats`` when given, the paragraph's word vectors
    (N_W, D_w) and their sentence indices (N_W,), the video's ``duration`` in seconds, and, for training and
    validation, the annotated ``spans`` (N_S, 2) in [0, 1]. The Grounder builds its one item here too."""
    # This item's own arrays (standardising makes one): cached ones are shared and read-only.
    video = feature_stats.apply(video) if feature_stats is not None else video.copy()
    item = {
        "id": item_id,
        "video": torch.from_numpy(video),
        "words": torch.tensor(words),
        "word_sentence": torch.tensor(word_sentence).long(),
    }
    if spans is not None:
        item["spans"] = spans
    item["duration"] = duration
    return item


class ParagraphDataset(Dataset):
    """Samples of one split.

    Args:
        paragraphs: annotated paragraphs (objects with ``id``, ``video``, ``duration``, ``sentences``,
            ``timestamps`` in seconds), e.g. from ``hscnet.data.annotations.load_paragraphs``.
        features_path: visual features HDF5 (contract: dataset per video id, (N_V, D_v) float32).
        text_path: word vectors HDF5 (contract: group per paragraph id with ``vectors`` (N_W, D_w)
            and ``word_sentence`` (N_W,)).
        feature_stats: standardisation of the clip features (None: raw features).
        temporal_crop: training augmentation: each time a paragraph is drawn, cut its video to a random
            window of whole clips that still contains every sentence (see ``crop_window``).
        sentence_subset: training recipe of PRVG: each time a paragraph is drawn, keep a random subset of
            its sentences, in order (see ``sentence_subset``); applied before the crop.

    ``provenance`` holds the file-level attrs of both files (extractor, C3D weights, number of clips;
    word vectors source, OOV policy), which training stores in its checkpoints so that grounding a new
    video can reproduce the features.

    An item is a dict: ``id`` (str), ``video`` (N_V, D_v) float32, ``words`` (N_W, D_w) float32,
    ``word_sentence`` (N_W,) long, ``spans`` (N_S, 2) float32 in [0, 1], ``duration`` (float, s).
    """

    def __init__(
        self,
        paragraphs: Sequence,
        features_path: str | os.PathLike,
        text_path: str | os.PathLike,
        feature_stats: FeatureStats | None = None,
        temporal_crop: bool = False,
        sentence_subset: bool = False,
    ):
        if not paragraphs:
            raise InputError("no paragraphs to load")
        self.paragraphs = list(paragraphs)
        self.features_path = Path(features_path)
        self.text_path = Path(text_path)
        self.feature_stats = feature_stats
        self.temporal_crop = temporal_crop
        self.sentence_subset = sentence_subset
        self._handles: tuple[int, h5py.File, h5py.File] | None = None
        self._cache: dict[tuple[str, str], np.ndarray] = {}  # (kind, id) -> array as read and checked
        self._cached_bytes = 0
        self.video_dim, self.word_dim = self._check()
        if feature_stats is not None and feature_stats.mean.shape != (self.video_dim,):
            raise InputError(
                f"{self.features_path}: {self.video_dim}-d features "
                f"but {feature_stats.mean.shape[0]}-d feature statistics"
            )

    def _check(self) -> tuple[int, int]:
        """Validate every entry the split needs; returns (video feature dim, word vector dim)."""
        with open_hdf5(self.features_path, "visual features") as feats:
            video_dim = self._check_features(feats)
            self.provenance = {"features": read_attrs(feats, lists=True)}
        with open_hdf5(self.text_path, "word vectors") as text:
            word_dim = self._check_text(text)
            self.provenance["text"] = read_attrs(text, lists=True)
        return video_dim, word_dim

    def _check_features(self, feats: h5py.File) -> int:
        durations = {p.video: float(p.duration) for p in self.paragraphs}
        missing = [v for v in durations if v not in feats]
        if missing:
            raise InputError(
                f"{self.features_path}: no features for {len(missing)} of {len(durations)} videos, e.g. {missing[:3]}"
            )
        dims, far = set(), []
        stated_clips = feats.attrs.get("num_clips")  # absent in stores not written by this project
        for video, duration in durations.items():
            ds = feats[video]
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.shape[0] == 0:
                raise InputError(f"{self.features_path}: {video!r} is not a non-empty (num_clips, dim) array")
            if stated_clips is not None and ds.shape[0] != int(stated_clips):
                raise InputError(
                    f"{self.features_path}: {video!r} has {ds.shape[0]} clips "
                    f"but the file's attrs say num_clips={int(stated_clips)}"
                )
            dims.add(ds.shape[1])
            if abs(float(ds.attrs.get("duration", duration)) - duration) > DURATION_MISMATCH_WARNING * duration:
                far.append(video)
        if len(dims) != 1:
            raise InputError(f"{self.features_path}: videos have different feature dims {sorted(dims)}")
        if far:
            log.warning(
                "%s: %d videos' feature duration differs from the annotated one by more than %d%%, e.g. %s",
                self.features_path,
                len(far),
                round(100 * DURATION_MISMATCH_WARNING),
                far[:3],
            )
        return dims.pop()

    def _check_text(self, text: h5py.File) -> int:
        dims = set()
        for p in self.paragraphs:
            where = f"{self.text_path}: paragraph {p.id!r}"
            if p.id not in text:
                raise InputError(f"{where}: not found (was the text stage run on these annotations?)")
            group = text[p.id]
            if not isinstance(group, h5py.Group) or "vectors" not in group or "word_sentence" not in group:
                raise InputError(f"{where}: needs datasets 'vectors' and 'word_sentence'")
            vectors, word_sentence = group["vectors"], group["word_sentence"][()]
            if vectors.ndim != 2 or word_sentence.shape != (vectors.shape[0],):
                raise InputError(f"{where}: vectors {vectors.shape} and word_sentence {word_sentence.shape} disagree")
            other_annotations = "the text file was made from other annotations than these: run the text stage on them"
            made_for = group.attrs.get("video")
            if made_for is not None and str(made_for) != p.video:
                raise InputError(
                    f"{where}: made for video {str(made_for)!r}, the annotations say {p.video!r}; {other_annotations}"
                )
            # Every sentence 0..N_S-1 must own at least one word, in order.
            in_order = not np.any(np.diff(word_sentence) < 0)
            held = np.unique(word_sentence)
            if in_order and np.array_equal(held, np.arange(len(held))) and len(held) != len(p.sentences):
                raise InputError(
                    f"{where}: holds words of {len(held)} sentences, the annotations give it {len(p.sentences)}; "
                    f"{other_annotations}"
                )
            if not in_order or not np.array_equal(held, np.arange(len(p.sentences))):
                raise InputError(
                    f"{where}: corrupt: word_sentence must be non-decreasing and cover sentences "
                    f"0..{len(p.sentences) - 1}"
                )
            dims.add(vectors.shape[1])
        if len(dims) != 1:
            raise InputError(f"{self.text_path}: paragraphs have different word vector dims {sorted(dims)}")
        return dims.pop()

    def _files(self) -> tuple[h5py.File, h5py.File]:
        # A handle opened before a fork must not be shared with DataLoader workers.
        if self._handles is None or self._handles[0] != os.getpid():
            self._handles = (os.getpid(), h5py.File(self.features_path, "r"), h5py.File(self.text_path, "r"))
        return self._handles[1], self._handles[2]

    def __len__(self) -> int:
        return len(self.paragraphs)

    def _read(self, kind: str, key: str) -> np.ndarray:
        """A video's features (kind "video"), a paragraph's word vectors ("words") or their sentence
        indices ("word_sentence"), checked, from memory when read before."""
        cached = self._cache.get((kind, key))
        if cached is not None:
            return cached
        feats, text = self._files()
        if kind == "video":
            array = feats[key][()].astype(np.float32, copy=False)  # (N_V, D_v)
            check_finite_rows(array, f"{self.features_path}: video {key!r}: features")
        elif kind == "words":
            array = text[key]["vectors"][()].astype(np.float32, copy=False)  # (N_W, D_w)
            check_finite_rows(array, f"{self.text_path}: paragraph {key!r}: word vectors")
        else:
            array = text[key]["word_sentence"][()].astype(np.int64)  # (N_W,)
        if self._cached_bytes + array.nbytes <= MEMORY_CACHE_BYTES:
            array.flags.writeable = False  # items share it: nothing may change it in place
            self._cache[kind, key] = array
            self._cached_bytes += array.nbytes
        return array

    def __getitem__(self, index: int) -> dict:
        p = self.paragraphs[index]
        spans = torch.tensor(p.timestamps, dtype=torch.float32) / float(p.duration)  # (N_S, 2)
        video = self._read("video", p.video)  # (N_V, D_v), read-only
        duration = float(p.duration)
        words, word_sentence = self._read("words", p.id), self._read("word_sentence", p.id)
        if self.sentence_subset:
            kept = sentence_subset(len(p.timestamps))
            spans = spans[kept]
            keep_word = np.isin(word_sentence, kept)
            words = words[keep_word]
            word_sentence = np.searchsorted(kept, word_sentence[keep_word])  # renumbered 0..len(kept)-1
        if self.temporal_crop and torch.rand(()) < CROP_PROBABILITY:
            num_clips = video.shape[0]
            first, stop = crop_window(spans.clamp(0.0, 1.0), num_clips)
            video = video[first:stop]  # (stop - first, D_v)
            spans = (spans * num_clips - first) / (stop - first)
            duration *= (stop - first) / num_clips
        return paragraph_item(
            p.id, video, words, word_sentence, duration, self.feature_stats, spans=spans.clamp(0.0, 1.0)
        )

    def __getstate__(self) -> dict:
        # h5py handles cannot be pickled (spawned workers); they are reopened on first access.
        state = self.__dict__.copy()
        state["_handles"] = None
        state["_cache"], state["_cached_bytes"] = {}, 0  # a worker fills its own
        return state
