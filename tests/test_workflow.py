"""The Snakemake workflow: lint, the plans for the real datasets, and the whole DAG on `tiny`."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from browser import check_page_in_browser, png_size
from conftest import REPO_ROOT, find_process

from extractors.store import read_file_attrs
from hscnet.checkpoint import read_checkpoint
from hscnet.cli import main
from hscnet.data.prvg import read_prvg_npy
from hscnet.device import resolve_precision
from hscnet.fingerprint import sha256_file

TINY_TARGET = "results/tiny/metrics.json"
TINY_CONFIG = REPO_ROOT / "tests" / "config" / "tiny.yaml"  # the tiny dataset is the tests', not the user's
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO_ROOT / "Snakefile")]


def snakemake_command(workdir: Path, *args: str, configfiles: list[Path] = ()) -> list[str]:
    # --configfile, --forcerun and --rerun-triggers take several values: targets go before, config files last
    return [
        *SNAKEMAKE,
        "-d",
        str(workdir),
        *args,
        "--configfile",
        str(REPO_ROOT / "config.yaml"),
        str(TINY_CONFIG),
        *map(str, configfiles),
    ]


def snakemake(
    workdir: Path, *args: str, configfiles: list[Path] = (), check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, *args, configfiles=configfiles)
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    table = dry_run_output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, result.stdout


def _glove_file(path: Path) -> Path:
    path.write_text("the " + " ".join(["0.1"] * 300) + "\n")
    return path


def _real_data_override(tmp_path: Path, shared_data: Path) -> Path:
    """Config override: real annotations from ../shared/data, small fake precomputed features."""
    tacos_features = tmp_path / "tall_c3d_features.hdf5"
    with h5py.File(tacos_features, "w") as f:
        f["s13-d21.avi"] = np.zeros((10, 4096), np.float32)
    anet_features = tmp_path / "sub_activitynet_v1-3.c3d.hdf5"
    with h5py.File(anet_features, "w") as f:
        f.create_group("v_QOlSCBRmfWY")["c3d_features"] = np.zeros((10, 500), np.float32)
    glove = _glove_file(tmp_path / "glove.840B.300d.txt")
    override = {
        "datasets": {
            "tacos": {
                "annotations": {s: str(shared_data / "prvg" / f"tacos_{s}.npy") for s in ("train", "val", "test")},
                "precomputed_features": str(tacos_features),
                "glove": str(glove),
            },
            "activitynet": {
                "annotations": {
                    "train": str(shared_data / "activitynet" / "train.json"),
                    "val": str(shared_data / "activitynet" / "val_1.json"),
                    "test": str(shared_data / "activitynet" / "val_2.json"),
                },
                "precomputed_features": str(anet_features),
                "glove": str(glove),
            },
        }
    }
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(override))
    return path


def fresh_copy(tmp_path: Path) -> Path:
    """The checkout's files (tracked and not ignored), as a fresh clone has them, without outputs."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    clone = tmp_path / "clone"
    for name in filter(None, files):
        if (REPO_ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, clone / name)
    return clone


