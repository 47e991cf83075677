"""HSCNet: feature encoders + hierarchical multi-modal encoder + hierarchical progressive decoder."""

from __future__ import annotations

from torch import Tensor, nn

from hscnet.model.batch import validate_batch
from hscnet.model.config import ModelConfig
from hscnet.model.decoder import HierarchicalDecoder
from hscnet.model.encoder import HierarchicalEncoder


class HSCNet(nn.Module):
    """The network of sec. 3 (Figure 2), with the ablation switches of ``ModelConfig``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = HierarchicalEncoder(cfg)
        self.decoder = HierarchicalDecoder(cfg)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Model batch (see ``hscnet.model.batch``) -> outputs:

        pred_spans (B, N_S, 2) final normalised (start, end); sentence_spans (B, N_S, 2);
        paragraph_span (B, 2) with the paragraph decoder; word_spans (B, N_S, M, 2) and
        word_span_mask (B, N_S, M) with the word decoder; for each enabled level the similarity
        logits align_word (B, N_W, N_V), align_sentence (B, N_S, N_V), align_paragraph (B, 1, N_V)
        (-inf on padded clips). Rows of padded sentences are zeros.
        """
        validate_batch(batch)
        if batch["video"].shape[-1] != self.cfg.video_dim or batch["words"].shape[-1] != self.cfg.word_dim:
            raise ValueError(
                f"batch features are {batch['video'].shape[-1]}-d video / {batch['words'].shape[-1]}-d words; "
                f"the model expects video_dim={self.cfg.video_dim}, word_dim={self.cfg.word_dim}"
            )
        encoded = self.encoder(batch)
        out = self.decoder(encoded, batch)
        out.update({k: v for k, v in encoded.items() if k.startswith("align_")})
        return out


def build_model(cfg: ModelConfig) -> HSCNet:
    """The HSCNet of ``cfg``; call ``torch.manual_seed`` first for a reproducible initialisation."""
    return HSCNet(cfg)
