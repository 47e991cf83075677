"""Feature extraction with any registered backbone: video -> (N^V, D) clip features, a shard of videos -> HDF5.

Decoding streams: for each batch of clips the reader returns just the frames of those clips
(resized while decoding to the backbone's frame size), so memory is bounded by the batch size
whatever the video length. While the network runs on batch k, a background thread decodes and
preprocesses batch k+1 (decord, PyAV and PyTorch release the GIL), so decoding is hidden behind the
forward pass unless it is slower than it.

``FeatureExtractor.extract(video, clips)`` is the interface every extractor shares: rows (T, D) of the
clips given by their frame indices (T, frames per clip). ``extract_video(path)`` lays the clips out
itself and returns a dict in the style of v-iashin/video_features::

    {"features": (N^V, D) float32, "clip_spans": (N^V, 2) float64 seconds,
     "fps": float, "num_frames": int, "duration": float}
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import torch

from extractors import registry
from extractors.base import Backbone
from extractors.clip_index import IndexedVideo, lay_out_clips
from extractors.decode import open_frames
from extractors.probe import VideoInfo, check_video_file, probe_video_with_times
from extractors.store import write_file_attrs, write_video_features
from hscnet.device import autocast, resolve_device, resolve_precision
from hscnet.errors import InputError
from hscnet.io import atomic_path
from hscnet.progress import progress

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ExtractionStats:
    """Running totals of an extractor. ``decode_wait_s`` is the time the network sat idle waiting
    for a decoded batch (first batch of each video excluded): near zero when decoding is hidden."""

    clips: int = 0
    seconds: float = 0.0
    decode_wait_s: float = 0.0


class FeatureExtractor:
    """Clip features of whole videos with one backbone, batched on the GPU when present (CPU otherwise).

    ``precision`` "bf16"/"fp16" runs the network under autocast to that type ("auto": bf16 where the
    device computes it natively, see ``hscnet.device``) and ``channels_last`` keeps weights and
    inputs in the channels_last_3d memory layout (bench/README.md says when each helps); features
    are returned as float32 either way, and the store records both settings. ``decoder_threads`` is
    the number of FFmpeg decoding threads per video. ``stats`` accumulates clips, seconds and decoding
    stalls over all calls.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_clips: int = 256,
        batch_size: int = 8,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool = False,
        decoder_threads: int = 1,
    ):
        if num_clips < 1 or batch_size < 1:
            raise InputError(f"num_clips and batch_size must be positive, got {num_clips}, {batch_size}")
        self.backbone = backbone
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        self.network = backbone.network.to(self.device, memory_format=self.memory_format)
        self.num_clips = num_clips
        self.batch_size = batch_size
        self.decoder_threads = decoder_threads
        self.stats = ExtractionStats()

    @classmethod
    def named(cls, name: str, weights: str | None, seed: int = 0, **settings) -> FeatureExtractor:
        """The registry's extractor ``name`` with ``weights`` (a file, "pretrained" or "random")."""
        return cls(registry.get(name).load(weights, seed), **settings)

    @property
    def file_attrs(self) -> dict:
        """File attrs of a feature store written by this extractor (see ``extractors.store``)."""
        backbone = self.backbone
        return {
            "extractor": backbone.name,
            "weights": backbone.weights.id,
            "weights_source": backbone.weights.source,
            "weights_format": backbone.weights.format,
            "source": "video",
            "num_clips": self.num_clips,
            "feature_dim": backbone.feature_dim,
            "preprocessing": f"{backbone.weights.format}: {backbone.preprocessing.describe()}",
            "recipe": backbone.recipe(),
            "precision": self.precision,
            "layout": "channels_last_3d" if self.memory_format == torch.channels_last_3d else "contiguous",
        }

    def describe(self) -> str:
        """For the log: what runs, where and in which precision."""
        return (
            f"{self.backbone.name} ({self.backbone.weights.source}; {self.backbone.sampling.describe()}) "
            f"on {self.device} in {self.precision}"
        )

    def extract_video(self, path: str | os.PathLike, backend: str = "auto") -> dict[str, np.ndarray]:
        """Probe ``path``, lay ``num_clips`` clips out uniformly in time and return their features."""
        info, frame_times = probe_video_with_times(path, backend=backend)
        sampling = self.backbone.sampling
        video = lay_out_clips(str(path), info, frame_times, self.num_clips, sampling)
        with progress(total=self.num_clips, desc=os.path.basename(info.path), unit="clip", leave=False) as bar:
            features = self.extract(info, video.frame_indices(sampling.frames_per_clip), bar.update)
        return {
            "features": features,
            "clip_spans": video.clip_spans,
            "fps": info.fps,
            "num_frames": info.num_frames,
            "duration": info.duration,
        }

    def extract(
        self, info: VideoInfo, clips: np.ndarray, on_batch: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Features (T, D) float32 of T clips given by their frame indices (T, frames per clip), rows
        non-decreasing."""
        batches = [clips[i : i + self.batch_size] for i in range(0, len(clips), self.batch_size)]
        preprocessing = self.backbone.preprocessing
        reader = open_frames(info, preprocessing.frame_size(info), num_threads=self.decoder_threads)
        pin = self.device.type == "cuda"

        def load(batch: np.ndarray) -> torch.Tensor:  # (b, L) frame indices -> (b, 3, L, crop, crop)
            unique, inverse = np.unique(batch, return_inverse=True)
            frames = reader.read(unique)  # (U, H, W, 3)
            x = preprocessing(frames[inverse.reshape(batch.shape)])
            return x.pin_memory() if pin else x

        outputs = []
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
                pending = pool.submit(load, batches[0])
                for k in range(len(batches)):
                    waiting = time.perf_counter()
                    x = pending.result()
                    if k > 0:  # the first batch cannot overlap anything
                        self.stats.decode_wait_s += time.perf_counter() - waiting
                    if k + 1 < len(batches):
                        pending = pool.submit(load, batches[k + 1])  # decode ahead while the network runs
                    outputs.append(self.forward(x))
                    if on_batch is not None:
                        on_batch(len(x))
        finally:
            reader.close()
        self.stats.clips += len(clips)
        self.stats.seconds += time.perf_counter() - started
        return np.concatenate(outputs).astype(np.float32, copy=False)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> np.ndarray:
        """Features (b, D) float32 of preprocessed clips (b, 3, L, crop, crop)."""
        x = x.to(self.device, memory_format=self.memory_format, non_blocking=True)
        with autocast(self.device, self.precision):
            features = self.network(x)
        return features.float().cpu().numpy()


def extract_shard(
    videos: Sequence[IndexedVideo], num_clips: int, output: str | os.PathLike, extractor: FeatureExtractor
) -> None:
    """Extract every video of a clip index into the feature store ``output`` (atomic)."""
    if extractor.num_clips != num_clips:
        raise InputError(f"extractor samples {extractor.num_clips} clips but the clip index has {num_clips}")
    for video in videos:  # fail fast, before hours of extraction, on files changed since indexing
        path = check_video_file(video.info.path)
        if path.stat().st_size != video.info.size_bytes:
            raise InputError(f"{path}: file size changed since the clip index was built; rebuild it")
    log.info("extracting %d videos with %s", len(videos), extractor.describe())
    frames_per_clip = extractor.backbone.sampling.frames_per_clip
    before = dataclasses.replace(extractor.stats)
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        write_file_attrs(h5, extractor.file_attrs)
        with progress(total=len(videos) * num_clips, desc=extractor.backbone.name, unit="clip") as bar:
            for video in videos:
                bar.set_postfix_str(video.video_id)
                features = extractor.extract(video.info, video.frame_indices(frames_per_clip), bar.update)
                write_video_features(
                    h5,
                    video.video_id,
                    features,
                    fps=video.info.fps,
                    num_frames=video.info.num_frames,
                    duration=video.info.duration,
                    clip_spans=video.clip_spans,
                    source=video.info.path,
                )
    clips = extractor.stats.clips - before.clips
    seconds = max(extractor.stats.seconds - before.seconds, 1e-9)
    waited = extractor.stats.decode_wait_s - before.decode_wait_s
    log.info(
        "wrote %s features of %d videos to %s in %s: %d clips in %.0f s (%.2f clips/s); the network waited "
        "for decoding %.1f%% of the time",
        extractor.backbone.name,
        len(videos),
        output,
        extractor.precision,
        clips,
        seconds,
        clips / seconds,
        100 * waited / seconds,
    )
