"""hscnet train on small synthetic data: outputs, determinism, resume, ablations, bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from builders import write_synthetic_dataset

from hscnet.checkpoint import load_trained_model, read_checkpoint
from hscnet.cli import main
from hscnet.model import ModelConfig
from hscnet.train import parse_ablation, train
from hscnet.training_config import TrainSettings

SPLITS = {"train": 16, "val": 8, "test": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"), splits=SPLITS)


def settings(data, out, **kw) -> TrainSettings:
    """fp32 unless a test asks otherwise: the reference that mixed precision and evaluation are held to
    (the default, auto, is bf16 on a CPU with native bf16)."""
    paths = {k: str(data[k]) for k in ("features", "text", "train", "val")}
    base = {"out": str(out), "preset": "tiny", "epochs": 2, "seed": 0, "device": "cpu", "precision": "fp32"}
    return TrainSettings(**{**paths, **base, **kw})


def read_history(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_time(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def state_dicts_equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def two_epochs(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    history = train(settings(data, out))
    return out, history


def test_outputs_of_a_run(two_epochs, data):
    out, history = two_epochs
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "history.csv", "last.pt"]
    rows = read_history(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2] == [h["epoch"] for h in history]
    # Every loss part of the full model, the total and the validation metrics are logged.
    for key in (
        "loss",
        "loss_align_word",
        "loss_word_subset",
        "loss_grounding_giou",
        "val_R@0.5",
        "val_mIoU",
        "seconds",
    ):
        assert key in rows[0]
    best_epoch = max(history, key=lambda h: h["val_mIoU"])["epoch"]
    best = read_checkpoint(out / "best.pt")
    assert best["epoch"] == best_epoch and best["val_metrics"]["mIoU"] == pytest.approx(
        history[best_epoch - 1]["val_mIoU"]
    )
    config = json.loads((out / "config.json").read_text())
    assert ModelConfig.from_dict(config["model"]) == ModelConfig.from_dict(best["model_config"])
    assert config["model"]["video_dim"] == 16 and config["model"]["word_dim"] == 12  # taken from the data
    trained = load_trained_model(out / "best.pt", torch.device("cpu"))
    assert not trained.model.training and trained.checkpoint["train_config"]["epochs"] == 2
    assert trained.feature_stats is not None and trained.feature_stats.mean.shape == (16,)


def test_evaluating_the_val_split_reproduces_the_validation_of_training(two_epochs, data):
    """Same model, same feature standardisation, same scoring: evaluate == the epoch's validation."""
    from hscnet.evaluate import evaluate_checkpoint

    out, _ = two_epochs
    best = read_checkpoint(out / "best.pt")
    _, metrics = evaluate_checkpoint(
        str(out / "best.pt"),
        str(data["features"]),
        str(data["text"]),
        str(data["val"]),
        [0.1, 0.3, 0.5, 0.7],
        device="cpu",
    )
    for key in ("R@0.1", "R@0.5", "mIoU", "num_sentences"):
        assert metrics[key] == best["val_metrics"][key]


def test_raw_features_option(data, tmp_path):
    train(settings(data, tmp_path / "raw", epochs=1, feature_norm="none"))
    assert read_checkpoint(tmp_path / "raw" / "best.pt")["feature_stats"] is None


def test_same_seed_same_run_other_seed_differs(two_epochs, data, tmp_path):
    out, history = two_epochs
    again = train(settings(data, tmp_path / "again"))
    assert without_time(again) == without_time(history)
    assert state_dicts_equal(
        read_checkpoint(tmp_path / "again" / "last.pt")["model"], read_checkpoint(out / "last.pt")["model"]
    )
    other = train(settings(data, tmp_path / "other", seed=1))
    assert without_time(other) != without_time(history)


def test_resume_reproduces_the_uninterrupted_run(two_epochs, data, tmp_path):
    out, history = two_epochs
    run = tmp_path / "resumed"
    train(settings(data, run, epochs=1))  # "killed" after epoch 1
    resumed = train(settings(data, run, epochs=2, resume=True))
    assert without_time(resumed) == without_time(history)
    assert without_time(read_history(run / "history.csv")) == without_time(read_history(out / "history.csv"))
    a, b = read_checkpoint(run / "last.pt"), read_checkpoint(out / "last.pt")
    assert state_dicts_equal(a["model"], b["model"])
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert state_dicts_equal(read_checkpoint(run / "best.pt")["model"], read_checkpoint(out / "best.pt")["model"])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training(two_epochs, data, tmp_path, precision):
    from hscnet.evaluate import evaluate_checkpoint

    _, fp32 = two_epochs
    mixed = train(settings(data, tmp_path / "run", precision=precision))
    assert without_time(mixed) != without_time(fp32)  # autocast really ran
    for a, b in zip(mixed, fp32, strict=True):  # ... and stays close to fp32 over two epochs
        assert a["loss"] == pytest.approx(b["loss"], rel=0.05)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["precision"] == precision
    scaler = read_checkpoint(tmp_path / "run" / "last.pt")["scaler"]
    assert (scaler["scale"] > 0) if precision == "fp16" else scaler == {}  # loss scaling only for fp16
    _, metrics = evaluate_checkpoint(
        str(tmp_path / "run" / "best.pt"),
        str(data["features"]),
        str(data["text"]),
        str(data["val"]),
        [0.3, 0.5],
        device="cpu",
        precision=precision,
    )
    assert metrics["precision"] == precision and 0 <= metrics["mIoU"] <= 100