def test_the_quick_start_plans_without_errors(tmp_path):
    """The newcomer's first plan: no input-function errors (an unconstrained extractor wildcard once matched
    results/demo/features/shards/... as a merged store and printed dozens of tracebacks before the run)."""
    plan = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/demo/metrics.json", "--cores", "2", "-n"],
        cwd=fresh_copy(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert planned_jobs(plan.stdout)["demo_data"] == 1
    assert "Exception" not in plan.stdout + plan.stderr and "Error" not in plan.stdout + plan.stderr


def test_a_fresh_clone_plans_the_fetch_jobs_first(tmp_path):
    """With nothing downloaded, the TACoS target starts with the public inputs (config.yaml `downloads`)."""
    clone = fresh_copy(tmp_path)
    command = [sys.executable, "-m", "snakemake", "results/tacos/metrics.json"]
    dry_run = subprocess.run([*command, "-n"], cwd=clone, capture_output=True, text=True, check=True).stdout
    jobs = planned_jobs(dry_run)
    # three PRVG .npy files and GloVe are downloaded; TACoS's C3D features have no direct address
    assert jobs["fetch"] == 4 and jobs["place_by_hand"] == 1
    fetched = re.findall(r"rule fetch:\n(?:    .*\n)*?    output: (\S+)", dry_run)
    assert sorted(fetched) == [
        "data/glove/glove.840B.300d.txt",
        "data/tacos/prvg/test.npy",
        "data/tacos/prvg/train.npy",
        "data/tacos/prvg/val.npy",
    ]
    # the plan already shows where to get the file that must be placed by hand
    assert re.search(r"data/tacos/tall_c3d_features.hdf5 cannot be downloaded automatically: .*https://", dry_run)
    # in the rule graph the downloads come first: nothing runs before them, and what reads them waits
    graph = subprocess.run(
        [*command, "--rulegraph", "dot"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', graph, flags=re.M))
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)$", graph, flags=re.M)}
    assert not [edge for edge in edges if edge[1] in ("fetch", "place_by_hand")]
    assert {
        ("fetch", "prepare_annotations"),
        ("fetch", "convert_vectors"),
        ("place_by_hand", "import_features"),
    } <= edges


@pytest.mark.parametrize("dataset", ["tacos", "activitynet"])
def test_real_dataset_plans_the_right_jobs(tmp_path, shared_data, dataset):
    override = _real_data_override(tmp_path, shared_data)
    result = snakemake(tmp_path, "-n", f"results/{dataset}/metrics.json", configfiles=[override])
    jobs = planned_jobs(result.stdout)
    assert jobs == {
        "prepare_annotations": 3,
        "import_features": 1,
        "tokenize": 1,
        "convert_vectors": 1,
        "embed_words": 1,
        "train": 1,
        "evaluate_full": 1,
        "total": 9,
    }
    # the preset of the dataset reaches the training command
    printed = snakemake(tmp_path, "-n", "-p", f"results/{dataset}/metrics.json", configfiles=[override])
    assert f"--preset {dataset}" in printed.stdout


def test_paper_tables_plan_every_ablation_row(tmp_path, shared_data):
    override = _real_data_override(tmp_path, shared_data)
    jobs = planned_jobs(snakemake(tmp_path, "-n", "results/tacos/report/tables.md", configfiles=[override]).stdout)
    # Tables 2-4 have 16 rows; the full model is one row of each, so 13 ablation runs + the full model,
    # each with the 3 seeds of report.seeds: the config's seed 0 in runs/, seeds 1 and 2 under seeds/
    assert jobs["train"] == 14 and jobs["train_seed"] == 28
    assert jobs["evaluate"] == 13 and jobs["evaluate_full"] == 1 and jobs["evaluate_seed"] == 28
    assert jobs["baseline"] == 1 and jobs["paper_tables"] == 1
    printed = snakemake(tmp_path, "-n", "-p", "results/tacos/report/tables.md", configfiles=[override]).stdout
    assert "--seed 2 " in printed and "--out results/tacos/seeds/2/runs/table3-W+P --resume" in printed

    one_seed = tmp_path / "one_seed.yaml"
    one_seed.write_text(yaml.safe_dump({"report": {"seeds": [0]}}))
    jobs = planned_jobs(
        snakemake(tmp_path, "-n", "results/tacos/report/tables.md", configfiles=[override, one_seed]).stdout
    )
    assert jobs["train"] == 14 and "train_seed" not in jobs


def test_training_runs_under_torchrun_with_gpus_per_run(tmp_path, shared_data):
    override = _real_data_override(tmp_path, shared_data)
    ddp = tmp_path / "ddp.yaml"
    ddp.write_text(yaml.safe_dump({"train": {"gpus_per_run": 2, "device": "cuda"}}))
    printed = snakemake(
        tmp_path, "-n", "-p", "--cores", "4", "results/tacos/runs/full/best.pt", configfiles=[override, ddp]
    ).stdout
    train_job = printed[printed.index("rule train:") :]
    assert "python -m torch.distributed.run --nnodes 1 --nproc-per-node 2 --rdzv-backend c10d" in train_job
    assert "-m hscnet train --features" in train_job
    assert re.search(r"resources: .*\bgpu=2\b", train_job) and "--threads 2 " in train_job


def test_missing_videos_are_named(tmp_path, shared_data):
    override = _real_data_override(tmp_path, shared_data)
    extra = tmp_path / "videos.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "datasets": {
                    "tacos": {"visual_features": "videos", "weights": "random", "video_dir": str(tmp_path / "none")}
                }
            }
        )
    )
    result = snakemake(tmp_path, "-n", "results/tacos/features/c3d.h5", configfiles=[override, extra], check=False)
    assert result.returncode != 0
    assert "videos not found" in result.stdout + result.stderr


