"""Training in several processes (torchrun, gloo on the CPU) takes the steps of one process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from builders import write_synthetic_dataset
from conftest import find_process

from hscnet.ablations import ABLATION_TABLES
from hscnet.checkpoint import read_checkpoint
from hscnet.data.annotations import load_normalised
from hscnet.data.collate import collate_samples
from hscnet.data.dataset import ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.distributed import World, check_shares, global_mean_weights
from hscnet.model import ModelConfig, ablation_config, build_criterion, build_model, total_loss
from hscnet.train import train
from hscnet.training_config import TrainSettings

pytestmark = pytest.mark.usefixtures("one_thread")

# 18 training paragraphs in batches of 4: the last batch of each epoch holds 2, one per rank.
SPLITS = {"train": 18, "val": 8, "test": 4}
EPOCHS = 3
# Same steps, other summation order (per-rank means, gloo's sum): float32 rounding only, which 15 Adam
# steps grow to ~2e-5 relative on the smallest loss terms (measured); validation metrics agree to 1e-6.
LOSS_RTOL, LOSS_ATOL, METRIC_ATOL = 1e-4, 1e-6, 1e-3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"), splits=SPLITS)


def test_shards_of_a_batch_are_the_single_process_batch(data):
    dataset = ParagraphDataset(load_normalised(data["train"]), data["features"], data["text"])
    single = [b["ids"] for b in make_loader(dataset, 4, True, torch.Generator().manual_seed(3), 0)]
    ranks = [
        [b["ids"] for b in make_loader(dataset, 4, True, torch.Generator().manual_seed(3), 0, (r, 2))] for r in (0, 1)
    ]
    assert [a + b for a, b in zip(*ranks, strict=True)] == single
    assert [len(b) for b in ranks[0]] == [2, 2, 2, 2, 1] and [len(b) for b in ranks[1]] == [2, 2, 2, 2, 1]


def test_shares_that_cannot_be_split_are_refused():
    with pytest.raises(ValueError, match="global batch 5 is not divisible by the 2 processes"):
        check_shares(18, 5, World(0, 2))
    with pytest.raises(
        ValueError, match="last batch of each epoch holds 1 of 17 training paragraphs, fewer than the 2"
    ):
        check_shares(17, 4, World(0, 2))
    check_shares(18, 4, World(0, 2))
    check_shares(17, 4, World())


def test_weighted_rank_losses_average_to_the_global_batch_loss(data):
    """The criterion's terms are means over words, sentences or paragraphs, not over samples: each rank's
    mean weighted by count * N / total, averaged over the ranks as DDP averages gradients, is the loss
    of the whole batch, so the gradients are the same too."""
    dataset = ParagraphDataset(load_normalised(data["train"]), data["features"], data["text"])
    samples = [dataset[i] for i in range(5)]
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", video_dim=dataset.video_dim, word_dim=dataset.word_dim)
    model, criterion = build_model(cfg).eval(), build_criterion(cfg)

    def loss_and_grads(weighted_shares):
        model.zero_grad()
        total = sum(weighted_shares)
        total.backward()
        return total.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    full = collate_samples(samples)
    whole, whole_grads = loss_and_grads([total_loss(criterion(model(full), full), criterion.weight_dict)])
    shares = [collate_samples(samples[:3]), collate_samples(samples[3:])]  # unequal words and sentences
    outputs = [model(batch) for batch in shares]
    counts = [criterion.element_counts(o, b) for o, b in zip(outputs, shares, strict=True)]
    totals = {k: sum(c[k] for c in counts) for k in counts[0]}
    weighted = []
    for o, b, c in zip(outputs, shares, counts, strict=True):
        factors = {k: c[k] * 2 / totals[k] for k in c}
        losses = criterion(o, b)
        assert losses.keys() == c.keys()
        weighted.append(total_loss({k: v * factors[k] for k, v in losses.items()}, criterion.weight_dict) / 2)
    split, split_grads = loss_and_grads(weighted)
    assert split.item() == pytest.approx(whole.item(), rel=1e-6)
    for a, b in zip(split_grads, whole_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # unweighted means would not be: the two shares hold different numbers of sentences and words
    plain = sum(total_loss(criterion(o, b), criterion.weight_dict) for o, b in zip(outputs, shares, strict=True)) / 2
    assert abs(plain.item() - whole.item()) > 1e-4
    # one process: the factors are 1
    factors = global_mean_weights(counts[0], World())
    assert all(f.item() == 1.0 for f in factors.values())


def test_element_counts_cover_the_losses_of_every_ablation_row(data):
    dataset = ParagraphDataset(load_normalised(data["train"]), data["features"], data["text"])
    batch = collate_samples([dataset[i] for i in range(3)])
    base = ModelConfig.preset("tiny", video_dim=dataset.video_dim, word_dim=dataset.word_dim)
    for table, rows in ABLATION_TABLES.items():
        for row in rows:
            cfg = ablation_config(base, table, row)
            model, criterion = build_model(cfg).eval(), build_criterion(cfg)
            outputs = model(batch)
            assert criterion.element_counts(outputs, batch).keys() == criterion(outputs, batch).keys(), (table, row)


def train_args(data, out: Path, *extra: str) -> list[str]:
    return [
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
        str(EPOCHS),
        "--dropout",
        "0",
        "--device",
        "cpu",
        "--precision",
        "fp32",  # DDP training like one process is an fp32 property (auto is bf16 where the CPU has it)
        "--out",
        str(out),
        *extra,
    ]


def torchrun(data, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "127.0.0.1:0",
        "-m",
        "hscnet",
        *train_args(data, out, "--threads", "2", *extra),
    ]


def read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def assert_same_run(a: list[dict[str, float]], b: list[dict[str, float]]) -> None:
    assert [row.keys() for row in a] == [row.keys() for row in b]
    for row_a, row_b in zip(a, b, strict=True):
        for key in row_a:
            if key.startswith("val_"):
                assert row_a[key] == pytest.approx(row_b[key], abs=METRIC_ATOL), key
            else:
                assert row_a[key] == pytest.approx(row_b[key], rel=LOSS_RTOL, abs=LOSS_ATOL), key


@pytest.fixture(scope="module")
def two_processes(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    result = subprocess.run(torchrun(data, out), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return out, result.stderr


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(data, two_processes, tmp_path):
    out, log = two_processes
    assert "distributed: world size 2, backend gloo, global batch 4 (2 per rank), 1 CPU threads per rank" in log
    assert log.count("INFO hscnet.train: epoch 1/3") == 1  # rank 0 logs, rank 1 does not
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "history.csv", "last.pt"]
    single = tmp_path / "single"
    train(
        TrainSettings(
            features=str(data["features"]),
            text=str(data["text"]),
            train=str(data["train"]),
            val=str(data["val"]),
            out=str(single),
            preset="tiny",
            epochs=EPOCHS,
            dropout=0.0,
            device="cpu",
            precision="fp32",  # as the torchrun command: the equality is an fp32 property
        )
    )
    assert_same_run(read_history(out / "history.csv"), read_history(single / "history.csv"))
    assert read_checkpoint(out / "best.pt")["epoch"] == read_checkpoint(single / "best.pt")["epoch"]


@pytest.mark.slow
def test_a_killed_worker_fails_the_run_cleanly_and_the_run_resumes(data, two_processes, tmp_path):
    out = tmp_path / "run"
    with subprocess.Popen(torchrun(data, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as run:
        deadline = time.monotonic() + 600
        while not (out / "in_progress.pt").is_file():
            assert run.poll() is None and time.monotonic() < deadline, "the run did not get through epoch 1"
            time.sleep(0.01)
        pid = find_process([b"--out", str(out).encode()], environ=b"RANK=1")  # the worker of rank 1
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _, stderr = run.communicate(timeout=300)
    assert run.returncode != 0
    assert "exitcode  : -9" in stderr or "Signal 9" in stderr, stderr[-3000:]
    assert not (out / "last.pt").exists()
    killed_after = read_checkpoint(out / "in_progress.pt")["epoch"]  # whole: written atomically
    assert 1 <= killed_after < EPOCHS

    result = subprocess.run(torchrun(data, out, "--resume"), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"resuming after epoch {killed_after}" in result.stderr
    assert_same_run(read_history(out / "history.csv"), read_history(two_processes[0] / "history.csv"))
