"""``hscnet report``: the paper's Tables 1-4 and figures from metrics, history and predictions files.

Each model metrics file (``hscnet evaluate --checkpoint``) carries its model config; a run is placed in
every row of Tables 2-4 whose switches (levels, alignment losses, decoders) equal its own, so the full
model fills the last row of all three; a table none of whose other rows was run is left out. Baseline metrics (``hscnet baseline``) go into Table 1 beside
the model, with the paper's reported HSCNet row for reference when the dataset is TACoS or
ActivityNet-Captions (labelled as such: those numbers were not produced here).

Figures (matplotlib, Agg backend, PNG):
- ``--curves``: training loss and validation mIoU per epoch, one line per history.csv;
- ``--qualitative``: for a few paragraphs, ground truth vs the sentence-level decoder's spans vs the
  final spans of each sentence (the paper's Fig. 3), from a model predictions file.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hscnet.ablations import ABLATION_TABLES
from hscnet.data.annotations import load_normalised
from hscnet.errors import InputError, MissingInputError
from hscnet.figures import pyplot, save_figure
from hscnet.io import atomic_path, read_json
from hscnet.model import ModelConfig, ablation_config

log = logging.getLogger(__name__)

SWITCHES = ("levels", "align_losses", "decoders")

# The paper's Table 1 HSCNet rows (R@m and mIoU, percent), for reference beside this run.
PAPER_HSCNET = {
    "tacos": {"R@0.1": 76.28, "R@0.3": 59.74, "R@0.5": 42.00, "mIoU": 40.61},
    "activitynet": {"R@0.3": 81.89, "R@0.5": 66.57, "R@0.7": 44.03, "mIoU": 59.71},
}

TABLE_TITLES = {
    2: "Table 2. Hierarchical modeling: semantic levels (WL / SL / PL = word / sentence / paragraph).",
    3: "Table 3. Semantic alignment losses in the encoder (W / S / P = L_enc^VW / L_enc^VS / L_enc^VP).",
    4: "Table 4. Decoder levels (SD / PD / WD = sentence / paragraph / word decoder).",
}


def _switches(config: dict) -> tuple[frozenset, ...]:
    return tuple(frozenset(config[name]) for name in SWITCHES)


def _metric_columns(runs: Sequence[dict]) -> list[str]:
    thresholds = sorted({float(m) for run in runs for m in run["iou_thresholds"]})
    return [f"R@{m:g}" for m in thresholds] + ["mIoU"]


def _cells(metrics: dict | None, columns: Sequence[str]) -> list[str]:
    return [f"{metrics[c]:.2f}" if metrics and c in metrics else "-" for c in columns]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ablation_rows(runs: Sequence[dict], table: int) -> list[tuple[str, dict | None]]:
    """(row name, metrics of the run with that row's switches or None) for each row of ``table``."""
    rows = []
    for row in ABLATION_TABLES[table]:
        matching = [
            run for run in runs
            if _switches(run["config"]) == _switches(ablation_config(ModelConfig.from_dict(run["config"]), table, row).to_dict())
        ]
        if len(matching) > 1:
            log.warning("table %d row %s: %d runs match; using %s", table, row, len(matching), matching[0].get("checkpoint"))
        rows.append((row, matching[0] if matching else None))
    return rows


def build_tables(metrics_files: Sequence[str | os.PathLike], dataset: str | None = None) -> str:
    """Markdown with Tables 1-4 from metrics files (model runs and baselines)."""
    runs = [read_json(path) | {"_path": str(path)} for path in metrics_files]
    for run in runs:
        if "mIoU" not in run or "iou_thresholds" not in run:
            raise InputError(f"{run['_path']}: not a metrics file (no mIoU / iou_thresholds)")
    models = [run for run in runs if run.get("method") == "hscnet"]
    others = [run for run in runs if run.get("method") != "hscnet"]
    columns = _metric_columns(runs)
    full = [run for run in models if _switches(run["config"]) == _switches(ModelConfig().to_dict())]

    parts = [f"# Results{f' on {dataset}' if dataset else ''}", ""]
    table1 = [[run.get("method", "?"), *_cells(run, columns), str(run["num_sentences"])] for run in others]
    table1 += [["HSCNet (this run)", *_cells(run, columns), str(run["num_sentences"])] for run in full]
    if dataset in PAPER_HSCNET:
        table1.append(["HSCNet (paper, Table 1; reported, not run here)", *_cells(PAPER_HSCNET[dataset], columns), "-"])
    parts += ["Table 1. Priors and HSCNet (percent; IoU >= m counts as a hit; averaged over all sentences).", "",
              _markdown_table(["Method", *columns, "Sentences"], table1), ""]

    for table, title in TABLE_TITLES.items():
        rows = ablation_rows(models, table)
        if all(m is None for _, m in rows[:-1]):
            continue  # nothing of this table was run but the full model (its last row)
        if table == 3:
            # The paper's Table 3 layout: a check mark per alignment loss.
            body = [[*("✓" if level in row.split("+") else "✗" for level in "WSP"), *_cells(m, columns)] for row, m in rows]
            header = ["W", "S", "P", *columns]
        else:
            body = [[row, *_cells(m, columns)] for row, m in rows]
            header = ["Row", *columns]
        parts += [title, "", _markdown_table(header, body), ""]

    sources = "\n".join(f"- `{run['_path']}`: {run.get('method')}" + (f" {run['ablation']}" if run.get("ablation") else "")
                        + (f", checkpoint `{run['checkpoint']}`" if run.get("checkpoint") else "") for run in runs)
    parts += ["Sources:", "", sources, ""]
    return "\n".join(parts)


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a history.csv as floats."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: history file not found")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    if not rows or "epoch" not in rows[0] or "loss" not in rows[0] or "val_mIoU" not in rows[0]:
        raise InputError(f"{path}: not a training history (needs epoch, loss, val_mIoU columns)")
    return rows