def test_fp16_resume_restores_the_loss_scale(data, tmp_path):
    whole = train(settings(data, tmp_path / "whole", precision="fp16"))
    train(settings(data, tmp_path / "resumed", epochs=1, precision="fp16"))
    resumed = train(settings(data, tmp_path / "resumed", precision="fp16", resume=True))
    assert without_time(resumed) == without_time(whole)
    a, b = (read_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "resumed"))
    assert a["scaler"] == b["scaler"] and state_dicts_equal(a["model"], b["model"])


def test_resume_without_checkpoint_starts_fresh(data, tmp_path):
    history = train(settings(data, tmp_path / "fresh", epochs=1, resume=True))
    assert [h["epoch"] for h in history] == [1]


def test_temporal_crop_is_seeded_resumable_and_changes_training(two_epochs, data, tmp_path):
    _, plain = two_epochs
    cropped = train(settings(data, tmp_path / "crop", temporal_crop=True))
    assert without_time(train(settings(data, tmp_path / "again", temporal_crop=True))) == without_time(cropped)
    assert without_time(cropped) != without_time(plain)
    run = tmp_path / "resumed"
    train(settings(data, run, epochs=1, temporal_crop=True))
    assert without_time(train(settings(data, run, temporal_crop=True, resume=True))) == without_time(cropped)
    with pytest.raises(ValueError, match=r"training\.temporal_crop True -> False"):
        train(settings(data, run, epochs=3, resume=True))  # the crop is part of what a resumed run must share


def test_resume_refuses_another_configuration(two_epochs, data, tmp_path):
    run = tmp_path / "r"
    train(settings(data, run, epochs=1))
    with pytest.raises(ValueError, match=r"last\.pt: cannot --resume.*model_config\.levels.*To start over, delete"):
        train(settings(data, run, epochs=2, resume=True, ablation="table2:SL"))
    with pytest.raises(ValueError, match=r"seed 0 -> 1"):
        train(settings(data, run, epochs=2, resume=True, seed=1))
    with pytest.raises(ValueError, match=r"epochs: 1 trained already, 0 asked"):
        train(settings(data, run, epochs=0, resume=True))


def copy_data(data, to):
    to.mkdir()
    copies = {}
    for key, path in data.items():
        copies[key] = to / path.name
        copies[key].write_bytes(path.read_bytes())
    return copies


def test_resume_refuses_other_data_and_accepts_a_copy_of_the_same(data, tmp_path):
    """The identity of the data is its content: one changed byte refuses, a copy with new mtimes resumes."""
    mine = copy_data(data, tmp_path / "data")
    run = tmp_path / "run"
    train(settings(mine, run, epochs=1))
    copied = copy_data(data, tmp_path / "copy")  # same bytes, other paths and mtimes
    assert [h["epoch"] for h in train(settings(copied, run, epochs=2, resume=True))] == [1, 2]
    features = bytearray(copied["features"].read_bytes())
    features[-1] ^= 1  # same size: only the sha256 can tell
    copied["features"].write_bytes(bytes(features))
    with pytest.raises(
        ValueError,
        match=rf"features file {copied['features']}: other content \(size \d+ -> \d+ bytes, sha256 differs\)",
    ):
        train(settings(copied, run, epochs=3, resume=True))
    with copied["val"].open("a") as fh:
        fh.write("\n")
    with pytest.raises(ValueError, match=r"val file .*: other content \(size (\d+) -> (?!\1)\d+ bytes\)"):
        train(settings(copied, run, epochs=3, resume=True))


