"""``hscnet ground``: where does each sentence of a paragraph happen in your own video?

    hscnet ground --video my.mp4 --paragraph "first sentence. second sentence." \\
        --checkpoint results/demo/train/full/best.pt --glove results/demo/text/glove [--c3d-weights c3d.pickle] \\
        [--pca PCA_activitynet_v1-3.hdf5] [--output grounded.json] [--plot grounded.png]

prints one line per sentence: predicted start and end in seconds, then the sentence.

The video goes through the same stages as the training data, configured from the checkpoint, which
records the training feature file's attrs (``extractor``, ``weights``, ``num_clips``):

* ``c3d-fc6`` / ``c3d-fc7`` (``hscnet extract-c3d``): ``num_clips`` uniformly sampled 16-frame
  clips (``extractors.C3DExtractor``) with the same weights: a sha256 that must match
  ``--c3d-weights``, or ``random-seed-<n>`` (then no ``--c3d-weights``);
* an imported public release (``extractors.precomputed.LAYOUTS``: TALL's TACoS file, the
  ActivityNet challenge file): that release's recipe (``extractors.release_features``), which
  needs the Sports-1M C3D weights (``--c3d-weights c3d.pickle``) and, for ActivityNet's 500-d
  rows, the release's PCA projection (``--pca PCA_activitynet_v1-3.hdf5``).
* ``generic-precomputed`` (features someone extracted once: I3D, CLIP, ...): this project cannot make
  them from a video, so the user passes the video's own (T, D) features with ``--features FILE``,
  resampled to ``num_clips`` like the imported store; without it grounding refuses, naming the source.

Whatever is missing is refused before any video is decoded. Sentences are split with spaCy's
rule-based sentencizer (or given one by one with ``--sentences``), words tokenised and embedded like
the text stage (``hscnet.text``), with the training text file's OOV policy. ``--glove`` is the vectors
directory written by ``hscnet glove-convert`` (converting the raw 5 GB GloVe file per query would
take minutes).

``--output`` writes a predictions file that ``hscnet evaluate`` scores, matched by ``video``: the
video's name as the annotation formats spell it (``annotation_video_id``), or ``--video-id``.
``--plot`` draws the timeline (``hscnet.ground.plot``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from extractors.c3d import FEATURE_DIM
from extractors.extract import C3DExtractor
from extractors.precomputed import GENERIC_EXTRACTOR, LAYOUTS, Release, resample_rows, single_video_rows
from extractors.probe import probe_video
from extractors.release_features import PcaProjection, load_pca, release_features
from hscnet.checkpoint import load_trained_model
from hscnet.data.collate import collate_samples, to_device
from hscnet.device import resolve_device
from hscnet.errors import InputError, MissingInputError
from hscnet.inference import spans_in_seconds
from hscnet.io import write_json
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
    given: str | None = None  # the video's own features file (--features), for generic precomputed features
    given_dim: int | None = None

    @property
    def feature_dim(self) -> int:
        if self.given is not None:
            return self.given_dim
        return self.release.feature_dim if self.release else FEATURE_DIM


def feature_source(
    provenance: dict, c3d_weights: str | None, pca: str | None = None, features: str | None = None
) -> FeatureSource:
    """The features to make, from the training feature file's attrs; checks what the user passed.

    Pretrained weights are compared with the recorded sha256 later (``check_weights``), once loaded.
    """
    extractor = str(provenance.get("extractor", "c3d-fc6"))
    if extractor == GENERIC_EXTRACTOR:
        return _given_source(provenance, c3d_weights, pca, features)
    if features is not None:
        raise InputError(
            f"--features {features}: only for models trained on generic precomputed features; this one was "
            f"trained on {extractor!r} features, which hscnet ground makes from the video itself: drop --features"
        )
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


def _given_source(provenance: dict, c3d_weights: str | None, pca: str | None, features: str | None) -> FeatureSource:
    dim = int(provenance.get("feature_dim", 0))
    made_from = provenance.get("preprocessing", "")
    if features is None:
        raise InputError(
            f"the model was trained on generic precomputed features ({dim}-d, {made_from}), which hscnet ground "
            f"cannot compute from a video: extract this video's features the same way and pass them with "
            f"--features FILE (a (T, {dim}) .npy, or an HDF5 file holding that dataset)"
        )
    unused = [name for name, value in (("--c3d-weights", c3d_weights), ("--pca", pca)) if value is not None]
    if unused:
        raise InputError(f"{' and '.join(unused)}: the model takes the given --features {features}; drop them")
    return FeatureSource("", 0, given=features, given_dim=dim)


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


def ground(
    video: str | os.PathLike,
    sentences: Sequence[str],
    checkpoint: str | os.PathLike,
    glove: str | os.PathLike,
    c3d_weights: str | None = None,
    device: str = "auto",
    pca: str | None = None,
    features: str | None = None,
) -> Grounding:
    """Ground ``sentences`` in ``video`` with a trained checkpoint (``features``: the video's own (T, D) features,
    for a model trained on generic precomputed ones)."""
    from hscnet.text.embed import TokenizedParagraph, embed_paragraph
    from hscnet.text.glove import load_vectors

    if not Path(video).is_file():
        raise MissingInputError(f"{video}: video not found")
    sentences = [sentence.strip() for sentence in sentences]
    torch_device = resolve_device(device)
    trained = load_trained_model(checkpoint, torch_device)
    model, cfg = trained.model, trained.cfg
    provenance = trained.checkpoint.get("data", {})
    features_provenance, text_provenance = provenance.get("features", {}), provenance.get("text", {})
    source = feature_source(features_provenance, c3d_weights, pca, features)
    if cfg.video_dim != source.feature_dim:
        raise InputError(
            f"{checkpoint}: the model takes {cfg.video_dim}-d video features, but its training "
            f"feature file ({features_provenance.get('extractor')}) has {source.feature_dim}-d ones"
        )

    vectors = load_vectors(glove)
    if vectors.dim != cfg.word_dim:
        raise InputError(f"{glove}: {vectors.dim}-d word vectors, but the model takes {cfg.word_dim}-d ones")
    try:
        cased = tokenize_sentences(list(sentences), lowercase=False)
    except InputError as err:
        raise InputError(f"paragraph: {err}") from err
    if sum(map(len, cased)) > cfg.max_positions:
        raise InputError(
            f"paragraph: {sum(map(len, cased))} words; the model of {checkpoint} reads at most {cfg.max_positions}"
        )
    lower = [[word.lower() for word in words] for words in cased]
    embedded = embed_paragraph(
        TokenizedParagraph(str(video), lower, cased), vectors, oov=text_provenance.get("oov", "zero")
    )
    if len(embedded.oov_words) == len(embedded.word_sentence):
        raise InputError(f"{glove}: none of the paragraph's words is in the vocabulary")
    if embedded.oov_words:
        log.warning(
            "%d of %d words are not in the vocabulary: %s",
            len(embedded.oov_words),
            len(embedded.word_sentence),
            sorted(set(embedded.oov_words))[:10],
        )

    if "num_clips" not in features_provenance:
        raise InputError(
            f"{checkpoint}: its training features file recorded no num_clips, so the clips of a new video "
            "cannot be sampled like them"
        )
    num_clips = int(features_provenance["num_clips"])
    if source.given is not None:
        clips = _given_features(source, video, num_clips)
    else:
        clips = _extracted_features(source, features_provenance, video, num_clips, c3d_weights, torch_device)
    duration = float(clips["duration"])

    features = clips["features"] if trained.feature_stats is None else trained.feature_stats.apply(clips["features"])
    item = {
        "id": str(video),
        "video": torch.from_numpy(features),  # (N_V, D_v), standardised like the training features
        "words": torch.from_numpy(embedded.vectors),  # (N_W, D_w)
        "word_sentence": torch.from_numpy(embedded.word_sentence).long(),  # (N_W,)
        "duration": duration,
    }
    with torch.no_grad():
        outputs = model(to_device(collate_samples([item]), torch_device))
    spans = spans_in_seconds(outputs["pred_spans"][0], duration)  # (N_S, 2) seconds
    paragraph = outputs.get("paragraph_span")
    return Grounding(
        str(video),
        duration,
        list(sentences),
        [(start, end) for start, end in spans],
        tuple(spans_in_seconds(paragraph[0], duration)) if paragraph is not None else None,
    )


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


def _given_features(source: FeatureSource, video, num_clips: int) -> dict:
    """The video's own features file, resampled to the training clips like an imported store; its duration
    from the video."""
    rows = single_video_rows(source.given, annotation_video_id(video))
    if rows.shape[1] != source.given_dim:
        raise InputError(f"{source.given}: {rows.shape[1]}-d features, but the model takes {source.given_dim}-d ones")
    return {"features": resample_rows(rows, num_clips), "duration": probe_video(video).duration}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ground",
        help="ground a paragraph in your own video with a trained checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--video", required=True, help="video file (anything decord or PyAV can read)")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--paragraph", help="the paragraph; split into sentences at . ! ?")
    text.add_argument("--sentences", nargs="+", metavar="SENTENCE", help="the sentences, one argument each, in order")
    p.add_argument("--checkpoint", required=True, help="trained model (best.pt of hscnet train)")
    p.add_argument("--glove", required=True, help="word vectors directory from hscnet glove-convert")
    p.add_argument(
        "--c3d-weights", help="C3D weights the training features were extracted with (c3d.pickle / mmaction2)"
    )
    p.add_argument(
        "--pca",
        help="PCA of the ActivityNet C3D release (PCA_activitynet_v1-3.hdf5: HDF5 with U (4096, K) "
        "and x_mean (4096,)), for models trained on those 500-d features",
    )
    p.add_argument(
        "--features",
        help="the video's own (T, D) features (.npy, or HDF5), for models trained on generic precomputed features",
    )
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    p.add_argument("--output", help="also write the result as a predictions JSON (one paragraph) for hscnet evaluate")
    p.add_argument(
        "--video-id",
        help="video key to write with --output (default: the name as the annotation "
        "formats spell it: v_<YouTube id> without extension for ActivityNet, else the file name)",
    )
    p.add_argument("--plot", help="also draw the timeline with frame thumbnails and one bar per sentence (PNG)")
    p.set_defaults(func=_run)

    from hscnet.ground import serve

    s = subparsers.add_parser(
        "serve",
        help="a grounding page in the browser (127.0.0.1): pick or upload a video, type a paragraph",
        description=serve.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--checkpoint", required=True, help="trained model (best.pt of hscnet train)")
    s.add_argument("--glove", required=True, help="word vectors directory from hscnet glove-convert")
    s.add_argument("--videos", help="a folder whose videos the page offers to pick (uploads work without it)")
    s.add_argument("--c3d-weights", help="C3D weights of the training features, as for hscnet ground")
    s.add_argument("--pca", help="PCA of the ActivityNet C3D release, as for hscnet ground")
    s.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free one; the address is printed)")
    s.set_defaults(func=_serve)


def _run(args: argparse.Namespace) -> int:
    sentences = args.sentences or split_paragraph(args.paragraph)
    result = ground(
        args.video, sentences, args.checkpoint, args.glove, args.c3d_weights, args.device, args.pca, args.features
    )
    print(f"# {args.video}: {result.duration:.2f} s, {len(result.sentences)} sentences (start, end in seconds)")
    for (start, end), sentence in zip(result.spans, result.sentences, strict=True):
        print(f"{start:8.2f} {end:8.2f}  {sentence}")
    if args.output:
        write_json(args.output, [result.predictions_entry(args.video_id or annotation_video_id(args.video))])
    if args.plot:
        from hscnet.ground.plot import plot_grounding

        plot_grounding(result, args.plot)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hscnet.ground.serve import serve
    from hscnet.text.glove import load_vectors

    # What ground would refuse for any video is refused now, not at the page's first paragraph.
    provenance = load_trained_model(args.checkpoint, resolve_device(args.device)).checkpoint.get("data", {})
    if provenance.get("features", {}).get("extractor") == GENERIC_EXTRACTOR:
        raise InputError(
            f"{args.checkpoint}: the model was trained on generic precomputed features, which the page cannot "
            "compute from a video; ground with hscnet ground --features FILE"
        )
    feature_source(provenance.get("features", {}), args.c3d_weights, args.pca)
    load_vectors(args.glove)

    def ground_paragraph(video, sentences):
        return ground(video, sentences, args.checkpoint, args.glove, args.c3d_weights, args.device, args.pca)

    serve(ground_paragraph, args.port, args.videos)
    return 0
