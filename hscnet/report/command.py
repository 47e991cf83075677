"""``hscnet report``: the paper's Tables 1-4 with the paper's numbers beside ours, figures and one page.

Tables (``hscnet.report.tables``): markdown (``--out``) and ``--csv``; every row of Tables 1-4 with our runs
(mean ± sd over seeds), the paper's numbers and the difference. Figures (``hscnet.report.figures``):
``--curves`` training curves, ``--qualitative`` the paper's Fig. 3, ``--figure4`` the paper's Fig. 4.
``--html`` writes one self-contained page (``hscnet.report.page``) with the tables and every figure
written by the same command.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from hscnet.data.annotations import load_normalised
from hscnet.errors import InputError
from hscnet.io import atomic_path
from hscnet.report.tables import build, to_csv, to_markdown

log = logging.getLogger(__name__)


def _write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s", path)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="paper-style tables (markdown, CSV), figures and one HTML page",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--metrics", nargs="+", required=True, help="metrics JSON files (model runs of every seed, baselines)"
    )
    p.add_argument(
        "--dataset", help="dataset name: the title, and which paper column sits beside ours (tacos, activitynet)"
    )
    p.add_argument("--out", required=True, help="markdown file with the tables")
    p.add_argument("--csv", help="also write the tables here, one metric per line")
    p.add_argument("--html", help="also write one self-contained page with the tables and figures here")
    p.add_argument("--history", nargs="+", default=[], help="history.csv files for --curves")
    p.add_argument("--curves", help="write the training-curves figure here (PNG); needs --history")
    p.add_argument("--predictions", help="model predictions JSON for --qualitative and --figure4")
    p.add_argument("--annotations", help="the annotations those predictions are for (normalised paragraph JSON)")
    p.add_argument("--qualitative", help="write the Fig. 3 style figure here (PNG); needs --predictions, --annotations")
    p.add_argument("--num-examples", type=int, default=3, help="paragraphs in the qualitative figure")
    p.add_argument(
        "--figure4", help="write the Fig. 4 style figure here (PNG); needs --predictions, --annotations, --tokens"
    )
    p.add_argument("--tokens", help="tokens.json of the text stage (the words of --figure4)")
    p.add_argument("--paragraph", help="paragraph id shown in --figure4 (default: the first with word-level spans)")
    p.add_argument("--video-dir", help="folder of the videos, for frame thumbnails in --figure4 (skipped when absent)")
    p.add_argument("--video-extensions", nargs="*", default=[], help="extensions tried after the video id")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hscnet.report import figures as report_figures

    if args.curves and not args.history:
        raise InputError("--curves needs --history files")
    if (args.qualitative or args.figure4) and not (args.predictions and args.annotations):
        raise InputError("--qualitative and --figure4 need --predictions and --annotations")
    if args.figure4 and not args.tokens:
        raise InputError("--figure4 needs --tokens")
    tables = build(args.metrics, args.dataset)
    markdown = to_markdown(tables)
    written: list[tuple[str, str]] = []  # (caption, PNG path) for the page
    if args.curves:
        report_figures.plot_curves(args.history, args.curves)
        written.append(("Training loss and validation mIoU per epoch", args.curves))
    paragraphs = load_normalised(args.annotations) if args.annotations else []
    if args.qualitative:
        report_figures.plot_qualitative(args.predictions, paragraphs, args.qualitative, args.num_examples)
        written.append(("Fig. 3: ground truth vs the sentence-level decoder vs the final spans", args.qualitative))
    if args.figure4:
        from extractors.videos import resolve_video_path
        from hscnet.text.embed import read_tokens

        def video_of(p):
            return resolve_video_path(args.video_dir, p.video, args.video_extensions) if args.video_dir else None

        report_figures.plot_hierarchy(
            args.predictions, paragraphs, read_tokens(args.tokens), args.figure4, args.paragraph, video_of
        )
        written.append(
            (
                "Fig. 4: the paragraph decoder's span, every sentence's final span and the word decoder's "
                "spans of one sentence (ground truth outlined)",
                args.figure4,
            )
        )
    out_dir = Path(args.out).parent
    markdown += "".join(f"\n![{caption}]({os.path.relpath(path, out_dir)})\n" for caption, path in written)
    if args.csv:
        _write_text(args.csv, to_csv(tables))
    if args.html:
        from hscnet.report.page import render_page

        _write_text(args.html, render_page(tables, written))
    _write_text(args.out, markdown)
    return 0
