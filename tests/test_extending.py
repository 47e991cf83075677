"""docs/extending.md, proven: an extractor defined and registered in this file, and nowhere else, runs through
the workflow (clip index, extraction, merge, training, evaluation), ``Grounder`` and ``hscnet ground``.

The toy is a per-clip colour histogram: no weights, 4 frames per clip, 24-d rows. The workflow's
processes find it through ``HSCNET_EXTRACTORS=test_extending`` (with this folder on ``PYTHONPATH``), as a
user's own extractor module is found; in this process, importing the file registers it.
"""

from __future__ import annotations

import json
import logging
import os

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO_ROOT
from torch import nn
from torch.nn import functional as F

from extractors import registry
from extractors.base import NO_WEIGHTS, Backbone, ClipSampling, Extractor, FramePreprocessing, WeightsInfo
from extractors.store import read_file_attrs
from extractors.videos import annotation_video_id
from hscnet.errors import InputError

BINS = 8


class ColourHistogram(nn.Module):
    """(B, 3, T, H, W) values in 0..1 -> (B, 3 * BINS): the share of the clip's pixels in each bin, per channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bins = (x.float().clamp(0, 1 - 1e-6) * BINS).long()  # (B, 3, T, H, W)
        return F.one_hot(bins, BINS).float().mean(dim=(2, 3, 4)).flatten(1)  # (B, 3 * BINS)


class ColourHistogramExtractor(Extractor):
    name = "colour_histogram"
    feature_dim = 3 * BINS
    sampling = ClipSampling(frames_per_clip=4)  # at the video's own rate
    description = "per-clip RGB histogram (the toy of tests/test_extending.py)"

    def load(self, weights: str | None, seed: int = 0) -> Backbone:
        if weights not in (None, NO_WEIGHTS):
            raise InputError(f"--weights {weights}: {self.name} has no weights")
        preprocessing = FramePreprocessing(resize=(32, 32), crop=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        network = ColourHistogram()
        return Backbone(self.name, self.feature_dim, self.sampling, preprocessing, WeightsInfo.none(), network)


registry.register(ColourHistogramExtractor())

TARGET = "results/tiny/metrics.json"


@pytest.fixture(scope="module")
def toy_workdir(tmp_path_factory) -> tuple:
    """The tiny workflow with the toy extractor, from generated videos to metrics."""
    from test_workflow import snakemake

    workdir = tmp_path_factory.mktemp("toy")
    override = workdir / "toy.yaml"
    override.write_text(
        yaml.safe_dump({"datasets": {"tiny": {"extractor": ColourHistogramExtractor.name, "weights": NO_WEIGHTS}}})
    )
    tests = str(REPO_ROOT / "tests")
    pythonpath = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, registry.PLUGINS_ENV: "test_extending"}
    snakemake(workdir, "--cores", "2", TARGET, configfiles=[override], env=env)
    return workdir


@pytest.mark.slow
def test_the_toy_extractor_runs_through_the_workflow(toy_workdir):
    features = toy_workdir / "results/tiny/features/colour_histogram.h5"
    attrs = read_file_attrs(features)
    assert (attrs["extractor"], attrs["weights"], attrs["feature_dim"]) == ("colour_histogram", "none", 24)
    assert json.loads(attrs["recipe"])["frames_per_clip"] == 4
    with h5py.File(features, "r") as store:
        rows = store[min(store)][()]
    assert rows.shape == (8, 24)  # the tiny dataset's 8 clips
    np.testing.assert_allclose(rows.reshape(8, 3, BINS).sum(-1), 1.0, rtol=1e-5)  # a histogram per channel
    for log in ("clip_index_colour_histogram_0", "extract_features_colour_histogram_0", "train_full"):
        assert (toy_workdir / "logs/tiny" / f"{log}.log").is_file()
    metrics = json.loads((toy_workdir / TARGET).read_text())
    assert metrics["num_sentences"] > 0 and 0 <= metrics["mIoU"] <= 100
    best = torch.load(toy_workdir / "results/tiny/runs/full/best.pt", map_location="cpu", weights_only=False)
    assert best["model_config"]["video_dim"] == 24


@pytest.mark.slow
def test_grounder_and_hscnet_ground_make_the_toys_features_again(toy_workdir, tmp_path, caplog):
    from hscnet import Grounder
    from hscnet.cli import main

    checkpoint = toy_workdir / "results/tiny/runs/full/best.pt"
    glove = toy_workdir / "results/vectors/data_tiny_glove"
    paragraph = json.loads((toy_workdir / "data/tiny/annotations/test.json").read_text())[0]
    video = toy_workdir / "data/tiny/videos" / f"{paragraph['video']}.mp4"

    grounder = Grounder.from_checkpoint(checkpoint, glove, device="cpu")
    result = grounder.ground(video, paragraph["sentences"])
    assert len(result.spans) == len(paragraph["sentences"])
    assert all(0 <= start <= end <= result.duration for start, end in result.spans)
    # The same recipe as the workflow's extraction: the same rows for this video.
    with h5py.File(toy_workdir / "results/tiny/features/colour_histogram.h5", "r") as store:
        stored = store[annotation_video_id(video).removesuffix(".mp4")][()]
    np.testing.assert_allclose(grounder.video_features(video)["features"], stored, atol=1e-6)

    out = tmp_path / "grounded.json"
    argv = ["ground", "--video", str(video), "--sentences", *paragraph["sentences"], "--checkpoint", str(checkpoint)]
    argv += ["--glove", str(glove), "--device", "cpu"]
    assert main([*argv, "--output", str(out)]) == 0
    assert json.loads(out.read_text())[0]["timestamps"] == [list(span) for span in result.spans]
    with caplog.at_level(logging.ERROR):
        assert main([*argv, "--extractor", "c3d"]) == 1
        assert "--extractor c3d: the model was trained on 'colour_histogram' features" in caplog.text
        assert main([*argv, "--weights", "c3d.pickle"]) == 1
        assert "--weights c3d.pickle: colour_histogram has no weights; drop --weights" in caplog.text
