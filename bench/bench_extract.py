"""Benchmark of the video stage (not a test): throughput, decode rates and peak memory, of any extractor.

(a) Full-stage extraction throughput of ``--extractor`` (default C3D: decode + preprocess + forward,
    clips/s) against the bare forward pass on the same, already preprocessed clips. Target: >= 90% of
    the bare rate, i.e. decoding is hidden behind the forward pass.
(b) Decode rates (frames/s) of decord and PyAV: every frame in order, and the sparse frames of
    N^V clips, both scaled to the extractor's frame size (C3D: 128x171).
(c) Peak RSS while extracting a generated 10-minute video (320x240 @ 25 fps) with each backend,
    each in a fresh process, next to a 1-minute video: peak memory must not grow with video
    length (it is dominated by C3D's activations, ~100 MiB per clip of a batch on CPU).
(d) Every registered extractor (or ``--extractors``), in fp32 and, where the device computes it natively, in
    bf16: full-extraction clips/s of ``--clips`` clips of the 1-minute video and the peak memory (RSS; on a
    GPU also the peak allocated), each in a fresh process with random weights.

Usage (CPU; a few minutes on 2 cores):

    python bench/bench_extract.py [--workdir /tmp/hscnet-bench] [--clips 24] [--batch-size 8]
    python bench/bench_extract.py --parts a --device cuda --precision bf16 --clips 256 --batch-size 32 --json a.json
    python bench/bench_extract.py --parts d --clips 4 --batch-size 2 [--extractors r3d_18 s3d] [--json d.json]

Generated videos are cached in --workdir. Prints a markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from extractors import registry  # noqa: E402
from extractors.clip_index import lay_out_clips  # noqa: E402
from extractors.decode import open_frames  # noqa: E402
from extractors.extract import FeatureExtractor  # noqa: E402
from extractors.probe import probe_video_with_times  # noqa: E402
from extractors.synthetic import write_video  # noqa: E402
from hscnet.device import has_native_bf16, resolve_device  # noqa: E402


def cached_video(workdir: Path, seconds: int, width: int = 320, height: int = 240, fps: int = 25) -> Path:
    path = workdir / f"bench_{seconds}s_{width}x{height}_{fps}fps.mp4"
    if not path.exists():
        start = time.perf_counter()
        tmp = path.with_suffix(".tmp.mp4")
        write_video(tmp, num_frames=seconds * fps, width=width, height=height, fps=fps, gop=250)
        tmp.rename(path)
        print(f"generated {path.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


def make_extractor(name: str, num_clips: int, batch_size: int, **settings) -> FeatureExtractor:
    """A randomly initialised extractor (speed does not depend on the weights); CPU unless ``settings`` say."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FeatureExtractor.named(
            name, "random", num_clips=num_clips, batch_size=batch_size, **{"device": "cpu", **settings}
        )


def clip_frames(extractor: FeatureExtractor, video: Path, num_clips: int):
    """(info, (num_clips, frames per clip) frame indices) of ``num_clips`` uniform clips, as extraction lays them."""
    info, times = probe_video_with_times(video)
    sampling = extractor.backbone.sampling
    return info, lay_out_clips(str(video), info, times, num_clips, sampling).frame_indices(sampling.frames_per_clip)


def bench_throughput(name: str, video: Path, num_clips: int, batch_size: int, repeats: int, **settings) -> dict:
    extractor = make_extractor(name, num_clips, batch_size, **settings)
    info, frame_indices = clip_frames(extractor, video, num_clips)
    # Bare forward: the same clips, decoded and preprocessed beforehand.
    preprocessing = extractor.backbone.preprocessing
    reader = open_frames(info, preprocessing.frame_size(info))
    unique, inverse = np.unique(frame_indices, return_inverse=True)
    inputs = preprocessing(reader.read(unique)[inverse.reshape(frame_indices.shape)])
    reader.close()
    extractor.forward(inputs[:batch_size])  # warm-up (oneDNN kernel selection)

    def timed(run) -> tuple[float, float]:
        """(wall, process CPU) seconds of ``run()``; CPU time is less disturbed by other load."""
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        return time.perf_counter() - wall, time.process_time() - cpu

    def bare() -> None:
        for i in range(0, num_clips, batch_size):
            extractor.forward(inputs[i : i + batch_size])

    def full() -> None:
        extractor.extract(info, frame_indices)

    # Alternate the two and keep the best of each: the least disturbed by other load on the machine.
    bare_runs, full_runs = [], []
    for _ in range(repeats):
        bare_runs.append(timed(bare))
        full_runs.append(timed(full))
    stats = extractor.stats  # accumulated over the full runs only
    bare_wall, bare_cpu = min(r[0] for r in bare_runs), min(r[1] for r in bare_runs)
    full_wall, full_cpu = min(r[0] for r in full_runs), min(r[1] for r in full_runs)
    return {
        "extractor": name,
        "clips": num_clips,
        "device": str(extractor.device),
        "precision": extractor.precision,
        "layout": extractor.file_attrs["layout"],
        "bare_clips_per_s": num_clips / bare_wall,
        "full_clips_per_s": num_clips / full_wall,
        "ratio": bare_wall / full_wall,
        "cpu_ratio": bare_cpu / full_cpu,
        "decode_wait": stats.decode_wait_s / stats.seconds,
        "runs": {"bare": bare_runs, "full": full_runs},
    }


