"""Benchmark (not a test): where one paper-scale HSCNet training step goes, on the CPU, and how it
compares with PRVG's step on the same paragraphs in the same process.

The batch: the first ``--batch`` (the preset's batch size) TACoS training paragraphs of PRVG's ``.npy``
(real sentences, word counts from the project's tokenizer, real spans), every sentence kept; random clip
features of the paper's shape (512 x 4096) and random 300-d word vectors. The model, criterion and fused
Adam come from ``hscnet.train.build_training`` with the ``tacos`` preset; fp32, ``--threads`` torch
threads (1 by default). Forward, losses, backward and the optimizer step are timed separately; medians over
``--runs`` steps after one warm-up step. Then ``torch.profiler`` over one step prints the top
operators, and forward hooks print each module's share of the forward pass. ``--eval`` also times an
evaluation forward (``model.eval()``, no gradients), the pass ``hscnet evaluate`` and ``hscnet ground``
run.

With ``--prvg DIR`` (a checkout of MCG-NJU/PRVG, outside this repository), PRVG's own model and loss
(TACoS config, no ``set_detect_anomaly``) run on the same paragraphs, steps interleaved with HSCNet's,
and the ratio HSCNet / PRVG of forward + loss + backward is printed per pair and as median:

    python bench/bench_step.py --runs 5 --prvg /tmp/prvg

``--preset activitynet`` takes the first 32 paragraphs of ActivityNet Captions' train.json with 256 x 500
clip features instead; ``--precision bf16`` (or ``auto``) times the step under autocast as ``hscnet train`` runs it.

``--efficiency K`` sets each step's GFLOP/s beside the machine's own fp32 GEMM rate at the K matrix-product
shapes that do most of the step's work (each timed alone, weighted by its share): a ratio that holds on
any machine.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import types
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench.presets import num_clips  # noqa: E402
from hscnet.data.annotations import load_paragraphs  # noqa: E402
from hscnet.data.collate import to_device  # noqa: E402
from hscnet.device import autocast, resolve_device, resolve_precision  # noqa: E402
from hscnet.model import ModelConfig, collate_paragraphs, total_loss  # noqa: E402
from hscnet.text.tokenize import tokenize_sentences  # noqa: E402
from hscnet.train import build_training  # noqa: E402
from hscnet.training_config import TrainConfig  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORD_DIM = 300  # GloVe
# Each preset's training paragraphs (../shared/data, the real releases) and their format; the other presets
# take TACoS's. Clips per video: the preset's dataset in config.yaml (bench.presets.num_clips).
SOURCES = {
    "activitynet": (SHARED_DATA / "activitynet" / "train.json", "activitynet"),
    "tacos": (SHARED_DATA / "prvg" / "tacos_train.npy", "prvg_npy"),
}


def real_paragraphs(path: Path, count: int, seed: int, preset: str = "tacos") -> list[dict]:
    """The first ``count`` paragraphs: tokenized sentences, normalised spans, random features of the shape
    of ``preset``'s dataset (``num_clips`` x the preset's ``video_dim``)."""
    _, annotation_format = SOURCES.get(preset, SOURCES["tacos"])
    clips, video_dim = num_clips(preset), ModelConfig.preset(preset).video_dim
    paragraphs = load_paragraphs(path, annotation_format, "train")[:count]
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for paragraph in paragraphs:
        lengths = [max(1, len(words)) for words in tokenize_sentences(paragraph.sentences)]
        spans = torch.tensor(paragraph.timestamps, dtype=torch.float32) / paragraph.duration
        samples.append(
            {
                "video": torch.randn(clips, video_dim, generator=generator),
                "words": torch.randn(sum(lengths), WORD_DIM, generator=generator),
                "word_sentence": torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths)),
                "spans": spans.clamp(0, 1),
                "lengths": lengths,
            }
        )
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


class HSCNetStep:
    def __init__(
        self, samples: list[dict], seed: int, preset: str = "tacos", device: str = "cpu", precision: str = "fp32"
    ):
        torch.manual_seed(seed)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        batch = collate_paragraphs([{k: v for k, v in s.items() if k != "lengths"} for s in samples])
        self.batch = to_device(batch, self.device)
        self.cfg = ModelConfig.preset(preset)
        self.model, self.criterion, self.optimizer = build_training(
            self.cfg, TrainConfig.preset(preset).lr, self.device
        )

    def clock(self) -> float:
        """Seconds now, after the device's queued work (a GPU runs asynchronously)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def step(self) -> dict[str, float]:
        self.model.train()
        t0 = self.clock()
        with autocast(self.device, self.precision):
            outputs = self.model(self.batch)
            t1 = self.clock()
            loss = total_loss(self.criterion(outputs, self.batch), self.criterion.weight_dict)
        t2 = self.clock()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = self.clock()
        self.optimizer.step()
        t4 = self.clock()
        return {"forward": t1 - t0, "loss": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}

    def evaluation_forward(self) -> float:
        self.model.eval()
        start = self.clock()
        with torch.no_grad(), autocast(self.device, self.precision):
            self.model(self.batch)
        return self.clock() - start


