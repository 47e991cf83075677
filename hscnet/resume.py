"""Resuming a training run: what identifies a run, which checkpoint to continue, every random state.

The rules (which file is continued, what must match) are documented once, in docs/reruns.md.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hscnet.checkpoint import read_checkpoint
from hscnet.distributed import World
from hscnet.errors import InputError
from hscnet.fingerprint import fingerprint, refresh, same_content
from hscnet.model import ModelConfig
from hscnet.training_config import TrainConfig, TrainSettings

log = logging.getLogger(__name__)

PROGRESS_NAME, LAST_NAME, BEST_NAME = "in_progress.pt", "last.pt", "best.pt"
# Settings that change the run's numbers, beside the model and training configs and the seed.
TRAINING_OPTIONS = ("feature_norm", "temporal_crop", "sentence_subset", "num_workers", "iou_thresholds", "precision")
DATA_FILES = ("features", "text", "train", "val")


def run_identity(
    cfg: ModelConfig, train_cfg: TrainConfig, settings: TrainSettings, data: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (only the number of epochs may grow):
    model config, training config but its epochs, seed, training options and ``data``, the fingerprints of
    the DATA_FILES."""
    training = {name: getattr(settings, name) for name in TRAINING_OPTIONS}
    training["iou_thresholds"] = list(training["iou_thresholds"])
    training |= {k: v for k, v in train_cfg.to_dict().items() if k != "epochs"}
    return {"model_config": cfg.to_dict(), "seed": settings.seed, "training": training, "data": data}


def identity_differences(saved: dict[str, Any], now: dict[str, Any], paths: dict[str, str]) -> list[str]:
    """What differs between the identity a checkpoint records and this run's, one phrase per item."""
    differences = [] if saved.get("seed") == now["seed"] else [f"seed {saved.get('seed')} -> {now['seed']}"]
    for part in ("model_config", "training"):
        before, after = saved.get(part, {}), now[part]
        differences += [
            f"{part}.{key} {before.get(key)!r} -> {after.get(key)!r}"
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)
        ]
    for name, after in now["data"].items():
        before = saved.get("data", {}).get(name)
        if before is None:
            differences.append(f"{name} file {paths[name]}: not recorded by the checkpoint")
        elif not same_content(before, after):
            differences.append(
                f"{name} file {paths[name]}: other content (size {before['size']} -> {after['size']} bytes"
                f"{'' if before['size'] != after['size'] else ', sha256 differs'})"
            )
    return differences


def resumable_checkpoint(
    settings: TrainSettings, cfg: ModelConfig, train_cfg: TrainConfig, device: torch.device, world: World
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The checkpoint to continue from (None: start from scratch) and the identity this run records.

    A run without ``--resume`` starts over: it removes a previous run's resumable checkpoints first, so
    that a later ``--resume`` can never continue a run this one replaced.
    """
    out = Path(settings.out)
    paths = {name: getattr(settings, name) for name in DATA_FILES}
    candidates = [out / PROGRESS_NAME, out / LAST_NAME]
    if not settings.resume and world.is_main:
        for path in candidates:
            path.unlink(missing_ok=True)
    path = next((p for p in candidates if p.is_file()), None) if settings.resume else None
    if path is None:
        if settings.resume:
            log.info("--resume: no checkpoint in %s yet, starting from scratch", out)
        return None, run_identity(cfg, train_cfg, settings, {name: fingerprint(p) for name, p in paths.items()})
    state = read_checkpoint(path, map_location=device)
    saved = state.get("identity", {})
    recorded = saved.get("data", {})
    data = {name: refresh(recorded.get(name, {}), p) for name, p in paths.items()}
    identity = run_identity(cfg, train_cfg, settings, data)
    differences = identity_differences(saved, identity, paths)
    if len(state["history"]) > train_cfg.epochs:
        differences.append(f"epochs: {len(state['history'])} trained already, {train_cfg.epochs} asked")
    if differences:
        raise InputError(
            f"{path}: cannot --resume, it was written by a run with other settings or data: {'; '.join(differences)}. "
            f"To start over, delete {path} or run without --resume"
        )
    return state, identity


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    """Every random state training consumes, as tensors and plain types (loadable with weights_only)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "random": random.getstate(),
        "loader": loader_generator.get_state(),
    }


def set_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    version, internal, gauss = state["random"]
    random.setstate((version, tuple(internal), gauss))
    loader_generator.set_state(state["loader"])


def gather_rng_states(loader_generator: torch.Generator, world: World) -> list[dict[str, Any]]:
    """Every rank's random states, for rank 0's checkpoint (each rank draws its own dropout)."""
    states = [None] * world.size
    if world.size > 1:
        torch.distributed.all_gather_object(states, rng_state(loader_generator))
    else:
        states[0] = rng_state(loader_generator)
    return states


def rank_rng_state(states: list[dict[str, Any]], world: World) -> dict[str, Any]:
    """This rank's saved random states; a run resumed with another number of processes gives every
    rank rank 0's (the shuffled order, drawn from the loader generator, stays the same)."""
    if len(states) != world.size:
        log.warning(
            "resuming a run of %d processes with %d: dropout and crop draws differ from an uninterrupted run",
            len(states),
            world.size,
        )
        return states[0]
    return states[world.rank]
