"""hscnet.report.paper: every transcribed number equals the one in the paper's text (../shared/paper)."""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT

from hscnet.ablations import ABLATION_TABLES
from hscnet.report import paper

PAPER_TEXT = REPO_ROOT.parent / "shared" / "paper" / "hscnet-cvpr2023.txt"


@pytest.fixture(scope="module")
def paper_lines() -> list[str]:
    if not PAPER_TEXT.is_file():
        pytest.skip(f"paper text not found at {PAPER_TEXT}")
    return PAPER_TEXT.read_text(encoding="utf-8").splitlines()


def _is_value(cell: str) -> bool:
    return cell.strip() == "-" or re.fullmatch(r"\d+\.\d\d", cell.strip()) is not None


def _table_rows(lines: list[str], caption: str, columns: int) -> list[list[str]]:
    """The tab-separated rows of ``columns`` cells ending in numbers, consecutive, after ``caption``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(caption))
    rows = []
    for line in lines[start + 1 :]:
        cells = line.split("\t")
        numeric = len(cells) == columns and _is_value(cells[-1]) and _is_value(cells[-2])
        if numeric:
            rows.append(cells)
        elif rows:
            break
    return rows


def _number(cell: str) -> float | None:
    return None if cell.strip() == "-" else float(cell)


def test_table1_every_method_and_value(paper_lines):
    rows = _table_rows(paper_lines, "Table 1.", 9)
    assert [cells[0] for cells in rows] == list(paper.TABLE1["tacos"])
    for name, *cells in rows:
        assert list(paper.TABLE1["activitynet"][name].values()) == [_number(c) for c in cells[:4]], name
        assert list(paper.TABLE1["tacos"][name].values()) == [_number(c) for c in cells[4:]], name


@pytest.mark.parametrize("table", [2, 4])
def test_level_and_decoder_tables(paper_lines, table):
    rows = _table_rows(paper_lines, f"Table {table}.", 4)
    # the paper writes "SL + PL"; the row names here drop the spaces
    assert [cells[0].replace(" ", "") for cells in rows] == list(ABLATION_TABLES[table]) == list(paper.ABLATIONS[table])
    for name, *cells in rows:
        assert list(paper.ABLATIONS[table][name.replace(" ", "")].values()) == [float(c) for c in cells]


def test_alignment_loss_table_by_check_marks(paper_lines):
    rows = _table_rows(paper_lines, "Table 3.", 6)
    assert len(rows) == 8
    for cells in rows:
        used = [loss for loss, mark in zip("WSP", cells[:3], strict=True) if mark == "✓"]
        name = "+".join(used) or "none"
        assert list(paper.ABLATIONS[3][name].values()) == [float(c) for c in cells[3:]], name
    assert list(paper.ABLATIONS[3]) == list(ABLATION_TABLES[3])


def test_headline_values_spot_check():
    # a few values by hand, so that a parsing slip in the tests above cannot hide a typo
    assert paper.TABLE1["tacos"]["HSCNet"]["mIoU"] == 40.61
    assert paper.TABLE1["activitynet"]["SVPTR [12]"]["R@0.7"] == 38.36
    assert paper.TABLE1["tacos"]["DRN [34]"]["R@0.1"] is None
    assert paper.ABLATIONS[3]["W+P"]["R@0.5"] == 35.85
    assert paper.ABLATIONS[2]["SL+PL+WL"] == paper.ABLATIONS[3]["W+S+P"] == paper.ABLATIONS[4]["SD+PD+WD"]