def bench_decode(name: str, video: Path, num_clips: int) -> list[dict]:
    rows = []
    extractor = registry.get(name)
    size = None
    for backend in ("decord", "pyav"):
        info, times = probe_video_with_times(video, backend=backend)
        size = size or make_extractor(name, num_clips, 8).backbone.preprocessing.frame_size(info)
        # Sequential: every frame, in batches of 128 (one batch of 8 non-overlapping clips).
        reader = open_frames(info, size)
        start = time.perf_counter()
        for i in range(0, info.num_frames, 128):
            reader.read(np.arange(i, min(i + 128, info.num_frames)))
        sequential = info.num_frames / (time.perf_counter() - start)
        reader.close()
        # Sparse: the frames of num_clips uniformly spread clips, in batches of 8 clips, as extraction reads them.
        laid_out = lay_out_clips(str(video), info, times, num_clips, extractor.sampling)
        indices = laid_out.frame_indices(extractor.sampling.frames_per_clip)
        batches = [np.unique(indices[i : i + 8]) for i in range(0, num_clips, 8)]
        reader = open_frames(info, size)
        start = time.perf_counter()
        for batch in batches:
            reader.read(batch)
        sparse = sum(len(b) for b in batches) / (time.perf_counter() - start)
        reader.close()
        rows.append({"backend": backend, "sequential_fps": sequential, "sparse_fps": sparse})
    return rows


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB, from /proc (Linux)."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def peak_rss_child(name: str, video: str, backend: str, num_clips: int, batch_size: int, settings: str) -> None:
    """Runs in a fresh process: extract, print RSS before and peak RSS during extraction (and the peak CUDA
    memory allocated) as JSON."""
    extractor = make_extractor(name, num_clips, batch_size, **json.loads(settings))
    backbone = extractor.backbone
    crop, frames = backbone.preprocessing.crop, backbone.sampling.frames_per_clip
    extractor.forward(backbone.preprocessing(np.zeros((batch_size, frames, crop, crop, 3), np.uint8)))  # warm-up
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before, _ = rss_mib()
    start = time.perf_counter()
    result = extractor.extract_video(video, backend=backend)
    elapsed = time.perf_counter() - start
    _, peak = rss_mib()
    cuda = extractor.device.type == "cuda"
    print(
        json.dumps(
            {
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                "seconds": elapsed,
                "clips": len(result["features"]),
                "device": str(extractor.device),
                "precision": extractor.precision,
            }
        )
    )


