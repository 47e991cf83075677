#!/usr/bin/env bash
# One-run GPU benchmark, prepared for when a GPU machine is lent (under 8 minutes on one H200 without the stand-in epoch):
#   1. C3D extraction clips/s, fp32 against bf16 autocast (+ channels_last_3d), bare forward against the
#      whole stage (decode + preprocess + forward): which of decoding and the GPU is the limit; then every
#      registered extractor (C3D, torchvision's video models), fp32 and bf16: clips/s and peak memory;
#   2. training seconds per epoch of the tacos preset on TACoS-sized synthetic data, fp32 / bf16 / fp16
#      (loss scaling), with evaluation seconds and peak GPU memory (bench/bench_train.py);
#   3. one training step of the tacos preset on 16 real TACoS paragraphs, forward / loss / backward /
#      optimizer and an evaluation forward (bench/bench_step.py);
#   4. a whole epoch of the tacos preset with the data loader on stand-in TACoS inputs: time, loader
#      share, peak memory (bench/bench_epoch.py);
#   5. when `hscnet train` runs distributed (DDP) and 2 GPUs are present: one epoch on 1 against 2 GPUs
#      through `torchrun` and the real CLI.
# Writes OUT/gpu.md (the table), OUT/*.json (raw results) and OUT/log.txt.
#
#   bench/gpu.sh [--out DIR]     on a GPU machine
#   bench/gpu.sh --dry [--out DIR]   every step at toy size on the CPU (also what runs without a GPU);
#                                    tests/test_bench_gpu.py runs it, CI has no GPU
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}

out=bench-gpu-results
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry) dry=1 ;;
        --out) out=$2; shift ;;
        *) echo "usage: $0 [--dry] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$dry" = 0 ] && ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "no CUDA GPU here: running the dry mode (toy sizes on the CPU)" >&2
    dry=1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/log.txt"
: > "$log"
work="$out/work"  # generated videos and TACoS-sized data, reused by a rerun
if [ "$dry" = 1 ]; then
    device=cpu; clips=2; batch=2; preset=tiny; train_limit="--scale 0.02 --threads 1"; step_timeout=300
    extractors="c3d r3d_18"; extractor_clips=1; extractor_batch=1
    step_limit="--batch 4 --runs 1"
    epoch_limit="--max-batches 2 --threads 1"
    gpus=2  # gloo processes stand in for GPUs
else
    device=cuda; clips=256; batch=32; preset=tacos; train_limit=""; step_timeout=170
    extractors=$("$PYTHON" -m hscnet extract-features --list | cut -d' ' -f1); extractor_clips=64; extractor_batch=16
    step_limit="--runs 5"
    epoch_limit=""
    gpus=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
fi

