"""The full model: output shapes, gradients, padding invariance, determinism, bad batches."""

import pytest
import torch

from hscnet.model import ModelConfig, build_criterion, build_model, collate_paragraphs, total_loss
from hscnet.model.synthetic import synthetic_paragraph

CFG = ModelConfig.preset("tiny", video_dim=24, word_dim=12)


def paragraphs(seed: int = 0):
    """Three paragraphs with different numbers of clips, words and sentences (and sentence lengths)."""
    g = torch.Generator().manual_seed(seed)
    return [
        synthetic_paragraph(g, 10, [3, 1, 4], CFG.video_dim, CFG.word_dim),
        synthetic_paragraph(g, 6, [2], CFG.video_dim, CFG.word_dim),
        synthetic_paragraph(g, 8, [1, 5, 2, 2], CFG.video_dim, CFG.word_dim),
    ]


def test_output_shapes_and_valid_spans():
    torch.manual_seed(0)
    batch = collate_paragraphs(paragraphs())
    out = build_model(CFG)(batch)
    b, n_v, n_w, n_s, m = 3, 10, 10, 4, 5
    expected = {
        "pred_spans": (b, n_s, 2),
        "sentence_spans": (b, n_s, 2),
        "paragraph_span": (b, 2),
        "word_spans": (b, n_s, m, 2),
        "word_span_mask": (b, n_s, m),
        "align_word": (b, n_w, n_v),
        "align_sentence": (b, n_s, n_v),
        "align_paragraph": (b, 1, n_v),
    }
    assert {k: tuple(v.shape) for k, v in out.items()} == expected
    # word_span_mask marks exactly each sentence's words.
    assert out["word_span_mask"].sum(-1).tolist() == [[3, 1, 4, 0], [2, 0, 0, 0], [1, 5, 2, 2]]
    for key in ("pred_spans", "sentence_spans", "paragraph_span", "word_spans"):
        spans = out[key]
        assert ((spans >= 0) & (spans <= 1)).all() and (spans[..., 0] <= spans[..., 1]).all(), key
    assert (out["pred_spans"][~batch["sentence_mask"]] == 0).all()
    # Padded clips are excluded from the alignment logits, valid ones are finite.
    for key in ("align_word", "align_sentence", "align_paragraph"):
        assert torch.isneginf(out[key][1, :, 6:]).all() and torch.isfinite(out[key][1, :, :6]).all()


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    batch = collate_paragraphs(paragraphs())
    model, criterion = build_model(CFG), build_criterion(CFG)
    losses = criterion(model(batch), batch)
    total_loss(losses, criterion.weight_dict).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_each_paragraph_unchanged_by_batching():
    torch.manual_seed(0)
    model = build_model(CFG).eval()
    samples = paragraphs()
    with torch.no_grad():
        together = model(collate_paragraphs(samples))
        for i, sample in enumerate(samples):
            alone = model(collate_paragraphs([sample]))
            for key, value in alone.items():
                value = value[0]
                # Crop the batch's padding; what lies beyond it is checked to be padding elsewhere.
                batched = together[key][i][tuple(slice(0, s) for s in value.shape)]
                if value.dtype == torch.bool:
                    assert torch.equal(batched, value), key
                else:
                    finite = torch.isfinite(value)
                    assert torch.equal(finite, torch.isfinite(batched)), key
                    assert torch.allclose(batched[finite], value[finite], atol=1e-5), (key, i)


def test_same_seed_same_model_and_outputs():
    batch = collate_paragraphs(paragraphs())
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = build_model(CFG)  # train mode: dropout active, so the seed must fix it too
        outputs.append(model(batch)["pred_spans"])
    assert torch.equal(*outputs)
    torch.manual_seed(8)
    assert not torch.equal(build_model(CFG)(batch)["pred_spans"], outputs[0])


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b.pop("word_mask"), "lacks"),
        (lambda b: b.__setitem__("video", b["video"][..., :5]), "video_dim=24"),
        (lambda b: b["word_sentence"].__setitem__((0, 3), 0), "valid sentence has no words"),
        (lambda b: b["word_sentence"].__setitem__((1, 1), 1), "padded sentence"),
        (lambda b: b["sentence_mask"].__setitem__((1, 1), True), "valid sentence has no words"),
        (lambda b: b.__setitem__("video_mask", b["video_mask"].float()), "must be bool"),
        (lambda b: b["video_mask"][1].fill_(False), "no valid entry"),
        (lambda b: b["video_mask"][0, 0].fill_(False), "padding must follow"),
        (lambda b: b["word_sentence"].__setitem__((2, 0), 3), "non-decreasing"),
    ],
)
def test_bad_batch_raises_value_error(corrupt, message):
    batch = collate_paragraphs(paragraphs())
    corrupt(batch)
    with pytest.raises(ValueError, match=message):
        build_model(CFG)(batch)


def test_too_many_clips_for_position_table():
    cfg = ModelConfig.preset("tiny", video_dim=24, word_dim=12, max_positions=8)
    with pytest.raises(ValueError, match="max_positions=8"):
        build_model(cfg)(collate_paragraphs(paragraphs()))
