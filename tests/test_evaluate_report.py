"""hscnet report: Tables 1-4 with the paper's numbers, the CSV and page, training curves and Figs. 3-4."""

from __future__ import annotations

import csv
import io
import json

import matplotlib.image
import pytest
from browser import check_page_in_browser

from hscnet.cli import main
from hscnet.data.annotations import load_normalised
from hscnet.metrics import convention
from hscnet.model import ModelConfig, ablation_config
from hscnet.report.figures import plot_hierarchy
from hscnet.report.page import render_page
from hscnet.report.tables import build, orderings, runs_by_row, to_csv, to_markdown
from hscnet.text.embed import read_tokens


def model_metrics(path, cfg: ModelConfig, miou: float, ablation: str | None = None):
    metrics = {
        "method": "hscnet",
        "ablation": ablation,
        "config": cfg.to_dict(),
        "checkpoint": f"{path.stem}.pt",
        "iou_thresholds": [0.3, 0.5],
        "R@0.3": miou + 10,
        "R@0.5": miou - 5,
        "mIoU": miou,
        "num_paragraphs": 3,
        "num_sentences": 9,
    }
    path.write_text(json.dumps(metrics))
    return path


@pytest.fixture
def metrics_files(tmp_path):
    base = ModelConfig.preset("tiny")
    files = [
        model_metrics(tmp_path / "full.json", base, 40.0),
        model_metrics(tmp_path / "sl.json", ablation_config(base, 2, "SL"), 30.0, "table2:SL"),
        model_metrics(tmp_path / "sd_wd.json", ablation_config(base, 4, "SD+WD"), 35.0, "table4:SD+WD"),
        model_metrics(tmp_path / "no_align.json", ablation_config(base, 3, "none"), 20.0, "table3:none"),
    ]
    uniform = tmp_path / "uniform.json"
    uniform.write_text(
        json.dumps(
            {
                "method": "baseline:uniform",
                "iou_thresholds": [0.3, 0.5],
                "R@0.3": 20.0,
                "R@0.5": 10.0,
                "mIoU": 18.5,
                "num_paragraphs": 3,
                "num_sentences": 9,
                "hit_rule": convention("ge", clamp=True),
            }
        )
    )
    return [*files, uniform]


def test_runs_fill_every_row_with_their_switches(metrics_files):
    runs = [json.loads(p.read_text()) for p in metrics_files[:4]]
    rows2 = {name: [run["mIoU"] for run in matching] for name, matching in runs_by_row(runs, 2)}
    assert rows2 == {"SL": [30.0], "SL+PL": [], "SL+WL": [], "SL+PL+WL": [40.0]}
    rows3 = {name: [run["mIoU"] for run in matching] for name, matching in runs_by_row(runs, 3)}
    assert rows3["none"] == [20.0] and rows3["W+S+P"] == [40.0] and rows3["W"] == []
    rows4 = {name: [run["mIoU"] for run in matching] for name, matching in runs_by_row(runs, 4)}
    assert rows4["SD+WD"] == [35.0] and rows4["SD+PD+WD"] == [40.0]


