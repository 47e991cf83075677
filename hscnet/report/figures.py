"""The report's figures (PNG, through ``hscnet.plotting``).

- ``plot_curves``: training loss and validation mIoU per epoch, one line per history.csv;
- ``plot_qualitative`` (the paper's Fig. 3): for a few paragraphs, ground truth vs the sentence-level
  decoder's spans vs the final spans of each sentence;
- ``plot_hierarchy`` (the paper's Fig. 4): for one paragraph, the paragraph decoder's span, every
  sentence's final span and, for one sentence, the word-level decoder's span of each of its words,
  over the video's timeline with frame thumbnails when the video file is at hand.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hscnet.errors import InputError, MissingInputError
from hscnet.io import read_json
from hscnet.plotting import pyplot, save_figure, thumbnails

log = logging.getLogger(__name__)

THUMBNAILS = 8  # frames along Fig. 4's timeline
GROUND_TRUTH, SENTENCE_LEVEL, FINAL, PARAGRAPH, WORD = "tab:green", "tab:orange", "tab:blue", "tab:purple", "tab:red"


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


def run_labels(history_files: Sequence[str | os.PathLike]) -> list[str]:
    """Short distinct labels: each run directory relative to what all of them share."""
    dirs = [Path(path).parent for path in history_files]
    if len(dirs) == 1:
        return [dirs[0].name]
    common = Path(os.path.commonpath(dirs))
    return [str(d.relative_to(common)).replace("runs/", "").replace("seeds/", "seed ") or d.name for d in dirs]


def plot_curves(history_files: Sequence[str | os.PathLike], out: str | os.PathLike) -> None:
    """Training loss and validation mIoU per epoch, one line per run."""
    plt = pyplot()
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(10, 3.6))
    for path, label in zip(history_files, run_labels(history_files), strict=True):
        rows = read_history(path)
        epochs = [row["epoch"] for row in rows]
        ax_loss.plot(epochs, [row["loss"] for row in rows], label=label)
        ax_miou.plot(epochs, [row["val_mIoU"] for row in rows], label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss (eq. 11)", yscale="log")
    ax_miou.set(xlabel="epoch", ylabel="validation mIoU (%)")
    ax_miou.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, out)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def model_predictions(predictions_file: str | os.PathLike, paragraphs: Sequence, level: str) -> tuple[dict, list]:
    """(predictions by id, the paragraphs whose prediction has ``level`` spans) or a ValueError naming the file."""
    predictions = {entry["id"]: entry for entry in read_json(predictions_file)}
    chosen = [p for p in paragraphs if p.id in predictions and level in predictions[p.id].get("levels", {})]
    if not chosen:
        raise InputError(f"{predictions_file}: no model predictions with {level}-level spans for these annotations")
    return predictions, chosen


def plot_qualitative(
    predictions_file: str | os.PathLike, paragraphs: Sequence, out: str | os.PathLike, num_examples: int = 3
) -> None:
    """Fig. 3 style: per sentence, ground truth vs sentence-level decoder vs final prediction."""
    predictions, chosen = model_predictions(predictions_file, paragraphs, "sentence")
    chosen = chosen[:num_examples]
    plt = pyplot()
    height = sum(0.6 + 0.45 * len(p.sentences) for p in chosen)
    fig, axes = plt.subplots(
        len(chosen),
        1,
        figsize=(9, 0.6 + height),
        squeeze=False,
        gridspec_kw={"height_ratios": [len(p.sentences) for p in chosen]},
    )
    styles = (("ground truth", GROUND_TRUTH), ("sentence-level", SENTENCE_LEVEL), ("final", FINAL))
    for ax, p in zip(axes[:, 0], chosen, strict=True):
        entry = predictions[p.id]
        sets = (p.timestamps, entry["levels"]["sentence"], entry["timestamps"])
        for i in range(len(p.sentences)):
            for k, ((name, colour), spans) in enumerate(zip(styles, sets, strict=True)):
                start, end = spans[i]
                ax.barh(
                    i + (k - 1) * 0.27,
                    end - start,
                    left=start,
                    height=0.25,
                    color=colour,
                    label=name if i == 0 else None,
                )
        ax.set_yticks(range(len(p.sentences)), [_short(s) for s in p.sentences], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, p.duration)
        ax.set_title(f"{p.id} ({p.video})", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the legend above
    save_figure(fig, out)


def chosen_sentence(entry: dict) -> int:
    """The sentence shown word by word: the one with the most words (the clearest word-level view)."""
    return max(range(len(entry["levels"]["word"])), key=lambda i: (len(entry["levels"]["word"][i]), -i))


def plot_hierarchy(
    predictions_file: str | os.PathLike,
    paragraphs: Sequence,
    tokens: dict,
    out: str | os.PathLike,
    paragraph_id: str | None = None,
    video_of: Callable[[Any], str | os.PathLike | None] | None = None,
) -> None:
    """Fig. 4 style: one paragraph's predicted span, its sentences' spans and one sentence's word spans.

    ``tokens`` maps paragraph id to its words per sentence (tokens.json, ``hscnet.text.embed.read_tokens``);
    the first paragraph with word-level predictions is shown unless ``paragraph_id`` names one. Ground
    truth is drawn as an outline over each row. ``video_of(paragraph)``: its video file, or None
    (then the timeline has no frame thumbnails).
    """
    p, entry, k, words = _hierarchy_paragraph(predictions_file, paragraphs, tokens, paragraph_id)
    video = video_of(p) if video_of else None
    if video_of and video is None:
        log.info("figure 4: no video file for %s; drawn without frame thumbnails", p.video)
    frames = thumbnails(video, lambda aspect: THUMBNAILS) if video else []

    # rows top to bottom: paragraph, sentences, the chosen sentence's words
    labels = (
        ["paragraph"] + [f"S{i + 1}: {_short(s, 34)}" for i, s in enumerate(p.sentences)] + [f"  {w}" for w in words]
    )
    plt = pyplot()
    rows = len(labels)
    thumb_height = 1.1 if len(frames) else 0.0
    fig = plt.figure(figsize=(10, 1.0 + thumb_height + 0.28 * rows), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[thumb_height or 1e-3, 0.28 * rows])
    ax = fig.add_subplot(grid[1])
    if len(frames):
        strip = fig.add_subplot(grid[0], sharex=ax)
        stretch = p.duration / len(frames)  # frame k stands for the k-th of n equal stretches
        for i, frame in enumerate(frames):
            strip.imshow(frame, extent=(i * stretch, (i + 1) * stretch, 0, 1), aspect="auto")
        strip.set(ylim=(0, 1), yticks=[])
        strip.tick_params(labelbottom=False)
        strip.set_title(f"{p.id} ({p.video})", fontsize=8)
    else:
        ax.set_title(f"{p.id} ({p.video}; video not available: no thumbnails)", fontsize=8)
    first_word = _draw_hierarchy(ax, p, entry, k)
    ax.axhline(first_word - 0.5, color="grey", linewidth=0.5)
    ax.set_yticks(range(rows), labels, fontsize=7)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xlim(0, p.duration)
    ax.set_xlabel("time (s)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize="small")
    save_figure(fig, out)


def _hierarchy_paragraph(
    predictions_file: str | os.PathLike, paragraphs: Sequence, tokens: dict, paragraph_id: str | None
) -> tuple[Any, dict, int, list[str]]:
    """The paragraph of Fig. 4, its predictions entry, its chosen sentence and that sentence's words."""
    predictions, candidates = model_predictions(predictions_file, paragraphs, "word")
    if paragraph_id is not None:
        candidates = [p for p in candidates if p.id == paragraph_id]
        if not candidates:
            raise InputError(f"{predictions_file}: no word-level predictions for paragraph {paragraph_id!r}")
    p = candidates[0]
    entry = predictions[p.id]
    if p.id not in tokens:
        raise InputError(f"tokens: paragraph {p.id!r} not found (tokens of other annotations?)")
    k = chosen_sentence(entry)
    words, word_spans = (tokens[p.id].cased or tokens[p.id].tokens)[k], entry["levels"]["word"][k]
    if len(words) != len(word_spans):
        raise InputError(
            f"{predictions_file}: paragraph {p.id!r} sentence {k}: {len(word_spans)} word spans "
            f"but the tokens file has {len(words)} words"
        )
    return p, entry, k, words


