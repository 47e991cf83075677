"""Sentence tokenisation for the word-level text input.

Tokeniser: spaCy's rule-based English tokenizer (``spacy.blank("en")``, no statistical model to
download), which splits off punctuation, clitics ("don't" -> "do", "n't"; "camera's" -> "camera",
"'s") and infix hyphens ("cutting-board" -> "cutting", "-", "board"), close to the Stanford
tokenisation GloVe 840B was trained on.

Punctuation policy: a token made only of Unicode punctuation characters (category P*, spaCy's
``Token.is_punct``: ".", ",", "--", "...", "'", "%", "&", ":)") is dropped, and so are whitespace
tokens. Symbols and numbers stay ("$", "+", "3.5"), as do clitics ("n't", "'s"). A sentence with
no token left is an error: it would have no words to pool into the sentence feature (the
paper's I^S would be empty).

Casing: :func:`tokenize_sentences` lowercases, the project's canonical word form; the original
casing (:func:`tokenize_sentences` with ``lowercase=False``) is kept alongside in tokens.json so
that the embedding stage can fall back to cased vocabulary entries.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hscnet.data.annotations import load_normalised
from hscnet.errors import InputError
from hscnet.limits import MAX_POSITIONS
from hscnet.progress import progress

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)


@functools.cache
def english() -> Language:
    """spaCy's rule-based English pipeline: the tokenizer, and a sentencizer for whole paragraphs."""
    # Imported here: spaCy takes seconds to import and `hscnet --help` imports every stage module.
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_paragraph(paragraph: str | Sequence[str]) -> list[str]:
    """The sentences of ``paragraph``: one text, split by spaCy's rule-based sentencizer (., ! and ? end a
    sentence), or a non-empty list of texts, taken in order."""
    if not isinstance(paragraph, str):
        return _listed_sentences(paragraph)
    sentences = [s.text.strip() for s in english()(paragraph).sents if s.text.strip()]
    if not sentences:
        raise InputError("the paragraph is empty")
    return sentences


def _listed_sentences(paragraph: Sequence[str]) -> list[str]:
    if isinstance(paragraph, (bytes, bytearray)) or not isinstance(paragraph, Sequence) or not paragraph:
        raise InputError("paragraph: give one text, or a non-empty list of sentences")
    for number, sentence in enumerate(paragraph, 1):
        if not isinstance(sentence, str):
            raise InputError(f"paragraph: sentence {number} is {type(sentence).__name__}, not text")
    return [sentence.strip() for sentence in paragraph]


def tokenize_sentences(sentences: list[str], lowercase: bool = True) -> list[list[str]]:
    """Words of each sentence, punctuation-only and whitespace tokens dropped.

    Raises ValueError naming the sentence's index when a sentence has no word left.
    """
    words_per_sentence = []
    for index, doc in enumerate(english().tokenizer.pipe(sentences)):
        words = [token.text for token in doc if not (token.is_punct or token.is_space)]
        if not words:
            raise InputError(f"sentence {index} has no word after dropping punctuation: {sentences[index]!r}")
        words_per_sentence.append([word.lower() for word in words] if lowercase else words)
    return words_per_sentence


def vocabulary(token_lists: Iterable[list[list[str]]]) -> set[str]:
    """The distinct words over paragraphs given as sentence-wise token lists."""
    return {word for sentences in token_lists for words in sentences for word in words}


def tokenize_annotations(annotation_paths: list[str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """tokens.json content for paragraph JSON files: ``{id: {"video", "tokens", "cased"}}``.

    ``tokens`` are lowercase, ``cased`` the same words as written; both (N_S, words) nested lists.
    """
    tokens: dict[str, dict[str, Any]] = {}
    for path in annotation_paths:
        for paragraph in progress(load_normalised(path), desc=f"tokenizing {Path(path).name}", unit="paragraph"):
            if paragraph.id in tokens:
                raise InputError(f"{path}: paragraph id {paragraph.id!r} also appears in an earlier annotation file")
            try:
                cased = tokenize_sentences(paragraph.sentences, lowercase=False)
            except InputError as err:
                raise InputError(f"{path}: paragraph {paragraph.id!r}: {err}") from err
            words = sum(map(len, cased))
            if words > MAX_POSITIONS:
                raise InputError(
                    f"{path}: paragraph {paragraph.id!r} has {words} words; the model reads at most {MAX_POSITIONS} "
                    "per paragraph (split it)"
                )
            lower = [[word.lower() for word in words] for words in cased]
            tokens[paragraph.id] = {"video": paragraph.video, "tokens": lower, "cased": cased}
    return tokens
