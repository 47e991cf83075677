"""Metrics, predictions files, baselines and hscnet evaluate (model and scoring modes)."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest
from builders import write_synthetic_dataset

from hscnet.baselines import baseline_predictions, baseline_spans
from hscnet.cli import main
from hscnet.data.annotations import Paragraph, load_normalised
from hscnet.evaluate import evaluate_checkpoint
from hscnet.io import write_json
from hscnet.metrics import parse_predictions, read_predictions, recall_and_miou, score
from hscnet.train import train
from hscnet.training_config import TrainSettings

pytestmark = pytest.mark.usefixtures("one_thread")


def paragraph(pid, video, duration, spans):
    return Paragraph(pid, video, duration, [f"s{k}" for k in range(len(spans))], [tuple(s) for s in spans])


def prediction(pid, video, spans):
    return {"id": pid, "video": video, "timestamps": spans}


# ----------------------------------------------------------------------------- metrics


def test_hand_computed_recall_and_miou():
    gt = [paragraph("a", "v1", 10.0, [[0, 4], [4, 10]]), paragraph("b", "v2", 20.0, [[2, 6]])]
    pred = parse_predictions([prediction("a", "v1", [[0, 4], [2, 8]]), prediction("b", "v2", [[6, 10]])], "test")
    # IoUs: 1.0; [2,8] vs [4,10] = 4/8 = 0.5; [6,10] vs [2,6] = 0 (touching).
    metrics = score(pred, gt, [0.1, 0.5, 0.7])
    assert metrics["R@0.1"] == pytest.approx(200 / 3)
    assert metrics["R@0.5"] == pytest.approx(200 / 3)  # IoU == m is a hit
    assert metrics["R@0.7"] == pytest.approx(100 / 3)
    assert metrics["mIoU"] == pytest.approx(50.0)
    assert (metrics["num_paragraphs"], metrics["num_sentences"]) == (2, 3)
    assert metrics["iou_thresholds"] == [0.1, 0.5, 0.7] and "IoU >= m" in metrics["hit_rule"]


def test_iou_equal_to_threshold_in_exact_arithmetic_is_a_hit():
    # [0.1, 0.3] vs [0.1, 0.5] is IoU 0.5 exactly, but 0.49999999999999994 in floats.
    gt = [paragraph("a", "v", 1.0, [[0.1, 0.5]])]
    metrics = score(parse_predictions([prediction("a", "v", [[0.1, 0.3]])], "t"), gt, [0.5])
    assert metrics["R@0.5"] == 100.0
    assert recall_and_miou(np.array([0.4999]), [0.5])["R@0.5"] == 0.0


def test_predictions_match_by_unique_video_when_ids_are_absent():
    gt = [paragraph("x_0", "v1", 10.0, [[0, 5]]), paragraph("x_1", "v2", 10.0, [[5, 10]])]
    pred = parse_predictions([{"video": "v2", "timestamps": [[5, 10]]}, {"video": "v1", "timestamps": [[0, 5]]}], "p")
    assert score(pred, gt, [0.5])["mIoU"] == pytest.approx(100.0)


def test_entries_without_id_predict_the_video_in_release_order_across_its_paragraphs():
    # v1's release gives 4 sentences; the reader dropped #1 and chunked the rest into two paragraphs
    gt = [
        Paragraph("x_0", "v1", 10.0, ["a", "c"], [(0.0, 2.0), (4.0, 6.0)], positions=[0, 2], video_sentences=4),
        Paragraph("x_1", "v1", 10.0, ["d"], [(8.0, 10.0)], positions=[3], video_sentences=4),
    ]
    # two id-less entries, concatenated in file order; the dropped sentence's span is not scored
    entries = [
        {"video": "v1", "timestamps": [[0, 2], [7, 3]], "sentences": ["a", "dropped"]},
        {"video": "v1", "timestamps": [[4, 6], [8, 10]], "sentences": [" c", "d "]},
    ]
    assert score(parse_predictions(entries, "p"), gt, [0.5])["mIoU"] == pytest.approx(100.0)
    # the same spans in another sentence order: an error naming the paragraph, not a low score
    entries[1]["sentences"] = ["d", "c"]
    with pytest.raises(
        ValueError,
        match=r"p: paragraph 'x_0' \(video 'v1'\) sentence 1: the predictions say 'd' but "
        r"the annotation is 'c'",
    ):
        score(parse_predictions(entries, "p"), gt, [0.5], source="p")
    with pytest.raises(
        ValueError,
        match=r"p\.json: 1 entries without 'id' for video 'v1' predict 2 spans, but the "
        r"annotation file gives that video 4 sentences",
    ):
        score(parse_predictions(entries[1:], "p.json"), gt, [0.5], source="p.json")


def test_contract_paragraphs_count_release_positions_in_file_order():
    gt = [paragraph("x_0", "v1", 10.0, [[0, 5]]), paragraph("x_1", "v1", 10.0, [[5, 10]])]
    pred = parse_predictions([{"video": "v1", "timestamps": [[0, 5], [5, 10]]}], "p.json")
    assert score(pred, gt, [0.5])["mIoU"] == pytest.approx(100.0)


def test_sentences_of_an_entry_with_id_must_be_the_annotations():
    gt = [paragraph("a", "v1", 10.0, [[0, 4], [4, 10]])]
    ok = {"id": "a", "video": "v1", "timestamps": [[0, 4], [4, 10]], "sentences": ["s0", "s1"]}
    assert score(parse_predictions([ok], "p"), gt, [0.5])["mIoU"] == pytest.approx(100.0)
    swapped = {**ok, "sentences": ["s1", "s0"]}
    with pytest.raises(ValueError, match=r"p: paragraph 'a' \(video 'v1'\) sentence 0: the predictions say 's1'"):
        score(parse_predictions([swapped], "p"), gt, [0.5], source="p")


def test_entry_whose_id_matches_but_video_differs_is_an_error():
    gt = [paragraph("a", "v1", 10.0, [[0, 4]])]
    with pytest.raises(
        ValueError,
        match=r"p: the prediction for paragraph 'a' is for video 'v2', but the annotations "
        r"have that paragraph in video 'v1'",
    ):
        score(parse_predictions([prediction("a", "v2", [[0, 4]])], "p"), gt, [0.5], source="p")


def test_reversed_scored_span_is_an_error_naming_the_paragraph():
    gt = [paragraph("a", "v1", 10.0, [[0, 4]])]
    with pytest.raises(ValueError, match=r"p: paragraph 'a' sentence 0: reversed span \(start 5.0 > end 2.0\)"):
        score(parse_predictions([prediction("a", "v1", [[5, 2]])], "p"), gt, [0.5], source="p")


def test_predicted_spans_outside_the_video_are_clamped_and_counted(caplog):
    gt = [paragraph("a", "v1", 10.0, [[0, 4], [6, 10]])]
    pred = parse_predictions([prediction("a", "v1", [[-3, 4], [6, 14]])], "p")
    with caplog.at_level("INFO", logger="hscnet.metrics"):
        assert score(pred, gt, [0.5], source="p")["mIoU"] == pytest.approx(100.0)
    assert "p: clamped 2 predicted spans reaching outside [0, duration] of their video" in caplog.text


def test_missing_prediction_and_sentence_count_mismatch_are_errors():
    gt = [paragraph("a", "v1", 10.0, [[0, 4], [4, 10]]), paragraph("b", "v2", 10.0, [[0, 4]])]
    with pytest.raises(ValueError, match=r"p\.json: no prediction for 1 of 2 paragraphs, e\.g\. \['b'\]"):
        score(parse_predictions([prediction("a", "v1", [[0, 1], [1, 2]])], "p.json"), gt, [0.5], source="p.json")
    with pytest.raises(ValueError, match=r"paragraph 'a' has 2 sentences but 1 predicted spans"):
        score(parse_predictions([prediction("a", "v1", [[0, 1]]), prediction("b", "v2", [[0, 1]])], "p"), gt, [0.5])


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"id": "a", "video": "v", "timestamps": [[0, "x"]]},
            r"\(id 'a'\): timestamp 0 is not a \[start, end\] pair of numbers",
        ),
        ({"id": "a", "video": "v", "timestamps": [["0", "1"]]}, r"timestamp 0 is not a \[start, end\] pair of numbers"),
        (
            {"id": "a", "video": "v", "timestamps": [[False, True]]},
            r"timestamp 0 is not a \[start, end\] pair of numbers",
        ),
        (
            {"id": "a", "video": "v", "timestamps": [[0, 1]], "sentences": ["x", "y"]},
            r"'sentences' must be a list of 1 strings",
        ),
        ({"id": "a", "video": "v", "timestamps": []}, r"'timestamps' must be a non-empty list"),
        ({"id": "a", "timestamps": [[0, 1]]}, r"expected an object with 'video' and 'timestamps'"),
        ({"id": "a", "video": "v", "timestamps": [[0, float("nan")]]}, r"timestamp 0 is not finite"),
    ],
)
def test_malformed_predictions_name_file_and_entry(tmp_path, entry, message):
    path = tmp_path / "pred.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(ValueError, match=rf"pred\.json: entry 0\b.*{message}"):
        read_predictions(path)


def test_predictions_file_must_be_json_list(tmp_path):
    path = tmp_path / "pred.json"
    path.write_text('{"a": 1}')
    with pytest.raises(ValueError, match=r"pred\.json: predictions must be a JSON list"):
        read_predictions(path)
    path.write_text("[{")
    with pytest.raises(ValueError, match=r"pred\.json: not valid JSON"):
        read_predictions(path)


# ----------------------------------------------------------------------------- baselines


def test_uniform_and_whole_priors():
    assert baseline_spans("uniform", 3, 12.0) == [[0.0, 4.0], [4.0, 8.0], [8.0, 12.0]]
    assert baseline_spans("whole", 2, 7.5) == [[0.0, 7.5], [0.0, 7.5]]
    with pytest.raises(ValueError, match="unknown baseline 'median'"):
        baseline_spans("median", 2, 1.0)
    gt = [paragraph("a", "v", 12.0, [[0, 4], [4, 8], [8, 12]])]
    assert score(parse_predictions(baseline_predictions("uniform", gt), "u"), gt, [0.7])["mIoU"] == pytest.approx(100.0)


def test_baseline_cli_writes_predictions_and_metrics_equal_to_rescoring(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", splits={"test": 12})
    pred, metrics = tmp_path / "uniform.json", tmp_path / "uniform_metrics.json"
    assert (
        main(
            [
                "baseline",
                "--kind",
                "uniform",
                "--annotations",
                str(data["test"]),
                "--predictions",
                str(pred),
                "--metrics",
                str(metrics),
                "--iou",
                "0.3",
                "0.5",
            ]
        )
        == 0
    )
    written = json.loads(metrics.read_text())
    assert written["method"] == "baseline:uniform" and written["num_paragraphs"] == 12
    rescored = tmp_path / "rescored.json"
    assert (
        main(
            [
                "evaluate",
                str(pred),
                "--annotations",
                str(data["test"]),
                "--iou",
                "0.3",
                "0.5",
                "--metrics",
                str(rescored),
            ]
        )
        == 0
    )
    again = json.loads(rescored.read_text())
    for key in ("R@0.3", "R@0.5", "mIoU", "num_sentences"):
        assert again[key] == written[key]


def test_score_cli_prints_metrics_without_metrics_file(tmp_path, capsys):
    data = write_synthetic_dataset(tmp_path / "data", splits={"test": 4})
    pred = tmp_path / "whole.json"
    assert main(["baseline", "--kind", "whole", "--annotations", str(data["test"]), "--predictions", str(pred)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["method"] == "baseline:whole" and 0 < printed["mIoU"] < 100


def test_score_real_tacos_files_in_both_formats(shared_data, tmp_path):
    """The uniform prior on TACoS test, scored against PRVG's paragraph file and the 2D-TAN per-video file."""
    paragraphs_file = shared_data / "tacos" / "paragraphs" / "test.json"
    pred, metrics = tmp_path / "uniform.json", tmp_path / "m.json"
    assert (
        main(
            [
                "baseline",
                "--annotations",
                str(paragraphs_file),
                "--format",
                "paragraphs",
                "--split",
                "test",
                "--predictions",
                str(pred),
                "--metrics",
                str(metrics),
                "--iou",
                "0.1",
                "0.3",
                "0.5",
            ]
        )
        == 0
    )
    m = json.loads(metrics.read_text())
    assert (m["num_paragraphs"], m["num_sentences"]) == (673, 3989)  # shared/data/README.md
    assert 0 < m["R@0.5"] < m["R@0.3"] < m["R@0.1"] < 100
    # Per-video 2D-TAN file: one paragraph per video in release order, predictions without ids match by video.
    per_video = shared_data / "tacos" / "test.json"
    whole = tmp_path / "whole.json"
    assert (
        main(
            [
                "baseline",
                "--kind",
                "whole",
                "--annotations",
                str(per_video),
                "--format",
                "tacos",
                "--predictions",
                str(whole),
                "--metrics",
                str(tmp_path / "w.json"),
            ]
        )
        == 0
    )
    entries = json.loads(whole.read_text())
    for entry in entries:
        del entry["id"]
    whole.write_text(json.dumps(entries))
    assert (
        main(
            [
                "evaluate",
                str(whole),
                "--annotations",
                str(per_video),
                "--format",
                "tacos",
                "--metrics",
                str(tmp_path / "w2.json"),
            ]
        )
        == 0
    )
    w, w2 = json.loads((tmp_path / "w.json").read_text()), json.loads((tmp_path / "w2.json").read_text())
    assert w2["num_paragraphs"] == 25 and w2["num_sentences"] == 4001 and w2["mIoU"] == w["mIoU"]


