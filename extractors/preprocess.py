"""C3D input preprocessing, which depends on where the weights come from.

Both weight formats were trained on frames resized to 128x171 (height x width, aspect ratio not
kept) and centre-cropped to 112x112, with pixel values in 0..255 and a per-channel mean
subtracted (no division by a standard deviation). They differ in channel order and mean:

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

``preprocess_clips`` does the crop, channel order and mean on frames already resized by the
decoder (see ``extractors.decode``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

RESIZE = (128, 171)  # (height, width) frames are scaled to before cropping
CROP = 112


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Channel order and normalisation of one weight format; values are in input channel order."""

    channel_order: str  # "rgb" or "bgr": order of the network's input channels
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def describe(self) -> str:
        return (
            f"resize {RESIZE[0]}x{RESIZE[1]}, centre crop {CROP}, {self.channel_order.upper()} 0-255, "
            f"mean {list(self.mean)}, std {list(self.std)}"
        )


PREPROCESSING = {
    "c3d-pickle": Preprocessing("bgr", (90.25, 97.66, 101.41), (1.0, 1.0, 1.0)),
    "mmaction2": Preprocessing("rgb", (104.0, 117.0, 128.0), (1.0, 1.0, 1.0)),
    "random": Preprocessing("bgr", (90.25, 97.66, 101.41), (1.0, 1.0, 1.0)),
}


def preprocess_clips(clips: np.ndarray, recipe: Preprocessing) -> torch.Tensor:
    """RGB uint8 clips (B, T, 128, 171, 3) -> normalised network input (B, 3, T, 112, 112) float32."""
    if clips.ndim != 5 or clips.shape[2:] != (*RESIZE, 3):
        raise ValueError(f"expected clips of shape (B, T, {RESIZE[0]}, {RESIZE[1]}, 3), got {clips.shape}")
    top = (RESIZE[0] - CROP) // 2
    left = (RESIZE[1] - CROP) // 2
    crop = clips[:, :, top : top + CROP, left : left + CROP, :]  # (B, T, 112, 112, 3)
    if recipe.channel_order == "bgr":
        crop = crop[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(crop)).float()  # (B, T, 112, 112, 3)
    x = (x - torch.tensor(recipe.mean)) / torch.tensor(recipe.std)
    return x.permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, 112, 112)
