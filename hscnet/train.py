"""``hscnet train``: fit HSCNet on one dataset, validate every epoch, keep the best checkpoint.

Optimisation follows sec. 4.2: Adam without weight decay, the preset's learning rate (1e-4 for the
paper's datasets) and batch size, a configurable number of epochs. After every epoch the model is
scored on the validation split (R@m, mIoU, ``hscnet.metrics``) and the output directory is
updated atomically:

    OUT/config.json      everything needed to rebuild the model and repeat the run
    OUT/in_progress.pt   while the run lasts: model, optimizer, every random state, the history and
                         the best epoch's model; ``--resume`` continues from it exactly as if the run
                         had not been interrupted
    OUT/best.pt          the model of the epoch with the best validation mIoU (ties keep the earlier)
    OUT/history.csv      one row per epoch: every loss part, the validation metrics, seconds
    OUT/last.pt          written when the run ends (in_progress.pt becomes last.pt): ``--resume`` with
                         more epochs continues a finished run

Resuming (``--resume``, ``hscnet.resume``) and what the workflow relies on: docs/reruns.md.

Several processes: under ``torchrun --nproc-per-node N`` the run uses DistributedDataParallel with the
same global batch (``hscnet.distributed``); rank 0 validates and writes every file.

Determinism: the seed fixes the initialisation, the shuffling (a dedicated DataLoader generator) and
dropout; with the same data, seed and machine the history and checkpoints are identical, also across a
kill and ``--resume``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from hscnet.checkpoint import save_checkpoint
from hscnet.data.annotations import load_normalised
from hscnet.data.collate import to_device
from hscnet.data.dataset import FeatureStats, ParagraphDataset
from hscnet.data.loader import make_loader
from hscnet.device import autocast, grad_scaler, resolve_precision
from hscnet.distributed import ONE_PROCESS, World, all_sum, check_shares, cpu_threads, global_mean_weights, join, leave
from hscnet.errors import InputError
from hscnet.inference import predict
from hscnet.io import atomic_path, write_json
from hscnet.metrics import parse_predictions, score
from hscnet.model import ModelConfig, ablation_config, build_criterion, build_model, total_loss
from hscnet.progress import progress
from hscnet.resume import (
    BEST_NAME,
    LAST_NAME,
    PROGRESS_NAME,
    gather_rng_states,
    rank_rng_state,
    resumable_checkpoint,
    seed_everything,
    set_rng_state,
)
from hscnet.training_config import FEATURE_NORMS, TrainConfig, TrainSettings

log = logging.getLogger(__name__)


def parse_ablation(spec: str) -> tuple[int, str]:
    """ "table2:SL" -> (2, "SL")."""
    table, sep, row = spec.partition(":")
    if not sep or not table.startswith("table") or not table[5:].isdigit() or not row:
        raise InputError(f"ablation {spec!r}: expected 'table<N>:<row>', e.g. 'table2:SL'")
    return int(table[5:]), row


def model_config_for(settings: TrainSettings, video_dim: int, word_dim: int) -> ModelConfig:
    """The preset, with the input dims of the data, the ablation row and the dropout override applied."""
    cfg = ModelConfig.preset(settings.preset, video_dim=video_dim, word_dim=word_dim)
    if settings.ablation:
        cfg = ablation_config(cfg, *parse_ablation(settings.ablation))
    return cfg if settings.dropout is None else dataclasses.replace(cfg, dropout=settings.dropout)


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def build_training(
    cfg: ModelConfig, lr: float, device: torch.device
) -> tuple[torch.nn.Module, torch.nn.Module, torch.optim.Optimizer]:
    """Model, criterion and the paper's optimizer: Adam, no weight decay, learning rate ``lr``."""
    model = build_model(cfg).to(device)
    criterion = build_criterion(cfg).to(device)
    # fused: one kernel over all parameters, faster steps than the per-tensor loop on the CPU.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
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


@dataclass
class Run:
    """One training run's parts, built by ``_setup`` and advanced epoch by epoch."""

    settings: TrainSettings
    world: World
    device: torch.device
    cfg: ModelConfig
    train_cfg: TrainConfig
    precision: str
    train_set: ParagraphDataset
    val_set: ParagraphDataset
    train_loader: Any
    val_loader: Any
    loader_generator: torch.Generator
    model: torch.nn.Module
    model_in_training: torch.nn.Module  # the model, wrapped in DDP when several processes train
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    identity: dict[str, Any] = dataclasses.field(default_factory=dict)  # what a resumed run must share
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best: dict[str, Any] = dataclasses.field(default_factory=lambda: {"epoch": 0, "mIoU": -1.0})
    best_checkpoint: dict[str, Any] | None = None  # in memory: a resumed run rewrites best.pt if it is gone
    state: dict[str, Any] | None = None  # the latest resumable checkpoint