def test_scoring_missing_predictions_file_is_one_error(tmp_path, caplog):
    data = write_synthetic_dataset(tmp_path / "data", splits={"test": 2})
    assert main(["evaluate", str(tmp_path / "nope.json"), "--annotations", str(data["test"])]) == 1
    assert "nope.json: file not found" in caplog.text


def test_evaluate_needs_a_mode(tmp_path, caplog):
    data = write_synthetic_dataset(tmp_path / "data", splits={"test": 2})
    assert main(["evaluate", "--annotations", str(data["test"])]) == 1
    assert "give a PREDICTIONS file to score, or --checkpoint" in caplog.text
    assert main(["evaluate", "--annotations", str(data["test"]), "--checkpoint", "x.pt"]) == 1
    assert "--checkpoint needs --features, --text, --predictions" in caplog.text


def scored_files(tmp_path):
    """Annotations of 2 paragraphs and their own spans as predictions, written as JSON text (editable)."""
    data = write_synthetic_dataset(tmp_path / "data", splits={"test": 2})
    annotations = json.loads(data["test"].read_text())
    predictions = [{"id": p["id"], "video": p["video"], "timestamps": p["timestamps"]} for p in annotations]
    return data["test"], json.dumps(annotations), json.dumps(predictions)


def test_iou_thresholds_outside_0_1_are_refused_and_no_metrics_written(tmp_path, caplog):
    """Issue 30, row 11: ``--iou 1.5 -0.1 nan`` gave R@-0.1 100.00 and a bare NaN in the metrics file."""
    annotations, _, predictions = scored_files(tmp_path)
    scored, metrics = tmp_path / "pred.json", tmp_path / "metrics.json"
    scored.write_text(predictions)
    base = ["--annotations", str(annotations), "--metrics", str(metrics)]
    for thresholds, named in ((["1.5", "-0.1", "nan", "0.5"], "1.5 -0.1 nan"), (["0"], "0"), (["inf"], "inf")):
        assert main(["evaluate", str(scored), *base, "--iou", *thresholds]) == 1
        assert f"--iou {named}: an IoU threshold lies in (0, 1]" in caplog.text
        baseline = ["baseline", *base, "--predictions", str(tmp_path / "u.json"), "--iou", *thresholds]
        assert main(baseline) == 1
        caplog.clear()
    assert not metrics.exists() and not (tmp_path / "u.json").exists()
    with pytest.raises(ValueError, match=r"--iou 1\.01: an IoU threshold lies in \(0, 1\]"):
        recall_and_miou(np.array([0.5]), [1.01])
    assert main(["evaluate", str(scored), *base, "--iou", "1"]) == 0
    assert json.loads(metrics.read_text())["R@1"] == 100.0


