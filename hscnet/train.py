"""``hscnet train``: fit HSCNet on one dataset, validate every epoch, keep the best checkpoint.

Optimisation follows sec. 4.2: Adam without weight decay, the preset's learning rate (1e-4 for the
paper's datasets) and batch size, a configurable number of epochs. After every epoch the model is
scored on the validation split (R@m, mIoU on seconds, ``hscnet.metrics``) and the output directory is
updated atomically:

    OUT/config.json      everything needed to rebuild the model and repeat the run
    OUT/in_progress.pt   while the run lasts: model, optimizer, every random state, the history and
                         the best epoch's model; ``--resume`` continues from it exactly as if the run
                         had not been interrupted
    OUT/best.pt          the model of the epoch with the best validation mIoU (ties keep the earlier)
    OUT/history.csv      one row per epoch: every loss part, the validation metrics, seconds
    OUT/last.pt          written when the run ends (in_progress.pt becomes last.pt): ``--resume`` with
                         more epochs continues a finished run

Resuming: ``--resume`` continues from in_progress.pt (or a finished last.pt) only when the model
config, seed, training options and the content of the feature, text and annotation files are those
of the run that wrote it (only the number of epochs may grow); otherwise it refuses and says what
differs. Resuming a finished run writes every output again. The workflow relies on the split: it
declares last.pt an output but not in_progress.pt, so a rerun that Snakemake decides deletes the
finished run and starts from scratch, while a killed job's in_progress.pt survives for the rerun.

Several processes: under ``torchrun --nproc-per-node N`` the run uses DistributedDataParallel with the
same global batch (``hscnet.distributed``); rank 0 validates and writes every file.

Determinism: the seed fixes the initialisation, the shuffling (a dedicated DataLoader generator) and
dropout; with the same data, seed and machine the history and checkpoints are identical, also across a
kill and ``--resume``.
"""

from __future__ import annotations

import argparse
import copy
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
from torch.nn.parallel import DistributedDataParallel

from hscnet.checkpoint import read_checkpoint, save_checkpoint
from hscnet.data.annotations import load_normalised
from hscnet.data.collate import to_device
from hscnet.data.dataset import FeatureStats, ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.device import PRECISIONS, autocast, grad_scaler, resolve_precision
from hscnet.distributed import ONE_PROCESS, World, all_sum, check_shares, cpu_threads, global_mean_weights, join, leave
from hscnet.errors import InputError
from hscnet.fingerprint import fingerprint, refresh, same_content
from hscnet.inference import predict
from hscnet.io import atomic_path, write_json
from hscnet.metrics import DEFAULT_IOU_THRESHOLDS, parse_predictions, score
from hscnet.model import ModelConfig, ablation_config, build_criterion, build_model, total_loss
from hscnet.progress import progress

log = logging.getLogger(__name__)

FEATURE_NORMS = ("standardize", "none")
PROGRESS_NAME, LAST_NAME, BEST_NAME = "in_progress.pt", "last.pt", "best.pt"


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
    dropout: float | None = None
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None  # torch intra-op CPU threads (default: torch's choice, all cores)
    precision: str = "fp32"  # autocast of forward and loss: fp32 (off), bf16, fp16 (loss scaling), auto (hscnet.device)
    feature_norm: str = "standardize"  # or "none"; see hscnet.data.dataset
    temporal_crop: bool = False  # random crops of the training videos around the paragraph
    iou_thresholds: tuple[float, ...] = DEFAULT_IOU_THRESHOLDS
    resume: bool = False


def parse_ablation(spec: str) -> tuple[int, str]:
    """ "table2:SL" -> (2, "SL")."""
    table, sep, row = spec.partition(":")
    if not sep or not table.startswith("table") or not table[5:].isdigit() or not row:
        raise InputError(f"ablation {spec!r}: expected 'table<N>:<row>', e.g. 'table2:SL'")
    return int(table[5:]), row


