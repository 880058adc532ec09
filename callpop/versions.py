"""Naming a version of the dialplan: a file, a folder, or a git revision.

`callpop diff OLD NEW` and `callpop doc --against OLD` take any of:

- a flow file (`dialplan/flows/main.yaml`) or a dialplan folder (`dialplan/`), as
  `callpop lint` does;
- `REV:PATH`, git's own syntax: PATH at revision REV (`HEAD~1:dialplan`,
  `v1.2:dialplan/flows/main.yaml`); PATH is from the repository's top, or from the
  current folder when it starts with `./`;
- a bare `REV` (`HEAD`, `v1.2`, a commit id) when it is not an existing path: the
  other side's path at that revision, so `callpop diff HEAD dialplan/` shows what
  is not committed yet.

A revision is read with `git ls-tree` and `git show` into a temporary folder that is
loaded like any other and removed afterwards; the working tree is never touched.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ivr.catalog import CATALOG_FILES, QueueCatalog
from ivr.diff import Version
from ivr.layout import dialplan_layout
from ivr.loader import DialplanError, FlowFileError, read_dialplan, read_flow
from ivr.source import Finding
from ivr.version import content_hash

__all__ = ["Materialised", "VersionError", "load_version", "materialise", "revision_with_hash"]


class VersionError(Exception):
    """A version that cannot be read: no such path, not a git revision, git missing."""


@dataclass(frozen=True, slots=True)
class _Spec:
    rev: str | None
    path: str


def _parse(spec: str, other: str | None) -> _Spec:
    if Path(spec).exists():
        return _Spec(None, spec)
    if ":" in spec:
        rev, _, path = spec.partition(":")
        if rev and path:
            return _Spec(rev, path)
    if other is not None and Path(other).exists() and spec and not spec.startswith("-"):
        return _Spec(spec, "./" + other if not other.startswith(("./", "/")) else other)
    raise VersionError(f"{spec}: no such file or folder, and not REV:PATH (e.g. HEAD~1:dialplan)")


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except FileNotFoundError:
        raise VersionError("git is not installed: name the versions as files or folders") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VersionError(message[-1] if message else f"git {' '.join(args)} failed")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Materialised:
    """A version on disk; `shown(finding)` names its files as the user named them
    (`HEAD~1:dialplan/flows/main.yaml`, not the temporary copy)."""

    path: Path
    temporary_root: Path | None = None
    rev: str | None = None

    def shown(self, finding: Finding) -> str:
        text = finding.format()
        if self.temporary_root is not None:
            text = text.replace(f"{self.temporary_root}/", f"{self.rev}:")
        return text


@contextlib.contextmanager
def materialise(spec: str, other: str | None = None) -> Iterator[Materialised]:
    """The version named by `spec` as a path on disk (a temporary copy for a revision);
    `other` is the other side's spec, for a bare revision."""
    parsed = _parse(spec, other)
    if parsed.rev is None:
        yield Materialised(Path(parsed.path))
        return
    cwd = Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    path = parsed.path
    if path.startswith("/"):
        try:
            path = str(Path(path).resolve().relative_to(top.resolve()))
        except ValueError:
            raise VersionError(
                f"{spec}: {parsed.path} is outside the git repository {top}"
            ) from None
    elif path.startswith("./"):
        prefix = _git(["rev-parse", "--show-prefix"], cwd).decode().strip()
        path = str(Path(prefix + path[2:]))
    path = path.rstrip("/") or "."
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{parsed.rev}^{{commit}}"], top)
    except VersionError:
        raise VersionError(f"{spec}: not a file, a folder or a git revision of {top}") from None
    listed = _git(
        ["ls-tree", "-r", "-z", "--name-only", "--full-tree", parsed.rev, "--", path], top
    )
    names = [n for n in listed.decode("utf-8", "surrogateescape").split("\0") if n]
    if not names:
        raise VersionError(f"{spec}: {path} does not exist at {parsed.rev}")
    with tempfile.TemporaryDirectory(prefix="callpop-version-") as tmp:
        root = Path(tmp)
        for name in names:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git(["show", f"{parsed.rev}:{name}"], top))
        yield Materialised(root / path, root, parsed.rev)


def load_version(path: Path, name: str) -> Version:
    """The flows (and queues) at `path`: a flow file or a dialplan folder. Raises
    `LoadError` with every finding when a file does not load, `VersionError` when the
    path is neither."""
    if path.is_file():
        loaded, findings = read_flow(path)
        if loaded is None:
            raise FlowFileError(findings)
        return Version({loaded.model.id: loaded.model}, None, name, single=True)
    if not path.is_dir():
        raise VersionError(f"{name}: no such file or folder")
    dialplan, findings = read_dialplan(path)
    if findings:
        raise DialplanError(findings)
    queues: QueueCatalog | None = dialplan.queues.model if dialplan.queues else None
    schedules = dialplan.schedules.model if dialplan.schedules else None
    return Version(dict(dialplan.flows), queues, name, schedules=schedules)


def revision_with_hash(folder: Path, wanted: str, limit: int = 200) -> str | None:
    """The newest git commit (of the last `limit` that touched `folder`) whose dialplan
    files have the version hash `wanted` (ivr.version's hash: the same files as a load
    reads, by their path relative to the dialplan root), or None."""
    root, flows_dir = dialplan_layout(folder)
    cwd = root.resolve()
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
        base = cwd.relative_to(top.resolve()).as_posix()
        flows_rel = flows_dir.resolve().relative_to(cwd).as_posix()
        commits = _git(["log", f"-n{limit}", "--format=%H", "--", base], top).decode().split()
    except (VersionError, ValueError):
        return None
    prefix = "" if base == "." else base + "/"
    for commit in commits:
        listed = _git(["ls-tree", "-r", "-z", "--name-only", commit, "--", base], top).decode(
            "utf-8", "surrogateescape"
        )
        files: dict[str, bytes] = {}
        for name in filter(None, listed.split("\0")):
            rel = name[len(prefix) :]
            directory, _, file_name = rel.rpartition("/")
            is_flow = (
                (directory or ".") == flows_rel
                and file_name.endswith(".yaml")
                and file_name not in CATALOG_FILES
            )
            if is_flow or (directory == "" and file_name in CATALOG_FILES):
                files[rel] = _git(["show", f"{commit}:{name}"], top)
        if content_hash(files) == wanted:
            return commit
    return None