def test_metrics_and_every_json_output_are_strict_json(tmp_path):
    """A NaN or Infinity, which strict parsers refuse, never reaches a JSON file: the write names the file."""
    path = tmp_path / "metrics.json"
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=rf"^{path}: Out of range float values are not JSON compliant"):
            write_json(path, {"mIoU": value})
        assert not path.exists() and list(tmp_path.iterdir()) == []


def with_huge(entries: list, edit) -> str:
    """``entries`` as JSON text with the field that ``edit`` sets to "HUGE" replaced by the integer 10**400."""
    edit(entries[0])
    return json.dumps(entries).replace('"HUGE"', "1" + "0" * 400)


def test_a_timestamp_of_ten_to_the_400_is_one_line_naming_the_file(tmp_path, caplog):
    """Issue 30: an integer past float's range in the predictions or the annotations gave an OverflowError."""
    annotations, annotated, predictions = scored_files(tmp_path)
    first_id = json.loads(predictions)[0]["id"]
    scored = tmp_path / "pred.json"
    scored.write_text(with_huge(json.loads(predictions), lambda entry: entry["timestamps"][0].__setitem__(1, "HUGE")))
    assert main(["evaluate", str(scored), "--annotations", str(annotations)]) == 1
    assert f"{scored}: entry 0 (id '{first_id}'): timestamp 0 is not finite: an integer too large" in caplog.text
    scored.write_text(predictions)
    edited = tmp_path / "annotations.json"
    edits = {
        "'duration'": lambda entry: entry.__setitem__("duration", "HUGE"),
        "sentence 0: start": lambda entry: entry["timestamps"][0].__setitem__(0, "HUGE"),
    }
    for where, edit in edits.items():
        edited.write_text(with_huge(json.loads(annotated), edit))
        caplog.clear()
        assert main(["evaluate", str(scored), "--annotations", str(edited)]) == 1
        expected = f"{edited}: paragraph '{first_id}': {where}: expected a finite number, got an integer too large"
        assert expected in caplog.text, caplog.text


