"""Training losses of sec. 3.5: encoder alignment (eq. 9), decoder (eq. 10) and grounding losses.

Every method returns a dict of UNWEIGHTED scalar losses; ``weight_dict`` holds their weights
(1 for every term, as eq. 11 sums them, unless ``ModelConfig.loss_weights`` overrides one) and
``total_loss`` combines them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hscnet.model.batch import validate_batch
from hscnet.model.config import ModelConfig
from hscnet.spans import clip_mask_in_spans, generalized_temporal_iou, span_hull

LOSS_KEYS = (
    "loss_align_word",
    "loss_align_sentence",
    "loss_align_paragraph",
    "loss_paragraph_l1",
    "loss_paragraph_giou",
    "loss_sentence_l1",
    "loss_sentence_giou",
    "loss_word_union",
    "loss_word_subset",
    "loss_grounding_l1",
    "loss_grounding_giou",
)


def localization_losses(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """pred, target (K, 2) -> (mean over spans of |ds| + |de|, mean of 1 - GIoU)."""
    l1 = (pred - target).abs().sum(-1).mean()
    giou = (1 - generalized_temporal_iou(pred, target)).mean()
    return l1, giou


def alignment_nll(logits: Tensor, inside: Tensor, query_mask: Tensor) -> Tensor:
    """-log of the summed softmax similarity over the clips inside each query's target.

    logits (B, Q, N_V) with -inf on padded clips; inside (B, Q, N_V) bool, the target clips of each
    query (at least one per valid query); query_mask (B, Q) -> mean over valid queries.
    """
    log_prob = logits.log_softmax(-1)
    nll = -log_prob.masked_fill(~inside, float("-inf")).logsumexp(-1)  # (B, Q)
    return nll[query_mask].mean()


def total_loss(losses: dict[str, Tensor], weight_dict: dict[str, float]) -> Tensor:
    """Weighted sum of the losses that have a weight (eq. 11)."""
    return sum(weight_dict[k] * v for k, v in losses.items() if k in weight_dict)


class HSCNetCriterion(nn.Module):
    """Losses of eqs. (9)-(11) for the components enabled in ``cfg``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        unknown = set(cfg.loss_weights) - set(LOSS_KEYS)
        if unknown:
            raise ValueError(f"ModelConfig.loss_weights: unknown loss(es) {sorted(unknown)}; known {LOSS_KEYS}")
        keys = [f"loss_align_{level}" for level in cfg.align_losses]
        if "paragraph" in cfg.decoders:
            keys += ["loss_paragraph_l1", "loss_paragraph_giou"]
        keys += ["loss_sentence_l1", "loss_sentence_giou"]
        if "word" in cfg.decoders:
            keys += ["loss_word_union", "loss_word_subset"]
        keys += ["loss_grounding_l1", "loss_grounding_giou"]
        self.weight_dict = {k: float(cfg.loss_weights.get(k, 1.0)) for k in keys}

    @staticmethod
    def paragraph_target(batch: dict[str, Tensor]) -> Tensor:
        """(B, 2) the temporal union (hull) of a paragraph's sentence spans: its MIL ground truth."""
        return span_hull(batch["spans"], batch["sentence_mask"], dim=1)

    def loss_align(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """L_enc^{VW}, L_enc^{VS}, L_enc^{VP} (eq. 9) for the levels in ``cfg.align_losses``.
        Words take their sentence's span, the paragraph the union of its sentences'."""
        num_clips = batch["video_mask"].sum(1)
        spans, sentence_mask = batch["spans"], batch["sentence_mask"]
        max_clips = batch["video_mask"].shape[1]
        sentence_clips = clip_mask_in_spans(spans, num_clips, max_clips) & sentence_mask[..., None]  # (B, N_S, N_V)
        losses = {}
        if "word" in self.cfg.align_losses:
            sentence = batch["word_sentence"].clamp(min=0)[..., None].expand(-1, -1, max_clips)
            word_clips = sentence_clips.gather(1, sentence)  # (B, N_W, N_V): the clips of the word's sentence
            losses["loss_align_word"] = alignment_nll(outputs["align_word"], word_clips, batch["word_mask"])
        if "sentence" in self.cfg.align_losses:
            losses["loss_align_sentence"] = alignment_nll(outputs["align_sentence"], sentence_clips, sentence_mask)
        if "paragraph" in self.cfg.align_losses:
            # the union of the sentences' clips (gaps between sentences are background), unlike the
            # single-span decoder target, which must be the hull
            paragraph_clips = sentence_clips.any(1, keepdim=True)  # (B, 1, N_V)
            query_mask = torch.ones_like(sentence_mask[:, :1])
            losses["loss_align_paragraph"] = alignment_nll(outputs["align_paragraph"], paragraph_clips, query_mask)
        return losses

    def loss_paragraph(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """L_dec^P: L1 + GIoU of the paragraph span against the union of its sentences."""
        l1, giou = localization_losses(outputs["paragraph_span"], self.paragraph_target(batch))
        return {"loss_paragraph_l1": l1, "loss_paragraph_giou": giou}

    def loss_sentence(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """L_dec^S: L1 + GIoU of the sentence-decoder spans."""
        mask = batch["sentence_mask"]
        l1, giou = localization_losses(outputs["sentence_spans"][mask], batch["spans"][mask])
        return {"loss_sentence_l1": l1, "loss_sentence_giou": giou}

    def loss_word(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weakly supervised L_dec^W = L_union + L_subset (eq. 10).

        L_union: L1 + (1 - GIoU) between the union (hull) of a sentence's word spans and the
        sentence span. L_subset: hinge max(0, s - w_s) + max(0, w_e - e) of each word span
        (w_s, w_e) outside its sentence span (s, e); zero exactly when the word lies inside.
        """
        words, word_mask = outputs["word_spans"], outputs["word_span_mask"]  # (B, N_S, M, 2), (B, N_S, M)
        sentence_mask, spans = batch["sentence_mask"], batch["spans"]
        hull = span_hull(words, word_mask, dim=2)[sentence_mask]  # (K, 2)
        l1, giou = localization_losses(hull, spans[sentence_mask])
        target = spans[:, :, None].expand_as(words)[word_mask]  # (K_W, 2) each word's sentence span
        inside = words[word_mask]
        overflow = (target[:, 0] - inside[:, 0]).clamp(min=0) + (inside[:, 1] - target[:, 1]).clamp(min=0)
        return {"loss_word_union": l1 + giou, "loss_word_subset": overflow.mean()}

    def loss_grounding(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """L_grd: L1 + GIoU of the final spans."""
        mask = batch["sentence_mask"]
        l1, giou = localization_losses(outputs["pred_spans"][mask], batch["spans"][mask])
        return {"loss_grounding_l1": l1, "loss_grounding_giou": giou}

    def element_counts(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """How many elements each loss of ``forward`` averages over in this batch: distributed training
        weighs each rank's means by them so that the ranks together average over the global batch."""
        paragraphs = torch.tensor(batch["sentence_mask"].shape[0], device=batch["sentence_mask"].device)
        per = {"word": batch["word_mask"].sum(), "sentence": batch["sentence_mask"].sum(), "paragraph": paragraphs}
        counts = {f"loss_align_{level}": per[level] for level in self.cfg.align_losses}
        if "paragraph" in self.cfg.decoders:
            counts |= {"loss_paragraph_l1": paragraphs, "loss_paragraph_giou": paragraphs}
        counts |= {"loss_sentence_l1": per["sentence"], "loss_sentence_giou": per["sentence"]}
        if "word" in self.cfg.decoders:
            counts |= {"loss_word_union": per["sentence"], "loss_word_subset": outputs["word_span_mask"].sum()}
        return counts | {"loss_grounding_l1": per["sentence"], "loss_grounding_giou": per["sentence"]}

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Model outputs and batch (with spans) -> every enabled unweighted loss (keys of ``weight_dict``)."""
        validate_batch(batch, require_spans=True)
        losses = self.loss_align(outputs, batch)
        if "paragraph" in self.cfg.decoders:
            losses.update(self.loss_paragraph(outputs, batch))
        losses.update(self.loss_sentence(outputs, batch))
        if "word" in self.cfg.decoders:
            losses.update(self.loss_word(outputs, batch))
        losses.update(self.loss_grounding(outputs, batch))
        return losses


def build_criterion(cfg: ModelConfig) -> HSCNetCriterion:
    return HSCNetCriterion(cfg)
