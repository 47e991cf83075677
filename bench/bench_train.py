"""Benchmark: one training epoch and one evaluation pass at TACoS size, on synthetic features.

TACoS (PRVG paragraph split): 1526 train paragraphs over 75 videos, 673 test paragraphs over 25 videos,
~6.4 sentences of ~9 words per paragraph, 512 clips x 4096-d C3D fc6 per video, 300-d GloVe, the
``tacos`` preset (C1 = C2 = C3 = 3, D = 256, batch 16). The features are random: speed and memory do
not depend on their values.

    python bench/bench_train.py --workdir /tmp/hscnet-bench [--device auto] [--precision bf16] [--max-batches N]

The data (~850 MB of HDF5) is generated once into WORKDIR by a child process, so the reported peak
RSS is that of training/evaluation only. Prints one JSON object with the timings (s), batches per
second, peak RSS (MiB; and peak CUDA memory on a GPU), the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import h5py
import numpy as np
import presets  # also puts the checkout on sys.path
import torch

from hscnet.data.annotations import load_normalised
from hscnet.data.dataset import ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.device import PRECISIONS, autocast, resolve_device, resolve_precision
from hscnet.inference import predict
from hscnet.metrics import parse_predictions, score
from hscnet.model import ModelConfig
from hscnet.resume import seed_everything
from hscnet.train import build_training, train_one_epoch
from hscnet.training_config import TrainConfig

TACOS = {"train": (1526, 75), "test": (673, 25)}  # split: (paragraphs, videos)


def generate(workdir: Path, num_clips: int, video_dim: int, word_dim: int, scale: float = 1.0, seed: int = 0) -> None:
    """Write train/test paragraph JSON, features.h5 and text.h5 of TACoS size (times ``scale``) into ``workdir``."""
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    with h5py.File(workdir / "features.h5", "w") as feats, h5py.File(workdir / "text.h5", "w") as text:
        feats.attrs.update(
            extractor="c3d",
            weights="random-seed-0",
            source="video",
            num_clips=num_clips,
            feature_dim=video_dim,
            preprocessing="synthetic",
        )
        text.attrs.update(dim=word_dim, oov="zero", source="synthetic", vectors_format="synthetic")
        for split, sizes in TACOS.items():
            num_paragraphs, num_videos = (max(1, round(n * scale)) for n in sizes)
            durations = rng.uniform(60, 600, size=num_videos)  # TACoS videos average 4.8 min
            for v in range(num_videos):
                video = f"{split}_s{v:02d}.avi"
                ds = feats.create_dataset(video, data=rng.standard_normal((num_clips, video_dim), dtype=np.float32))
                ds.attrs.update(duration=durations[v], fps=29.4, num_frames=int(durations[v] * 29.4))
            paragraphs = []
            for n in range(num_paragraphs):
                v = n % num_videos
                duration = float(durations[v])
                num_sentences = int(rng.integers(1, 10))  # 1..9, mean ~5; TACoS averages 6.4
                cuts = np.sort(rng.uniform(0, duration, size=2 * num_sentences))
                spans = cuts.reshape(-1, 2).tolist()
                lengths = rng.integers(5, 14, size=num_sentences)  # ~9 words per sentence
                pid = f"{split}_{n:05d}"
                group = text.create_group(pid)
                group.create_dataset(
                    "vectors", data=rng.standard_normal((int(lengths.sum()), word_dim), dtype=np.float32)
                )
                group.create_dataset("word_sentence", data=np.repeat(np.arange(num_sentences, dtype=np.int32), lengths))
                paragraphs.append(
                    {
                        "id": pid,
                        "video": f"{split}_s{v:02d}.avi",
                        "duration": duration,
                        "sentences": [f"sentence {k}" for k in range(num_sentences)],
                        "timestamps": spans,
                    }
                )
            (workdir / f"{split}.json").write_text(json.dumps(paragraphs))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="tacos")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--max-batches", type=int, help="time only this many training batches (default: the epoch)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of TACoS's paragraphs and videos (default 1)"
    )
    parser.add_argument(
        "--precision", choices=("auto", *PRECISIONS), default="fp32", help="autocast (default fp32: off)"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    preset, train_cfg = ModelConfig.preset(args.preset), TrainConfig.preset(args.preset)
    if args.generate_only:
        generate(args.workdir, presets.num_clips(args.preset), preset.video_dim, preset.word_dim, args.scale)
        return
    if not (args.workdir / "test.json").is_file():
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--workdir",
                str(args.workdir),
                "--preset",
                args.preset,
                "--scale",
                str(args.scale),
                "--generate-only",
            ],
            check=True,
        )
        print(f"generated data in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    train_paragraphs, test_paragraphs = (load_normalised(args.workdir / f"{s}.json") for s in ("train", "test"))
    train_set = ParagraphDataset(train_paragraphs, args.workdir / "features.h5", args.workdir / "text.h5")
    test_set = ParagraphDataset(test_paragraphs, args.workdir / "features.h5", args.workdir / "text.h5")
    seed_everything(0)
    model, criterion, optimizer = build_training(preset, train_cfg.lr, device)
    train_loader = make_loader(train_set, train_cfg.batch_size, True, torch.Generator().manual_seed(0), 0)
    num_batches = len(train_loader) if args.max_batches is None else min(args.max_batches, len(train_loader))
    rss_before = peak_rss_mib()

    started = time.perf_counter()
    train_one_epoch(
        model, criterion, islice(train_loader, num_batches), optimizer, device, "bench epoch", precision=precision
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - started
    rss_train = peak_rss_mib()

    started = time.perf_counter()
    test_loader = make_loader(test_set, train_cfg.batch_size, False, None, 0)
    with autocast(device, precision):
        predictions = predict(model, test_loader, test_paragraphs, device)
    metrics = score(parse_predictions(predictions, "bench"), test_paragraphs, [0.1, 0.3, 0.5])
    eval_seconds = time.perf_counter() - started

    result = {
        "preset": args.preset,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_paragraphs": len(train_set),
        "train_batches_timed": num_batches,
        "train_batches_per_epoch": len(train_loader),
        "train_seconds": round(train_seconds, 1),
        "train_seconds_per_batch": round(train_seconds / num_batches, 3),
        "train_epoch_seconds_estimate": round(train_seconds / num_batches * len(train_loader), 1),
        "eval_paragraphs": len(test_set),
        "eval_sentences": metrics["num_sentences"],
        "eval_seconds": round(eval_seconds, 1),
        "peak_rss_mib_before_training": round(rss_before),
        "peak_rss_mib_training": round(rss_train),
        "peak_rss_mib_total": round(peak_rss_mib()),
        "machine": (
            f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}, torch {torch.__version__}"
        ),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "command": " ".join(sys.argv),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
