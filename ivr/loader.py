"""The YAML loader: dialplan files -> immutable models, or every error with its place.

`load_flow(path) -> Flow` and `load_dialplan(folder) -> Dialplan` are all-or-nothing:
they return a fully validated result or raise a `LoadError` carrying every finding
(file, line, column, rule id, message), never a traceback for a user's mistake.
`read_flow` and `read_dialplan` are the lint-side variants that return what did load
together with the findings, so `callpop lint` reports everything at once.

A flow's id is its file stem. A dialplan folder is `dialplan/` with `flows/*.yaml`
and the optional `queues.yaml`, `dispositions.yaml`, `scripts.yaml` beside it; a bare
folder of flow files works too. Whole-flow checks (dangling targets, the 4x4 rule)
are lint rules (`ivr.lint`), not load errors: see `ivr.lint.check_dialplan` for the
load that refuses a dialplan lint rejects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ivr.catalog import (
    CATALOG_FILES,
    Catalog,
    DispositionCatalog,
    PauseReasonCatalog,
    QueueCatalog,
    ScheduleCatalog,
    ScriptCatalog,
)
from ivr.flow import ENTRY_FLOW, Flow, HoursNode, Node
from ivr.layout import dialplan_layout
from ivr.salvage import salvage_flow
from ivr.source import START, Finding, Position, SourceMap, quote
from ivr.validation import validate_model
from ivr.yaml_reader import read_yaml

__all__ = [
    "MAX_FILE_BYTES",
    "Dialplan",
    "DialplanError",
    "FlowFileError",
    "LoadError",
    "Loaded",
    "load_dialplan",
    "load_flow",
    "load_flow_source",
    "read_catalog_file",
    "read_dialplan",
    "read_flow",
    "read_schedules",
    "with_schedules",
]

M = TypeVar("M", bound=BaseModel)

# A dialplan file is a few kilobytes; a megabyte is a wrong path, not a flow.
MAX_FILE_BYTES = 1_000_000
_FLOW_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class LoadError(Exception):
    """A file (or a dialplan) that cannot be loaded; `findings` says every reason."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(sorted(findings, key=Finding.sort_key))
        first = self.findings[0].format() if self.findings else "cannot load"
        more = len(self.findings) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class FlowFileError(LoadError):
    """A flow file that cannot be loaded."""


class DialplanError(LoadError):
    """A dialplan folder with at least one file that cannot be loaded (or, from
    `ivr.lint.check_dialplan`, with lint errors)."""


@dataclass(frozen=True, slots=True)
class Loaded(Generic[M]):
    """A validated model with the file it came from and the positions in that file."""

    model: M
    file: str
    source: SourceMap


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Every flow of a dialplan folder and its catalog files, validated.

    `flows` is what a `Session` takes (flow id -> Flow); `loaded` keeps each flow's
    file and positions for lint and for error messages at run time.
    """

    root: Path
    flows_dir: Path
    loaded: Mapping[str, Loaded[Flow]]
    queues: Loaded[QueueCatalog] | None = None
    dispositions: Loaded[DispositionCatalog] | None = None
    scripts: Loaded[ScriptCatalog] | None = None
    schedules: Loaded[ScheduleCatalog] | None = None
    flow_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Flow id -> file of every flow file present, including ones that failed to load."""

    @property
    def flows(self) -> Mapping[str, Flow]:
        return MappingProxyType({flow_id: item.model for flow_id, item in self.loaded.items()})

    @property
    def catalog(self) -> Catalog:
        return Catalog(
            queues=self.queues.model if self.queues else None,
            dispositions=self.dispositions.model if self.dispositions else None,
            scripts=self.scripts.model if self.scripts else None,
            schedules=self.schedules.model if self.schedules else None,
        )


def _read_text(path: Path) -> tuple[str | None, list[Finding]]:
    file = str(path)
    try:
        if path.is_dir():
            return None, [Finding(file, START, "error", "io-error", "is a folder, not a YAML file")]
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            message = f"the file is {size} bytes; a dialplan file is at most {MAX_FILE_BYTES}"
            return None, [Finding(file, START, "error", "io-error", message)]
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [Finding(file, START, "error", "io-error", "no such file")]
    except OSError as exc:
        return None, [
            Finding(file, START, "error", "io-error", f"cannot read: {exc.strerror or exc}")
        ]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        return None, [Finding(file, Position(line, column), "error", "io-error", message)]


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    # An alias expands the same text twice; its problems are reported once.
    return list(dict.fromkeys(findings))


