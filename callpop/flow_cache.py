"""The classic AGI script's cache: the checked flows and what it needs of the config,
read with one `open` instead of loading the dialplan and validating the config.

Each call of the classic script is a new process. Loading the dialplan (ruamel.yaml,
the flow model's validation, every lint rule, the catalogs) and validating
`callpop.yaml` (pydantic) cost a few hundred milliseconds of CPU that every call would
spend on the same files; the first call after a change does that work and leaves an
entry the next calls read. An entry holds the flows compiled (`ivr.callflow`: plain
frozen values, what the engine walks), so a call that reads one never imports pydantic.

An entry's file name is a SHA-256 over what the config means: the config file's
resolved path and bytes, the `CALLPOP_*` environment (which overrides the file), the
modules of the code the entry comes from (`sources()`: an upgrade or a local edit gives
a new name, whatever the package version says; each module by its path, size and
modification time, as Python's own bytecode cache tells a changed module, without
reading them all on every call) and the version of Python. The entry
records the dialplan folder the config named and a SHA-256 of that folder's files (as
`ivr.version` reads them): a call whose files no longer match loads them again and
rewrites the entry. So an edit of a flow or of the config is picked up by the next
call, and nothing is ever read stale.

The format is a pickle, read with an unpickler that can name nothing but the classes
of `ivr.callflow` and `datetime.date`: a pickle can only call what it can name, and
these build values without running anything else (a named tuple is made from its
values; `date` takes its bytes); the rest is plain dicts,
tuples and strings. The payload is preceded by its SHA-256, checked before unpickling:
a torn or corrupt file is refused, never trusted, and the entry is built again.
The folder is created mode 0700 and used only if it belongs to this user and no one
else can write to it; an entry is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import crm_adapter.sql
import ivr.callflow
from ivr.call import iso_utc
from ivr.callflow import Flow
from ivr.compiled import CompiledFlows
from ivr.version import DialplanVersion, content_hash, dialplan_files

__all__ = ["FORMAT", "cache_folder", "cached_flows", "source_digest", "sources"]

FORMAT: Final = b"callpop-flows-2\n"
_DIGEST: Final = hashlib.sha256().digest_size


def cache_folder(environ: Mapping[str, str]) -> Path:
    """Where the entries go: `$XDG_CACHE_HOME/callpop/flows`, else `~/.cache/callpop/flows`
    (the home of the user Asterisk runs the script as)."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callpop" / "flows"


def sources() -> tuple[Path, ...]:
    """The folders of the code an entry comes from: `ivr` (the flow model, the loader,
    the compiled form), `callpop` (the config's validation, what the script keeps of it,
    the journey statements) and `crm_adapter.sql` (the database file it names)."""
    return (
        Path(ivr.callflow.__file__).parent,
        Path(__file__).parent,
        Path(crm_adapter.sql.__file__).parent,
    )


def source_digest(folders: tuple[Path, ...]) -> bytes:
    """The modules of `folders`, each by its path, size and modification time."""
    digest = hashlib.sha256()
    for folder in folders:
        with os.scandir(folder) as found:
            modules = sorted(
                (entry.name, entry.stat()) for entry in found if entry.name.endswith(".py")
            )
        for name, info in modules:
            digest.update(f"{folder / name}\n{info.st_size}\n{info.st_mtime_ns}\n".encode())
    return digest.digest()


def _key(config_path: Path, config: bytes, environ: Mapping[str, str]) -> str:
    digest = hashlib.sha256(FORMAT)
    digest.update(sys.version.encode() + b"\n")
    digest.update(source_digest(sources()))
    digest.update(f"{config_path.resolve()}\n".encode())
    digest.update(hashlib.sha256(config).digest())
    for name in sorted(environ):
        if name.startswith("CALLPOP_"):
            digest.update(f"{name}={environ[name]}\n".encode())
    return digest.hexdigest()


def _files_digest(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\n{len(files[path])}\n".encode())
        digest.update(files[path])
    return digest.hexdigest()


class _FlowUnpickler(pickle.Unpickler):
    """Names only the compiled flow's classes and `datetime.date` (see the module's doc)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "datetime" and name == "date":
            return date
        if module == ivr.callflow.__name__ and name in ivr.callflow.__all__:
            found = getattr(ivr.callflow, name)
            if isinstance(found, type) and issubclass(found, tuple):
                return found
        raise pickle.UnpicklingError(f"the flow cache may not name {module}.{name}")


@dataclass(frozen=True, slots=True)
class _Entry:
    dialplan: str  # the folder the config names
    files: str  # `_files_digest` of its files when they were loaded
    version: str  # their version hash (`ivr.version`)
    flows: dict[str, Flow]
    site: Any  # what the script keeps of the config: plain values (or None)

    def dump(self) -> bytes:
        return pickle.dumps(
            (self.dialplan, self.files, self.version, self.flows, self.site),
            protocol=pickle.HIGHEST_PROTOCOL,
        )


def _read(path: Path) -> _Entry | None:
    """The entry at `path`, or None if it is absent or not sound."""
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
        dialplan, files, version, flows, site = found
    except Exception:  # refused or malformed: build it again
        return None
    if not (
        isinstance(dialplan, str)
        and isinstance(files, str)
        and isinstance(version, str)
        and isinstance(flows, dict)
        and all(isinstance(k, str) and isinstance(f, Flow) for k, f in flows.items())
    ):
        return None
    return _Entry(dialplan, files, version, flows, site)


def _private(folder: Path) -> bool:
    """The folder exists (made if need be), is this user's, and only this user writes it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _write(folder: Path, path: Path, entry: _Entry) -> None:
    import tempfile  # a miss only: with shutil, random, bz2 and lzma, ~10 ms every call

    payload = entry.dump()
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".flows-")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(FORMAT + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


Load = Callable[[], tuple[Path, Any]]
"""A miss's config validation: the dialplan folder it names, and the site to keep
(plain values that pickle as dicts, lists, strings and numbers)."""


def cached_flows(
    config_path: Path,
    environ: Mapping[str, str],
    folder: Path,
    now: datetime,
    load: Load,
) -> tuple[CompiledFlows, Any]:
    """The checked flows and the site kept for `config_path` under `environ`: from the
    cache in `folder` when its entry still matches the files, else `load()` validates
    the config, the dialplan is loaded (and linted) as `serve` loads it, and the entry
    is written for the next call. Raises what `load` and
    `callpop.reload.load_versioned` raise for a config or a dialplan that does not load."""
    try:
        config = config_path.read_bytes()
    except OSError:
        config = b""
    private = _private(folder)
    path = folder / f"{_key(config_path, config, environ)}.flows"
    found = _read(path) if private else None
    if found is not None:
        files = dialplan_files(Path(found.dialplan))
        if _files_digest(files) == found.files:
            version = DialplanVersion(found.version, iso_utc(now))
            return CompiledFlows(found.flows, version), found.site
    # A miss: the whole load, as serve does it (imported only now: ruamel, the linter).
    from callpop.reload import load_versioned

    dialplan, site = load()
    files = dialplan_files(dialplan)
    _, compiled = load_versioned(dialplan, now)
    assert compiled.version is not None
    # Kept only if the files are still those just read (load_versioned checked its own
    # hash before and after; this ties the entry's digest to the same bytes).
    if private and compiled.version.hash == content_hash(files):
        entry = _Entry(
            str(dialplan), _files_digest(files), compiled.version.hash, dict(compiled), site
        )
        try:
            _write(folder, path, entry)
        except OSError:
            pass  # a full disk costs the next call a load, nothing more
    return compiled, site
