"""The dataset presets, one table: each name selects a model and its training recipe.

``model`` holds ``hscnet.model.ModelConfig`` fields, ``train`` holds ``hscnet.training_config.TrainConfig``
fields; each preset keeps the other fields' defaults. ``ModelConfig.preset`` and ``TrainConfig.preset``
read this table, and the workflow schema's ``model_preset`` enum lists its names (``tests/test_model_config.py``
holds the two equal). Plain data, no torch: the workflow driver may read it. Why these values:
``hscnet/DESIGN.md``, "Presets and training defaults".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    model: dict[str, Any]  # ModelConfig fields
    train: dict[str, Any]  # TrainConfig fields


PRESETS: dict[str, Preset] = {
    # TACoS, sec. 4.2: {C1, C2, C3} = {3, 3, 3} on C3D fc6; batch 16.
    "tacos": Preset(
        model=dict(word_layers=3, sentence_layers=3, paragraph_layers=3),
        train=dict(batch_size=16, epochs=100),
    ),
    # ActivityNet-Captions, sec. 4.2: {1, 1, 1}; public C3D features are 500-d; batch 32.
    "activitynet": Preset(
        model=dict(video_dim=500, word_layers=1, sentence_layers=1, paragraph_layers=1),
        train=dict(batch_size=32, epochs=30),
    ),
    # The generated demo dataset: the full architecture, narrower so that it trains on a CPU in minutes, at a
    # larger learning rate than the paper's.
    # 30 epochs on the 64-video demo: 60 scored within 2 standard errors of 30 over seeds 0-2, with twice the
    # spread and the quick start's training time (hscnet/DESIGN.md, "The demo's epoch count").
    "demo": Preset(
        model=dict(
            hidden_dim=128,
            num_heads=4,
            ffn_dim=256,
            word_layers=1,
            sentence_layers=1,
            paragraph_layers=1,
        ),
        train=dict(batch_size=8, epochs=30, lr=5e-4),
    ),
    # Smallest model with every component, for tests and CI.
    "tiny": Preset(
        model=dict(
            hidden_dim=32,
            num_heads=2,
            ffn_dim=64,
            feature_layers=1,
            word_layers=1,
            sentence_layers=1,
            paragraph_layers=1,
        ),
        train=dict(batch_size=4, epochs=3, lr=1e-3),
    ),
}
