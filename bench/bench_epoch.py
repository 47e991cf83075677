"""Benchmark (not a test): where a training epoch of a real dataset goes, on the CPU.

(loader) Whole passes of the training loader (shuffled, temporal crop on), reading every array from
         the HDF5 files (``MEMORY_CACHE_BYTES = 0``) against keeping them in memory (the default).
(phases) Seconds per epoch of data loading (the loader's ``next``), the forward pass, the losses,
         backward and Adam, over one loader pass (after one warm-up step), or its first batches, under
         ``--precision`` autocast (``auto`` by default, as ``hscnet train``); then the peak RSS and the
         hours of the preset's epochs at that rate.

Needs the workflow's outputs of a dataset, e.g. after ``snakemake --cores 2 results/demo/metrics.json``:

    python bench/bench_epoch.py --data results/demo --preset demo --threads 1 --epochs 3

At TACoS scale (inputs from ``bench/standin_tacos.py``), a whole epoch (``--max-batches`` times a part):

    python bench/bench_epoch.py --data /tmp/tacos-standin --preset tacos --threads 2 --skip-loader-passes
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hscnet.data import dataset as dataset_module  # noqa: E402
from hscnet.data.annotations import load_normalised  # noqa: E402
from hscnet.data.collate import to_device  # noqa: E402
from hscnet.data.dataset import FeatureStats, ParagraphDataset  # noqa: E402
from hscnet.data.loader import make_loader  # noqa: E402
from hscnet.device import autocast, resolve_device, resolve_precision  # noqa: E402
from hscnet.model import ModelConfig, total_loss  # noqa: E402
from hscnet.train import build_training  # noqa: E402
from hscnet.training_config import TrainConfig  # noqa: E402


def training_set(data: Path, cache_bytes: int) -> ParagraphDataset:
    dataset_module.MEMORY_CACHE_BYTES = cache_bytes
    paragraphs = load_normalised(data / "annotations" / "train.json")
    features = data / "features" / "c3d.h5"
    dataset = ParagraphDataset(paragraphs, features, data / "text" / "glove.h5", temporal_crop=True)
    dataset.feature_stats = FeatureStats.of_videos(features, (p.video for p in paragraphs))
    return dataset


def loader_passes(data: Path, batch_size: int, epochs: int) -> dict[str, list[float]]:
    seconds = {}
    for name, cache_bytes in (("files", 0), ("memory", dataset_module.MEMORY_CACHE_BYTES)):
        dataset, seconds[name] = training_set(data, cache_bytes), []
        for _ in range(epochs):
            start = time.perf_counter()
            for _batch in make_loader(dataset, batch_size, True, torch.Generator().manual_seed(0), 0):
                pass
            seconds[name].append(time.perf_counter() - start)
    return seconds


def clock(device: torch.device) -> float:
    """Seconds now, after the device's queued work (a GPU runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def epoch_phases(data: Path, preset: str, max_batches: int | None, device: torch.device, precision: str) -> dict:
    """Seconds of each phase over one loader pass (or its first ``max_batches`` batches), the data
    loader's ``next`` (and the copy to ``device``) included, under ``precision`` autocast as training
    runs it; one untimed step on the first batch warms up first."""
    dataset = training_set(data, dataset_module.MEMORY_CACHE_BYTES)
    cfg = ModelConfig.preset(preset, video_dim=dataset.video_dim, word_dim=dataset.word_dim)
    torch.manual_seed(0)
    train_cfg = TrainConfig.preset(preset)
    model, criterion, optimizer = build_training(cfg, train_cfg.lr, device)

    def step(batch: dict) -> tuple[float, ...]:
        t0 = clock(device)
        with autocast(device, precision):
            outputs = model(batch)
            t1 = clock(device)
            loss = total_loss(criterion(outputs, batch), criterion.weight_dict)
        t2 = clock(device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock(device)
        optimizer.step()
        return t1 - t0, t2 - t1, t3 - t2, clock(device) - t3

    loader = make_loader(dataset, train_cfg.batch_size, True, torch.Generator().manual_seed(0), 0)
    step(to_device(next(iter(loader)), device))  # warm-up
    totals = dict.fromkeys(("data loading", "forward", "losses", "backward", "adam"), 0.0)
    batches = iter(loader)
    for _ in range(len(loader) if max_batches is None else min(max_batches, len(loader))):
        start = clock(device)
        batch = to_device(next(batches), device)
        totals["data loading"] += clock(device) - start
        for key, seconds in zip(list(totals)[1:], step(batch), strict=True):
            totals[key] += seconds
    return {
        "seconds": totals,
        "batches": min(max_batches or len(loader), len(loader)),
        "batches_per_epoch": len(loader),
        "peak_cuda_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def report(args: argparse.Namespace, result: dict) -> None:
    """The phases table, peak memory and the hours of the preset's epochs; ``--json`` gets the same."""
    phases, batches = result["seconds"], result["batches"]
    total = sum(phases.values())
    print(
        f"\n| phase, {batches} of the epoch's {result['batches_per_epoch']} batches, {result['precision']}, "
        f"{result['device']}, {args.threads} thread(s) | seconds | share |\n|---|---|---|"
    )
    for name, seconds in phases.items():
        print(f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f}% |")
    print(f"| total | {total:.2f} | {total / batches:.2f} s per batch |")
    epochs = TrainConfig.preset(args.preset).epochs
    result |= {
        "preset": args.preset,
        "epoch_s": total / batches * result["batches_per_epoch"],
        "loader_share": phases["data loading"] / total,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "preset_epochs": epochs,
    }
    gpu = f", peak GPU memory {result['peak_cuda_mib']:.0f} MiB" if result["peak_cuda_mib"] is not None else ""
    print(
        f"\nPeak RSS {result['peak_rss_gib']:.2f} GiB{gpu}. One epoch: {result['epoch_s'] / 3600:.2f} h; the preset's "
        f"{epochs} epochs: {result['epoch_s'] * epochs / 3600:.1f} h (validation not counted)."
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("results/demo"), help="a dataset's results directory")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the workflow trains with 1)")
    parser.add_argument("--epochs", type=int, default=3, help="loader passes per variant")
    parser.add_argument("--max-batches", type=int, help="time only the first N training batches (default: the epoch)")
    parser.add_argument("--skip-loader-passes", action="store_true", help="only the phases of training")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--precision", default="auto", help="autocast as hscnet train: auto (default), fp32, bf16")
    parser.add_argument("--json", type=Path, help="also write the phases and the epoch's figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    if not args.skip_loader_passes:
        passes = loader_passes(args.data, TrainConfig.preset(args.preset).batch_size, args.epochs)
        print("| training loader pass | " + " | ".join(f"epoch {i + 1}" for i in range(args.epochs)) + " |")
        print("|---" * (args.epochs + 1) + "|")
        for name, seconds in passes.items():
            print(f"| from {name} | " + " | ".join(f"{s:.2f} s" for s in seconds) + " |")
    result = epoch_phases(args.data, args.preset, args.max_batches, device, precision)
    report(args, result | {"device": str(device), "precision": precision})
    return 0


if __name__ == "__main__":
    sys.exit(main())
