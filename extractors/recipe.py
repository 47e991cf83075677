"""The features a checkpoint was trained on, made again from a new video (for ``hscnet ground`` and ``serve``).

A checkpoint records its training feature file's attrs (``extractor``, ``weights``, ``recipe``,
``num_clips``, ``precision``, ...). ``feature_recipe`` turns them into one of three recipes:

* ``ExtractedRecipe``: an extractor of the registry (``extractors.registry``: C3D, torchvision's video
  models, plug-ins): ``num_clips`` clips laid out as ``hscnet extract-features`` does, with the same
  weights: a seeded random init (``random-seed-<n>``: no weights may be given), torchvision's official
  weights (loaded again through its weights API), or a file the user passes, whose sha256 must match;
  the extractor's recipe (frames, rate, size, normalisation) must still be the one recorded;
* ``ReleaseRecipe``: an imported public release (``extractors.precomputed.LAYOUTS``: TALL's TACoS file,
  the ActivityNet challenge file): that release's recipe (``extractors.release_features``), which
  needs the Sports-1M C3D weights (``c3d.pickle``) and, for ActivityNet's 500-d rows, the release's
  PCA projection;
* ``GivenRecipe``: generic precomputed features (I3D, CLIP, ...), which this project cannot make from a
  video: each call passes the video's own (T, D) features, resampled to ``num_clips`` like the
  imported store.

Whatever is missing is refused here, before any video is decoded. ``key()`` and the contents of
``files`` are what a cache of features must be keyed by besides the video itself.
"""

from __future__ import annotations

import abc
import json
import logging
import os

import torch

from extractors import registry
from extractors.base import NO_WEIGHTS, PRETRAINED, RANDOM_WEIGHTS, RANDOM_WEIGHTS_ID
from extractors.extract import FeatureExtractor
from extractors.precomputed import GENERIC_EXTRACTOR, LAYOUTS, Release, resample_rows, single_video_rows
from extractors.probe import probe_video
from extractors.release_features import load_pca, release_features
from extractors.videos import annotation_video_id
from hscnet.errors import InputError

log = logging.getLogger(__name__)

RELEASES = {release.extractor: release for release in LAYOUTS.values()}
# Settings of the training features that make their rows: a cache entry made with other ones is another entry.
RECIPE_ATTRS = ("extractor", "weights", "recipe", "num_clips", "precision", "layout", "preprocessing")


class FeatureRecipe(abc.ABC):
    """How to make the training features' rows from a new video."""

    extractor: str  # the store's ``extractor`` attr
    feature_dim: int
    takes_given_features = False  # True: each video's features are given, not made

    def __init__(self, provenance: dict):
        self.provenance = provenance
        self.num_clips = int(provenance.get("num_clips", 0))
        self.files: dict[str, str] = {}  # the files the user gave that the rows depend on (weights, PCA)

    def key(self) -> dict:
        """What the rows depend on besides the video and ``files``: the training features' attrs."""
        return {name: self.provenance.get(name) for name in RECIPE_ATTRS}

    @abc.abstractmethod
    def make(self, video: str | os.PathLike, device: torch.device, features: str | None = None) -> dict:
        """``{"features": (num_clips, feature_dim) float32, "duration": seconds}`` of ``video``."""


class ExtractedRecipe(FeatureRecipe):
    """Clips of a registry extractor, with the training features' weights, precision and layout."""

    def __init__(self, provenance: dict, weights: str | None):
        super().__init__(provenance)
        self.extractor = registry.canonical(str(provenance.get("extractor")))
        self.feature_dim = registry.get(self.extractor).feature_dim
        self.weights = _weights_to_load(provenance, weights)
        if weights is not None:
            self.files["weights"] = weights
        self._loaded: FeatureExtractor | None = None

    def make(self, video, device, features=None) -> dict:
        clips = self._extractor(device).extract_video(video)
        return {"features": clips["features"], "duration": clips["duration"]}

    def _extractor(self, device: torch.device) -> FeatureExtractor:
        if self._loaded is None:
            seed = self.provenance.get("weights", "")
            seed = int(seed[len(RANDOM_WEIGHTS_ID) :]) if seed.startswith(RANDOM_WEIGHTS_ID) else 0
            backbone = registry.get(self.extractor).load(self.weights, seed)
            _check_backbone(self.provenance, backbone, self.weights)
            self._loaded = FeatureExtractor(
                backbone,
                num_clips=self.num_clips,
                device=str(device),
                precision=self.provenance.get("precision", "fp32"),
                channels_last=self.provenance.get("layout") == "channels_last_3d",
            )
        return self._loaded


