"""Pretrained word vectors: read GloVe / word2vec files once, save as memory-mappable gensim KeyedVectors.

Input formats:

``glove``
    GloVe text: ``word v_1 ... v_D`` per line, no header (``glove.840B.300d.txt``).
``word2vec``
    word2vec text: a ``count dim`` header line, then the same lines as GloVe.
``word2vec-binary``
    the original word2vec C tool's binary format (read with gensim).

The text formats are read by this module rather than by gensim's
``KeyedVectors.load_word2vec_format(..., no_header=True)`` because gensim splits every line on
spaces and takes the first field as the word: the few 840B lines whose "word" contains spaces
(e.g. ``". . ."``) then fail with "could not convert string to float" (or give a vector of the
wrong length). Here a line is split from the RIGHT: the last D fields are the vector and
everything before them is the word. gensim also converts each number with a Python call, which
is several times slower than numpy's C reader (``np.loadtxt``) used here (see bench/README.md).

Reading is streaming and linear: one pass counts lines so the (N, D) float32 matrix is
allocated once (no Python list of all lines, no growing copies), a second pass parses
batches of lines with numpy. D is the header's (word2vec) or, for GloVe, the number of
trailing numeric fields of the first line (``dim`` overrides it).

Line policy: a line with fewer than D + 1 fields, or a non-numeric / non-finite value, is an
error naming the file and line. A line with more fields is a multi-word word only when its extra
leading fields are not numbers (840B's ``". . ."``); otherwise it is an error (a longer vector), as
is a tab in the word (a tab-separated file would otherwise read as D-1 numbers). A GloVe file
whose first line is ``count dim`` is a word2vec text file: an error that says so. Blank lines are skipped.
A repeated word keeps its first vector
(as gensim does). A word that is not valid UTF-8 or is empty is skipped: no tokeniser output can
ever equal it. Each skip is counted in the log; the numbers of a skipped line are not parsed.

Converted layout (``convert_vectors(..., output=DIR)``): ``DIR/vectors.kv`` (gensim pickle) and
``DIR/vectors.kv.vectors.npy`` (the (N, D) float32 matrix, memory-mapped on load),
``DIR/unk.npy`` (the mean of all N vectors, (D,) float32, for the ``unk`` OOV policy) and
``DIR/meta.json`` (source file name, format, dim, count). The directory appears only once
complete (written to a temporary sibling, then renamed).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from hscnet.errors import InputError, MissingInputError
from hscnet.io import atomic_directory, read_json, write_json
from hscnet.progress import progress

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

# gensim is imported inside the functions that use it: `hscnet --help` imports every stage
# module, and gensim alone takes seconds to import.

log = logging.getLogger(__name__)

FORMATS = ("glove", "word2vec", "word2vec-binary")
KEYED_VECTORS_FILE = "vectors.kv"
UNK_FILE = "unk.npy"
META_FILE = "meta.json"

_TAB_SEPARATED = "tab-separated fields; GloVe separates the word and the numbers by single spaces"
_BATCH_LINES = 4096  # lines parsed per numpy call: amortises the call, bounds the temporary bytes
_READ_BLOCK = 1 << 24


@dataclass
class WordVectors:
    """Loaded vectors: ``keyed.vectors`` (N, D) float32 (memory-mapped), ``unk`` (D,) their mean."""

    keyed: KeyedVectors
    unk: np.ndarray
    meta: dict[str, Any]

    @property
    def dim(self) -> int:
        return self.keyed.vector_size


def read_vectors(path: str | os.PathLike, fmt: str, dim: int | None = None) -> KeyedVectors:
    """Read a GloVe / word2vec (text or binary) file into KeyedVectors (in memory).

    ``dim`` forces the vector size of a GloVe file (default: detected from its first line); the
    word2vec formats take it from their header.
    Raises FileNotFoundError / ValueError naming the file (and line) on bad input.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown vectors format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, no word vectors")
    if fmt == "word2vec-binary":
        keyed = _read_word2vec_binary(path)
    else:
        keyed = _read_text_vectors(path, has_header=fmt == "word2vec", dim=dim)
    if len(keyed) == 0:
        raise InputError(f"{path}: no word vectors")
    return keyed


def convert_vectors(input_path: str | os.PathLike, fmt: str, output: str | os.PathLike, dim: int | None = None) -> Path:
    """Convert a vectors file into the memory-mappable directory layout described above; returns it."""
    input_path = Path(input_path)
    keyed = read_vectors(input_path, fmt, dim)
    # Mean over all N vectors, accumulated in float64 so that 2M rows do not lose precision.
    unk = keyed.vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
    meta = {"source": input_path.name, "format": fmt, "dim": keyed.vector_size, "count": len(keyed)}
    with atomic_directory(output) as tmp:
        # separately=["vectors"]: always a sidecar .npy, so mmap="r" works even for tiny files
        # (gensim would otherwise pickle arrays under 10 MB inline).
        keyed.save(str(tmp / KEYED_VECTORS_FILE), separately=["vectors"])
        np.save(tmp / UNK_FILE, unk)
        write_json(tmp / META_FILE, meta)
    log.info("converted %s (%s): %d words x %d dims -> %s", input_path, fmt, len(keyed), keyed.vector_size, output)
    return Path(output)