def test_tables_markdown_put_the_paper_beside_every_row(metrics_files):
    md = to_markdown(build(metrics_files, "tacos"))
    # Table 1: our prior (not in the paper), every other method of the paper, HSCNet with the difference
    assert "| baseline:uniform | here (tacos) | - | 20.00 | 10.00 | 18.50 |" in md
    assert "|  | paper: not in the paper | - | - | - | - |" in md
    assert "| DRN [34] | here: another paper's method, not run here | - | - | - | - |" in md
    # which hit rule each side used, where known: ours from the metrics files, PRVG's from its released code
    assert f"Ours count a hit as: {convention('ge', clamp=True)}." in md
    assert "PRVG [26]: IoU > m, spans not clamped" in md
    assert "2D-TAN [39]: IoU > m on seconds, annotated spans clamped" in md and "MMN [29]: IoU >= m" in md
    assert "|  | paper (TACoS) | - | - | 23.17 | - |" in md
    assert "| HSCNet | here (tacos) | - | 50.00 | 35.00 | 40.00 |" in md
    assert "|  | paper (TACoS) | 76.28 | 59.74 | 42.00 | 40.61 |" in md
    assert "|  | difference (here - paper TACoS) | - | -9.74 | -7.00 | -0.61 |" in md
    # Tables 2-4: every row, with TACoS numbers; a row without a run says so
    assert "| SL | here (tacos) | 40.00 | 25.00 | 30.00 |" in md
    assert (
        "|  | paper (TACoS) | 49.27 | 30.14 | 32.66 |" in md
        and "|  | difference (here - paper TACoS) | -9.27 | -5.14 | -2.66 |" in md
    )
    assert (
        "| SL+PL | here: not trained here | - | - | - |" in md and "|  | paper (TACoS) | 53.73 | 32.67 | 35.18 |" in md
    )
    assert (
        "| none | here (tacos) | 30.00 | 15.00 | 20.00 |" in md and "|  | paper (TACoS) | 29.98 | 12.81 | 22.38 |" in md
    )
    assert md.count("here: not trained here") == 16 - 4 - 2  # 16 ablation rows; full fills 3, SL/none/SD+WD one each


def test_paper_column_follows_the_dataset(metrics_files):
    anet = to_markdown(build(metrics_files, "activitynet"))
    assert "Table 1 on ActivityNet-Captions, Tables 2-4 on TACoS" in anet
    assert "|  | paper (ActivityNet-Captions) | 81.89 | 66.57 | 44.03 | 59.71 |" in anet
    demo = to_markdown(build(metrics_files, "demo"))
    assert "not on the paper's data: compare the ordering of rows, not the values" in demo
    assert "|  | paper (TACoS) | 76.28 | 59.74 | 42.00 | 40.61 |" in demo


def test_seeds_give_mean_and_sd(tmp_path, metrics_files):
    base = ModelConfig.preset("tiny")
    other_seed = model_metrics(tmp_path / "full_seed1.json", base, 44.0)
    tables = build([*metrics_files, other_seed], "tacos")
    md = to_markdown(tables)
    # full model: mIoU 40 and 44 -> mean 42, sample sd 2.83; it fills the last row of Tables 2-4 too
    assert "| HSCNet | here (tacos, mean ± sd of 2 runs) | - | 52.00 ± 2.83 | 37.00 ± 2.83 | 42.00 ± 2.83 |" in md
    assert md.count("| 52.00 ± 2.83 | 37.00 ± 2.83 | 42.00 ± 2.83 |") == 4
    assert "|  | difference (here - paper TACoS) | - | -7.74 | -5.00 | +1.39 |" in md
    lines = list(csv.DictReader(io.StringIO(to_csv(tables))))
    assert len(lines) == len({(line["table"], line["row"], line["metric"]) for line in lines})
    full_miou = next(
        line for line in lines if line["table"] == "2" and line["row"] == "SL+PL+WL" and line["metric"] == "mIoU"
    )
    assert full_miou == {
        "table": "2",
        "row": "SL+PL+WL",
        "metric": "mIoU",
        "here_mean": "42.0000",
        "here_sd": "2.8284",
        "here_runs": "2",
        "paper": "40.61",
        "paper_dataset": "tacos",
        "difference": "1.3900",
        "note": "",
    }
    missing = next(line for line in lines if line["row"] == "SL+PL" and line["metric"] == "R@0.3")
    assert missing["here_mean"] == "" and missing["paper"] == "53.73" and missing["note"] == "not trained here"