def _parse(path: Path) -> tuple[Any, SourceMap, list[Finding]]:
    text, findings = _read_text(path)
    if text is None:
        return None, SourceMap.empty(), findings
    document, findings = read_yaml(text, str(path))
    return document.data, document.source, findings


def read_flow(path: Path) -> tuple[Loaded[Flow] | None, list[Finding]]:
    """Load one flow file; the flow is None if there is any finding."""
    file = str(path)
    data, source, findings = _parse(path)
    if findings and data is None:
        return None, findings
    if data is None:
        return None, [
            Finding(
                file,
                START,
                "error",
                "bad-type",
                "the file is empty: a flow needs entry: and nodes:",
            )
        ]
    if not isinstance(data, dict):
        message = "a flow file is a mapping (description, entry, settings, limits, nodes), not a list or a value"
        return None, [*findings, Finding(file, source.value_of(), "error", "bad-type", message)]
    flow_id = path.stem
    if "id" in data:
        message = (
            f"the flow id is the file name ({quote(flow_id)}); remove `id:` or rename the file"
        )
        findings.append(Finding(file, source.of("id"), "error", "unknown-field", message))
    if not _FLOW_ID.match(flow_id):
        message = (
            f"the file name {quote(flow_id)} is not a flow id (a letter, then letters, digits, "
            "_ or -, 64 at most): rename the file"
        )
        findings.append(Finding(file, START, "error", "bad-flow-id", message))
        flow_id = "invalid"
    flow, errors = validate_model(Flow, {**data, "id": flow_id}, source, file)
    findings = _unique([*findings, *errors])
    if findings or flow is None:
        return None, findings
    return Loaded(flow, file, source), []


def salvage_flow_file(path: Path) -> tuple[Loaded[Flow], frozenset[str]] | None:
    """For lint only: a flow file that `read_flow` refused, repaired enough for the
    whole-flow rules (`ivr.salvage`), with the ids of nodes replaced by stand-ins."""
    data, source, _ = _parse(path)
    flow_id = path.stem if _FLOW_ID.match(path.stem) else "invalid"
    salvaged = salvage_flow(data, flow_id)
    if salvaged is None:
        return None
    return Loaded(salvaged.flow, str(path), source), salvaged.stand_ins


def load_flow_source(path: Path | str) -> Loaded[Flow]:
    """Load one flow file with its positions, or raise `FlowFileError`."""
    loaded, findings = read_flow(Path(path))
    if loaded is None:
        raise FlowFileError(findings)
    return loaded


def load_flow(path: Path | str) -> Flow:
    """Load one flow file (its id is the file stem), or raise `FlowFileError` with every
    finding. The flow's targets are not checked here: see `ivr.lint`."""
    return load_flow_source(path).model


def read_catalog_file(path: Path, model: type[M]) -> tuple[Loaded[M] | None, list[Finding]]:
    """Load `queues.yaml`, `dispositions.yaml` or `scripts.yaml` as `model`."""
    file = str(path)
    data, source, findings = _parse(path)
    if findings and data is None:
        return None, findings
    if not isinstance(data, dict):
        message = f"{path.name} is a mapping of its own keys, not {'an empty file' if data is None else 'a list or a value'}"
        return None, [*findings, Finding(file, source.value_of(), "error", "bad-type", message)]
    value, errors = validate_model(model, data, source, file)
    findings = _unique([*findings, *errors])
    if findings or value is None:
        return None, findings
    return Loaded(value, file, source), []


def _flow_paths(flows_dir: Path) -> list[Path]:
    try:
        paths = sorted(p for p in flows_dir.glob("*.yaml") if not p.is_dir())
    except OSError:
        return []
    return [p for p in paths if p.name not in CATALOG_FILES]


