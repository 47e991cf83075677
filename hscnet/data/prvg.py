"""PRVG's paragraph files (MCG-NJU/PRVG ``data/TACoS/*.npy``, ``data/ActivityNet/test.npy``), read safely.

Each file is a ``.npy`` holding a pickled 1-D NumPy object array of plain dicts (``video``,
``duration``, ``sentences``, ``timestamps`` in seconds). ``np.load(allow_pickle=True)`` would run
whatever the pickle asks for, so a downloaded file of this kind must not be trusted: here the
header is parsed with NumPy's format helpers and the payload is unpickled by an unpickler that can
build only what such a file needs (the object array itself and builtin values); any other global
is refused before anything is called. NumPy never sees the pickled array state either: the array is
built here from the items the pickle holds, after checking that they are as many as the shape it
declares (NumPy's own ``ndarray.__setstate__`` trusts that count and reads past the list otherwise).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from hscnet.errors import InputError, MissingInputError


def _latin1_encode(text: str, encoding: str) -> bytes:
    """The only use of ``_codecs.encode`` in a protocol-2 NumPy pickle: the array's byte string."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed on a str with 'latin1', got {encoding!r}")
    return text.encode("latin1")


# The pickled state of ``dtype('O')``: (version, byte order, subarray, names, fields, elsize, alignment, flags).
_OBJECT_DTYPE_STATE = (3, "|", None, None, None, -1, -1, 63)


class _PickledObjectDtype:
    """``numpy.dtype('O8', False, True)`` as a pickle builds it; only that dtype is accepted."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True):
        if spec != "O8":
            raise pickle.UnpicklingError(f"dtype {spec!r} refused: a PRVG paragraph file holds an object array")

    def __setstate__(self, state: Any) -> None:
        if state != _OBJECT_DTYPE_STATE:
            raise pickle.UnpicklingError(f"object dtype with an unexpected pickled state {state!r}")


class _PickledObjectArray:
    """The object array a pickle reconstructs; ``__setstate__`` builds the real one from checked items."""

    def __init__(self, subtype: Any, shape: Any, dtype_code: Any):
        if subtype is not np.ndarray:
            raise pickle.UnpicklingError(f"array reconstruction of {subtype!r} refused (only numpy.ndarray)")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError(f"array state is not (version, shape, dtype, fortran, data): {state!r:.100}")
        _, shape, dtype, _, items = state
        if not isinstance(dtype, _PickledObjectDtype):
            raise pickle.UnpicklingError("array of another dtype than object refused")
        if not (isinstance(shape, tuple) and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0):
            raise pickle.UnpicklingError(f"array shape {shape!r:.100} refused: a PRVG paragraph file is 1-D")
        if not isinstance(items, list) or len(items) != shape[0]:
            held = f"{len(items)} items" if isinstance(items, list) else type(items).__name__
            raise pickle.UnpicklingError(f"the array state declares shape {shape} but holds {held}")
        if any(isinstance(item, _PickledObjectArray) for item in items):
            raise pickle.UnpicklingError("nested arrays refused: a PRVG paragraph file holds plain values")
        self.array = np.empty(shape, dtype=object)
        for i, item in enumerate(items):  # one by one: an item that is itself a list must not be broadcast
            self.array[i] = item


# (module, name) -> the object the unpickler may hand to REDUCE/BUILD. NumPy 1.x pickles name
# numpy.core.multiarray, NumPy 2.x numpy._core.multiarray.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _PickledObjectArray,
    ("numpy._core.multiarray", "_reconstruct"): _PickledObjectArray,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _PickledObjectDtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._path}: refused to load global '{module}.{name}': a PRVG paragraph file needs only "
                "a NumPy object array of dicts, so this file is not one (or was tampered with)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"{self._path}: persistent ids are not allowed in a PRVG paragraph file")


def read_prvg_npy(path: str | os.PathLike) -> list[Any]:
    """The entries of a PRVG ``.npy`` paragraph file, in file order (plain Python objects).

    Raises FileNotFoundError for a missing file and ValueError naming the file for anything that
    is not a 1-D object array of a safe pickle (including a refused global).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: PRVG paragraph file not found")
    with open(path, "rb") as fh:
        try:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(fh)
            else:
                raise InputError(f"unsupported .npy format version {version}")
        except ValueError as err:
            raise InputError(f"{path}: not a readable .npy file ({err})") from err
        if dtype != np.dtype(object) or len(shape) != 1:
            raise InputError(
                f"{path}: expected a 1-D object array of paragraphs (PRVG layout), got dtype {dtype} shape {shape}"
            )
        try:
            loaded = _RestrictedUnpickler(fh, path).load()
        except pickle.UnpicklingError as err:
            message = str(err)
            raise InputError(message if message.startswith(str(path)) else f"{path}: {message}") from err
        except (EOFError, TypeError, AttributeError, IndexError) as err:
            raise InputError(f"{path}: corrupt pickle payload ({type(err).__name__}: {err})") from err
    array = loaded.array if isinstance(loaded, _PickledObjectArray) else None
    if array is None or array.shape != tuple(shape):
        raise InputError(f"{path}: the pickle does not hold the {shape} object array its header announces")
    return array.tolist()
