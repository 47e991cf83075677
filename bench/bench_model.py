"""Benchmark the HSCNet model on the CPU: parameters, forward+backward time per batch, peak memory.

Each preset runs in its own subprocess so that its peak resident memory is its own.
Batches are synthetic paragraphs shaped like the datasets (sentence counts 1..max, words per
sentence in a range measured on the public annotations), padded like real batches.

    python bench/bench_model.py                       # tacos and activitynet at their batch sizes
    python bench/bench_model.py --presets tacos --steps 5 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

# Shapes per preset: (max sentences per paragraph, (min, max) words per sentence). TACoS
# paragraphs (PRVG split) have 1-9 sentences, ~8.4 words each; ActivityNet paragraphs are cut
# to at most 8 sentences (config.yaml), ~13.5 words each.
SHAPES = {"tacos": (9, (4, 13)), "activitynet": (8, (7, 20)), "demo": (9, (4, 13)), "tiny": (4, (2, 6))}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def run_one(preset: str, steps: int, warmup: int, threads: int, seed: int) -> dict:
    """Measure one preset in this process (called in a fresh subprocess)."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from presets import num_clips

    from hscnet.model import ModelConfig, build_criterion, build_model, collate_paragraphs, total_loss
    from hscnet.model.synthetic import synthetic_paragraph
    from hscnet.training_config import TrainConfig

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg, train_cfg = ModelConfig.preset(preset), TrainConfig.preset(preset)
    max_sentences, (lo, hi) = SHAPES[preset]
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(train_cfg.batch_size):
        n_s = int(torch.randint(1, max_sentences + 1, (1,), generator=g))
        lengths = torch.randint(lo, hi + 1, (n_s,), generator=g).tolist()
        samples.append(synthetic_paragraph(g, num_clips(preset), lengths, cfg.video_dim, cfg.word_dim))
    batch = collate_paragraphs(samples)
    model, criterion = build_model(cfg), build_criterion(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    rss_before = current_rss_mib()

    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        loss = total_loss(criterion(model(batch), batch), criterion.weight_dict)
        optimizer.zero_grad()
        loss.backward()
        elapsed = time.perf_counter() - start
        optimizer.step()
        if step >= warmup:
            times.append(elapsed)
    times.sort()
    return {
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": train_cfg.batch_size,
        "batch_shape": {k: list(v.shape) for k, v in batch.items() if k in ("video", "words", "spans")},
        "fwd_bwd_s_median": times[len(times) // 2],
        "fwd_bwd_s_min": times[0],
        "fwd_bwd_s_max": times[-1],
        "steps": steps,
        "threads": threads,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_training_mib": rss_before,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tacos", "activitynet"], choices=sorted(SHAPES))
    parser.add_argument("--steps", type=int, default=5, help="timed forward+backward steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one preset, print JSON
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_one(args.one, args.steps, args.warmup, args.threads, args.seed)))
        return 0

    results = []
    for preset in args.presets:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            preset,
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--threads",
            str(args.threads),
            "--seed",
            str(args.seed),
        ]
        proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} torch threads")
    print("| preset | params | batch (B, N_V, N_W, N_S) | fwd+bwd s/batch (median, min-max) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in results:
        b, n_v, _ = r["batch_shape"]["video"]
        n_w, n_s = r["batch_shape"]["words"][1], r["batch_shape"]["spans"][1]
        print(
            f"| {r['preset']} | {r['parameters'] / 1e6:.2f} M | ({b}, {n_v}, {n_w}, {n_s}) | "
            f"{r['fwd_bwd_s_median']:.2f} ({r['fwd_bwd_s_min']:.2f}-{r['fwd_bwd_s_max']:.2f}) "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from hscnet.io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