def model_config_for(settings: TrainSettings, video_dim: int, word_dim: int) -> ModelConfig:
    """The preset, with the input dims of the data and the ablation row applied."""
    cfg = ModelConfig.preset(settings.preset, video_dim=video_dim, word_dim=word_dim)
    if settings.ablation:
        cfg = ablation_config(cfg, *parse_ablation(settings.ablation))
    overrides = {
        k: v
        for k, v in (
            ("batch_size", settings.batch_size),
            ("epochs", settings.epochs),
            ("lr", settings.lr),
            ("dropout", settings.dropout),
        )
        if v is not None
    }
    return dataclasses.replace(cfg, **overrides)


TRAINING_OPTIONS = (
    "feature_norm",
    "temporal_crop",
    "num_workers",
    "iou_thresholds",
    "precision",
)  # change the run's numbers
DATA_FILES = ("features", "text", "train", "val")


def run_identity(cfg: ModelConfig, settings: TrainSettings, data: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (only the number of epochs may grow):
    model config, seed, training options and ``data``, the fingerprints of the DATA_FILES."""
    model_config = cfg.to_dict()
    del model_config["epochs"]
    training = {name: getattr(settings, name) for name in TRAINING_OPTIONS}
    training["iou_thresholds"] = list(training["iou_thresholds"])
    return {"model_config": model_config, "seed": settings.seed, "training": training, "data": data}


def identity_differences(saved: dict[str, Any], now: dict[str, Any], paths: dict[str, str]) -> list[str]:
    """What differs between the identity a checkpoint records and this run's, one phrase per item."""
    differences = [] if saved.get("seed") == now["seed"] else [f"seed {saved.get('seed')} -> {now['seed']}"]
    for part in ("model_config", "training"):
        before, after = saved.get(part, {}), now[part]
        differences += [
            f"{part}.{key} {before.get(key)!r} -> {after.get(key)!r}"
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)
        ]
    for name, after in now["data"].items():
        before = saved.get("data", {}).get(name)
        if before is None:
            differences.append(f"{name} file {paths[name]}: not recorded by the checkpoint")
        elif not same_content(before, after):
            differences.append(
                f"{name} file {paths[name]}: other content (size {before['size']} -> {after['size']} bytes"
                f"{'' if before['size'] != after['size'] else ', sha256 differs'})"
            )
    return differences


def resumable_checkpoint(
    settings: TrainSettings, cfg: ModelConfig, device: torch.device, world: World
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The checkpoint to continue from (None: start from scratch) and the identity this run records.

    A run without ``--resume`` starts over: it removes a previous run's resumable checkpoints first, so
    that a later ``--resume`` can never continue a run this one replaced.
    """
    out = Path(settings.out)
    paths = {name: getattr(settings, name) for name in DATA_FILES}
    candidates = [out / PROGRESS_NAME, out / LAST_NAME]
    if not settings.resume and world.is_main:
        for path in candidates:
            path.unlink(missing_ok=True)
    path = next((p for p in candidates if p.is_file()), None) if settings.resume else None
    if path is None:
        if settings.resume:
            log.info("--resume: no checkpoint in %s yet, starting from scratch", out)
        return None, run_identity(cfg, settings, {name: fingerprint(p) for name, p in paths.items()})
    state = read_checkpoint(path, map_location=device)
    saved = state.get("identity", {})
    recorded = saved.get("data", {})
    identity = run_identity(cfg, settings, {name: refresh(recorded.get(name, {}), p) for name, p in paths.items()})
    differences = identity_differences(saved, identity, paths)
    if len(state["history"]) > cfg.epochs:
        differences.append(f"epochs: {len(state['history'])} trained already, {cfg.epochs} asked")
    if differences:
        raise InputError(
            f"{path}: cannot --resume, it was written by a run with other settings or data: {'; '.join(differences)}. "
            f"To start over, delete {path} or run without --resume"
        )
    return state, identity


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
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    version, internal, gauss = state["random"]
    random.setstate((version, tuple(internal), gauss))
    loader_generator.set_state(state["loader"])


def gather_rng_states(loader_generator: torch.Generator, world: World) -> list[dict[str, Any]]:
    """Every rank's random states, for rank 0's checkpoint (each rank draws its own dropout)."""
    states = [None] * world.size
    if world.size > 1:
        torch.distributed.all_gather_object(states, _rng_state(loader_generator))
    else:
        states[0] = _rng_state(loader_generator)
    return states


def rank_rng_state(states: list[dict[str, Any]], world: World) -> dict[str, Any]:
    """This rank's saved random states; a run resumed with another number of processes gives every
    rank rank 0's (the shuffled order, drawn from the loader generator, stays the same)."""
    if len(states) != world.size:
        log.warning(
            "resuming a run of %d processes with %d: dropout and crop draws differ from an uninterrupted run",
            len(states),
            world.size,
        )
        return states[0]
    return states[world.rank]


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def build_training(
    cfg: ModelConfig, device: torch.device
) -> tuple[torch.nn.Module, torch.nn.Module, torch.optim.Optimizer]:
    """Model, criterion and the paper's optimizer: Adam, no weight decay, the config's learning rate."""
    model = build_model(cfg).to(device)
    criterion = build_criterion(cfg).to(device)
    # fused: one kernel over all parameters, ~4x faster steps than the per-tensor loop on the CPU.
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=0.0, fused=True)
    return model, criterion, optimizer


