"""Grounding paragraphs in new videos from Python: ``Grounder`` (also ``from hscnet import Grounder``).

    from hscnet import Grounder

    grounder = Grounder.from_checkpoint("results/demo/runs/full/best.pt", glove="results/vectors/data_demo_glove")
    result = grounder.ground("my_video.mp4", "A red square moves left. It stops.")
    result.spans           # [(start, end), ...] seconds, one per sentence
    result.paragraph_span  # (start, end) of the whole paragraph (models with a paragraph decoder)

The video goes through the same stages as the training data, configured from the checkpoint, which
records the training feature file's attrs (``extractor``, ``weights``, ``num_clips``):

* ``c3d-fc6`` / ``c3d-fc7`` (``hscnet extract-c3d``): ``num_clips`` uniformly sampled 16-frame
  clips (``extractors.C3DExtractor``) with the same weights: a sha256 that must match
  ``c3d_weights``, or ``random-seed-<n>`` (then no ``c3d_weights``);
* an imported public release (``extractors.precomputed.LAYOUTS``: TALL's TACoS file, the
  ActivityNet challenge file): that release's recipe (``extractors.release_features``), which
  needs the Sports-1M C3D weights (``c3d_weights="c3d.pickle"``) and, for ActivityNet's 500-d
  rows, the release's PCA projection (``pca="PCA_activitynet_v1-3.hdf5"``);
* ``generic-precomputed`` (features someone extracted once: I3D, CLIP, ...): this project cannot make
  them from a video, so each call passes the video's own (T, D) features (``features=``), resampled to
  ``num_clips`` like the imported store; without them grounding refuses, naming the source.

Whatever is missing is refused before any video is decoded. Sentences are split with spaCy's
rule-based sentencizer (or given as a list), words tokenised and embedded like the text stage
(``hscnet.text``), with the training text file's OOV policy. ``glove`` is the vectors directory written
by ``hscnet glove-convert``.

A video's features are computed once per ``Grounder`` and reused for every further paragraph on it, keyed
by the video's content (sha256) and the feature source; with ``cache_dir`` they are also kept on disk, so a
later process skips the extraction too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from extractors.c3d import FEATURE_DIM
from extractors.extract import C3DExtractor
from extractors.precomputed import GENERIC_EXTRACTOR, LAYOUTS, Release, resample_rows, single_video_rows
from extractors.probe import probe_video
from extractors.release_features import PcaProjection, load_pca, release_features
from hscnet.checkpoint import TrainedModel, load_trained_model
from hscnet.data.collate import collate_samples, to_device
from hscnet.device import resolve_device
from hscnet.errors import InputError, MissingInputError
from hscnet.fingerprint import fingerprint, refresh
from hscnet.inference import spans_in_seconds
from hscnet.io import atomic_path
from hscnet.text.tokenize import split_paragraph, tokenize_sentences

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random-seed-"
RELEASES = {release.extractor: release for release in LAYOUTS.values()}
VIDEO_LAYERS = ("fc6", "fc7")
# ActivityNet Captions keys are "v_" + the YouTube id, without the file's extension.
ACTIVITYNET_ID = re.compile(r"v_[A-Za-z0-9_-]{11}")


@dataclasses.dataclass(frozen=True)
class FeatureSource:
    """How to make the features a checkpoint was trained on from a new video."""

    layer: str  # C3D layer
    seed: int  # of the random initialisation, when the training features had no pretrained weights
    release: Release | None = None  # None: num_clips uniform 16-frame clips, as hscnet extract-c3d
    pca: PcaProjection | None = None
    generic_dim: int | None = None  # generic precomputed features: each video's own (T, D) file is given

    @property
    def feature_dim(self) -> int:
        if self.generic_dim is not None:
            return self.generic_dim
        return self.release.feature_dim if self.release else FEATURE_DIM


def feature_source(provenance: dict, c3d_weights: str | None, pca: str | None = None) -> FeatureSource:
    """The features to make, from the training feature file's attrs; checks what the user passed.

    Pretrained weights are compared with the recorded sha256 later (``check_weights``), once loaded.
    """
    extractor = str(provenance.get("extractor", "c3d-fc6"))
    if extractor == GENERIC_EXTRACTOR:
        return _generic_source(provenance, c3d_weights, pca)
    if extractor in RELEASES:
        return _release_source(RELEASES[extractor], c3d_weights, pca)
    layer = extractor.removeprefix("c3d-")
    if not extractor.startswith("c3d-") or layer not in VIDEO_LAYERS:
        raise InputError(
            f"the model was trained on {extractor!r} features; hscnet ground makes C3D "
            f"{'/'.join(VIDEO_LAYERS)} features and those of {'; '.join(r.name for r in RELEASES.values())}"
        )
    if pca is not None:
        raise InputError(
            f"--pca {pca}: the model was trained on C3D {layer} features of videos, not PCA-reduced ones; drop --pca"
        )
    weights = str(provenance.get("weights", ""))
    if weights.startswith(RANDOM_WEIGHTS):
        if c3d_weights is not None:
            raise InputError(
                f"the model was trained on features of a RANDOMLY initialised C3D ({weights}); "
                f"drop --c3d-weights {c3d_weights} to reproduce them"
            )
        return FeatureSource(layer, int(weights[len(RANDOM_WEIGHTS) :]))
    if c3d_weights is None:
        raise InputError(
            f"the model was trained on features of pretrained C3D weights (sha256 {weights or 'unknown'}, "
            f"source {provenance.get('source', 'unknown')}); pass them with --c3d-weights"
        )
    return FeatureSource(layer, 0)


def _generic_source(provenance: dict, c3d_weights: str | None, pca: str | None) -> FeatureSource:
    unused = [name for name, value in (("--c3d-weights", c3d_weights), ("--pca", pca)) if value is not None]
    if unused:
        raise InputError(
            f"{' and '.join(unused)}: the model was trained on generic precomputed features, not C3D; "
            "give each video's own features instead (--features) and drop them"
        )
    return FeatureSource("", 0, generic_dim=int(provenance.get("feature_dim", 0)))


def _release_source(release: Release, c3d_weights: str | None, pca: str | None) -> FeatureSource:
    if c3d_weights is None:
        raise InputError(
            f"the model was trained on {release.name}, C3D {release.layer} of the Sports-1M model; pass those "
            "weights with --c3d-weights c3d.pickle (the original Caffe model converted, github.com/DavideA/c3d-pytorch)"
        )
    if release.pca and pca is None:
        raise InputError(
            f"the model was trained on {release.name}, C3D {release.layer} reduced to {release.feature_dim}-d by "
            "the release's PCA; grounding needs that projection: pass PCA_activitynet_v1-3.hdf5 "
            "(activity-net.org/challenges/2016/download.html#c3d) with --pca (HDF5 with datasets U (4096, K) "
            "and x_mean (4096,), under data/ or at the root)"
        )
    if not release.pca and pca is not None:
        raise InputError(f"--pca {pca}: the model was trained on {release.name}, which no PCA reduced; drop --pca")
    return FeatureSource(release.layer, 0, release, load_pca(pca, release.feature_dim) if release.pca else None)


def check_weights(provenance: dict, source: FeatureSource, model, c3d_weights: str) -> None:
    """The pretrained weights given must be the ones the training features came from (when known)."""
    if source.release is not None:
        if model.weights_format != "c3d-pickle":
            log.warning(
                "%s were made with the original Caffe Sports-1M C3D; %s is a %s checkpoint, whose "
                "weights or input preprocessing may differ",
                source.release.name,
                c3d_weights,
                model.weights_format,
            )
        return
    expected = str(provenance.get("weights", ""))
    if expected and expected != model.weights_id:
        raise InputError(
            f"{c3d_weights}: sha256 {model.weights_id} differs from the weights of the training features ({expected})"
        )


def annotation_video_id(video: str | os.PathLike) -> str:
    """The video's key as the annotation formats spell it: ActivityNet's ``v_<YouTube id>`` without
    the extension, any other name whole (TACoS: ``s13-d21.avi``)."""
    path = Path(video)
    return path.stem if ACTIVITYNET_ID.fullmatch(path.stem) else path.name


@dataclasses.dataclass
class Grounding:
    """Predicted spans (seconds) of each sentence in one video, and the paragraph's when the model has a paragraph
    decoder."""

    video: str
    duration: float
    sentences: list[str]
    spans: list[tuple[float, float]]
    paragraph_span: tuple[float, float] | None = None

    def predictions_entry(self, video_id: str) -> dict:
        """One paragraph of a predictions file. No ``id``: it is none of an annotation file's paragraphs
        (whose ids the readers generate), so ``hscnet evaluate`` matches it by ``video``."""
        return {
            "video": video_id,
            "duration": self.duration,
            "sentences": self.sentences,
            "timestamps": [list(span) for span in self.spans],
        }


class Grounder:
    """A trained checkpoint with its word vectors and feature recipe, ready to ground paragraphs in videos."""

    def __init__(
        self,
        trained: TrainedModel,
        vectors,
        glove: str,
        source: FeatureSource,
        checkpoint: str,
        c3d_weights: str | None,
        device: torch.device,
        cache_dir: str | os.PathLike | None = None,
        pca: str | None = None,
    ):
        self.trained, self.vectors, self.glove, self.source = trained, vectors, glove, source
        self.checkpoint, self.c3d_weights, self.pca, self.device = checkpoint, c3d_weights, pca, device
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        provenance = trained.checkpoint.get("data", {})
        self.features_provenance = provenance.get("features", {})
        self.oov = provenance.get("text", {}).get("oov", "zero")
        self._features: dict[str, dict] = {}  # cache key -> {"features", "duration"}
        self._fingerprints: dict[str, dict] = {}  # resolved path -> size, mtime and sha256 of the file

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | os.PathLike,
        glove: str | os.PathLike,
        c3d_weights: str | None = None,
        pca: str | None = None,
        device: str = "auto",
        cache_dir: str | os.PathLike | None = None,
    ) -> Grounder:
        """Load ``checkpoint`` and the vectors directory ``glove``; checks that they and the feature recipe fit."""
        from hscnet.text.glove import load_vectors

        torch_device = resolve_device(device)
        trained = load_trained_model(checkpoint, torch_device)
        provenance = trained.checkpoint.get("data", {}).get("features", {})
        source = feature_source(provenance, c3d_weights, pca)
        if trained.cfg.video_dim != source.feature_dim:
            raise InputError(
                f"{checkpoint}: the model takes {trained.cfg.video_dim}-d video features, but its training "
                f"feature file ({provenance.get('extractor')}) has {source.feature_dim}-d ones"
            )
        if "num_clips" not in provenance:
            raise InputError(
                f"{checkpoint}: its training features file recorded no num_clips, so the clips of a new video "
                "cannot be sampled like them"
            )
        vectors = load_vectors(glove)
        if vectors.dim != trained.cfg.word_dim:
            raise InputError(
                f"{glove}: {vectors.dim}-d word vectors, but the model takes {trained.cfg.word_dim}-d ones"
            )
        return cls(trained, vectors, str(glove), source, str(checkpoint), c3d_weights, torch_device, cache_dir, pca)

    def ground(
        self, video: str | os.PathLike, paragraph: str | Sequence[str], features: str | os.PathLike | None = None
    ) -> Grounding:
        """Every sentence's span in ``video``, in seconds: ``paragraph`` as one text (split into sentences)
        or as its sentences in order; ``features``: the video's own features file, for generic models."""
        if not Path(video).is_file():
            raise MissingInputError(f"{video}: video not found")
        if self.source.generic_dim is None and features is not None:
            raise InputError(
                f"{features}: given features are only for models trained on generic precomputed features; this one "
                f"was trained on {self.features_provenance.get('extractor')!r} features, made from the video itself"
            )
        if self.source.generic_dim is not None and features is None:
            raise InputError(
                f"{self.checkpoint}: the model was trained on generic precomputed features "
                f"({self.source.generic_dim}-d, {self.features_provenance.get('preprocessing', '')}), which cannot "
                "be computed from a video here: "
                f"extract this video's features the same way and pass them (--features FILE: a (T, "
                f"{self.source.generic_dim}) .npy, or an HDF5 file holding that dataset)"
            )
        sentences = split_paragraph(paragraph) if isinstance(paragraph, str) else [s.strip() for s in paragraph]
        embedded = self._embed(sentences)  # text first: a bad paragraph is refused before any decoding
        clips = self.video_features(video, features)
        duration = float(clips["duration"])
        stats = self.trained.feature_stats
        item = {
            "id": str(video),
            "video": torch.from_numpy(
                clips["features"] if stats is None else stats.apply(clips["features"])
            ),  # (N_V, D_v)
            "words": torch.from_numpy(embedded.vectors),  # (N_W, D_w)
            "word_sentence": torch.from_numpy(embedded.word_sentence).long(),  # (N_W,)
            "duration": duration,
        }
        with torch.no_grad():
            outputs = self.trained.model(to_device(collate_samples([item]), self.device))
        spans = spans_in_seconds(outputs["pred_spans"][0], duration)  # (N_S, 2) seconds
        paragraph_span = outputs.get("paragraph_span")
        return Grounding(
            str(video),
            duration,
            list(sentences),
            [(start, end) for start, end in spans],
            tuple(spans_in_seconds(paragraph_span[0], duration)) if paragraph_span is not None else None,
        )

    def _embed(self, sentences: list[str]):
        from hscnet.text.embed import TokenizedParagraph, embed_paragraph

        try:
            cased = tokenize_sentences(sentences, lowercase=False)
        except InputError as err:
            raise InputError(f"paragraph: {err}") from err
        words, most = sum(map(len, cased)), self.trained.cfg.max_positions
        if words > most:
            raise InputError(f"paragraph: {words} words; the model of {self.checkpoint} reads at most {most}")
        lower = [[word.lower() for word in sentence] for sentence in cased]
        embedded = embed_paragraph(TokenizedParagraph("paragraph", lower, cased), self.vectors, oov=self.oov)
        if len(embedded.oov_words) == len(embedded.word_sentence):
            raise InputError(f"{self.glove}: none of the paragraph's words is in the vocabulary")
        if embedded.oov_words:
            log.warning(
                "%d of %d words are not in the vocabulary: %s",
                len(embedded.oov_words),
                len(embedded.word_sentence),
                sorted(set(embedded.oov_words))[:10],
            )
        return embedded

    def video_features(self, video: str | os.PathLike, features: str | os.PathLike | None = None) -> dict:
        """``{"features": (N_V, D) float32, "duration": s}`` of ``video`` as the model was trained on, made once:
        kept in memory, and in ``cache_dir`` when given, keyed by the video's content and the feature source."""
        key = self._cache_key(video, features)
        if key in self._features:
            return self._features[key]
        num_clips = int(self.features_provenance["num_clips"])
        stored = self.cache_dir / f"{key}.npz" if self.cache_dir is not None else None
        clips = _read_cached(stored, num_clips, self.trained.cfg.video_dim) if stored is not None else None
        if clips is not None:
            log.info("%s: features from the cache %s", video, stored)
        else:
            if features is not None:
                clips = _given_features(self.source, str(features), video, num_clips)
            else:
                clips = _extracted_features(
                    self.source, self.features_provenance, video, num_clips, self.c3d_weights, self.device
                )
            if stored is not None:
                with atomic_path(stored) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, features=clips["features"], duration=clips["duration"])
        self._features[key] = {"features": clips["features"], "duration": clips["duration"]}
        return self._features[key]

    def _cache_key(self, video: str | os.PathLike, features: str | os.PathLike | None) -> str:
        """sha256 of the video's bytes (and of the given features file) with the recipe that makes features of it:
        the training features' attrs and the contents of the C3D weights and PCA files given (keyed by their paths,
        a file replaced in place or a second PCA file reused the features made with the first)."""
        recipe = {
            key: self.features_provenance.get(key)
            for key in ("extractor", "weights", "layer", "num_clips", "precision", "layout", "preprocessing")
        }
        recipe |= {
            name: self._content(path) if path else None
            for name, path in (("c3d_weights", self.c3d_weights), ("pca", self.pca))
        }
        parts = [self._content(video), json.dumps(recipe, sort_keys=True, default=str)]
        if features is not None:
            parts.append(self._content(features))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def _content(self, path: str | os.PathLike) -> str:
        """sha256 of a file, hashed again only when its size or mtime changed (``hscnet.fingerprint``)."""
        key = str(Path(path).resolve())
        known = refresh(self._fingerprints[key], path) if key in self._fingerprints else fingerprint(path)
        if known["sha256"] is None:  # the size changed: the content did too
            known = fingerprint(path)
        self._fingerprints[key] = known
        return known["sha256"]


