"""Device choice (hscnet.device): one GPU per job on simulated GPUs, the scheduler's choice, precisions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import REPO_ROOT

from hscnet import device as device_module
from hscnet.device import SLURM_GPU_ENVS, GpuLock, autocast, grad_scaler, job_gpu, resolve_device, resolve_precision

# A job (or one process of a torchrun job: LOCAL_RANK, WORLD_SIZE) on a simulated machine with 3 GPUs:
# prints the device "auto" gives it, then holds it until its stdin closes or it is killed.
FAKE_GPU_JOB = """
import os, sys, torch
torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: 3
from hscnet.distributed import rank_device
print(rank_device("auto", int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def no_held_gpu(monkeypatch):
    """This test process holds no GPU before the test, and forgets the one it took after it."""
    monkeypatch.setattr(device_module, "_held_gpu", None)


def start_job(lock_dir, **env) -> subprocess.Popen:
    inherited = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", *SLURM_GPU_ENVS)}
    env = {**inherited, "PYTHONPATH": str(REPO_ROOT), "HSCNET_GPU_LOCK_DIR": str(lock_dir), **env}
    return subprocess.Popen(
        [sys.executable, "-c", FAKE_GPU_JOB], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_cpu_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_concurrent_jobs_get_different_gpus_and_a_killed_one_frees_its_gpu(tmp_path):
    jobs = [start_job(tmp_path) for _ in range(3)]  # started together: they race for the locks
    try:
        picked = {job.stdout.readline().strip(): job for job in jobs}
        assert sorted(picked) == ["cuda:0", "cuda:1", "cuda:2"]
        # The holder of cuda:1 crashes (SIGKILL: no cleanup of its own runs); the next job gets cuda:1.
        picked["cuda:1"].kill()
        picked["cuda:1"].wait()
        jobs.append(start_job(tmp_path))
        assert jobs[-1].stdout.readline().strip() == "cuda:1"
    finally:
        for job in jobs:
            job.kill()
            job.wait()


def test_scheduler_assignment_is_respected(tmp_path):
    """SLURM (or the user) chose: no lock is taken, whatever the other jobs hold."""
    jobs = [
        start_job(tmp_path, CUDA_VISIBLE_DEVICES="2"),
        start_job(tmp_path, CUDA_VISIBLE_DEVICES="2"),
        start_job(tmp_path, SLURM_JOB_GPUS="2"),
    ]
    try:
        assert [job.stdout.readline().strip() for job in jobs] == ["cuda:0", "cuda:0", "cuda:2"]
        assert not list(tmp_path.iterdir())
    finally:
        for job in jobs:
            job.kill()
            job.wait()


def test_slurm_gpu_numbering(no_held_gpu, tmp_path):
    # All 4 GPUs of the node visible: SLURM's ids are torch's. Only the 2 assigned ones visible: they are 0, 1.
    assert job_gpu(4, {"SLURM_JOB_GPUS": "3,1"}, tmp_path) == 3
    assert job_gpu(2, {"SLURM_JOB_GPUS": "3,1"}, tmp_path) == 0
    assert job_gpu(4, {"SLURM_STEP_GPUS": "1", "SLURM_JOB_GPUS": "2,1"}, tmp_path) == 1  # the step's own share
    assert job_gpu(4, {"CUDA_VISIBLE_DEVICES": "GPU-5d2b", "SLURM_JOB_GPUS": "3"}, tmp_path) == 0
    with pytest.raises(ValueError, match="cannot read the GPU ids SLURM assigned: 'gpu:a100'"):
        job_gpu(4, {"SLURM_JOB_GPUS": "gpu:a100"}, tmp_path)
    assert device_module._held_gpu is None


def test_each_process_of_a_multi_gpu_run_gets_its_own_gpu(no_held_gpu, tmp_path):
    # The scheduler gave the run its GPUs: process LOCAL_RANK takes the LOCAL_RANK-th of them.
    assert job_gpu(4, {"CUDA_VISIBLE_DEVICES": "2,3"}, tmp_path, local_rank=1) == 1
    assert job_gpu(4, {"SLURM_JOB_GPUS": "3,1"}, tmp_path, local_rank=1) == 1  # all visible: SLURM's id
    assert job_gpu(4, {"SLURM_JOB_GPUS": "0,2"}, tmp_path, local_rank=1) == 2
    assert job_gpu(2, {"SLURM_JOB_GPUS": "3,1"}, tmp_path, local_rank=1) == 1  # only the assigned visible
    with pytest.raises(
        ValueError, match=r"process 2 of this run needs a GPU of its own, but only 2 were given \(SLURM"
    ):
        job_gpu(4, {"SLURM_JOB_GPUS": "3,1"}, tmp_path, local_rank=2)
    with pytest.raises(ValueError, match="only 1 were given .CUDA_VISIBLE_DEVICES=5"):
        job_gpu(1, {"CUDA_VISIBLE_DEVICES": "5"}, tmp_path, local_rank=1)
    assert device_module._held_gpu is None


def test_processes_of_a_ddp_run_lock_free_gpus(tmp_path):
    """No scheduler: with GPU 0 held by another job, the two processes of a DDP run take GPUs 1 and 2,
    not cuda:LOCAL_RANK (which would put rank 0 on the other job's GPU)."""
    jobs = [start_job(tmp_path)]
    try:
        assert jobs[0].stdout.readline().strip() == "cuda:0"
        jobs += [start_job(tmp_path, LOCAL_RANK=str(rank), WORLD_SIZE="2") for rank in (0, 1)]
        assert sorted(job.stdout.readline().strip() for job in jobs[1:]) == ["cuda:1", "cuda:2"]
        jobs[0].kill()  # the other job ends: a scheduler's choice is taken as given, no locks
        jobs += [
            start_job(tmp_path, LOCAL_RANK=str(rank), WORLD_SIZE="2", CUDA_VISIBLE_DEVICES="1,2") for rank in (0, 1)
        ]
        assert [job.stdout.readline().strip() for job in jobs[3:]] == ["cuda:0", "cuda:1"]
    finally:
        for job in jobs:
            job.kill()
            job.wait()


def test_one_process_keeps_its_gpu(no_held_gpu, tmp_path):
    first = job_gpu(2, {}, tmp_path)
    assert job_gpu(2, {}, tmp_path) == first  # training, then validation: the same GPU, not a second lock


def test_threads_contend_for_locks(tmp_path):
    """flock locks belong to open files, so threads of one process exclude each other too."""
    results, barrier = [], threading.Barrier(4)

    def take() -> None:
        barrier.wait()
        results.append(GpuLock.acquire(4, tmp_path, timeout_s=0))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(lock.index for lock in results) == [0, 1, 2, 3]
    with pytest.raises(TimeoutError, match="all 4 GPUs stayed locked"):
        GpuLock.acquire(4, tmp_path, timeout_s=0.2, poll_s=0.05)
    for lock in results:
        lock.release()


def test_a_job_waits_for_a_freed_gpu(tmp_path):
    held = [GpuLock.acquire(2, tmp_path, timeout_s=0) for _ in range(2)]
    threading.Timer(0.3, held[1].release).start()
    started = time.monotonic()
    waiter = GpuLock.acquire(2, tmp_path, timeout_s=10, poll_s=0.05)
    assert waiter.index == 1 and time.monotonic() - started >= 0.25
    for lock in (held[0], waiter):
        lock.release()


def test_no_gpu_to_allocate(tmp_path):
    with pytest.raises(ValueError, match="no GPU to allocate"):
        GpuLock.acquire(0, tmp_path)


def test_auto_precision_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": False})
    assert resolve_precision("auto", cpu) == "fp32"  # emulated bf16 is slower than fp32
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": True})
    assert resolve_precision("auto", cpu) == "bf16"
    assert resolve_precision("fp16", cpu) == "fp16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        resolve_precision("half", cpu)


def test_precisions():
    cpu = torch.device("cpu")
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast(cpu, "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert layer(x).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        autocast(cpu, "fp8")
    assert grad_scaler(cpu, "fp16").is_enabled() and not grad_scaler(cpu, "bf16").is_enabled()
