"""Atomic file output (write to a temporary sibling, then rename) and checked input opening.

Every stage writes through these helpers so that a crash, a Ctrl-C or bad input never leaves a
partial file at the path that Snakemake (or a user) treats as a finished cached output.

A temporary's name carries the host and process id of its writer (``.c3d_0.h5.<host>-<pid>.<random>.tmp.h5``).
A process killed outright (SIGKILL, out of memory, power loss) cannot remove it, so the next
write of the same target removes the temporaries of that target whose writer, on this host, is
dead. Those of live writers (another job writing the same output) and of other hosts (a shared
file system) are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hscnet.errors import InputError, MissingInputError

log = logging.getLogger(__name__)


def through_link(path: Path) -> Path:
    """Where an output at ``path`` goes: the file a symlink points to, replaced beside itself, with the link
    kept. A user who links an output to another disk wants the data there; replacing the link with a file
    would put it beside the link and leave the old data at the target."""
    return path.resolve() if path.is_symlink() else path


OUT_OF_SPACE_BYTES = 1 << 20  # free space below which a write error without an errno means a full disk


def out_of_space(err: BaseException, directory: Path) -> bool:
    """Whether writing into ``directory`` failed because its file system is full."""
    if isinstance(err, OSError) and not isinstance(err, InputError):
        return err.errno == errno.ENOSPC or "No space left on device" in str(err)
    # torch.save reports a full disk as a RuntimeError of its archive writer, with no errno
    return isinstance(err, RuntimeError) and shutil.disk_usage(directory).free < OUT_OF_SPACE_BYTES


def _no_space_error(target: Path) -> InputError:
    free = shutil.disk_usage(target.parent).free
    return InputError(
        f"{target}: no space left on the device of {target.parent} ({free / 2**20:.1f} MiB free once the partial "
        f"file was removed); nothing was written to {target}: free some space and run again"
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps the target's suffix so that libraries which dispatch on the
    extension (h5py, gensim, PyAV) behave the same. On any exception the temporary is removed
    and the target is left untouched. A ``path`` that is a symlink is written through
    (``through_link``).
    """
    target = through_link(Path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp{target.suffix}"
    _remove_stale_temporaries(target, suffix)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as err:
        full = out_of_space(err, target.parent)  # asked while the partial temporary still holds the space
        tmp.unlink(missing_ok=True)
        if full:
            raise _no_space_error(target) from err
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; it replaces ``path`` only if the block succeeds.

    The directory counterpart of :func:`hscnet.io.atomic_path`, for outputs made of several
    files (gensim writes a sidecar .npy next to its pickle).
    """
    target = through_link(Path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target, ".tmp")
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes 0700; outputs get the usual permissions
    try:
        yield tmp
        if target.exists():
            # A directory cannot be renamed onto a non-empty one: move the old output aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException as err:
        full = out_of_space(err, target.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise _no_space_error(target) from err
        raise


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}.{socket.gethostname()}-{os.getpid()}."


def _remove_stale_temporaries(target: Path, suffix: str) -> None:
    """Remove the temporaries of ``target`` whose writer was a process of this host that is now dead."""
    own = re.compile(re.escape(f".{target.name}.{socket.gethostname()}-") + r"(\d+)\.[A-Za-z0-9_]+" + re.escape(suffix))
    for candidate in target.parent.iterdir():
        match = own.fullmatch(candidate.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        log.info(
            "%s: removing %s, left by process %s which died while writing it", target, candidate.name, match.group(1)
        )
        if candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as strict JSON to ``path`` atomically: a NaN or Infinity, which strict parsers refuse,
    is an error naming the file, and nothing is written."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            try:
                json.dump(obj, fh, indent=indent, ensure_ascii=False, allow_nan=False)
            except ValueError as err:
                raise InputError(f"{path}: {err} (NaN or Infinity); nothing was written") from err
            fh.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error when it is missing or malformed.

    A key repeated within one object is an error: ``json`` would silently keep the last one (two
    annotations of one video in an ActivityNet or TACoS file).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{p}: file not found")
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise InputError(f"{p}: not valid JSON ({err})") from err
    except _DuplicateKey as err:
        raise InputError(f"{p}: key {err.args[0]!r} appears twice in one JSON object") from None


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return obj


def open_hdf5(path: str | os.PathLike, what: str):
    """Open an HDF5 file read-only; a missing or unreadable file is an error naming it and ``what`` it is."""
    import h5py  # here: most users of this module never touch HDF5

    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{p}: {what} file not found")
    try:
        h5 = h5py.File(p, "r")
    except OSError as err:
        raise InputError(f"{p}: not a readable HDF5 {what} file ({err})") from err
    try:
        refuse_links(h5, p, what)
    except BaseException:
        h5.close()
        raise
    return h5


def refuse_links(h5, path: str | os.PathLike, what: str) -> None:
    """Refuse an HDF5 file that holds a soft or external link anywhere: followed silently, such a link
    would hand a reader another video's rows or another file's data (and a copy would take it in)."""
    import h5py

    def first_link(name: str, link):  # a value other than None stops the visit (raising inside breaks h5py)
        return (name, link) if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)) else None

    found = h5.visititems_links(first_link)
    if found is None:
        return
    name, link = found
    if isinstance(link, h5py.SoftLink):
        raise InputError(
            f"{path}: {what} file has a soft link at '/{name}' to '{link.path}'; only data stored at its own "
            "path is read (copy the data there instead of linking)"
        )
    raise InputError(
        f"{path}: {what} file has an external link at '/{name}' to '{link.path}' in {link.filename}; only "
        "data stored in the file itself is read (copy the data in instead of linking)"
    )
