"""The ``hscnet`` command: each package's ``command.py`` registers its subcommands, light ones without torch."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

import hscnet.evaluate
import hscnet.train
from hscnet import cli
from hscnet.device import PRECISIONS
from hscnet.limits import PRECISION_CHOICES


def subcommand_parsers(command: str) -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser(command)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_module_registers_exactly_the_commands_mapped_to_it():
    for module in set(cli.STAGE_COMMANDS.values()):
        mapped = {c for c, m in cli.STAGE_COMMANDS.items() if m == module}
        command = next(iter(mapped))
        assert set(subcommand_parsers(command)) == mapped, module


def test_precision_choices_are_the_devices_precisions():
    assert PRECISION_CHOICES == ("auto", *PRECISIONS)


@pytest.mark.parametrize(
    ("command", "module"), [("train", hscnet.train), ("evaluate", hscnet.evaluate), ("baseline", hscnet.evaluate)]
)
def test_help_of_a_root_stage_is_its_modules_docstring(command, module):
    """Read from the source without importing the module; the same text as importing it gives."""
    assert subcommand_parsers(command)[command].description == module.__doc__


@pytest.mark.parametrize("command", ["fetch", "prepare-annotations", "tokenize", "demo-data"])
def test_a_light_command_imports_no_torch(command):
    """Its command module imports torch-heavy modules only when a command that needs them runs."""
    code = (
        f"import sys; from hscnet.cli import build_parser; build_parser({command!r}); "
        "assert 'torch' not in sys.modules, 'building the parser imported torch'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
