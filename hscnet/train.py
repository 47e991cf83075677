"""``hscnet train``: fit HSCNet on one dataset, validate every epoch, keep the best checkpoint.

Optimisation follows sec. 4.2: Adam without weight decay, the preset's learning rate (1e-4 for the
paper's datasets) and batch size, a configurable number of epochs. After every epoch the model is
scored on the validation split (R@m, mIoU on seconds, ``hscnet.metrics``) and the output directory is
updated atomically:

    OUT/config.json   everything needed to rebuild the model and repeat the run
    OUT/last.pt       model, optimizer, every random state and the history: ``--resume`` continues
                      from it exactly as if the run had not been interrupted
    OUT/best.pt       the model of the epoch with the best validation mIoU (ties keep the earlier)
    OUT/history.csv   one row per epoch: every loss part, the validation metrics, seconds

Determinism: the seed fixes the initialisation, the shuffling (a dedicated DataLoader generator) and
dropout; with the same data, seed and machine the history and checkpoints are identical, also across a
kill and ``--resume``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hscnet.checkpoint import read_checkpoint, save_checkpoint
from hscnet.data.annotations import load_normalised
from hscnet.data.collate import to_device
from hscnet.data.dataset import FeatureStats, ParagraphDataset
from hscnet.device import resolve_device
from hscnet.errors import InputError
from hscnet.inference import make_loader, predict
from hscnet.io import atomic_path, write_json
from hscnet.metrics import DEFAULT_IOU_THRESHOLDS, parse_predictions, score
from hscnet.model import ModelConfig, ablation_config, build_criterion, build_model, total_loss
from hscnet.progress import progress

log = logging.getLogger(__name__)

FEATURE_NORMS = ("standardize", "none")


@dataclass
class TrainSettings:
    """Everything ``hscnet train`` takes; ``None`` means "the preset's value"."""

    features: str
    text: str
    train: str
    val: str
    out: str
    preset: str = "demo"
    ablation: str | None = None  # "table<T>:<row>", e.g. "table2:SL"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None  # torch intra-op CPU threads (default: torch's choice, all cores)
    feature_norm: str = "standardize"  # or "none"; see hscnet.data.dataset
    temporal_crop: bool = False  # random crops of the training videos around the paragraph
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS
    resume: bool = False


def parse_ablation(spec: str) -> tuple[int, str]:
    """"table2:SL" -> (2, "SL")."""
    table, sep, row = spec.partition(":")
    if not sep or not table.startswith("table") or not table[5:].isdigit() or not row:
        raise InputError(f"ablation {spec!r}: expected 'table<N>:<row>', e.g. 'table2:SL'")
    return int(table[5:]), row


def model_config_for(settings: TrainSettings, video_dim: int, word_dim: int) -> ModelConfig:
    """The preset, with the input dims of the data and the ablation row applied."""
    cfg = ModelConfig.preset(settings.preset, video_dim=video_dim, word_dim=word_dim)
    if settings.ablation:
        cfg = ablation_config(cfg, *parse_ablation(settings.ablation))
    overrides = {k: v for k, v in (("batch_size", settings.batch_size), ("epochs", settings.epochs), ("lr", settings.lr)) if v is not None}
    return dataclasses.replace(cfg, **overrides)


def run_identity(cfg: ModelConfig, seed: int) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (only the number of epochs may grow)."""
    model_config = cfg.to_dict()
    del model_config["epochs"]
    return {"model_config": model_config, "seed": seed}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    """Every random state training consumes, as tensors and plain types (loadable with weights_only)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "random": random.getstate(),
        "loader": loader_generator.get_state(),
    }


def _set_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(
        ("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"])
    )
    version, internal, gauss = state["random"]
    random.setstate((version, tuple(internal), gauss))
    loader_generator.set_state(state["loader"])


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def build_training(cfg: ModelConfig, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module, torch.optim.Optimizer]:
    """Model, criterion and the paper's optimizer: Adam, no weight decay, the config's learning rate."""
    model = build_model(cfg).to(device)
    criterion = build_criterion(cfg).to(device)
    # fused: one kernel over all parameters, ~4x faster steps than the per-tensor loop on the CPU.
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=0.0, fused=True)
    return model, criterion, optimizer


def train_one_epoch(model, criterion, loader, optimizer, device, description: str) -> dict[str, float]:
    """One pass over ``loader``; returns the sample-weighted mean of every loss part and the total."""
    model.train()
    sums: dict[str, float] = {}
    count = 0
    bar = progress(loader, desc=description, leave=False, unit="batch", dynamic_ncols=True, mininterval=1.0)
    for batch in bar:
        batch = to_device(batch, device)
        losses = criterion(model(batch), batch)
        loss = total_loss(losses, criterion.weight_dict)
        if not torch.isfinite(loss):
            videos = {p.id: p.video for p in loader.dataset.paragraphs}
            raise FloatingPointError(
                f"{description}: loss became {loss.item()} on paragraphs {batch['ids']} (videos "
                f"{sorted({videos[i] for i in batch['ids']})}; parts: { {k: v.item() for k, v in losses.items()} })"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        size = len(batch["ids"])
        count += size
        for key, value in (("loss", loss), *losses.items()):
            sums[key] = sums.get(key, 0.0) + float(value.detach()) * size
        bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
    return {key: total / count for key, total in sums.items()}


def validate(model, loader, paragraphs, device, thresholds) -> dict[str, float]:
    """R@m and mIoU (percent) of ``model`` on one split."""
    predictions = parse_predictions(predict(model, loader, paragraphs, device), "validation predictions")
    return score(predictions, paragraphs, thresholds, source="validation")


def train(settings: TrainSettings) -> list[dict[str, Any]]:
    """Run (or resume) training; returns the history, one dict per epoch."""
    out = Path(settings.out)
    device = resolve_device(settings.device)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if device.type == "cuda":
        # Same seed, same GPU -> same run: deterministic cuBLAS (set before the first CUDA matmul) and
        # kernels. Not on the CPU, whose kernels are deterministic already and where the switch costs
        # seconds of torch._dynamo imports.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)

    train_paragraphs = load_normalised(settings.train)
    val_paragraphs = load_normalised(settings.val)
    if settings.feature_norm not in FEATURE_NORMS:
        raise InputError(f"unknown feature normalisation {settings.feature_norm!r}; known: {', '.join(FEATURE_NORMS)}")
    train_set = ParagraphDataset(train_paragraphs, settings.features, settings.text, temporal_crop=settings.temporal_crop)
    if settings.feature_norm == "standardize":
        train_set.feature_stats = FeatureStats.of_videos(settings.features, (p.video for p in train_paragraphs))
    val_set = ParagraphDataset(val_paragraphs, settings.features, settings.text, train_set.feature_stats)
    cfg = model_config_for(settings, train_set.video_dim, train_set.word_dim)

    seed_everything(settings.seed)
    model, criterion, optimizer = build_training(cfg, device)
    loader_generator = torch.Generator().manual_seed(settings.seed)
    train_loader = make_loader(train_set, cfg.batch_size, True, loader_generator, settings.num_workers)
    val_loader = make_loader(val_set, cfg.batch_size, False, None, settings.num_workers)

    identity = run_identity(cfg, settings.seed) | {"feature_norm": settings.feature_norm,
                                                     "temporal_crop": settings.temporal_crop}
    history: list[dict[str, Any]] = []
    best = {"epoch": 0, "mIoU": -1.0}
    last_path, best_path = out / "last.pt", out / "best.pt"
    if settings.resume and last_path.is_file():
        state = read_checkpoint(last_path, map_location=device)
        if state["identity"] != identity:
            raise InputError(
                f"{last_path}: written by a run with another model configuration or seed; cannot --resume "
                f"(checkpoint {state['identity']}, now {identity})"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"], loader_generator)
        history, best = state["history"], state["best"]
        log.info("resuming from %s after epoch %d (best mIoU %.2f at epoch %d)", last_path, len(history), best["mIoU"], best["epoch"])
    elif settings.resume:
        log.info("--resume: no %s yet, starting from scratch", last_path)

    config = {"model": cfg.to_dict(), "preset": settings.preset, "ablation": settings.ablation,
              "train": dataclasses.asdict(settings), "data": train_set.provenance}
    config["train"]["device"] = str(device)
    write_json(out / "config.json", config)
    log.info(
        "training %s%s on %d paragraphs (val %d), %d epochs, batch %d, lr %g, device %s, %d parameters",
        settings.preset, f" [{settings.ablation}]" if settings.ablation else "", len(train_set), len(val_set),
        cfg.epochs, cfg.batch_size, cfg.lr, device, sum(p.numel() for p in model.parameters()),
    )

    for epoch in range(len(history) + 1, cfg.epochs + 1):
        started = time.perf_counter()
        losses = train_one_epoch(model, criterion, train_loader, optimizer, device, f"epoch {epoch}/{cfg.epochs}")
        metrics = validate(model, val_loader, val_paragraphs, device, settings.iou_thresholds)
        val = {f"val_{k}": metrics[k] for k in (*(f"R@{m:g}" for m in settings.iou_thresholds), "mIoU")}
        row = {"epoch": epoch, **losses, **val, "seconds": round(time.perf_counter() - started, 3)}
        history.append(row)
        snapshot = {"model_config": cfg.to_dict(), "model": model.state_dict(), "epoch": epoch, "val_metrics": metrics,
                    "identity": identity, "ablation": settings.ablation, "data": train_set.provenance,
                    "feature_stats": train_set.feature_stats.to_state() if train_set.feature_stats else None}
        if metrics["mIoU"] > best["mIoU"]:
            best = {"epoch": epoch, "mIoU": metrics["mIoU"]}
            save_checkpoint(best_path, snapshot)
        resumable = {"optimizer": optimizer.state_dict(), "rng": _rng_state(loader_generator), "history": history, "best": best}
        save_checkpoint(last_path, snapshot | resumable)
        _write_history(out / "history.csv", history)
        log.info(
            "epoch %d/%d %s | val %s | best mIoU %.2f @ %d | %.1f s",
            epoch, cfg.epochs, " ".join(f"{k} {v:.4f}" for k, v in losses.items()),
            " ".join(f"{k[4:]} {v:.2f}" for k, v in val.items()), best["mIoU"], best["epoch"], row["seconds"],
        )
    return history


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train HSCNet; writes OUT/{best,last}.pt, history.csv, config.json",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", required=True, help="visual features HDF5 (results/<ds>/features/c3d.h5)")
    p.add_argument("--text", required=True, help="word vectors HDF5 (results/<ds>/text/glove.h5)")
    p.add_argument("--train", required=True, help="training paragraphs (normalised paragraph JSON)")
    p.add_argument("--val", required=True, help="validation paragraphs (normalised paragraph JSON)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--preset", default="demo", help="model preset: tacos, activitynet, demo, tiny (default demo)")
    p.add_argument("--ablation", help="paper ablation row, 'table<N>:<row>', e.g. table2:SL, table3:W+S, table4:SD")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="paragraphs per batch (default: the preset's)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores; give the job's share when "
                                               "jobs run side by side: more threads than free cores slow torch down a lot)")
    p.add_argument("--iou", type=float, nargs="+", default=list(DEFAULT_IOU_THRESHOLDS), help="validation IoU thresholds")
    p.add_argument("--feature-norm", choices=FEATURE_NORMS, default="standardize",
                   help="standardize: z-score clip features with training-video statistics (default); none: raw")
    p.add_argument("--temporal-crop", action="store_true",
                   help="augmentation: half of the training draws cut the video to a random window of whole clips "
                        "around the paragraph")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    for name in ("epochs", "batch_size", "num_workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "num_workers" else 1):
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    settings = TrainSettings(
        features=args.features, text=args.text, train=args.train, val=args.val, out=args.out, preset=args.preset,
        ablation=args.ablation, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        device=args.device, num_workers=args.num_workers, threads=args.threads, iou_thresholds=tuple(args.iou), resume=args.resume,
        feature_norm=args.feature_norm, temporal_crop=args.temporal_crop,
    )
    train(settings)
    return 0