def test_videos_without_weights_or_of_another_extractor_are_refused(tmp_path, shared_data):
    override = _real_data_override(tmp_path, shared_data)
    extra = tmp_path / "videos.yaml"
    extra.write_text(yaml.safe_dump({"datasets": {"tacos": {"visual_features": "videos", "extractor": "r3d_18"}}}))
    result = snakemake(tmp_path, "-n", "results/tacos/metrics.json", configfiles=[override, extra], check=False)
    assert result.returncode != 0
    assert "dataset 'tacos' extracts r3d_18 features from videos but sets no weights" in result.stdout + result.stderr
    result = snakemake(tmp_path, "-n", "results/tiny/features/r3d_18.h5", check=False)
    assert result.returncode != 0
    assert "dataset 'tiny' extracts with 'c3d' (config.yaml datasets.tiny.extractor), not 'r3d_18'" in (
        result.stdout + result.stderr
    )


def test_a_generated_datasets_path_may_not_climb_out_of_its_folder(tmp_path):
    escaping = "data/tiny/../../../elsewhere/train.json"  # starts with data/tiny, resolves outside the project
    override = tmp_path / "escape.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"annotations": {"train": escaping}}}}))
    result = snakemake(tmp_path, "-n", TINY_TARGET, configfiles=[override], check=False)
    assert result.returncode != 0
    assert f"generated dataset 'tiny' must keep its files under data/tiny/, not {escaping}" in (
        result.stdout + result.stderr
    )


def test_more_clips_than_the_model_and_store_take_is_refused_by_the_schema(tmp_path):
    override = tmp_path / "clips.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"num_clips": 5000}}}))
    result = snakemake(tmp_path, "-n", TINY_TARGET, configfiles=[override], check=False)
    assert result.returncode != 0 and "5000 is greater than the maximum of 4000" in result.stdout + result.stderr