def train_one_epoch(
    model,
    criterion,
    loader,
    optimizer,
    device,
    description: str,
    world: World = ONE_PROCESS,
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns the sample-weighted mean of every loss part and the total
    (over the global batches when several processes train).

    ``precision``: autocast of forward and loss (``hscnet.device.autocast``); fp16 scales the loss with
    ``scaler`` (default: a fresh one).
    """
    scaler = grad_scaler(device, precision) if scaler is None else scaler
    model.train()
    sums: dict[str, float] = {}
    count = 0
    bar = progress(
        loader,
        desc=description,
        leave=False,
        unit="batch",
        dynamic_ncols=True,
        mininterval=1.0,
        disable=not world.is_main,
    )
    for batch in bar:
        batch = to_device(batch, device)
        with autocast(device, precision):
            outputs = model(batch)
            losses = criterion(outputs, batch)
            if world.size > 1:  # weigh this rank's means so that DDP's gradient average is the global batch's
                factors = global_mean_weights(criterion.element_counts(outputs, batch), world)
                losses = {key: value * factors[key].to(value.dtype) for key, value in losses.items()}
            loss = total_loss(losses, criterion.weight_dict)
        if not torch.isfinite(loss):
            videos = {p.id: p.video for p in loader.dataset.paragraphs}
            raise FloatingPointError(
                f"{description}: loss became {loss.item()} on paragraphs {batch['ids']} (videos "
                f"{sorted({videos[i] for i in batch['ids']})}; parts: { {k: v.item() for k, v in losses.items()} })"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        logged = {"loss": loss, **losses}
        values = torch.stack([value.detach().float() for value in logged.values()])
        size = len(batch["ids"])
        if world.size > 1:  # the global batch's means and size
            values = all_sum(values, world) / world.size
            size = int(all_sum(torch.tensor(size, device=values.device), world))
        count += size
        for key, value in zip(logged, values.tolist(), strict=True):
            sums[key] = sums.get(key, 0.0) + value * size
        bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
    return {key: total / count for key, total in sums.items()}


def validate(model, loader, paragraphs, device, thresholds, precision: str = "fp32") -> dict[str, float]:
    """R@m and mIoU (percent) of ``model`` on one split."""
    with autocast(device, precision):
        predictions = parse_predictions(predict(model, loader, paragraphs, device), "validation predictions")
    return score(predictions, paragraphs, thresholds, source="validation")


def train(settings: TrainSettings) -> list[dict[str, Any]]:
    """Run (or resume) training, in this process or as one rank of torchrun's; returns the history,
    one dict per epoch (rank 0's; the other ranks return an empty list)."""
    world, device = join(settings.device)
    try:
        return _train(settings, world, device)
    finally:
        leave(world)


def _train(settings: TrainSettings, world: World, device: torch.device) -> list[dict[str, Any]]:
    out = Path(settings.out)
    if not world.is_main:  # one log, one progress bar: rank 0's
        logging.getLogger("hscnet").setLevel(logging.WARNING)
    if settings.threads or world.size > 1:
        torch.set_num_threads(cpu_threads(world, settings.threads))
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
    train_set = ParagraphDataset(
        train_paragraphs, settings.features, settings.text, temporal_crop=settings.temporal_crop
    )
    if settings.feature_norm == "standardize":
        train_set.feature_stats = FeatureStats.of_videos(settings.features, (p.video for p in train_paragraphs))
    val_set = ParagraphDataset(val_paragraphs, settings.features, settings.text, train_set.feature_stats)
    cfg = model_config_for(settings, train_set.video_dim, train_set.word_dim)
    check_shares(len(train_set), cfg.batch_size, world)

    precision = resolve_precision(settings.precision, device)
    seed_everything(settings.seed)
    model, criterion, optimizer = build_training(cfg, device)
    scaler = grad_scaler(device, precision)
    if world.size > 1:
        torch.manual_seed(settings.seed + world.rank)  # each rank its own dropout and crop draws
    loader_generator = torch.Generator().manual_seed(settings.seed)  # the same global order on every rank
    shard = (world.rank, world.size) if world.size > 1 else None
    train_loader = make_loader(train_set, cfg.batch_size, True, loader_generator, settings.num_workers, shard)
    val_loader = make_loader(val_set, cfg.batch_size, False, None, settings.num_workers)

    state, identity = resumable_checkpoint(settings, cfg, device, world)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": 0, "mIoU": -1.0}
    best_checkpoint: dict[str, Any] | None = None  # in memory: a resumed run rewrites best.pt if it is gone
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):  # empty: saved by a run without loss scaling
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(rank_rng_state(state["rng"], world), loader_generator)
        history, best, best_checkpoint = state["history"], state["best"], state["best_checkpoint"]
        state["identity"] = identity
        log.info("resuming after epoch %d (best mIoU %.2f at epoch %d)", len(history), best["mIoU"], best["epoch"])

    config = {
        "model": cfg.to_dict(),
        "preset": settings.preset,
        "ablation": settings.ablation,
        "train": dataclasses.asdict(settings),
        "data": train_set.provenance,
    }
    config["train"] |= {
        "device": str(device),
        "precision": precision,
        "world_size": world.size,
        "backend": world.backend,
    }
    if world.is_main:
        write_json(out / "config.json", config)
    if world.size > 1:
        log.info(
            "distributed: world size %d, backend %s, global batch %d (%d per rank), %d CPU threads per rank",
            world.size,
            world.backend,
            cfg.batch_size,
            cfg.batch_size // world.size,
            torch.get_num_threads(),
        )
        model_in_training = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    else:
        model_in_training = model
    log.info(
        "training %s%s on %d paragraphs (val %d), %d epochs, batch %d, lr %g, device %s, precision %s, %d parameters",
        settings.preset,
        f" [{settings.ablation}]" if settings.ablation else "",
        len(train_set),
        len(val_set),
        cfg.epochs,
        cfg.batch_size,
        cfg.lr,
        device,
        precision,
        sum(p.numel() for p in model.parameters()),
    )

    best_written = False
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        started = time.perf_counter()
        losses = train_one_epoch(
            model_in_training,
            criterion,
            train_loader,
            optimizer,
            device,
            f"epoch {epoch}/{cfg.epochs}",
            world,
            precision,
            scaler,
        )
        metrics = (
            validate(model, val_loader, val_paragraphs, device, settings.iou_thresholds, precision)
            if world.is_main
            else None
        )
        rng = gather_rng_states(loader_generator, world)  # after validation, which draws from the global RNG
        if not world.is_main:
            continue
        val = {f"val_{k}": metrics[k] for k in (*(f"R@{m:g}" for m in settings.iou_thresholds), "mIoU")}
        row = {"epoch": epoch, **losses, **val, "seconds": round(time.perf_counter() - started, 3)}
        history.append(row)
        snapshot = {
            "model_config": cfg.to_dict(),
            "model": model.state_dict(),
            "epoch": epoch,
            "val_metrics": metrics,
            "identity": identity,
            "ablation": settings.ablation,
            "data": train_set.provenance,
            "feature_stats": train_set.feature_stats.to_state() if train_set.feature_stats else None,
        }
        if metrics["mIoU"] > best["mIoU"]:
            best, best_checkpoint = {"epoch": epoch, "mIoU": metrics["mIoU"]}, copy.deepcopy(snapshot)
            save_checkpoint(out / BEST_NAME, best_checkpoint)
            best_written = True
        state = snapshot | {
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng,
            "history": history,
            "best": best,
            "best_checkpoint": best_checkpoint,
        }
        save_checkpoint(out / PROGRESS_NAME, state)
        _write_history(out / "history.csv", history)
        log.info(
            "epoch %d/%d %s | val %s | best mIoU %.2f @ %d | %.1f s",
            epoch,
            cfg.epochs,
            " ".join(f"{k} {v:.4f}" for k, v in losses.items()),
            " ".join(f"{k[4:]} {v:.2f}" for k, v in val.items()),
            best["mIoU"],
            best["epoch"],
            row["seconds"],
        )
    if not world.is_main:
        return []
    # Every output, also when this process trained no epoch (a finished run resumed) or Snakemake deleted
    # the best.pt of a killed job; the run's checkpoint becomes last.pt, the one file a rerun by Snakemake
    # deletes with the other outputs.
    if not best_written:
        save_checkpoint(out / BEST_NAME, best_checkpoint)
    _write_history(out / "history.csv", history)
    save_checkpoint(out / LAST_NAME, state)
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    return history


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train HSCNet; writes OUT/{best,last}.pt, history.csv, config.json",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    p.add_argument("--dropout", type=float, help="dropout rate (default: the preset's, 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: all cores; give the job's share when "
        "jobs run side by side: more threads than free cores slow torch down a lot)",
    )
    p.add_argument(
        "--iou", type=float, nargs="+", default=list(DEFAULT_IOU_THRESHOLDS), help="validation IoU thresholds"
    )
    p.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="fp32",
        help="autocast of forward and loss: fp32 (off, default), bf16, fp16 with loss scaling, or auto: bf16 "
        "where the device computes it natively, else fp32",
    )
    p.add_argument(
        "--feature-norm",
        choices=FEATURE_NORMS,
        default="standardize",
        help="standardize: z-score clip features with training-video statistics (default); none: raw",
    )
    p.add_argument(
        "--temporal-crop",
        action="store_true",
        help="augmentation: half of the training draws cut the video to a random window of whole clips "
        "around the paragraph",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/in_progress.pt (or a finished OUT/last.pt) when it exists and was written by "
        "a run with the same model config, seed, training options and data files; refused otherwise",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    for name in ("epochs", "batch_size", "num_workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "num_workers" else 1):
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    settings = TrainSettings(
        features=args.features,
        text=args.text,
        train=args.train,
        val=args.val,
        out=args.out,
        preset=args.preset,
        ablation=args.ablation,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        dropout=args.dropout,
        seed=args.seed,
        device=args.device,
        num_workers=args.num_workers,
        threads=args.threads,
        iou_thresholds=tuple(args.iou),
        resume=args.resume,
        feature_norm=args.feature_norm,
        temporal_crop=args.temporal_crop,
        precision=args.precision,
    )
    train(settings)
    return 0
