"""torchvision's video classification models as extractors: features of the layer before the classifier.

Each entry reads its recipe from its Kinetics-400 weights (``torchvision.models.video``): frame size,
crop and normalisation from ``weights.transforms()``, and the clip length and frame rate the weights
were evaluated with from the weights' own documentation (``frame_rate=15``, ``clip_len=16``).

Weights (``--weights``):

* ``pretrained``: the official Kinetics-400 weights through torchvision's weights API
  (``weights.get_state_dict()``): downloaded once into torch's hub cache (``$TORCH_HOME``), or read from
  it when already there, as on a machine without network where the file was copied in;
* a file: a state dict of the same network (``torch.save(model.state_dict(), path)``, or the hub file
  itself), loaded with every key and shape checked;
* ``random``: a seeded random initialisation, with a warning (the generated demo only).

The classifier is replaced by the identity, so the rows are what it would have read: the pooled
512-d output of r3d_18/mc3_18/r2plus1d_18, S3D's 1024-d average over time and space, MViT's 768-d
class token after the final norm, Swin3D's 768-d average.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import torch
from torch import nn
from torchvision.models import video
from torchvision.models._api import WeightsEnum

from extractors.base import (
    NO_WEIGHTS,
    PRETRAINED,
    RANDOM_WEIGHTS,
    Backbone,
    ClipSampling,
    Extractor,
    FramePreprocessing,
    WeightsInfo,
    check_keys,
    read_weights_file,
    seeded,
)
from hscnet.errors import InputError, MissingInputError
from hscnet.fingerprint import sha256_file

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TorchvisionModel:
    """One model: its builder, its Kinetics-400 weights and the attribute that holds its classifier."""

    builder: Callable[..., nn.Module]
    weights: WeightsEnum
    classifier: str
    feature_dim: int


def _documented(weights: WeightsEnum, name: str) -> str:
    match = re.search(rf"`{name}=([0-9.]+)`", weights.meta["_docs"])
    if match is None:
        raise RuntimeError(f"{weights}: its documentation gives no {name}")  # a torchvision we were not written for
    return match[1]


class TorchvisionExtractor(Extractor):
    """A torchvision video model, its recipe read from its weights."""

    def __init__(self, name: str, model: TorchvisionModel):
        self.name, self.model = name, model
        self.feature_dim = model.feature_dim
        fps = float(_documented(model.weights, "frame_rate"))
        self.sampling = ClipSampling(int(_documented(model.weights, "clip_len")), fps)
        self.description = f"torchvision {name}, {model.weights} ({model.classifier} removed)"

    def preprocessing(self) -> FramePreprocessing:
        transforms = self.model.weights.transforms()
        resize = transforms.resize_size
        return FramePreprocessing(
            resize[0] if len(resize) == 1 else tuple(resize),
            transforms.crop_size[0],
            tuple(transforms.mean),
            tuple(transforms.std),
        )

    def load(self, weights: str | None, seed: int = 0) -> Backbone:
        if weights == NO_WEIGHTS:
            raise InputError(f"{self.name} has no weights-free mode: pass pretrained, a state_dict file or random")
        network = seeded(lambda: self.model.builder(weights=None), seed)
        if weights == RANDOM_WEIGHTS:
            info = WeightsInfo.random_init(self.name, seed)
        else:
            state, info = self._state_dict(weights)
            check_keys(network, state, info.source, self.name)
            network.load_state_dict(state)
        setattr(network, self.model.classifier, nn.Identity())  # rows: what the classifier would have read
        return Backbone(self.name, self.feature_dim, self.sampling, self.preprocessing(), info, network.eval())

    def _state_dict(self, weights: str | None) -> tuple[dict, WeightsInfo]:
        if weights in (None, PRETRAINED):
            official = self.model.weights
            cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(official.url)
            try:
                state = official.get_state_dict(progress=False)  # torch hub: the cached file, or a download
            except (URLError, OSError) as err:
                raise MissingInputError(
                    f"{cached}: {self.name}'s {official} weights are not in torch's hub cache and cannot be "
                    f"downloaded ({err}); copy {official.url} there, or pass a state_dict file as the weights"
                ) from err
            log.info("%s: %s from %s", self.name, official, cached)
            return state, WeightsInfo(sha256_file(cached), f"torchvision {official}", PRETRAINED)
        path = Path(weights)
        state = read_weights_file(path, self.name)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError(f"{path}: not a state dict of tensors (got {type(state).__name__})")
        return state, WeightsInfo(sha256_file(path), f"file {path.name}", "state-dict")


MODELS = {
    "r3d_18": TorchvisionModel(video.r3d_18, video.R3D_18_Weights.KINETICS400_V1, "fc", 512),
    "mc3_18": TorchvisionModel(video.mc3_18, video.MC3_18_Weights.KINETICS400_V1, "fc", 512),
    "r2plus1d_18": TorchvisionModel(video.r2plus1d_18, video.R2Plus1D_18_Weights.KINETICS400_V1, "fc", 512),
    "s3d": TorchvisionModel(video.s3d, video.S3D_Weights.KINETICS400_V1, "classifier", 1024),
    "mvit_v1_b": TorchvisionModel(video.mvit_v1_b, video.MViT_V1_B_Weights.KINETICS400_V1, "head", 768),
    "mvit_v2_s": TorchvisionModel(video.mvit_v2_s, video.MViT_V2_S_Weights.KINETICS400_V1, "head", 768),
    "swin3d_t": TorchvisionModel(video.swin3d_t, video.Swin3D_T_Weights.KINETICS400_V1, "head", 768),
    "swin3d_s": TorchvisionModel(video.swin3d_s, video.Swin3D_S_Weights.KINETICS400_V1, "head", 768),
    "swin3d_b": TorchvisionModel(video.swin3d_b, video.Swin3D_B_Weights.KINETICS400_V1, "head", 1024),
}