def test_metrics_naming_a_directory_is_refused_before_scoring(tmp_path, caplog):
    """Issue 30: ``--metrics`` naming a directory gave an IsADirectoryError traceback after scoring."""
    annotations, _, predictions = scored_files(tmp_path)
    scored = tmp_path / "pred.json"
    scored.write_text(predictions)
    assert main(["evaluate", str(scored), "--annotations", str(annotations), "--metrics", str(tmp_path)]) == 1
    assert f"--metrics {tmp_path}: is a directory; the output must name the file to write, e.g. " in caplog.text
    argv = ["baseline", "--annotations", str(annotations), "--predictions", str(tmp_path)]
    assert main(argv) == 1
    assert f"--predictions {tmp_path}: is a directory" in caplog.text


# ----------------------------------------------------------------------------- model evaluation


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = write_synthetic_dataset(root / "data", splits={"train": 16, "val": 6, "test": 6})
    train(
        TrainSettings(
            features=str(data["features"]),
            text=str(data["text"]),
            train=str(data["train"]),
            val=str(data["val"]),
            out=str(root / "run"),
            preset="tiny",
            epochs=1,
            device="cpu",
        )
    )
    return data, root / "run" / "best.pt"


def test_evaluate_checkpoint_writes_predictions_in_seconds_and_metrics(trained, tmp_path):
    data, checkpoint = trained
    pred, metrics = tmp_path / "predictions.json", tmp_path / "metrics.json"
    argv = [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--features",
        str(data["features"]),
        "--text",
        str(data["text"]),
        "--annotations",
        str(data["test"]),
        "--iou",
        "0.1",
        "0.3",
        "0.5",
        "0.7",
        "--predictions",
        str(pred),
        "--metrics",
        str(metrics),
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    gt = load_normalised(data["test"])
    entries = json.loads(pred.read_text())
    assert [e["id"] for e in entries] == [p.id for p in gt]
    for entry, p in zip(entries, gt, strict=True):
        assert entry["video"] == p.video and len(entry["timestamps"]) == len(p.sentences) == len(
            entry["levels"]["sentence"]
        )
        spans = np.array(entry["timestamps"])
        assert (spans[:, 0] <= spans[:, 1]).all() and spans.min() >= 0 and spans.max() <= p.duration + 1e-6
        assert len(entry["levels"]["paragraph"]) == 2
    # the word decoder's spans: one per token of each sentence (the text stage's word_sentence), in seconds
    with h5py.File(data["text"], "r") as text:
        for entry in entries:
            words_per_sentence = np.bincount(text[entry["id"]]["word_sentence"][()])
            assert [len(spans) for spans in entry["levels"]["word"]] == words_per_sentence.tolist()
            spans = np.array([span for sentence in entry["levels"]["word"] for span in sentence])
            assert (spans[:, 0] <= spans[:, 1]).all() and spans.min() >= 0 and spans.max() <= entry["duration"] + 1e-6
    m = json.loads(metrics.read_text())
    assert m["method"] == "hscnet" and m["checkpoint"] == str(checkpoint) and m["epoch"] == 1
    assert m["config"]["video_dim"] == 16 and m["num_sentences"] == sum(len(p.sentences) for p in gt)
    assert {"R@0.1", "R@0.3", "R@0.5", "R@0.7", "mIoU"} <= m.keys()
    # The written predictions re-score to the same numbers.
    rescored = score(read_predictions(pred), gt, [0.1, 0.3, 0.5, 0.7])
    assert all(rescored[k] == m[k] for k in ("R@0.1", "R@0.5", "mIoU"))


def test_evaluate_same_checkpoint_twice_is_identical(trained, tmp_path):
    data, checkpoint = trained
    outputs = []
    for run in ("a", "b"):
        pred = tmp_path / f"{run}.json"
        assert (
            main(
                [
                    "evaluate",
                    "--checkpoint",
                    str(checkpoint),
                    "--features",
                    str(data["features"]),
                    "--text",
                    str(data["text"]),
                    "--annotations",
                    str(data["test"]),
                    "--predictions",
                    str(pred),
                    "--metrics",
                    str(tmp_path / f"{run}_m.json"),
                    "--batch-size",
                    "1" if run == "a" else "4",
                ]
            )
            == 0
        )
        outputs.append(json.loads(pred.read_text()))
    # Batch size changes padding only; predictions agree to float precision.
    for x, y in zip(*outputs, strict=True):
        np.testing.assert_allclose(x["timestamps"], y["timestamps"], atol=1e-4)


def test_corrupt_checkpoint_is_one_error_and_no_output(trained, tmp_path, caplog):
    data, _ = trained
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"\x00" * 100)
    pred = tmp_path / "predictions.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(bad),
                "--features",
                str(data["features"]),
                "--text",
                str(data["text"]),
                "--annotations",
                str(data["test"]),
                "--predictions",
                str(pred),
                "--metrics",
                str(tmp_path / "m.json"),
            ]
        )
        == 1
    )
    assert f"{bad}: not a checkpoint (not a PyTorch archive" in caplog.text
    assert not pred.exists() and not (tmp_path / "m.json").exists()


