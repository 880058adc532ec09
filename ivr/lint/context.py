"""What every lint rule is handed: the dialplan as loaded, which flows to check, and
the call graph, built once per dialplan and shared by the rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ivr.flow import Flow
from ivr.lint.callgraph import CallGraph, NodeRef
from ivr.lint.rules import finding
from ivr.loader import Dialplan, Loaded
from ivr.source import Finding, PathPart, Position

__all__ = ["LintContext", "walk"]


@dataclass(frozen=True)
class LintContext:
    dialplan: Dialplan
    checked: frozenset[str]
    """Ids of the flows the user asked to check (the others are context: gotos, depth)."""
    check_catalog: frozenset[str] = frozenset()
    """Catalog file names to check (queues.yaml, ...)."""
    sounds: Path | None = None
    graph: CallGraph = field(init=False)

    def __post_init__(self) -> None:
        graph = CallGraph(self.dialplan.flows, self.dialplan.flow_files)
        object.__setattr__(self, "graph", graph)

    def flows(self) -> Iterator[Loaded[Flow]]:
        """The checked flows, in flow id order."""
        for flow_id in sorted(self.checked):
            loaded = self.dialplan.loaded.get(flow_id)
            if loaded is not None:
                yield loaded

    def loaded(self, flow_id: str) -> Loaded[Flow]:
        return self.dialplan.loaded[flow_id]

    def at(
        self,
        rule: str,
        flow_id: str,
        path: tuple[PathPart, ...],
        message: str,
        *,
        value: bool = False,
    ) -> Finding:
        """A finding at `path` of a flow file: the key there, or the value if `value`."""
        loaded = self.dialplan.loaded[flow_id]
        position = loaded.source.value_of(*path) if value else loaded.source.of(*path)
        return finding(rule, loaded.file, position, message)

    def finding_at(self, rule: str, flow_id: str, position: Position, message: str) -> Finding:
        return finding(rule, self.dialplan.loaded[flow_id].file, position, message)

    def at_node(self, rule: str, ref: NodeRef, message: str) -> Finding:
        return self.at(rule, ref[0], ("nodes", ref[1]), message)

    def node_position(self, ref: NodeRef) -> tuple[str, Position]:
        loaded = self.dialplan.loaded[ref[0]]
        return loaded.file, loaded.source.of("nodes", ref[1])


def walk(value: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[tuple[PathPart, ...], Any]]:
    """Every value inside a model, with its path as written in the file (field aliases)."""
    yield path, value
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from walk(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))
