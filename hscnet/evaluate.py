"""``hscnet evaluate`` and ``hscnet baseline``: predictions in seconds and their R@m / mIoU.

Two ways to run ``hscnet evaluate``:

    hscnet evaluate --checkpoint best.pt --features c3d.h5 --text glove.h5 --annotations test.json \\
        --predictions predictions.json --metrics metrics.json [--iou 0.1 0.3 0.5 0.7]
        grounds every paragraph of the annotation file with the trained model, writes its predictions
        and scores them;
    hscnet evaluate PREDICTIONS --annotations FILE [--format paragraphs|prvg_npy|tacos|activitynet] [--metrics M]
        scores any predictions file (another method's, a baseline's) against annotations in any
        supported format, with the same code.

``hscnet baseline --kind uniform|whole --annotations FILE --predictions P [--metrics M]`` writes and
scores the video-blind priors of ``hscnet.baselines``.

predictions.json is a paragraph-JSON list: per paragraph ``id``, ``video``, ``duration``, ``sentences``,
``timestamps`` (the final predicted [start, end] seconds of each sentence) and, for the model, ``levels``
with the intermediate decoders' predictions (``sentence``: one span per sentence, ``paragraph``: one
span, ``word``: per sentence one span per word of its tokens) for figures like the paper's Figs. 3-4.
metrics.json: see ``hscnet.metrics`` (R@m and mIoU in percent over all sentences, counts, the hit rule)
plus where the numbers came from.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from hscnet.baselines import BASELINES, baseline_predictions
from hscnet.checkpoint import load_trained_model
from hscnet.data.annotations import FORMATS, load_normalised, load_paragraphs
from hscnet.data.dataset import ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.device import PRECISIONS, autocast, resolve_device, resolve_precision
from hscnet.errors import InputError
from hscnet.inference import predict
from hscnet.io import write_json
from hscnet.metrics import (
    DEFAULT_IOU_THRESHOLDS,
    HIT_RULES,
    check_thresholds,
    parse_predictions,
    read_predictions,
    score,
)

log = logging.getLogger(__name__)

ANNOTATION_FORMATS = ("normalised", *FORMATS)


def check_inputs_match_training(dataset: ParagraphDataset, cfg, trained_on: dict, checkpoint: str) -> None:
    """Features/vectors of another size, another extractor or another number of clips than training's are an error."""
    for path, dim, expected in (
        (dataset.features_path, dataset.video_dim, cfg.video_dim),
        (dataset.text_path, dataset.word_dim, cfg.word_dim),
    ):
        if dim != expected:
            raise InputError(f"{path}: {dim}-d vectors, but the model of {checkpoint} takes {expected}-d ones")
    for kind, path in (("features", dataset.features_path), ("text", dataset.text_path)):
        now = dataset.provenance[kind]
        for key, value in trained_on.get(kind, {}).items():
            if key in ("extractor", "weights", "source", "num_clips", "oov") and key in now and now[key] != value:
                raise InputError(
                    f"{path}: {key} {now[key]!r} differs from the training data's {value!r} ({checkpoint})"
                )


def evaluate_checkpoint(
    checkpoint: str,
    features: str,
    text: str,
    annotations: str,
    thresholds: Sequence[float],
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    hit_rule: str = "ge",
    clamp: bool = True,
) -> tuple[list[dict], dict]:
    """Ground every paragraph of ``annotations`` with a trained model -> (predictions, metrics)."""
    torch_device = resolve_device(device)
    precision = resolve_precision(precision, torch_device)
    trained = load_trained_model(checkpoint, torch_device)
    cfg, state = trained.cfg, trained.checkpoint
    paragraphs = load_normalised(annotations)
    dataset = ParagraphDataset(paragraphs, features, text, trained.feature_stats)
    check_inputs_match_training(dataset, cfg, state.get("data", {}), checkpoint)
    loader = make_loader(dataset, batch_size or trained.batch_size, shuffle=False, generator=None, num_workers=0)
    with autocast(torch_device, precision):
        predictions = predict(trained.model, loader, paragraphs, torch_device)
    metrics = score(
        parse_predictions(predictions, "model predictions"), paragraphs, thresholds, annotations, hit_rule, clamp
    )
    metrics.update(
        method="hscnet",
        ablation=state.get("ablation"),
        checkpoint=str(checkpoint),
        epoch=state["epoch"],
        config=cfg.to_dict(),
        annotations=str(annotations),
        precision=precision,
    )
    return predictions, metrics


def _log_metrics(name: str, metrics: dict) -> None:
    recalls = " ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k.startswith("R@"))
    log.info(
        "%s: %s mIoU %.2f (%d paragraphs, %d sentences)",
        name,
        recalls,
        metrics["mIoU"],
        metrics["num_paragraphs"],
        metrics["num_sentences"],
    )


