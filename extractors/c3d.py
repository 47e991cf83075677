"""C3D (Tran et al., 2015), the Sports-1M network used for VPG features, and its weight loading.

Two public weight formats load into the same network (layer names follow the converted Caffe
model, ``conv1 ... conv5b, fc6, fc7, fc8``):

* ``c3d-pickle``: the Sports-1M ``c3d.pickle`` of DavideA/c3d-pytorch, a state dict with keys
  ``conv1.weight ... fc8.bias`` (fc8: 487 Sports-1M classes). Every key and shape must match.
* ``mmaction2``: an mmaction2 C3D checkpoint, ``{"state_dict": {...}, "meta": ...}`` with keys
  ``backbone.conv1a.conv.weight ... backbone.fc7.bias`` (ConvModule wraps each conv as ``.conv``;
  ``conv1a``/``conv2a`` are our ``conv1``/``conv2``) plus an optional classifier
  ``cls_head.*``, which is ignored. A bare backbone state dict (keys without ``backbone.``) is
  accepted too. mmaction2 has no fc8; ours keeps its seeded initialisation and is never used.

Each format has its own input preprocessing (``PREPROCESSING``). Without weights (``--weights
random``) the network is randomly initialised from a seed, with a loud warning: such features only
make sense for the generated demo dataset. C3D has no official download: ``pretrained`` is refused.

Input preprocessing. Both weight formats were trained on frames resized to 128x171 (height x width,
aspect ratio not kept) and centre-cropped to 112x112, with pixel values in 0..255 and a per-channel
mean subtracted (no division by a standard deviation). They differ in channel order and mean:

* ``c3d-pickle``: the widely used ``c3d.pickle`` (DavideA/c3d-pytorch) is a direct conversion of
  the original Caffe Sports-1M model, whose data layer read frames with OpenCV, i.e. in BGR order,
  and subtracted the Sports-1M mean cube (``sports1m_train16_128_mean``, 3x16x128x171). We
  follow the original: BGR input minus the mean cube's per-channel means B=90.25, G=97.66,
  R=101.41 (the usual approximation of the cube in PyTorch C3D ports).
  Note that DavideA's own demo feeds RGB frames without any mean subtraction ("performances
  tested only qualitatively"); we do not copy that.
* ``mmaction2``: mmaction2's C3D configs (``c3d_sports1m_16x1x1_45e_ucf101_rgb``) decode RGB frames
  and normalise with ``mean=[104, 117, 128], std=[1, 1, 1], to_bgr=False``.
* ``random``: seeded random weights (demo only) use the ``c3d-pickle`` recipe.

Clips are 16 consecutive frames at the video's own frame rate, as C3D was trained on Sports-1M.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch
from torch import nn

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
from extractors.clips import CLIP_LEN
from hscnet.errors import InputError
from hscnet.fingerprint import sha256_file

log = logging.getLogger(__name__)

FEATURE_DIM = 4096
RESIZE = (128, 171)  # (height, width) frames are scaled to before cropping
CROP = 112
_SPORTS1M_BGR_MEAN = (90.25, 97.66, 101.41)
PREPROCESSING = {
    "c3d-pickle": FramePreprocessing(RESIZE, CROP, _SPORTS1M_BGR_MEAN, (1.0, 1.0, 1.0), "bgr", scale=1.0),
    "mmaction2": FramePreprocessing(RESIZE, CROP, (104.0, 117.0, 128.0), (1.0, 1.0, 1.0), "rgb", scale=1.0),
    RANDOM_WEIGHTS: FramePreprocessing(RESIZE, CROP, _SPORTS1M_BGR_MEAN, (1.0, 1.0, 1.0), "bgr", scale=1.0),
}


class C3D(nn.Module):
    """The original C3D: input (B, 3, 16, 112, 112) -> fc6/fc7 features (B, 4096) after ReLU."""

    def __init__(self, layer: str = "fc6"):
        super().__init__()
        if layer not in ("fc6", "fc7"):
            raise InputError(f"C3D feature layer must be fc6 or fc7, got {layer!r}")
        self.layer = layer

        def conv(cin: int, cout: int) -> nn.Conv3d:
            return nn.Conv3d(cin, cout, kernel_size=3, padding=1)

        self.conv1 = conv(3, 64)
        self.pool1 = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.conv2 = conv(64, 128)
        self.pool2 = nn.MaxPool3d(2, 2)
        self.conv3a = conv(128, 256)
        self.conv3b = conv(256, 256)
        self.pool3 = nn.MaxPool3d(2, 2)
        self.conv4a = conv(256, 512)
        self.conv4b = conv(512, 512)
        self.pool4 = nn.MaxPool3d(2, 2)
        self.conv5a = conv(512, 512)
        self.conv5b = conv(512, 512)
        self.pool5 = nn.MaxPool3d(2, 2, padding=(0, 1, 1))
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 487)  # Sports-1M classes; kept so full checkpoints load strictly
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 16, 112, 112) -> (B, 4096)
        r = self.relu
        x = self.pool1(r(self.conv1(x)))
        x = self.pool2(r(self.conv2(x)))
        x = self.pool3(r(self.conv3b(r(self.conv3a(x)))))
        x = self.pool4(r(self.conv4b(r(self.conv4a(x)))))
        x = self.pool5(r(self.conv5b(r(self.conv5a(x)))))  # (B, 512, 1, 4, 4)
        x = r(self.fc6(x.flatten(1)))
        if self.layer == "fc7":
            x = r(self.fc7(x))
        return x


# mmaction2 backbone module name -> our module name (others are identical, e.g. conv3a, fc6).
_MMACTION2_RENAMES = {"conv1a": "conv1", "conv2a": "conv2"}
_MMACTION2_CONV = re.compile(r"(?:backbone\.)?(?P<module>conv\w+)\.conv\.(?P<param>weight|bias)")
_MMACTION2_FC = re.compile(r"(?:backbone\.)?(?P<module>fc6|fc7)\.(?P<param>weight|bias)")


class C3DExtractor(Extractor):
    """C3D fc6 (``c3d``) or fc7 (``c3d_fc7``), 4096-d after ReLU, of 16 consecutive frames at 112x112."""

    feature_dim = FEATURE_DIM
    sampling = ClipSampling(CLIP_LEN)

    def __init__(self, layer: str = "fc6"):
        self.layer = layer
        self.name = "c3d" if layer == "fc6" else f"c3d_{layer}"
        self.description = f"C3D {layer} (Sports-1M c3d.pickle or an mmaction2 checkpoint)"

    def load(self, weights: str | None, seed: int = 0) -> Backbone:
        network, info = load_c3d(weights, self.layer, seed)
        return Backbone(
            self.name, FEATURE_DIM, self.sampling, PREPROCESSING[info.format], info, network, {"layer": self.layer}
        )


def load_c3d(weights: str | os.PathLike | None, layer: str = "fc6", seed: int = 0) -> tuple[C3D, WeightsInfo]:
    """C3D in eval mode with weights from ``weights`` (c3d.pickle or mmaction2 checkpoint), and their provenance.

    ``"random"`` gives a seeded random initialisation (demo use only, with a warning). The provenance's
    ``format`` ("c3d-pickle", "mmaction2" or "random") selects the input preprocessing; its ``id`` is the
    sha256 of the weights file or ``random-seed-<seed>``. Raises InputError naming the file for a
    missing, unreadable or mismatched checkpoint.
    """
    if weights in (None, PRETRAINED, NO_WEIGHTS):
        raise InputError(
            "C3D has no official download: pass the Sports-1M c3d.pickle (github.com/DavideA/c3d-pytorch) or an "
            "mmaction2 C3D checkpoint as the weights, or 'random' for a seeded random init (the demo only)"
        )
    if weights == RANDOM_WEIGHTS:
        info = WeightsInfo.random_init("C3D", seed)
        return seeded(lambda: C3D(layer), seed).eval(), info

    path = Path(weights)
    weights_format, state_dict = convert_state_dict(read_weights_file(path, "C3D"), path)
    model = seeded(lambda: C3D(layer), seed)  # seeded too: mmaction2 checkpoints leave fc8 at its init
    check_keys(model, state_dict, path, "C3D", skip=() if weights_format == "c3d-pickle" else ("fc8.",))
    model.load_state_dict(state_dict, strict=False)  # keys checked above; mmaction2 may omit fc8
    info = WeightsInfo(sha256_file(path), f"file {path.name}", weights_format)
    log.info("loaded C3D %s weights from %s (sha256 %s)", weights_format, path, info.id[:12])
    return model.eval(), info


def convert_state_dict(checkpoint: object, path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """Detect the weight format of a loaded checkpoint and return (format, state dict in our names)."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise InputError(f"{path}: not a C3D state dict (got {type(checkpoint).__name__})")
    non_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise InputError(f"{path}: state dict entries are not tensors: {', '.join(map(str, non_tensors[:5]))}")
    keys = list(state)
    if "conv1.weight" in state:
        return "c3d-pickle", dict(state)
    if any(k.endswith("conv1a.conv.weight") for k in keys):
        return "mmaction2", _rename_mmaction2(state, path)
    raise InputError(
        f"{path}: neither a c3d.pickle (conv1.weight ...) nor an mmaction2 C3D checkpoint "
        f"(backbone.conv1a.conv.weight ...); first keys: {', '.join(keys[:5])}"
    )


def _rename_mmaction2(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    renamed: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        if key.startswith("cls_head."):
            continue  # the fine-tuned classifier is not part of the feature network
        match = _MMACTION2_CONV.fullmatch(key) or _MMACTION2_FC.fullmatch(key)
        name = match and f"{_MMACTION2_RENAMES.get(match['module'], match['module'])}.{match['param']}"
        if name is None or name in renamed:  # unknown, or the same weight with and without "backbone."
            unexpected.append(key)
            continue
        renamed[name] = value
    if unexpected:
        raise InputError(f"{path}: unexpected keys in mmaction2 C3D checkpoint: {', '.join(unexpected)}")
    return renamed