def test_a_datasets_train_precision_reaches_training_and_evaluation_and_a_bad_one_is_refused(tmp_path):
    override = tmp_path / "precision.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"train_precision": "fp16"}}}))
    printed = snakemake(tmp_path, "-n", "-p", TINY_TARGET, configfiles=[override]).stdout
    commands = [line for line in printed.splitlines() if "-m hscnet train " in line or "-m hscnet evaluate " in line]
    assert len(commands) == 2 and all("--precision fp16" in line for line in commands), commands
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"train_precision": "half"}}}))
    result = snakemake(tmp_path, "-n", TINY_TARGET, configfiles=[override], check=False)
    assert result.returncode != 0 and "'half' is not one of" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory) -> Path:
    """The whole tiny DAG, from generated raw videos to metrics, run once; tests change copies of it."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2", TINY_TARGET)
    return workdir


def copy_of(workdir: Path, tmp_path: Path) -> Path:
    """A copy with the same mtimes and Snakemake metadata: Snakemake sees the same finished workflow."""
    copy = tmp_path / "work"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


@pytest.mark.slow
def test_tiny_dataset_end_to_end(tiny_workdir, tmp_path):
    """The whole DAG from generated raw videos to metrics, then the caching behaviour."""
    tmp_path = copy_of(tiny_workdir, tmp_path)
    metrics = json.loads((tmp_path / "results/tiny/metrics.json").read_text())
    assert metrics["num_sentences"] > 0 and 0 <= metrics["mIoU"] <= 100
    for m in (0.1, 0.3, 0.5, 0.7):
        assert 0 <= metrics[f"R@{m}"] <= 100
    predictions = json.loads((tmp_path / "results/tiny/predictions.json").read_text())
    assert len(predictions) == metrics["num_paragraphs"]
    for rule_log in ("demo_data", "extract_features_c3d_0", "train_full", "evaluate_full"):
        assert (tmp_path / "logs/tiny" / f"{rule_log}.log").is_file()
    # The store says how C3D ran: config.yaml's precision "auto" resolved for this CPU, channels_last.
    features = read_file_attrs(tmp_path / "results/tiny/features/c3d.h5")
    assert (features["extractor"], features["weights"], features["feature_dim"]) == ("c3d", "random-seed-0", 4096)
    assert (features["precision"], features["layout"]) == (
        resolve_precision("auto", torch.device("cpu")),
        "channels_last_3d",
    )

    # a second run has nothing to do
    again = snakemake(tmp_path, "-n", TINY_TARGET)
    assert "Nothing to be done" in again.stdout + again.stderr

    _check_tiny_report(tmp_path, metrics)

    # Touching one video reruns only its shard's video jobs and what depends on the features.
    # Snakemake >= 9.18 skips a touched input under 1 MB whose checksum is unchanged (real videos
    # are larger): touch with checksums off, then change the content with the defaults.
    annotations = json.loads((tmp_path / "data/tiny/annotations/train.json").read_text())
    video = annotations[0]["video"]
    videos = sorted((tmp_path / "data/tiny/videos").glob("*.mp4"))
    video_file = next(v for v in videos if v.stem == video)
    expected = {"clip_index": 1, "extract_features": 1, "merge_features": 1, "train": 1, "evaluate_full": 1, "total": 5}
    os.utime(video_file)
    touched = snakemake(tmp_path, TINY_TARGET, "-n", "--max-checksum-file-size", "0")
    assert planned_jobs(touched.stdout) == expected
    other = next(v for v in videos if v != video_file)
    video_file.write_bytes(other.read_bytes())
    changed = snakemake(tmp_path, "-n", TINY_TARGET)
    assert planned_jobs(changed.stdout) == expected


def test_the_python_api_grounds_like_the_command_and_extracts_a_video_once(tiny_workdir, tmp_path, monkeypatch, caplog):
    """``from hscnet import Grounder`` on the workflow's own checkpoint and a test video of the tiny demo."""
    from extractors.extract import FeatureExtractor
    from hscnet import Grounder

    checkpoint = tiny_workdir / TINY_RUN / "best.pt"
    glove = tiny_workdir / "results/vectors/data_tiny_glove"
    paragraphs = json.loads((tiny_workdir / "data/tiny/annotations/test.json").read_text())
    first = paragraphs[0]
    video = tiny_workdir / "data/tiny/videos" / f"{first['video']}.mp4"
    second = next(p for p in paragraphs[1:] if p["video"] == first["video"])  # another paragraph, same video
    extractions = []
    real_extract = FeatureExtractor.extract
    monkeypatch.setattr(
        FeatureExtractor, "extract", lambda self, *a, **k: extractions.append(a) or real_extract(self, *a, **k)
    )

    grounder = Grounder.from_checkpoint(checkpoint, glove=glove, device="cpu", cache_dir=tmp_path / "cache")
    result = grounder.ground(video, first["sentences"])
    again = grounder.ground(video, second["sentences"])
    assert len(extractions) == 1, "the second paragraph on the same video extracted its features again"
    assert len(result.spans) == len(first["sentences"]) and len(again.spans) == len(second["sentences"])
    assert all(0 <= start <= end <= result.duration for start, end in result.spans + again.spans)

    # a new process (a new Grounder) with the same cache directory reuses the features from disk
    fresh = Grounder.from_checkpoint(checkpoint, glove=glove, device="cpu", cache_dir=tmp_path / "cache")
    assert fresh.ground(video, second["sentences"]).spans == again.spans and len(extractions) == 1

    # a damaged cache entry (cut short, or of another shape) is made again and replaced, with a warning
    (stored,) = (tmp_path / "cache").glob("*.npz")
    for damage in (lambda: stored.write_bytes(stored.read_bytes()[:100]), lambda: np.savez(stored, features=[[1.0]])):
        damage()
        with caplog.at_level(logging.WARNING, logger="hscnet.ground.feature_cache"):
            caplog.clear()
            redone = Grounder.from_checkpoint(checkpoint, glove=glove, device="cpu", cache_dir=tmp_path / "cache")
            assert redone.ground(video, second["sentences"]).spans == again.spans
        assert f"{stored}: " in caplog.text and "extracting again" in caplog.text
    reread = Grounder.from_checkpoint(checkpoint, glove=glove, device="cpu", cache_dir=tmp_path / "cache")
    assert reread.ground(video, second["sentences"]).spans == again.spans  # the replaced entry reads back
    assert len(extractions) == 3

    # hscnet ground is a wrapper of the same object: the same spans for the same paragraph
    out = tmp_path / "grounded.json"
    argv = ["ground", "--video", str(video), "--sentences", *first["sentences"], "--checkpoint", str(checkpoint)]
    assert main([*argv, "--glove", str(glove), "--device", "cpu", "--output", str(out)]) == 0
    (entry,) = json.loads(out.read_text())
    assert entry["timestamps"] == [list(span) for span in result.spans]