def test_a_checkpoint_of_the_earlier_model_says_so(trained, tmp_path, caplog):
    """Format 1 predates the clip positions in g: its weights no longer fit, and the error says why."""
    import torch

    data, checkpoint = trained
    old = tmp_path / "best.pt"
    torch.save({**torch.load(checkpoint, weights_only=True), "format": "hscnet-checkpoint-1"}, old)
    argv = ["evaluate", "--checkpoint", str(old), "--features", str(data["features"]), "--text", str(data["text"])]
    argv += ["--annotations", str(data["test"]), "--predictions", str(tmp_path / "p.json")]
    assert main(argv) == 1
    assert f"{old}: written by an earlier version of hscnet" in caplog.text and "train it again" in caplog.text
    assert not (tmp_path / "p.json").exists()


def test_features_from_another_extractor_are_refused(trained, tmp_path):
    import h5py

    data, checkpoint = trained
    other = tmp_path / "features.h5"
    other.write_bytes(data["features"].read_bytes())
    with h5py.File(other, "a") as h5:
        h5.attrs["weights"] = "ab" * 32
    with pytest.raises(
        ValueError, match=r"features\.h5: weights 'abab.*' differs from the training data's 'random-seed-0'"
    ):
        evaluate_checkpoint(str(checkpoint), str(other), str(data["text"]), str(data["test"]), [0.5], device="cpu")


