"""Speed and memory of the word-vector conversion and reload (GloVe text -> gensim KeyedVectors).

Generates a GloVe-format text file of WORDS x DIM random vectors (6 decimals, like 840B; a few
multi-word lines), then times ``convert_vectors`` (read + save), the memory-mapped
``load_vectors`` and, with --gensim, gensim's own ``load_word2vec_format(no_header=True)`` on
the same file without the multi-word lines (which gensim cannot read).

    python bench/bench_text.py --words 200000 --dim 300 [--gensim] [--workdir DIR]

Prints one line per measurement: wall time, CPU time of this process (robust to other load on
the machine) and peak RSS (the process's maximum so far, ru_maxrss).
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from hscnet.text.glove import convert_vectors, load_vectors

_POOL = 65_536  # distinct number strings; formatting 60M floats one by one would dominate the run


def generate_glove(path: Path, words: int, dim: int, seed: int, multi_word: bool) -> None:
    """GloVe text with values drawn from a pool of random 6-decimal numbers in [-1, 1]."""
    rng = np.random.default_rng(seed)
    pool = np.array([f"{x:.6f}" for x in rng.uniform(-1, 1, _POOL)], dtype=object)
    with open(path, "w", encoding="utf-8") as fh:
        for index in range(words):
            word = f". . . {index}" if multi_word and index % 50_000 == 7 else f"w{index}"
            fh.write(word + " " + " ".join(pool[rng.integers(0, _POOL, dim)]) + "\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Wall and process CPU seconds of a with-block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gensim", action="store_true", help="also time gensim's load_word2vec_format")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        source = tmp / "glove.txt"
        with Timer() as t:
            generate_glove(source, args.words, args.dim, args.seed, multi_word=True)
        size_mb = source.stat().st_size / 1e6
        print(f"generate: {args.words} x {args.dim}, {size_mb:.0f} MB in {t.wall:.1f} s")

        with Timer() as t:
            out = convert_vectors(source, "glove", tmp / "glove.kv")
        print(
            f"convert (read + save): wall {t.wall:.1f} s ({size_mb / t.wall:.0f} MB/s), cpu {t.cpu:.1f} s, "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )

        with Timer() as t:
            loaded = load_vectors(out)
        print(f"load (mmap): wall {1000 * t.wall:.0f} ms, cpu {1000 * t.cpu:.0f} ms, {len(loaded.keyed)} words")
        rows = np.random.default_rng(1).integers(0, len(loaded.keyed), 10_000)
        with Timer() as t:
            np.asarray(loaded.keyed.vectors[rows])
        print(f"10k random row reads from the mmap: wall {1000 * t.wall:.0f} ms")

        if args.gensim:
            from gensim.models import KeyedVectors

            plain = tmp / "plain.txt"
            generate_glove(plain, args.words, args.dim, args.seed, multi_word=False)
            with Timer() as t:
                KeyedVectors.load_word2vec_format(str(plain), no_header=True)
            print(
                f"gensim load_word2vec_format(no_header=True): wall {t.wall:.1f} s ({size_mb / t.wall:.0f} MB/s), "
                f"cpu {t.cpu:.1f} s"
            )


if __name__ == "__main__":
    main()
