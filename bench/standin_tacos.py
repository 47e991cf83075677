"""Stand-in TACoS inputs on the real paragraphs, for ``bench_epoch.py`` (not a test).

The paragraphs are PRVG's real TACoS training split; only the features are random: a TALL-layout
file (one (T, 4096) dataset per video, T = one row per 16 frames at 29.4 fps, as TALL's C3D units)
and GloVe-format 300-d vectors for the paragraphs' vocabulary. They go through the project's own
commands (prepare-annotations, import-features, tokenize, glove-convert, embed-words), so the
result has the layout of ``results/tacos``:

    python bench/standin_tacos.py --out /tmp/tacos-standin
    python bench/bench_epoch.py --data /tmp/tacos-standin --preset tacos --threads 2 --max-batches 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

DEFAULT_PARAGRAPHS = Path(__file__).resolve().parents[2] / "shared" / "data" / "prvg" / "tacos_train.npy"
FPS, FRAMES_PER_UNIT, VIDEO_DIM, WORD_DIM = 29.4, 16, 4096, 300


def hscnet(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "hscnet", *args], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=Path, default=DEFAULT_PARAGRAPHS, help="PRVG's tacos_train.npy")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--num-clips", type=int, default=512)
    args = parser.parse_args()
    out, rng = args.out, np.random.default_rng(0)
    for sub in ("annotations", "features", "text", "raw"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    annotations = out / "annotations" / "train.json"
    hscnet("prepare-annotations", "--format", "prvg_npy", "--input", str(args.paragraphs), "--split", "train",
           "--output", str(annotations))  # fmt: skip
    durations: dict[str, float] = {}
    for paragraph in json.loads(annotations.read_text()):
        durations[paragraph["video"]] = max(durations.get(paragraph["video"], 0.0), float(paragraph["duration"]))
    tall = out / "raw" / "tall_c3d_features.hdf5"
    with h5py.File(tall, "w") as h5:
        for video, duration in durations.items():
            units = max(1, round(duration * FPS / FRAMES_PER_UNIT))
            h5.create_dataset(video, data=rng.standard_normal((units, VIDEO_DIM), dtype=np.float32))
    hscnet("import-features", "--input", str(tall), "--layout", "tacos", "--num-clips", str(args.num_clips),
           "--annotations", str(annotations), "--output", str(out / "features" / "c3d.h5"))  # fmt: skip
    tokens = out / "text" / "tokens.json"
    hscnet("tokenize", "--annotations", str(annotations), "--output", str(tokens))
    paragraph_tokens = json.loads(tokens.read_text()).values()
    vocabulary = sorted({word for p in paragraph_tokens for sentence in p["tokens"] for word in sentence})
    glove = out / "raw" / "glove.txt"
    with glove.open("w") as fh:
        for word in vocabulary:
            fh.write(word + " " + " ".join(f"{x:.4f}" for x in rng.standard_normal(WORD_DIM)) + "\n")
    hscnet("glove-convert", "--input", str(glove), "--format", "glove", "--output", str(out / "raw" / "vectors"))
    hscnet("embed-words", "--tokens", str(tokens), "--vectors", str(out / "raw" / "vectors"),
           "--output", str(out / "text" / "glove.h5"))  # fmt: skip
    (tall).unlink()  # the imported store holds what training reads
    return 0


if __name__ == "__main__":
    sys.exit(main())
