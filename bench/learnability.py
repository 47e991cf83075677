"""Can HSCNet learn the demo when the video features carry exactly what each clip shows?

Builds *ideal* clip features for a generated demo dataset (``hscnet demo-data``), in the feature
store's layout, trains the model on them with ``hscnet.train`` and scores, on the test split:

(a) the trained model (its best-validation checkpoint, as ``hscnet evaluate`` does);
(b) an alignment with nothing learned: per paragraph, a dynamic program that gives every sentence, in
    order, one contiguous run of clips, runs not overlapping, maximising the summed (row-standardised)
    cosine similarity between the sentence's mean word vector and the clips' features;
(c) the even-split prior (``hscnet.baselines``, ``uniform``);
(d) with ``--real-features``, what those features allow without the model: a ridge map from them to
    the noise-free ideal features, fitted on the training videos, then (b) on the test videos.

Ideal features: clip j of a video covers [j, j+1) * duration / num_clips (the model's own clip grid);
its vector is a fixed random projection (300 -> ``--dim``) of the mean word vector of the words naming
the events that overlap the clip (action, object colour(s), shape, position or direction, from the
demo's ``events.json``), plus Gaussian noise of ``--noise`` times the vector's RMS. A clip in an idle gap
shows no event: it carries noise only. The words come from the demo's own word vectors, as the text stage
embeds them, so (b) can compare sentences and clips through the same projection.

Usage (on a demo made by ``snakemake results/demo/metrics.json``, whose text stage gives ``--text``):

    python bench/learnability.py --demo data/demo --annotations results/demo/annotations \\
        --text results/demo/text/glove.h5 --out /tmp/learnability --temporal-crop --seeds 0 1 2

or on a bare ``hscnet demo-data`` output (the annotation and text stages then run here first).

It prints one JSON object: the settings, the prior's and the alignment's test mIoU and, per seed, the
model's test metrics, best epoch and the validation curve's spread over the last epochs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import h5py
import numpy as np

from hscnet import cli
from hscnet.baselines import baseline_predictions
from hscnet.data.annotations import load_normalised
from hscnet.evaluate import evaluate_checkpoint
from hscnet.io import atomic_path
from hscnet.metrics import parse_predictions, score
from hscnet.text.glove import read_vectors
from hscnet.train import train
from hscnet.training_config import TrainSettings

IOU_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)
# The verb a sentence uses most for each action (all of them are words of the demo's templates).
ACTION_WORDS = {
    "appear": ("appears",),
    "move": ("moves",),
    "recolour": ("turns",),
    "grow": ("grows", "bigger"),
    "shrink": ("shrinks", "smaller"),
    "shake": ("shakes",),
    "blink": ("blinks",),
    "disappear": ("disappears",),
}
WORD_DIM = 300


def event_words(event: dict) -> list[str]:
    """The words that name an event of ``events.json``: its action, the object's colours and shape, and
    where it appears, moves to or what colour it turns."""
    words = [*ACTION_WORDS[event["action"]], event["shape"], event["before"]["colour"], event["after"]["colour"]]
    return words + (event["detail"].split() if event["detail"] else [])


def prepare_text(demo: Path, out: Path, max_sentences: int = 9) -> tuple[Path, Path]:
    """The workflow's annotation and text stages on a ``hscnet demo-data`` output, in this process:
    returns (folder of the normalised {train,val,test}.json, word vectors HDF5)."""
    annotations = out / "annotations"
    for split in ("train", "val", "test"):
        cli.main(
            ["prepare-annotations", "--format", "paragraphs", "--input", str(demo / "annotations" / f"{split}.json")]
            + ["--split", split, "--max-sentences", str(max_sentences), "--output", str(annotations / f"{split}.json")]
        )
    splits = [str(annotations / f"{split}.json") for split in ("train", "val", "test")]
    cli.main(["tokenize", "--annotations", *splits, "--output", str(out / "tokens.json")])
    cli.main(["glove-convert", "--input", str(demo / "glove.txt"), "--format", "glove", "--output", str(out / "kv")])
    text = out / "glove.h5"
    cli.main(["embed-words", "--tokens", str(out / "tokens.json"), "--vectors", str(out / "kv"), "--output", str(text)])
    return annotations, text


def ideal_features(
    events: dict, vectors, num_clips: int, dim: int, noise: float, seed: int
) -> dict[str, tuple[np.ndarray, float, np.ndarray]]:
    """{video: ((num_clips, dim) float32 features, duration, the (300, dim) projection)}: module docstring."""
    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(WORD_DIM, dim)) / np.sqrt(dim)
    features = {}
    for video, script in sorted(events["videos"].items()):
        duration = float(script["duration"])
        clips = np.zeros((num_clips, dim))
        for j in range(num_clips):
            start, end = j * duration / num_clips, (j + 1) * duration / num_clips
            words = [w for e in script["events"] if e["start"] < end and e["end"] > start for w in event_words(e)]
            words = [w for w in words if w in vectors]
            if words:
                clips[j] = np.mean([vectors[w] for w in words], axis=0) @ projection
        scale = np.sqrt(np.mean(clips[np.any(clips != 0, axis=1)] ** 2)) if np.any(clips) else 1.0
        clips += rng.normal(scale=noise * scale, size=clips.shape)
        features[video] = (clips.astype(np.float32), duration, projection)
    return features


def write_feature_store(path: Path, features: dict, num_clips: int) -> None:
    """The features HDF5 in the layout of ``extractors`` (one (num_clips, dim) dataset per video)."""
    dim = next(iter(features.values()))[0].shape[1]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(extractor="ideal-words", weights="none", source="events.json", num_clips=num_clips)
        h5.attrs["feature_dim"] = dim
        for video, (clips, duration, _) in features.items():
            h5.create_dataset(video, data=clips).attrs["duration"] = duration


def align_spans(similarity: np.ndarray) -> list[tuple[int, int]]:
    """Ordered, non-overlapping clip runs [first, last] (inclusive), one per sentence (row of
    ``similarity`` (N_S, N_V), N_S <= N_V), maximising the summed similarity of the chosen cells."""
    num_sentences, num_clips = similarity.shape
    prefix = np.concatenate([np.zeros((num_sentences, 1)), np.cumsum(similarity, axis=1)], axis=1)
    # best[i, e]: best score of sentences 0..i with sentence i ending at clip e; first[i, e]: its first
    # clip; before[i, e]: where sentence i-1 ends on that best path.
    best = np.full((num_sentences, num_clips), -np.inf)
    first = np.zeros((num_sentences, num_clips), dtype=int)
    before = np.full((num_sentences, num_clips), -1, dtype=int)
    for i in range(num_sentences):
        if i:  # the best end of sentence i-1 at or before each clip
            upto = np.maximum.accumulate(best[i - 1])
            upto_end = np.array([int(np.argmax(best[i - 1, : k + 1])) for k in range(num_clips)])
        for e in range(i, num_clips):
            for b in range(i, e + 1):
                value = (upto[b - 1] if i else 0.0) + prefix[i, e + 1] - prefix[i, b]
                if value > best[i, e]:
                    best[i, e], first[i, e], before[i, e] = value, b, upto_end[b - 1] if i else -1
    spans, e = [], int(np.argmax(best[-1]))
    for i in range(num_sentences - 1, -1, -1):
        spans.append((int(first[i, e]), e))
        e = int(before[i, e])
    return spans[::-1]


def alignment_predictions(paragraphs, features: dict, text_path: Path) -> list[dict]:
    """Predictions of ``align_spans`` on the cosines between sentences and the video's centred clips, each
    sentence's row standardised (so that a sentence claims the clips above its own average)."""
    predictions = []
    with h5py.File(text_path, "r") as text:
        for p in paragraphs:
            clips, duration, projection = features[p.video]
            clips = clips - clips.mean(0)  # what tells clips apart, not what all clips of the video share
            vectors, word_sentence = text[p.id]["vectors"][()], text[p.id]["word_sentence"][()]
            sentences = np.stack([vectors[word_sentence == s].mean(0) for s in range(len(p.sentences))]) @ projection
            cosine = (sentences / np.linalg.norm(sentences, axis=1, keepdims=True)) @ (
                clips / np.maximum(np.linalg.norm(clips, axis=1, keepdims=True), 1e-9)
            ).T
            z = (cosine - cosine.mean(1, keepdims=True)) / (cosine.std(1, keepdims=True) + 1e-9)
            step = duration / len(clips)
            spans = [[first * step, (last + 1) * step] for first, last in align_spans(z)]
            predictions.append(
                {"id": p.id, "video": p.video, "duration": p.duration, "sentences": p.sentences, "timestamps": spans}
            )
    return predictions


