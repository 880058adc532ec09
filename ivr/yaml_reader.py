"""YAML text -> plain Python data and a `SourceMap`, with every problem positioned.

ruamel.yaml composes the document (YAML 1.2: `17:00` stays text, `yes` stays text),
then this module builds the data itself from the node graph instead of letting a
constructor do it, because a constructor stops at the first duplicate key and forgets
where things were. Building from nodes gives every duplicate key at once, the line and
column of every key, value and item, and only plain types (dict, list, str, int,
float, bool, None), so the frozen models never hold ruamel's subclasses.

Dates stay text: pydantic reads `2026-12-25` into a `date` where the model wants one,
and a `description: 2026-12-25` stays the text the admin wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from ivr.source import START, Finding, Position, SourceMap, SourceNode, quote

__all__ = ["MAX_DEPTH", "MAX_NODES", "YamlDocument", "read_yaml"]

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_TAG}{name}" for name in ("int", "float", "bool", "null")}
# Aliases may expand a small file into a huge tree ("billion laughs"); a dialplan
# file is a few hundred nodes, so a generous ceiling costs nothing.
MAX_NODES = 100_000
# A flow nests a dozen levels at most (a script tree a few more); the ceiling keeps
# every recursive step (ruamel's composer, this builder, pydantic) far from Python's
# recursion limit.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """The data of one file (None if the file holds no document) and its positions."""

    data: Any
    source: SourceMap


def read_yaml(text: str, file: str) -> tuple[YamlDocument, list[Finding]]:
    """Read one YAML document. The findings are syntax errors, duplicate keys and
    unsupported constructs; with a syntax error the document is empty."""
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        return _EMPTY, [_syntax_finding(file, exc, text)]
    except ReaderError as exc:
        position = _offset_position(text, exc.position)
        message = f"character {exc.character!r} is not allowed in a YAML file"
        return _EMPTY, [Finding(file, position, "error", "yaml-syntax", message)]
    except YAMLError as exc:  # any other ruamel complaint, without a mark
        return _EMPTY, [Finding(file, START, "error", "yaml-syntax", str(exc).splitlines()[0])]
    except RecursionError:
        message = f"values are nested far too deep (a dialplan file nests at most {MAX_DEPTH})"
        return _EMPTY, [Finding(file, START, "error", "yaml-syntax", message)]
    hash_keys = _hash_keys(text, file)
    if root is None:
        return _EMPTY, hash_keys
    builder = _Builder(text, file, yaml)
    data, node = builder.build(root, _mark(root.start_mark))
    return YamlDocument(data, SourceMap(node)), [*hash_keys, *builder.findings]


_EMPTY = YamlDocument(None, SourceMap.empty())


def _mark(mark: Any) -> Position:
    return Position(int(mark.line) + 1, int(mark.column) + 1)


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return Position(line, column)


def _syntax_finding(file: str, exc: MarkedYAMLError, text: str) -> Finding:
    mark = exc.problem_mark or exc.context_mark
    position = _mark(mark) if mark is not None else START
    problem = str(exc.problem or exc.context or "not valid YAML")
    message = problem
    where = _mark(exc.context_mark) if exc.context_mark is not None else None
    if exc.context and exc.problem and where is not None:
        message = f"{problem} ({exc.context} at {where.line}:{where.column})"
    human = _human(problem, where)
    if human is not None:
        message = human
    if "\t" in problem or "'\\t'" in problem:
        message += "; YAML indents with spaces, never tabs"
    marks = [m for m in (exc.context_mark, exc.problem_mark) if m is not None]
    if any(0 <= m.index < len(text) and text[m.index] == "*" for m in marks):
        message += '; a bare * starts an alias: write the key or value "*" in quotes'
    return Finding(file, position, "error", "yaml-syntax", message)


def _human(problem: str, block: Position | None) -> str | None:
    """The parser's wording in an admin's words, for the mistakes people make (the
    position stays the parser's: where it noticed)."""
    opened = f" (the block that starts at line {block.line})" if block is not None else ""
    if problem.startswith("expected <block end>, but found '<block mapping start>'"):
        return (
            f"bad indentation: this key is not lined up with the keys above it{opened}; "
            "keys of one mapping start in the same column"
        )
    if problem.startswith("expected <block end>, but found '<block sequence start>'"):
        return (
            f"bad indentation: this list item is not lined up with the items above it{opened}; "
            "the `-` of one list start in the same column"
        )
    if problem.startswith("expected <block end>"):
        return f"bad indentation: this line does not line up with the lines above it{opened}"
    if problem == "mapping values are not allowed here":
        return (
            "a `:` where no key can start: either this line is indented deeper than the key "
            "above it (line the keys up), or a text contains ': ' and needs quotes"
        )
    if problem.startswith("could not find expected ':'"):
        return (
            "a key without its `:` (or a line that continues the one above without being "
            "indented under it)"
        )
    for opening, closing in (("[", "]"), ("{", "}")):
        if problem.startswith(f"expected ',' or '{closing}'") and block is not None:
            return (
                f"the `{opening}` opened at line {block.line}, column {block.column} is not "
                f"closed with `{closing}` before this"
            )
    if problem.startswith("found unexpected end of stream") and block is not None:
        return f"the quote opened at line {block.line}, column {block.column} is never closed"
    return None


_HASH_KEY = re.compile(r"^([ -]*)#:(\s|$)", re.MULTILINE)


def _hash_keys(text: str, file: str) -> list[Finding]:
    # `#: repeat` is valid YAML, a comment: the option silently vanishes. Nobody starts
    # a comment with a colon, so it is the `#` key that was meant.
    message = 'this line is a comment, not the key #: write the key "#" in quotes'
    return [
        Finding(
            file,
            _offset_position(text, m.start() + len(m.group(1))),
            "error",
            "yaml-syntax",
            message,
        )
        for m in _HASH_KEY.finditer(text)
    ]


class _Builder:
    def __init__(self, text: str, file: str, yaml: YAML) -> None:
        self.text = text
        self.file = file
        self.yaml = yaml
        self.findings: list[Finding] = []
        self.count = 0
        self.stack: list[int] = []
        self.too_big = False

    def error(self, position: Position, rule: str, message: str) -> None:
        self.findings.append(Finding(self.file, position, "error", rule, message))

    def build(self, node: Node, key: Position) -> tuple[Any, SourceNode]:
        value_pos = _mark(node.start_mark)
        self.count += 1
        if self.count > MAX_NODES:
            if not self.too_big:
                self.too_big = True
                self.error(
                    value_pos,
                    "yaml-syntax",
                    f"the file expands to more than {MAX_NODES} values (aliases?)",
                )
            return None, SourceNode(key, value_pos)
        if id(node) in self.stack:
            self.error(value_pos, "yaml-syntax", "an alias refers to a value that contains it")
            return None, SourceNode(key, value_pos)
        if len(self.stack) >= MAX_DEPTH:
            self.error(value_pos, "yaml-syntax", f"values are nested more than {MAX_DEPTH} deep")
            return None, SourceNode(key, value_pos)
        self.stack.append(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, key, value_pos)
            if isinstance(node, SequenceNode):
                return self._sequence(node, key, value_pos)
            if isinstance(node, ScalarNode):
                return self._scalar(node, key, value_pos)
            self.error(value_pos, "yaml-syntax", "unsupported YAML construct")
            return None, SourceNode(key, value_pos)
        finally:
            self.stack.pop()

    def _scalar(
        self, node: ScalarNode, key: Position, value_pos: Position
    ) -> tuple[Any, SourceNode]:
        raw = self.text[node.start_mark.index : node.end_mark.index]
        source = SourceNode(key, value_pos, style=node.style, raw=raw)
        tag = str(node.tag)
        if tag in (f"{_TAG}str", f"{_TAG}timestamp"):
            return str(node.value), source
        if tag in _PLAIN_TAGS:
            try:
                return self.yaml.constructor.construct_object(node), source
            except (YAMLError, ValueError) as exc:
                self.error(value_pos, "bad-type", f"cannot read {quote(node.value)}: {exc}")
                return str(node.value), source
        self.error(
            value_pos, "yaml-syntax", f"unsupported YAML tag {quote(tag)}: write plain values"
        )
        return str(node.value), source

    def _sequence(
        self, node: SequenceNode, key: Position, value_pos: Position
    ) -> tuple[Any, SourceNode]:
        items: list[Any] = []
        children: dict[str | int, SourceNode] = {}
        if node.tag != f"{_TAG}seq":
            self.error(
                value_pos,
                "yaml-syntax",
                f"unsupported YAML tag {quote(node.tag)}: write a plain list",
            )
        for index, item in enumerate(node.value):
            value, child = self.build(item, _mark(item.start_mark))
            items.append(value)
            children[index] = child
        return items, SourceNode(key, value_pos, children=children, is_sequence=True)

    def _mapping(
        self, node: MappingNode, key: Position, value_pos: Position
    ) -> tuple[Any, SourceNode]:
        data: dict[Any, Any] = {}
        children: dict[str | int, SourceNode] = {}
        seen: dict[str, Position] = {}
        merges: list[Node] = []
        if node.tag != f"{_TAG}map":
            self.error(
                value_pos,
                "yaml-syntax",
                f"unsupported YAML tag {quote(node.tag)}: write a plain mapping",
            )
        for key_node, value_node in node.value:
            key_pos = _mark(key_node.start_mark)
            if key_node.tag == f"{_TAG}merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.error(key_pos, "bad-type", "a key must be plain text, not a list or a mapping")
                continue
            key_value, _ = self._scalar(key_node, key_pos, key_pos)
            identity = _identity(key_value)
            if identity in seen:
                first = seen[identity]
                self.error(
                    key_pos,
                    "duplicate-key",
                    f"key {quote(identity)} is already set at line {first.line}; "
                    "YAML keeps only one of them, so remove or rename one",
                )
                continue
            seen[identity] = key_pos
            value, child = self.build(value_node, key_pos)
            data[key_value] = value
            children[identity] = child
        for merge in merges:
            self._merge(merge, data, children, seen)
        return data, SourceNode(key, value_pos, children=children)

    def _merge(
        self,
        merge: Node,
        data: dict[Any, Any],
        children: dict[str | int, SourceNode],
        seen: dict[str, Position],
    ) -> None:
        # `<<: *defaults` (or a list of them): keys written in the mapping win, as YAML says.
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.error(
                    _mark(source.start_mark),
                    "bad-type",
                    "`<<` merges a mapping (an alias such as *defaults)",
                )
                continue
            merged, node = self.build(source, _mark(source.start_mark))
            if not isinstance(merged, dict):
                continue
            for key_value, value in merged.items():
                identity = _identity(key_value)
                if identity not in seen:
                    seen[identity] = node.children[identity].key
                    data[key_value] = value
                    children[identity] = node.children[identity]


def _identity(key: Any) -> str:
    # Option keys 1 and "1" are the same phone key once loaded; so are they here.
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    return str(key)
