"""Learnability check of a generated demo dataset: can random-init C3D fc6 features tell events apart?

For clips of 16 frames lying inside events, fc6 features of a seeded random C3D are computed and
a linear probe (multinomial logistic regression) is trained to predict the event's colour, its
action and, for moves, its direction. Accuracy is cross-validated over videos (no video is in both
the probe's training and test folds) and set against the majority-class baseline of each fold.

    hscnet demo-probe data/demo [--videos 30] [--clips-per-event 1] [--out probe.json]
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from hscnet.io import atomic_path, read_json
from hscnet.progress import progress

log = logging.getLogger(__name__)

CLIP_FRAMES = 16
FEATURE_DIM = 4096
TASKS = ("colour", "action", "direction")


@dataclass(frozen=True)
class ProbeClip:
    """16 frames [first_frame, first_frame + 16) of a video inside one event, with the event's labels.

    ``colour`` is None for recolour events (the colour changes during the clip); ``direction`` is
    None for events other than moves.
    """

    video: str
    first_frame: int
    action: str
    colour: str | None
    direction: str | None


def select_clips(events_json: dict, videos: list[str], clips_per_event: int = 1) -> list[ProbeClip]:
    """Clips inside each event of ``videos``: centred (1) or at the event's start and end (2)."""
    if clips_per_event not in (1, 2):
        raise ValueError(f"clips_per_event must be 1 or 2, got {clips_per_event}")
    fps = events_json["fps"]
    clips = []
    for video in videos:
        info = events_json["videos"][video]
        last_start = info["num_frames"] - CLIP_FRAMES
        for event in info["events"]:
            first, stop = math.ceil(event["start"] * fps), math.floor(event["end"] * fps)
            if clips_per_event == 2 and stop - first >= CLIP_FRAMES + 4:
                starts = [first, stop - CLIP_FRAMES]
            else:  # centred; an event shorter than a clip then shares it with its gaps
                starts = [(first + stop) // 2 - CLIP_FRAMES // 2]
            for start in starts:
                clips.append(
                    ProbeClip(
                        video=video,
                        first_frame=int(min(max(start, 0), last_start)),
                        action=event["action"],
                        colour=None if event["action"] == "recolour" else event["colour"],
                        direction=event["detail"] if event["action"] == "move" else None,
                    )
                )
    return clips


def clip_features(dataset_dir: Path, clips: list[ProbeClip], batch_size: int = 8, seed: int = 0) -> np.ndarray:
    """fc6 features (N, 4096) float32 of ``clips``, computed exactly as the pipeline's C3D stage does.

    The project's extractor (decoding, resize to 128 x 171, centre crop, mean subtraction, seeded
    random-init C3D) is run on the probe's clip start frames instead of its uniform ones.
    """
    from extractors.clips import clip_frame_indices
    from extractors.extract import FeatureExtractor
    from extractors.probe import probe_video

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="C3D has no pretrained weights")
        extractor = FeatureExtractor.named("c3d", "random", seed, batch_size=batch_size)
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        by_video[clip.video].append(i)
    features = np.empty((len(clips), FEATURE_DIM), dtype=np.float32)
    for video, indices in progress(by_video.items(), desc="C3D fc6", unit="video"):
        info = probe_video(dataset_dir / "videos" / f"{video}.mp4")
        starts = np.array([clips[i].first_frame for i in indices])
        order = np.argsort(starts, kind="stable")  # the streaming decoder reads forwards
        frames = clip_frame_indices(starts[order], info.num_frames)
        features[np.asarray(indices)[order]] = extractor.extract(info, frames)
    return features


def _fit_logistic(x: np.ndarray, y: np.ndarray, num_classes: int, weight_decay: float) -> torch.nn.Linear:
    """Multinomial logistic regression with an L2 penalty, fitted by full-batch L-BFGS."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(x.shape[1], num_classes)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = F.cross_entropy(layer(xt), yt) + weight_decay * layer.weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return layer


def probe_accuracy(
    features: np.ndarray, labels: list[str], groups: list[str], num_folds: int = 5, weight_decay: float = 1e-3
) -> dict:
    """Cross-validated linear-probe accuracy, folds by group (video), and the majority baseline.

    Returns {"accuracy", "majority_baseline", "uniform_chance", "num_clips", "classes"}.
    """
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    unique_groups = sorted(set(groups))
    if len(unique_groups) < 2:
        raise ValueError(f"a video-wise probe needs clips of at least 2 videos, got {len(unique_groups)}")
    fold_of_group = {g: i % num_folds for i, g in enumerate(unique_groups)}
    fold = np.array([fold_of_group[g] for g in groups])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only add synchronisation (10x slower on a busy CPU)
    try:
        correct, majority_correct = _cross_validate(features, y, fold, len(classes), weight_decay)
    finally:
        torch.set_num_threads(threads)
    return {
        "accuracy": correct / len(y),
        "majority_baseline": majority_correct / len(y),
        "uniform_chance": 1.0 / len(classes),
        "num_clips": len(y),
        "classes": classes,
    }


def _cross_validate(
    features: np.ndarray, y: np.ndarray, fold: np.ndarray, num_classes: int, weight_decay: float
) -> tuple[int, int]:
    """Correct predictions of the probe and of the majority class, summed over the folds."""
    correct = majority_correct = 0
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        # One scale for all dimensions: per-dimension z-scores would blow up the many fc6 units
        # that are almost always zero after the ReLU.
        mean, std = features[train].mean(0), features[train].std() + 1e-6
        layer = _fit_logistic(((features[train] - mean) / std).astype(np.float32), y[train], num_classes, weight_decay)
        with torch.no_grad():
            pred = layer(torch.from_numpy(((features[test] - mean) / std).astype(np.float32))).argmax(1).numpy()
        correct += int((pred == y[test]).sum())
        majority_correct += int((y[test] == np.bincount(y[train], minlength=num_classes).argmax()).sum())
    return correct, majority_correct


def run_probe(
    dataset_dir: str | Path,
    num_videos: int | None = None,
    clips_per_event: int = 1,
    features_path: str | Path | None = None,
) -> dict:
    """Probe the first ``num_videos`` videos (all by default) of a generated dataset; {task: result}.

    ``features_path``: also save the clips' features and labels there (.npz) for further analysis.
    """
    dataset_dir = Path(dataset_dir)
    events_json = read_json(dataset_dir / "events.json")
    videos = sorted(events_json["videos"])[:num_videos]
    clips = select_clips(events_json, videos, clips_per_event)
    log.info("probing %d clips of %d videos", len(clips), len(videos))
    features = clip_features(dataset_dir, clips)
    if features_path is not None:
        with atomic_path(features_path) as tmp:
            labels = [[c.video, str(c.first_frame), c.action, c.colour or "", c.direction or ""] for c in clips]
            np.savez(tmp, features=features, clips=np.array(labels, dtype=str))  # "" = not applicable
    results = {}
    for task in TASKS:
        keep = [i for i, c in enumerate(clips) if getattr(c, task) is not None]
        results[task] = probe_accuracy(
            features[keep], [getattr(clips[i], task) for i in keep], [clips[i].video for i in keep]
        )
    return results
