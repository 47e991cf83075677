"""Word embedding of tokenised paragraphs into the text HDF5 of the data contract.

Lookup: GloVe 840B is cased, the project's tokens are lowercase. A word is looked up as its
lowercase form first, then as written in the sentence (the ``cased`` tokens of tokens.json),
then capitalised ("paris" -> "Paris"); the first hit wins. A word found under none of these is
out of vocabulary (OOV) and gets the vector of the OOV policy:

``zero`` (default)
    the zero vector;
``unk``
    the mean of all vectors of the vocabulary (computed at conversion, ``unk.npy``). There is no
    training at this stage, so this is a fixed vector, not a learned one.

An OOV word never takes another word's vector (lookups go through the word -> row mapping only;
there is no "last row = unknown" convention). OOV words are counted per paragraph (``num_oov``)
and in the log. A paragraph with no word in the vocabulary at all is an error: its features
would carry no information.

Output (``results/{dataset}/text/glove.h5``): one group per paragraph id with ``vectors``
(N_W, D) float32 and ``word_sentence`` (N_W,) int32 (the sentence of each word: the paper's
index sets I^S, non-decreasing, every sentence non-empty); group attrs ``video``, ``num_oov``;
file attrs ``dim``, ``oov``, ``source`` (the vectors' original file name), ``vectors_format``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hscnet.errors import InputError
from hscnet.io import atomic_path, read_json
from hscnet.progress import progress
from hscnet.text.glove import WordVectors, load_vectors

log = logging.getLogger(__name__)

OOV_POLICIES = ("zero", "unk")


@dataclass
class EmbeddedParagraph:
    vectors: np.ndarray  # (N_W, D) float32
    word_sentence: np.ndarray  # (N_W,) int32
    oov_words: list[str]  # lowercase forms, in paragraph order, with repeats


@dataclass
class TokenizedParagraph:
    """One entry of tokens.json: lowercase ``tokens`` and, optionally, the ``cased`` originals."""

    video: str
    tokens: list[list[str]]
    cased: list[list[str]] | None = None


def lookup_forms(word: str, cased: str | None = None) -> list[str]:
    """Vocabulary keys tried for a word, in order: lowercase, as written, capitalised."""
    forms = [word.lower()]
    for form in (cased, word.lower().capitalize()):
        if form is not None and form not in forms:
            forms.append(form)
    return forms


def word_sentence_index(tokens: list[list[str]]) -> np.ndarray:
    """(N_W,) int32: index of the sentence of each word, for sentence-wise token lists."""
    lengths = [len(words) for words in tokens]
    return np.repeat(np.arange(len(tokens), dtype=np.int32), lengths)


def embed_paragraph(paragraph: TokenizedParagraph, vectors: WordVectors, oov: str = "zero") -> EmbeddedParagraph:
    """Embed one paragraph's words; OOV words get the ``oov`` policy's vector."""
    if oov not in OOV_POLICIES:
        raise InputError(f"unknown OOV policy {oov!r}; expected one of {', '.join(OOV_POLICIES)}")
    key_to_index = vectors.keyed.key_to_index
    words = [word for sentence in paragraph.tokens for word in sentence]
    cased_words = (
        [word for sentence in paragraph.cased for word in sentence] if paragraph.cased else [None] * len(words)
    )
    rows = np.full(len(words), -1, dtype=np.int64)  # -1 = OOV
    for position, (word, cased) in enumerate(zip(words, cased_words, strict=True)):
        for form in lookup_forms(word, cased):
            if form in key_to_index:
                rows[position] = key_to_index[form]
                break
    known = rows >= 0
    embedded = np.empty((len(words), vectors.dim), dtype=np.float32)  # (N_W, D)
    embedded[known] = vectors.keyed.vectors[rows[known]]
    embedded[~known] = 0.0 if oov == "zero" else vectors.unk
    oov_words = [word for word, hit in zip(words, known, strict=True) if not hit]
    return EmbeddedParagraph(embedded, word_sentence_index(paragraph.tokens), oov_words)


def read_tokens(path: str | os.PathLike) -> dict[str, TokenizedParagraph]:
    """Read and validate tokens.json (``{paragraph_id: {"video", "tokens", ["cased"]}}``)."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected a non-empty JSON object mapping paragraph id to tokens")
    paragraphs = {}
    for pid, entry in data.items():
        where = f"{path}: paragraph {pid!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("video"), str) or "tokens" not in entry:
            raise InputError(f"{where}: expected an object with 'video' (string) and 'tokens'")
        tokens = _token_lists(entry["tokens"], f"{where}: 'tokens'")
        cased = _token_lists(entry["cased"], f"{where}: 'cased'") if "cased" in entry else None
        if cased is not None and [len(s) for s in cased] != [len(s) for s in tokens]:
            raise InputError(f"{where}: 'cased' does not have the shape of 'tokens'")
        paragraphs[pid] = TokenizedParagraph(entry["video"], tokens, cased)
    return paragraphs


def embed_tokens_file(
    tokens_path: str | os.PathLike, vectors_path: str | os.PathLike, output: str | os.PathLike, oov: str = "zero"
) -> dict[str, Any]:
    """Embed every paragraph of tokens.json into the text HDF5 ``output``; returns OOV statistics."""
    if oov not in OOV_POLICIES:
        raise InputError(f"unknown OOV policy {oov!r}; expected one of {', '.join(OOV_POLICIES)}")
    paragraphs = read_tokens(tokens_path)
    vectors = load_vectors(vectors_path)
    oov_counts: Counter[str] = Counter()
    num_words = 0
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["dim"] = vectors.dim
        h5.attrs["oov"] = oov
        h5.attrs["source"] = vectors.meta["source"]
        h5.attrs["vectors_format"] = vectors.meta["format"]
        for pid, paragraph in progress(paragraphs.items(), desc="embedding paragraphs", unit="paragraph"):
            if "/" in pid:
                raise InputError(f"{tokens_path}: paragraph id {pid!r} contains '/', not usable as an HDF5 group")
            embedded = embed_paragraph(paragraph, vectors, oov)
            num_found = len(embedded.word_sentence) - len(embedded.oov_words)
            if num_found == 0:
                raise InputError(
                    f"{tokens_path}: paragraph {pid!r}: none of its {len(embedded.oov_words)} words is in the "
                    f"vocabulary of {vectors_path}"
                )
            group = h5.create_group(pid)
            group.create_dataset("vectors", data=embedded.vectors)
            group.create_dataset("word_sentence", data=embedded.word_sentence)
            group.attrs["video"] = paragraph.video
            group.attrs["num_oov"] = len(embedded.oov_words)
            oov_counts.update(embedded.oov_words)
            num_words += len(embedded.word_sentence)
    num_oov = sum(oov_counts.values())
    log.info(
        "%d paragraphs, %d words, %d OOV (%.2f%%, %d distinct, policy %s); most frequent OOV: %s",
        len(paragraphs),
        num_words,
        num_oov,
        100.0 * num_oov / max(num_words, 1),
        len(oov_counts),
        oov,
        ", ".join(f"{word} ({count})" for word, count in oov_counts.most_common(10)) or "none",
    )
    return {"paragraphs": len(paragraphs), "words": num_words, "oov": num_oov, "oov_distinct": len(oov_counts)}


def _token_lists(value: Any, where: str) -> list[list[str]]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty list of sentences")
    for index, words in enumerate(value):
        if not isinstance(words, list) or not words:
            raise InputError(f"{where}: sentence {index} has no words")
        if not all(isinstance(word, str) and word for word in words):
            raise InputError(f"{where}: sentence {index}: every word must be a non-empty string")
    return value
