"""Benchmark (not a test): mixed precision and memory layout of C3D and of HSCNet training.

(c3d)   C3D fc6 forward on one batch of clips in four variants: fp32, channels_last_3d weights and
        input, bf16/fp16 autocast, and both; plus the relative error of the autocast features
        against fp32 (``||f_amp - f_fp32|| / ||f_fp32||`` over the batch).
(train) Training steps (forward + loss + backward + Adam) of a model preset on synthetic
        paragraphs, fp32 against autocast.

The variants run in turns (fp32, cl, amp, both, fp32, ...) so that a change of load from other
jobs hits each of them alike; the table gives the median and the range of the rounds.

    python bench/bench_precision.py --parts c3d train --rounds 5 [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from presets import num_clips  # also puts the checkout on sys.path

from extractors.c3d import load_c3d  # noqa: E402
from hscnet.device import PRECISIONS, autocast, resolve_device  # noqa: E402
from hscnet.model import ModelConfig, build_criterion, build_model, collate_paragraphs, total_loss  # noqa: E402
from hscnet.model.synthetic import synthetic_paragraph  # noqa: E402
from hscnet.training_config import TrainConfig  # noqa: E402

C3D_VARIANTS = {
    "fp32": (False, False),
    "channels_last_3d": (True, False),
    "autocast": (False, True),
    "both": (True, True),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_c3d(device: torch.device, precision: str, batch_size: int, rounds: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-init warning: speed does not depend on the weights
        plain = load_c3d("random")[0].to(device)
        channels_last = load_c3d("random")[0].to(device, memory_format=torch.channels_last_3d)
    clips = torch.randn(batch_size, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0)).to(device)

    @torch.inference_mode()
    def forward(variant: str) -> torch.Tensor:
        layout, amp = C3D_VARIANTS[variant]
        x = clips.contiguous(memory_format=torch.channels_last_3d) if layout else clips
        with autocast(device, precision if amp else "fp32"):
            return (channels_last if layout else plain)(x).float()

    reference = forward("fp32")  # also the warm-up of oneDNN's kernel choice for fp32
    errors = {}
    for variant in C3D_VARIANTS:
        features = forward(variant)  # warm-up of this variant
        errors[variant] = float((features - reference).norm() / reference.norm())
    times = timed_rounds(device, C3D_VARIANTS, forward, rounds)
    return {"batch_size": batch_size, "precision": precision, "seconds": times, "relative_error": errors}


def timed_rounds(device: torch.device, variants, run, rounds: int) -> dict[str, list[float]]:
    """Seconds of ``run(variant)`` per round, the variants taking turns so that drifting load spreads over all."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for variant in variants:
            synchronize(device)
            start = time.perf_counter()
            run(variant)
            synchronize(device)
            times[variant].append(time.perf_counter() - start)
    return times


def bench_train(device: torch.device, precision: str, preset: str, steps: int, rounds: int) -> dict:
    cfg, train_cfg, clips = ModelConfig.preset(preset), TrainConfig.preset(preset), num_clips(preset)
    g = torch.Generator().manual_seed(0)
    max_sentences = min(9, (clips + 1) // 2)  # disjoint spans: the tiny preset's 8 clips hold 4
    samples = [
        synthetic_paragraph(
            g,
            clips,
            [9] * int(torch.randint(1, max_sentences + 1, (1,), generator=g)),
            cfg.video_dim,
            cfg.word_dim,
        )
        for _ in range(train_cfg.batch_size)
    ]
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in collate_paragraphs(samples).items()}
    models = {}
    for variant in ("fp32", "autocast"):
        torch.manual_seed(0)
        model, criterion = build_model(cfg).to(device), build_criterion(cfg).to(device)
        models[variant] = (model, criterion, torch.optim.Adam(model.parameters(), lr=train_cfg.lr))

    def run(variant: str) -> float:
        model, criterion, optimizer = models[variant]
        loss = None
        for _ in range(steps):
            with autocast(device, precision if variant == "autocast" else "fp32"):
                loss = total_loss(criterion(model(batch), batch), criterion.weight_dict)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return float(loss)

    losses = {v: run(v) for v in models}  # warm-up, and the loss after the first steps of each
    times = {v: [t / steps for t in ts] for v, ts in timed_rounds(device, list(models), run, rounds).items()}
    return {
        "preset": preset,
        "batch_size": train_cfg.batch_size,
        "precision": precision,
        "seconds_per_step": times,
        "loss_after_warmup": losses,
    }


def describe(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("c3d", "train"), default=["c3d", "train"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision", choices=[p for p in PRECISIONS if p != "fp32"], default="bf16", help="autocast dtype"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all variants in turn")
    parser.add_argument("--batch-size", type=int, default=8, help="C3D clips per forward")
    parser.add_argument("--preset", default="demo", help="model preset of the training part")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    print(
        f"# bench_precision: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {device}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}\n"
    )
    results = {}
    if "c3d" in args.parts:
        r = results["c3d"] = bench_c3d(device, args.precision, args.batch_size, args.rounds)
        base = statistics.median(r["seconds"]["fp32"])
        print(
            f"## C3D fc6 forward, batch {args.batch_size}, {args.rounds} rounds (s: median (min-max)), "
            f"autocast {r['precision']}\n"
        )
        print("| variant | seconds | speed-up vs fp32 (medians) | relative error vs fp32 |\n|---|---|---|---|")
        for v, t in r["seconds"].items():
            print(f"| {v} | {describe(t)} | {base / statistics.median(t):.2f}x | {r['relative_error'][v]:.1e} |")
        print()
    if "train" in args.parts:
        r = results["train"] = bench_train(device, args.precision, args.preset, args.steps, args.rounds)
        base = statistics.median(r["seconds_per_step"]["fp32"])
        print(
            f"## Training steps, preset {args.preset} (batch {r['batch_size']}), "
            f"{args.steps} steps x {args.rounds} rounds, "
            f"autocast {r['precision']}\n"
        )
        print("| variant | s per step | speed-up vs fp32 (medians) |\n|---|---|---|")
        for v, t in r["seconds_per_step"].items():
            print(f"| {v} | {describe(t)} | {base / statistics.median(t):.2f}x |")
        print()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        from hscnet.io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
