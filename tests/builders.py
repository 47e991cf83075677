"""Small generated datasets in the project's file contract, shared by the dataset, train, evaluate,
distributed, ground and bad-input tests.

``write_synthetic_dataset`` plants a learnable signal (each sentence's concept is visible in the clips of
its span and in its words), so a model trained on it must beat the even-spread prior.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

NUM_CONCEPTS = 6


def write_synthetic_dataset(
    root: Path,
    splits: dict[str, int] | None = None,
    num_clips: int = 8,
    video_dim: int = 16,
    word_dim: int = 12,
    seed: int = 0,
) -> dict[str, Path]:
    """Annotations per split + features.h5 + text.h5 under ``root``; returns their paths.

    Each paragraph has its own video of ``num_clips`` clips; its 1-4 sentences (at most (num_clips+1)//2) cover
    consecutive spans; the clips inside a sentence's span carry that sentence's concept vector, the sentence's
    words carry the concept's word vector (plus noise), background clips carry noise only.
    """
    splits = splits or {"train": 24, "val": 8, "test": 8}
    rng = np.random.default_rng(seed)
    concept_video = rng.normal(size=(NUM_CONCEPTS, video_dim)).astype(np.float32) * 2
    concept_words = rng.normal(size=(NUM_CONCEPTS, word_dim)).astype(np.float32)
    paths = {"features": root / "features.h5", "text": root / "text.h5"}
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(paths["features"], "w") as feats, h5py.File(paths["text"], "w") as text:
        # File attrs as the extractor and the text stage write them (grounding reads them back).
        feats.attrs.update(
            extractor="c3d",
            weights=f"random-seed-{seed}",
            source="video",
            num_clips=num_clips,
            feature_dim=video_dim,
            preprocessing="synthetic",
        )
        text.attrs.update(dim=word_dim, oov="zero", source="synthetic", vectors_format="synthetic")
        for split, count in splits.items():
            paragraphs = []
            for n in range(count):
                pid, video = f"{split}_{n:05d}", f"{split}_video_{n}.mp4"
                duration = float(rng.uniform(20, 60))
                num_sentences = int(rng.integers(1, min(4, (num_clips + 1) // 2) + 1))
                # Sentence k covers clips [cuts[2k], cuts[2k+1]): consecutive, in order, gaps between.
                cuts = np.sort(rng.choice(num_clips + 1, size=2 * num_sentences, replace=False))
                concepts = rng.choice(NUM_CONCEPTS, size=num_sentences, replace=False)
                clips = rng.normal(scale=0.3, size=(num_clips, video_dim)).astype(np.float32)
                spans, vectors, word_sentence, sentences = [], [], [], []
                for k in range(num_sentences):
                    lo, hi = int(cuts[2 * k]), int(cuts[2 * k + 1])
                    clips[lo:hi] += concept_video[concepts[k]]
                    spans.append([lo / num_clips * duration, hi / num_clips * duration])
                    num_words = int(rng.integers(2, 5))
                    vectors.append(concept_words[concepts[k]] + rng.normal(scale=0.1, size=(num_words, word_dim)))
                    word_sentence += [k] * num_words
                    sentences.append(" ".join(f"concept{concepts[k]}" for _ in range(num_words)))
                ds = feats.create_dataset(video, data=clips)
                ds.attrs.update(duration=duration, fps=8.0, num_frames=int(duration * 8))
                ds.attrs["clip_spans"] = (
                    np.stack([np.arange(num_clips), np.arange(1, num_clips + 1)], 1) * duration / num_clips
                )
                group = text.create_group(pid)
                group.create_dataset("vectors", data=np.concatenate(vectors).astype(np.float32))
                group.create_dataset("word_sentence", data=np.array(word_sentence, dtype=np.int32))
                group.attrs.update(video=video, num_oov=0)
                paragraphs.append(
                    {"id": pid, "video": video, "duration": duration, "sentences": sentences, "timestamps": spans}
                )
            paths[split] = root / f"{split}.json"
            paths[split].write_text(json.dumps(paragraphs))
    return paths