def _emit_metrics(metrics: dict, path: str | None) -> None:
    if path:
        write_json(path, metrics)
    else:
        json.dump(metrics, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")


def _check_arguments(args: argparse.Namespace) -> None:
    """What can be refused before any scoring: thresholds outside (0, 1], an output path that is a directory."""
    check_thresholds(args.iou)
    for flag in ("metrics", "predictions"):
        path = getattr(args, flag, None)
        if path and Path(path).is_dir():
            raise InputError(
                f"--{flag} {path}: is a directory; the output must name the file to write, "
                f"e.g. {Path(path) / f'{flag}.json'}"
            )


def _add_annotation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", required=True, help="ground-truth annotation file")
    p.add_argument(
        "--format",
        choices=ANNOTATION_FORMATS,
        default="normalised",
        help="annotation format: normalised (default; the paragraph JSON of prepare-annotations, "
        "read strictly) or a raw release read like prepare-annotations does",
    )
    p.add_argument("--split", help="split name for paragraph ids of the per-video formats (default: file stem)")
    p.add_argument(
        "--max-sentences",
        type=int,
        help="chunk per-video paragraphs into at most N sentences, as prepare-annotations does",
    )
    p.add_argument("--iou", type=float, nargs="+", default=list(DEFAULT_IOU_THRESHOLDS), help="IoU thresholds m of R@m")
    p.add_argument(
        "--hit-rule",
        choices=tuple(HIT_RULES),
        default="ge",
        help="a sentence is a hit at m when its IoU >= m (ge, default) or > m (gt, PRVG's evaluation code)",
    )
    p.add_argument(
        "--no-clamp",
        dest="clamp",
        action="store_false",
        help="score predicted and annotated spans as given, without clamping them to the video "
        "(with --hit-rule gt: PRVG's convention)",
    )
    p.add_argument("--metrics", help="write metrics JSON here (default: print to stdout)")


def _annotations(args: argparse.Namespace) -> list:
    if args.format == "normalised":
        return load_normalised(args.annotations)
    return load_paragraphs(args.annotations, args.format, args.split or Path(args.annotations).stem, args.max_sentences)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="ground with a checkpoint and score, or score a predictions file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scored", nargs="?", metavar="PREDICTIONS", help="predictions file to score (instead of --checkpoint)"
    )
    _add_annotation_args(p)
    p.add_argument("--checkpoint", help="trained model (OUT/best.pt of hscnet train)")
    p.add_argument("--features", help="visual features HDF5 (with --checkpoint)")
    p.add_argument("--text", help="word vectors HDF5 (with --checkpoint)")
    p.add_argument("--predictions", help="write the model's predictions JSON here (with --checkpoint)")
    p.add_argument("--batch-size", type=int, help="paragraphs per forward pass (default: the checkpoint's)")
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    p.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="fp32",
        help="autocast of the forward pass: fp32 (off, default), bf16, fp16, auto (bf16 where native)",
    )
    p.set_defaults(func=_run_evaluate)

    p = subparsers.add_parser(
        "baseline",
        help="predictions and metrics of a video-blind prior",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--kind",
        choices=BASELINES,
        default="uniform",
        help="uniform: sentences spread evenly over the video; whole: every sentence = whole video",
    )
    _add_annotation_args(p)
    p.add_argument("--predictions", required=True, help="write the prior's predictions JSON here")
    p.set_defaults(func=_run_baseline)


def _run_evaluate(args: argparse.Namespace) -> int:
    _check_arguments(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        if args.scored:
            raise InputError("give either a PREDICTIONS file to score or --checkpoint, not both")
        missing = [f"--{k}" for k in ("features", "text", "predictions") if not getattr(args, k)]
        if missing:
            raise InputError(f"--checkpoint needs {', '.join(missing)}")
        if args.format != "normalised":
            raise InputError("--checkpoint evaluates normalised paragraph JSON (the one the text stage embedded)")
        predictions, metrics = evaluate_checkpoint(
            args.checkpoint,
            args.features,
            args.text,
            args.annotations,
            args.iou,
            args.batch_size,
            args.device,
            args.precision,
            args.hit_rule,
            args.clamp,
        )
        write_json(args.predictions, predictions)
        metrics["predictions"] = str(args.predictions)
    elif args.scored:
        metrics = score(
            read_predictions(args.scored), _annotations(args), args.iou, args.scored, args.hit_rule, args.clamp
        )
        metrics.update(method="external", predictions=str(args.scored), annotations=str(args.annotations))
    else:
        raise InputError("give a PREDICTIONS file to score, or --checkpoint with --features/--text/--predictions")
    _log_metrics(Path(args.checkpoint or args.scored).name, metrics)
    _emit_metrics(metrics, args.metrics)
    return 0


def _run_baseline(args: argparse.Namespace) -> int:
    _check_arguments(args)
    paragraphs = _annotations(args)
    predictions = baseline_predictions(args.kind, paragraphs)
    metrics = score(
        parse_predictions(predictions, f"{args.kind} baseline"),
        paragraphs,
        args.iou,
        args.annotations,
        args.hit_rule,
        args.clamp,
    )
    metrics.update(method=f"baseline:{args.kind}", predictions=str(args.predictions), annotations=str(args.annotations))
    write_json(args.predictions, predictions)
    _log_metrics(f"{args.kind} baseline", metrics)
    _emit_metrics(metrics, args.metrics)
    return 0
