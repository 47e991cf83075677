"""``hscnet ground --plot``: the video's timeline with frame thumbnails and one bar per sentence (the paper's Fig. 4).

Top: thumbnails of frames spread evenly over the video, each drawn over the stretch of time it
stands for. Below, on the same time axis: the paragraph's span (models with a paragraph decoder)
and one coloured bar per sentence, labelled with its start and end in seconds. Under the axis: the
sentences, numbered and coloured like their bars.
"""

from __future__ import annotations

import os
import textwrap

from hscnet.plotting import pyplot, save_figure, thumbnails

WIDTH_IN = 10.0
LEFT_IN, RIGHT_IN = 0.8, 0.3  # margins: the bars' labels on the left
THUMB_HEIGHT_IN = 1.2
ROW_IN = 0.36  # per bar
TEXT_LINE_IN = 0.2


def plot_grounding(result, out: str | os.PathLike) -> None:
    """Draw a ``hscnet.ground.command.Grounding`` to ``out`` (PNG)."""
    plt = pyplot()
    axis_width = WIDTH_IN - LEFT_IN - RIGHT_IN
    frames = thumbnails(result.video, lambda aspect: min(10, max(3, round(axis_width / (THUMB_HEIGHT_IN * aspect)))))

    rows = [("paragraph", result.paragraph_span)] if result.paragraph_span is not None else []
    rows += [(f"S{k + 1}", span) for k, span in enumerate(result.spans)]
    wrapped = [textwrap.wrap(f"S{k + 1}  {sentence}", 120) for k, sentence in enumerate(result.sentences)]
    text_in = TEXT_LINE_IN * sum(len(lines) for lines in wrapped) + 0.15
    bars_in = ROW_IN * len(rows) + 0.2
    title_in, axis_label_in = 0.4, 0.5
    height = title_in + THUMB_HEIGHT_IN + bars_in + axis_label_in + text_in

    fig = plt.figure(figsize=(WIDTH_IN, height))

    def axes(top_in: float, height_in: float):
        return fig.add_axes(
            (LEFT_IN / WIDTH_IN, 1 - (top_in + height_in) / height, axis_width / WIDTH_IN, height_in / height)
        )

    duration = result.duration
    ax_thumbs = axes(title_in, THUMB_HEIGHT_IN)
    stretch = duration / len(frames)
    for k, frame in enumerate(frames):
        ax_thumbs.imshow(frame, extent=(k * stretch, (k + 1) * stretch, 0, 1), aspect="auto")
    ax_thumbs.set(xlim=(0, duration), ylim=(0, 1), xticks=[], yticks=[])
    ax_thumbs.set_title(
        f"{os.path.basename(result.video)}: {duration:.2f} s, {len(result.sentences)} sentences", fontsize=10
    )

    ax_bars = axes(title_in + THUMB_HEIGHT_IN, bars_in)
    colours = plt.get_cmap("tab10")
    first_sentence_row = len(rows) - len(result.spans)
    for row, (_label, (start, end)) in enumerate(rows):
        colour = "0.55" if row < first_sentence_row else colours((row - first_sentence_row) % 10)
        ax_bars.barh(row, end - start, left=start, height=0.7, color=colour)
        label_room, pad = 0.12 * duration, 0.01 * duration  # a label "12.0-13.9 s" takes about 12% of the axis
        if end - start > label_room:  # inside the bar
            x, align, colour = start + pad, "left", "white"
        elif end + label_room < duration:  # right of it
            x, align, colour = end + pad, "left", "black"
        else:  # left of it
            x, align, colour = start - pad, "right", "black"
        ax_bars.text(x, row, f"{start:.1f}-{end:.1f} s", va="center", ha=align, fontsize=8, color=colour)
    ax_bars.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax_bars.set(xlim=(0, duration), ylim=(len(rows) - 0.5, -0.5))
    ax_bars.set_xlabel("time (s)", fontsize=9)
    ax_bars.tick_params(axis="x", labelsize=8)
    ax_bars.grid(axis="x", alpha=0.3)

    y = 1 - (title_in + THUMB_HEIGHT_IN + bars_in + axis_label_in) / height
    for k, lines in enumerate(wrapped):
        for line in lines:
            fig.text(LEFT_IN / WIDTH_IN, y, line, fontsize=8.5, va="top", color=colours(k % 10))
            y -= TEXT_LINE_IN / height
    save_figure(fig, out)
