"""ParagraphDataset and collation on small generated files of the project's contract (tests/builders.py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from builders import write_synthetic_dataset

from hscnet.data import dataset as dataset_module
from hscnet.data.annotations import Paragraph, load_normalised
from hscnet.data.collate import collate_samples
from hscnet.data.dataset import FeatureStats, ParagraphDataset, crop_window


@pytest.fixture
def synthetic(tmp_path):
    return write_synthetic_dataset(tmp_path / "data")


def test_synthetic_annotations_are_valid_contract(synthetic):
    for split in ("train", "val", "test"):
        paragraphs = load_normalised(synthetic[split])
        assert paragraphs and all(len(p.sentences) == len(p.timestamps) for p in paragraphs)


def test_item_shapes_and_normalised_spans(synthetic):
    paragraphs = load_normalised(synthetic["train"])
    dataset = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"])
    assert (dataset.video_dim, dataset.word_dim) == (16, 12)
    item = dataset[3]
    p = paragraphs[3]
    assert item["id"] == p.id and item["duration"] == pytest.approx(p.duration)
    assert item["video"].shape == (8, 16) and item["video"].dtype == torch.float32
    assert item["words"].shape[1] == 12 and item["word_sentence"].dtype == torch.int64
    assert item["spans"].shape == (len(p.sentences), 2)
    torch.testing.assert_close(item["spans"] * p.duration, torch.tensor(p.timestamps, dtype=torch.float32))
    assert int(item["word_sentence"].max()) == len(p.sentences) - 1


def test_sentence_subset_keeps_an_ordered_subset_with_its_own_words(synthetic):
    paragraphs = load_normalised(synthetic["train"])
    whole = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"])
    subsets = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"], sentence_subset=True)
    torch.manual_seed(0)
    sizes = set()
    for index, p in enumerate(paragraphs):
        full, item = whole[index], subsets[index]
        spans = [tuple(span) for span in full["spans"].tolist()]
        kept = [spans.index(tuple(span)) for span in item["spans"].tolist()]
        assert kept == sorted(set(kept)) and 1 <= len(kept) <= min(8, len(p.sentences))
        # Each kept sentence brings exactly its own words, renumbered 0..len(kept)-1.
        expected = torch.cat([full["words"][full["word_sentence"] == k] for k in kept])
        torch.testing.assert_close(item["words"], expected)
        assert item["word_sentence"].tolist() == sorted(item["word_sentence"].tolist())
        assert set(item["word_sentence"].tolist()) == set(range(len(kept)))
        sizes.add(len(kept) < len(p.sentences))
    assert sizes == {True, False}  # some draws drop sentences, some keep them all


def test_spans_are_clamped_to_the_video(synthetic):
    p = Paragraph("x", "train_video_0.mp4", 10.0, ["a b"], [(0.0, 10.0)])
    # A span reaching past the end (duration rounding) is clamped to 1 rather than exceeding it.
    p.timestamps = [(2.0, 10.5)]
    with h5py.File(synthetic["text"], "a") as text:
        text.create_group("x").create_dataset("vectors", data=np.zeros((2, 12), np.float32))
        text["x"].create_dataset("word_sentence", data=np.zeros(2, np.int32))
    item = ParagraphDataset([p], synthetic["features"], synthetic["text"])[0]
    assert item["spans"].tolist() == [[pytest.approx(0.2), 1.0]]


def test_collate_pads_and_masks(synthetic):
    paragraphs = load_normalised(synthetic["train"])
    dataset = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"])
    items = [dataset[i] for i in range(4)]
    batch = collate_samples(items)
    n_w = max(len(it["words"]) for it in items)
    n_s = max(len(it["spans"]) for it in items)
    assert batch["ids"] == [p.id for p in paragraphs[:4]]
    assert batch["words"].shape == (4, n_w, 12) and batch["word_mask"].shape == (4, n_w)
    assert batch["sentence_mask"].shape == (4, n_s) and batch["spans"].shape == (4, n_s, 2)
    for b, it in enumerate(items):
        w, s = len(it["words"]), len(it["spans"])
        assert batch["word_mask"][b].sum() == w and batch["sentence_mask"][b].sum() == s
        assert (batch["word_sentence"][b, w:] == -1).all() and (batch["spans"][b, s:] == 0).all()
        torch.testing.assert_close(batch["words"][b, :w], it["words"])
    torch.testing.assert_close(batch["duration"], torch.tensor([it["duration"] for it in items]))


def test_missing_video_names_the_features_file(synthetic):
    p = Paragraph("train_00000", "no_such_video.mp4", 10.0, ["a"], [(0.0, 1.0)])
    with pytest.raises(ValueError, match=r"features\.h5: no features for 1 of 1 videos.*no_such_video"):
        ParagraphDataset([p], synthetic["features"], synthetic["text"])


def test_missing_paragraph_names_the_text_file(synthetic):
    p = Paragraph("unknown_id", "train_video_0.mp4", 10.0, ["a"], [(0.0, 1.0)])
    with pytest.raises(ValueError, match=r"text\.h5: paragraph 'unknown_id': not found"):
        ParagraphDataset([p], synthetic["features"], synthetic["text"])


def _rewrite_word_sentence(synthetic, change) -> Paragraph:
    """A paragraph of several sentences whose ``word_sentence`` in the text file becomes ``change(old)``."""
    p = next(p for p in load_normalised(synthetic["train"]) if len(p.sentences) > 1)
    with h5py.File(synthetic["text"], "a") as text:
        ws = text[p.id]["word_sentence"]
        ws[...] = change(ws[()])
    return p


def test_word_sentence_must_cover_every_sentence(synthetic):
    p = _rewrite_word_sentence(synthetic, lambda ws: ws[::-1])  # words out of sentence order
    with pytest.raises(ValueError, match=rf"paragraph '{p.id}': corrupt: word_sentence must be non-decreasing"):
        ParagraphDataset([p], synthetic["features"], synthetic["text"])


def test_a_text_file_made_from_other_annotations_says_so(synthetic):
    p = _rewrite_word_sentence(synthetic, np.zeros_like)  # the words of a one-sentence paragraph under this id
    with pytest.raises(
        ValueError,
        match=rf"paragraph '{p.id}': holds words of 1 sentences, the annotations give it {len(p.sentences)}; "
        "the text file was made from other annotations",
    ):
        ParagraphDataset([p], synthetic["features"], synthetic["text"])
    with h5py.File(synthetic["text"], "a") as text:
        text[p.id].attrs["video"] = "another_video.mp4"
    with pytest.raises(ValueError, match=r"made for video 'another_video.mp4', the annotations say 'train_video_"):
        ParagraphDataset([p], synthetic["features"], synthetic["text"])


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file"])
def test_corrupt_features_file_is_named(synthetic, content):
    synthetic["features"].write_bytes(content)
    with pytest.raises(ValueError, match=r"features\.h5: not a readable HDF5 visual features file"):
        ParagraphDataset(load_normalised(synthetic["train"]), synthetic["features"], synthetic["text"])


def test_missing_text_file(synthetic, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.h5: word vectors file not found"):
        ParagraphDataset(load_normalised(synthetic["train"]), synthetic["features"], tmp_path / "nothere.h5")


def test_dataset_works_in_worker_processes(synthetic):
    dataset = ParagraphDataset(load_normalised(synthetic["val"]), synthetic["features"], synthetic["text"])
    dataset[0]  # opens handles in this process; workers must reopen their own
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate_samples)
    ids = [pid for batch in loader for pid in batch["ids"]]
    assert ids == [p.id for p in dataset.paragraphs]


def test_feature_standardisation_uses_training_videos(synthetic):
    paragraphs = load_normalised(synthetic["train"])
    stats = FeatureStats.of_videos(synthetic["features"], [p.video for p in paragraphs])
    with h5py.File(synthetic["features"]) as feats:
        clips = np.concatenate([feats[v][()] for v in sorted({p.video for p in paragraphs})])  # (N, 16)
    z = stats.apply(clips)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-3)
    item = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"], stats)[0]
    with h5py.File(synthetic["features"]) as feats:
        raw = feats[paragraphs[0].video][()]
    torch.testing.assert_close(item["video"], torch.from_numpy((raw - stats.mean) / stats.scale))
    restored = FeatureStats.from_state(stats.to_state())
    np.testing.assert_array_equal(restored.scale, stats.scale)


def test_silent_feature_dimension_is_not_blown_up(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as feats:
        x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
        x[:, 2] = 0.0  # a ReLU unit that never fires on the training clips
        feats["v"] = x
    stats = FeatureStats.of_videos(path, ["v"])
    assert stats.scale[2] == pytest.approx(
        FeatureStats.SCALE_FLOOR * np.mean([x[:, 0].std(), x[:, 1].std(), 0.0]), rel=1e-4
    )
    assert np.abs(stats.apply(np.array([[0.0, 0.0, 0.05]], np.float32))[0, 2]) < 10


def test_feature_statistics_of_another_size_are_refused(synthetic):
    stats = FeatureStats(np.zeros(5, np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError, match=r"features\.h5: 16-d features but 5-d feature statistics"):
        ParagraphDataset(load_normalised(synthetic["val"]), synthetic["features"], synthetic["text"], stats)


def test_crop_window_keeps_every_sentence_and_reaches_both_video_ends():
    torch.manual_seed(0)
    spans = torch.tensor([[0.25, 0.40], [0.45, 0.60]])  # clips 6 .. 14.4 of 24
    windows = {crop_window(spans, 24) for _ in range(2000)}
    assert all(0 <= first <= 6 and 15 <= stop <= 24 for first, stop in windows)
    assert {first for first, _ in windows} == set(range(7)) and {stop for _, stop in windows} == set(range(15, 25))
    # A paragraph over the whole video leaves nothing to cut.
    assert {crop_window(torch.tensor([[0.0, 1.0]]), 24) for _ in range(20)} == {(0, 24)}


def test_temporal_crop_moves_spans_with_the_clips(synthetic):
    paragraphs = load_normalised(synthetic["train"])
    plain = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"])
    cropped = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"], temporal_crop=True)
    torch.manual_seed(0)
    lengths = set()
    for index in range(len(paragraphs)):
        for _ in range(5):
            whole, item = plain[index], cropped[index]
            n, num_clips = len(item["video"]), len(whole["video"])
            lengths.add(n)
            assert 0 < n <= num_clips and item["duration"] == pytest.approx(whole["duration"] * n / num_clips)
            # The kept clips are a contiguous run of the original ones, found at offset `first`.
            first = next(f for f in range(num_clips - n + 1) if torch.equal(whole["video"][f : f + n], item["video"]))
            # Each sentence stays on the same clips and inside the window, in seconds of the crop.
            expected = (whole["spans"] * num_clips - first) / n
            torch.testing.assert_close(item["spans"], expected)
            assert float(item["spans"].min()) >= 0.0 and float(item["spans"].max()) <= 1.0
    assert len(lengths) > 1  # some draws are cropped, others not


@pytest.mark.parametrize("standardize", [True, False])
def test_items_read_from_memory_equal_items_read_from_the_files(standardize, synthetic, monkeypatch):
    """Arrays stay in memory after the first read, within MEMORY_CACHE_BYTES; an item changed in place
    by its consumer leaves the next read of the same paragraph as it was."""
    paragraphs = load_normalised(synthetic["train"])
    stats = FeatureStats.of_videos(synthetic["features"], (p.video for p in paragraphs)) if standardize else None
    monkeypatch.setattr(dataset_module, "MEMORY_CACHE_BYTES", 0)
    from_files = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"], stats)
    expected = [from_files[i] for i in range(len(paragraphs))]
    assert from_files._cached_bytes == 0
    one_video = expected[0]["video"].numel() * 4
    monkeypatch.setattr(dataset_module, "MEMORY_CACHE_BYTES", 3 * one_video)
    cached = ParagraphDataset(paragraphs, synthetic["features"], synthetic["text"], stats)
    for _ in range(2):  # first read from the files, then from memory for what fits
        for i, want in enumerate(expected):
            item = cached[i]
            for key in ("video", "words", "word_sentence", "spans"):
                assert torch.equal(item[key], want[key]), (i, key)
            item["video"] += 1.0
            item["words"] += 1.0
            item["word_sentence"] += 1
    assert 0 < cached._cached_bytes <= 3 * one_video
