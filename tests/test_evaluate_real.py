"""Every real annotation file's own ground truth, in its release order and without ids, scores exactly 100.

The predictions are built from the raw file, not from our readers: per video, one span per
sentence in file order (frames / fps for TACoS), with the sentences, no ``id``. Before sentence
order was kept, the TACoS test file scored mIoU 7.86 and ActivityNet val_2 97.81 this way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hscnet.cli import main
from hscnet.data.prvg import read_prvg_npy

# (annotation file, --format, --max-sentences or None, its paragraphs and sentences once read:
# sum over videos of ceil(sentences / N) when chunked)
REAL_FILES = [
    ("tacos/train.json", "tacos", None, 75, 9790),
    ("tacos/val.json", "tacos", None, 27, 4436),
    ("tacos/test.json", "tacos", None, 25, 4001),
    ("tacos/test.json", "tacos", 9, 457, 4001),
    ("tacos/paragraphs/train.json", "paragraphs", None, 1526, 9732),
    ("tacos/paragraphs/val.json", "paragraphs", None, 688, 4398),
    ("tacos/paragraphs/test.json", "paragraphs", None, 673, 3989),
    ("activitynet/paragraphs/val_2.json", "paragraphs", None, 4929, 17031),
    ("activitynet/train.json", "activitynet", 8, 10293, 37417),  # 4 degenerate spans dropped, not scored
    ("activitynet/val_1.json", "activitynet", 8, 5015, 17505),
    ("activitynet/val_2.json", "activitynet", None, 4885, 17031),
    ("activitynet/val_2.json", "activitynet", 8, 4929, 17031),
]
# PRVG's original .npy files, read with the restricted unpickler (annotation_format prvg_npy).
PRVG_NPY = [
    ("prvg/tacos_train.npy", 1526, 9732),
    ("prvg/tacos_val.npy", 688, 4398),
    ("prvg/tacos_test.npy", 673, 3989),
    ("prvg/activitynet_test.npy", 4929, 17031),
]


def release_predictions(data: list | dict) -> list[dict]:
    """One predictions entry per video: the file's spans (in seconds) and sentences in file order, no id."""
    per_video: dict[str, dict] = {}
    if isinstance(data, list):  # paragraph lists: a video's paragraphs follow each other in file order
        for entry in data:
            video = per_video.setdefault(entry["video"], {"video": entry["video"], "timestamps": [], "sentences": []})
            video["timestamps"] += [list(span) for span in entry["timestamps"]]
            video["sentences"] += entry["sentences"]
    else:
        for video, entry in data.items():
            fps = entry.get("fps", 1.0)  # the TACoS per-video files count frames
            spans = [[start / fps, end / fps] for start, end in entry["timestamps"]]
            per_video[video] = {"video": video, "timestamps": spans, "sentences": entry["sentences"]}
    return list(per_video.values())


def score_cli(tmp_path: Path, predictions: list[dict], annotations: Path, fmt: str, max_sentences: int | None) -> dict:
    pred, metrics = tmp_path / "predictions.json", tmp_path / "metrics.json"
    pred.write_text(json.dumps(predictions))
    argv = ["evaluate", str(pred), "--annotations", str(annotations), "--format", fmt, "--metrics", str(metrics)]
    assert main(argv + (["--max-sentences", str(max_sentences)] if max_sentences else [])) == 0
    return json.loads(metrics.read_text())


def assert_perfect(metrics: dict) -> None:
    scores = {k: v for k, v in metrics.items() if k.startswith("R@") or k == "mIoU"}
    assert len(scores) == 5 and all(v == 100.0 for v in scores.values()), scores


@pytest.mark.slow
@pytest.mark.parametrize(("relative", "fmt", "max_sentences", "paragraphs", "sentences"), REAL_FILES)
def test_release_ground_truth_scores_100(shared_data, tmp_path, relative, fmt, max_sentences, paragraphs, sentences):
    path = shared_data / relative
    metrics = score_cli(tmp_path, release_predictions(json.loads(path.read_text())), path, fmt, max_sentences)
    assert_perfect(metrics)
    assert metrics["num_sentences"] == sentences
    assert metrics["num_paragraphs"] == paragraphs


