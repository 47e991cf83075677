"""The page's web stack alone: how soon ``hscnet serve`` answers, and how fast it answers small and large GETs.

    python bench/bench_serve.py --checkpoint results/demo/runs/full/best.pt --glove results/vectors/data_demo_glove \
        [--tree PATH] [--port 8771]

Starts ``hscnet serve`` of the checkout ``--tree`` (default: this one; another is how two web stacks are
compared on one machine) on a folder holding one 64 MiB file named big.mp4 (random bytes: listing does not
probe), then times: the start to the printed address, 300 sequential ``GET /api/videos`` (after 20 to warm
up), 5 GETs of the whole file, and 8 clients each polling ``GET /api/videos`` 100 times at once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_MIB = 64


def timed_gets(url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with urllib.request.urlopen(url) as answer:
            answer.read()
        times.append(time.perf_counter() - start)
    return times


def concurrent_polls(url: str, clients: int, each: int) -> float:
    threads = [threading.Thread(target=timed_gets, args=(url, each)) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--glove", required=True)
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose hscnet serve runs")
    parser.add_argument("--port", type=int, default=8771)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as videos:
        (Path(videos) / "big.mp4").write_bytes(os.urandom(FILE_MIB << 20))
        command = [sys.executable, "-m", "hscnet", "serve", "--checkpoint", args.checkpoint, "--glove", args.glove]
        command += ["--videos", videos, "--port", str(args.port), "--device", "cpu"]
        started = time.perf_counter()
        server = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": args.tree},
            cwd=videos,  # python -m puts the working folder first on the path, before --tree
        )
        try:
            url = server.stdout.readline().split()[2]
            ready = time.perf_counter() - started
            timed_gets(url + "api/videos", 20)
            small = timed_gets(url + "api/videos", 300)
            large = timed_gets(url + "media/1", 5)
            polls = concurrent_polls(url + "api/videos", 8, 100)
        finally:
            server.terminate()
            server.wait()
    print(f"# {args.tree} on {platform.node()}, load {os.getloadavg()[0]:.1f}")
    print(f"ready {ready:.2f} s; GET /api/videos median {statistics.median(small) * 1e3:.2f} ms")
    print(f"{FILE_MIB} MiB file median {statistics.median(large) * 1e3:.0f} ms; 8 clients x 100 polls {polls:.2f} s")


if __name__ == "__main__":
    main()
