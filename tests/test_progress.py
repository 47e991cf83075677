"""Progress off a terminal (a Snakemake rule log): plain log lines every so often, no carriage-return frames."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading

from extractors.synthetic import write_video
from hscnet.progress import progress, progress_listener


def test_off_a_terminal_progress_is_log_lines(monkeypatch, caplog):
    stderr = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv("HSCNET_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO, logger="hscnet.progress")
    with progress(total=3, desc="c3d", unit="clip") as bar:
        for _ in range(3):
            bar.update(1)
            bar.set_postfix_str("v_x")
    lines = [r.getMessage() for r in caplog.records if r.name == "hscnet.progress"]
    assert lines[-1].startswith("c3d: 3/3 clip [")
    assert all("\r" not in line for line in lines)
    assert len(lines) == len(set(lines))  # a postfix update alone repeats no line
    assert stderr.getvalue() == ""


def test_a_listener_hears_its_own_threads_bars_only(monkeypatch):
    """hscnet serve's page shows a grounding's progress: each job's thread listens to its own bars."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    heard: dict[str, list] = {"a": [], "b": []}

    def job(name: str, steps: int) -> None:
        progress_listener.set(lambda *report: heard[name].append(report))
        with progress(total=steps, desc=name, unit="clip") as bar:
            for _ in range(steps):
                bar.update(1)

    threads = [threading.Thread(target=job, args=args) for args in (("a", 3), ("b", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with progress(total=1, desc="unheard") as bar:  # this thread set no listener
        bar.update(1)
    assert heard == {"a": [("a", 1, 3), ("a", 2, 3), ("a", 3, 3)], "b": [("b", 1, 2), ("b", 2, 2)]}


def test_a_loop_shorter_than_the_interval_logs_nothing(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("HSCNET_PROGRESS_SECONDS", raising=False)  # default: a line every 30 s
    caplog.set_level(logging.INFO, logger="hscnet.progress")
    assert sum(progress(range(100), desc="probe")) == 4950
    assert not [r for r in caplog.records if r.name == "hscnet.progress"]


def test_a_stage_log_has_no_carriage_returns(tmp_path):
    write_video(tmp_path / "a.mp4", num_frames=20)
    write_video(tmp_path / "b.mp4", num_frames=20)
    argv = [
        sys.executable,
        "-m",
        "hscnet",
        "clip-index",
        "--videos",
        f"a={tmp_path / 'a.mp4'}",
        f"b={tmp_path / 'b.mp4'}",
        "--num-clips",
        "2",
        "--output",
        str(tmp_path / "clips.json"),
    ]
    env = {**os.environ, "HSCNET_PROGRESS_SECONDS": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    assert "\r" not in done.stderr
    assert "hscnet.progress: probe: 2/2 video [" in done.stderr
    assert "clip index of 2 videos" in done.stderr
