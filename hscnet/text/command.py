"""The text stage's subcommands: ``tokenize``, ``glove-convert``, ``embed-words``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hscnet.io import write_json
from hscnet.text.embed import OOV_POLICIES, embed_tokens_file
from hscnet.text.glove import FORMATS, convert_vectors
from hscnet.text.tokenize import tokenize_annotations, vocabulary

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    tokenize = subparsers.add_parser(
        "tokenize", help="tokenise paragraph sentences (spaCy, lowercase, punctuation dropped) into tokens.json"
    )
    tokenize.add_argument(
        "--annotations", required=True, nargs="+", type=Path, help="paragraph JSON files (e.g. train val test)"
    )
    tokenize.add_argument("--output", required=True, type=Path, help="tokens.json to write")
    tokenize.set_defaults(func=_run_tokenize)

    convert = subparsers.add_parser(
        "glove-convert", help="convert GloVe / word2vec vectors once into a memory-mappable gensim directory"
    )
    convert.add_argument("--input", required=True, type=Path, help="vectors file (e.g. glove.840B.300d.txt)")
    convert.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help="input format")
    convert.add_argument("--output", required=True, type=Path, help="directory to create (vectors.kv, unk.npy, ...)")
    convert.add_argument("--dim", type=int, default=None, help="vector size of a GloVe file (default: detected)")
    convert.set_defaults(func=_run_convert)

    embed = subparsers.add_parser("embed-words", help="embed tokens.json with converted vectors into the text HDF5")
    embed.add_argument("--tokens", required=True, type=Path, help="tokens.json from `hscnet tokenize`")
    embed.add_argument("--vectors", required=True, type=Path, help="directory from `hscnet glove-convert`")
    embed.add_argument("--oov", choices=OOV_POLICIES, default="zero", help="vector for out-of-vocabulary words")
    embed.add_argument("--output", required=True, type=Path, help="text HDF5 to write (glove.h5)")
    embed.set_defaults(func=_run_embed)


def _run_tokenize(args: argparse.Namespace) -> None:
    tokens = tokenize_annotations(args.annotations)
    words = vocabulary(entry["tokens"] for entry in tokens.values())
    log.info("%d paragraphs, vocabulary of %d lowercase words", len(tokens), len(words))
    write_json(args.output, tokens, indent=None)


def _run_convert(args: argparse.Namespace) -> None:
    convert_vectors(args.input, args.fmt, args.output, args.dim)


def _run_embed(args: argparse.Namespace) -> None:
    embed_tokens_file(args.tokens, args.vectors, args.output, args.oov)
