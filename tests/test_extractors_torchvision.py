"""torchvision's video models as extractors (extractors.torchvision_video), offline: their recipes come from the
weights' transforms, a saved state_dict and torch's hub cache load through the same code path, and the features are
those of the layer before the classifier."""

from __future__ import annotations

import json
import warnings
from urllib.error import URLError

import numpy as np
import pytest
import torch
import yaml

from extractors import registry
from extractors.base import NO_WEIGHTS, PRETRAINED, RANDOM_WEIGHTS
from extractors.recipe import feature_recipe
from extractors.store import read_file_attrs
from extractors.torchvision_video import MODELS
from hscnet.fingerprint import sha256_file

REQUIRED = ("r3d_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t")


def random_backbone(name: str, seed: int = 0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return registry.get(name).load(RANDOM_WEIGHTS, seed)


def official_network(name: str, seed: int):
    """torchvision's own model of ``name`` with the seeded init the extractor uses, classifier included."""
    model = MODELS[name]
    torch.manual_seed(seed)
    return model.builder(weights=None).eval()


@pytest.mark.parametrize(
    ("name", "dim", "frames", "fps", "crop", "resize"),
    [
        ("r3d_18", 512, 16, 15.0, 112, (128, 171)),
        ("r2plus1d_18", 512, 16, 15.0, 112, (128, 171)),
        ("s3d", 1024, 128, 15.0, 224, (256, 256)),
        ("mvit_v2_s", 768, 16, 7.5, 224, (256, 256)),
        ("swin3d_t", 768, 32, 15.0, 224, (256, 256)),
    ],
)
def test_the_recipe_is_read_from_the_weights(name, dim, frames, fps, crop, resize):
    extractor = registry.get(name)
    transforms = MODELS[name].weights.transforms()
    assert (extractor.feature_dim, extractor.sampling.frames_per_clip, extractor.sampling.fps) == (dim, frames, fps)
    preprocessing = random_backbone(name).preprocessing
    assert (preprocessing.crop, preprocessing.resize) == (crop, resize if len(transforms.resize_size) == 2 else 256)
    assert (preprocessing.mean, preprocessing.std) == (tuple(transforms.mean), tuple(transforms.std))


@pytest.mark.slow
@pytest.mark.parametrize("name", REQUIRED)
def test_rows_are_what_the_classifier_would_read(name):
    """The row of a clip is the classifier's input: the classifier applied to it gives the model's logits."""
    backbone = random_backbone(name, seed=3)
    reference = official_network(name, seed=3)
    crop = backbone.preprocessing.crop
    frames = min(backbone.sampling.frames_per_clip, 16)  # S3D and Swin3D run on shorter clips too
    x = torch.randn(1, 3, frames, crop, crop)
    with torch.inference_mode():
        rows = backbone.network(x)
        logits = reference(x)
    assert rows.shape == (1, registry.get(name).feature_dim)
    classifier = getattr(reference, MODELS[name].classifier)
    with torch.inference_mode():
        if name == "s3d":  # a 1x1x1 convolution over the pooled map, then the mean over time and space
            from_rows = classifier(rows[:, :, None, None, None]).mean(dim=(2, 3, 4))
        else:
            from_rows = classifier(rows)
    torch.testing.assert_close(from_rows, logits, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def r3d_state(tmp_path_factory):
    """A state_dict file of r3d_18 (seed 5), as `torch.save(model.state_dict(), path)` writes one."""
    path = tmp_path_factory.mktemp("r3d") / "r3d_18_finetuned.pth"
    torch.save(official_network("r3d_18", seed=5).state_dict(), path)
    return path


def test_a_state_dict_file_loads_with_its_sha256(r3d_state):
    backbone = registry.get("r3d_18").load(str(r3d_state))
    assert (backbone.weights.id, backbone.weights.source) == (sha256_file(r3d_state), f"file {r3d_state.name}")
    x = torch.randn(2, 3, 16, 112, 112)
    reference = official_network("r3d_18", seed=5)
    reference.fc = torch.nn.Identity()
    with torch.inference_mode():
        torch.testing.assert_close(backbone.network(x), reference(x))


def test_pretrained_reads_torchs_hub_cache_through_the_weights_api(r3d_state, tmp_path, monkeypatch):
    """Offline: the official file, put in the hub cache by hand, loads as `pretrained`, its sha256 recorded."""
    official = MODELS["r3d_18"].weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / official.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(r3d_state.read_bytes())
    backbone = registry.get("r3d_18").load(PRETRAINED)
    assert (backbone.weights.id, backbone.weights.source) == (sha256_file(cached), f"torchvision {official}")

    # A checkpoint trained on those features loads them again by itself, and refuses other bytes in their place.
    provenance = {"extractor": "r3d_18", "weights": backbone.weights.id, "num_clips": 2}
    provenance |= {"weights_format": backbone.weights.format, "recipe": backbone.recipe()}
    recipe = feature_recipe(provenance)
    assert recipe.weights == PRETRAINED
    assert recipe._extractor(torch.device("cpu")).backbone.weights.id == sha256_file(cached)
    torch.save(official_network("r3d_18", seed=6).state_dict(), cached)
    with pytest.raises(ValueError, match="differs from the weights of the training features"):
        feature_recipe(provenance)._extractor(torch.device("cpu"))


def test_pretrained_without_cache_or_network_names_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match=r"hub/checkpoints/r3d_18-[0-9a-f]+\.pth: r3d_18's .* cannot be down"):
        registry.get("r3d_18").load(PRETRAINED)


def test_another_networks_weights_are_refused_key_by_key(tmp_path):
    path = tmp_path / "r2plus1d.pth"
    torch.save(official_network("r2plus1d_18", seed=0).state_dict(), path)
    with pytest.raises(ValueError, match=r"r2plus1d\.pth: r3d_18 weights do not match the network: .*mis-shaped keys"):
        registry.get("r3d_18").load(str(path))
    with pytest.raises(ValueError, match="not a state dict of tensors"):
        torch.save([1, 2], tmp_path / "list.pth")
        registry.get("r3d_18").load(str(tmp_path / "list.pth"))
    with pytest.raises(ValueError, match="r3d_18 has no weights-free mode"):
        registry.get("r3d_18").load(NO_WEIGHTS)


@pytest.mark.slow
def test_the_workflow_and_grounding_run_on_r3d_18(tmp_path):
    """The one key switches every stage: the tiny workflow on r3d_18 (random init), then hscnet ground."""
    from test_workflow import TINY_TARGET, snakemake

    from hscnet.cli import main

    override = tmp_path / "r3d.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"tiny": {"extractor": "r3d_18", "weights": "random"}}}))
    snakemake(tmp_path, "--cores", "2", TINY_TARGET, configfiles=[override])
    attrs = read_file_attrs(tmp_path / "results/tiny/features/r3d_18.h5")
    assert (attrs["extractor"], attrs["feature_dim"], attrs["weights"]) == ("r3d_18", 512, "random-seed-0")
    assert json.loads(attrs["recipe"])["fps"] == 15.0
    paragraph = json.loads((tmp_path / "data/tiny/annotations/test.json").read_text())[0]
    argv = ["ground", "--video", str(tmp_path / "data/tiny/videos" / f"{paragraph['video']}.mp4"), "--sentences"]
    argv += [*paragraph["sentences"], "--checkpoint", str(tmp_path / "results/tiny/runs/full/best.pt")]
    argv += ["--glove", str(tmp_path / "results/vectors/data_tiny_glove"), "--device", "cpu"]
    out = tmp_path / "grounded.json"
    with pytest.warns(UserWarning, match="r3d_18 has no pretrained weights: using a seeded RANDOM"):
        assert main([*argv, "--output", str(out)]) == 0
    (entry,) = json.loads(out.read_text())
    assert len(entry["timestamps"]) == len(paragraph["sentences"])
    assert np.all(np.diff(np.asarray(entry["timestamps"]), axis=1) >= 0)
