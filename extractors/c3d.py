"""C3D (Tran et al., 2015), the Sports-1M network used for VPG features.

OWNERSHIP NOTE (remove when done): initial network by the lead; the extractor helper completes
weight loading (c3d.pickle, mmaction2), key/shape checks, preprocessing and ``extract``.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

log = logging.getLogger(__name__)

FEATURE_DIM = 4096


class C3D(nn.Module):
    """The original C3D: input (B, 3, 16, 112, 112) -> fc6/fc7 features (B, 4096) after ReLU."""

    def __init__(self, layer: str = "fc6"):
        super().__init__()
        if layer not in ("fc6", "fc7"):
            raise ValueError(f"C3D feature layer must be fc6 or fc7, got {layer!r}")
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


def load_c3d(weights_path: str | None = None, layer: str = "fc6", seed: int = 0) -> C3D:
    """Return C3D in eval mode. ``weights_path=None`` gives a seeded random init (demo use only)."""
    if weights_path is not None:
        raise NotImplementedError("weight loading is being written")
    warnings.warn(
        "C3D has no pretrained weights: using a seeded RANDOM initialisation. "
        "Features are only meaningful for the generated demo dataset.",
        stacklevel=2,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = C3D(layer)
    torch.random.set_rng_state(generator_state)
    return model.eval()
