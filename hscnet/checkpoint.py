"""Checkpoints of ``hscnet train``: writing, reading, and loading a trained model for inference.

Training, evaluation and grounding all go through this module, so none of them imports another
stage's entry point. A checkpoint is a dict of tensors and plain types (loadable with
``weights_only=True``): ``format``, ``model_config``, ``model`` (state dict), ``epoch``, ``val_metrics``,
``identity``, ``ablation``, ``data`` (provenance of the training files), ``feature_stats`` and, in
``in_progress.pt`` and ``last.pt`` only, what resuming needs (optimizer, every rank's random states,
history, best epoch and its checkpoint).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hscnet.data.dataset import FeatureStats
from hscnet.errors import InputError, MissingInputError
from hscnet.io import atomic_path
from hscnet.model import ModelConfig, build_model

# 2: the grounding features g carry the attention-weighted clip positions (hscnet.model.encoder.aggregate).
CHECKPOINT_FORMAT = "hscnet-checkpoint-2"
EARLIER_FORMATS = {"hscnet-checkpoint-1": "its model predates the clip positions in the grounding features"}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save through a temporary sibling, so a kill never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``hscnet train`` (tensors and plain types only: weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: checkpoint not found")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; torch's own error suggests unsafe loading
        raise InputError(f"{path}: not a checkpoint (not a PyTorch archive: another kind of file, or truncated)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... on bad files
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise InputError(f"{path}: not a readable checkpoint ({type(err).__name__}: {first_line})") from err
    if isinstance(checkpoint, dict) and checkpoint.get("format") in EARLIER_FORMATS:
        reason = EARLIER_FORMATS[checkpoint["format"]]
        raise InputError(f"{path}: written by an earlier version of hscnet ({reason}); train it again")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not an hscnet checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return checkpoint


@dataclass
class TrainedModel:
    """A checkpoint loaded for inference: the model (eval mode), its config, the clip-feature
    standardisation it was trained with (None: raw features) and the whole checkpoint dict."""

    model: torch.nn.Module
    cfg: ModelConfig
    feature_stats: FeatureStats | None
    checkpoint: dict[str, Any]

    @property
    def batch_size(self) -> int:
        """The training batch size, which inference batches by too (earlier checkpoints kept it in the
        model config)."""
        recorded = self.checkpoint.get("train_config") or self.checkpoint["model_config"]
        return int(recorded["batch_size"])


def load_trained_model(path: str | os.PathLike, device: torch.device) -> TrainedModel:
    """The model of best.pt / last.pt on ``device``, with what is needed to feed it like in training."""
    checkpoint = read_checkpoint(path)
    cfg = ModelConfig.from_dict(checkpoint["model_config"])
    model = build_model(cfg)
    model.load_state_dict(checkpoint["model"])
    stats = checkpoint.get("feature_stats")
    return TrainedModel(model.to(device).eval(), cfg, FeatureStats.from_state(stats) if stats else None, checkpoint)
