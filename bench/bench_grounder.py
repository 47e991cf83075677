"""The Python API's feature cache: a second paragraph on a long video costs the text stage and a forward pass.

    python bench/bench_grounder.py --checkpoint results/demo/runs/full/best.pt \
        --glove results/vectors/data_demo_glove --paragraphs data/demo/annotations/test.json [--minutes 10]

Writes (once, into --workdir) a generated video of --minutes at 320x240, 25 fps, then times, in one process:
the first paragraph (features extracted: decoding + C3D), a second and third paragraph on the same video
(features from memory), and, for the second, its text stage (tokenise + embed) and the video lookup alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench_extract import cached_video  # noqa: E402

from hscnet import Grounder  # noqa: E402


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--glove", required=True)
    parser.add_argument("--paragraphs", required=True, help="paragraph JSON whose first three paragraphs are asked")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("bench-grounder"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    video = cached_video(args.workdir, round(args.minutes * 60))
    paragraphs = [p["sentences"] for p in json.loads(Path(args.paragraphs).read_text())[:3]]

    load, grounder = timed(lambda: Grounder.from_checkpoint(args.checkpoint, glove=args.glove, device="cpu"))
    first, _ = timed(lambda: grounder.ground(video, paragraphs[0]))
    second, _ = timed(lambda: grounder.ground(video, paragraphs[1]))
    third, _ = timed(lambda: grounder.ground(video, paragraphs[2]))
    # The parts of a cached call, measured alone: the text stage, the video lookup, the forward pass.
    warm = statistics.median(timed(lambda: grounder.ground(video, paragraphs[1]))[0] for _ in range(5))
    text = statistics.median(timed(lambda: grounder._embed(paragraphs[1]))[0] for _ in range(5))
    lookup = statistics.median(timed(lambda: grounder.video_features(video))[0] for _ in range(5))

    print(f"# bench_grounder: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"video: {video.name} ({args.minutes:g} min, {video.stat().st_size / 2**20:.1f} MiB)\n")
    print("| step | seconds |\n|---|---|")
    for name, seconds in (
        ("load checkpoint and word vectors", load),
        ("1st paragraph (extracts the video's features)", first),
        ("2nd paragraph, same video (features from memory)", second),
        ("3rd paragraph, same video", third),
        ("2nd paragraph again, median of 5 (warm)", warm),
        ("  of a cached call: text stage (tokenise + embed), median of 5", text),
        ("  of a cached call: video lookup (sha256 of the file), median of 5", lookup),
    ):
        print(f"| {name} | {seconds:.4f} |")
    print(f"\n2nd paragraph / 1st: {second / first:.3f}")


if __name__ == "__main__":
    main()
