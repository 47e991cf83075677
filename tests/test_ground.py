"""hscnet ground: a paragraph in a user's video, with checkpoints trained on each feature source (C3D of videos,
TALL's TACoS file, the ActivityNet PCA-500 file); its predictions file and timeline plot."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import warnings

import h5py
import matplotlib.image
import numpy as np
import pytest
from builders import NUM_CONCEPTS, write_synthetic_dataset
from test_release_features import write_pca

from extractors.precomputed import LAYOUTS, import_precomputed
from extractors.recipe import ExtractedRecipe, ReleaseRecipe, feature_recipe
from extractors.synthetic import write_video
from extractors.videos import annotation_video_id
from hscnet.checkpoint import read_checkpoint, save_checkpoint
from hscnet.cli import main
from hscnet.ground.grounder import ground
from hscnet.text.glove import convert_vectors
from hscnet.text.tokenize import split_paragraph
from hscnet.train import train
from hscnet.training_config import TrainSettings

WORD_DIM = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    """A tiny model trained 1 epoch on 4096-d features (random-seed-0 C3D per the file attrs), GloVe dir, video."""
    root = tmp_path_factory.mktemp("ground")
    data = write_synthetic_dataset(
        root / "data", splits={"train": 8, "val": 4}, num_clips=4, video_dim=4096, word_dim=WORD_DIM
    )
    train(
        TrainSettings(
            features=str(data["features"]),
            text=str(data["text"]),
            train=str(data["train"]),
            val=str(data["val"]),
            out=str(root / "run"),
            preset="tiny",
            epochs=1,
            device="cpu",
        )
    )
    glove_txt = root / "glove.txt"
    words = [f"concept{k}" for k in range(NUM_CONCEPTS)] + ["the", "square", "moves", "dog", "child"]
    glove_txt.write_text(
        "".join(
            f"{w} " + " ".join(f"{(i * 7 + j) % 5 * 0.1:.1f}" for j in range(WORD_DIM)) + "\n"
            for i, w in enumerate(words)
        )
    )
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
    argv = [
        "ground",
        "--video",
        str(video),
        "--paragraph",
        "The square moves concept1. concept2 the square!",
        "--checkpoint",
        str(checkpoint),
        "--glove",
        str(glove),
        "--device",
        "cpu",
        "--output",
        str(out),
    ]
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
    assert (
        main(
            [
                "ground",
                "--video",
                str(tmp_path / "none.mp4"),
                "--sentences",
                "a square",
                "--checkpoint",
                str(checkpoint),
                "--glove",
                str(glove),
            ]
        )
        == 1
    )
    assert "none.mp4: video not found" in caplog.text


def test_sentence_without_words_is_an_error(setup):
    _, checkpoint, glove, video = setup
    with pytest.raises(ValueError, match=r"paragraph: sentence 1 has no word"):
        ground(video, ["the square", "?!"], checkpoint, glove, device="cpu")


def test_a_paragraph_longer_than_the_model_reads_is_refused_before_extraction(setup, caplog, monkeypatch):
    _, checkpoint, glove, video = setup

    def no_extraction(*args, **kwargs):
        raise AssertionError("the extractor ran before the paragraph was checked")

    monkeypatch.setattr("extractors.extract.FeatureExtractor.extract", no_extraction)
    long_sentence = " ".join(["square"] * 4097)
    argv = ["ground", "--video", str(video), "--sentences", long_sentence, "--checkpoint", str(checkpoint)]
    assert main([*argv, "--glove", str(glove)]) == 1
    assert f"paragraph: 4097 words; the model of {checkpoint} reads at most 4096" in caplog.text


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
    with pytest.raises(ValueError, match=r"pretrained c3d weights \(sha256 abab.*pass that file with --weights"):
        ground(video, ["square"], pretrained, glove, device="cpu")


def test_feature_recipe_follows_the_feature_file():
    recipe = feature_recipe({"extractor": "c3d-fc7", "weights": "random-seed-3", "num_clips": 4})  # an older store
    assert isinstance(recipe, ExtractedRecipe)
    assert (recipe.extractor, recipe.weights, recipe.feature_dim, recipe.num_clips) == ("c3d_fc7", "random", 4096, 4)
    r3d = feature_recipe({"extractor": "r3d_18", "weights": "random-seed-0"})
    assert (r3d.extractor, r3d.feature_dim) == ("r3d_18", 512)
    with pytest.raises(ValueError, match="RANDOMLY initialised c3d"):
        feature_recipe({"extractor": "c3d", "weights": "random-seed-0"}, "c3d.pickle")
    with pytest.raises(ValueError, match="'i3d' features; features can be made of c3d, c3d_fc7, r3d_18"):
        feature_recipe({"extractor": "i3d"})
    with pytest.raises(ValueError, match="--pca p.h5: .* not PCA-reduced ones; drop --pca"):
        feature_recipe({"extractor": "c3d", "weights": "random-seed-0"}, None, "p.h5")


def test_grounding_with_another_extractor_is_refused_naming_both():
    trained = {"extractor": "c3d", "weights": "random-seed-0"}
    assert feature_recipe(trained, extractor="c3d").extractor == "c3d"  # its own: fine
    with pytest.raises(ValueError, match="--extractor r3d_18: the model was trained on 'c3d' features"):
        feature_recipe(trained, extractor="r3d_18")


def test_release_sources_refuse_up_front_naming_what_is_missing(tmp_path):
    tall = {"extractor": "c3d-tall-precomputed", "weights": "precomputed", "source": "precomputed:tacos"}
    with pytest.raises(
        ValueError,
        match=r"TALL's TACoS C3D features .* C3D fc6 of the Sports-1M model; pass those "
        r"weights with --weights c3d.pickle",
    ):
        feature_recipe(tall)
    with pytest.raises(ValueError, match="which no PCA reduced; drop --pca"):
        feature_recipe(tall, "c3d.pickle", "p.h5")
    recipe = feature_recipe(tall, "c3d.pickle")
    assert isinstance(recipe, ReleaseRecipe) and recipe.release == LAYOUTS["tacos"] and recipe.pca is None

    anet = {"extractor": "c3d-fc7-pca500", "weights": "precomputed", "source": "precomputed:activitynet"}
    with pytest.raises(
        ValueError,
        match=r"reduced to 500-d by the release's PCA; grounding needs that projection: "
        r"pass PCA_activitynet_v1-3.hdf5 .* with --pca",
    ):
        feature_recipe(anet, "c3d.pickle")
    with pytest.raises(FileNotFoundError, match="none.h5: PCA file not found"):
        feature_recipe(anet, "c3d.pickle", str(tmp_path / "none.h5"))
    pca = write_pca(tmp_path / "pca.h5", num_axes=500)
    recipe = feature_recipe(anet, "c3d.pickle", str(pca))
    assert (recipe.release.layer, recipe.release, recipe.feature_dim) == ("fc7", LAYOUTS["activitynet"], 500)
    assert recipe.pca.components.shape == (4096, 500)
    assert recipe.files == {"weights": "c3d.pickle", "pca": str(pca)}


def release_checkpoint(root, layout: str):
    """best.pt of a tiny model trained 1 epoch on a small file of a release's layout, imported like the workflow
    does."""
    release = LAYOUTS[layout]
    data = write_synthetic_dataset(
        root / "data", splits={"train": 6, "val": 2}, num_clips=4, video_dim=release.feature_dim, word_dim=WORD_DIM
    )
    durations = {p["video"]: p["duration"] for split in ("train", "val") for p in json.loads(data[split].read_text())}
    rng = np.random.default_rng(0)
    with h5py.File(root / "release.h5", "w") as h5:
        for video in durations:
            rows = rng.normal(size=(int(rng.integers(5, 30)), release.feature_dim)).astype(np.float32)
            if layout == "tacos":
                h5[video] = rows  # f[video]: (T, 4096)
            else:
                h5.create_group(video)["c3d_features"] = rows  # f[video]["c3d_features"]: (T, 500)
    import_precomputed(root / "release.h5", layout, 4, durations, root / "features.h5")
    train(
        TrainSettings(
            features=str(root / "features.h5"),
            text=str(data["text"]),
            train=str(data["train"]),
            val=str(data["val"]),
            out=str(root / "run"),
            preset="tiny",
            epochs=1,
            device="cpu",
        )
    )
    return root / "run" / "best.pt"


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["tacos", "activitynet"])
def test_ground_with_a_checkpoint_trained_on_a_release(layout, setup, tmp_path, pickle_weights, caplog, monkeypatch):
    _, _, glove, _ = setup
    checkpoint = release_checkpoint(tmp_path, layout)
    video = tmp_path / "clip.mp4"
    write_video(video, num_frames=80, fps=10)  # 8 s
    argv = [
        "ground",
        "--video",
        str(video),
        "--sentences",
        "the square moves",
        "concept1 concept2",
        "--checkpoint",
        str(checkpoint),
        "--glove",
        str(glove),
        "--device",
        "cpu",
        "--c3d-weights",  # the former name of --weights still works
        str(pickle_weights),
    ]
    if layout == "activitynet":
        # Without the PCA file: refused before any C3D is built or any frame decoded.
        with monkeypatch.context() as patched:
            patched.setattr(
                "extractors.recipe.FeatureExtractor", lambda *a, **k: pytest.fail("C3D built before the check")
            )
            assert main(argv) == 1
        assert "grounding needs that projection: pass PCA_activitynet_v1-3.hdf5" in caplog.text
        argv += ["--pca", str(write_pca(tmp_path / "pca.h5", num_axes=512))]
    out = tmp_path / "grounded.json"
    video_id = ["--video-id", "s13-d21.avi"] if layout == "tacos" else []  # as TACoS spells it; else the file name
    assert main([*argv, "--output", str(out), *video_id]) == 0
    written = json.loads(out.read_text())[0]
    assert written["video"] == ("s13-d21.avi" if layout == "tacos" else "clip.mp4")
    assert written["duration"] == pytest.approx(8.0)
    assert len(written["timestamps"]) == 2
    for start, end in written["timestamps"]:
        assert 0 <= start <= end <= 8.0


def test_output_ids_are_spelled_like_the_annotations():
    assert annotation_video_id("videos/v_ZNVhz7ctTq0.mp4") == "v_ZNVhz7ctTq0"  # ActivityNet: no extension
    assert annotation_video_id("videos/v_QOlSCBRmfWY.mkv") == "v_QOlSCBRmfWY"
    assert annotation_video_id("tacos/s13-d21.avi") == "s13-d21.avi"  # TACoS (2D-TAN): with it
    assert annotation_video_id("my_video.mp4") == "my_video.mp4"


@pytest.mark.slow
def test_grounding_a_real_activitynet_video_is_scored_by_evaluate_and_plotted(setup, real_video, tmp_path):
    _, checkpoint, glove, _ = setup
    annotation = real_video.with_suffix(".json")
    sentences = json.loads(annotation.read_text())["v_ZNVhz7ctTq0"]["sentences"]  # the annotation's, in its order
    out, metrics, plot = tmp_path / "pred.json", tmp_path / "metrics.json", tmp_path / "timeline.png"
    with pytest.warns(UserWarning, match="C3D has no pretrained weights"):
        assert (
            main(
                [
                    "ground",
                    "--video",
                    str(real_video),
                    "--sentences",
                    *sentences,
                    "--checkpoint",
                    str(checkpoint),
                    "--glove",
                    str(glove),
                    "--device",
                    "cpu",
                    "--output",
                    str(out),
                    "--plot",
                    str(plot),
                ]
            )
            == 0
        )
    written = json.loads(out.read_text())[0]
    assert written["video"] == "v_ZNVhz7ctTq0" and "id" not in written  # matched by video, like other methods' files
    assert written["sentences"] == [s.strip() for s in sentences]
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--annotations",
                str(annotation),
                "--format",
                "activitynet",
                "--metrics",
                str(metrics),
            ]
        )
        == 0
    )
    scored = json.loads(metrics.read_text())
    assert (scored["num_paragraphs"], scored["num_sentences"]) == (1, 2)
    assert 0 <= scored["mIoU"] <= 100
    image = matplotlib.image.imread(plot)
    assert image.shape[1] == 1200 and image.shape[0] > 400  # 10 in wide at 120 dpi; thumbnails, bars and text
    assert image[..., :3].std() > 0.1  # not blank


@pytest.fixture(scope="module")
def generic_checkpoint(tmp_path_factory, one_thread):
    """A tiny model trained on generic 24-d per-video arrays (a directory of .npy), imported by the real command."""
    root = tmp_path_factory.mktemp("generic")
    data = write_synthetic_dataset(
        root / "data", splits={"train": 8, "val": 4}, num_clips=4, video_dim=24, word_dim=WORD_DIM
    )
    arrays = root / "i3d"
    arrays.mkdir()
    with h5py.File(data["features"], "r") as h5:
        for video in h5:  # more rows than clips, as extracted features have: the import resamples them
            np.save(arrays / f"{video}.npy", np.repeat(h5[video][()], 3, axis=0))
    annotations = [str(data[split]) for split in ("train", "val")]
    argv = ["import-features", "--input", str(arrays), "--layout", "generic", "--num-clips", "4"]
    assert main([*argv, "--annotations", *annotations, "--output", str(root / "store.h5")]) == 0
    settings = TrainSettings(
        str(root / "store.h5"), str(data["text"]), str(data["train"]), str(data["val"]), str(root / "run")
    )
    train(dataclasses.replace(settings, preset="tiny", epochs=1, device="cpu"))
    return root / "run" / "best.pt"


def test_a_generic_feature_model_needs_the_videos_features_and_grounds_with_them(
    setup, generic_checkpoint, tmp_path, caplog
):
    _, _, glove, video = setup  # 6 s video
    argv = ["ground", "--video", str(video), "--sentences", "concept0 concept0", "concept1", "--checkpoint"]
    argv += [str(generic_checkpoint), "--glove", str(glove)]
    assert main(argv) == 1
    assert f"{generic_checkpoint}: the model was trained on generic precomputed features (24-d" in caplog.text
    assert "from i3d), which cannot be computed from a video here" in caplog.text and "--features FILE" in caplog.text
    own = tmp_path / "clip.npy"
    np.save(own, np.random.default_rng(0).standard_normal((30, 24)).astype(np.float32))
    assert main([*argv, "--features", str(own), "--output", str(tmp_path / "grounded.json")]) == 0
    (entry,) = json.loads((tmp_path / "grounded.json").read_text())
    assert entry["duration"] == pytest.approx(6.0, abs=0.01) and len(entry["timestamps"]) == 2
    assert all(0 <= start <= end <= entry["duration"] for start, end in entry["timestamps"])
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((30, 16), np.float32))
    caplog.clear()
    assert main([*argv, "--features", str(wrong)]) == 1
    assert f"{wrong}: 16-d features, but the model takes 24-d ones" in caplog.text


def test_features_are_refused_for_a_model_that_makes_its_own(setup, caplog):
    _, checkpoint, glove, video = setup
    argv = ["ground", "--video", str(video), "--sentences", "concept0", "--checkpoint", str(checkpoint)]
    assert main([*argv, "--glove", str(glove), "--features", "x.npy"]) == 1
    assert "x.npy: given features are only for models trained on generic precomputed features" in caplog.text


def test_the_feature_cache_key_follows_the_contents_of_the_weights_and_pca_files(setup, tmp_path):
    """Cached features (in memory, on disk) are reused only for the same C3D weights and PCA projection, whatever
    their paths: another PCA file, or weights replaced in place, make other features."""
    from hscnet import Grounder

    _, _, glove, video = setup
    checkpoint = release_checkpoint(tmp_path, "activitynet")
    weights = tmp_path / "c3d.pickle"
    weights.write_bytes(b"first weights")  # only hashed here: C3D is built at extraction
    pca, other_pca = write_pca(tmp_path / "pca.h5", 512), write_pca(tmp_path / "other.h5", 512, seed=1)
    same_pca = shutil.copy(pca, tmp_path / "copy.h5")

    def key(pca_file):
        grounder = Grounder.from_checkpoint(checkpoint, glove, str(weights), str(pca_file), device="cpu")
        return grounder.feature_key(video)

    first = key(pca)
    assert key(same_pca) == first  # same contents elsewhere: the same features
    assert key(other_pca) != first
    weights.write_bytes(b"other weights")
    assert key(pca) != first


# ------------------------------------------------------------- what a Grounder refuses or repairs (no NaN leaves it)


@pytest.mark.parametrize(
    ("paragraph", "message"),
    [
        ([], "paragraph: give one text, or a non-empty list of sentences"),
        ([5, "x"], "paragraph: sentence 1 is int, not text"),
        (["a square", None], "paragraph: sentence 2 is NoneType, not text"),
        (b"a square", "paragraph: give one text, or a non-empty list of sentences"),
    ],
)
def test_a_paragraph_is_text_or_a_list_of_texts(setup, paragraph, message):
    _, checkpoint, glove, video = setup
    with pytest.raises(ValueError, match=re.escape(message)):
        ground(video, paragraph, checkpoint, glove, device="cpu")


def test_features_beyond_float32_are_refused_after_the_conversion(setup, generic_checkpoint, tmp_path):
    """Finite float64 rows of 1e300 overflow to inf as float32: refused, not grounded into NaN spans."""
    _, _, glove, video = setup
    huge = tmp_path / "huge.npy"
    np.save(huge, np.full((30, 24), 1e300))
    with pytest.raises(ValueError, match=r"huge\.npy: features are not finite as float32"):
        ground(video, ["concept0"], generic_checkpoint, glove, device="cpu", features=str(huge))


@pytest.fixture
def cached_grounder(setup, tmp_path):
    """A Grounder with a feature cache, the video's features made once, and the path of their cache entry."""
    from hscnet import Grounder

    _, checkpoint, glove, video = setup
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random-init C3D
        grounder = Grounder.from_checkpoint(checkpoint, glove, device="cpu", cache_dir=tmp_path / "cache")
        expected = grounder.ground(video, ["concept1 the square"]).spans
    return grounder, tmp_path / "cache" / f"{grounder.feature_key(video)}.npz", expected


