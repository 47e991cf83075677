"""The extractor interface: what every backbone declares, and the network that turns clips into rows.

An extractor (``Extractor``) is registered by name (``extractors.registry``) and declares, before any
weights are loaded:

* ``name`` and ``feature_dim``: what the feature store records, and the width of its rows;
* ``sampling`` (``ClipSampling``): frames per clip and the frame-rate policy (the video's own rate,
  consecutive frames, or frames taken at the rate the weights were trained at, a stride of
  ``round(video fps / rate)``);
* ``load(weights, seed) -> Backbone``: the network in eval mode with its frame ``preprocessing``
  (``FramePreprocessing``: frame size, crop, channel order, scale, mean and std; it may depend on the
  weights' format) and the weights' provenance (``WeightsInfo``: a file's sha256, or
  ``random-seed-<n>``).

``extractors.extract.FeatureExtractor`` runs any ``Backbone``: ``extract(video, clips) -> (T, D)``,
decoding frames at the backbone's size while the network runs, in the precision asked for.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from extractors.probe import VideoInfo
from hscnet.errors import InputError, MissingInputError

PRETRAINED = "pretrained"  # the --weights value of an extractor's official weights, where it has a download
RANDOM_WEIGHTS = "random"  # the --weights value of a seeded random initialisation
RANDOM_WEIGHTS_ID = "random-seed-"  # prefix of the store's ``weights`` attr for those
NO_WEIGHTS = "none"  # the --weights value and ``weights`` attr of an extractor without parameters (a histogram)


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    """Which frames make one clip: ``frames_per_clip`` of them, at ``fps`` (None: the video's own rate)."""

    frames_per_clip: int
    fps: float | None = None  # the rate the weights were trained at; frames are taken every round(video fps / fps)

    def stride(self, video_fps: float) -> int:
        """Frames between two frames of one clip in a video of ``video_fps`` (1: consecutive frames)."""
        if self.fps is None or not video_fps > 0:
            return 1
        return max(1, round(video_fps / self.fps))

    def window(self, video_fps: float) -> int:
        """Frames of the video one clip covers."""
        return self.frames_per_clip * self.stride(video_fps)

    def describe(self) -> str:
        rate = "the video's own rate (consecutive frames)" if self.fps is None else f"{self.fps:g} fps"
        return f"{self.frames_per_clip} frames per clip at {rate}"


@dataclasses.dataclass(frozen=True)
class FramePreprocessing:
    """How decoded RGB uint8 frames become the network's input.

    Frames are scaled by the decoder to ``resize`` ((height, width), or the shorter side with the aspect
    ratio kept), centre-cropped to ``crop`` x ``crop``, put in ``channel_order``, divided by ``scale`` and
    normalised with ``mean`` and ``std`` (given in input channel order).
    """

    resize: tuple[int, int] | int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "rgb"  # "rgb" or "bgr"
    scale: float = 255.0  # 255: values in 0..1, as torchvision's transforms; 1: values in 0..255, as Caffe

    def frame_size(self, info: VideoInfo) -> tuple[int, int]:
        """(height, width) the decoder scales the frames of ``info`` to."""
        if not isinstance(self.resize, int):
            return self.resize
        short, long = sorted((info.height, info.width))
        scaled = max(self.resize, round(self.resize * long / max(short, 1)))
        return (self.resize, scaled) if info.height <= info.width else (scaled, self.resize)

    def __call__(self, clips: np.ndarray) -> torch.Tensor:
        """RGB uint8 clips (B, T, H, W, 3) at ``frame_size`` -> network input (B, 3, T, crop, crop) float32."""
        if clips.ndim != 5 or clips.shape[-1] != 3 or min(clips.shape[2:4]) < self.crop:
            raise ValueError(f"expected clips (B, T, H >= {self.crop}, W >= {self.crop}, 3), got {clips.shape}")
        top = (clips.shape[2] - self.crop) // 2
        left = (clips.shape[3] - self.crop) // 2
        crop = clips[:, :, top : top + self.crop, left : left + self.crop, :]  # (B, T, crop, crop, 3)
        if self.channel_order == "bgr":
            crop = crop[..., ::-1]
        x = torch.from_numpy(np.ascontiguousarray(crop)).float()  # (B, T, crop, crop, 3)
        if self.scale != 1:
            x = x / self.scale
        x = (x - torch.tensor(self.mean)) / torch.tensor(self.std)
        return x.permute(0, 4, 1, 2, 3).contiguous()  # (B, 3, T, crop, crop)

    def describe(self) -> str:
        size = f"shorter side {self.resize}" if isinstance(self.resize, int) else "x".join(map(str, self.resize))
        values = "0-255" if self.scale == 1 else f"0-255 / {self.scale:g}"
        return (
            f"resize {size}, centre crop {self.crop}, {self.channel_order.upper()} {values}, "
            f"mean {list(self.mean)}, std {list(self.std)}"
        )


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's weights come from: ``id`` is the store's ``weights`` attr."""

    id: str  # sha256 of the weights file, random-seed-<n>, or none
    source: str  # for people: "random init, seed 0", "file c3d.pickle", "torchvision R3D_18_Weights.KINETICS400_V1"
    format: str = ""  # extractor-specific (C3D: c3d-pickle, mmaction2, random), selects preprocessing

    @property
    def random(self) -> bool:
        return self.id.startswith(RANDOM_WEIGHTS_ID)

    @classmethod
    def random_init(cls, name: str, seed: int) -> WeightsInfo:
        warnings.warn(
            f"{name} has no pretrained weights: using a seeded RANDOM initialisation (seed {seed}). "
            "Features are only meaningful for the generated demo dataset.",
            stacklevel=3,
        )
        return cls(f"{RANDOM_WEIGHTS_ID}{seed}", f"random init, seed {seed}", RANDOM_WEIGHTS)

    @classmethod
    def none(cls) -> WeightsInfo:
        """Of an extractor without parameters."""
        return cls(NO_WEIGHTS, "no weights", NO_WEIGHTS)


@dataclasses.dataclass
class Backbone:
    """A loaded extractor: ``network`` maps preprocessed clips (B, 3, T, crop, crop) to rows (B, feature_dim)."""

    name: str
    feature_dim: int
    sampling: ClipSampling
    preprocessing: FramePreprocessing
    weights: WeightsInfo
    network: nn.Module
    options: dict = dataclasses.field(default_factory=dict)  # extractor-specific settings recorded in the store

    def recipe(self) -> str:
        """The store's ``recipe`` attr: everything that decides the rows besides the weights, as JSON."""
        return json.dumps(
            {
                "frames_per_clip": self.sampling.frames_per_clip,
                "fps": self.sampling.fps,
                **dataclasses.asdict(self.preprocessing),
                **self.options,
            },
            sort_keys=True,
        )


class Extractor(abc.ABC):
    """One backbone of the registry: its declaration, and ``load`` to make the network."""

    name: str
    feature_dim: int
    sampling: ClipSampling
    description: str = ""  # one line for `hscnet extract-features --list`

    @abc.abstractmethod
    def load(self, weights: str | None, seed: int = 0) -> Backbone:
        """The network in eval mode. ``weights``: a file, ``"pretrained"`` (the official weights, where the
        extractor has some), ``"random"`` (a seeded random initialisation, with a warning) or ``"none"`` (an
        extractor without parameters)."""


def seeded(build, seed: int) -> nn.Module:
    """``build()`` with the RNG seeded, leaving the caller's global RNG as it was."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.random.set_rng_state(state)


def read_weights_file(path: str | os.PathLike, name: str) -> object:
    """A weights file loaded with ``weights_only`` (a checkpoint is data: no code from a downloaded pickle runs);
    MissingInputError or InputError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: {name} weights file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise InputError(
            f"{path}: cannot be read as a PyTorch checkpoint with weights_only=True ({err}). If it is a "
            "trusted checkpoint carrying extra metadata, save just its state dict and pass that file."
        ) from err


def check_keys(network: nn.Module, state: dict, path, name: str, skip: tuple[str, ...] = ()) -> None:
    """InputError listing every missing, unexpected and mis-shaped key of ``state`` against ``network``."""
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items() if not k.startswith(skip)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
        for k in expected
        if k in state and tuple(state[k].shape) != expected[k]
    ]
    problems = [
        f"{what}: {sep.join(keys)}"
        for what, keys, sep in (
            ("missing keys", missing, ", "),
            ("unexpected keys", unexpected, ", "),
            ("mis-shaped keys", misshaped, "; "),
        )
        if keys
    ]
    if problems:
        raise InputError(f"{path}: {name} weights do not match the network: " + " | ".join(problems))
