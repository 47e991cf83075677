"""Turning a device name from the config or the command line into a ``torch.device``."""

from __future__ import annotations

import torch

from hscnet.errors import InputError


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; anything else as torch spells it.

    Asking for cuda without a GPU is an error rather than a silent fallback, so that a run meant
    for the GPU does not quietly take hours on the CPU.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but no CUDA GPU is available")
    return device
