"""The demo package's subcommands: ``demo-data`` (generate the dataset) and ``demo-probe`` (is it learnable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hscnet.demo.generate import SIZES, generate_demo
from hscnet.io import write_json


def register(subparsers: argparse._SubParsersAction) -> None:
    _add_demo_data(subparsers)
    _add_demo_probe(subparsers)


def _add_demo_data(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="generate the synthetic demo dataset (videos, paragraph annotations, word vectors)",
        description="Generate a synthetic dataset shaped like TACoS (videos, paragraph annotations, GloVe-format "
        "word vectors) that HSCNet can learn from scratch; everything follows from --seed.",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="demo (64 videos) or tiny (6, for tests)")
    parser.add_argument("--seed", type=int, default=0, help="everything generated follows from this seed")
    parser.add_argument("--out", required=True, type=Path, help="output directory (created or replaced as a whole)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes rendering and encoding videos while the main one trains the word vectors "
        "(default 1; the dataset is the same for any number)",
    )
    parser.set_defaults(func=_run_demo_data)


def _run_demo_data(args: argparse.Namespace) -> int:
    generate_demo(args.out, size=args.size, seed=args.seed, workers=args.workers)
    return 0


def _add_demo_probe(subparsers: argparse._SubParsersAction) -> None:
    # hscnet.demo.probe imports torch, which demo-data does without: it is imported when the probe runs.
    parser = subparsers.add_parser(
        "demo-probe",
        help="learnability check of a demo dataset: a linear probe on random-init C3D features (hscnet.demo.probe)",
        description="Learnability check of a generated demo dataset: can random-init C3D fc6 features tell "
        "events apart?",
    )
    parser.add_argument("dataset_dir", type=Path, help="output directory of `hscnet demo-data`")
    parser.add_argument("--videos", type=int, default=None, help="probe only the first N videos")
    parser.add_argument("--clips-per-event", type=int, choices=(1, 2), default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--features", type=Path, default=None, help="also save clip features and labels (.npz)")
    parser.set_defaults(func=_run_demo_probe)


def _run_demo_probe(args: argparse.Namespace) -> int:
    from hscnet.demo.probe import run_probe

    results = run_probe(args.dataset_dir, args.videos, args.clips_per_event, args.features)
    for task, r in results.items():
        print(
            f"{task:10s} accuracy {r['accuracy']:.3f}  majority {r['majority_baseline']:.3f}  "
            f"uniform {r['uniform_chance']:.3f}  clips {r['num_clips']}  classes {len(r['classes'])}"
        )
    if args.out:
        write_json(args.out, results)
    return 0
