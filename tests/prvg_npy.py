"""PRVG's original ``.npy`` paragraph files (../shared/data/prvg), read in tests without trusting the pickle.

Each file is a pickled NumPy object array of dicts. It is read only after its sha256 matches the
table in ../shared/data/README.md, and then with an unpickler that can build nothing but the
array itself: any other global (a function to call, a class to instantiate) is refused.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import numpy as np

# What numpy's own pickle of an object array needs: the array reconstruction, its dtype, and the
# byte-string codec protocol 2 uses for the array's raw header bytes.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a paragraph file")
        if module == "numpy.core.multiarray":  # numpy >= 2 moved it; the old name only warns
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def published_sha256(shared_data: Path, relative: str) -> str:
    """The sha256 that ../shared/data/README.md gives for ``relative``."""
    match = re.search(rf"^\| {re.escape(relative)} \| ([0-9a-f]{{64}}) \|$", (shared_data / "README.md").read_text(), re.MULTILINE)
    assert match, f"README.md has no sha256 for {relative}"
    return match[1]


def load_prvg_npy(shared_data: Path, relative: str) -> list[dict]:
    """The paragraph dicts of ``shared_data/relative``, checked against the README's sha256 first."""
    path = shared_data / relative
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == published_sha256(shared_data, relative), f"{path}: sha256 differs"
    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
        assert dtype == np.dtype(object) and len(shape) == 1, f"{path}: not a 1-d object array"
        array = ArrayOnlyUnpickler(f).load()
    return array.tolist()