# The full real annotation files of each dataset and the counts its test split must score
# (../shared/data/README.md; ActivityNet val_2 chunked at 8 sentences, as PRVG's test file).
REHEARSAL = {
    "tacos": {
        "annotations": {s: ("prvg", f"tacos_{s}.npy") for s in ("train", "val", "test")},  # config.yaml's prvg_npy
        "test_counts": (673, 3989),
    },
    "activitynet": {
        "annotations": {
            "train": ("activitynet", "train.json"),
            "val": ("activitynet", "val_1.json"),
            "test": ("activitynet", "val_2.json"),
        },
        "test_counts": (4929, 17031),
    },
    # Features someone extracted once (I3D-like, 1024-d), one .npy per video: config.yaml's commented example.
    "tacos_i3d": {
        "annotations": {s: ("prvg", f"tacos_{s}.npy") for s in ("train", "val", "test")},
        "test_counts": (673, 3989),
        "like": "tacos",
        "layout": "generic",
    },
}
REHEARSAL_CLIPS = 8  # the tiny preset's N^V; keeps ActivityNet's feature store at ~16 kB per video
REHEARSAL_WORD_DIM = 50


def _stand_in_features(path: Path, videos: list[str], layout: str, rng: np.random.Generator) -> Path:
    """Seeded noise in a precomputed layout, a few rows per video (TALL f[video]; ActivityNet PCA-500 group;
    generic: a directory of 1024-d .npy files, named by video id or by the id without its extension)."""
    if layout == "generic":
        path.mkdir()
        for k, video in enumerate(videos):
            name = video if k % 2 else Path(video).stem
            np.save(path / f"{name}.npy", rng.standard_normal((int(rng.integers(5, 40)), 1024), dtype=np.float32))
        return path
    with h5py.File(path, "w") as f:
        for video in videos:
            if layout == "tacos":
                f[video] = rng.standard_normal((int(rng.integers(8, 24)), 4096), dtype=np.float32)
            else:
                f.create_group(video)["c3d_features"] = rng.standard_normal(
                    (int(rng.integers(2, 6)), 500), dtype=np.float32
                )
    return path


