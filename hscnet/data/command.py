"""The data package's subcommand: ``prepare-annotations``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hscnet.data import annotations
from hscnet.data.annotations import FORMATS, load_paragraphs, write_paragraphs

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare-annotations",
        help="normalise a TACoS / ActivityNet annotation file into the project's paragraph JSON",
        description=annotations.__doc__.split("\n\n")[0],
    )
    parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help="input file format")
    parser.add_argument("--input", required=True, type=Path, help="annotation file to read")
    parser.add_argument("--split", required=True, help="split name, used in generated ids (train, val, test)")
    parser.add_argument(
        "--max-sentences",
        type=int,
        default=None,
        help="chunk longer paragraphs into consecutive pieces of at most N sentences (default: no limit)",
    )
    parser.add_argument("--output", required=True, type=Path, help="paragraph JSON to write")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    paragraphs = load_paragraphs(args.input, args.fmt, args.split, args.max_sentences)
    write_paragraphs(paragraphs, args.output)
    log.info("wrote %s", args.output)
