"""The project's exception for bad user input.

``hscnet`` prints an :class:`InputError` as one line (its message names the file and the
problem) and exits 1; any other exception is a bug and keeps its traceback. ``InputError``
subclasses ``ValueError`` (and ``MissingInputError`` also ``FileNotFoundError``) so that
callers which catch the built-in types keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """A file, argument or value given by the user is wrong; the message says which and why."""


class MissingInputError(InputError, FileNotFoundError):
    """A file the user named does not exist."""


def check_finite_rows(rows, where: str) -> None:
    """Raise :class:`InputError` naming ``where`` and the first row of ``rows`` holding a NaN or Inf.

    One non-finite row would turn every standardised feature (or the loss) NaN far from its source,
    so readers and writers call this where the file and video are still known.
    """
    import numpy as np  # here: the CLI imports this module before any stage needs numpy

    finite = np.isfinite(rows).reshape(len(rows), -1).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(
            f"{where}: row {int(bad[0])} has non-finite values (NaN or Inf)"
            + (f", and {len(bad) - 1} more rows" if len(bad) > 1 else "")
        )