def _rehearsal_override(tmp_path: Path, shared_data: Path) -> Path:
    rng = np.random.default_rng(0)
    datasets = {}
    for dataset, spec in REHEARSAL.items():
        annotations = {split: str(shared_data.joinpath(*parts)) for split, parts in spec["annotations"].items()}
        videos = set()
        for path in annotations.values():
            data = read_prvg_npy(path) if path.endswith(".npy") else json.loads(Path(path).read_text())
            videos.update(entry["video"] for entry in data) if isinstance(data, list) else videos.update(data)
        layout = spec.get("layout", dataset)
        features = tmp_path / (f"{dataset}_features" if layout == "generic" else f"{dataset}_c3d.hdf5")
        like = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())["datasets"].get(spec.get("like"), {})
        datasets[dataset] = {
            **like,
            "precomputed_layout": layout,
            "annotations": annotations,
            "precomputed_features": str(_stand_in_features(features, sorted(videos), layout, rng)),
            "glove": str(tmp_path / "glove.txt"),  # written once the real vocabulary is known
            "num_clips": REHEARSAL_CLIPS,
            "model_preset": "tiny",
        }
    path = tmp_path / "rehearsal.yaml"
    # batch 32 (the activitynet preset's): 322 instead of 2574 steps for ActivityNet's 10293 training paragraphs
    path.write_text(yaml.safe_dump({"datasets": datasets, "train": {"epochs": 1, "batch_size": 32, "threads": 1}}))
    return path


@pytest.mark.slow
def test_real_layout_rehearsal(tmp_path, shared_data):
    """Both real datasets end to end, for real, on the FULL real annotation files: stand-in features of
    the public precomputed layouts (and of generic 1024-d per-video arrays on TACoS) and GloVe vectors of
    the real vocabulary, the tiny model, 1 epoch."""
    override = _rehearsal_override(tmp_path, shared_data)
    # The vocabulary is what the project's own tokeniser makes of the real sentences.
    snakemake(tmp_path, "--cores", "2", *(f"results/{d}/text/tokens.json" for d in REHEARSAL), configfiles=[override])
    words = set()
    for dataset in REHEARSAL:
        for entry in json.loads((tmp_path / f"results/{dataset}/text/tokens.json").read_text()).values():
            words.update(w for sentence in entry["tokens"] + entry["cased"] for w in sentence)
    rng = np.random.default_rng(1)
    with open(tmp_path / "glove.txt", "w") as f:
        f.writelines(
            f"{word} {' '.join(f'{x:.4f}' for x in rng.standard_normal(REHEARSAL_WORD_DIM))}\n"
            for word in sorted(words)
        )

    snakemake(tmp_path, "--cores", "2", *(f"results/{d}/metrics.json" for d in REHEARSAL), configfiles=[override])

    for dataset, spec in REHEARSAL.items():
        stages = [f"prepare_annotations_{s}" for s in ("train", "val", "test")]
        stages += ["import_features", "tokenize", "embed_words", "train_full", "evaluate_full"]
        for stage in stages:
            assert (tmp_path / f"logs/{dataset}/{stage}.log").is_file(), f"{dataset}: stage {stage} did not run"
            assert (tmp_path / f"benchmarks/{dataset}/{stage}.tsv").is_file()
        metrics = json.loads((tmp_path / f"results/{dataset}/metrics.json").read_text())
        configured = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())["datasets"]
        thresholds = configured[spec.get("like", dataset)]["iou_thresholds"]
        recalls = {f"R@{m:g}" for m in thresholds}
        assert set(metrics) == recalls | {
            "mIoU",
            "iou_thresholds",
            "hit_rule",
            "convention",
            "num_paragraphs",
            "num_sentences",
            "method",
            "ablation",
            "checkpoint",
            "epoch",
            "config",
            "annotations",
            "predictions",
            "precision",
        }
        assert metrics["iou_thresholds"] == thresholds
        assert all(0 <= metrics[key] <= 100 for key in (*recalls, "mIoU"))
        assert (metrics["num_paragraphs"], metrics["num_sentences"]) == spec["test_counts"]
        assert metrics["method"] == "hscnet" and metrics["epoch"] == 1
        predictions = json.loads((tmp_path / f"results/{dataset}/predictions.json").read_text())
        assert len(predictions) == spec["test_counts"][0]
    # The generic store keeps the arrays' own dimension, and the model was built for it.
    with h5py.File(tmp_path / "results/tacos_i3d/features/precomputed.h5", "r") as store:
        assert (store.attrs["extractor"], int(store.attrs["feature_dim"])) == ("generic-precomputed", 1024)
    assert read_checkpoint(tmp_path / "results/tacos_i3d/runs/full/best.pt")["model_config"]["video_dim"] == 1024
    assert list((tmp_path / "logs/vectors").glob("convert_*.log")), "the word vectors were never converted"


