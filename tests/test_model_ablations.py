"""Every row of the paper's Tables 2-4 builds, has the right parts and trains one step."""

import pytest
import torch

from hscnet.ablations import ablation_rows
from hscnet.model import ModelConfig, ablation_config, build_criterion, build_model, collate_paragraphs, total_loss
from hscnet.model.synthetic import synthetic_paragraph

BASE = ModelConfig.preset("tiny", video_dim=24, word_dim=12)


def batch():
    g = torch.Generator().manual_seed(1)
    return collate_paragraphs(
        [
            synthetic_paragraph(g, 8, [2, 3], BASE.video_dim, BASE.word_dim),
            synthetic_paragraph(g, 6, [4], BASE.video_dim, BASE.word_dim),
        ]
    )


@pytest.mark.parametrize("table, row", ablation_rows())
def test_row_builds_and_trains_one_step(table, row):
    cfg = ablation_config(BASE, table, row)
    torch.manual_seed(0)
    model, criterion = build_model(cfg), build_criterion(cfg)
    data = batch()
    out = model(data)

    # Outputs exist exactly for the enabled parts.
    assert ("paragraph_span" in out) == ("paragraph" in cfg.decoders)
    assert ("word_spans" in out) == ("word_span_mask" in out) == ("word" in cfg.decoders)
    for level in ("word", "sentence", "paragraph"):
        assert (f"align_{level}" in out) == (level in cfg.levels)
    # A dropped level has no encoder modules (Table 2: "removes its encoder and its decoder").
    names = {n.split(".")[1] for n, _ in model.named_parameters() if n.startswith("encoder.")}
    assert ("word_layers" in names) == ("word" in cfg.levels)
    assert ("paragraph_layers" in names) == ("paragraph" in cfg.levels)

    losses = criterion(out, data)
    assert set(losses) == set(criterion.weight_dict)
    assert {k for k in losses if k.startswith("loss_align_")} == {f"loss_align_{lv}" for lv in cfg.align_losses}
    loss = total_loss(losses, criterion.weight_dict)
    assert torch.isfinite(loss)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # Every parameter of the row's model is used by its losses, so every one moves.
    unchanged = [n for (n, p), b in zip(model.named_parameters(), before, strict=True) if torch.equal(p, b)]
    assert unchanged == []


def test_dropping_levels_shrinks_the_model():
    def count(cfg):
        return sum(p.numel() for p in build_model(cfg).parameters())

    full = count(BASE)
    assert count(ablation_config(BASE, 2, "SL")) < count(ablation_config(BASE, 2, "SL+PL")) < full
    assert count(ablation_config(BASE, 2, "SL+WL")) < full
    assert count(ablation_config(BASE, 4, "SD")) < count(ablation_config(BASE, 4, "SD+WD")) <= full
