"""The ``hscnet`` command: one subcommand per workflow stage.

Each package registers its subcommands in one module, ``command.py``, whose ``register(subparsers)``
adds them and sets ``func`` on each parser to a callable taking the parsed ``argparse.Namespace``; logic
modules hold no argparse code. Only the command module of the command being run is imported, and it
imports heavy modules when a command runs, so a light stage (fetching, annotations, tokenisation) does
not pay for torch's import.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from hscnet.errors import InputError

# Subcommand -> the module that registers it, in the order of the pipeline.
STAGE_COMMANDS = {
    "fetch": "hscnet.command",
    "demo-data": "hscnet.demo.command",
    "demo-probe": "hscnet.demo.command",
    "prepare-annotations": "hscnet.data.command",
    "clip-index": "extractors.command",
    "extract-features": "extractors.command",
    "merge-features": "extractors.command",
    "import-features": "extractors.command",
    "tokenize": "hscnet.text.command",
    "glove-convert": "hscnet.text.command",
    "embed-words": "hscnet.text.command",
    "train": "hscnet.command",
    "evaluate": "hscnet.command",
    "baseline": "hscnet.command",
    "report": "hscnet.report.command",
    "ground": "hscnet.ground.command",
    "serve": "hscnet.ground.command",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or only ``command``'s (a stage pays only its own imports)."""
    parser = argparse.ArgumentParser(prog="hscnet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [STAGE_COMMANDS[command]] if command in STAGE_COMMANDS else STAGE_COMMANDS.values()
    for name in dict.fromkeys(modules):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # SIGTERM (Snakemake cancelling a job, a cluster's time limit) unwinds like Ctrl-C, so that
    # temporary outputs are removed; Python's default would end the process on the spot.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = args.func(args)
    except InputError as err:
        # Bad input: one clear line naming the file and the problem; -v adds the cause chain.
        # Any other exception is a bug and keeps its traceback.
        logging.getLogger("hscnet").error("%s", err, exc_info=args.verbose)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return int(result or 0)


def _exit_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
