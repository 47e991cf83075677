"""``hscnet ground``: where does each sentence of a paragraph happen in your own video?

    hscnet ground --video my.mp4 --paragraph "first sentence. second sentence." \\
        --checkpoint results/demo/train/full/best.pt --glove results/demo/text/glove [--c3d-weights c3d.pickle]

prints one line per sentence: predicted start and end in seconds, then the sentence.

The video goes through the same stages as the training data, configured from the checkpoint: C3D
features of ``num_clips`` uniformly sampled 16-frame clips (``extractors.C3DExtractor``, same layer
and weights as the training features: the checkpoint records the feature file's ``weights`` attr,
a sha256 or ``random-seed-<n>``, and a mismatch is an error), sentences split with spaCy's rule-based
sentencizer (or given one by one with ``--sentences``), words tokenised and embedded like the text
stage (``hscnet.text``), with the training text file's OOV policy. ``--glove`` is the vectors
directory written by ``hscnet glove-convert`` (converting the raw 5 GB GloVe file per query would
take minutes).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from hscnet.checkpoint import load_trained_model
from hscnet.data.collate import collate_samples, to_device
from hscnet.device import resolve_device
from hscnet.inference import spans_in_seconds
from hscnet.io import write_json
from hscnet.text.tokenize import split_paragraph, tokenize_sentences

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random-seed-"


def c3d_settings(provenance: dict, c3d_weights: str | None) -> tuple[str, int]:
    """(C3D layer, seed of the random init) that reproduce the training features; checks the weights.

    ``provenance`` is the file-level attrs of the training features file as the checkpoint records
    them. Pretrained weights are checked later against the sha256 (``check_weights``).
    """
    extractor = str(provenance.get("extractor", "c3d-fc6"))
    if not extractor.startswith("c3d-"):
        raise ValueError(f"the model was trained on {extractor!r} features; hscnet ground extracts C3D features only")
    weights = str(provenance.get("weights", ""))
    seed = 0
    if weights.startswith(RANDOM_WEIGHTS):
        seed = int(weights[len(RANDOM_WEIGHTS):])
        if c3d_weights is not None:
            raise ValueError(
                f"the model was trained on features of a RANDOMLY initialised C3D ({weights}); "
                f"drop --c3d-weights {c3d_weights} to reproduce them"
            )
    elif c3d_weights is None:
        raise ValueError(
            f"the model was trained on features of pretrained C3D weights (sha256 {weights or 'unknown'}, "
            f"source {provenance.get('source', 'unknown')}); pass them with --c3d-weights"
        )
    return extractor.removeprefix("c3d-"), seed


def check_weights(provenance: dict, weights_id: str, c3d_weights: str) -> None:
    """The pretrained weights given must be the ones the training features came from (when known)."""
    expected = str(provenance.get("weights", ""))
    if str(provenance.get("source", "video")).startswith("precomputed"):
        log.warning("the model was trained on imported precomputed features (%s); grounding uses C3D weights "
                    "%s, which must match the ones that file was made with", provenance.get("source"), c3d_weights)
    elif expected and expected != weights_id:
        raise ValueError(f"{c3d_weights}: sha256 {weights_id} differs from the weights of the training features ({expected})")


def ground(
    video: str | os.PathLike,
    sentences: Sequence[str],
    checkpoint: str | os.PathLike,
    glove: str | os.PathLike,
    c3d_weights: str | None = None,
    device: str = "auto",
) -> tuple[list[tuple[float, float]], float]:
    """Predicted (start, end) seconds of each sentence in ``video``, and the video's duration."""
    from extractors.c3d import FEATURE_DIM
    from extractors.extract import C3DExtractor
    from hscnet.text.embed import TokenizedParagraph, embed_paragraph
    from hscnet.text.glove import load_vectors

    if not Path(video).is_file():
        raise FileNotFoundError(f"{video}: video not found")
    torch_device = resolve_device(device)
    trained = load_trained_model(checkpoint, torch_device)
    model, cfg = trained.model, trained.cfg
    provenance = trained.checkpoint.get("data", {})
    features_provenance, text_provenance = provenance.get("features", {}), provenance.get("text", {})
    if cfg.video_dim != FEATURE_DIM:
        raise ValueError(
            f"{checkpoint}: the model takes {cfg.video_dim}-d video features (e.g. ActivityNet's PCA-reduced "
            f"precomputed C3D); grounding a raw video needs a model trained on {FEATURE_DIM}-d C3D features"
        )
    layer, seed = c3d_settings(features_provenance, c3d_weights)

    vectors = load_vectors(glove)
    if vectors.dim != cfg.word_dim:
        raise ValueError(f"{glove}: {vectors.dim}-d word vectors, but the model takes {cfg.word_dim}-d ones")
    try:
        cased = tokenize_sentences(list(sentences), lowercase=False)
    except ValueError as err:
        raise ValueError(f"paragraph: {err}") from None
    lower = [[word.lower() for word in words] for words in cased]
    embedded = embed_paragraph(TokenizedParagraph(str(video), lower, cased), vectors, oov=text_provenance.get("oov", "zero"))
    if len(embedded.oov_words) == len(embedded.word_sentence):
        raise ValueError(f"{glove}: none of the paragraph's words is in the vocabulary")
    if embedded.oov_words:
        log.warning("%d of %d words are not in the vocabulary: %s", len(embedded.oov_words),
                    len(embedded.word_sentence), sorted(set(embedded.oov_words))[:10])

    num_clips = int(features_provenance.get("num_clips", cfg.num_clips))
    extractor = C3DExtractor(weights_path=c3d_weights, layer=layer, num_clips=num_clips, device=str(torch_device), seed=seed)
    if c3d_weights is not None:
        check_weights(features_provenance, extractor.model.weights_id, c3d_weights)
    clips = extractor.extract(video)
    duration = float(clips["duration"])

    features = clips["features"] if trained.feature_stats is None else trained.feature_stats.apply(clips["features"])
    item = {
        "id": str(video),
        "video": torch.from_numpy(features),  # (N_V, 4096), standardised like the training features
        "words": torch.from_numpy(embedded.vectors),  # (N_W, D_w)
        "word_sentence": torch.from_numpy(embedded.word_sentence).long(),  # (N_W,)
        "duration": duration,
    }
    with torch.no_grad():
        outputs = model(to_device(collate_samples([item]), torch_device))
    spans = spans_in_seconds(outputs["pred_spans"][0], duration)  # (N_S, 2) seconds
    return [(start, end) for start, end in spans], duration


