"""One self-contained HTML page of a report: the tables and the figures, readable offline.

Figures are inlined as PNG data URIs and the page uses no external script, style sheet or font, so
the single file can be mailed or opened from disk. A small inline script records on ``<html>``
whether the page loaded cleanly (``data-images``: loaded/total, ``data-errors``: script or resource
errors), which the browser test reads back.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

from hscnet.report.tables import (
    ORDERINGS_HEADER,
    TABLE_TITLES,
    Tables,
    apart_line,
    orderings,
    orderings_intro,
    orderings_summary,
    paper_note,
    row_lines,
    source_lines,
)

STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tr.first td { border-top: 2px solid #888; }
tr.paper td { color: #555; }
tr.difference td { font-style: italic; color: #555; }
h2 { font-size: 1.15em; margin-top: 1.5em; }
img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
"""

# Runs before the body is parsed, so that it also sees images that fail to load.
LOAD_CHECK = """
document.documentElement.dataset.errors = "0";
window.addEventListener("error", function () {
  document.documentElement.dataset.errors = String(Number(document.documentElement.dataset.errors) + 1);
}, true);
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.documentElement.dataset.images = loaded + "/" + images.length;
});
"""


def _data_uri(path: str | os.PathLike) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _table_html(tables: Tables, table: int) -> str:
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["Row", "Source", *tables.columns[table]])
    body = []
    for row in (r for r in tables.rows if r.table == table):
        for i, (name, label, cells) in enumerate(row_lines(tables, row)):
            kind = "first" if i == 0 else label.split(" ", 1)[0].rstrip(":")
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in [name, label, *cells])
            body.append(f'<tr class="{kind}">{tds}</tr>')
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _orderings_html(tables: Tables, metric: str = "mIoU") -> str:
    """The paper's row orderings as in tables.md: a count per table, then the pairs apart by 2 SE."""
    pairs = orderings(tables, metric)
    if not pairs:
        return f"<p>{html.escape(orderings_intro(metric, pairs))}</p>"
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ORDERINGS_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in orderings_summary(pairs)
    )
    items = "".join(f"<li>{html.escape(apart_line(p))}</li>" for p in pairs if p.apart)
    return (
        f'<p>{html.escape(orderings_intro(metric, pairs))}</p><table class="orderings"><thead><tr>{header}</tr></thead>'
        f"<tbody>{body}</tbody></table>" + (f'<ul class="apart">{items}</ul>' if items else "")
    )


def render_page(tables: Tables, figures: Sequence[tuple[str, str | os.PathLike]]) -> str:
    """The page: note, Tables 1-4, the paper's orderings, then each (caption, PNG file) of ``figures`` inlined."""
    title = f"HSCNet report{f': {tables.dataset}' if tables.dataset else ''}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{LOAD_CHECK}</script>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(paper_note(tables))}</p>",
    ]
    for table, caption in TABLE_TITLES.items():
        parts += [f"<h2>{html.escape(caption)}</h2>", _table_html(tables, table)]
    parts += ["<h2>Which of the paper's orderings hold</h2>", _orderings_html(tables)]
    if figures:
        parts.append("<h2>Figures</h2>")
    for caption, path in figures:
        parts.append(
            f'<figure><img src="{_data_uri(path)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} ({html.escape(Path(path).name)})</figcaption></figure>"
        )
    sources = "".join(
        f"<li><code>{html.escape(path)}</code>: {html.escape(what)}</li>" for path, what in source_lines(tables)
    )
    parts += ["<h2>Sources</h2>", f"<ul>{sources}</ul>", "</body>", "</html>", ""]
    return "\n".join(parts)
