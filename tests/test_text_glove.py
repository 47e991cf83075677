"""Word-vector files: GloVe / word2vec reading, conversion to gensim's format, mmap reload, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hscnet.cli import main
from hscnet.text.glove import convert_vectors, load_vectors, read_vectors

DIM = 4


def make_rows(words, seed=0):
    rng = np.random.default_rng(seed)
    return {word: rng.standard_normal(DIM).astype(np.float32) for word in words}


def line(word, vector):
    # repr of a float32 value parses back to the same float32.
    return f"{word} " + " ".join(repr(float(x)) for x in vector)


def write_glove(path, rows, header=False):
    lines = [line(w, v) for w, v in rows.items()]
    if header:
        lines.insert(0, f"{len(rows)} {DIM}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_word2vec_binary(path, rows):
    with open(path, "wb") as fh:
        fh.write(f"{len(rows)} {DIM}\n".encode())
        for word, vector in rows.items():
            fh.write(word.encode("utf-8") + b" " + vector.astype("<f4").tobytes() + b"\n")
    return path


# 840B has lines whose "word" contains spaces; gensim's reader fails on them.
WORDS = [",", "the", ". . .", "at name@domain.com", "Paris", "paris", "cut"]


def assert_same(keyed, rows):
    assert keyed.index_to_key == list(rows)
    np.testing.assert_array_equal(keyed.vectors, np.stack(list(rows.values())))


def test_glove_text_with_multi_word_lines(tmp_path):
    rows = make_rows(WORDS)
    keyed = read_vectors(write_glove(tmp_path / "g.txt", rows), "glove")
    assert keyed.vector_size == DIM
    assert_same(keyed, rows)
    np.testing.assert_array_equal(keyed[". . ."], rows[". . ."])


def test_word2vec_text_and_binary(tmp_path):
    rows = make_rows(WORDS[:2] + WORDS[4:])  # the binary format cannot hold words with spaces
    assert_same(read_vectors(write_glove(tmp_path / "w.txt", rows, header=True), "word2vec"), rows)
    assert_same(read_vectors(write_word2vec_binary(tmp_path / "w.bin", rows), "word2vec-binary"), rows)


def test_multi_word_first_line_and_dim_override(tmp_path):
    rows = make_rows([". . .", "a"])
    path = write_glove(tmp_path / "g.txt", rows)
    assert read_vectors(path, "glove").vector_size == DIM
    with pytest.raises(ValueError, match=r"g.txt: line 2: expected a word and 5 numbers, found 5 fields"):
        read_vectors(path, "glove", dim=DIM + 1)


def test_blank_lines_crlf_and_repeated_words(tmp_path, caplog):
    rows = make_rows(["a", "b"])
    duplicate = make_rows(["a"], seed=1)["a"]
    text = "\r\n".join([line("a", rows["a"]), "", line("b", rows["b"]), line("a", duplicate)]) + "\r\n\r\n"
    (tmp_path / "g.txt").write_text(text, encoding="utf-8", newline="")
    with caplog.at_level("INFO", logger="hscnet.text.glove"):
        keyed = read_vectors(tmp_path / "g.txt", "glove")
    assert_same(keyed, rows)  # the first vector of a repeated word wins
    assert "1 x repeated word" in caplog.text


def test_word_that_is_not_utf8_is_skipped(tmp_path):
    rows = make_rows(["ok"])
    data = (line("ok", rows["ok"]) + "\n").encode() + b"caf\xe9 " + b" ".join([b"0.5"] * DIM) + b"\n"
    (tmp_path / "g.txt").write_bytes(data)
    assert read_vectors(tmp_path / "g.txt", "glove").index_to_key == ["ok"]


def test_conversion_and_mmap_reload_give_identical_vectors(tmp_path):
    rows = make_rows(WORDS)
    out = convert_vectors(write_glove(tmp_path / "glove.6w.txt", rows), "glove", tmp_path / "vectors" / "g.kv")
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "unk.npy", "vectors.kv", "vectors.kv.vectors.npy"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    loaded = load_vectors(out)
    assert isinstance(loaded.keyed.vectors, np.memmap) and loaded.keyed.vectors.mode == "r"
    assert_same(loaded.keyed, rows)
    assert loaded.keyed.key_to_index == {w: i for i, w in enumerate(WORDS)}
    matrix = np.stack(list(rows.values()))
    np.testing.assert_allclose(loaded.unk, matrix.mean(axis=0), rtol=1e-6)
    assert loaded.unk.dtype == np.float32
    assert loaded.meta == {"source": "glove.6w.txt", "format": "glove", "dim": DIM, "count": len(WORDS)}


def test_cli_convert_replaces_old_output_and_leaves_nothing_on_failure(tmp_path, caplog):
    out = tmp_path / "vectors" / "g.kv"
    first = write_glove(tmp_path / "a.txt", make_rows(["a", "b"]))
    assert main(["glove-convert", "--input", str(first), "--format", "glove", "--output", str(out)]) == 0
    second = write_glove(tmp_path / "b.txt", make_rows(["c"]))
    assert main(["glove-convert", "--input", str(second), "--format", "glove", "--output", str(out)]) == 0
    assert load_vectors(out).keyed.index_to_key == ["c"]

    bad = tmp_path / "bad.txt"
    bad.write_text("a 0.1 0.2 0.3 0.4\nb 0.1 oops 0.3 0.4\n")
    assert main(["glove-convert", "--input", str(bad), "--format", "glove", "--output", str(out)]) == 1
    assert "bad.txt: line 2: malformed vector" in caplog.text
    assert load_vectors(out).keyed.index_to_key == ["c"]  # the previous output is untouched
    assert [p.name for p in out.parent.iterdir()] == ["g.kv"]  # no temporary directory left

    fresh = tmp_path / "fresh" / "g.kv"
    assert main(["glove-convert", "--input", str(bad), "--format", "glove", "--output", str(fresh)]) == 1
    assert not fresh.parent.exists()  # input is read before any output is created


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("glove", b"", "empty file, no word vectors"),
        ("glove", b"\n\n", "no word vectors (only blank lines)"),
        ("glove", b"a 0.1 0.2 0.3 0.4\nb 0.1 0.2\n", "line 2: expected a word and 4 numbers, found 3 fields"),
        ("glove", b"a 0.1 0.2 0.3 0.4\nb 0.1 0.2 x 0.4\n", "line 2: malformed vector"),
        ("glove", b"a 0.1 0.2 0.3 0.4\nb 0.1 nan 0.3 0.4\n", "line 2: non-finite value"),
        ("glove", b"word\n", "first vector line has no numbers"),
        ("word2vec", b"3 4\na 0.1 0.2 0.3 0.4\n", "header declares 3 vectors but the file has 1"),
        ("word2vec", b"a 0.1 0.2 0.3 0.4\n", "line 1: expected a word2vec header"),
        ("word2vec-binary", b"2 4\nab", "not a valid word2vec binary file"),
        ("word2vec-binary", b"garbage\n", "not a valid word2vec binary file"),
    ],
)
def test_bad_vector_files(tmp_path, fmt, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_vectors(path, fmt)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: file not found"):
        read_vectors(tmp_path / "nope.txt", "glove")
    with pytest.raises(FileNotFoundError, match="not a converted vectors directory"):
        load_vectors(tmp_path)
    with pytest.raises(ValueError, match="unknown vectors format"):
        read_vectors(tmp_path / "nope.txt", "fasttext")


def test_word2vec_text_read_with_its_format(tmp_path):
    """The file refused as GloVe (header line) reads as word2vec."""
    path = tmp_path / "w2v.txt"
    path.write_text("2 3\nthe 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n")
    keyed = read_vectors(path, "word2vec")
    assert (len(keyed), keyed.vector_size) == (2, 3)
    np.testing.assert_allclose(keyed["cat"], [0.4, 0.5, 0.6])


def test_multi_word_line_with_words_is_kept(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 0.1 0.2 0.3\n. . . 0.4 0.5 0.6\n")
    keyed = read_vectors(path, "glove")
    np.testing.assert_allclose(keyed[". . ."], [0.4, 0.5, 0.6])


def test_binary_word2vec_with_a_nan_vector_names_the_word(tmp_path):
    rows = make_rows(["the", "cat", "sat"])
    rows["cat"][1] = np.nan
    path = write_word2vec_binary(tmp_path / "w2v.bin", rows)
    with pytest.raises(ValueError, match=r"w2v\.bin: the vector of 'cat' has non-finite values \(and 0 more\)"):
        read_vectors(path, "word2vec-binary")