def _draw_hierarchy(ax, p, entry: dict, k: int) -> int:
    """The bars of Fig. 4: paragraph, sentences, sentence ``k``'s words; returns the first word's row."""

    def bar(row: int, span, colour: str, **kwargs) -> None:
        ax.barh(row, span[1] - span[0], left=span[0], height=0.6, color=colour, **kwargs)

    def outline(row: int, span, **kwargs) -> None:  # ground truth, drawn over the predictions
        bar(row, span, "none", edgecolor=GROUND_TRUTH, zorder=3, **kwargs)

    hull = (min(s for s, _ in p.timestamps), max(e for _, e in p.timestamps))
    outline(0, hull, linewidth=1.5, label="ground truth")
    if "paragraph" in entry["levels"]:
        bar(0, entry["levels"]["paragraph"], PARAGRAPH, alpha=0.8, label="paragraph decoder")
    for i, (truth, final) in enumerate(zip(p.timestamps, entry["timestamps"], strict=True), start=1):
        outline(i, truth, linewidth=1.5)
        bar(i, final, FINAL, alpha=0.8 if i - 1 == k else 0.45, label="sentence (final)" if i == 1 else None)
    first_word = 1 + len(p.sentences)
    for j, span in enumerate(entry["levels"]["word"][k]):
        outline(first_word + j, p.timestamps[k], linewidth=0.8, linestyle=":")
        bar(first_word + j, span, WORD, alpha=0.8, label=f"words of S{k + 1} (word decoder)" if j == 0 else None)
    return first_word