def ridge_alignment_miou(real_path: Path, features: dict, train_videos: set, test, text: Path, lam: float) -> float:
    """What real clip features allow without the model: a ridge regression (dual form, standardised inputs)
    from the real features of the training videos to their noise-free ideal features, then the
    no-learning alignment on the test videos' predicted features -> test mIoU."""
    with h5py.File(real_path, "r") as h5:
        real = {video: h5[video][()] for video in h5}
    x = np.concatenate([real[v] for v in sorted(train_videos)])
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / scale
    y = np.concatenate([features[v][0] for v in sorted(train_videos)])
    weights = x.T @ np.linalg.solve(x @ x.T + lam * np.eye(len(x)), y)
    predicted = {p.video: (((real[p.video] - mean) / scale) @ weights, *features[p.video][1:]) for p in test}
    return miou_of(alignment_predictions(test, predicted, text), test)["mIoU"]


def miou_of(predictions: list[dict], paragraphs, thresholds=IOU_THRESHOLDS) -> dict:
    return score(parse_predictions(predictions, "predictions"), paragraphs, thresholds)


def train_and_test(settings: TrainSettings, test_annotations: Path) -> dict:
    """Train with ``settings`` and score its best checkpoint on ``test_annotations``."""
    history = train(settings)
    _, metrics = evaluate_checkpoint(
        str(Path(settings.out) / "best.pt"),
        settings.features,
        settings.text,
        str(test_annotations),
        settings.iou_thresholds,
        device=settings.device,
    )
    val = [row["val_mIoU"] for row in history]
    last = val[-min(20, len(val)) :]
    return {
        "test": {k: round(metrics[k], 2) for k in (*(f"R@{m:g}" for m in settings.iou_thresholds), "mIoU")},
        "best_epoch": metrics["epoch"],
        "best_val_mIoU": round(max(val), 2),
        "val_mIoU_sd_last_epochs": round(statistics.stdev(last), 2) if len(last) > 1 else 0.0,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, required=True, help="hscnet demo-data output (events.json, glove.txt)")
    parser.add_argument(
        "--annotations", type=Path, help="folder of the normalised {train,val,test}.json (default: made from --demo)"
    )
    parser.add_argument("--text", type=Path, help="word vectors HDF5 of the text stage (default: made from --demo)")
    parser.add_argument("--out", type=Path, required=True, help="work folder: features and one run per seed")
    parser.add_argument("--num-clips", type=int, default=16, help="clips per video (config.yaml's num_clips)")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension of the random projection")
    parser.add_argument("--noise", type=float, default=0.1, help="noise RMS relative to the features' RMS")
    parser.add_argument("--feature-seed", type=int, default=0, help="seed of the projection and the noise")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--temporal-crop", action="store_true")
    parser.add_argument("--sentence-subset", action="store_true", help="PRVG's random sentence subsets")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-training", action="store_true", help="score the prior and the alignment only")
    parser.add_argument(
        "--real-features", type=Path, help="also score a ridge map from these features (the demo's C3D) + alignment"
    )
    parser.add_argument("--ridge", type=float, nargs="+", default=[1e2, 1e3, 1e4], help="ridge lambdas")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    if args.annotations is None or args.text is None:
        args.annotations, args.text = prepare_text(args.demo, args.out)
    events = json.loads((args.demo / "events.json").read_text(encoding="utf-8"))
    features = ideal_features(
        events, read_vectors(args.demo / "glove.txt", "glove"), args.num_clips, args.dim, args.noise, args.feature_seed
    )
    store = args.out / "ideal_features.h5"
    write_feature_store(store, features, args.num_clips)
    test_path = args.annotations / "test.json"
    test = load_normalised(test_path)
    report = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "test_paragraphs": len(test),
        "test_sentences": sum(len(p.sentences) for p in test),
        "prior_mIoU": round(miou_of(baseline_predictions("uniform", test), test)["mIoU"], 2),
        "alignment_mIoU": round(miou_of(alignment_predictions(test, features, args.text), test)["mIoU"], 2),
        "model": {},
    }
    if args.real_features:
        noise_free = ideal_features(
            events, read_vectors(args.demo / "glove.txt", "glove"), args.num_clips, args.dim, 0.0, args.feature_seed
        )
        train_videos = {p.video for p in load_normalised(args.annotations / "train.json")}
        report["ridge_alignment_mIoU"] = {
            f"{lam:g}": round(
                ridge_alignment_miou(args.real_features, noise_free, train_videos, test, args.text, lam), 2
            )
            for lam in args.ridge
        }
    print(json.dumps(report), flush=True)
    if not args.skip_training:
        for seed in args.seeds:
            settings = TrainSettings(
                features=str(store),
                text=str(args.text),
                train=str(args.annotations / "train.json"),
                val=str(args.annotations / "val.json"),
                out=str(args.out / f"seed{seed}"),
                preset=args.preset,
                epochs=args.epochs,
                seed=seed,
                device="cpu",
                threads=args.threads,
                temporal_crop=args.temporal_crop,
                sentence_subset=args.sentence_subset,
                iou_thresholds=IOU_THRESHOLDS,
            )
            report["model"][seed] = train_and_test(settings, test_path)
            print(json.dumps({"seed": seed, **report["model"][seed]}), flush=True)
        tests = [run["test"]["mIoU"] for run in report["model"].values()]
        report["model_mIoU_mean"] = round(statistics.mean(tests), 2)
        report["model_mIoU_sd"] = round(statistics.stdev(tests), 2) if len(tests) > 1 else 0.0
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