def _read_cached(stored: Path, num_clips: int, dim: int) -> dict | None:
    """A cache entry's ``{"features", "duration"}``, or None when there is none or it cannot be used: a
    damaged or foreign file (the cache is written atomically, so only something outside us damages it)
    is made again and replaced, with a warning naming it."""
    if not stored.is_file():
        return None
    try:
        with np.load(stored, allow_pickle=False) as cached:
            features, duration = cached["features"], float(cached["duration"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("%s: unreadable feature cache entry (%s); extracting again", stored, err)
        return None
    if features.shape != (num_clips, dim) or not np.isfinite(features).all() or not duration > 0:
        log.warning(
            "%s: feature cache entry of shape %s, duration %s where (%d, %d) and a positive duration were expected;"
            " extracting again",
            stored,
            features.shape,
            duration,
            num_clips,
            dim,
        )
        return None
    return {"features": features.astype(np.float32, copy=False), "duration": duration}


def ground(
    video: str | os.PathLike,
    paragraph: str | Sequence[str],
    checkpoint: str | os.PathLike,
    glove: str | os.PathLike,
    c3d_weights: str | None = None,
    device: str = "auto",
    pca: str | None = None,
    features: str | None = None,
) -> Grounding:
    """One paragraph in one video: ``Grounder.from_checkpoint(...).ground(...)``."""
    grounder = Grounder.from_checkpoint(checkpoint, glove, c3d_weights, pca, device)
    return grounder.ground(video, paragraph, features)


def _extracted_features(
    source: FeatureSource, provenance: dict, video, num_clips: int, c3d_weights: str | None, torch_device
) -> dict:
    """C3D features of ``video`` made the way the training features were (imported features and older stores:
    fp32, contiguous)."""
    extractor = C3DExtractor(
        weights_path=c3d_weights,
        layer=source.layer,
        num_clips=num_clips,
        device=str(torch_device),
        seed=source.seed,
        precision=provenance.get("precision", "fp32"),
        channels_last=provenance.get("layout") == "channels_last_3d",
    )
    if c3d_weights is not None:
        check_weights(provenance, source, extractor.model, c3d_weights)
    if source.release is None:
        clips = extractor.extract(video)
    else:
        clips = release_features(extractor, video, source.release, source.pca)
    return clips


def _given_features(source: FeatureSource, features: str, video, num_clips: int) -> dict:
    """The video's own features file, resampled to the training clips like an imported store; its duration
    from the video."""
    rows = single_video_rows(features, annotation_video_id(video))
    if rows.shape[1] != source.generic_dim:
        raise InputError(f"{features}: {rows.shape[1]}-d features, but the model takes {source.generic_dim}-d ones")
    return {"features": resample_rows(rows, num_clips), "duration": probe_video(video).duration}