def load_vectors(path: str | os.PathLike) -> WordVectors:
    """Load a directory written by :func:`convert_vectors`, the matrix memory-mapped read-only."""
    from gensim.models import KeyedVectors

    path = Path(path)
    missing = [name for name in (KEYED_VECTORS_FILE, UNK_FILE, META_FILE) if not (path / name).is_file()]
    if missing:
        raise MissingInputError(
            f"{path}: not a converted vectors directory (missing {', '.join(missing)}); "
            "create it with `hscnet glove-convert`"
        )
    keyed = KeyedVectors.load(str(path / KEYED_VECTORS_FILE), mmap="r")
    unk = np.load(path / UNK_FILE)
    if unk.shape != (keyed.vector_size,):
        raise InputError(f"{path / UNK_FILE}: shape {unk.shape} does not match vector size {keyed.vector_size}")
    return WordVectors(keyed=keyed, unk=unk, meta=read_json(path / META_FILE))


# ---------------------------------------------------------------- text formats


def _read_text_vectors(path: Path, has_header: bool, dim: int | None) -> KeyedVectors:
    num_lines, header, first_line = _scan(path, has_header)
    declared_count, dim = _vector_size(path, has_header, dim, header, first_line)
    table = _VectorTable(path, capacity=num_lines - int(has_header), dim=dim)
    events: Counter[str] = Counter()  # skipped / repaired lines, for the log
    vector_lines = _read_vector_lines(path, has_header, table, events)
    if has_header and vector_lines != declared_count:
        raise InputError(f"{path}: header declares {declared_count} vectors but the file has {vector_lines}")
    for reason, count in sorted(events.items()):
        log.info("%s: %d x %s", path, count, reason)
    return table.keyed_vectors()


def _vector_size(
    path: Path, has_header: bool, dim: int | None, header: bytes | None, first_line: bytes | None
) -> tuple[int | None, int]:
    """(the header's vector count or None, the vector size D): the header's, ``dim``, or the first line's."""
    declared_count = None
    if has_header:
        declared_count, dim = _parse_header(header, path)
    elif dim is None:
        if first_line is None:
            raise InputError(f"{path}: no word vectors (only blank lines)")
        dim = _detect_dim(first_line, path)
    if dim < 1:
        raise InputError(f"{path}: vector size must be positive, got {dim}")
    return declared_count, dim