def test_orderings_count_pairs_in_the_papers_order_and_apart_by_two_standard_errors(tmp_path):
    base = ModelConfig.preset("tiny")
    runs = [model_metrics(tmp_path / f"full{i}.json", base, miou) for i, miou in enumerate((40.0, 42.0, 44.0))]
    for i, miou in enumerate((30.0, 31.0, 32.0)):  # SL: paper 32.66 < full 40.61, here 11 lower, 2 SE 2.58
        runs.append(model_metrics(tmp_path / f"sl{i}.json", ablation_config(base, 2, "SL"), miou, "table2:SL"))
    for i, miou in enumerate((45.0, 46.0, 47.0)):  # SD+WD: paper 39.10 < full, here 4 higher: against, apart
        runs.append(model_metrics(tmp_path / f"sdwd{i}.json", ablation_config(base, 4, "SD+WD"), miou, "table4:SD+WD"))
    # one run of "none" (paper 22.38): in the paper's order, but a single run is never apart
    runs.append(model_metrics(tmp_path / "none.json", ablation_config(base, 3, "none"), 20.0, "table3:none"))
    tables = build(runs, "demo")
    pairs = {(p.table, p.higher, p.lower): p for p in orderings(tables)}
    assert set(pairs) == {(2, "SL+PL+WL", "SL"), (3, "W+S+P", "none"), (4, "SD+PD+WD", "SD+WD")}
    sl = pairs[2, "SL+PL+WL", "SL"]
    assert sl.difference == pytest.approx(11.0) and sl.two_standard_errors == pytest.approx(2 * (5 / 3) ** 0.5)
    assert sl.in_paper_order and sl.apart
    assert pairs[3, "W+S+P", "none"].in_paper_order and not pairs[3, "W+S+P", "none"].apart
    assert not pairs[4, "SD+PD+WD", "SD+WD"].in_paper_order and pairs[4, "SD+PD+WD", "SD+WD"].apart
    md = to_markdown(tables)
    assert "| 2 | 1 of 1 | 1 of 1 | 1 of 1 |" in md
    assert "| 3 | 1 of 1 | 0 of 1 | 0 of 0 |" in md
    assert "| 4 | 0 of 1 | 1 of 1 | 0 of 1 |" in md
    assert "- Table 4: SD+PD+WD vs SD+WD: -4.00 (2 SE 2.58), against the paper's order" in md
    page = render_page(tables, [])  # the HTML report carries the same counts and pairs
    assert "<tr><td>4</td><td>0 of 1</td><td>1 of 1</td><td>0 of 1</td></tr>" in page
    assert "<li>Table 4: SD+PD+WD vs SD+WD: -4.00 (2 SE 2.58), against the paper&#x27;s order</li>" in page
    assert "Table 3: W+S+P vs none" not in page  # not apart: counted, not listed


def test_not_a_metrics_file(tmp_path):
    bad = tmp_path / "history.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"history\.json: not a metrics file"):
        to_markdown(build([bad]))


@pytest.fixture
def figure_inputs(tmp_path):
    """A history, annotations, model predictions with every level and the tokens of one paragraph."""
    history = tmp_path / "run" / "history.csv"
    history.parent.mkdir()
    history.write_text("epoch,loss,val_mIoU,seconds\n1,5.0,10.0,1\n2,4.0,20.0,1\n")
    annotations = tmp_path / "test.json"
    paragraphs = [
        {
            "id": "t0",
            "video": "v",
            "duration": 20.0,
            "sentences": ["A cat sits.", "It jumps."],
            "timestamps": [[0.0, 8.0], [9.0, 20.0]],
        }
    ]
    annotations.write_text(json.dumps(paragraphs))
    predictions = tmp_path / "predictions.json"
    levels = {
        "sentence": [[0.0, 10.0], [10.0, 20.0]],
        "paragraph": [0.0, 20.0],
        "word": [[[0.0, 3.0], [2.0, 6.0], [5.0, 8.0], [7.0, 8.0]], [[9.0, 12.0], [11.0, 19.0], [18.0, 20.0]]],
    }
    predictions.write_text(json.dumps([{**paragraphs[0], "timestamps": [[1.0, 7.0], [8.0, 19.0]], "levels": levels}]))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"t0": {"video": "v", "tokens": [["a", "cat", "sits", "."], ["it", "jumps", "."]]}}))
    return {"history": history, "annotations": annotations, "predictions": predictions, "tokens": tokens}


