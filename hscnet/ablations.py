"""The paper's ablation rows (Tables 2-4) as plain data, importable without torch.

The workflow driver (``workflow/rules/common.smk``, run on a cluster's login node) reads these rows to
name one training run per row; ``hscnet.model.config.ablation_config`` applies a row to a model config.
"""

from __future__ import annotations

from typing import Any

LEVELS = ("word", "sentence", "paragraph")
DECODERS = ("paragraph", "word")  # the sentence decoder is always on (Table 4 baseline "SD")

ABLATION_TABLES: dict[int, dict[str, dict[str, Any]]] = {
    # Table 2: dropping a semantic level removes its encoder, its decoder and its alignment loss.
    2: {
        "SL": dict(levels=("sentence",), align_losses=("sentence",), decoders=()),
        "SL+PL": dict(
            levels=("sentence", "paragraph"), align_losses=("sentence", "paragraph"), decoders=("paragraph",)
        ),
        "SL+WL": dict(levels=("word", "sentence"), align_losses=("word", "sentence"), decoders=("word",)),
        "SL+PL+WL": dict(levels=LEVELS, align_losses=LEVELS, decoders=DECODERS),
    },
    # Table 3: all levels and decoders, only the encoder alignment losses change (paper row order).
    3: {
        "none": dict(align_losses=()),
        "P": dict(align_losses=("paragraph",)),
        "S": dict(align_losses=("sentence",)),
        "W": dict(align_losses=("word",)),
        "S+P": dict(align_losses=("sentence", "paragraph")),
        "W+P": dict(align_losses=("word", "paragraph")),
        "W+S": dict(align_losses=("word", "sentence")),
        "W+S+P": dict(align_losses=LEVELS),
    },
    # Table 4: all levels and alignment losses, only the optional decoders change.
    4: {
        "SD": dict(decoders=()),
        "SD+PD": dict(decoders=("paragraph",)),
        "SD+WD": dict(decoders=("word",)),
        "SD+PD+WD": dict(decoders=DECODERS),
    },
}


def ablation_rows() -> list[tuple[int, str]]:
    """Every (table, row) of the paper's ablation Tables 2-4, in the paper's order."""
    return [(table, row) for table, rows in ABLATION_TABLES.items() for row in rows]
