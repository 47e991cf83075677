"""Shared fixtures. Real public annotations live outside the repository (../shared/data);
tests that need them skip with a clear reason when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$HSCNET_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("HSCNET_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"real annotation data not found at {path} (set HSCNET_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def real_video(shared_data: Path) -> Path:
    return shared_data / "videos" / "v_ZNVhz7ctTq0.mp4"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: torch's intra-op thread hand-offs cost more than they save, far more on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def pickle_weights(tmp_path_factory) -> Path:
    """A full-size c3d.pickle-format file of a seeded C3D (~320 MB), made once per session."""
    import warnings

    from extractors.c3d import load_c3d

    path = tmp_path_factory.mktemp("weights") / "c3d.pickle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the seeded random initialisation warns
        torch.save(load_c3d("random", seed=5)[0].state_dict(), path)
    return path


def find_process(args: list[bytes], environ: bytes | None = None, cwd: Path | None = None) -> int | None:
    """PID of a running process whose command line holds ``args`` in a row (and ``environ`` among its
    variables, ``cwd`` as its folder), for tests that kill what they started; None when there is none."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(cmdline[i : i + len(args)] == args for i in range(len(cmdline))):
                continue
            if environ is not None and environ not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if cwd is not None and Path(os.readlink(proc / "cwd")) != cwd:
                continue
            return int(proc.name)
        except (OSError, ValueError):  # not a process, or it ended meanwhile
            continue
    return None