class _VectorTable:
    """The words read so far and their vectors, parsed a batch of lines at a time into one (N, D) matrix
    allocated once."""

    def __init__(self, path: Path, capacity: int, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)  # zero pages are only touched when filled
        self.words: list[str] = []
        self.key_to_index: dict[str, int] = {}
        self._tails: list[bytes] = []
        self._line_numbers: list[int] = []

    def add(self, word: str, tail: bytes, line_number: int) -> bool:
        """Add ``word`` with the numbers ``tail`` of its line; True when that filled a batch, now parsed."""
        self.key_to_index[word] = len(self.words)
        self.words.append(word)
        self._tails.append(tail)
        self._line_numbers.append(line_number)
        if len(self._tails) == _BATCH_LINES:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Parse the pending batch of lines, if any."""
        if not self._tails:
            return
        start = len(self.words) - len(self._tails)
        self.vectors[start : len(self.words)] = _parse_batch(self._tails, self._line_numbers, self.dim, self.path)
        self._tails.clear()
        self._line_numbers.clear()

    def keyed_vectors(self) -> KeyedVectors:
        from gensim.models import KeyedVectors

        keyed = KeyedVectors(self.dim)
        # Assign the filled matrix directly: KeyedVectors.add_vectors would vstack a second copy
        # (2x the 2.6 GB of 840B at peak).
        keyed.vectors = self.vectors[: len(self.words)]
        keyed.index_to_key = self.words
        keyed.key_to_index = self.key_to_index
        keyed.next_index = len(self.words)
        return keyed


def _read_vector_lines(path: Path, has_header: bool, table: _VectorTable, events: Counter[str]) -> int:
    """Every line of ``path`` into ``table``; returns the number of non-blank lines after the header."""
    vector_lines = 0
    with (
        open(path, "rb") as fh,
        progress(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}", leave=False) as bar,
    ):
        line_number = 0
        if has_header:
            fh.readline()
            line_number = 1
        bytes_since_update = 0
        for line in fh:
            line_number += 1
            bytes_since_update += len(line)
            body = line.rstrip()
            if not body:
                events["blank line"] += 1
                continue
            vector_lines += 1
            word, tail = _split_line(body, table.dim, path, line_number, events)
            if word is None:
                continue
            if word in table.key_to_index:
                events["repeated word (first kept)"] += 1
                continue
            if table.add(word, tail, line_number):
                bar.update(bytes_since_update)
                bytes_since_update = 0
        table.flush()
        bar.update(bytes_since_update)
    return vector_lines


def _split_line(body: bytes, dim: int, path: Path, line_number: int, events: Counter[str]) -> tuple[str | None, bytes]:
    """(word, its numbers) of a line; word None for a line skipped (counted in ``events``)."""
    spaces = body.count(b" ")
    if spaces == dim:
        cut = body.index(b" ")
    elif spaces > dim:
        # The word itself contains spaces (840B has a few): the vector is the last dim fields.
        cut = len(body.rsplit(b" ", dim)[0])
        if any(map(_is_number, body[:cut].split(b" ")[1:])):
            raise InputError(
                f"{path}: line {line_number}: more than {dim} numbers (found {spaces + 1} fields, "
                "and the extra ones are numbers, not words of a multi-word token)"
            )
        events["multi-word line (kept)"] += 1
    else:
        raise InputError(f"{path}: line {line_number}: expected a word and {dim} numbers, found {spaces + 1} fields")
    if b"\t" in body[:cut]:
        raise InputError(f"{path}: line {line_number}: {_TAB_SEPARATED}")
    try:
        word = body[:cut].decode("utf-8")
    except UnicodeDecodeError:
        events["word not valid UTF-8"] += 1
        return None, b""
    if not word:
        events["empty word"] += 1
        return None, b""
    return word, body[cut + 1 :]


def _scan(path: Path, has_header: bool) -> tuple[int, bytes | None, bytes | None]:
    """Number of lines, the header line (if any) and the first non-blank vector line."""
    with open(path, "rb") as fh:
        header = fh.readline() if has_header else None
        first_line = None
        for line in fh:
            if line.strip():
                first_line = line.rstrip()
                break
        fh.seek(0)
        return _count_lines(fh), header, first_line


def _count_lines(fh: BinaryIO) -> int:
    count, last = 0, b"\n"
    while block := fh.read(_READ_BLOCK):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")  # a last line without newline still counts


def _parse_header(header: bytes | None, path: Path) -> tuple[int, int]:
    fields = (header or b"").split()
    try:
        count, dim = (int(field) for field in fields)
    except ValueError as err:
        raise InputError(f"{path}: line 1: expected a word2vec header 'count dim', got {header[:80]!r}") from err
    return count, dim


def _detect_dim(line: bytes, path: Path) -> int:
    """Number of trailing numeric fields of the first line, leaving at least one field for the word."""
    if b"\t" in line:
        raise InputError(f"{path}: first vector line: {_TAB_SEPARATED}")
    fields = line.split(b" ")
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        raise InputError(
            f"{path}: the first line {line.decode(errors='replace')!r} is a word2vec header (count dim), "
            "not a GloVe vector; use --format word2vec"
        )
    dim = 0
    for field in reversed(fields[1:]):
        if not _is_number(field):
            break
        dim += 1
    if dim == 0:
        raise InputError(f"{path}: first vector line has no numbers: {line[:80]!r}")
    return dim


def _is_number(field: bytes) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_batch(tails: list[bytes], line_numbers: list[int], dim: int, path: Path) -> np.ndarray:
    """Parse the numeric parts of a batch of lines into (len(tails), dim) float32."""
    try:
        # numpy's C reader (numpy >= 1.23): about 3x faster than float() per field.
        values = np.loadtxt(tails, dtype=np.float32, delimiter=" ", comments=None, ndmin=2)
    except ValueError:
        values = None
    if values is not None and values.shape == (len(tails), dim) and np.isfinite(values).all():
        return values
    # Slow path, only on bad input: find and name the offending line.
    for tail, line_number in zip(tails, line_numbers, strict=True):
        try:
            row = np.array([float(field) for field in tail.split()], dtype=np.float32)
        except ValueError as err:
            raise InputError(f"{path}: line {line_number}: malformed vector ({err})") from err
        if row.size != dim:
            raise InputError(f"{path}: line {line_number}: expected {dim} numbers, found {row.size}")
        if not np.isfinite(row).all():
            raise InputError(f"{path}: line {line_number}: non-finite value in vector")
    raise InputError(f"{path}: lines {line_numbers[0]}-{line_numbers[-1]}: could not parse the vectors")


# ---------------------------------------------------------------- binary format


def _read_word2vec_binary(path: Path) -> KeyedVectors:
    from gensim.models import KeyedVectors

    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=True)
    except (ValueError, EOFError) as err:  # gensim's errors for bad headers and truncated files
        raise InputError(f"{path}: not a valid word2vec binary file ({err})") from err
    finite = np.isfinite(keyed.vectors).all(axis=1)
    if not finite.all():
        word = keyed.index_to_key[int(np.flatnonzero(~finite)[0])]
        raise InputError(f"{path}: the vector of {word!r} has non-finite values (and {int((~finite).sum()) - 1} more)")
    return keyed
