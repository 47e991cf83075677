"""Criterion on hand-made cases: outputs are built by hand, no model involved."""

import math

import pytest
import torch

from hscnet.model import LOSS_KEYS, ModelConfig, ablation_config, build_criterion, collate_paragraphs, total_loss
from hscnet.model.criterion import alignment_nll, localization_losses


def hand_batch() -> dict[str, torch.Tensor]:
    """Two paragraphs: (4 clips, sentences (0.25, 0.5) and (0.5, 1.0)); (2 clips, one sentence (0, 0.5))."""
    return collate_paragraphs(
        [
            dict(
                video=torch.zeros(4, 8),
                words=torch.zeros(3, 4),
                word_sentence=torch.tensor([0, 0, 1]),
                spans=torch.tensor([[0.25, 0.5], [0.5, 1.0]]),
            ),
            dict(
                video=torch.zeros(2, 8),
                words=torch.zeros(2, 4),
                word_sentence=torch.tensor([0, 0]),
                spans=torch.tensor([[0.0, 0.5]]),
            ),
        ]
    )


def perfect_outputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every span exactly right; each word covers its whole sentence; alignment logits arbitrary."""
    spans = batch["spans"]
    word_mask = torch.tensor([[[True, True], [True, False]], [[True, True], [False, False]]])
    b, n_v, n_w, n_s = 2, 4, 3, 2
    return {
        "pred_spans": spans.clone(),
        "sentence_spans": spans.clone(),
        "paragraph_span": torch.tensor([[0.25, 1.0], [0.0, 0.5]]),
        "word_spans": spans[:, :, None].expand(-1, -1, 2, -1) * word_mask[..., None],
        "word_span_mask": word_mask,
        "align_word": torch.zeros(b, n_w, n_v).masked_fill(~batch["video_mask"][:, None], float("-inf")),
        "align_sentence": torch.zeros(b, n_s, n_v).masked_fill(~batch["video_mask"][:, None], float("-inf")),
        "align_paragraph": torch.zeros(b, 1, n_v).masked_fill(~batch["video_mask"][:, None], float("-inf")),
    }


def test_perfect_prediction_has_zero_localization_losses():
    batch = hand_batch()
    criterion = build_criterion(ModelConfig.preset("tiny"))
    losses = criterion(perfect_outputs(batch), batch)
    assert set(losses) == set(LOSS_KEYS) == set(criterion.weight_dict)
    for key, value in losses.items():
        if not key.startswith("loss_align"):
            assert value.item() == pytest.approx(0.0, abs=1e-6), key


def test_l1_and_giou_hand_values():
    l1, giou = localization_losses(torch.tensor([[0.1, 0.4]]), torch.tensor([[0.2, 0.6]]))
    assert l1.item() == pytest.approx(0.3)  # |0.1 - 0.2| + |0.4 - 0.6|
    assert giou.item() == pytest.approx(0.6)  # IoU 0.2 / 0.5, hull = union -> 1 - 0.4


def test_word_outside_its_sentence_is_penalised_by_subset_loss():
    batch = hand_batch()
    outputs = perfect_outputs(batch)
    criterion = build_criterion(ModelConfig.preset("tiny"))
    assert criterion.loss_word(outputs, batch)["loss_word_subset"].item() == pytest.approx(0.0, abs=1e-7)
    # Sentence 0 of paragraph 0 is (0.25, 0.5): its first word now starts 0.05 early and ends 0.1 late.
    outputs["word_spans"] = outputs["word_spans"].clone()
    outputs["word_spans"][0, 0, 0] = torch.tensor([0.2, 0.6])
    losses = criterion.loss_word(outputs, batch)
    assert losses["loss_word_subset"].item() == pytest.approx((0.05 + 0.1) / 5)  # mean over the 5 words
    assert losses["loss_word_union"].item() > 0  # the union now overshoots the sentence too


def test_word_union_loss_hand_value():
    batch = hand_batch()
    outputs = perfect_outputs(batch)
    # Paragraph 1's two words are (0.0, 0.1) and (0.2, 0.3): inside, but the union (0, 0.3) misses 0.2.
    outputs["word_spans"] = outputs["word_spans"].clone()
    outputs["word_spans"][1, 0, :2] = torch.tensor([[0.0, 0.1], [0.2, 0.3]])
    losses = build_criterion(ModelConfig.preset("tiny")).loss_word(outputs, batch)
    assert losses["loss_word_subset"].item() == pytest.approx(0.0, abs=1e-7)
    # Over 3 sentences: L1 = 0.2 / 3, 1 - GIoU = (1 - 0.3 / 0.5) / 3.
    assert losses["loss_word_union"].item() == pytest.approx(0.2 / 3 + 0.4 / 3)


def test_alignment_loss_hand_value():
    logits = torch.tensor([[[0.0, 1.0, 2.0, float("-inf")]]])  # 3 valid clips of 4
    inside = torch.tensor([[[False, True, True, False]]])  # clips 1 and 2
    loss = alignment_nll(logits, inside, torch.tensor([[True]]))
    p = torch.tensor([0.0, 1.0, 2.0]).softmax(0)
    assert loss.item() == pytest.approx(-math.log(p[1] + p[2]))


def test_paragraph_alignment_targets_the_union_not_the_hull():
    """Clips between two sentences are background for the paragraph-level alignment (sec. 3.4)."""
    batch = hand_batch()
    batch["spans"][0] = torch.tensor([[0.0, 0.25], [0.75, 1.0]])  # a gap: clips 1 and 2 of 4
    outputs = perfect_outputs(batch)
    criterion = build_criterion(ModelConfig.preset("tiny"))
    outputs["align_paragraph"] = outputs["align_paragraph"].clone()
    outputs["align_paragraph"][0, 0] = torch.tensor([0.0, 100.0, 100.0, 0.0])  # all mass in the gap
    in_gap = criterion.loss_align(outputs, batch)["loss_align_paragraph"]
    outputs["align_paragraph"][0, 0] = torch.tensor([100.0, 0.0, 0.0, 100.0])  # all mass on the sentences
    on_sentences = criterion.loss_align(outputs, batch)["loss_align_paragraph"]
    assert in_gap.item() > 40 > on_sentences.item()


def test_alignment_losses_targets_per_level():
    batch = hand_batch()
    outputs = perfect_outputs(batch)
    # Put all mass of every query on clip 1 of paragraph 0 (inside sentence 0 = (0.25, 0.5)).
    for key in ("align_word", "align_sentence", "align_paragraph"):
        outputs[key] = outputs[key].clone()
        outputs[key][0, :, 1] = 100.0
    losses = build_criterion(ModelConfig.preset("tiny")).loss_align(outputs, batch)
    # Words 0, 1 (sentence 0) and paragraph 0 (union 0.25-1.0) are satisfied. Word 2 and sentence 1
    # (0.5-1.0 = clips 2, 3) get -log(2 / (e^100 + 3)) = 100 - log 2. Paragraph 1 has uniform logits
    # over 2 clips and all its queries' targets are clip 0: log 2 each.
    half = math.log(2)
    assert losses["loss_align_word"].item() == pytest.approx((100 - half + 2 * half) / 5, rel=1e-5)
    assert losses["loss_align_sentence"].item() == pytest.approx((100 - half + half) / 3, rel=1e-5)
    assert losses["loss_align_paragraph"].item() == pytest.approx(half / 2, rel=1e-5)


def test_weight_dict_follows_ablation_and_overrides():
    base = ModelConfig.preset("tiny", loss_weights={"loss_grounding_l1": 5.0})
    criterion = build_criterion(ablation_config(base, table=2, row="SL"))
    assert set(criterion.weight_dict) == {
        "loss_align_sentence",
        "loss_sentence_l1",
        "loss_sentence_giou",
        "loss_grounding_l1",
        "loss_grounding_giou",
    }
    assert criterion.weight_dict["loss_grounding_l1"] == 5.0 and criterion.weight_dict["loss_sentence_l1"] == 1.0
    losses = {k: torch.tensor(1.0) for k in criterion.weight_dict}
    assert total_loss(losses, criterion.weight_dict).item() == pytest.approx(9.0)
    with pytest.raises(ValueError, match="loss_typo"):
        build_criterion(ModelConfig.preset("tiny", loss_weights={"loss_typo": 1.0}))


def test_criterion_rejects_reversed_spans():
    batch = hand_batch()
    batch["spans"][0, 0] = torch.tensor([0.5, 0.25])
    with pytest.raises(ValueError, match="start > end"):
        build_criterion(ModelConfig.preset("tiny"))(perfect_outputs(batch), batch)