def _train(settings: TrainSettings, world: World, device: torch.device) -> list[dict[str, Any]]:
    run = _setup(settings, world, device)
    _resume(run)
    _write_config(run)
    best_written = _epoch_loop(run)
    if not world.is_main:
        return []
    _finish(run, best_written)
    return run.history


def _setup(settings: TrainSettings, world: World, device: torch.device) -> Run:
    """Data, model, optimizer and loaders, seeded; nothing written yet."""
    _configure_process(settings, world, device)
    train_set, val_set = _datasets(settings)
    cfg = model_config_for(settings, train_set.video_dim, train_set.word_dim)
    train_cfg = settings.train_config()
    check_shares(len(train_set), train_cfg.batch_size, world)

    precision = resolve_precision(settings.precision, device)
    seed_everything(settings.seed)
    model, criterion, optimizer = build_training(cfg, train_cfg.lr, device)
    scaler = grad_scaler(device, precision)
    if world.size > 1:
        torch.manual_seed(settings.seed + world.rank)  # each rank its own dropout and crop draws
    loader_generator = torch.Generator().manual_seed(settings.seed)  # the same global order on every rank
    shard = (world.rank, world.size) if world.size > 1 else None
    batch_size = train_cfg.batch_size
    train_loader = make_loader(train_set, batch_size, True, loader_generator, settings.num_workers, shard)
    val_loader = make_loader(val_set, batch_size, False, None, settings.num_workers)
    return Run(
        settings=settings,
        world=world,
        device=device,
        cfg=cfg,
        train_cfg=train_cfg,
        precision=precision,
        train_set=train_set,
        val_set=val_set,
        train_loader=train_loader,
        val_loader=val_loader,
        loader_generator=loader_generator,
        model=model,
        model_in_training=_model_in_training(model, world, device, batch_size),
        criterion=criterion,
        optimizer=optimizer,
        scaler=scaler,
    )


def _configure_process(settings: TrainSettings, world: World, device: torch.device) -> None:
    """Logging of the non-main ranks, torch's threads, deterministic CUDA kernels."""
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


def _datasets(settings: TrainSettings) -> tuple[ParagraphDataset, ParagraphDataset]:
    """The training and validation sets; features standardised with the training videos' statistics."""
    train_paragraphs = load_normalised(settings.train)
    val_paragraphs = load_normalised(settings.val)
    if settings.feature_norm not in FEATURE_NORMS:
        raise InputError(f"unknown feature normalisation {settings.feature_norm!r}; known: {', '.join(FEATURE_NORMS)}")
    train_set = ParagraphDataset(
        train_paragraphs,
        settings.features,
        settings.text,
        temporal_crop=settings.temporal_crop,
        sentence_subset=settings.sentence_subset,
    )
    if settings.feature_norm == "standardize":
        train_set.feature_stats = FeatureStats.of_videos(settings.features, (p.video for p in train_paragraphs))
    val_set = ParagraphDataset(val_paragraphs, settings.features, settings.text, train_set.feature_stats)
    return train_set, val_set


def _model_in_training(model: torch.nn.Module, world: World, device: torch.device, batch_size: int) -> torch.nn.Module:
    """The model, wrapped in DistributedDataParallel when several processes train."""
    if world.size == 1:
        return model
    log.info(
        "distributed: world size %d, backend %s, global batch %d (%d per rank), %d CPU threads per rank",
        world.size,
        world.backend,
        batch_size,
        batch_size // world.size,
        torch.get_num_threads(),
    )
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def _resume(run: Run) -> None:
    """Continue from the run's resumable checkpoint when ``--resume`` finds one that matches (``hscnet.resume``)."""
    state, run.identity = resumable_checkpoint(run.settings, run.cfg, run.train_cfg, run.device, run.world)
    if state is None:
        return
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):  # empty: saved by a run without loss scaling
        run.scaler.load_state_dict(state["scaler"])
    set_rng_state(rank_rng_state(state["rng"], run.world), run.loader_generator)
    run.history, run.best, run.best_checkpoint = state["history"], state["best"], state["best_checkpoint"]
    state["identity"] = run.identity
    run.state = state
    log.info(
        "resuming after epoch %d (best mIoU %.2f at epoch %d)", len(run.history), run.best["mIoU"], run.best["epoch"]
    )


