"""The classic AGI script's cache of checked flows: one file read instead of a dialplan load.

Each call of the classic script is a new process. Loading the dialplan (ruamel.yaml,
every lint rule, the catalogs) costs a few hundred milliseconds of CPU that every
call would spend on the same files; the cache keeps the flows that load produced and
hands them to the next process after one `open`.

The key (a file name) is a SHA-256 over everything the cached flows depend on:
- the config file the script was given, its absolute path and its bytes (it names the
  dialplan folder, relative to itself);
- the dialplan's files as `ivr.version` hashes them (flows and catalog files);
- the source of the `ivr` package (the flow model and the loader: a callpop upgrade
  or a local edit gives a new key, whatever the package version says), and the
  versions of Python and pydantic (the pickle below is of pydantic models).
Any change gives a new file name, so a stale entry is never read; an entry for files
that no longer exist is simply never asked for again.

The format is a pickle, read with an unpickler that can name nothing but the flow
model classes of `ivr.flow` and `datetime.date`: a pickle can only call what it can
name, and these build values without running anything else (pydantic's
`__setstate__` sets attributes; `date` takes its bytes). The payload is preceded by
its SHA-256, checked before unpickling: a torn or corrupt file is refused, never
trusted, and the flows are loaded from the files again (and the entry rewritten).
The folder is created mode 0700 and used only if it belongs to this user and no one
else can write to it; an entry is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tempfile
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

import ivr.flow
from ivr.call import iso_utc
from ivr.compiled import CompiledFlows
from ivr.flow import Flow
from ivr.version import DialplanVersion, content_hash, dialplan_files

__all__ = ["FORMAT", "cache_folder", "cached_flows"]

FORMAT: Final = b"callpop-flows-1\n"
_DIGEST: Final = hashlib.sha256().digest_size


def cache_folder(environ: Mapping[str, str]) -> Path:
    """Where the entries go: `$XDG_CACHE_HOME/callpop/flows`, else `~/.cache/callpop/flows`
    (the home of the user Asterisk runs the script as)."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callpop" / "flows"


def _source_digest() -> bytes:
    """The `ivr` package's source: the flow model and the loader the flows came from."""
    digest = hashlib.sha256()
    for path in sorted(Path(ivr.flow.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    return digest.digest()


def _key(config_path: Path, config: bytes, files: Mapping[str, bytes]) -> str:
    import pydantic.version  # already loaded by ivr.flow

    digest = hashlib.sha256(FORMAT)
    digest.update(sys.version.encode() + b"\n" + pydantic.version.VERSION.encode() + b"\n")
    digest.update(_source_digest())
    digest.update(f"{config_path.resolve()}\n".encode())
    digest.update(hashlib.sha256(config).digest())
    for path in sorted(files):
        digest.update(f"{path}\n{len(files[path])}\n".encode())
        digest.update(files[path])
    return digest.hexdigest()


class _FlowUnpickler(pickle.Unpickler):
    """Names only the flow model's classes and `datetime.date` (see the module's doc)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "datetime" and name == "date":
            return date
        if module == "ivr.flow":
            found = getattr(ivr.flow, name, None)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        raise pickle.UnpicklingError(f"the flow cache may not name {module}.{name}")


def _read(path: Path) -> tuple[str, dict[str, Flow]] | None:
    """The version hash and flows of an entry, or None if it is absent or not sound."""
    try:
        with open(path, "rb") as entry:
            data = entry.read()
    except OSError:
        return None
    head, payload = data[: len(FORMAT) + _DIGEST], data[len(FORMAT) + _DIGEST :]
    if head != FORMAT + hashlib.sha256(payload).digest():
        return None
    try:
        found = _FlowUnpickler(io.BytesIO(payload)).load()
    except Exception:  # refused or malformed: load the files instead
        return None
    if not (
        isinstance(found, tuple)
        and len(found) == 2
        and isinstance(found[0], str)
        and isinstance(found[1], dict)
        and all(isinstance(k, str) and isinstance(f, Flow) for k, f in found[1].items())
    ):
        return None
    return found[0], found[1]


def _private(folder: Path) -> bool:
    """The folder exists (made if need be), is this user's, and only this user writes it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _write(folder: Path, path: Path, version_hash: str, flows: Mapping[str, Flow]) -> None:
    payload = pickle.dumps((version_hash, dict(flows)), protocol=pickle.HIGHEST_PROTOCOL)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".flows-")
    try:
        with os.fdopen(descriptor, "wb") as entry:
            entry.write(FORMAT + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_flows(config_path: Path, dialplan: Path, folder: Path, now: datetime) -> CompiledFlows:
    """The checked flows of `dialplan`, from the cache in `folder` when it has them, else
    loaded (and linted) as `serve` loads them and stored for the next call. Raises what
    `callpop.reload.load_versioned` raises for a dialplan that does not load."""
    try:
        config = config_path.read_bytes()
    except OSError:
        config = b""
    files = dialplan_files(dialplan)
    private = _private(folder)
    path = folder / f"{_key(config_path, config, files)}.flows"
    found = _read(path) if private else None
    if found is not None and found[0] == content_hash(files):
        version_hash, flows = found
        return CompiledFlows(flows, DialplanVersion(version_hash, iso_utc(now)))
    # A miss: the whole load, as serve does it (imported only now: ruamel, the linter).
    from callpop.reload import load_versioned

    _, compiled = load_versioned(dialplan, now)
    assert compiled.version is not None
    # Stored only if the files are still those the key was taken from (load_versioned
    # checked its own hash before and after; this ties the key to the same bytes).
    if private and compiled.version.hash == content_hash(files):
        try:
            _write(folder, path, compiled.version.hash, compiled)
        except OSError:
            pass  # a full disk costs the next call a load, nothing more
    return compiled
