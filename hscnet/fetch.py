"""``hscnet fetch``: download one public input (resumable, verified) or say how to get it by hand.

The workflow's ``fetch`` rule runs this for each path of config.yaml's ``downloads`` table that
a target needs. A download

* goes to ``<file>.part`` beside the target and resumes from there with an HTTP range request
  (after a dropped connection within the run, ``--attempts`` times, or on the next run);
* shows progress (``hscnet.progress``: a bar on a terminal, a log line every 30 s otherwise) and
  logs the size and time when it ends;
* is checked against its sha256 and/or size before it is renamed into place, so a wrong or
  truncated file never sits at the target;
* of a zip archive (``--member``) is verified as the archive, then the member is unpacked to
  the target and the archive removed.

A file already at the target with the right checksum is used as is. An error (a checksum
mismatch, an HTTP error, an unreachable host) is one ValueError naming the file, the address
and what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

from hscnet.errors import InputError, MissingInputError
from hscnet.io import atomic_path
from hscnet.progress import progress

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16  # a dropped connection loses at most the chunk being read
TIMEOUT_S = (30, 120)  # connect, and between two reads


def fetch(
    target: str | os.PathLike,
    url: str,
    sha256: str | None = None,
    size: int | None = None,
    member: str | None = None,
    attempts: int = 3,
) -> Path:
    """Make ``target`` hold the file at ``url`` (or ``member`` of the zip archive there).

    ``sha256`` and ``size`` check the downloaded file (the archive when ``member`` is given);
    with neither, the download is kept unverified and its sum is logged so it can be recorded.
    """
    target = Path(target)
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InputError(f"{target}: sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if target.is_dir():
        raise InputError(
            f"{target}: is a directory; the output must name the file to write, "
            f"e.g. {target / Path(urlsplit(url).path).name}"
        )
    if member is None:
        download = target
    else:
        if target.is_file():
            log.info("%s: already in place, used as is", target)
            return target
        download = target.parent / Path(urlsplit(url).path).name
    if download.is_file():
        _verify(download, url, sha256, size)
        log.info("%s: already in place with the expected checksum, used as is", download)
    else:
        _download(url, download, sha256, size, attempts)
    if member is not None:
        _unpack(download, member, target)
        download.unlink()
    return target


def place_by_hand(target: str | os.PathLike, instructions: str) -> None:
    """Stop with the instructions for a file that has no direct download address."""
    target = Path(target)
    if target.is_file():
        log.info("%s: in place", target)
        return
    raise MissingInputError(
        f"{target}: cannot be downloaded automatically. {instructions.strip()} "
        f"Put the file at {target.resolve()} and run again."
    )


# ---------------------------------------------------------------- download


def _download(url: str, path: Path, sha256: str | None, size: int | None, attempts: int) -> None:
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = part.stat().st_size if part.is_file() else 0
    if size is not None and kept > size:
        log.warning("%s: the %d bytes kept in %s exceed the file's %d: starting over", path, kept, part, size)
        part.unlink()
        kept = 0
    _transfer_with_retries(url, path, part, sha256, size, attempts)
    problem = _mismatch(part, sha256, size)
    if problem and kept:
        # The bytes kept from an earlier run (another version of the file, another address) are the suspects,
        # not the address: only a download from the start can say that the address serves another file.
        log.warning(
            "%s: the download resumed from %d bytes kept in %s %s; those bytes were not this file's: "
            "downloading it again from the start",
            path,
            kept,
            part,
            problem,
        )
        part.unlink()
        _transfer_with_retries(url, path, part, sha256, size, attempts)
        problem = _mismatch(part, sha256, size)
    if problem:
        part.unlink()
        raise InputError(
            f"{path}: the file downloaded from {url} {problem}; it was deleted and nothing was written to "
            f"{path}. The address serves another file: point downloads['{path}'].url in config.yaml at "
            f"the right one (or a mirror), or put the file at {path} by hand."
        )
    if sha256 is None and size is None:
        _warn_unverified(part, path)
    os.replace(part, path)
    log.info("%s: downloaded from %s", path, url)


def _transfer_with_retries(
    url: str, path: Path, part: Path, sha256: str | None, size: int | None, attempts: int
) -> None:
    """Fill ``part`` from ``url``, resuming after a dropped connection up to ``attempts`` times."""
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            try:
                _transfer(session, url, path, part)
                break
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
                received = part.stat().st_size if part.exists() else 0
                if attempt == attempts:
                    raise InputError(
                        f"{path}: could not download {url} ({type(err).__name__}: {err}). "
                        + (
                            f"{received} bytes are kept in {part}: run again to resume, "
                            if received
                            else "Check the address and the network, "
                        )
                        + f"or point downloads['{path}'].url in config.yaml at a mirror, or put the file "
                        f"at {path} by hand{_sum_hint(sha256, size)}."
                    ) from err
                log.warning(
                    "%s: download interrupted at %d bytes (%s); resuming (attempt %d of %d)",
                    path,
                    received,
                    type(err).__name__,
                    attempt + 1,
                    attempts,
                )


def _transfer(session: requests.Session, url: str, path: Path, part: Path) -> None:
    """One request: append to ``part`` from where it stops (range request) or start it over."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # byte offsets must be those of the file itself
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
        if response.status_code == 416 and offset:
            return  # nothing after the kept bytes: the verification decides whether they are the file
        if response.status_code >= 400:
            raise InputError(
                f"{path}: {url} answered HTTP {response.status_code} {response.reason}. Check the address "
                f"(downloads['{path}'].url in config.yaml; a mirror works too) or put the file at {path} by hand."
            )
        if response.status_code == 206 and _range_start(response) != offset:
            part.unlink()  # a range from elsewhere cannot be appended: start over on the next attempt
            raise requests.ConnectionError(f"asked for the bytes from {offset}, the server sent another range")
        if offset and response.status_code != 206:
            log.info("%s: the server does not resume at byte %d; downloading from the start", path, offset)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        if offset:
            log.info("%s: resuming at byte %d", path, offset)
        started = time.monotonic()
        with (
            open(part, "ab" if offset else "wb") as fh,
            progress(total=total, initial=offset, desc=path.name, unit="B", unit_scale=True, unit_divisor=1024) as bar,
        ):
            for chunk in response.iter_content(CHUNK_BYTES):
                fh.write(chunk)
                bar.update(len(chunk))
    received, seconds = part.stat().st_size, time.monotonic() - started
    of_total = f" of {_bytes(total)} ({100 * received / total:.0f}%)" if total else ""
    log.info(
        "%s: %s%s in %.1f s, %s/s",
        path.name,
        _bytes(received),
        of_total,
        seconds,
        _bytes((received - offset) / max(seconds, 1e-9)),
    )