def register(subparsers) -> None:
    p = subparsers.add_parser("ground", help="ground a paragraph in your own video with a trained checkpoint",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", required=True, help="video file (anything decord or PyAV can read)")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--paragraph", help="the paragraph; split into sentences at . ! ?")
    text.add_argument("--sentences", nargs="+", metavar="SENTENCE", help="the sentences, one argument each, in order")
    p.add_argument("--checkpoint", required=True, help="trained model (best.pt of hscnet train)")
    p.add_argument("--glove", required=True, help="word vectors directory from hscnet glove-convert")
    p.add_argument("--c3d-weights", help="C3D weights the training features were extracted with (c3d.pickle / mmaction2)")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    p.add_argument("--output", help="also write the result as a predictions JSON (one paragraph)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    sentences = args.sentences or split_paragraph(args.paragraph)
    spans, duration = ground(args.video, sentences, args.checkpoint, args.glove, args.c3d_weights, args.device)
    print(f"# {args.video}: {duration:.2f} s, {len(sentences)} sentences (start, end in seconds)")
    for (start, end), sentence in zip(spans, sentences):
        print(f"{start:8.2f} {end:8.2f}  {sentence}")
    if args.output:
        write_json(args.output, [{"id": Path(args.video).name, "video": Path(args.video).name, "duration": duration,
                                  "sentences": list(sentences), "timestamps": [list(s) for s in spans]}])
    return 0
