"""C3D feature extraction: video -> (N^V, 4096) clip features, and a shard of videos -> HDF5.

Decoding streams: for each batch of clips the reader returns just the frames of those clips
(resized while decoding), so memory is bounded by the batch size whatever the video length.
While the network runs on batch k, a background thread decodes and preprocesses batch k+1
(decord, PyAV and PyTorch release the GIL), so decoding is hidden behind the forward pass
unless it is slower than it.

``C3DExtractor.extract(path)`` returns a dict in the style of v-iashin/video_features::

    {"features": (N^V, 4096) float32, "clip_spans": (N^V, 2) float64 seconds,
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

from extractors.c3d import FEATURE_DIM, load_c3d
from extractors.clip_index import IndexedVideo, clip_layout
from extractors.clips import clip_frame_indices
from extractors.decode import open_frames
from extractors.preprocess import PREPROCESSING, RESIZE, preprocess_clips
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


class C3DExtractor:
    """C3D clip features of whole videos, batched on the GPU when present (CPU otherwise).

    ``precision`` "bf16"/"fp16" runs the network under autocast to that type ("auto": bf16 where the
    device computes it natively, see ``hscnet.device``) and ``channels_last`` keeps weights and
    inputs in the channels_last_3d memory layout (bench/README.md says when each helps); features
    are returned as float32 either way, and the store records both settings. ``decoder_threads`` is
    the number of FFmpeg decoding threads per video.
    ``stats`` accumulates clips, seconds and decoding stalls over all calls.
    """

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        layer: str = "fc6",
        num_clips: int = 256,
        batch_size: int = 8,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool = False,
        seed: int = 0,
        decoder_threads: int = 1,
    ):
        if num_clips < 1 or batch_size < 1:
            raise InputError(f"num_clips and batch_size must be positive, got {num_clips}, {batch_size}")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        self.model = load_c3d(weights_path, layer=layer, seed=seed).to(self.device, memory_format=self.memory_format)
        self.preprocessing = PREPROCESSING[self.model.weights_format]
        self.layer = layer
        self.num_clips = num_clips
        self.batch_size = batch_size
        self.decoder_threads = decoder_threads
        self.stats = ExtractionStats()

    @property
    def file_attrs(self) -> dict:
        """File attrs of a feature store written by this extractor (see ``extractors.store``)."""
        return {
            "extractor": f"c3d-{self.layer}",
            "weights": self.model.weights_id,
            "source": "video",
            "num_clips": self.num_clips,
            "feature_dim": FEATURE_DIM,
            "preprocessing": f"{self.model.weights_format}: {self.preprocessing.describe()}",
            "precision": self.precision,
            "layout": "channels_last_3d" if self.memory_format == torch.channels_last_3d else "contiguous",
        }

    def extract(self, path: str | os.PathLike, backend: str = "auto") -> dict[str, np.ndarray]:
        """Probe ``path``, sample ``num_clips`` clips uniformly in time and return their features."""
        info, frame_times = probe_video_with_times(path, backend=backend)
        starts, spans = clip_layout(info, frame_times, self.num_clips)
        with progress(total=self.num_clips, desc=os.path.basename(info.path), unit="clip", leave=False) as bar:
            features = self.extract_clips(info, starts, bar.update)
        return {
            "features": features,
            "clip_spans": spans,
            "fps": info.fps,
            "num_frames": info.num_frames,
            "duration": info.duration,
        }

    def extract_clips(
        self, info: VideoInfo, starts: np.ndarray, on_batch: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Features (len(starts), 4096) float32 of the 16-frame clips starting at ``starts``."""
        return self.extract_frames(info, clip_frame_indices(starts, info.num_frames), on_batch)

    def extract_frames(
        self, info: VideoInfo, frame_indices: np.ndarray, on_batch: Callable[[int], object] | None = None
    ) -> np.ndarray:
        """Features (N, 4096) float32 of N clips given by their frame indices (N, 16), rows non-decreasing."""
        batches = [frame_indices[i : i + self.batch_size] for i in range(0, len(frame_indices), self.batch_size)]
        reader = open_frames(info, RESIZE, num_threads=self.decoder_threads)
        pin = self.device.type == "cuda"

        def load(batch: np.ndarray) -> torch.Tensor:  # (b, 16) frame indices -> (b, 3, 16, 112, 112)
            unique, inverse = np.unique(batch, return_inverse=True)
            frames = reader.read(unique)  # (U, 128, 171, 3)
            x = preprocess_clips(frames[inverse.reshape(batch.shape)], self.preprocessing)
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
        self.stats.clips += len(frame_indices)
        self.stats.seconds += time.perf_counter() - started
        return np.concatenate(outputs).astype(np.float32, copy=False)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> np.ndarray:
        """Features (b, 4096) float32 of preprocessed clips (b, 3, 16, 112, 112)."""
        x = x.to(self.device, memory_format=self.memory_format, non_blocking=True)
        with autocast(self.device, self.precision):
            features = self.model(x)
        return features.float().cpu().numpy()


def extract_shard(
    videos: Sequence[IndexedVideo], num_clips: int, output: str | os.PathLike, extractor: C3DExtractor
) -> None:
    """Extract every video of a clip index into the feature store ``output`` (atomic)."""
    if extractor.num_clips != num_clips:
        raise InputError(f"extractor samples {extractor.num_clips} clips but the clip index has {num_clips}")
    for video in videos:  # fail fast, before hours of extraction, on files changed since indexing
        path = check_video_file(video.info.path)
        if path.stat().st_size != video.info.size_bytes:
            raise InputError(f"{path}: file size changed since the clip index was built; rebuild it")
    before = dataclasses.replace(extractor.stats)
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        write_file_attrs(h5, extractor.file_attrs)
        with progress(total=len(videos) * num_clips, desc="c3d", unit="clip") as bar:
            for video in videos:
                bar.set_postfix_str(video.video_id)
                features = extractor.extract_clips(video.info, video.clip_starts, bar.update)
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
        "wrote C3D features of %d videos to %s: %d clips in %.0f s (%.2f clips/s); the network waited "
        "for decoding %.1f%% of the time",
        len(videos),
        output,
        clips,
        seconds,
        clips / seconds,
        100 * waited / seconds,
    )
