"""The ``hscnet`` command: one subcommand per workflow stage.

Each stage module defines ``register(subparsers)``, which adds its subcommand(s) and sets
``func`` on the parser to a callable taking the parsed ``argparse.Namespace``. Modules are
imported lazily by name so that ``hscnet --help`` stays fast and a stage's heavy imports
(torch, decord, gensim) load only when that stage runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules that contribute subcommands, in the order of the pipeline.
STAGE_MODULES = [
    "hscnet.data.demo",
    "hscnet.data.annotations",
    "extractors.cli",
    "hscnet.text.cli",
    "hscnet.train",
    "hscnet.evaluate",
    "hscnet.report",
    "hscnet.ground",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hscnet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # stage not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except (FileNotFoundError, ValueError) as err:
        # Bad input: one clear line naming the file and the problem, no traceback.
        logging.getLogger("hscnet").error("%s", err)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
