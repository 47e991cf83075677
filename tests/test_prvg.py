"""PRVG's .npy paragraph files: read without trusting the pickle, equal to the JSON of the same release."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hscnet.data.annotations import load_paragraphs
from hscnet.data.prvg import read_prvg_npy

# PRVG file -> the JSON conversion of the same release in ../shared/data, and its chunk size
RELEASES = {
    "tacos_train.npy": ("tacos/paragraphs/train.json", "train", 9),
    "tacos_val.npy": ("tacos/paragraphs/val.json", "val", 9),
    "tacos_test.npy": ("tacos/paragraphs/test.json", "test", 9),
    "activitynet_test.npy": ("activitynet/paragraphs/val_2.json", "test", 8),
}


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_real_npy_equals_the_json_release(shared_data, name):
    json_path, split, max_sentences = RELEASES[name]
    npy_path = shared_data / "prvg" / name
    expected = json.loads((shared_data / json_path).read_text())
    entries = read_prvg_npy(npy_path)
    assert entries == expected  # value for value, in file order
    assert all(type(entry) is dict for entry in entries)
    from_npy = load_paragraphs(npy_path, "prvg_npy", split, max_sentences)
    from_json = load_paragraphs(shared_data / json_path, "paragraphs", split, max_sentences)
    assert [p.to_dict() for p in from_npy] == [p.to_dict() for p in from_json]
    # the release's sentence order is kept (PRVG's order, not re-sorted)
    assert [p.sentences for p in from_npy] == [[s.strip() for s in e["sentences"]] for e in expected]


class _CallsAFunction:
    """Pickles as 'call os.system(command)' when unpickled (the classic malicious pickle)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_that_calls_a_function_is_refused(tmp_path):
    marker = tmp_path / "the-pickle-ran"
    array = np.empty(2, dtype=object)
    array[0] = {"video": "v", "duration": 1.0, "sentences": ["a"], "timestamps": [[0.0, 1.0]]}
    array[1] = _CallsAFunction(f"touch {marker}")
    evil = tmp_path / "train.npy"
    np.save(evil, array, allow_pickle=True)
    with pytest.raises(ValueError, match=rf"{evil}: refused to load global '(posix|nt|os)\.system'"):
        read_prvg_npy(evil)
    with pytest.raises(ValueError, match="refused to load global"):
        load_paragraphs(evil, "prvg_npy", "train")
    assert not marker.exists()  # the function never ran
    # the same file does run the command through an unrestricted load: the test's pickle is real
    np.load(evil, allow_pickle=True)
    assert marker.exists()


def test_an_array_written_by_this_numpy_loads(tmp_path):
    entry = {"video": "v", "duration": 2.5, "sentences": ["a b", "c"], "timestamps": [[0.0, 1.0], [1.0, 2.5]]}
    array = np.empty(1, dtype=object)
    array[0] = entry
    path = tmp_path / "test.npy"
    np.save(path, array, allow_pickle=True)
    assert read_prvg_npy(path) == [entry]


def test_files_that_are_not_prvg_paragraph_arrays_are_named(tmp_path):
    numbers = tmp_path / "numbers.npy"
    np.save(numbers, np.zeros(3))
    with pytest.raises(ValueError, match=rf"{numbers}: expected a 1-D object array"):
        read_prvg_npy(numbers)
    text = tmp_path / "text.npy"
    text.write_text("[]")
    with pytest.raises(ValueError, match=rf"{text}: not a readable .npy file"):
        read_prvg_npy(text)
    truncated = tmp_path / "truncated.npy"
    array = np.empty(1, dtype=object)
    array[0] = {"video": "v"}
    np.save(truncated, array, allow_pickle=True)
    truncated.write_bytes(truncated.read_bytes()[:-20])
    with pytest.raises(ValueError, match=rf"{truncated}: "):
        read_prvg_npy(truncated)
    with pytest.raises(FileNotFoundError, match="PRVG paragraph file not found"):
        read_prvg_npy(tmp_path / "missing.npy")
