import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, workflow.basedir)  # this checkout's packages, installed or not
from extractors.videos import resolve_videos, shard_of
from hscnet.ablations import ablation_rows
from hscnet.data.prvg import read_prvg_npy
from hscnet.io import read_json

validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
SPLITS = ["train", "val", "test"]
CONDA_ENV = "../../envs/hscnet.yaml"


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    split="train|val|test",
    shard=r"\d+",
    extractor=r"[^/]+",  # a file name part: never matches results/<ds>/features/shards/... as a merged store
    run=r"[A-Za-z0-9+\-]+",
    seed=rf"(?!{config['seed']}(?!\d))\d+",  # the config's own seed has the plain paths (run_dir)
    name=r"[A-Za-z0-9._]+",


# Rules run this checkout's `python -m hscnet` (also under --use-conda, where it is not installed).
# (braces doubled twice: once for this f-string, once for Snakemake's shell formatting)
shell.prefix(f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


def one_of(names):
    """Regex matching exactly these names or paths (never anything when there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def gpus(device):
    """GPUs a job on ``device`` takes. `gpu` is both the local limit (`--resources gpu=N`) and what
    the SLURM executor requests (`--gpus`); a CPU job asks for none."""
    return 0 if device == "cpu" else 1


def datasets_where(predicate):
    """Regex matching the names of the datasets for which ``predicate(dataset_config)`` holds."""
    return one_of(name for name, ds in DATASETS.items() if predicate(ds))


def ds(wildcards):
    return DATASETS[wildcards.dataset]


def scoring(wildcards):
    """How a dataset's test spans are scored (hscnet evaluate's options): R@m thresholds, hit rule, clamping.
    Training's validation keeps the defaults: it picks the best epoch by mIoU, which no hit rule changes."""
    d = ds(wildcards)
    thresholds = " ".join(map(str, d["iou_thresholds"]))
    return f"--iou {thresholds} --hit-rule {d.get('hit_rule', 'ge')}" + ("" if d.get("clamp", True) else " --no-clamp")


for _name, _ds in DATASETS.items():
    # normpath first: data/<name>/../../elsewhere would pass a check of the first two parts and read elsewhere
    _outside = [
        p
        for p in [*_ds["annotations"].values(), _ds["glove"], _ds["video_dir"]]
        if Path(os.path.normpath(p)).parts[:2] != ("data", _name)
    ]
    if _ds["generate"] and _outside:
        raise ValueError(
            f"config.yaml: generated dataset {_name!r} must keep its files under data/{_name}/, "
            f"not {', '.join(map(str, _outside))}"
        )
    if _ds["visual_features"] == "videos" and not _ds["weights"]:
        raise ValueError(
            f"config.yaml: dataset {_name!r} extracts {_ds['extractor']} features from videos but sets no weights: "
            "give a weights file, pretrained (torchvision models), random (a seeded random init, demo only) or none"
        )
    if _ds["visual_features"] == "precomputed" and not (_ds["precomputed_features"] and _ds["precomputed_layout"]):
        raise ValueError(
            f"config.yaml: dataset {_name!r} uses precomputed features but precomputed_features/precomputed_layout are not set"
        )


def raw_annotation(wildcards):
    return ds(wildcards)["annotations"][wildcards.split]


def dataset_videos(name):
    """{video id: video file} of every video referenced by the dataset's raw annotation files."""
    d = DATASETS[name]
    if d["generate"]:
        checkpoints.demo_data.get(dataset=name)  # the videos exist once the generator has run
    ids = set()
    for path in d["annotations"].values():
        data = read_prvg_npy(path) if d["annotation_format"] == "prvg_npy" else read_json(path)
        # paragraph lists name the video per entry; per-video formats key entries by video id
        ids.update(entry["video"] for entry in data) if isinstance(data, list) else ids.update(data)
    return {vid: str(path) for vid, path in resolve_videos(sorted(ids), d["video_dir"], d["video_extensions"]).items()}


def shard_videos(wildcards):
    """Video files of one extraction shard (stable CRC-32 assignment)."""
    n = config["extraction"]["shards"]
    return [p for vid, p in dataset_videos(wildcards.dataset).items() if shard_of(vid, n) == int(wildcards.shard)]