TINY_RUN = "results/tiny/runs/full"
TRAIN_LOG = "logs/tiny/train_full.log"


def outcome(workdir: Path) -> tuple[bytes, dict]:
    """What a rerun must reproduce: the predictions file's bytes and the best checkpoint's metrics."""
    best = read_checkpoint(workdir / TINY_RUN / "best.pt")
    return (workdir / "results/tiny/predictions.json").read_bytes(), best["val_metrics"]


@pytest.mark.slow
def test_forcerun_trains_from_scratch_with_the_first_runs_results(tiny_workdir, tmp_path):
    work = copy_of(tiny_workdir, tmp_path)
    snakemake(work, "--cores", "2", TINY_TARGET, "--forcerun", "train")
    log = (work / TRAIN_LOG).read_text()
    assert "starting from scratch" in log and "resuming" not in log and "epoch 3/3 loss" in log
    assert outcome(work) == outcome(tiny_workdir)  # byte-identical predictions.json
    assert not (work / TINY_RUN / "in_progress.pt").exists()


def test_a_datasets_scoring_convention_rescores_without_retraining(tiny_workdir, tmp_path):
    """hit_rule and clamp in a dataset's config reach its test metrics; the run is not trained again."""
    work = copy_of(tiny_workdir, tmp_path)
    before = json.loads((work / TINY_TARGET).read_text())
    override = tmp_path / "scoring.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"hit_rule": "gt", "clamp": False}}}))
    plan = planned_jobs(snakemake(work, "-n", TINY_TARGET, configfiles=[override]).stdout)
    assert plan == {"evaluate_full": 1, "total": 1}, plan
    snakemake(work, "--cores", "2", TINY_TARGET, configfiles=[override])
    after = json.loads((work / TINY_TARGET).read_text())
    assert before["convention"] == {"hit_rule": "ge", "clamp": True}
    assert after["convention"] == {"hit_rule": "gt", "clamp": False} and after["epoch"] == before["epoch"]


@pytest.mark.slow
def test_changed_features_retrain_from_scratch(tiny_workdir, tmp_path):
    """New feature bytes: Snakemake reruns training, which must not continue the old run's weights."""
    work = copy_of(tiny_workdir, tmp_path)
    features = work / "results/tiny/features/c3d.h5"
    with h5py.File(features, "r+") as f:
        first = f[min(f)]
        first[0] = -first[0]
    jobs = planned_jobs(snakemake(work, "-n", TINY_TARGET).stdout)
    assert jobs == {"train": 1, "evaluate_full": 1, "total": 2}
    snakemake(work, "--cores", "2", TINY_TARGET)
    log = (work / TRAIN_LOG).read_text()
    assert "starting from scratch" in log and "resuming" not in log and "epoch 3/3 loss" in log
    best = read_checkpoint(work / TINY_RUN / "best.pt")
    assert best["identity"]["data"]["features"]["sha256"] == sha256_file(features)
    assert [int(row.split(",")[0]) for row in (work / TINY_RUN / "history.csv").read_text().splitlines()[1:]] == [
        1,
        2,
        3,
    ]


