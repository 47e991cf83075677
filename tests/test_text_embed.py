"""Word embedding: lookup order, OOV policies (never another word's vector), the text HDF5 contract."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from hscnet.cli import main
from hscnet.text.embed import (
    TokenizedParagraph,
    embed_paragraph,
    embed_tokens_file,
    lookup_forms,
    word_sentence_index,
)
from hscnet.text.glove import convert_vectors, load_vectors

DIM = 5
VOCAB = ["the", "man", "cuts", "an", "onion", "Paris", "London", "apple", "Apple", "knife"]


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory):
    """Converted vectors whose mean is no row, so an 'unk' vector cannot pass for a word's."""
    tmp = tmp_path_factory.mktemp("vectors")
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((len(VOCAB), DIM)).astype(np.float32) + 3.0
    lines = [f"{w} " + " ".join(repr(float(x)) for x in row) for w, row in zip(VOCAB, matrix, strict=True)]
    (tmp / "tiny.txt").write_text("\n".join(lines) + "\n")
    return convert_vectors(tmp / "tiny.txt", "glove", tmp / "tiny.kv")


@pytest.fixture(scope="module")
def vectors(vectors_dir):
    return load_vectors(vectors_dir)


def row(vectors, word):
    return np.asarray(vectors.keyed.vectors[vectors.keyed.key_to_index[word]])


def test_lookup_order():
    assert lookup_forms("paris", "Paris") == ["paris", "Paris"]
    assert lookup_forms("london") == ["london", "London"]
    assert lookup_forms("usa", "USA") == ["usa", "USA", "Usa"]


def test_lowercase_first_then_cased_then_capitalised(vectors):
    paragraph = TokenizedParagraph(
        "v", [["apple", "paris"], ["london", "the"]], cased=[["Apple", "PARIS"], ["london", "The"]]
    )
    embedded = embed_paragraph(paragraph, vectors)
    expected = [row(vectors, "apple"), row(vectors, "Paris"), row(vectors, "London"), row(vectors, "the")]
    np.testing.assert_array_equal(embedded.vectors, np.stack(expected))
    assert embedded.oov_words == []


@pytest.mark.parametrize("oov", ["zero", "unk"])
def test_oov_words_get_the_policy_vector_and_never_another_words(vectors, oov):
    paragraph = TokenizedParagraph("v", [["the", "zyzzyva", "man"], ["qwertyuiop"]])
    embedded = embed_paragraph(paragraph, vectors, oov)
    assert embedded.oov_words == ["zyzzyva", "qwertyuiop"]
    expected_oov = np.zeros(DIM, np.float32) if oov == "zero" else vectors.unk
    for position in (1, 3):
        np.testing.assert_array_equal(embedded.vectors[position], expected_oov)
        # The known bug maps unknowns to a fixed row (e.g. 400000 in 840B), a real word's vector.
        assert not any(np.array_equal(embedded.vectors[position], vectors.keyed.vectors[k]) for k in range(len(VOCAB)))
    np.testing.assert_array_equal(embedded.vectors[[0, 2]], np.stack([row(vectors, "the"), row(vectors, "man")]))
    if oov == "unk":
        np.testing.assert_allclose(vectors.unk, np.asarray(vectors.keyed.vectors).mean(axis=0), rtol=1e-6)


def test_word_sentence_index():
    np.testing.assert_array_equal(word_sentence_index([["a", "b"], ["c"], ["d", "e", "f"]]), [0, 0, 1, 2, 2, 2])
    assert word_sentence_index([["a"]]).dtype == np.int32


def write_tokens(path, entries):
    path.write_text(json.dumps(entries))
    return path


TOKENS = {
    "train_00000": {
        "video": "s1.avi",
        "tokens": [["the", "man", "cuts", "an", "onion"], ["the", "zyzzyva"], ["knife"]],
        "cased": [["The", "man", "cuts", "an", "onion"], ["the", "Zyzzyva"], ["knife"]],
    },
    "train_00001": {"video": "s2.avi", "tokens": [["paris"], ["london", "apple"]]},
}


