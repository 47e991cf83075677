"""``hscnet ground``: where does each sentence of a paragraph happen in your own video?

    hscnet ground --video my.mp4 --paragraph "first sentence. second sentence." \\
        --checkpoint results/demo/train/full/best.pt --glove results/demo/text/glove [--weights FILE] \\
        [--pca PCA_activitynet_v1-3.hdf5] [--output grounded.json] [--plot grounded.png]

prints one line per sentence: predicted start and end in seconds, then the sentence.

How the video's features are made, and what is refused before any decoding: ``hscnet.ground.grounder``
(this command is a thin wrapper of its ``Grounder``). ``--glove`` is the vectors directory written by
``hscnet glove-convert`` (converting the raw 5 GB GloVe file per query would take minutes).

``--output`` writes a predictions file that ``hscnet evaluate`` scores, matched by ``video``: the
video's name as the annotation formats spell it (``annotation_video_id``), or ``--video-id``.
``--plot`` draws the timeline (``hscnet.ground.plot``).
"""

from __future__ import annotations

import argparse

from extractors.videos import annotation_video_id
from hscnet.errors import InputError
from hscnet.ground.grounder import Grounder
from hscnet.io import write_json
from hscnet.text.tokenize import split_paragraph


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
    _feature_arguments(p)
    p.add_argument(
        "--features",
        help="the video's own (T, D) features (.npy, or HDF5), for models trained on generic precomputed features",
    )
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
    _feature_arguments(s)
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free one; the address is printed)")
    s.add_argument(
        "--max-upload-mb",
        type=int,
        default=serve.DEFAULT_MAX_UPLOAD_MB,
        help="largest video the page accepts, in MB (default %(default)s); a larger one is refused before it is read",
    )
    s.set_defaults(func=_serve)


def _feature_arguments(parser: argparse.ArgumentParser) -> None:
    """How the video's features are made: by default as the checkpoint records; ``hscnet.ground.grounder``."""
    parser.add_argument(
        "--extractor",
        help="the extractor of the training features (default: the checkpoint's own; any other is refused)",
    )
    parser.add_argument(
        "--weights",
        "--c3d-weights",
        dest="weights",
        help="the extractor's weights file the training features were made with (C3D: c3d.pickle or an mmaction2 "
        "checkpoint; torchvision models: a state_dict, or 'pretrained' for torchvision's download)",
    )
    parser.add_argument(
        "--pca",
        help="PCA of the ActivityNet C3D release (PCA_activitynet_v1-3.hdf5: HDF5 with U (4096, K) "
        "and x_mean (4096,)), for models trained on those 500-d features",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")


def _grounder(args: argparse.Namespace) -> Grounder:
    return Grounder.from_checkpoint(
        args.checkpoint, args.glove, args.weights, args.pca, args.device, extractor=args.extractor
    )


def _run(args: argparse.Namespace) -> int:
    sentences = args.sentences or split_paragraph(args.paragraph)
    result = _grounder(args).ground(args.video, sentences, args.features)
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

    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb {args.max_upload_mb}: must be positive")
    # Loaded and checked once, before the server listens; each video's features are kept for its next paragraphs.
    grounder = _grounder(args)
    if grounder.recipe.takes_given_features:
        raise InputError(
            f"{args.checkpoint}: the model was trained on generic precomputed features, which the page cannot "
            "compute from a video; ground with hscnet ground --features FILE"
        )
    serve(grounder.ground, args.port, args.videos, args.max_upload_mb)
    return 0