def test_killed_run_resumes_and_rewrites_every_output(two_epochs, data, tmp_path):
    """What Snakemake leaves of a job killed in epoch 2: in_progress.pt; it deletes the declared outputs."""
    out, history = two_epochs
    run = tmp_path / "killed"
    train(settings(data, run, epochs=1))
    (run / "last.pt").rename(run / "in_progress.pt")
    for name in ("best.pt", "history.csv", "config.json"):
        (run / name).unlink()
    assert without_time(train(settings(data, run, epochs=2, resume=True))) == without_time(history)
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "history.csv", "last.pt"]
    for name in ("best.pt", "last.pt"):
        assert state_dicts_equal(read_checkpoint(run / name)["model"], read_checkpoint(out / name)["model"])
    # a finished run resumed trains nothing and writes every output again
    for name in ("best.pt", "history.csv", "config.json"):
        (run / name).unlink()
    assert without_time(train(settings(data, run, epochs=2, resume=True))) == without_time(history)
    assert read_checkpoint(run / "best.pt")["epoch"] == read_checkpoint(out / "best.pt")["epoch"]
    assert without_time(read_history(run / "history.csv")) == without_time(read_history(out / "history.csv"))


def test_a_run_without_resume_discards_the_previous_runs_checkpoints(data, tmp_path):
    run = tmp_path / "run"
    train(settings(data, run, epochs=1))
    (run / "last.pt").rename(run / "in_progress.pt")
    train(settings(data, run, epochs=1, seed=1))  # starts over although another run's checkpoint is there
    assert not (run / "in_progress.pt").exists()
    assert read_checkpoint(run / "last.pt")["identity"]["seed"] == 1


def test_ablation_row_trains_without_its_levels(data, tmp_path):
    history = train(settings(data, tmp_path / "sl", epochs=1, ablation="table2:SL"))
    assert "loss_align_word" not in history[0] and "loss_paragraph_l1" not in history[0]
    assert "loss_sentence_l1" in history[0] and "loss_grounding_giou" in history[0]
    cfg = ModelConfig.from_dict(read_checkpoint(tmp_path / "sl" / "best.pt")["model_config"])
    assert cfg.levels == ("sentence",) and cfg.decoders == ()


def test_parse_ablation():
    assert parse_ablation("table3:W+S") == (3, "W+S")
    for bad in ("SL", "table:SL", "tableX:SL", "table2:"):
        with pytest.raises(ValueError, match="expected 'table<N>:<row>'"):
            parse_ablation(bad)


def test_cli_trains_with_overrides(data, tmp_path):
    out = tmp_path / "cli"
    argv = [
        "train",
        "--features",
        str(data["features"]),
        "--text",
        str(data["text"]),
        "--train",
        str(data["train"]),
        "--val",
        str(data["val"]),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "3",
        "--lr",
        "0.002",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"] == {"batch_size": 3, "lr": 0.002, "epochs": 1}


@pytest.mark.parametrize("broken", ["features", "train", "text"])
def test_cli_bad_input_is_one_error_and_no_output(data, tmp_path, caplog, broken):
    paths = {k: str(v) for k, v in data.items()}
    paths[broken] = str(tmp_path / "missing.file")
    out = tmp_path / "out"
    argv = [
        "train",
        "--features",
        paths["features"],
        "--text",
        paths["text"],
        "--train",
        paths["train"],
        "--val",
        paths["val"],
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 1
    assert "missing.file" in caplog.text and "not found" in caplog.text
    assert not out.exists()


def test_cli_rejects_reversed_timestamps(data, tmp_path, caplog):
    paragraphs = json.loads(data["val"].read_text())
    start, end = paragraphs[0]["timestamps"][0]
    paragraphs[0]["timestamps"][0] = [end, start]
    bad = tmp_path / "val.json"
    bad.write_text(json.dumps(paragraphs))
    argv = [
        "train",
        "--features",
        str(data["features"]),
        "--text",
        str(data["text"]),
        "--train",
        str(data["train"]),
        "--val",
        str(bad),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 1
    assert f"{bad}: paragraph {paragraphs[0]['id']!r}" in caplog.text
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_training_learns_the_planted_signal(tmp_path):
    """Validation mIoU rises well above its first epoch and the model beats the whole-video prior on test."""
    from hscnet.baselines import baseline_predictions
    from hscnet.data.annotations import load_normalised
    from hscnet.evaluate import evaluate_checkpoint
    from hscnet.metrics import parse_predictions, score

    data = write_synthetic_dataset(tmp_path / "data", splits={"train": 48, "val": 12, "test": 12})
    history = train(settings(data, tmp_path / "run", epochs=12))
    assert max(h["val_mIoU"] for h in history) > history[0]["val_mIoU"] + 15
    _, metrics = evaluate_checkpoint(
        str(tmp_path / "run" / "best.pt"),
        str(data["features"]),
        str(data["text"]),
        str(data["test"]),
        [0.5],
        device="cpu",
    )
    test = load_normalised(data["test"])
    whole = score(parse_predictions(baseline_predictions("whole", test), "whole"), test, [0.5])
    assert metrics["mIoU"] > whole["mIoU"] + 10
