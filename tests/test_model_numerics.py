"""The model's losses and gradients equal a plain reference implementation of sec. 3's equations.

The reference below is written from the paper (and hscnet/DESIGN.md's choices), not from the
model's code: one paragraph at a time with no padding and no masks, explicit softmax attention,
per-sentence loops. It reads the model's parameters by name, so both compute the same function;
a faster model (fused attention, batched losses, fewer copies) must keep every loss and every
gradient within float32 tolerance of it, on a batch of paragraphs of different lengths (padding
in clips, words and sentences).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hscnet.model import ModelConfig, build_criterion, build_model, collate_paragraphs
from hscnet.model.synthetic import synthetic_paragraph

VIDEO_DIM, WORD_DIM = 24, 12


class Reference:
    """HSCNet's forward and losses for one unpadded paragraph, from the model's parameters ``p``."""

    def __init__(self, model, cfg: ModelConfig):
        self.p = dict(model.named_parameters())
        self.lstms = {"sentence": model.decoder.sentence_lstm.lstm, "word": model.decoder.word_lstm.lstm}
        self.cfg = cfg

    def linear(self, name: str, x: Tensor) -> Tensor:
        return x @ self.p[f"{name}.weight"].T + self.p[f"{name}.bias"]

    def norm(self, name: str, x: Tensor) -> Tensor:
        mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.p[f"{name}.weight"] + self.p[f"{name}.bias"]

    def mlp(self, name: str, x: Tensor) -> Tensor:  # Linear, ReLU, Dropout (off), Linear
        return self.linear(f"{name}.3", torch.relu(self.linear(f"{name}.0", x)))

    def attention(self, name: str, query: Tensor, memory: Tensor, cosine: bool) -> Tensor:
        """Multi-head attention [28]; cosine: softmax(cos(phi q, rho k) / sigma) psi v, eqs. (1)-(2)."""
        heads = self.cfg.num_heads
        q, k, v = (
            self.linear(f"{name}.{part}", x) for part, x in (("query", query), ("key", memory), ("value", memory))
        )
        outputs = []
        for h in torch.arange(self.cfg.hidden_dim).chunk(heads):
            qh, kh, vh = q[:, h], k[:, h], v[:, h]
            if cosine:
                scores = (qh / qh.norm(dim=-1, keepdim=True)) @ (kh / kh.norm(dim=-1, keepdim=True)).T
                scores = scores / torch.exp(self.p[f"{name}.log_sigma"])
            else:
                scores = qh @ kh.T / math.sqrt(len(h))
            weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
            outputs.append(weights / weights.sum(-1, keepdim=True) @ vh)
        return self.linear(f"{name}.out", torch.cat(outputs, dim=-1))

    def attention_layer(self, name: str, x: Tensor, memory: Tensor) -> Tensor:
        x = self.norm(f"{name}.norm_attention", x + self.attention(f"{name}.attention", x, memory, cosine=False))
        return self.norm(f"{name}.norm_ffn", x + self.mlp(f"{name}.ffn", x))

    def multimodal_layer(self, name: str, video: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        m = torch.cat([self.linear(f"{name}.proj_video", video), self.linear(f"{name}.proj_text", text)])
        h = self.norm(f"{name}.norm_attention", m + self.attention(f"{name}.attention", m, m, cosine=True))
        hv, hq = h[: len(video)], h[len(video) :]
        return (
            self.norm(f"{name}.norm_video", hv + self.mlp(f"{name}.mlp_video", hv)),
            self.norm(f"{name}.norm_text", hq + self.mlp(f"{name}.mlp_text", hq)),
        )

    def positions(self, n: int) -> Tensor:
        d = self.cfg.hidden_dim
        table = torch.zeros(n, d)
        for pos in range(n):
            for i in range(0, d, 2):
                angle = pos / 10000 ** (i / d)
                table[pos, i], table[pos, i + 1] = math.sin(angle), math.cos(angle)
        return table

    def feature_encoder(self, name: str, features: Tensor) -> Tensor:
        x = self.norm(f"{name}.norm", self.linear(f"{name}.projection", features)) + self.positions(len(features))
        for i in range(self.cfg.feature_layers):
            x = self.attention_layer(f"{name}.layers.{i}", x, x)
        return x

    def aggregate(self, text: Tensor, video: Tensor) -> tuple[Tensor, Tensor]:
        """Eqs. (5)-(6): A = cos(Q, V) / tau, g = [Q_bar; Softmax(A) V_bar], and Softmax(A) P appended."""
        text = text / text.norm(dim=-1, keepdim=True)
        video = video / video.norm(dim=-1, keepdim=True)
        logits = text @ video.T / self.cfg.tau
        weights = torch.softmax(logits, -1)
        return logits, torch.cat([text, weights @ video, weights @ self.positions(len(video))], dim=-1)

    def level(self, prefix: str, video: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        layers = getattr(self.cfg, f"{prefix}_layers")
        positions = self.positions(len(video))
        for i in range(layers):
            video, text = self.multimodal_layer(f"encoder.{prefix}_layers.{i}", video + positions, text)
        return video, text

    def lstm(self, which: str, x: Tensor) -> Tensor:
        return self.lstms[which](x[None])[0][0]

    @staticmethod
    def span(logits: Tensor) -> Tensor:
        start = torch.sigmoid(logits[..., 0])
        return torch.stack([start, start + (1 - start) * torch.sigmoid(logits[..., 1])], -1)

    def head(self, name: str, x: Tensor) -> Tensor:
        return self.span(self.linear(f"{name}.2", torch.relu(self.linear(f"{name}.0", x))))

    def forward(self, video: Tensor, words: Tensor, word_sentence: Tensor) -> dict[str, Tensor]:
        out = {}
        video = self.feature_encoder("encoder.video_encoder", video)
        words = self.feature_encoder("encoder.text_encoder", words)
        video, words = self.level("word", video, words)
        out["align_word"], g_word = self.aggregate(words, video)
        num_sentences = int(word_sentence.max()) + 1
        pooled = torch.stack([words[word_sentence == s].mean(0) for s in range(num_sentences)])  # eq. (3)
        sentences = self.attention_layer("encoder.sentence_query", pooled, words)  # eq. (4)
        video = self.attention_layer("encoder.sentence_video", video, video)
        video, sentences = self.level("sentence", video, sentences)
        out["align_sentence"], g_sentence = self.aggregate(sentences, video)
        paragraph = self.attention_layer("encoder.paragraph_query", sentences.mean(0, keepdim=True), sentences)
        video = self.attention_layer("encoder.paragraph_video", video, video)
        video, paragraph = self.level("paragraph", video, paragraph)
        out["align_paragraph"], g_paragraph = self.aggregate(paragraph, video)

        out["paragraph_span"] = self.head(
            "decoder.paragraph_head", self.linear("decoder.paragraph_linear", g_paragraph[0])
        )
        g_sp = self.lstm("sentence", torch.cat([g_sentence, g_paragraph.expand(num_sentences, -1)], -1))  # eq. (7)
        out["sentence_spans"] = self.head("decoder.sentence_head", g_sp)
        word_spans, finals = [], []
        for s in range(num_sentences):
            g_w = g_word[word_sentence == s]
            g_ws = self.lstm("word", torch.cat([g_w, g_sp[s].expand(len(g_w), -1)], -1))  # eq. (8)
            word_spans.append(self.head("decoder.word_head", g_ws))
            selected = self.attention("decoder.word_selection", g_sp[s : s + 1], g_ws, cosine=False)[0]
            finals.append(self.head("decoder.grounding_head", torch.cat([selected, g_sp[s]])))
        out["word_spans"], out["pred_spans"] = word_spans, torch.stack(finals)
        return out


def giou(a: Tensor, b: Tensor) -> Tensor:
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    hull = torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])
    return inter / union - (hull - union) / hull


def target_clips(span: Tensor, num_clips: int) -> Tensor:
    """Clips [i/n, (i+1)/n] inside a span on the clip grid: i = start*n .. end*n - 1."""
    first, end = round(float(span[0]) * num_clips), round(float(span[1]) * num_clips)
    inside = torch.zeros(num_clips, dtype=torch.bool)
    inside[first : max(end, first + 1)] = True
    return inside


def nll(logits: Tensor, inside: Tensor) -> Tensor:
    """Eq. (9) for one query: -log of the softmax mass on its target clips."""
    probabilities = torch.softmax(logits, -1)
    return -torch.log(probabilities[inside].sum())


def reference_losses(reference: Reference, samples: list[dict]) -> dict[str, Tensor]:
    """Every loss of eqs. (9)-(11), each a mean over all its terms in the batch."""
    terms: dict[str, list[Tensor]] = {}

    def add(key: str, value: Tensor) -> None:
        terms.setdefault(key, []).append(value)

    for sample in samples:
        out = reference.forward(sample["video"], sample["words"], sample["word_sentence"])
        spans, n_v = sample["spans"], len(sample["video"])
        clips = [target_clips(span, n_v) for span in spans]
        for w, s in enumerate(sample["word_sentence"].tolist()):
            add("loss_align_word", nll(out["align_word"][w], clips[s]))
        for s in range(len(spans)):
            add("loss_align_sentence", nll(out["align_sentence"][s], clips[s]))
        add("loss_align_paragraph", nll(out["align_paragraph"][0], torch.stack(clips).any(0)))
        hull = torch.stack([spans[:, 0].min(), spans[:, 1].max()])
        add("loss_paragraph_l1", (out["paragraph_span"] - hull).abs().sum())
        add("loss_paragraph_giou", 1 - giou(out["paragraph_span"], hull))
        for s, span in enumerate(spans):
            for key, pred in (("sentence", out["sentence_spans"][s]), ("grounding", out["pred_spans"][s])):
                add(f"loss_{key}_l1", (pred - span).abs().sum())
                add(f"loss_{key}_giou", 1 - giou(pred, span))
            words = out["word_spans"][s]
            words_hull = torch.stack([words[:, 0].min(), words[:, 1].max()])
            add("loss_word_union", (words_hull - span).abs().sum() + 1 - giou(words_hull, span))
            for word in words:  # eq. (10): hinge of each word span outside its sentence's
                add("loss_word_subset", (span[0] - word[0]).clamp(min=0) + (word[1] - span[1]).clamp(min=0))
    return {key: torch.stack(values).mean() for key, values in terms.items()}


def test_losses_and_gradients_equal_the_reference_equations():
    cfg = ModelConfig.preset("tiny", video_dim=VIDEO_DIM, word_dim=WORD_DIM, dropout=0.0)
    torch.manual_seed(0)
    model, criterion = build_model(cfg), build_criterion(cfg)
    generator = torch.Generator().manual_seed(1)
    shapes = [(12, [3, 1, 4]), (7, [2]), (10, [5, 2]), (9, [1, 3, 2, 2])]  # (clips, words per sentence)
    samples = [synthetic_paragraph(generator, n, lengths, VIDEO_DIM, WORD_DIM) for n, lengths in shapes]
    batch = collate_paragraphs(samples)

    model.train()
    losses = criterion(model(batch), batch)
    expected = reference_losses(Reference(model, cfg), samples)
    assert set(losses) == set(expected) == set(criterion.weight_dict)
    for key in expected:
        torch.testing.assert_close(losses[key], expected[key], rtol=1e-5, atol=1e-5, msg=key)

    names, parameters = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(sum(losses.values()), parameters, allow_unused=True)
    expected_grads = torch.autograd.grad(sum(expected.values()), parameters, allow_unused=True)
    for name, grad, expected_grad in zip(names, grads, expected_grads, strict=True):
        assert grad is not None and expected_grad is not None, name
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-5, msg=name)