@pytest.mark.slow
@pytest.mark.parametrize(("relative", "paragraphs", "sentences"), PRVG_NPY)
def test_prvg_npy_ground_truth_scores_100(shared_data, tmp_path, relative, paragraphs, sentences):
    """The .npy a user downloads, read by --format prvg_npy; the predictions come from its own entries."""
    path = shared_data / relative
    metrics = score_cli(tmp_path, release_predictions(read_prvg_npy(path)), path, "prvg_npy", None)
    assert_perfect(metrics)
    assert (metrics["num_paragraphs"], metrics["num_sentences"]) == (paragraphs, sentences)


def test_ground_truth_in_another_sentence_order_is_refused(shared_data, tmp_path, caplog):
    """Time-sorted predictions of the time-unsorted TACoS test file: an error naming the paragraph."""
    path = shared_data / "tacos" / "test.json"
    predictions = release_predictions(json.loads(path.read_text()))
    first = predictions[0]
    order = sorted(range(len(first["timestamps"])), key=lambda k: first["timestamps"][k])
    first["timestamps"] = [first["timestamps"][k] for k in order]
    first["sentences"] = [first["sentences"][k] for k in order]
    pred = tmp_path / "sorted.json"
    pred.write_text(json.dumps(predictions))
    assert main(["evaluate", str(pred), "--annotations", str(path), "--format", "tacos"]) == 1
    moved = next(k for k, source in enumerate(order) if source != k)  # first sentence the sort moved
    assert f"paragraph 'test_00000' (video {first['video']!r}) sentence {moved}: the predictions say" in caplog.text


# What PRVG's code reads: lib/datasets/activitynet.py loads data/ActivityNet/test.json (byte-identical to
# val_2.json, one paragraph per video), lib/datasets/tacos.py data/TACoS/test.npy; activitynet_test.npy is
# the same val_2 chunked to at most 8 sentences.
PRVG_TEST_FILES = [
    ("activitynet/val_2.json", "activitynet"),
    ("prvg/activitynet_test.npy", "prvg_npy"),
    ("prvg/tacos_test.npy", "prvg_npy"),
]


def prvg_entries(path: Path, fmt: str) -> list[dict]:
    """The file's paragraphs as PRVG's dataset classes see them, from the raw file (not our readers)."""
    if fmt == "prvg_npy":
        return read_prvg_npy(path)
    return [{"video": video, **entry} for video, entry in json.loads(path.read_text()).items()]


@pytest.mark.parametrize(("relative", "fmt"), PRVG_TEST_FILES)
def test_gt_without_clamping_gives_every_sentence_the_hit_prvgs_evaluation_gives_it(shared_data, relative, fmt):
    """Even-split predictions in seconds on PRVG's own test files, scored with --hit-rule gt --no-clamp, against
    PRVG's definitions written out here: its datasets divide each span by the video's duration, its
    eval.py takes overlap / hull of those fractions in float64 and counts IoU > m, nothing clamped. On
    ActivityNet some sentences sit on a threshold to the last bit: IoU on seconds, another union formula,
    or clamping changes R@0.3 and R@0.5 there."""
    import numpy as np

    from hscnet.baselines import baseline_predictions
    from hscnet.data.annotations import load_paragraphs
    from hscnet.metrics import parse_predictions, score

    paragraphs = load_paragraphs(shared_data / relative, fmt, "test")
    predictions = baseline_predictions("uniform", paragraphs)
    metrics = score(
        parse_predictions(predictions, "even"), paragraphs, [0.1, 0.3, 0.5, 0.7], hit_rule="gt", clamp=False
    )
    entries = prvg_entries(shared_data / relative, fmt)
    assert [p["video"] for p in predictions] == [e["video"] for e in entries]  # one paragraph each, file order
    duration = np.array([e["duration"] for e in entries for _ in e["timestamps"]], dtype=np.float64)[:, None]
    pred = np.array([span for p in predictions for span in p["timestamps"]], dtype=np.float64) / duration
    gt = np.array([span for e in entries for span in e["timestamps"]], dtype=np.float64) / duration
    overlap = np.maximum(0.0, np.minimum(pred[:, 1], gt[:, 1]) - np.maximum(pred[:, 0], gt[:, 0]))
    iou = overlap / (np.maximum(pred[:, 1], gt[:, 1]) - np.minimum(pred[:, 0], gt[:, 0]))
    for m in (0.1, 0.3, 0.5, 0.7):
        # one sentence is 0.006 points here, so 1e-12 tells any differing hit apart
        assert metrics[f"R@{m:g}"] == pytest.approx(100.0 * np.count_nonzero(iou > m) / len(iou), abs=1e-12), m
    assert metrics["mIoU"] == pytest.approx(100.0 * iou.mean(), abs=1e-12)
