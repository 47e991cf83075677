"""The root package's subcommands: ``fetch``, ``train``, ``evaluate`` and ``baseline``.

Each command's logic lives in its module (``hscnet.fetch``, ``hscnet.train``, ``hscnet.evaluate``,
``hscnet.baselines``); this module only parses arguments and hands them on. Those modules are imported
when their command runs, and their docstrings (the commands' ``--help``) are read from their sources, so
registering the four commands imports no torch: ``hscnet fetch`` stays as light as it was.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import logging
import sys
from pathlib import Path

from hscnet.baselines import BASELINES
from hscnet.data.annotations import FORMATS, load_normalised, load_paragraphs
from hscnet.errors import InputError
from hscnet.limits import PRECISION_CHOICES
from hscnet.metrics import DEFAULT_IOU_THRESHOLDS, HIT_RULES, check_thresholds
from hscnet.training_config import FEATURE_NORMS, TrainSettings

log = logging.getLogger(__name__)

ANNOTATION_FORMATS = ("normalised", *FORMATS)


def module_doc(module: str) -> str:
    """``module.__doc__`` read from the module's source without importing it (nor torch with it)."""
    source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
    return ast.get_docstring(ast.parse(source), clean=False)


def register(subparsers: argparse._SubParsersAction) -> None:
    _add_fetch(subparsers)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_baseline(subparsers)


# ---------------------------------------------------------------- fetch


def _add_fetch(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download one public input (resumable, verified), or say how to get it by hand",
        description=module_doc("hscnet.fetch").split("\n\n")[0],
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="direct download address")
    source.add_argument("--manual", metavar="INSTRUCTIONS", help="no direct address: stop with these instructions")
    parser.add_argument("--sha256", help="expected sha256 of the downloaded file")
    parser.add_argument("--size", type=int, help="expected size in bytes of the downloaded file")
    parser.add_argument("--member", help="the download is a zip archive: unpack this member to --output")
    parser.add_argument("--attempts", type=int, default=3, help="tries within one run after a dropped connection")
    parser.add_argument("--output", required=True, type=Path, help="where the file goes")
    parser.set_defaults(func=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> None:
    from hscnet.fetch import fetch, place_by_hand

    if args.manual is not None:
        place_by_hand(args.output, args.manual)
    else:
        fetch(args.output, args.url, args.sha256, args.size, args.member, args.attempts)


# ---------------------------------------------------------------- train


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train HSCNet; writes OUT/{best,last}.pt, history.csv, config.json",
        description=module_doc("hscnet.train"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--features", required=True, help="visual features HDF5 (results/<ds>/features/<extractor>.h5)")
    p.add_argument("--text", required=True, help="word vectors HDF5 (results/<ds>/text/glove.h5)")
    p.add_argument("--train", required=True, help="training paragraphs (normalised paragraph JSON)")
    p.add_argument("--val", required=True, help="validation paragraphs (normalised paragraph JSON)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--preset", default="demo", help="model preset: tacos, activitynet, demo, tiny (default demo)")
    p.add_argument("--ablation", help="paper ablation row, 'table<N>:<row>', e.g. table2:SL, table3:W+S, table4:SD")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="paragraphs per batch (default: the preset's)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the preset's)")
    p.add_argument("--dropout", type=float, help="dropout rate (default: the preset's, 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: all cores; give the job's share when "
        "jobs run side by side: more threads than free cores slow torch down a lot)",
    )
    p.add_argument(
        "--iou", type=float, nargs="+", default=list(DEFAULT_IOU_THRESHOLDS), help="validation IoU thresholds"
    )
    _add_training_recipe(p)
    p.set_defaults(func=_run_train)


def _add_training_recipe(p: argparse.ArgumentParser) -> None:
    """``hscnet train``'s options beyond the paper's recipe: precision, features, augmentation, resuming."""
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="autocast of forward and loss: auto (default): bf16 where the device computes it natively, else "
        "fp32; or fp32 (off), bf16, fp16 with loss scaling",
    )
    p.add_argument(
        "--feature-norm",
        choices=FEATURE_NORMS,
        default="standardize",
        help="standardize: z-score clip features with training-video statistics (default); none: raw",
    )
    p.add_argument(
        "--temporal-crop",
        action="store_true",
        help="augmentation: half of the training draws cut the video to a random window of whole clips "
        "around the paragraph",
    )
    p.add_argument(
        "--sentence-subset",
        action="store_true",
        help="training recipe of PRVG's code: each time a paragraph is drawn, keep a random subset of 1..min(8, n) "
        "of its n sentences, in order",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/in_progress.pt (or a finished OUT/last.pt) when it exists and was written by "
        "a run with the same model config, seed, training options and data files; refused otherwise",
    )


def _run_train(args: argparse.Namespace) -> int:
    from hscnet.train import train

    for name in ("epochs", "batch_size", "num_workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "num_workers" else 1):
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    settings = TrainSettings(
        features=args.features,
        text=args.text,
        train=args.train,
        val=args.val,
        out=args.out,
        preset=args.preset,
        ablation=args.ablation,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        dropout=args.dropout,
        seed=args.seed,
        device=args.device,
        num_workers=args.num_workers,
        threads=args.threads,
        iou_thresholds=tuple(args.iou),
        resume=args.resume,
        feature_norm=args.feature_norm,
        temporal_crop=args.temporal_crop,
        sentence_subset=args.sentence_subset,
        precision=args.precision,
    )
    train(settings)
    return 0


# ---------------------------------------------------------------- evaluate, baseline


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="ground with a checkpoint and score, or score a predictions file",
        description=module_doc("hscnet.evaluate"),
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
        choices=PRECISION_CHOICES,
        default="fp32",
        help="autocast of the forward pass: fp32 (off, default), bf16, fp16, auto (bf16 where native)",
    )
    p.set_defaults(func=_run_evaluate)


def _add_baseline(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="predictions and metrics of a video-blind prior",
        description=module_doc("hscnet.evaluate"),
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


def _annotations(args: argparse.Namespace) -> list:
    if args.format == "normalised":
        return load_normalised(args.annotations)
    return load_paragraphs(args.annotations, args.format, args.split or Path(args.annotations).stem, args.max_sentences)


def _run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from hscnet.evaluate import evaluate_checkpoint
    from hscnet.io import write_json
    from hscnet.metrics import read_predictions, score

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
    from hscnet.baselines import baseline_predictions
    from hscnet.io import write_json
    from hscnet.metrics import parse_predictions, score

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
    from hscnet.io import write_json

    if path:
        write_json(path, metrics)
    else:
        json.dump(metrics, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