# step NAME CMD...: run CMD with a time limit, its output into the log; a failed step is reported, the rest run on.
step() {
    local name=$1; shift
    echo "== $name: $*" | tee -a "$log" >&2
    local started=$SECONDS
    if timeout "$step_timeout" "$@" >> "$log" 2>&1; then
        echo "   done in $((SECONDS - started)) s" | tee -a "$log" >&2
    else
        echo "   FAILED (exit $?) after $((SECONDS - started)) s; see $log" | tee -a "$log" >&2
        echo "$name" >> "$out/failed.txt"
    fi
}
rm -f "$out/failed.txt" "$out"/*.json "$out"/*.skipped

# Emulated bf16 convolutions take minutes per clip (bench/README.md): in the dry mode a CPU without
# native bf16 skips the bf16 extraction variants and says so in the table.
native_bf16=$("$PYTHON" -c 'import sys, torch; from hscnet.device import has_native_bf16
print(int(has_native_bf16(torch.device(sys.argv[1]))))' "$device")
for variant in "fp32" "bf16" "bf16 --channels-last" "bf16 --channels-last --decoder-threads 4"; do
    read -r precision extra <<< "$variant"
    name="c3d-${precision}${extra// /}"
    if [ "$precision" = bf16 ] && [ "$native_bf16" = 0 ]; then
        echo "no native bf16 on this $device: emulated bf16 C3D takes minutes per clip" > "$out/$name.skipped"
        echo "== $name: skipped ($(cat "$out/$name.skipped"))" | tee -a "$log" >&2
        continue
    fi
    # shellcheck disable=SC2086
    step "$name" "$PYTHON" bench/bench_extract.py --parts a --workdir "$work" --device "$device" --precision "$precision" \
        $extra --clips "$clips" --batch-size "$batch" --repeats 2 --json "$out/$name.json"
done

# Every extractor in a step of its own (fp32, and bf16 where native): a failed one does not stop the others.
for name in $extractors; do
    step "extractor-$name" "$PYTHON" bench/bench_extract.py --parts d --extractors "$name" --workdir "$work" \
        --device "$device" --clips "$extractor_clips" --batch-size "$extractor_batch" --json "$out/extractor-$name.json"
done

for precision in fp32 bf16 fp16; do
    # shellcheck disable=SC2086
    step "train-$precision" "$PYTHON" bench/bench_train.py --workdir "$work/data-$preset" --preset "$preset" --device "$device" \
        --precision "$precision" $train_limit --json "$out/train-$precision.json"
done

# shellcheck disable=SC2086
step "step" "$PYTHON" bench/bench_step.py --preset "$preset" --device "$device" $step_limit --eval --no-profile \
    --json "$out/step.json"

# A whole epoch of the preset with the data loader on stand-in TACoS inputs (the real training paragraphs,
# random features through the project's own import commands), as bench/README.md's CPU figure.
step "standin" "$PYTHON" bench/standin_tacos.py --out "$work/tacos-standin"
# shellcheck disable=SC2086
step "epoch" "$PYTHON" bench/bench_epoch.py --data "$work/tacos-standin" --preset "$preset" --device "$device" \
    --skip-loader-passes $epoch_limit --json "$out/epoch.json"

# 1 against 2 GPUs needs distributed training in `hscnet train` (being built) and a second device.
ddp_note=""
if ! grep -rqs "init_process_group" hscnet/; then
    ddp_note="skipped: this hscnet train has no distributed (DDP) mode yet"
elif [ "$gpus" -lt 2 ]; then
    ddp_note="skipped: $gpus GPU(s) here"
else
    data="$work/data-$preset"
    # The dry run trains on the toy data at a large batch so that the epoch stays short.
    dry_batch=$([ "$dry" = 1 ] && echo "--batch-size 64" || echo "")
    for n in 1 2; do
        rm -rf "$out/ddp-$n"
        # shellcheck disable=SC2086
        step "ddp-$n" "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$n" -m hscnet train \
            --features "$data/features.h5" --text "$data/text.h5" --train "$data/train.json" --val "$data/test.json" \
            --preset "$preset" --epochs 1 $dry_batch --device "$([ "$dry" = 1 ] && echo cpu || echo auto)" --out "$out/ddp-$n"
    done
    grep -q "world size 2" "$log" || ddp_note="the 2-process run did not report 'world size 2': not distributed"
fi

"$PYTHON" - "$out" "$dry" "$ddp_note" $extractors <<'EOF'
"""Render OUT/gpu.md from the JSON results; a missing result is a row that says so."""
import csv, json, sys
from pathlib import Path

out, dry, ddp_note, extractors = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], sys.argv[4:]
load = lambda name: json.loads((out / f"{name}.json").read_text()) if (out / f"{name}.json").is_file() else None
lines = [f"# bench/gpu.sh{' --dry (toy sizes on the CPU)' if dry else ''}", ""]
lines += ["## C3D extraction (bench/bench_extract.py part a)", "",
          "| variant | device | bare forward clips/s | whole stage clips/s | network idle waiting for decoding | limit |",
          "|---|---|---|---|---|---|"]
for name in ("c3d-fp32", "c3d-bf16", "c3d-bf16--channels-last", "c3d-bf16--channels-last--decoder-threads4"):
    r = (load(name) or {}).get("a")
    label = name.removeprefix("c3d-").replace("--", " + ").replace("threads4", "threads 4")
    skipped = out / f"{name}.skipped"
    if skipped.is_file():
        lines.append(f"| {label} | | skipped: {skipped.read_text().strip()} | | | |")
        continue
    if r is None:
        lines.append(f"| {label} | | failed or not run | | | |")
        continue
    limit = "decoding" if r["decode_wait"] > 0.2 else "network"
    lines.append(f"| {label} | {r['device']} | {r['bare_clips_per_s']:.1f} | {r['full_clips_per_s']:.1f} "
                 f"| {r['decode_wait']:.0%} | {limit} |")
lines += ["", "## Every extractor, random weights (bench/bench_extract.py part d)", "",
          "| extractor | precision | device | clips | clips/s | peak RSS MiB | peak GPU MiB |", "|---|---|---|---|---|---|---|"]
for name in extractors:
    rows = (load(f"extractor-{name}") or {}).get("d") or [{"precision": "failed or not run"}]
    for r in rows:
        if "clips_per_s" not in r:
            lines.append(f"| {name} | {r['precision']} | | | | | |")
            continue
        gpu = "n/a (CPU)" if r["peak_cuda_mib"] is None else f"{r['peak_cuda_mib']:.0f}"
        lines.append(f"| {name} | {r['precision']} | {r['device']} | {r['clips']} | {r['clips_per_s']:.2f} "
                     f"| {r['peak_rss_mib']:.0f} | {gpu} |")
lines += ["", "## Training, one epoch of TACoS-sized synthetic data (bench/bench_train.py)", "",
          "| precision | device | preset | batches timed | s per batch | epoch s (estimate) | evaluation s | peak GPU MiB |",
          "|---|---|---|---|---|---|---|---|"]
for precision in ("fp32", "bf16", "fp16"):
    r = load(f"train-{precision}")
    if r is None:
        lines.append(f"| {precision} | | | failed or not run | | | | |")
        continue
    lines.append(f"| {r['precision']} | {r['device']} | {r['preset']} | {r['train_batches_timed']}/{r['train_batches_per_epoch']} "
                 f"| {r['train_seconds_per_batch']:.3f} | {r['train_epoch_seconds_estimate']:.1f} | {r['eval_seconds']:.1f} "
                 f"| {r.get('peak_cuda_mib', 'n/a (CPU)')} |")
gpu_mib = lambda mib: "n/a (CPU)" if mib is None else f"{mib:.0f}"
def one_result(title, columns, name, row):
    """A section with the table of one result: its row, or a row that says it failed or did not run."""
    lines.extend(["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"])
    r = load(name)
    lines.append("| failed or not run |" + " |" * (len(columns) - 1) if r is None else row(r))
one_result("One training step on 16 real TACoS paragraphs, random features (bench/bench_step.py, medians)",
           ["device", "preset", "paragraphs", "forward s", "loss s", "backward s", "optimizer s", "evaluation forward s"],
           "step", lambda r: f"| {r['device']} | {r['preset']} | {r['paragraphs']} | {r['forward_s']:.3f} | {r['loss_s']:.3f} "
                             f"| {r['backward_s']:.3f} | {r['optimizer_s']:.3f} | {r['evaluation_forward_s']:.3f} |")
one_result("An epoch with the data loader on stand-in TACoS inputs (bench/bench_epoch.py)",
           ["device", "preset", "precision", "batches timed", "epoch s", "loader share", "peak RSS GiB", "peak GPU MiB"],
           "epoch", lambda r: f"| {r['device']} | {r['preset']} | {r['precision']} | {r['batches']}/{r['batches_per_epoch']} "
                              f"| {r['epoch_s']:.1f} | {r['loader_share']:.1%} | {r['peak_rss_gib']:.2f} "
                              f"| {gpu_mib(r['peak_cuda_mib'])} |")
lines += ["", "## Distributed training, one epoch through `hscnet train` (seconds incl. validation)", ""]
if ddp_note:
    lines.append(f"1 vs 2 GPUs: {ddp_note}.")
else:
    lines += ["| processes | epoch s |", "|---|---|"]
    for n in (1, 2):
        history = out / f"ddp-{n}" / "history.csv"
        seconds = next(csv.DictReader(history.open()))["seconds"] if history.is_file() else "failed"
        lines.append(f"| {n} | {seconds} |")
failed = (out / "failed.txt").read_text().split() if (out / "failed.txt").is_file() else []
lines += ["", f"Failed steps: {', '.join(failed) if failed else 'none'}. Log: {out / 'log.txt'}"]
(out / "gpu.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
[ ! -s "$out/failed.txt" ]