def test_report_cli_writes_tables_csv_page_and_figures(metrics_files, figure_inputs, tmp_path):
    out = tmp_path / "report"
    argv = [
        "report",
        "--metrics",
        *map(str, metrics_files),
        "--dataset",
        "demo",
        "--out",
        str(out / "tables.md"),
        "--csv",
        str(out / "tables.csv"),
        "--html",
        str(out / "index.html"),
        "--history",
        str(figure_inputs["history"]),
        "--curves",
        str(out / "curves.png"),
        "--predictions",
        str(figure_inputs["predictions"]),
        "--annotations",
        str(figure_inputs["annotations"]),
        "--qualitative",
        str(out / "figure3.png"),
        "--figure4",
        str(out / "figure4.png"),
        "--tokens",
        str(figure_inputs["tokens"]),
    ]
    assert main(argv) == 0
    md = (out / "tables.md").read_text()
    assert "(curves.png)" in md and "(figure3.png)" in md and "(figure4.png)" in md
    for png in ("curves.png", "figure3.png", "figure4.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "tables.csv").read_text().startswith("table,row,metric,here_mean,here_sd,here_runs,paper,")
    page = (out / "index.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 3 and "http" not in page  # nothing to fetch
    assert "<td>SD+WD</td><td>here (demo)</td>" in page and "<td>53.56</td>" in page
    screenshot = check_page_in_browser(out / "index.html", expected_images=3)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_browser_check_catches_a_broken_image(metrics_files, tmp_path):
    page = tmp_path / "index.html"
    page.write_text(render_page(build(metrics_files), []).replace("</body>", '<img src="missing.png" alt="x"></body>'))
    with pytest.raises(AssertionError, match="images not all loaded"):
        check_page_in_browser(page, expected_images=1)


def test_figure4_word_spans_must_match_the_tokens(figure_inputs, tmp_path):
    tokens = read_tokens(figure_inputs["tokens"])
    tokens["t0"].tokens[0].append("extra")  # the chosen sentence (most words) now has 5 tokens, 4 spans
    paragraphs = load_normalised(figure_inputs["annotations"])
    with pytest.raises(
        ValueError, match=r"predictions\.json: paragraph 't0' sentence 0: 4 word spans but the tokens file has 5"
    ):
        plot_hierarchy(figure_inputs["predictions"], paragraphs, tokens, tmp_path / "f4.png")
    assert not (tmp_path / "f4.png").exists()


def test_figure4_thumbnails_from_the_video(figure_inputs, real_video, tmp_path):
    paragraphs = load_normalised(figure_inputs["annotations"])
    tokens = read_tokens(figure_inputs["tokens"])
    plain, with_video = tmp_path / "plain.png", tmp_path / "video.png"
    plot_hierarchy(figure_inputs["predictions"], paragraphs, tokens, plain, video_of=lambda p: None)
    plot_hierarchy(figure_inputs["predictions"], paragraphs, tokens, with_video, video_of=lambda p: real_video)
    # the same figure plus a strip of frame thumbnails, 1.1 inch at 120 dpi
    (height, width, _), (height_v, width_v, _) = (
        matplotlib.image.imread(plain).shape,
        matplotlib.image.imread(with_video).shape,
    )
    assert width_v == width and height_v - height == pytest.approx(132, abs=2)


def test_report_cli_needs_inputs_for_figures(metrics_files, tmp_path, caplog):
    assert (
        main(
            [
                "report",
                "--metrics",
                str(metrics_files[0]),
                "--out",
                str(tmp_path / "t.md"),
                "--curves",
                str(tmp_path / "c.png"),
            ]
        )
        == 1
    )
    assert "--curves needs --history" in caplog.text
    assert not (tmp_path / "t.md").exists()
