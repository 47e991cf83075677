"""hscnet report: Tables 1-4 from metrics files, training curves and the Fig. 3 style figure."""

from __future__ import annotations

import json

import pytest

from hscnet.cli import main
from hscnet.model import ModelConfig, ablation_config
from hscnet.report import ablation_rows, build_tables


def model_metrics(path, cfg: ModelConfig, miou: float, ablation: str | None = None):
    metrics = {"method": "hscnet", "ablation": ablation, "config": cfg.to_dict(), "checkpoint": f"{path.stem}.pt",
               "iou_thresholds": [0.3, 0.5], "R@0.3": miou + 10, "R@0.5": miou - 5, "mIoU": miou,
               "num_paragraphs": 3, "num_sentences": 9}
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
    uniform.write_text(json.dumps({"method": "baseline:uniform", "iou_thresholds": [0.3, 0.5], "R@0.3": 20.0,
                                   "R@0.5": 10.0, "mIoU": 18.5, "num_paragraphs": 3, "num_sentences": 9}))
    return [*files, uniform]


def test_runs_fill_every_row_with_their_switches(metrics_files):
    runs = [json.loads(p.read_text()) for p in metrics_files[:4]]
    rows2 = dict(ablation_rows(runs, 2))
    assert rows2["SL"]["mIoU"] == 30.0 and rows2["SL+PL+WL"]["mIoU"] == 40.0 and rows2["SL+PL"] is None
    rows3 = dict(ablation_rows(runs, 3))
    assert rows3["none"]["mIoU"] == 20.0 and rows3["W+S+P"]["mIoU"] == 40.0 and rows3["W"] is None
    rows4 = dict(ablation_rows(runs, 4))
    assert rows4["SD+WD"]["mIoU"] == 35.0 and rows4["SD+PD+WD"]["mIoU"] == 40.0


def test_tables_markdown(metrics_files):
    md = build_tables(metrics_files, "tacos")
    assert "| baseline:uniform | 20.00 | 10.00 | 18.50 | 9 |" in md
    assert "| HSCNet (this run) | 50.00 | 35.00 | 40.00 | 9 |" in md
    assert "HSCNet (paper, Table 1; reported, not run here) | 59.74 | 42.00 | 40.61 | - |" in md
    assert "| SL | 40.00 | 25.00 | 30.00 |" in md and "| SL+PL | - | - | - |" in md
    assert "| ✗ | ✗ | ✗ | 30.00 | 15.00 | 20.00 |" in md  # Table 3, no alignment loss
    assert "| SD+WD | 45.00 | 30.00 | 35.00 |" in md


def test_not_a_metrics_file(tmp_path):
    bad = tmp_path / "history.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"history\.json: not a metrics file"):
        build_tables([bad])


def test_report_cli_with_figures(metrics_files, tmp_path):
    history = tmp_path / "run" / "history.csv"
    history.parent.mkdir()
    history.write_text("epoch,loss,val_mIoU,seconds\n1,5.0,10.0,1\n2,4.0,20.0,1\n")
    annotations = tmp_path / "test.json"
    paragraphs = [{"id": "t0", "video": "v.mp4", "duration": 20.0, "sentences": ["a b.", "c d."],
                   "timestamps": [[0.0, 8.0], [9.0, 20.0]]}]
    annotations.write_text(json.dumps(paragraphs))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([{**paragraphs[0], "timestamps": [[1.0, 7.0], [8.0, 19.0]],
                                        "levels": {"sentence": [[0.0, 10.0], [10.0, 20.0]], "paragraph": [0.0, 20.0]}}]))
    out = tmp_path / "report" / "tables.md"
    argv = ["report", "--metrics", *map(str, metrics_files), "--dataset", "demo", "--out", str(out),
            "--history", str(history), "--curves", str(tmp_path / "report" / "curves.png"),
            "--predictions", str(predictions), "--annotations", str(annotations),
            "--qualitative", str(tmp_path / "report" / "qualitative.png")]
    assert main(argv) == 0
    md = out.read_text()
    assert "![training curves](curves.png)" in md and "(qualitative.png)" in md
    for png in ("curves.png", "qualitative.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_cli_needs_inputs_for_figures(metrics_files, tmp_path, caplog):
    assert main(["report", "--metrics", str(metrics_files[0]), "--out", str(tmp_path / "t.md"),
                 "--curves", str(tmp_path / "c.png")]) == 1
    assert "--curves needs --history" in caplog.text
    assert not (tmp_path / "t.md").exists()


def test_tables_without_their_ablation_runs_are_left_out(metrics_files):
    md = build_tables([metrics_files[0], metrics_files[1]])  # full model and Table 2's SL only
    assert "Table 2." in md and "Table 3." not in md and "Table 4." not in md
