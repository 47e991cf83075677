"""The full model can fit a few paragraphs: a check that losses, heads and gradients work together."""

import pytest
import torch

from hscnet.model import ModelConfig, build_criterion, build_model, collate_paragraphs, total_loss
from hscnet.model.synthetic import synthetic_paragraph
from hscnet.spans import temporal_iou
from hscnet.training_config import TrainConfig

MAX_STEPS = 600


@pytest.mark.slow
def test_full_model_overfits_four_paragraphs(one_thread):
    # Dropout off: the aim is memorisation, which dropout deliberately fights.
    cfg = ModelConfig.preset("tiny", video_dim=64, word_dim=32, dropout=0.0)
    g = torch.Generator().manual_seed(0)
    batch = collate_paragraphs(
        [
            synthetic_paragraph(g, 16, [3, 2, 4], cfg.video_dim, cfg.word_dim),
            synthetic_paragraph(g, 12, [2, 4, 1], cfg.video_dim, cfg.word_dim),
            synthetic_paragraph(g, 16, [3, 3], cfg.video_dim, cfg.word_dim),
            synthetic_paragraph(g, 10, [2, 2, 2, 3], cfg.video_dim, cfg.word_dim),
        ]
    )
    torch.manual_seed(0)
    model, criterion = build_model(cfg), build_criterion(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainConfig.preset("tiny").lr)

    def train_miou() -> float:
        model.eval()
        with torch.no_grad():
            pred = model(batch)["pred_spans"]
        model.train()
        return temporal_iou(pred, batch["spans"])[batch["sentence_mask"]].mean().item()

    start = train_miou()
    miou = start
    for step in range(1, MAX_STEPS + 1):
        loss = total_loss(criterion(model(batch), batch), criterion.weight_dict)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0:
            miou = train_miou()
            if miou > 0.9:
                break
    assert start < 0.5
    assert miou > 0.9, f"train mIoU {miou:.3f} after {step} steps"