def read_dialplan(path: Path) -> tuple[Dialplan, list[Finding]]:
    """Load every file of a dialplan folder; the Dialplan holds the files that loaded.

    For lint: the findings say what did not load. Use `load_dialplan` to run calls.
    """
    findings: list[Finding] = []
    if not path.is_dir():
        message = "no such folder" if not path.exists() else "is a file, not a dialplan folder"
        findings.append(Finding(str(path), START, "error", "io-error", message))
        return Dialplan(path, path, MappingProxyType({})), findings
    root, flows_dir = dialplan_layout(path)
    loaded: dict[str, Loaded[Flow]] = {}
    present: dict[str, str] = {}
    for flow_path in _flow_paths(flows_dir):
        present[flow_path.stem] = str(flow_path)
        flow, errors = read_flow(flow_path)
        findings.extend(errors)
        if flow is not None:
            loaded[flow.model.id] = flow
    queues, errors = _optional(root / "queues.yaml", QueueCatalog)
    findings.extend(errors)
    dispositions, errors = _optional(root / "dispositions.yaml", DispositionCatalog)
    findings.extend(errors)
    scripts, errors = _optional(root / "scripts.yaml", ScriptCatalog)
    findings.extend(errors)
    # read by the screen-pop (screenpop.app.load_pause_reasons); checked here for lint
    _reasons, errors = _optional(root / "pause_reasons.yaml", PauseReasonCatalog)
    findings.extend(errors)
    schedules, errors = read_schedules(root)
    findings.extend(errors)
    if schedules is not None:
        named = schedules.model
        loaded = {
            flow_id: Loaded(with_schedules(item.model, named), item.file, item.source)
            for flow_id, item in loaded.items()
        }
    dialplan = Dialplan(
        root=root,
        flows_dir=flows_dir,
        loaded=MappingProxyType(loaded),
        queues=queues,
        dispositions=dispositions,
        scripts=scripts,
        schedules=schedules,
        flow_files=MappingProxyType(present),
    )
    return dialplan, findings


def with_schedules(flow: Flow, catalog: ScheduleCatalog) -> Flow:
    """The flow with each `schedule: NAME` hours node given that schedule's timezone,
    weekly hours and holidays (the name stays, for the pack and the diff). A name the
    catalog lacks stays unresolved: lint reports it as unknown-schedule."""
    nodes: dict[str, Node] = {}
    for node_id, node in flow.nodes.items():
        named = (
            catalog.schedules.get(node.schedule)
            if isinstance(node, HoursNode) and node.schedule
            else None
        )
        if named is not None:
            # model_copy skips validation on purpose: the node keeps its one-form check
            # as written, and gains the fields it did not write.
            fields = {
                "timezone": named.timezone,
                "weekly": named.weekly,
                "holidays": named.holidays,
            }
            node = node.model_copy(update=fields)
        nodes[node_id] = node
    if all(nodes[n] is flow.nodes[n] for n in nodes):
        return flow
    return flow.model_copy(update={"nodes": nodes})


def read_schedules(root: Path) -> tuple[Loaded[ScheduleCatalog] | None, list[Finding]]:
    """`schedules.yaml` of the dialplan at `root`, None when there is none."""
    return _optional(root / "schedules.yaml", ScheduleCatalog)


def _optional(path: Path, model: type[M]) -> tuple[Loaded[M] | None, list[Finding]]:
    if not path.exists():
        return None, []
    return read_catalog_file(path, model)


def load_dialplan(path: Path | str) -> Dialplan:
    """Load a whole dialplan folder, all or nothing: raises `DialplanError` with every
    finding of every file if any file fails (a missing `main` flow included)."""
    folder = Path(path)
    dialplan, findings = read_dialplan(folder)
    if ENTRY_FLOW not in dialplan.flow_files and folder.is_dir():
        findings.append(missing_main(dialplan))
    if findings:
        raise DialplanError(findings)
    return dialplan


def missing_main(dialplan: Dialplan) -> Finding:
    """The finding for a dialplan without `flows/main.yaml`."""
    file = str(dialplan.flows_dir / "main.yaml")
    message = (
        "the dialplan has no main flow: a call that names no flow runs main, "
        "so create this file (or rename the entry flow to main)"
    )
    return Finding(file, START, "error", "missing-main", message)