class ReleaseRecipe(FeatureRecipe):
    """A public release's windows of C3D rows (and PCA), resampled to ``num_clips``."""

    def __init__(self, provenance: dict, release: Release, weights: str | None, pca: str | None):
        super().__init__(provenance)
        self.release, self.extractor, self.feature_dim = release, release.extractor, release.feature_dim
        _check_release_inputs(release, weights, pca)
        self.weights = weights
        self.files = {name: path for name, path in (("weights", weights), ("pca", pca)) if path is not None}
        self.pca = load_pca(pca, release.feature_dim) if release.pca else None
        self._loaded: FeatureExtractor | None = None

    def make(self, video, device, features=None) -> dict:
        if self._loaded is None:
            backbone = registry.get(self.release.backbone).load(self.weights)
            if backbone.weights.format != "c3d-pickle":
                log.warning(
                    "%s were made with the original Caffe Sports-1M C3D; %s is a %s checkpoint, whose "
                    "weights or input preprocessing may differ",
                    self.release.name,
                    self.weights,
                    backbone.weights.format,
                )
            self._loaded = FeatureExtractor(backbone, num_clips=self.num_clips, device=str(device))
        clips = release_features(self._loaded, video, self.release, self.pca)
        return {"features": clips["features"], "duration": clips["duration"]}


class GivenRecipe(FeatureRecipe):
    """Generic precomputed features: the video's own (T, D) file, resampled to ``num_clips``; the duration
    from the video."""

    extractor = GENERIC_EXTRACTOR
    takes_given_features = True

    def __init__(self, provenance: dict, weights: str | None, pca: str | None):
        super().__init__(provenance)
        unused = [name for name, value in (("--weights", weights), ("--pca", pca)) if value is not None]
        if unused:
            raise InputError(
                f"{' and '.join(unused)}: the model was trained on generic precomputed features, which this "
                "project does not extract; give each video's own features instead (--features) and drop them"
            )
        self.feature_dim = int(provenance.get("feature_dim", 0))

    def make(self, video, device, features=None) -> dict:
        rows = single_video_rows(features, annotation_video_id(video))
        if rows.shape[1] != self.feature_dim:
            raise InputError(f"{features}: {rows.shape[1]}-d features, but the model takes {self.feature_dim}-d ones")
        return {"features": resample_rows(rows, self.num_clips), "duration": probe_video(video).duration}


def feature_recipe(
    provenance: dict, weights: str | None = None, pca: str | None = None, extractor: str | None = None
) -> FeatureRecipe:
    """The recipe of the training features described by ``provenance`` (a feature file's attrs).

    ``extractor``, when given, must be the training features' own: grounding with other features is refused.
    """
    trained = str(provenance.get("extractor", ""))
    if extractor is not None and registry.canonical(extractor) != registry.canonical(trained):
        raise InputError(
            f"--extractor {extractor}: the model was trained on {trained!r} features, and grounding needs the same "
            f"ones; leave --extractor out or pass {registry.canonical(trained)}"
        )
    if trained == GENERIC_EXTRACTOR:
        return GivenRecipe(provenance, weights, pca)
    if trained in RELEASES:
        return ReleaseRecipe(provenance, RELEASES[trained], weights, pca)
    if not registry.known(trained):
        raise InputError(
            f"the model was trained on {trained!r} features; features can be made of {', '.join(registry.names())}"
            f" (registered extractors) and of {'; '.join(r.name for r in RELEASES.values())}"
        )
    if pca is not None:
        raise InputError(f"--pca {pca}: the model was trained on {trained} features, not PCA-reduced ones; drop --pca")
    return ExtractedRecipe(provenance, weights)


def _weights_to_load(provenance: dict, weights: str | None) -> str:
    """What to load (a file, "pretrained", "random" or "none") to make the training features' weights again."""
    recorded = str(provenance.get("weights", ""))
    extractor = provenance.get("extractor")
    if recorded == NO_WEIGHTS:
        if weights is not None:
            raise InputError(f"--weights {weights}: {extractor} has no weights; drop --weights")
        return NO_WEIGHTS
    if recorded.startswith(RANDOM_WEIGHTS_ID):
        if weights is not None:
            raise InputError(
                f"the model was trained on features of a RANDOMLY initialised {extractor} ({recorded}); "
                f"drop --weights {weights} to reproduce them"
            )
        return RANDOM_WEIGHTS
    if weights is not None:
        return weights
    if provenance.get("weights_format") == PRETRAINED:
        return PRETRAINED  # the extractor's own download loads them again (torchvision: its cache, or the network)
    raise InputError(
        f"the model was trained on features of pretrained {extractor} weights (sha256 {recorded or 'unknown'}, "
        f"{provenance.get('weights_source', 'source unknown')}); pass that file with --weights"
    )


def _check_backbone(provenance: dict, backbone, weights: str) -> None:
    """The loaded weights and the registry's recipe must be those of the training features (when recorded)."""
    recorded = str(provenance.get("weights", ""))
    if recorded and recorded != backbone.weights.id:
        raise InputError(
            f"{weights}: sha256 {backbone.weights.id} differs from the weights of the training features ({recorded})"
        )
    recipe = provenance.get("recipe")
    if recipe and json.loads(recipe) != json.loads(backbone.recipe()):
        raise InputError(
            f"the training features were made by {backbone.name} with the recipe {recipe}, but {backbone.name} "
            f"now makes {backbone.recipe()}; ground with the extractor the model was trained with"
        )


def _check_release_inputs(release: Release, weights: str | None, pca: str | None) -> None:
    if weights is None:
        raise InputError(
            f"the model was trained on {release.name}, C3D {release.layer} of the Sports-1M model; pass those "
            "weights with --weights c3d.pickle (the original Caffe model converted, github.com/DavideA/c3d-pytorch)"
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