def easydict_module() -> types.ModuleType:
    """PRVG's config needs ``easydict``; this is the little of it that PRVG uses, if it is not installed."""

    class EasyDict(dict):
        def __init__(self, data=None):
            super().__init__()
            for key, value in (data or {}).items():
                self[key] = value

        def __setitem__(self, key, value):
            super().__setitem__(key, EasyDict(value) if isinstance(value, dict) else value)

        __setattr__ = __setitem__

        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError as error:
                raise AttributeError(key) from error

    module = types.ModuleType("easydict")
    module.EasyDict = EasyDict
    return module


class PRVGStep:
    """PRVG's model, loss and optimizer step (clip_grad_norm + Adam) as its ``main.py`` runs them."""

    def __init__(self, checkout: Path, samples: list[dict], seed: int):
        try:
            import easydict  # noqa: F401
        except ImportError:
            sys.modules["easydict"] = easydict_module()
        sys.path.insert(0, str(checkout / "lib"))
        from core.config import config, update_config
        from models import loss as prvg_loss
        from models.prvg import PRVG

        update_config(str(checkout / "experiments" / "tacos" / "tacos.yaml"))
        self.config, self.loss = config, prvg_loss
        torch.manual_seed(seed)
        self.model = PRVG()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.TRAIN.LR, betas=(0.9, 0.999))
        # PRVG's collate: a list of (512, 4096) videos, per paragraph the padded (N_S, L, 300) words,
        # their lengths and the normalised timestamps.
        self.video = [s["video"] for s in samples]
        self.words = [
            torch.nn.utils.rnn.pad_sequence(list(s["words"].split(s["lengths"])), batch_first=True) for s in samples
        ]
        self.lengths = [s["lengths"] for s in samples]
        self.timestamps = [s["spans"].double().numpy() for s in samples]

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def step(self) -> dict[str, float]:
        self.model.train()
        t0 = time.perf_counter()
        prediction = self.model(self.video, self.words, self.lengths)
        t1 = time.perf_counter()
        loss, *_ = self.loss.final_loss(
            prediction["pred_boxes"],
            self.timestamps,
            self.config.LOSS.PARAMS,
            prediction["attn_output_weights"],
        )
        t2 = time.perf_counter()
        self.optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10)
        self.optimizer.step()
        t4 = time.perf_counter()
        return {"forward": t1 - t0, "loss": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}


def module_shares(step: HSCNetStep) -> dict[str, float]:
    """Seconds of the forward pass spent in each named module (hooks; children inside parents)."""
    model = step.model
    watched = {
        "encoder.video_encoder": model.encoder.video_encoder,
        "encoder.text_encoder": model.encoder.text_encoder,
        "encoder.word_layers": model.encoder.word_layers,
        "encoder.sentence_query+video": (model.encoder.sentence_query, model.encoder.sentence_video),
        "encoder.sentence_layers": model.encoder.sentence_layers,
        "encoder.paragraph_query+video": (model.encoder.paragraph_query, model.encoder.paragraph_video),
        "encoder.paragraph_layers": model.encoder.paragraph_layers,
        "decoder": model.decoder,
    }
    seconds: dict[str, float] = defaultdict(float)
    handles = []
    for name, modules in watched.items():
        modules = modules if isinstance(modules, tuple) else (modules,)
        # A ModuleList is not called itself: time its layers.
        leaves = [m for group in modules for m in (group if isinstance(group, torch.nn.ModuleList) else [group])]
        for module in leaves:
            starts: list[float] = []

            def pre(_module, _args, starts=starts):
                starts.append(time.perf_counter())

            def post(_module, _args, _output, starts=starts, name=name):
                seconds[name] += time.perf_counter() - starts.pop()

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    step.model.train()
    start = time.perf_counter()
    step.model(step.batch)
    seconds["whole forward"] = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    return dict(seconds)


def attention_flops(query, key, value, *_args, out_shape=None, **_kwargs) -> int:
    """CPU flash attention, forward: QK^T and PV, 2 flops per multiply-add (torch counts none for it)."""
    *batch, n_q, d = query
    return 4 * math.prod(batch) * n_q * key[-2] * d


def attention_backward_flops(grad_out, query, key, value, *_args, out_shape=None, **_kwargs) -> int:
    """Its backward: QK^T again, then dV, dP, dQ and dK: five products of the forward's size."""
    *batch, n_q, d = query
    return 10 * math.prod(batch) * n_q * key[-2] * d