@pytest.mark.slow
def test_sigkill_mid_training_then_the_same_command_finishes_like_an_uninterrupted_run(tiny_workdir, tmp_path):
    work = copy_of(tiny_workdir, tmp_path)
    # as if the first run had stopped before training: train and evaluate run again, on the same inputs
    shutil.rmtree(work / TINY_RUN)
    for name in ("metrics.json", "predictions.json"):
        (work / "results/tiny" / name).unlink()
    command = snakemake_command(work, "--cores", "2", TINY_TARGET)
    history = work / TINY_RUN / "history.csv"
    with subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as first:
        deadline = time.monotonic() + 600
        while not (history.is_file() and len(history.read_text().splitlines()) >= 2):  # epoch 1 saved
            assert first.poll() is None and time.monotonic() < deadline, "training did not get through epoch 1"
            time.sleep(0.01)
        time.sleep(0.2)  # into epoch 2 (an epoch takes about 1 s)
        pid = find_process([b"-m", b"hscnet", b"train"], cwd=work)  # the job Snakemake started
        assert pid is not None, "training ended before it could be killed"
        os.kill(pid, signal.SIGKILL)
        assert first.wait(timeout=300) != 0
    run = work / TINY_RUN
    assert (
        not (run / "last.pt").exists() and not (run / "best.pt").exists()
    )  # Snakemake removed the failed job's outputs
    killed_after = read_checkpoint(run / "in_progress.pt")["epoch"]
    assert killed_after in (1, 2)

    snakemake(work, "--cores", "2", TINY_TARGET)  # the same command again
    assert f"resuming after epoch {killed_after}" in (work / TRAIN_LOG).read_text()
    assert outcome(work) == outcome(tiny_workdir)
    assert not (run / "in_progress.pt").exists()


def _check_tiny_report(tmp_path: Path, full_seed0: dict) -> None:
    """Tables 1-4 with every ablation row over two seeds, the page in a browser, and Fig. 4."""
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text(yaml.safe_dump({"report": {"seeds": [0, 1]}}))
    snakemake(tmp_path, "--cores", "2", "results/tiny/report/tables.md", configfiles=[seeds])
    report = tmp_path / "results/tiny/report"
    markdown = (report / "tables.md").read_text()
    assert "not trained here" not in markdown  # every ablation row ran
    assert markdown.count("mean ± sd of 2 runs") == 1 + 16  # Table 1's HSCNet and the 16 rows of Tables 2-4
    lines = list(csv.DictReader((report / "tables.csv").open()))
    assert {line["here_runs"] for line in lines if line["table"] != "1"} == {"2"}
    full_seed1 = json.loads((tmp_path / "results/tiny/seeds/1/runs/full/metrics.json").read_text())
    hscnet_miou = next(
        line for line in lines if line["table"] == "1" and line["row"] == "HSCNet" and line["metric"] == "mIoU"
    )
    assert float(hscnet_miou["here_mean"]) == pytest.approx((full_seed0["mIoU"] + full_seed1["mIoU"]) / 2, abs=1e-4)
    assert float(hscnet_miou["paper"]) == 40.61 and hscnet_miou["paper_dataset"] == "tacos"
    check_page_in_browser(report / "index.html", expected_images=3)  # curves, Fig. 3, Fig. 4
    width, height = png_size(report / "figure4.png")
    assert width > 1000 and height > 400
    assert "without frame thumbnails" not in (tmp_path / "logs/tiny/paper_tables.log").read_text()
