"""Which device a job runs on, and in which precision.

``resolve_device("auto")`` gives each job of a multi-GPU machine its own GPU:

* a scheduler's choice comes first: with ``CUDA_VISIBLE_DEVICES`` set (by SLURM, or by hand) the job
  takes the first visible GPU; with only ``SLURM_JOB_GPUS``/``SLURM_STEP_GPUS`` set it takes the
  first GPU SLURM assigned (process ``LOCAL_RANK`` of a ``torchrun`` run: the ``LOCAL_RANK``-th);
* otherwise (e.g. ``snakemake --cores 32 --resources gpu=4`` on one machine, where Snakemake counts
  GPUs but does not say which) the job locks a free GPU: one lock file per device in a shared
  directory, held with ``fcntl.flock`` for the life of the process. The kernel drops the lock when
  the process ends, also when it crashes or is killed, so no stale lock survives. When every GPU is
  held the job waits for one. Each process of a multi-GPU (DDP) run locks its own. The locks
  coordinate hscnet jobs; other programs on the GPU are not seen.

Precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast (``autocast``); fp16 training needs a
gradient scaler (``grad_scaler``), bf16 has fp32's range and does not. ``resolve_precision("auto")``
picks bf16 where the hardware computes it natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU with
bf16 support) and fp32 elsewhere: emulated bf16 is slower than fp32 (bench/README.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from hscnet.errors import InputError

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "HSCNET_GPU_LOCK_DIR"
SLURM_GPU_ENVS = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

_held_gpu: GpuLock | None = None  # this process's GPU lock: kept until the process ends


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """ "auto" -> this process's GPU when CUDA is present (see the module doc), else cpu; anything else
    as torch spells it. ``local_rank``: this process's place among the processes of one run on this
    machine (torchrun's ``LOCAL_RANK``).

    Asking for cuda without a GPU is an error rather than a silent fallback, so that a run meant
    for the GPU does not quietly take hours on the CPU.
    """
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", job_gpu(torch.cuda.device_count(), local_rank=local_rank))
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but no CUDA GPU is available")
    return device


def job_gpu(
    num_devices: int,
    environ: dict[str, str] | None = None,
    lock_dir: str | os.PathLike | None = None,
    local_rank: int = 0,
) -> int:
    """Index (as torch numbers the visible devices) of the GPU this process should use; process
    ``local_rank`` of a multi-process run takes the ``local_rank``-th of the GPUs it was given."""
    global _held_gpu
    environ = os.environ if environ is None else environ
    if environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        # The scheduler or the user chose; torch numbers the chosen devices from 0.
        return _given_gpu(local_rank, num_devices, f"CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']}")
    assigned = next((environ[key] for key in SLURM_GPU_ENVS if environ.get(key, "").strip()), None)
    if assigned is not None:
        ids = [part.strip() for part in assigned.split(",")]
        if not all(part.isdigit() for part in ids):
            raise InputError(f"cannot read the GPU ids SLURM assigned: {assigned!r}")
        position = _given_gpu(local_rank, len(ids), f"SLURM assigned GPUs {assigned}")
        # A node that hides unassigned GPUs (cgroup ConstrainDevices) shows only the assigned ones.
        return position if num_devices <= len(ids) else int(ids[position])
    if _held_gpu is None:
        _held_gpu = GpuLock.acquire(num_devices, lock_dir or default_lock_dir())
        log.info("using GPU %d of %d (lock %s)", _held_gpu.index, num_devices, _held_gpu.path)
    return _held_gpu.index


def _given_gpu(local_rank: int, count: int, given: str) -> int:
    if local_rank >= count:
        raise InputError(
            f"process {local_rank} of this run needs a GPU of its own, but only {count} were given ({given})"
        )
    return local_rank


def default_lock_dir() -> Path:
    """``$HSCNET_GPU_LOCK_DIR``, else a directory under the machine's temp dir (GPUs are per machine)."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "hscnet-gpu-locks")


class GpuLock:
    """An exclusive lock on one GPU index; released by ``release()`` or when the process ends."""

    def __init__(self, index: int, path: Path, fd: int):
        self.index, self.path, self._fd = index, path, fd

    @classmethod
    def acquire(
        cls, num_devices: int, lock_dir: str | os.PathLike, timeout_s: float | None = None, poll_s: float = 1.0
    ) -> GpuLock:
        """Lock the lowest free GPU of ``0..num_devices-1``, waiting while all are held.

        Raises TimeoutError after ``timeout_s`` (None: wait as long as it takes).
        """
        if num_devices < 1:
            raise InputError(f"no GPU to allocate (device count {num_devices})")
        lock_dir = Path(lock_dir)
        lock_dir.mkdir(parents=True, exist_ok=True)
        started, warned = time.monotonic(), False
        while True:
            for index in range(num_devices):
                lock = cls._try_lock(index, lock_dir / f"gpu{index}.lock")
                if lock is not None:
                    return lock
            waited = time.monotonic() - started
            if timeout_s is not None and waited >= timeout_s:
                raise TimeoutError(
                    f"all {num_devices} GPUs stayed locked by other jobs for {waited:.0f} s (locks in {lock_dir})"
                )
            if not warned:
                log.warning(
                    "all %d GPUs are in use by other hscnet jobs (locks in %s); waiting for one", num_devices, lock_dir
                )
                warned = True
            time.sleep(poll_s)

    @classmethod
    def _try_lock(cls, index: int, path: Path) -> GpuLock | None:
        # Read-only is enough for flock, and lets users share lock files another user created.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(index, path, fd)

    def release(self) -> None:
        os.close(self._fd)  # closing the only descriptor drops the flock


def resolve_precision(name: str, device: torch.device) -> str:
    """ "auto" -> "bf16" where ``device`` has native bf16 arithmetic, else "fp32"; others unchanged."""
    if name == "auto":
        return "bf16" if has_native_bf16(device) else "fp32"
    if name not in PRECISIONS:
        raise InputError(f"unknown precision {name!r}; known: auto, {', '.join(PRECISIONS)}")
    if name == "bf16" and not has_native_bf16(device):
        # Emulated bf16 convolutions are orders of magnitude slower (bench/README.md, mixed precision).
        log.warning(
            "precision bf16 on %s, which has no native bf16 arithmetic: it is emulated and can be 100x slower "
            "than fp32 (precision auto picks fp32 here)",
            device,
        )
    return name


def has_native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    capabilities = torch.cpu.get_capabilities() if device.type == "cpu" else {}
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device`` ("fp32": a no-op context)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return torch.autocast(device.type, dtype=PRECISIONS[precision], enabled=precision != "fp32")


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 training (its gradients underflow otherwise); disabled for fp32 and bf16."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
