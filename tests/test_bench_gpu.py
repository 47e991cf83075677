"""bench/gpu.sh in its dry mode (toy sizes on the CPU): every step runs and the table is written.

CI never has a GPU; this keeps the script that runs when one is lent from rotting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

from hscnet.device import has_native_bf16


@pytest.mark.slow
def test_gpu_benchmark_dry_mode_writes_the_table(tmp_path):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "bench" / "gpu.sh"), "--dry", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "gpu.md").read_text()
    assert "Failed steps: none" in table
    number = r"\d+\.\d+"
    measured = rf"\| cpu \| {number} \| {number} \| \d+% \| (network|decoding) \|$"
    assert re.search(rf"^\| fp32 {measured}", table, re.M)
    # Emulated bf16 C3D takes minutes per clip: a CPU without native bf16 skips those rows and says why.
    bf16_row = (
        measured
        if has_native_bf16(torch.device("cpu"))
        else r"\| \| skipped: no native bf16 on this cpu: .+ \| \| \| \|$"
    )
    for variant in ("bf16", "bf16 \\+ channels-last", "bf16 \\+ channels-last \\+ decoder-threads 4"):
        assert re.search(rf"^\| {variant} {bf16_row}", table, re.M), variant
    extractor_precisions = ("fp32", "bf16") if has_native_bf16(torch.device("cpu")) else ("fp32",)
    for extractor in ("c3d", "r3d_18"):  # the dry mode's two; a GPU run lists every registered one
        for precision in extractor_precisions:
            row = rf"^\| {extractor} \| {precision} \| cpu \| 1 \| {number} \| \d+ \| n/a \(CPU\) \|$"
            assert re.search(row, table, re.M), (extractor, precision)
    for precision in ("fp32", "bf16", "fp16"):
        assert re.search(
            rf"^\| {precision} \| cpu \| tiny \| \d+/\d+ \| {number} \| {number} \| {number} \| n/a \(CPU\) \|$",
            table,
            re.M,
        ), precision
    assert re.search(
        rf"^\| cpu \| tiny \| 4 \| {number} \| {number} \| {number} \| {number} \| {number} \|$", table, re.M
    )
    epoch_row = rf"^\| cpu \| tiny \| (fp32|bf16) \| 2/\d+ \| {number} \| {number}% \| {number} \| n/a \(CPU\) \|$"
    assert re.search(epoch_row, table, re.M)  # stand-in TACoS epoch, its first 2 batches
    # Until hscnet train runs distributed the 1-vs-2 step says why it was skipped, else it has both rows.
    assert re.search(r"1 vs 2 GPUs: skipped: .+\.$|^\| 2 \| \d+(\.\d+)? \|$", table, re.M)
