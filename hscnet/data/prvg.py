"""PRVG's paragraph files (MCG-NJU/PRVG ``data/TACoS/*.npy``, ``data/ActivityNet/test.npy``), read safely.

Each file is a ``.npy`` holding a pickled 1-D NumPy object array of plain dicts (``video``,
``duration``, ``sentences``, ``timestamps`` in seconds). ``np.load(allow_pickle=True)`` would run
whatever the pickle asks for, so a downloaded file of this kind must not be trusted: here the
header is parsed with NumPy's format helpers and the payload is unpickled by an unpickler that can
build only what such a file needs (the object array itself and builtin values); any other global
is refused before anything is called.
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


def _object_array(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """``_reconstruct`` restricted to a plain ndarray: no subclass's ``__new__`` is run."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array reconstruction of {subtype!r} refused (only numpy.ndarray)")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


# (module, name) -> the object the unpickler may hand to REDUCE/BUILD. NumPy 1.x pickles name
# numpy.core.multiarray, NumPy 2.x numpy._core.multiarray.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _object_array,
    ("numpy._core.multiarray", "_reconstruct"): _object_array,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
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
            array = _RestrictedUnpickler(fh, path).load()
        except pickle.UnpicklingError as err:
            message = str(err)
            raise InputError(message if message.startswith(str(path)) else f"{path}: {message}") from err
        except (EOFError, TypeError, AttributeError, IndexError) as err:
            raise InputError(f"{path}: corrupt pickle payload ({type(err).__name__}: {err})") from err
    if not isinstance(array, np.ndarray) or array.dtype != np.dtype(object) or array.shape != tuple(shape):
        raise InputError(f"{path}: the pickle does not hold the {shape} object array its header announces")
    return array.tolist()