def run_child(name: str, video: Path, backend: str, num_clips: int, batch_size: int, **settings) -> dict:
    argv = [sys.executable, __file__, "--rss-child", name, str(video), backend, str(num_clips), str(batch_size)]
    out = subprocess.run([*argv, json.dumps(settings)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(name: str, videos: dict[str, Path], num_clips: int, batch_size: int) -> list[dict]:
    return [
        {"video": label, "backend": backend, **run_child(name, video, backend, num_clips, batch_size)}
        for label, video in videos.items()
        for backend in ("decord", "pyav")
    ]


def bench_extractors(names: list[str], video: Path, num_clips: int, batch_size: int, device: str) -> list[dict]:
    """Part (d): each extractor in fp32 and, where native, bf16, in a fresh process each."""
    precisions = ["fp32", "bf16"] if has_native_bf16(resolve_device(device)) else ["fp32"]
    rows = []
    for name in names:
        for precision in precisions:
            row = run_child(name, video, "auto", num_clips, batch_size, device=device, precision=precision)
            rows.append({"extractor": name, **row, "clips_per_s": row["clips"] / row["seconds"]})
            print(f"{name} {precision}: {rows[-1]['clips_per_s']:.2f} clips/s", file=sys.stderr)
    return rows


def print_throughput(one_minute: Path, args: argparse.Namespace) -> dict:
    t = bench_throughput(
        args.extractor,
        one_minute,
        args.clips,
        args.batch_size,
        args.repeats,
        device=args.device,
        precision=args.precision,
        channels_last=args.channels_last,
        decoder_threads=args.decoder_threads,
    )
    print(
        f"## (a) Throughput of {args.extractor}, {t['clips']} clips of a 1-min 320x240 video, batch {args.batch_size}, "
        f"best of {args.repeats} alternating runs, {t['device']}, {t['precision']}, {t['layout']}\n"
    )
    print(
        "| bare forward (clips/s) | full extraction (clips/s) | full / bare (wall) | bare / full CPU seconds "
        "| network idle waiting for decoding |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {t['bare_clips_per_s']:.2f} | {t['full_clips_per_s']:.2f} | {t['ratio']:.1%} | {t['cpu_ratio']:.1%} "
        f"| {t['decode_wait']:.1%} |\n"
    )
    runs = ", ".join(f"{b[0]:.1f}/{f[0]:.1f}" for b, f in zip(t["runs"]["bare"], t["runs"]["full"], strict=True))
    print(f"Runs (bare/full wall seconds): {runs}\n")
    return t


def print_decode(ten_minutes: Path, name: str) -> None:
    print(f"## (b) Decoding at {name}'s frame size (frames/s), 10-min 320x240 @ 25 fps H.264, GOP 250\n")
    print("| backend | every frame in order | frames of 256 uniform clips (batches of 8 clips) |\n|---|---|---|")
    for row in bench_decode(name, ten_minutes, 256):
        print(f"| {row['backend']} | {row['sequential_fps']:.0f} | {row['sparse_fps']:.0f} |")


def print_memory(one_minute: Path, ten_minutes: Path, args: argparse.Namespace) -> None:
    print(f"\n## (c) Peak RSS of {args.extractor}, {args.memory_clips} clips, batch {args.batch_size}, fresh runs\n")
    print(
        "| video | backend | RSS before extraction (MiB) | peak RSS during extraction (MiB) | seconds |\n"
        "|---|---|---|---|---|"
    )
    videos = {"1 min": one_minute, "10 min": ten_minutes}
    for row in bench_memory(args.extractor, videos, args.memory_clips, args.batch_size):
        print(
            f"| {row['video']} | {row['backend']} | {row['rss_before_mib']:.0f} | "
            f"{row['peak_rss_mib']:.0f} | {row['seconds']:.1f} |"
        )


def print_extractors(one_minute: Path, args: argparse.Namespace) -> list[dict]:
    names = args.extractors or registry.names()
    print(
        f"\n## (d) Every extractor, {args.clips} clips of a 1-min 320x240 video, batch {args.batch_size}, "
        f"{args.device}, random weights, fresh process each\n"
    )
    print("| extractor | precision | clips/s | seconds | peak RSS (MiB) | peak GPU memory (MiB) |")
    print("|---|---|---|---|---|---|")
    rows = bench_extractors(names, one_minute, args.clips, args.batch_size, args.device)
    for row in rows:
        gpu = "-" if row["peak_cuda_mib"] is None else f"{row['peak_cuda_mib']:.0f}"
        print(
            f"| {row['extractor']} | {row['precision']} | {row['clips_per_s']:.2f} | {row['seconds']:.1f} | "
            f"{row['peak_rss_mib']:.0f} | {gpu} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/hscnet-bench"))
    parser.add_argument("--extractor", default="c3d", help="extractor of parts (a)-(c) (default c3d)")
    parser.add_argument("--extractors", nargs="+", help="extractors of part (d) (default: every registered one)")
    parser.add_argument("--clips", type=int, default=24, help="clips for the throughput comparison and part (d)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="alternating bare/full runs; the best of each counts")
    parser.add_argument("--memory-clips", type=int, default=16, help="clips of the 10-minute video")
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. 'a', 'bc' or 'd' (default abc)")
    parser.add_argument("--device", default="cpu", help="device of parts (a) and (d) (default cpu)")
    parser.add_argument("--precision", default="fp32", help="precision of part (a): fp32, bf16, fp16, auto")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d layout in part (a)")
    parser.add_argument("--decoder-threads", type=int, default=1, help="FFmpeg threads in part (a)")
    parser.add_argument("--json", type=Path, help="write the results of parts (a) and (d) here as JSON")
    parser.add_argument("--rss-child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        name, video, backend, num_clips, batch_size, settings = args.rss_child
        peak_rss_child(name, video, backend, int(num_clips), int(batch_size), settings)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    one_minute = cached_video(args.workdir, 60)
    ten_minutes = cached_video(args.workdir, 600) if set("bc") & set(args.parts) else None

    print(
        f"# bench_extract: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}\n"
    )
    results = {}
    if "a" in args.parts:
        results["a"] = print_throughput(one_minute, args)
    if "b" in args.parts:
        print_decode(ten_minutes, args.extractor)
    if "c" in args.parts:
        print_memory(one_minute, ten_minutes, args)
    if "d" in args.parts:
        results["d"] = print_extractors(one_minute, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
