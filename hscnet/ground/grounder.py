"""Grounding paragraphs in new videos from Python: ``Grounder`` (also ``from hscnet import Grounder``).

    from hscnet import Grounder

    grounder = Grounder.from_checkpoint("results/demo/runs/full/best.pt", glove="results/vectors/data_demo_glove")
    result = grounder.ground("my_video.mp4", "A red square moves left. It stops.")
    result.spans           # [(start, end), ...] seconds, one per sentence
    result.paragraph_span  # (start, end) of the whole paragraph (models with a paragraph decoder)

The video goes through the same stages as the training data. The checkpoint records its training
feature file's attrs; ``extractors.recipe.feature_recipe`` turns them into the recipe that makes those
features again (any registered extractor with the same weights, a public release's recipe, or, for
generic precomputed features, the video's own file passed as ``features=``). Whatever is missing is
refused before any video is decoded. Sentences are split with spaCy's rule-based sentencizer (or given
as a list), words tokenised and embedded like the text stage (``hscnet.text``), with the training text
file's OOV policy. ``glove`` is the vectors directory written by ``hscnet glove-convert``.

A video's features are computed once per ``Grounder`` and reused for every further paragraph on it, keyed
by the video's content (sha256) and the recipe; with ``cache_dir`` they are also kept on disk, so a later
process skips the extraction too.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from extractors.recipe import FeatureRecipe, feature_recipe
from hscnet.checkpoint import TrainedModel, load_trained_model
from hscnet.data.collate import collate_samples, to_device
from hscnet.data.dataset import paragraph_item
from hscnet.device import resolve_device
from hscnet.errors import InputError, MissingInputError
from hscnet.ground.feature_cache import FeatureCache
from hscnet.inference import spans_in_seconds
from hscnet.text.tokenize import split_paragraph, tokenize_sentences

log = logging.getLogger(__name__)


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
        recipe: FeatureRecipe,
        checkpoint: str,
        device: torch.device,
        cache_dir: str | os.PathLike | None = None,
    ):
        self.trained, self.vectors, self.glove, self.recipe = trained, vectors, glove, recipe
        self.checkpoint, self.device = checkpoint, device
        self.cache = FeatureCache((recipe.num_clips, trained.cfg.video_dim), cache_dir)
        self.oov = trained.checkpoint.get("data", {}).get("text", {}).get("oov", "zero")

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | os.PathLike,
        glove: str | os.PathLike,
        weights: str | None = None,
        pca: str | None = None,
        device: str = "auto",
        cache_dir: str | os.PathLike | None = None,
        extractor: str | None = None,
    ) -> Grounder:
        """Load ``checkpoint`` and the vectors directory ``glove``; checks that they and the feature recipe fit.

        ``weights``: the extractor's weights file (or "pretrained") when the training features need one;
        ``extractor``: by default the checkpoint's own, and any other is refused.
        """
        from hscnet.text.glove import load_vectors

        torch_device = resolve_device(device)
        trained = load_trained_model(checkpoint, torch_device)
        provenance = trained.checkpoint.get("data", {}).get("features", {})
        recipe = feature_recipe(provenance, weights, pca, extractor)
        if trained.cfg.video_dim != recipe.feature_dim:
            raise InputError(
                f"{checkpoint}: the model takes {trained.cfg.video_dim}-d video features, but its training "
                f"feature file ({recipe.extractor}) has {recipe.feature_dim}-d ones"
            )
        if recipe.num_clips < 1:
            raise InputError(
                f"{checkpoint}: its training features file recorded no num_clips, so the clips of a new video "
                "cannot be sampled like them"
            )
        vectors = load_vectors(glove)
        if vectors.dim != trained.cfg.word_dim:
            raise InputError(
                f"{glove}: {vectors.dim}-d word vectors, but the model takes {trained.cfg.word_dim}-d ones"
            )
        return cls(trained, vectors, str(glove), recipe, str(checkpoint), torch_device, cache_dir)

    def ground(
        self, video: str | os.PathLike, paragraph: str | Sequence[str], features: str | os.PathLike | None = None
    ) -> Grounding:
        """Every sentence's span in ``video``, in seconds: ``paragraph`` as one text (split into sentences)
        or as its sentences in order; ``features``: the video's own features file, for generic models."""
        if not Path(video).is_file():
            raise MissingInputError(f"{video}: video not found")
        self._check_features_given(features)
        sentences = split_paragraph(paragraph)
        embedded = self._embed(sentences)  # text first: a bad paragraph is refused before any decoding
        clips = self.video_features(video, features)
        duration, stats = clips["duration"], self.trained.feature_stats
        item = paragraph_item(str(video), clips["features"], embedded.vectors, embedded.word_sentence, duration, stats)
        with torch.no_grad():
            outputs = self.trained.model(to_device(collate_samples([item]), self.device))
        spans = spans_in_seconds(outputs["pred_spans"][0], duration)  # (N_S, 2) seconds
        paragraph_span = outputs.get("paragraph_span")
        return Grounding(
            str(video),
            duration,
            sentences,
            [(start, end) for start, end in spans],
            tuple(spans_in_seconds(paragraph_span[0], duration)) if paragraph_span is not None else None,
        )

    def _check_features_given(self, features: str | os.PathLike | None) -> None:
        """Features are given exactly when the model was trained on generic precomputed ones."""
        recipe = self.recipe
        if not recipe.takes_given_features and features is not None:
            raise InputError(
                f"{features}: given features are only for models trained on generic precomputed features; this one "
                f"was trained on {recipe.extractor!r} features, made from the video itself"
            )
        if recipe.takes_given_features and features is None:
            raise InputError(
                f"{self.checkpoint}: the model was trained on generic precomputed features ({recipe.feature_dim}-d, "
                f"{recipe.provenance.get('preprocessing', '')}), which cannot be computed from a video here: "
                f"extract this video's features the same way and pass them (--features FILE: a (T, "
                f"{recipe.feature_dim}) .npy, or an HDF5 file holding that dataset)"
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
        kept in memory, and in ``cache_dir`` when given, keyed by ``feature_key``."""
        make = functools.partial(self.recipe.make, video, self.device, None if features is None else str(features))
        return self.cache.get(self.feature_key(video, features), make, features or video)

    def feature_key(self, video: str | os.PathLike, features: str | os.PathLike | None = None) -> str:
        """The cache key of ``video``'s features: its content, the recipe, and the contents of the files the rows
        depend on (weights, PCA, given features), whatever their paths."""
        files = {"video": video, **self.recipe.files} | ({"features": features} if features is not None else {})
        return self.cache.key(self.recipe.key(), files)


def ground(
    video: str | os.PathLike,
    paragraph: str | Sequence[str],
    checkpoint: str | os.PathLike,
    glove: str | os.PathLike,
    weights: str | None = None,
    device: str = "auto",
    pca: str | None = None,
    features: str | None = None,
) -> Grounding:
    """One paragraph in one video: ``Grounder.from_checkpoint(...).ground(...)``."""
    grounder = Grounder.from_checkpoint(checkpoint, glove, weights, pca, device)
    return grounder.ground(video, paragraph, features)