def test_features_of_another_number_of_clips_than_training_are_refused(trained, tmp_path, caplog):
    data, checkpoint = trained  # trained on 8 clips per video
    other = write_synthetic_dataset(tmp_path / "data", splits={"test": 2}, num_clips=24)
    out = tmp_path / "predictions.json"
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--features", str(other["features"])]
    argv += ["--text", str(other["text"]), "--annotations", str(other["test"]), "--predictions", str(out)]
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 1
    assert f"{other['features']}: num_clips 24 differs from the training data's 8 ({checkpoint})" in caplog.text
    assert not out.exists()


# ----------------------------------------------------------------------------- conventions: ge/gt, clamping


def reference_metrics(pairs, thresholds, strict: bool, clamp: bool) -> dict[str, float]:
    """R@m and mIoU in percent, written from the definitions: IoU = overlap / hull of the two spans as fractions
    of the duration; a hit is IoU > m (strict) or IoU >= m; with ``clamp`` both spans are first cut to
    [0, duration]."""
    ious = []
    for (ps, pe), (gs, ge), duration in pairs:
        if clamp:
            ps, pe, gs, ge = (min(max(x, 0.0), duration) for x in (ps, pe, gs, ge))
        ps, pe, gs, ge = (x / duration for x in (ps, pe, gs, ge))
        ious.append(max(0.0, min(pe, ge) - max(ps, gs)) / (max(pe, ge) - min(ps, gs)))
    out = {f"R@{m:g}": 100.0 * sum((iou > m) if strict else (iou >= m) for iou in ious) / len(ious) for m in thresholds}
    out["mIoU"] = 100.0 * sum(ious) / len(ious)
    return out