def _bytes(count: float) -> str:
    return tqdm.format_sizeof(count, "B", 1024)


def _range_start(response: requests.Response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _mismatch(file: Path, sha256: str | None, size: int | None) -> str | None:
    """How ``file`` differs from the recorded size and sha256, or None."""
    actual_size = file.stat().st_size
    if size is not None and actual_size != size:
        return f"is {actual_size} bytes, expected {size}"
    if sha256 is not None and (digest := _sha256(file)) != sha256:
        return f"has sha256 {digest}, expected {sha256}"
    return None


def _warn_unverified(file: Path, target: Path) -> None:
    log.warning(
        "%s: no sha256 or size recorded, so it cannot be verified: %d bytes, sha256 %s "
        "(record them in config.yaml's downloads table)",
        target,
        file.stat().st_size,
        _sha256(file),
    )


def _verify(file: Path, url: str, sha256: str | None, size: int | None) -> None:
    """Check a file already at its target against the recorded size and sha256."""
    problem = _mismatch(file, sha256, size)
    if problem is not None:
        raise InputError(
            f"{file}: the file already there {problem} (source {url}). Delete it to download it again, "
            f"or replace it with the right file."
        )
    if sha256 is None and size is None:
        _warn_unverified(file, file)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _sum_hint(sha256: str | None, size: int | None) -> str:
    if sha256:
        return f" (sha256 {sha256})"
    return f" ({size} bytes)" if size else ""


def _unpack(archive: Path, member: str, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            if member not in zf.namelist():
                raise InputError(f"{archive}: has no member {member!r} (members: {', '.join(zf.namelist()[:10])})")
            log.info("%s: unpacking %s to %s", archive, member, target)
            with zf.open(member) as src, atomic_path(target) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
    except zipfile.BadZipFile as err:
        raise InputError(f"{archive}: not a readable zip archive ({err}); delete it to download it again") from err
