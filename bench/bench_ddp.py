"""Benchmark: one training epoch in 1 process vs 2 DDP processes (torchrun, gloo) on the CPU.

    python bench/bench_ddp.py --data results/demo --repeats 3 [--configs 1x1 1x2 2x1]

DATA is a dataset's results folder (``features/c3d.h5``, ``text/glove.h5``, ``annotations/``), e.g. of
``snakemake --cores 2 results/demo/features/c3d.h5 results/demo/text/glove.h5`` (``--features FILE``,
relative to DATA, names another extractor's store). The configurations
take turns, so that load from other jobs spreads over all of them. The epoch time is the
``seconds`` column of history.csv: training plus validation (rank 0 validates alone), without the
process start. Prints one JSON object: every time per configuration and the ratio of medians.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TORCHRUN = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--nnodes",
    "1",
    "--nproc-per-node",
    "2",
    "--rdzv-backend",
    "c10d",
    "--rdzv-endpoint",
    "127.0.0.1:0",
]
CONFIGS = {  # processes x threads each: launcher, --threads of the job
    "1x1": ([sys.executable], 1),
    "1x2": ([sys.executable], 2),
    "2x1": (TORCHRUN, 2),
}


def epoch_seconds(launcher: list[str], threads: int, data: Path, preset: str, out: Path, features: str) -> float:
    cmd = [
        *launcher,
        "-m",
        "hscnet",
        "train",
        "--features",
        str(data / features),
        "--text",
        str(data / "text/glove.h5"),
        "--train",
        str(data / "annotations/train.json"),
        "--val",
        str(data / "annotations/val.json"),
        "--preset",
        preset,
        "--epochs",
        "1",
        "--temporal-crop",
        "--device",
        "cpu",
        "--threads",
        str(threads),
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    with open(out / "history.csv", newline="") as fh:
        return float(next(csv.DictReader(fh))["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--features", default="features/c3d.h5", help="feature store, relative to --data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(CONFIGS),
        default=list(CONFIGS),
        help="processes x threads each (1x2 can be very slow on a loaded machine)",
    )
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name in args.configs:
                launcher, threads = CONFIGS[name]
                out = Path(tmp) / f"{repeat}-{name}"
                times[name].append(epoch_seconds(launcher, threads, args.data, args.preset, out, args.features))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "cpus": os.cpu_count(),
                "load_average_after": os.getloadavg(),
                "epoch_seconds": times,
                "median": medians,
                "median_ratio_to_2x1": {name: m / medians["2x1"] for name, m in medians.items()}
                if "2x1" in medians
                else None,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