@pytest.mark.parametrize(("hit_rule", "clamp"), [("ge", True), ("gt", False), ("gt", True), ("ge", False)])
def test_hit_rule_and_clamping_follow_their_definitions_on_ties_and_spans_outside(tmp_path, hit_rule, clamp):
    # ActivityNet release layout; v_b's second span ends after its video (10 > 8), as real releases have.
    release = {
        "v_a": {"duration": 10.0, "timestamps": [[0, 4], [0, 10], [0, 4]], "sentences": ["a.", "b.", "c."]},
        "v_b": {"duration": 8.0, "timestamps": [[0, 4], [2, 10]], "sentences": ["d.", "e."]},
    }
    predicted = {
        "v_a": [[0, 2], [0, 3], [1, 4]],  # IoU exactly 0.5 and exactly 0.3 (ties), then 0.75
        "v_b": [[-2, 2], [2, 6]],  # starts before the video; against the release's span past the end
    }
    annotations = tmp_path / "val_2.json"
    annotations.write_text(json.dumps(release))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([{"video": v, "timestamps": spans} for v, spans in predicted.items()]))
    thresholds = [0.3, 0.5, 0.7]
    argv = ["evaluate", str(predictions), "--annotations", str(annotations), "--format", "activitynet"]
    argv += ["--iou", *map(str, thresholds), "--hit-rule", hit_rule, "--metrics", str(tmp_path / "m.json")]
    assert main(argv + ([] if clamp else ["--no-clamp"])) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    pairs = [
        (p, g, release[v]["duration"])
        for v in release
        for p, g in zip(predicted[v], release[v]["timestamps"], strict=True)
    ]
    expected = reference_metrics(pairs, thresholds, strict=hit_rule == "gt", clamp=clamp)
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-9)
    assert metrics["convention"] == {"hit_rule": hit_rule, "clamp": clamp}
    assert ("IoU > m" if hit_rule == "gt" else "IoU >= m") in metrics["hit_rule"]