@pytest.mark.parametrize(
    "entry",
    [
        {"features": np.zeros((4, 4096)), "duration": np.inf},
        {"features": np.zeros((4, 4096)), "duration": np.array([6.0, 6.0])},
        {"features": np.zeros((4, 4096), np.int64), "duration": 6.0},
        {"features": np.zeros((4, 4096), np.complex64) + 1j, "duration": 6.0},
        {"features": np.full((4, 4096), 1e300), "duration": 6.0},
    ],
    ids=["inf duration", "duration of shape (2,)", "int features", "complex features", "beyond float32"],
)
def test_an_unusable_cache_entry_is_made_again(setup, cached_grounder, entry, caplog):
    from hscnet import Grounder

    _, checkpoint, glove, video = setup
    _, stored, expected = cached_grounder
    np.savez(stored, **entry)
    fresh = Grounder.from_checkpoint(checkpoint, glove, device="cpu", cache_dir=stored.parent)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="hscnet.ground.feature_cache"):
        warnings.simplefilter("ignore")
        spans = fresh.ground(video, ["concept1 the square"]).spans
    assert str(stored) in caplog.text and "extracting again" in caplog.text
    assert spans == expected and np.isfinite(spans).all()


def test_a_directory_in_the_caches_way_or_a_file_as_cache_is_one_error(setup, cached_grounder, tmp_path):
    from hscnet import Grounder

    _, checkpoint, glove, video = setup
    grounder, stored, _ = cached_grounder
    stored.unlink()
    stored.mkdir()
    fresh = Grounder.from_checkpoint(checkpoint, glove, device="cpu", cache_dir=stored.parent)
    with pytest.raises(ValueError, match=rf"{re.escape(str(stored))}: something other than a file is in the way"):
        fresh.ground(video, ["concept1"])
    not_a_dir = tmp_path / "cache.txt"
    not_a_dir.write_text("x")
    with pytest.raises(ValueError, match=r"cache\.txt: the feature cache must be a directory, and this is a file"):
        Grounder.from_checkpoint(checkpoint, glove, device="cpu", cache_dir=not_a_dir)
