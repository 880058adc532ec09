"""Dialplan versions: which set of dialplan files a call ran on.

A version is the content hash of the dialplan's files plus the time this process
loaded them. The hash is what identifies a version everywhere (journeys,
`ivr.started`, the wallboard, `callpop report --version`, replay): the same files give
the same hash on every instance and from a git revision, so a tool can find the files
a stored call ran on. The load time only says when an instance took it.

The hash (docs/contracts.md): SHA-256 over the files a dialplan load reads (the flow
files and the catalog files present), in the order of their paths relative to the
dialplan root (`flows/main.yaml`, `queues.yaml`, ...; POSIX separators), each as
`path`, a newline, its size in bytes, a newline, its bytes; the first 12 hex digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Final

from ivr.layout import CATALOG_NAMES, dialplan_layout

__all__ = ["HASH_DIGITS", "DialplanVersion", "content_hash", "dialplan_files", "hash_dialplan"]

HASH_DIGITS: Final = 12


@dataclass(frozen=True, slots=True)
class DialplanVersion:
    """`hash`: the content hash of the files; `loaded_at`: ISO 8601 UTC, when loaded."""

    hash: str
    loaded_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"hash": self.hash, "loaded_at": self.loaded_at}


def content_hash(files: Mapping[str, bytes]) -> str:
    """The version hash of dialplan files given as relative path -> bytes."""
    digest = sha256()
    for path in sorted(files):
        data = files[path]
        digest.update(f"{path}\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()[:HASH_DIGITS]


def dialplan_files(folder: Path) -> dict[str, bytes]:
    """The files a load of `folder` reads, relative path -> bytes (unreadable ones
    are left out: the load reports them)."""
    root, flows_dir = dialplan_layout(folder)
    paths = [p for p in sorted(flows_dir.glob("*.yaml")) if p.name not in CATALOG_NAMES]
    paths += [root / name for name in CATALOG_NAMES]
    files: dict[str, bytes] = {}
    for path in paths:
        try:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
        except OSError:
            continue
    return files


def hash_dialplan(folder: Path) -> str:
    """The version hash of the dialplan folder as it is on disk now."""
    return content_hash(dialplan_files(folder))
