"""Identity of input files: what a resumed training run checks it still trains on.

A fingerprint is the file's size, modification time and sha256. Comparing one with a file on disk
reads the file only when the cheap parts cannot decide: a different size means different content, an
unchanged size and mtime means the file was not rewritten (our stages only ever replace outputs by
renaming a new file into place, which sets a new mtime), anything else is settled by the sha256. So a
resume next to multi-GB feature files costs one ``stat``; a copy that lost its mtimes costs one hash.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


def refresh(recorded: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The fingerprint of ``path`` now, hashing it only when size and mtime do not match ``recorded``."""
    stat = os.stat(path)
    if (stat.st_size, stat.st_mtime_ns) == (recorded.get("size"), recorded.get("mtime_ns")):
        return dict(recorded)
    if stat.st_size != recorded.get("size"):
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": None}  # differs; no need to hash
    return fingerprint(path)


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["size"] == b["size"] and a["sha256"] is not None and a["sha256"] == b["sha256"]
