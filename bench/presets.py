"""What the benchmarks take from a preset name: the model and training configs, and the number of clips of the
dataset the preset is for (that dataset's ``num_clips`` in ``config.yaml``, the one source of it)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

CONFIG_FILES = (ROOT / "config.yaml", ROOT / "tests" / "config" / "tiny.yaml")  # the tiny dataset is the tests'


def num_clips(preset: str) -> int:
    """Clips per video of the dataset named like ``preset``."""
    for path in CONFIG_FILES:
        datasets = yaml.safe_load(path.read_text()).get("datasets", {}) if path.is_file() else {}
        if preset in datasets:
            return int(datasets[preset]["num_clips"])
    raise SystemExit(f"no dataset {preset!r} in {', '.join(map(str, CONFIG_FILES))}: its num_clips is unknown")
