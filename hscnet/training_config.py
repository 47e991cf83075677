"""What ``hscnet train`` is told: the training preset (batch size, epochs, learning rate) and the run's settings.

The model's architecture is ``hscnet.model.ModelConfig``; a preset name ("tacos", "activitynet", "demo",
"tiny") selects both, from one table (``hscnet.presets``). The number of clips is the data's, set per
dataset in ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hscnet.errors import InputError
from hscnet.metrics import DEFAULT_IOU_THRESHOLDS
from hscnet.presets import PRESETS


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16  # sec. 4.2: 16 TACoS, 32 ActivityNet
    epochs: int = 100  # not given in the paper
    lr: float = 1e-4  # Adam, no weight decay, "0.0001 on all datasets" (sec. 4.2)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named preset with optional field overrides (``None`` values keep the preset's)."""
        if name not in TRAIN_PRESETS:
            raise InputError(f"unknown training preset {name!r}; known: {sorted(TRAIN_PRESETS)}")
        return cls(**{**TRAIN_PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Each preset's TrainConfig fields, from the one table of presets (hscnet.presets).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {name: preset.train for name, preset in PRESETS.items()}

FEATURE_NORMS = ("standardize", "none")


@dataclass
class TrainSettings:
    """Everything ``hscnet train`` takes; ``None`` means "the preset's value"."""

    features: str
    text: str
    train: str
    val: str
    out: str
    preset: str = "demo"
    ablation: str | None = None  # "table<T>:<row>", e.g. "table2:SL"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    dropout: float | None = None
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None  # torch intra-op CPU threads (default: torch's choice, all cores)
    precision: str = "auto"  # autocast of forward and loss: auto (bf16 where native, hscnet.device), fp32, bf16, fp16
    feature_norm: str = "standardize"  # or "none"; see hscnet.data.dataset
    temporal_crop: bool = False  # random crops of the training videos around the paragraph
    sentence_subset: bool = False  # PRVG's recipe: a random in-order subset of each training paragraph's sentences
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS
    resume: bool = False

    def train_config(self) -> TrainConfig:
        """The preset's training config with this run's overrides."""
        return TrainConfig.preset(self.preset, batch_size=self.batch_size, epochs=self.epochs, lr=self.lr)