def _write_config(run: Run) -> None:
    """OUT/config.json (rank 0), and the run's summary in the log."""
    settings, device, world = run.settings, run.device, run.world
    config = {
        "model": run.cfg.to_dict(),
        "training": run.train_cfg.to_dict(),
        "preset": settings.preset,
        "ablation": settings.ablation,
        "train": dataclasses.asdict(settings),
        "data": run.train_set.provenance,
    }
    config["train"] |= {
        "device": str(device),
        "precision": run.precision,
        "world_size": world.size,
        "backend": world.backend,
    }
    if world.is_main:
        write_json(Path(settings.out) / "config.json", config)
    log.info(
        "training %s%s on %d paragraphs (val %d), %d epochs, batch %d, lr %g, device %s, precision %s, %d parameters",
        settings.preset,
        f" [{settings.ablation}]" if settings.ablation else "",
        len(run.train_set),
        len(run.val_set),
        run.train_cfg.epochs,
        run.train_cfg.batch_size,
        run.train_cfg.lr,
        device,
        run.precision,
        sum(p.numel() for p in run.model.parameters()),
    )


def _epoch_loop(run: Run) -> bool:
    """Train the remaining epochs; after each, rank 0 validates and writes best.pt (when it improved),
    in_progress.pt and history.csv. Returns whether best.pt was written."""
    settings, world = run.settings, run.world
    epochs = run.train_cfg.epochs
    best_written = False
    for epoch in range(len(run.history) + 1, epochs + 1):
        started = time.perf_counter()
        losses = train_one_epoch(
            run.model_in_training,
            run.criterion,
            run.train_loader,
            run.optimizer,
            run.device,
            f"epoch {epoch}/{epochs}",
            world,
            run.precision,
            run.scaler,
        )
        metrics = (
            validate(
                run.model,
                run.val_loader,
                run.val_set.paragraphs,
                run.device,
                settings.iou_thresholds,
                run.precision,
            )
            if world.is_main
            else None
        )
        rng = gather_rng_states(run.loader_generator, world)  # after validation, which draws from the global RNG
        if not world.is_main:
            continue
        best_written |= _record_epoch(run, epoch, losses, metrics, rng, started)
    return best_written


def _record_epoch(run: Run, epoch: int, losses: dict, metrics: dict, rng: Any, started: float) -> bool:
    """Rank 0 after an epoch: the history row, best.pt when the validation mIoU improved, in_progress.pt,
    history.csv and the log line. Returns whether best.pt was written."""
    settings, out = run.settings, Path(run.settings.out)
    val = {f"val_{k}": metrics[k] for k in (*(f"R@{m:g}" for m in settings.iou_thresholds), "mIoU")}
    row = {"epoch": epoch, **losses, **val, "seconds": round(time.perf_counter() - started, 3)}
    run.history.append(row)
    snapshot = {
        "model_config": run.cfg.to_dict(),
        "train_config": run.train_cfg.to_dict(),
        "model": run.model.state_dict(),
        "epoch": epoch,
        "val_metrics": metrics,
        "identity": run.identity,
        "ablation": settings.ablation,
        "data": run.train_set.provenance,
        "feature_stats": run.train_set.feature_stats.to_state() if run.train_set.feature_stats else None,
    }
    best_written = False
    if metrics["mIoU"] > run.best["mIoU"]:
        run.best, run.best_checkpoint = {"epoch": epoch, "mIoU": metrics["mIoU"]}, copy.deepcopy(snapshot)
        save_checkpoint(out / BEST_NAME, run.best_checkpoint)
        best_written = True
    run.state = snapshot | {
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": rng,
        "history": run.history,
        "best": run.best,
        "best_checkpoint": run.best_checkpoint,
    }
    save_checkpoint(out / PROGRESS_NAME, run.state)
    _write_history(out / "history.csv", run.history)
    log.info(
        "epoch %d/%d %s | val %s | best mIoU %.2f @ %d | %.1f s",
        epoch,
        run.train_cfg.epochs,
        " ".join(f"{k} {v:.4f}" for k, v in losses.items()),
        " ".join(f"{k[4:]} {v:.2f}" for k, v in val.items()),
        run.best["mIoU"],
        run.best["epoch"],
        row["seconds"],
    )
    return best_written


def _finish(run: Run, best_written: bool) -> None:
    """Every output, also when this process trained no epoch (a finished run resumed) or Snakemake deleted
    the best.pt of a killed job; the run's checkpoint becomes last.pt, the one file a rerun by Snakemake
    deletes with the other outputs."""
    out = Path(run.settings.out)
    if not best_written:
        save_checkpoint(out / BEST_NAME, run.best_checkpoint)
    _write_history(out / "history.csv", run.history)
    save_checkpoint(out / LAST_NAME, run.state)
    (out / PROGRESS_NAME).unlink(missing_ok=True)
