"""The HSCNet model (sec. 3 of the paper) and its losses, as plain PyTorch on feature tensors.

cfg = ModelConfig.preset("tacos")            # or ablation_config(cfg, table=2, row="SL+PL")
model, criterion = build_model(cfg), build_criterion(cfg)
outputs = model(batch)                        # batch: see hscnet.model.batch
losses = criterion(outputs, batch)
loss = total_loss(losses, criterion.weight_dict)
"""

from hscnet.ablations import ABLATION_TABLES
from hscnet.model.batch import collate_paragraphs, validate_batch
from hscnet.model.config import PRESETS, ModelConfig, ablation_config
from hscnet.model.criterion import LOSS_KEYS, HSCNetCriterion, build_criterion, total_loss
from hscnet.model.network import HSCNet, build_model

__all__ = [
    "ABLATION_TABLES",
    "LOSS_KEYS",
    "PRESETS",
    "HSCNet",
    "HSCNetCriterion",
    "ModelConfig",
    "ablation_config",
    "build_criterion",
    "build_model",
    "collate_paragraphs",
    "total_loss",
    "validate_batch",
]