def step_flops(step) -> tuple[float, dict[str, float]]:
    """GFLOP of one training step (forward, losses, backward; matrix products and attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    counter = FlopCounterMode(
        display=False,
        custom_mapping={
            aten._scaled_dot_product_flash_attention_for_cpu: attention_flops,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: attention_backward_flops,
        },
    )
    with counter:
        step.step()
    by_op = {str(op): flops / 1e9 for op, flops in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops() / 1e9, by_op


def main_products(step, top: int) -> list[tuple[tuple[str, tuple, tuple], int]]:
    """The ``top`` matrix-product shapes of one step by their work: ((op, shape of A, shape of B), FLOP)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    work: dict[tuple[str, tuple, tuple], int] = defaultdict(int)

    class Products(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            packet = func.overloadpacket
            if packet in (aten.mm, aten.addmm, aten.bmm):
                a, b = args[1:3] if packet is aten.addmm else args[:2]
                op = "bmm" if packet is aten.bmm else "mm"
                work[(op, tuple(a.shape), tuple(b.shape))] += 2 * a.numel() * b.shape[-1]
            return func(*args, **(kwargs or {}))

    with Products():
        step.step()
    return sorted(work.items(), key=lambda item: -item[1])[:top]


def gemm_rate(products: list[tuple[tuple[str, tuple, tuple], int]], device: torch.device, repeats: int = 5) -> float:
    """The machine's fp32 GFLOP/s on ``products``: each shape timed alone (median of ``repeats``), weighted by
    its share of the step's work."""
    seconds = flops = 0.0
    for (op, a_shape, b_shape), work in products:
        a, b = torch.randn(a_shape, device=device), torch.randn(b_shape, device=device)
        multiply = torch.bmm if op == "bmm" else torch.mm
        multiply(a, b)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            multiply(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        seconds += median(times) * work / (2 * a.numel() * b_shape[-1])  # this share of the work at this rate
        flops += work
    return flops / seconds / 1e9


def print_efficiency(steps: dict, totals: dict[str, list[float]], top: int) -> None:
    """Each step's GFLOP/s against the machine's fp32 GEMM rate at the step's main product shapes."""
    print("\n| step | GFLOP | GFLOP/s at the median time | fp32 GEMM GFLOP/s at its main shapes | ratio |")
    print("|---|---|---|---|---|")
    for name, step in steps.items():
        total, _ = step_flops(step)
        products = main_products(step, top)
        device = getattr(step, "device", torch.device("cpu"))  # PRVG's step runs on the CPU
        achieved, machine = total / median(totals[name]), gemm_rate(products, device)
        print(f"| {name} | {total:.0f} | {achieved:.0f} | {machine:.0f} | {achieved / machine:.2f} |")
        shapes = "; ".join(f"{op} {list(a)} x {list(b)} ({work / 1e9:.0f} GFLOP)" for (op, a, b), work in products)
        print(f"\n{name}'s main products: {shapes}")


def profile_table(step: HSCNetStep, rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step.step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)

    samples = real_paragraphs(args.paragraphs, args.batch, args.seed, args.preset)
    hscnet = HSCNetStep(samples, args.seed, args.preset, args.device, args.precision)
    b, n_v, _ = hscnet.batch["video"].shape
    print(
        f"batch: {b} paragraphs, {int(hscnet.batch['sentence_mask'].sum())} sentences, "
        f"{int(hscnet.batch['word_mask'].sum())} words (N_V={n_v}, N_W={hscnet.batch['words'].shape[1]}, "
        f"N_S={hscnet.batch['sentence_mask'].shape[1]}); preset {args.preset} on {hscnet.device}, {hscnet.precision}, "
        f"{args.threads} thread(s); torch {torch.__version__}"
    )
    steps = {"HSCNet": hscnet}
    if args.prvg:
        steps["PRVG"] = PRVGStep(args.prvg, samples, args.seed)
    for name, step in steps.items():
        print(f"{name}: {step.parameters() / 1e6:.1f} M parameters")
        step.step()  # warm-up

    times: dict[str, list[dict[str, float]]] = {name: [] for name in steps}
    evaluation: list[float] = []
    for _ in range(args.runs):  # interleaved, so that both see the same load
        for name, step in steps.items():
            times[name].append(step.step())
        if args.eval:
            evaluation.append(hscnet.evaluation_forward())
    totals = print_timings(args, steps, times, evaluation)
    if args.json:
        write_medians(args, hscnet, times, totals, evaluation)
    if args.flops:
        print("\n| GFLOP of one step (forward + losses + backward) | total | by operator |\n|---|---|---|")
        for name, step in steps.items():
            total, by_op = step_flops(step)
            ops = ", ".join(f"{op.removeprefix('aten.')} {value:.0f}" for op, value in by_op.items())
            seconds = median(totals[name])
            print(f"| {name} | {total:.0f} ({total / seconds:.0f} GFLOP/s at the median time) | {ops} |")
    if args.efficiency:
        print_efficiency(steps, totals, args.efficiency)
    if not args.no_profile:
        print_profile(hscnet, args.top)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=Path, help="the preset's training paragraphs (default: SOURCES)")
    parser.add_argument("--batch", type=int, help="paragraphs in the batch (default: the preset's batch size)")
    parser.add_argument("--runs", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="tacos", help="model and training preset (gpu.sh --dry: tiny)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (PRVG runs on the CPU only)")
    parser.add_argument("--json", type=Path, help="also write the medians here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prvg", type=Path, help="a checkout of MCG-NJU/PRVG: time its step interleaved")
    parser.add_argument("--top", type=int, default=20, help="profiler rows")
    parser.add_argument("--no-profile", action="store_true", help="only the timings")
    parser.add_argument("--eval", action="store_true", help="also time the evaluation forward")
    parser.add_argument("--flops", action="store_true", help="also count each model's floating-point work")
    parser.add_argument(
        "--efficiency",
        type=int,
        metavar="K",
        help="also time the machine's fp32 GEMMs at the step's K main product shapes, and print the step's ratio",
    )
    parser.add_argument("--precision", default="fp32", help="autocast of forward and losses: fp32, bf16, auto")
    args = parser.parse_args()
    args.paragraphs = args.paragraphs or SOURCES.get(args.preset, SOURCES["tacos"])[0]
    args.batch = args.batch or TrainConfig.preset(args.preset).batch_size
    if args.prvg and args.device != "cpu":
        parser.error("--prvg compares on the CPU only")
    return args


def print_timings(
    args: argparse.Namespace, steps: dict, times: dict[str, list[dict[str, float]]], evaluation: list[float]
) -> dict[str, list[float]]:
    """The table of median step phases; returns each model's forward + loss + backward seconds per run."""
    print(f"\n| step, median of {args.runs} (min-max) | " + " | ".join(steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for phase in ("forward", "loss", "backward", "optimizer"):
        cells = []
        for name in steps:
            values = [t[phase] for t in times[name]]
            cells.append(f"{median(values):.3f} ({min(values):.3f}-{max(values):.3f})")
        print(f"| {phase} s | " + " | ".join(cells) + " |")
    totals = {name: [t["forward"] + t["loss"] + t["backward"] for t in times[name]] for name in steps}
    cells = [f"{median(v):.3f} ({min(v):.3f}-{max(v):.3f})" for v in totals.values()]
    print("| forward + loss + backward s | " + " | ".join(cells) + " |")
    if args.eval:
        print(
            f"| evaluation forward s (HSCNet) | {median(evaluation):.3f} "
            f"({min(evaluation):.3f}-{max(evaluation):.3f}) |"
        )
    if args.prvg:
        ratios = [h / p for h, p in zip(totals["HSCNet"], totals["PRVG"], strict=True)]
        print(
            f"\nHSCNet / PRVG forward + loss + backward: median {median(ratios):.2f}, "
            f"per pair {', '.join(f'{r:.2f}' for r in ratios)}; ratio of medians "
            f"{median(totals['HSCNet']) / median(totals['PRVG']):.2f}"
        )
    return totals


def write_medians(
    args: argparse.Namespace, hscnet: HSCNetStep, times: dict, totals: dict, evaluation: list[float]
) -> None:
    b = hscnet.batch["video"].shape[0]
    result = {
        "preset": args.preset,
        "device": str(hscnet.device) if hscnet.device.type == "cpu" else torch.cuda.get_device_name(hscnet.device),
        "paragraphs": b,
        "runs": args.runs,
        **{f"{phase}_s": median([t[phase] for t in times["HSCNet"]]) for phase in times["HSCNet"][0]},
        "forward_loss_backward_s": median(totals["HSCNet"]),
    }
    if args.eval:
        result["evaluation_forward_s"] = median(evaluation)
    args.json.write_text(json.dumps(result, indent=1))


def print_profile(hscnet: HSCNetStep, top: int) -> None:
    shares = module_shares(hscnet)
    whole = shares.pop("whole forward")
    print(f"\n| HSCNet module, one training forward ({whole:.2f} s) | seconds | share |\n|---|---|---|")
    for name, seconds in shares.items():
        print(f"| {name} | {seconds:.3f} | {100 * seconds / whole:.1f}% |")
    print(
        f"| rest (validation, aggregation, pooling) | {whole - sum(shares.values()):.3f} | "
        f"{100 * (whole - sum(shares.values())) / whole:.1f}% |"
    )
    print("\nHSCNet, one step (forward + losses + backward + Adam), top operators by self CPU time:")
    print(profile_table(hscnet, top))


if __name__ == "__main__":
    sys.exit(main())