def plot_curves(history_files: Sequence[str | os.PathLike], out: str | os.PathLike) -> None:
    """Training loss and validation mIoU per epoch, one line per run (labelled by its directory)."""
    plt = pyplot()
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(10, 3.6))
    for path in history_files:
        rows = read_history(path)
        label = Path(path).parent.name
        epochs = [row["epoch"] for row in rows]
        ax_loss.plot(epochs, [row["loss"] for row in rows], label=label)
        ax_miou.plot(epochs, [row["val_mIoU"] for row in rows], label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss (eq. 11)", yscale="log")
    ax_miou.set(xlabel="epoch", ylabel="validation mIoU (%)")
    ax_miou.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, out)


def plot_qualitative(predictions_file: str | os.PathLike, paragraphs: Sequence, out: str | os.PathLike, num_examples: int = 3) -> None:
    """Fig. 3 style: per sentence, ground truth vs sentence-level decoder vs final prediction."""
    predictions = {entry["id"]: entry for entry in read_json(predictions_file)}
    chosen = [p for p in paragraphs if p.id in predictions and "sentence" in predictions[p.id].get("levels", {})][:num_examples]
    if not chosen:
        raise InputError(f"{predictions_file}: no model predictions with sentence-level spans for these annotations")
    plt = pyplot()
    height = sum(0.6 + 0.45 * len(p.sentences) for p in chosen)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 0.6 + height), squeeze=False,
                             gridspec_kw={"height_ratios": [len(p.sentences) for p in chosen]})
    styles = (("ground truth", "tab:green"), ("sentence-level", "tab:orange"), ("final", "tab:blue"))
    for ax, p in zip(axes[:, 0], chosen):
        entry = predictions[p.id]
        sets = (p.timestamps, entry["levels"]["sentence"], entry["timestamps"])
        for i in range(len(p.sentences)):
            for k, ((name, colour), spans) in enumerate(zip(styles, sets)):
                start, end = spans[i]
                ax.barh(i + (k - 1) * 0.27, end - start, left=start, height=0.25, color=colour,
                        label=name if i == 0 else None)
        ax.set_yticks(range(len(p.sentences)), [s if len(s) <= 40 else s[:37] + "..." for s in p.sentences], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, p.duration)
        ax.set_title(f"{p.id} ({p.video})", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the legend above
    save_figure(fig, out)


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="paper-style tables (markdown) and figures from metrics files",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics JSON files (model runs and baselines)")
    p.add_argument("--dataset", help="dataset name for the title and the paper's reference row (tacos, activitynet)")
    p.add_argument("--out", required=True, help="markdown file with the tables")
    p.add_argument("--history", nargs="+", default=[], help="history.csv files for --curves")
    p.add_argument("--curves", help="write the training-curves figure here (PNG); needs --history")
    p.add_argument("--predictions", help="model predictions JSON for --qualitative")
    p.add_argument("--annotations", help="the annotations those predictions are for (normalised paragraph JSON)")
    p.add_argument("--qualitative", help="write the Fig. 3 style figure here (PNG); needs --predictions, --annotations")
    p.add_argument("--num-examples", type=int, default=3, help="paragraphs in the qualitative figure")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.curves and not args.history:
        raise InputError("--curves needs --history files")
    if args.qualitative and not (args.predictions and args.annotations):
        raise InputError("--qualitative needs --predictions and --annotations")
    markdown = build_tables(args.metrics, args.dataset)
    if args.curves:
        plot_curves(args.history, args.curves)
        markdown += f"\n![training curves]({os.path.relpath(args.curves, Path(args.out).parent)})\n"
    if args.qualitative:
        plot_qualitative(args.predictions, load_normalised(args.annotations), args.qualitative, args.num_examples)
        markdown += f"\n![ground truth vs sentence-level vs final]({os.path.relpath(args.qualitative, Path(args.out).parent)})\n"
    with atomic_path(args.out) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    log.info("wrote %s", args.out)
    return 0