# The feature store of a dataset: results/<ds>/features/<extractor>.h5 from its videos, precomputed.h5 imported.
PRECOMPUTED_FEATURES = "precomputed"


def features_file(wildcards):
    d = ds(wildcards)
    name = d["extractor"] if d["visual_features"] == "videos" else PRECOMPUTED_FEATURES
    return f"results/{wildcards.dataset}/features/{name}.h5"


def train_precision(wildcards):
    """Autocast of the dataset's training and evaluation: its own train_precision, else train.precision."""
    return ds(wildcards).get("train_precision") or config["train"]["precision"]


def dataset_extractor(wildcards):
    """The dataset's extractor, which its clip and feature files must be named after."""
    extractor = ds(wildcards)["extractor"]
    if wildcards.extractor != extractor:
        raise ValueError(
            f"dataset {wildcards.dataset!r} extracts with {extractor!r} (config.yaml datasets.{wildcards.dataset}."
            f"extractor), not {wildcards.extractor!r}"
        )
    return extractor


def weights_file(wildcards):
    """The dataset's weights file as an input ([] for pretrained, random and no weights)."""
    dataset_extractor(wildcards)
    weights = ds(wildcards)["weights"]
    return [] if weights in ("pretrained", "random", "none") else [weights]


def prepared(dataset, split):
    return f"results/{dataset}/annotations/{split}.json"


def vectors_name(path):
    """Cache name of a word-vector file: its path without suffix, separators replaced."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(Path(path).with_suffix("")))


def vectors_source(wildcards):
    """The dataset config whose word-vector file converts to results/vectors/{name}."""
    for d in DATASETS.values():
        if vectors_name(d["glove"]) == wildcards.name:
            return d
    raise ValueError(f"no dataset in config.yaml has word vectors that convert to {wildcards.name!r}")


def converted_vectors(wildcards):
    return f"results/vectors/{vectors_name(ds(wildcards)['glove'])}"


# Runs: "full" is the complete model; "table<N>-<row>" a row of the paper's ablation Tables 2-4.
FULL_ROWS = {(2, "SL+PL+WL"), (3, "W+S+P"), (4, "SD+PD+WD")}  # these rows are the full model
ABLATION_RUNS = {
    f"table{table}-{row}": f"table{table}:{row}" for table, row in ablation_rows() if (table, row) not in FULL_ROWS
}


# Public inputs (config.yaml `downloads`), keyed by the path a dataset config gives them.
DOWNLOADS = config["downloads"]
FETCHABLE = {path: entry for path, entry in DOWNLOADS.items() if "url" in entry}
BY_HAND = {path: entry for path, entry in DOWNLOADS.items() if "instructions" in entry}


def fetch_checks(wildcards):
    """The --sha256/--size/--member options of one download."""
    entry = FETCHABLE[wildcards.download]
    return " ".join(f"--{key} {shlex.quote(str(entry[key]))}" for key in ("sha256", "size", "member") if key in entry)


SEEDS = config["report"]["seeds"]


def run_dir(dataset, run, seed):
    """Folder of one training run. The config's seed keeps the plain results/<ds>/runs/<run>, so the
    report reuses the run of results/<ds>/metrics.json; other seeds live under results/<ds>/seeds/<seed>/."""
    return f"results/{dataset}/runs/{run}" if seed == config["seed"] else f"results/{dataset}/seeds/{seed}/runs/{run}"


def run_metrics(dataset, run, seed):
    """Test metrics of one run (the config seed's full model: results/<ds>/metrics.json)."""
    if run == "full" and seed == config["seed"]:
        return f"results/{dataset}/metrics.json"
    return f"{run_dir(dataset, run, seed)}/metrics.json"


def report_inputs(runs, curve_runs):
    """Input function of a report rule: the metrics of ``runs`` over every seed plus the uniform prior,
    and the training histories of ``curve_runs`` over every seed."""

    def inputs(wildcards):
        return {
            "metrics": [run_metrics(wildcards.dataset, run, seed) for run in runs for seed in SEEDS]
            + [f"results/{wildcards.dataset}/baselines/uniform/metrics.json"],
            "history": [f"{run_dir(wildcards.dataset, run, seed)}/history.csv" for run in curve_runs for seed in SEEDS],
        }

    return inputs