@pytest.mark.parametrize("oov", ["zero", "unk"])
def test_text_hdf5_matches_the_contract(tmp_path, vectors_dir, vectors, oov):
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    out = tmp_path / "text" / "glove.h5"
    argv = ["embed-words", "--tokens", str(tokens), "--vectors", str(vectors_dir), "--oov", oov]
    assert main([*argv, "--output", str(out)]) == 0
    with h5py.File(out, "r") as h5:
        assert dict(h5.attrs) == {"dim": DIM, "oov": oov, "source": "tiny.txt", "vectors_format": "glove"}
        assert list(h5) == list(TOKENS)
        for pid, entry in TOKENS.items():
            group = h5[pid]
            num_words = sum(len(s) for s in entry["tokens"])
            assert group["vectors"].shape == (num_words, DIM) and group["vectors"].dtype == np.float32
            word_sentence = group["word_sentence"][()]
            assert word_sentence.shape == (num_words,) and word_sentence.dtype == np.int32
            assert np.all(np.diff(word_sentence) >= 0)
            np.testing.assert_array_equal(np.unique(word_sentence), np.arange(len(entry["tokens"])))
            assert group.attrs["video"] == entry["video"]
        assert h5["train_00000"].attrs["num_oov"] == 1
        assert h5["train_00001"].attrs["num_oov"] == 0
        np.testing.assert_array_equal(h5["train_00000"]["vectors"][5], row(vectors, "the"))
        expected_oov = np.zeros(DIM, np.float32) if oov == "zero" else vectors.unk
        np.testing.assert_array_equal(h5["train_00000"]["vectors"][6], expected_oov)


def test_output_is_deterministic(tmp_path, vectors_dir):
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    digests = []
    for name in ("a.h5", "b.h5"):
        embed_tokens_file(tokens, vectors_dir, tmp_path / name, "unk")
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_paragraph_without_known_word_is_an_error_and_leaves_no_output(tmp_path, vectors_dir, caplog):
    entries = {**TOKENS, "val_00007": {"video": "s3.avi", "tokens": [["zyzzyva"], ["qwertyuiop", "asdf"]]}}
    tokens = write_tokens(tmp_path / "tokens.json", entries)
    out = tmp_path / "glove.h5"
    assert main(["embed-words", "--tokens", str(tokens), "--vectors", str(vectors_dir), "--output", str(out)]) == 1
    assert "paragraph 'val_00007': none of its 3 words is in the vocabulary" in caplog.text
    assert list(tmp_path.iterdir()) == [tokens]  # neither the output nor its temporary


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({}, "expected a non-empty JSON object"),
        ({"p": {"tokens": [["a"]]}}, "paragraph 'p': expected an object with 'video'"),
        ({"p": {"video": "v", "tokens": [["a"], []]}}, "paragraph 'p': 'tokens': sentence 1 has no words"),
        ({"p": {"video": "v", "tokens": [["a", ""]]}}, "sentence 0: every word must be a non-empty string"),
        ({"p": {"video": "v", "tokens": [["a"]], "cased": [["A", "B"]]}}, "'cased' does not have the shape"),
    ],
)
def test_malformed_tokens_file(tmp_path, vectors_dir, entries, message):
    tokens = write_tokens(tmp_path / "tokens.json", entries)
    with pytest.raises(ValueError) as info:
        embed_tokens_file(tokens, vectors_dir, tmp_path / "out.h5")
    assert str(tokens) in str(info.value) and message in str(info.value)
    assert not (tmp_path / "out.h5").exists()


def test_missing_inputs(tmp_path, vectors_dir):
    with pytest.raises(FileNotFoundError, match="tokens.json: file not found"):
        embed_tokens_file(tmp_path / "tokens.json", vectors_dir, tmp_path / "out.h5")
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    with pytest.raises(FileNotFoundError, match="not a converted vectors directory"):
        embed_tokens_file(tokens, tmp_path / "tiny.txt", tmp_path / "out.h5")
    with pytest.raises(ValueError, match="unknown OOV policy"):
        embed_tokens_file(tokens, vectors_dir, tmp_path / "out.h5", "random")
