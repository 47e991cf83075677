"""hscnet ground: a paragraph in a user's video, with a checkpoint trained on 4096-d C3D-like features."""

from __future__ import annotations

import json

import pytest
from test_dataset import NUM_CONCEPTS, write_synthetic_dataset
from test_release_features import write_pca

from extractors.precomputed import LAYOUTS
from extractors.synthetic import write_video
from hscnet.checkpoint import read_checkpoint, save_checkpoint
from hscnet.cli import main
from hscnet.ground import FeatureSource, feature_source, ground
from hscnet.text.glove import convert_vectors
from hscnet.text.tokenize import split_paragraph
from hscnet.train import TrainSettings, train

WORD_DIM = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    """A tiny model trained 1 epoch on 4096-d features (random-seed-0 C3D per the file attrs), GloVe dir, video."""
    root = tmp_path_factory.mktemp("ground")
    data = write_synthetic_dataset(root / "data", splits={"train": 8, "val": 4}, num_clips=4, video_dim=4096,
                                   word_dim=WORD_DIM)
    train(TrainSettings(features=str(data["features"]), text=str(data["text"]), train=str(data["train"]),
                        val=str(data["val"]), out=str(root / "run"), preset="tiny", epochs=1, device="cpu"))
    glove_txt = root / "glove.txt"
    words = [f"concept{k}" for k in range(NUM_CONCEPTS)] + ["the", "square", "moves"]
    glove_txt.write_text("".join(f"{w} " + " ".join(f"{(i * 7 + j) % 5 * 0.1:.1f}" for j in range(WORD_DIM)) + "\n"
                                 for i, w in enumerate(words)))
    glove = convert_vectors(glove_txt, "glove", root / "glove")
    video = root / "clip.mp4"
    write_video(video, num_frames=60, fps=10)  # 6 s
    return root, root / "run" / "best.pt", glove, video


def test_split_paragraph():
    assert split_paragraph("The square moves. It stops!  Then? ") == ["The square moves.", "It stops!", "Then?"]
    with pytest.raises(ValueError, match="empty"):
        split_paragraph("   ")


@pytest.mark.slow
def test_ground_cli_prints_a_span_per_sentence(setup, tmp_path, capsys):
    _, checkpoint, glove, video = setup
    out = tmp_path / "grounded.json"
    argv = ["ground", "--video", str(video), "--paragraph", "The square moves concept1. concept2 the square!",
            "--checkpoint", str(checkpoint), "--glove", str(glove), "--device", "cpu", "--output", str(out)]
    # The checkpoint was trained on random-init C3D features, so grounding must say so loudly.
    with pytest.warns(UserWarning, match="C3D has no pretrained weights"):
        assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"# {video}: 6.00 s, 2 sentences")
    spans = [tuple(float(x) for x in line.split()[:2]) for line in lines[1:]]
    assert [line.split(None, 2)[2] for line in lines[1:]] == ["The square moves concept1.", "concept2 the square!"]
    for start, end in spans:
        assert 0 <= start <= end <= 6.0
    written = json.loads(out.read_text())
    assert written[0]["sentences"] == ["The square moves concept1.", "concept2 the square!"]
    flat = [x for span in written[0]["timestamps"] for x in span]
    assert flat == pytest.approx([x for span in spans for x in span], abs=0.01)


def test_missing_video_is_one_error(setup, caplog, tmp_path):
    _, checkpoint, glove, _ = setup
    assert main(["ground", "--video", str(tmp_path / "none.mp4"), "--sentences", "a square",
                 "--checkpoint", str(checkpoint), "--glove", str(glove)]) == 1
    assert "none.mp4: video not found" in caplog.text


def test_sentence_without_words_is_an_error(setup):
    _, checkpoint, glove, video = setup
    with pytest.raises(ValueError, match=r"paragraph: sentence 1 has no word"):
        ground(video, ["the square", "?!"], checkpoint, glove, device="cpu")


def test_word_vectors_of_another_size_are_refused(setup, tmp_path):
    _, checkpoint, _, video = setup
    other = tmp_path / "g.txt"
    other.write_text("square 0.1 0.2 0.3\n")
    with pytest.raises(ValueError, match=r"3-d word vectors, but the model takes 12-d ones"):
        ground(video, ["square"], checkpoint, convert_vectors(other, "glove", tmp_path / "g"), device="cpu")


def test_pretrained_feature_weights_must_be_given_and_match(setup, tmp_path):
    _, checkpoint, glove, video = setup
    state = read_checkpoint(checkpoint)
    state["data"]["features"]["weights"] = "ab" * 32  # trained on pretrained C3D features
    pretrained = tmp_path / "best.pt"
    save_checkpoint(pretrained, {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(ValueError, match=r"pretrained C3D weights \(sha256 abab.*pass them with --c3d-weights"):
        ground(video, ["square"], pretrained, glove, device="cpu")


def test_feature_source_follows_the_feature_file():
    assert feature_source({"extractor": "c3d-fc7", "weights": "random-seed-3"}, None) == FeatureSource("fc7", 3)
    with pytest.raises(ValueError, match="RANDOMLY initialised C3D"):
        feature_source({"extractor": "c3d-fc6", "weights": "random-seed-0"}, "c3d.pickle")
    with pytest.raises(ValueError, match="'i3d' features; hscnet ground makes C3D fc6/fc7 features and those of TALL"):
        feature_source({"extractor": "i3d"}, None)
    with pytest.raises(ValueError, match="--pca p.h5: .* not PCA-reduced ones; drop --pca"):
        feature_source({"extractor": "c3d-fc6", "weights": "random-seed-0"}, None, "p.h5")


def test_release_sources_refuse_up_front_naming_what_is_missing(tmp_path):
    tall = {"extractor": "c3d-tall-precomputed", "weights": "precomputed", "source": "precomputed:tacos"}
    with pytest.raises(ValueError, match=r"TALL's TACoS C3D features .* C3D fc6 of the Sports-1M model; pass those "
                                         r"weights with --c3d-weights c3d.pickle"):
        feature_source(tall, None)
    with pytest.raises(ValueError, match="which no PCA reduced; drop --pca"):
        feature_source(tall, "c3d.pickle", "p.h5")
    assert feature_source(tall, "c3d.pickle") == FeatureSource("fc6", 0, LAYOUTS["tacos"])

    anet = {"extractor": "c3d-fc7-pca500", "weights": "precomputed", "source": "precomputed:activitynet"}
    with pytest.raises(ValueError, match=r"reduced to 500-d by the release's PCA; grounding needs that projection: "
                                         r"pass PCA_activitynet_v1-3.hdf5 .* with --pca"):
        feature_source(anet, "c3d.pickle")
    with pytest.raises(FileNotFoundError, match="none.h5: PCA file not found"):
        feature_source(anet, "c3d.pickle", str(tmp_path / "none.h5"))
    pca = write_pca(tmp_path / "pca.h5", num_axes=500)
    source = feature_source(anet, "c3d.pickle", str(pca))
    assert (source.layer, source.release, source.feature_dim) == ("fc7", LAYOUTS["activitynet"], 500)
    assert source.pca.components.shape == (4096, 500)
