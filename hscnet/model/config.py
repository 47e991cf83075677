"""Model configuration: the architecture as one dataclass, named presets, and a row of Tables 2-4 applied.

The presets' values are the ``model`` halves of the one table of presets, ``hscnet.presets``.

Every choice the paper leaves open has a field here with a one-line reason; ``hscnet/DESIGN.md``
maps the fields to the equations. Training settings (batch size, epochs, learning rate) are not the
model's: ``hscnet.training_config``. The number of clips is the data's (``config.yaml``'s ``num_clips``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hscnet.ablations import ABLATION_TABLES, DECODERS, LEVELS
from hscnet.errors import InputError
from hscnet.limits import MAX_POSITIONS
from hscnet.presets import PRESETS as DATASET_PRESETS


@dataclass(frozen=True)
class ModelConfig:
    # --- inputs -------------------------------------------------------------------------------
    video_dim: int = 4096  # C3D fc6 (sec. 4.2); ActivityNet's public precomputed C3D is 500-d (PCA)
    word_dim: int = 300  # GloVe (sec. 4.2)

    # --- widths and depths (sec. 4.2 unless noted) ------------------------------------------------
    hidden_dim: int = 256  # D = 256 "in all settings"
    num_heads: int = 8  # not given; 8 heads of 32 channels as in [28]
    feature_layers: int = 3  # "three-layer self-attention network" for F^V and F^W (sec. 3.2)
    word_layers: int = 3  # C1
    sentence_layers: int = 3  # C2
    paragraph_layers: int = 3  # C3
    ffn_dim: int = 1024  # not given; 4 * D as in [28], for every feed-forward / modality MLP
    dropout: float = 0.1  # not given; the value of [28]
    tau: float = 0.2  # aggregation temperature tau^l, eq. (5), "0.2 for all levels"
    sigma_init: float = 0.1  # not given; initial sharpness of eq. (1): cosine/0.1 spans [-10, 10]
    max_positions: int = MAX_POSITIONS  # longest clip/word sequence the sinusoidal position table covers

    # --- ablation switches (Tables 2-4) ---------------------------------------------------------
    levels: tuple[str, ...] = LEVELS  # Table 2; "sentence" is always required
    align_losses: tuple[str, ...] = LEVELS  # Table 3: which of L_enc^{VW,VS,VP} are used
    decoders: tuple[str, ...] = DECODERS  # Table 4: optional paragraph / word decoders

    # --- loss weights (eq. 11 sums every term with weight 1) -------------------------------------
    loss_weights: dict[str, float] = field(default_factory=dict)  # per-key overrides of 1.0

    def __post_init__(self) -> None:
        # Accept lists (YAML, JSON checkpoints) but store tuples so the config stays hashable.
        for name in ("levels", "align_losses", "decoders"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "loss_weights", dict(self.loss_weights))
        self.validate()
        # Canonical order, so that configs with the same switches compare (and serialise) equal.
        for name, order in (("levels", LEVELS), ("align_losses", LEVELS), ("decoders", DECODERS)):
            object.__setattr__(self, name, tuple(x for x in order if x in getattr(self, name)))

    def validate(self) -> None:
        """Raise ValueError on an inconsistent configuration."""
        unknown = set(self.levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"ModelConfig.levels: unknown level(s) {sorted(unknown)}; known {LEVELS}")
        if "sentence" not in self.levels:
            raise ValueError("ModelConfig.levels must contain 'sentence' (the grounded queries are sentences)")
        unknown = set(self.align_losses) - set(LEVELS)
        if unknown:
            raise ValueError(f"ModelConfig.align_losses: unknown level(s) {sorted(unknown)}")
        missing = set(self.align_losses) - set(self.levels)
        if missing:
            raise ValueError(f"ModelConfig.align_losses {sorted(missing)} need those levels in ModelConfig.levels")
        unknown = set(self.decoders) - set(DECODERS)
        if unknown:
            raise ValueError(f"ModelConfig.decoders: unknown decoder(s) {sorted(unknown)}; known {DECODERS}")
        missing = set(self.decoders) - set(self.levels)
        if missing:
            raise ValueError(f"ModelConfig.decoders {sorted(missing)} need those levels in ModelConfig.levels")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not divisible by num_heads {self.num_heads}")
        if self.hidden_dim % 2:
            raise ValueError("hidden_dim must be even (sinusoidal positions, bidirectional LSTM halves)")
        for name in ("word_layers", "sentence_layers", "paragraph_layers", "feature_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"ModelConfig.{name} must be >= 0")
        if self.tau <= 0 or self.sigma_init <= 0:
            raise ValueError("tau and sigma_init must be positive")

    # --- presets ----------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """The named preset ("tacos", "activitynet", "demo", "tiny") with optional field overrides."""
        if name not in PRESETS:
            raise InputError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (for checkpoints); ``from_dict`` inverts it."""
        out = dataclasses.asdict(self)
        for name in ("levels", "align_losses", "decoders"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        # Checkpoints and metrics files of earlier versions kept the training settings here too.
        data = {k: v for k, v in data.items() if k not in FORMER_TRAINING_FIELDS}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"ModelConfig: unknown field(s) {sorted(unknown)}")
        return cls(**data)


FORMER_TRAINING_FIELDS = frozenset({"batch_size", "num_clips", "epochs", "lr"})

# Each preset's ModelConfig fields, from the one table of presets.
PRESETS: dict[str, dict[str, Any]] = {name: preset.model for name, preset in DATASET_PRESETS.items()}


def ablation_config(base: ModelConfig, table: int, row: str) -> ModelConfig:
    """``base`` with the switches of one row of the paper's Table 2, 3 or 4.

    Rows: ``hscnet.ablations.ablation_rows``.
    """
    if table not in ABLATION_TABLES:
        raise InputError(f"no ablation table {table}; tables are {sorted(ABLATION_TABLES)}")
    rows = ABLATION_TABLES[table]
    if row not in rows:
        raise InputError(f"table {table} has no row {row!r}; rows are {list(rows)}")
    # Each table varies its own switches on top of the full model.
    full = dict(levels=LEVELS, align_losses=LEVELS, decoders=DECODERS)
    return dataclasses.replace(base, **{**full, **rows[row]})
