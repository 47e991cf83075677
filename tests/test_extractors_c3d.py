"""C3D weights and input preprocessing (extractors.c3d, extractors.base.FramePreprocessing)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from extractors.base import check_keys
from extractors.c3d import C3D, PREPROCESSING, convert_state_dict, load_c3d, sha256_file


def random_c3d(seed: int) -> C3D:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_c3d("random", seed=seed)[0]


def small_state_dict() -> dict[str, torch.Tensor]:
    """Every c3d.pickle key with a 1-element tensor: enough for key/shape checks without 300 MB."""
    with torch.device("meta"):  # names only, no 300 MB allocation
        keys = list(C3D().state_dict())
    return {k: torch.zeros(1) for k in keys}


def mmaction2_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """c3d.pickle names -> mmaction2 names (backbone.conv1a.conv.weight, backbone.fc6.weight, ...)."""
    out = {}
    for key, value in state.items():
        module, param = key.split(".")
        if module == "fc8":
            continue  # mmaction2 has no fc8
        if module.startswith("conv"):
            module = {"conv1": "conv1a", "conv2": "conv2a"}.get(module, module) + ".conv"
        out[f"backbone.{module}.{param}"] = value
    out["cls_head.fc_cls.weight"] = torch.zeros(101, 4096)
    out["cls_head.fc_cls.bias"] = torch.zeros(101)
    return out


@pytest.fixture(scope="module")
def reference():
    """The seeded C3D whose weights the checkpoint files below hold."""
    return random_c3d(seed=7)


@pytest.fixture(scope="module")
def pickle_weights(tmp_path_factory, reference):
    """A full-size c3d.pickle-format file (~320 MB), made once."""
    path = tmp_path_factory.mktemp("weights") / "c3d.pickle"
    torch.save(reference.state_dict(), path)
    return path


def test_random_init_is_seeded_and_warns():
    with pytest.warns(UserWarning, match="RANDOM"):
        a, info = load_c3d("random", seed=3)
    b, c = random_c3d(3), random_c3d(4)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    assert info.format == "random" and info.id == "random-seed-3" and info.random
    assert not a.training


@pytest.mark.parametrize("weights", [None, "pretrained"])
def test_no_weights_is_refused_not_a_silent_random_init(weights):
    with pytest.raises(ValueError, match="C3D has no official download.*'random' for a seeded random init"):
        load_c3d(weights)


def test_random_init_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    random_c3d(0)
    assert torch.equal(torch.rand(3), expected)


def test_forward_shapes_and_layers(reference):
    x = torch.randn(2, 3, 16, 112, 112)
    with torch.inference_mode():
        fc6 = reference(x)
        fc7 = reference.fc7(fc6).relu()
    assert fc6.shape == fc7.shape == (2, 4096)
    assert (fc6 >= 0).all() and (fc7 >= 0).all()  # after ReLU
    assert not torch.equal(fc6, fc7)
    with pytest.raises(ValueError, match="fc6 or fc7"):
        C3D("fc8")


@pytest.mark.slow
def test_loads_c3d_pickle_format(pickle_weights, reference):
    model, info = load_c3d(pickle_weights)
    assert info.format == "c3d-pickle" and info.source == "file c3d.pickle"
    assert info.id == sha256_file(pickle_weights)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.slow
def test_loads_mmaction2_checkpoint(tmp_path, reference):
    path = tmp_path / "c3d_mmaction2.pth"
    torch.save({"meta": {"epoch": 45}, "state_dict": mmaction2_keys(reference.state_dict())}, path)
    model, info = load_c3d(path, layer="fc7")
    assert info.format == "mmaction2"
    for key, value in reference.state_dict().items():
        if not key.startswith("fc8."):
            assert torch.equal(model.state_dict()[key], value), key
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference.fc7(reference(x)).relu())


def test_mmaction2_backbone_without_prefix_is_recognised():
    renamed = {k.removeprefix("backbone."): v for k, v in mmaction2_keys(small_state_dict()).items()}
    weights_format, state = convert_state_dict(renamed, "bare.pth")
    assert weights_format == "mmaction2"
    assert "conv1.weight" in state and "conv2.bias" in state and "fc7.weight" in state
    assert not any(k.startswith("fc8") for k in state)


def test_every_problem_is_listed(tmp_path):
    state = small_state_dict()
    del state["conv3b.bias"]
    state["conv9.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pickle"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_c3d(path)
    message = str(err.value)
    assert message.startswith(f"{path}: C3D weights do not match")
    assert "missing keys: conv3b.bias" in message
    assert "unexpected keys: conv9.weight" in message
    assert "conv1.weight (1,) (expected (64, 3, 3, 3, 3))" in message
    assert "fc8.bias (1,) (expected (487,))" in message


def test_reads_legacy_torch_serialisation(tmp_path):
    # c3d.pickle dates from 2017: torch's pre-1.6 (non-zip) format must load with weights_only.
    path = tmp_path / "legacy.pickle"
    torch.save(small_state_dict(), path, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match=r"legacy\.pickle: C3D weights do not match the network: mis-shaped keys"):
        load_c3d(path)  # read fine; only the (deliberately tiny) shapes are wrong


def test_mmaction2_unknown_key(tmp_path):
    state = mmaction2_keys(small_state_dict())
    state["backbone.extra.weight"] = torch.zeros(1)
    path = tmp_path / "mm.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(
        ValueError, match=r"mm\.pth: unexpected keys in mmaction2 C3D checkpoint: backbone\.extra\.weight"
    ):
        load_c3d(path)


def test_mmaction2_missing_fc8_is_fine_but_other_keys_are_checked():
    with torch.device("meta"):
        model = C3D()
    state = convert_state_dict({"state_dict": mmaction2_keys(small_state_dict())}, "mm.pth")[1]
    with pytest.raises(ValueError) as err:
        check_keys(model, state, "mm.pth", "C3D", skip=("fc8.",))
    assert "fc8" not in str(err.value)
    assert "conv5b.weight (1,)" in str(err.value)


def test_unrelated_or_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none\.pickle: C3D weights file not found"):
        load_c3d(tmp_path / "none.pickle")
    junk = tmp_path / "junk.pickle"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pickle: cannot be read as a PyTorch checkpoint"):
        load_c3d(junk)
    other = tmp_path / "resnet.pth"
    torch.save({"layer1.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match=r"resnet\.pth: neither a c3d\.pickle .* first keys: layer1\.weight"):
        load_c3d(other)
    listing = tmp_path / "list.pth"
    torch.save([1, 2], listing)
    with pytest.raises(ValueError, match=r"list\.pth: not a C3D state dict"):
        load_c3d(listing)


def test_preprocessing_channel_order_and_mean():
    clips = np.zeros((1, 16, 128, 171, 3), np.uint8)
    clips[..., 0], clips[..., 1], clips[..., 2] = 200, 100, 50  # R, G, B
    caffe = PREPROCESSING["c3d-pickle"](clips)
    mm = PREPROCESSING["mmaction2"](clips)
    assert caffe.shape == mm.shape == (1, 3, 16, 112, 112) and caffe.dtype == torch.float32
    # c3d.pickle: BGR minus the Sports-1M per-channel mean; mmaction2: RGB minus [104, 117, 128].
    torch.testing.assert_close(caffe[0, :, 0, 0, 0], torch.tensor([50 - 90.25, 100 - 97.66, 200 - 101.41]))
    torch.testing.assert_close(mm[0, :, 0, 0, 0], torch.tensor([200 - 104.0, 100 - 117.0, 50 - 128.0]))


def test_preprocessing_centre_crop():
    clips = np.zeros((1, 16, 128, 171, 3), np.uint8)
    clips[:, :, 8:120, 29:141] = 255  # exactly the centre crop region
    x = PREPROCESSING["mmaction2"](clips)
    assert (x == 255 - torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1, 1)).all()
    with pytest.raises(ValueError, match=r"expected clips \(B, T, H >= 112"):
        PREPROCESSING["mmaction2"](np.zeros((1, 16, 100, 112, 3), np.uint8))
