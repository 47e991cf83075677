"""The paper's Tables 1-4 with the paper's numbers beside ours: rows, markdown and CSV.

Each model metrics file (``hscnet evaluate --checkpoint``) carries its model config; a run is placed in
every row of Tables 2-4 whose switches (levels, alignment losses, decoders) equal its own, so the full
model fills the last row of all three. Several runs of one row (seeds) are reported as mean ± sample
standard deviation. Baseline metrics (``hscnet baseline``) go into Table 1 beside the paper's methods.

Every row of every table is shown, each with three lines: here (the runs measured here, or why there
are none), paper (its reported numbers, from ``hscnet.report.paper``, labelled with the dataset they were
measured on: Table 1 the same dataset when the paper reports it, else TACoS; Tables 2-4 always TACoS)
and difference (here - paper, where both exist). The CSV has the same numbers, one metric per line.

Below the tables, the orderings: for every pair of rows of one ablation table that both have runs here
and different paper mIoU, whether our means keep the paper's order, and whether they are apart by more
than 2 standard errors of their difference (the values of two datasets cannot be compared; orderings can).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from hscnet.ablations import ABLATION_TABLES
from hscnet.errors import InputError
from hscnet.io import read_json
from hscnet.model import ModelConfig, ablation_config
from hscnet.report import paper

SWITCHES = ("levels", "align_losses", "decoders")

TABLE_TITLES = {
    1: "Table 1. Comparison with other methods and video-blind priors.",
    2: "Table 2. Hierarchical modeling: semantic levels (WL / SL / PL = word / sentence / paragraph).",
    3: (
        "Table 3. Semantic alignment losses in the encoder "
        "(W / S / P = L_enc^VW / L_enc^VS / L_enc^VP; none = no alignment loss)."
    ),
    4: "Table 4. Decoder levels (SD / PD / WD = sentence / paragraph / word decoder).",
}


@dataclass
class Row:
    """One row of a paper table: our runs' metrics (possibly none) and the paper's (possibly none)."""

    table: int
    name: str
    runs: list[dict] = field(default_factory=list)  # metrics files of the runs measured here
    paper: dict[str, float | None] | None = None
    not_here: str = "not trained here"  # said instead of numbers when there are no runs
    not_in_paper: str = "not in the paper"

    def here(self, metric: str) -> tuple[float, float | None, int] | None:
        """(mean, sample sd or None for one run, number of runs) of ``metric``, or None."""
        values = [run[metric] for run in self.runs if metric in run]
        if not values:
            return None
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values)

    def difference(self, metric: str) -> float | None:
        here, reported = self.here(metric), (self.paper or {}).get(metric)
        return None if here is None or reported is None else here[0] - reported


@dataclass
class Tables:
    dataset: str | None
    rows: list[Row]
    columns: dict[int, list[str]]  # metric columns of each table
    sources: list[dict]

    @property
    def table1_paper_dataset(self) -> str:
        return paper.table1_dataset(self.dataset)

    def paper_dataset(self, table: int) -> str:
        return self.table1_paper_dataset if table == 1 else paper.ABLATION_DATASET


def _switches(config: dict) -> tuple[frozenset, ...]:
    return tuple(frozenset(config[name]) for name in SWITCHES)


def _metric_order(metrics) -> list[str]:
    recalls = sorted({m for m in metrics if m.startswith("R@")}, key=lambda m: float(m[2:]))
    return recalls + ["mIoU"]


def runs_by_row(runs: Sequence[dict], table: int) -> list[tuple[str, list[dict]]]:
    """(row name, the runs with that row's switches) for each row of ``table``."""
    rows = []
    for row in ABLATION_TABLES[table]:
        matching = [
            run
            for run in runs
            if _switches(run["config"])
            == _switches(ablation_config(ModelConfig.from_dict(run["config"]), table, row).to_dict())
        ]
        rows.append((row, matching))
    return rows


def read_metrics(metrics_files: Sequence[str | os.PathLike]) -> list[dict]:
    runs = [read_json(path) | {"_path": str(path)} for path in metrics_files]
    for run in runs:
        if "mIoU" not in run or "iou_thresholds" not in run:
            raise InputError(f"{run['_path']}: not a metrics file (no mIoU / iou_thresholds)")
    return runs


def build(metrics_files: Sequence[str | os.PathLike], dataset: str | None = None) -> Tables:
    """Every row of Tables 1-4 from metrics files (model runs, one per seed, and baselines)."""
    runs = read_metrics(metrics_files)
    models = [run for run in runs if run.get("method") == "hscnet"]
    ours = [f"R@{float(m):g}" for run in runs for m in run["iou_thresholds"]]
    table1_dataset = paper.table1_dataset(dataset)
    full = _switches(ModelConfig().to_dict())

    rows = [Row(1, run.get("method", "?"), [run]) for run in runs if run.get("method") != "hscnet"]
    for method, reported in paper.TABLE1[table1_dataset].items():
        if method == paper.HSCNET:
            rows.append(Row(1, method, [run for run in models if _switches(run["config"]) == full], reported))
        else:
            rows.append(Row(1, method, [], reported, not_here="another paper's method, not run here"))
    for table in ABLATION_TABLES:
        rows += [
            Row(table, name, matching, paper.ABLATIONS[table][name]) for name, matching in runs_by_row(models, table)
        ]

    columns = {1: _metric_order([*ours, *paper.TABLE1_METRICS[table1_dataset]])}
    columns |= {table: _metric_order([*ours, *paper.ABLATION_METRICS]) for table in ABLATION_TABLES}
    return Tables(dataset, rows, columns, runs)


@dataclass(frozen=True)
class PairOrder:
    """Two rows of one ablation table: the one the paper ranks higher first."""

    table: int
    higher: str  # in the paper
    lower: str
    difference: float  # here: mean(higher) - mean(lower)
    two_standard_errors: float | None  # of that difference; None when a row has a single run

    @property
    def in_paper_order(self) -> bool:
        return self.difference > 0

    @property
    def apart(self) -> bool:
        return self.two_standard_errors is not None and abs(self.difference) > self.two_standard_errors


def orderings(tables: Tables, metric: str = "mIoU") -> list[PairOrder]:
    """Every pair of rows of Tables 2-4 with runs here and different paper values of ``metric``."""
    pairs = []
    for table in ABLATION_TABLES:
        rows = [r for r in tables.rows if r.table == table and r.here(metric) and (r.paper or {}).get(metric)]
        for a, b in itertools.combinations(rows, 2):
            if a.paper[metric] == b.paper[metric]:
                continue
            higher, lower = (a, b) if a.paper[metric] > b.paper[metric] else (b, a)
            (mean_h, sd_h, n_h), (mean_l, sd_l, n_l) = higher.here(metric), lower.here(metric)
            two_se = None if sd_h is None or sd_l is None else 2.0 * math.sqrt(sd_h**2 / n_h + sd_l**2 / n_l)
            pairs.append(PairOrder(table, higher.name, lower.name, mean_h - mean_l, two_se))
    return pairs


ORDERINGS_HEADER = ("Table", "pairs in the paper's order", "pairs apart by > 2 SE", "of those, in the paper's order")


def orderings_summary(pairs: Sequence[PairOrder]) -> list[list[str]]:
    """One row per table (cells of ``ORDERINGS_HEADER``): pairs in the paper's order, apart, apart in order."""
    summary = []
    for table in sorted({p.table for p in pairs}):
        mine = [p for p in pairs if p.table == table]
        apart = [p for p in mine if p.apart]
        summary.append(
            [
                str(table),
                f"{sum(p.in_paper_order for p in mine)} of {len(mine)}",
                f"{len(apart)} of {len(mine)}",
                f"{sum(p.in_paper_order for p in apart)} of {len(apart)}",
            ]
        )
    return summary


def orderings_intro(metric: str, pairs: Sequence[PairOrder]) -> str:
    """The sentence above the counts, or the one that says there is nothing to count."""
    if not pairs:
        return f"Orderings ({metric}): no pair of rows with runs here."
    return (
        f"Orderings ({metric}): pairs of rows of one table, compared as the paper ranks them (standard errors "
        "from the runs' sample sd; rows with one run are never apart)."
    )


def apart_line(pair: PairOrder) -> str:
    """``Table 3: W vs S: -8.71 (2 SE 3.54), against the paper's order``."""
    order = "the paper's order" if pair.in_paper_order else "against the paper's order"
    return (
        f"Table {pair.table}: {pair.higher} vs {pair.lower}: {pair.difference:+.2f} "
        f"(2 SE {pair.two_standard_errors:.2f}), {order}"
    )


def orderings_markdown(tables: Tables, metric: str = "mIoU") -> str:
    """Per table: row pairs in the paper's order, and apart by more than 2 standard errors; then those pairs."""
    pairs = orderings(tables, metric)
    if not pairs:
        return orderings_intro(metric, pairs)
    lines = [orderings_intro(metric, pairs), "", _markdown_table(ORDERINGS_HEADER, orderings_summary(pairs))]
    apart = [p for p in pairs if p.apart]
    if apart:
        lines += ["", "Pairs apart by more than 2 SE (paper's higher row first; difference here, 2 SE):", ""]
        lines += [f"- {apart_line(p)}" for p in apart]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def here_cell(row: Row, metric: str) -> str:
    here = row.here(metric)
    if here is None:
        return "-"
    mean, sd, _ = here
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def difference_cell(row: Row, metric: str) -> str:
    diff = row.difference(metric)
    return "-" if diff is None else f"{diff:+.2f}"


def row_lines(tables: Tables, row: Row) -> list[tuple[str, str, list[str]]]:
    """(row name, source label, cells) for the here / paper / difference lines of one row."""
    columns = tables.columns[row.table]
    seeds = len(row.runs)
    here_label = f"here ({tables.dataset or 'this run'}" + (f", mean ± sd of {seeds} runs)" if seeds > 1 else ")")
    lines = [(row.name, here_label if row.runs else f"here: {row.not_here}", [here_cell(row, m) for m in columns])]
    paper_name = paper.DATASET_NAMES[tables.paper_dataset(row.table)]
    if row.paper is None:
        lines.append(("", f"paper: {row.not_in_paper}", ["-"] * len(columns)))
    else:
        lines.append(("", f"paper ({paper_name})", [_number(row.paper.get(m)) for m in columns]))
        if row.runs:
            lines.append(("", f"difference (here - paper {paper_name})", [difference_cell(row, m) for m in columns]))
    return lines


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def paper_note(tables: Tables) -> str:
    ours = sorted({run["hit_rule"] for run in tables.sources if run.get("hit_rule")})
    known = "; ".join(f"{method}: {how}" for method, how in paper.SCORING_CONVENTIONS.items())
    note = (
        f"Paper numbers: Table 1 on {paper.DATASET_NAMES[tables.table1_paper_dataset]}, Tables 2-4 on TACoS "
        "(the paper's ablations). Percent, averaged over all test sentences. Ours count a hit as: "
        f"{' / '.join(ours) or 'not recorded'}. The paper does not say how its rows count a hit; as their "
        f"released code does it: {known}; the others' were not checked."
    )
    if tables.dataset not in paper.TABLE1:
        note += (
            f" The numbers here are on {tables.dataset or 'another dataset'}, not on the paper's data: compare the "
            "ordering of rows, not the values."
        )
    return note


def source_lines(tables: Tables) -> list[tuple[str, str]]:
    """(metrics file, what it is) of every input."""
    return [
        (
            run["_path"],
            str(run.get("method"))
            + (f" {run['ablation']}" if run.get("ablation") else "")
            + (f", checkpoint {run['checkpoint']}" if run.get("checkpoint") else ""),
        )
        for run in tables.sources
    ]


def to_markdown(tables: Tables) -> str:
    parts = [
        f"# Tables 1-4{f' on {tables.dataset}' if tables.dataset else ''}, with the paper's numbers",
        "",
        paper_note(tables),
        "",
    ]
    for table, title in TABLE_TITLES.items():
        body = [
            [name, label, *cells]
            for row in tables.rows
            if row.table == table
            for name, label, cells in row_lines(tables, row)
        ]
        parts += [title, "", _markdown_table(["Row", "Source", *tables.columns[table]], body), ""]
    parts += [orderings_markdown(tables), ""]
    sources = "\n".join(f"- `{path}`: {what}" for path, what in source_lines(tables))
    parts += ["Sources:", "", sources, ""]
    return "\n".join(parts)


CSV_FIELDS = (
    "table",
    "row",
    "metric",
    "here_mean",
    "here_sd",
    "here_runs",
    "paper",
    "paper_dataset",
    "difference",
    "note",
)


def to_csv(tables: Tables) -> str:
    """One line per (table, row, metric); empty cells where a number does not exist."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in tables.rows:
        for metric in tables.columns[row.table]:
            here = row.here(metric)
            reported = (row.paper or {}).get(metric)
            diff = row.difference(metric)
            writer.writerow(
                {
                    "table": row.table,
                    "row": row.name,
                    "metric": metric,
                    "here_mean": "" if here is None else f"{here[0]:.4f}",
                    "here_sd": "" if here is None or here[1] is None else f"{here[1]:.4f}",
                    "here_runs": len(row.runs),
                    "paper": "" if reported is None else f"{reported:.2f}",
                    "paper_dataset": tables.paper_dataset(row.table),
                    "difference": "" if diff is None else f"{diff:.4f}",
                    "note": "" if row.runs else row.not_here if row.paper is not None else row.not_in_paper,
                }
            )
    return out.getvalue()