def test_the_conventions_give_different_numbers_on_that_set():
    """So the test above tells the conventions apart: ties and clamping both change the numbers there."""
    pairs = [((0, 2), (0, 4), 10.0), ((0, 3), (0, 10), 10.0), ((-2, 2), (0, 4), 8.0), ((2, 6), (2, 10), 8.0)]
    ge = reference_metrics(pairs, [0.3, 0.5], strict=False, clamp=True)
    assert ge != reference_metrics(pairs, [0.3, 0.5], strict=True, clamp=True)
    assert ge != reference_metrics(pairs, [0.3, 0.5], strict=False, clamp=False)


def test_no_clamp_against_a_prepared_file_says_its_annotated_spans_were_clamped(tmp_path, caplog):
    """A prepared (normalised) file holds the release's spans clamped: --no-clamp cannot score them as released,
    and the metrics file must not claim it did."""
    release = {"v_b": {"duration": 8.0, "timestamps": [[2, 10]], "sentences": ["e."]}}  # ends after the video
    raw = tmp_path / "val_2.json"
    raw.write_text(json.dumps(release))
    prepared = tmp_path / "prepared.json"
    assert (
        main(
            ["prepare-annotations", "--format", "activitynet", "--input", str(raw), "--split", "test"]
            + ["--output", str(prepared)]
        )
        == 0
    )
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([{"video": "v_b", "timestamps": [[2, 6]]}]))
    metrics = {}
    for name, scored_against, fmt in (("release", raw, "activitynet"), ("prepared", prepared, "normalised")):
        argv = ["evaluate", str(predictions), "--annotations", str(scored_against), "--format", fmt, "--no-clamp"]
        assert main([*argv, "--iou", "0.5", "--metrics", str(tmp_path / f"{name}.json")]) == 0
        metrics[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert metrics["release"]["mIoU"] == pytest.approx(100 * 4 / 8)  # [2, 6] against [2, 10] as released
    assert metrics["prepared"]["mIoU"] == pytest.approx(100 * 4 / 6)  # against [2, 8], clamped when prepared
    assert "annotated spans scored as given" in metrics["release"]["hit_rule"]
    assert "annotated spans as in the prepared file, clamped when it was made" in metrics["prepared"]["hit_rule"]
    assert "against a prepared annotation file: its spans were clamped" in caplog.text
