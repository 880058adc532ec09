"""Where things are in a dialplan file, and what is wrong there.

A `SourceMap` remembers the line and column of every key, value and list item of a
YAML file, so the loader can point a pydantic error at the offending text and lint
rules can point a finding at a node, an option or a field. A `Finding` is one line of
`callpop lint` output: `FILE:LINE:COL: error|warning: MESSAGE [rule-id]`, 1-based.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Finding", "Position", "Severity", "SourceMap", "SourceNode", "quote"]

Severity = Literal["error", "warning"]
PathPart = str | int

_SEVERITY_ORDER: Mapping[str, int] = {"error": 0, "warning": 1}


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int

    def __post_init__(self) -> None:
        if self.line < 1 or self.column < 1:
            raise ValueError(f"positions are 1-based, got {self.line}:{self.column}")


START = Position(1, 1)


def quote(value: object, limit: int = 60) -> str:
    """A value from a file or a caller, quoted for a one-line message.

    Control characters are escaped so a value can never start a new finding line or
    move the cursor of the admin's terminal; long values are cut.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _escape(text.replace("\\", "\\\\"))
    if "'" in text and '"' not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "\\'") + "'"


def _escape(text: str) -> str:
    """Control characters made visible, so text stays on one line of one terminal."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place. `file` is the path as the user named it."""

    file: str
    position: Position
    severity: Severity
    rule: str
    message: str

    def format(self) -> str:
        # Defence in depth: messages quote values with `quote`, but a newline that
        # slipped through (or sits in a file name) must not forge a second finding.
        return (
            f"{_escape(self.file)}:{self.position.line}:{self.position.column}: "
            f"{self.severity}: {_escape(self.message)} [{self.rule}]"
        )

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        return (
            self.file,
            self.position.line,
            self.position.column,
            _SEVERITY_ORDER[self.severity],
            self.rule,
            self.message,
        )


@dataclass(frozen=True, slots=True)
class SourceNode:
    """Where one key/value pair (or list item) sits in the file.

    `key` is the position of the mapping key (for a list item, of the item itself);
    `value` the position of the value. For a scalar value, `style` is its YAML style
    (None for plain, `'` `"` `|` `>`) and `raw` its exact source text, so an offset into
    the value (a condition's syntax error) can be turned into a column.
    """

    key: Position
    value: Position
    style: str | None = None
    raw: str | None = None
    children: Mapping[PathPart, SourceNode] = field(default_factory=dict)
    is_sequence: bool = False


class SourceMap:
    """Positions in one file, looked up by the path of keys and list indexes.

    `positions.of("nodes", "main_menu", "options", "5")` is where option 5 of
    main_menu is written. Paths may carry extra parts that are not in the file (the
    node-kind tag pydantic inserts, e.g. `("nodes", "x", "menu", "timeout")`): parts
    that match nothing are skipped, and a path that leads nowhere gives the position of
    the deepest part found, so a finding always lands near its cause.
    """

    __slots__ = ("_root",)

    def __init__(self, root: SourceNode) -> None:
        self._root = root

    @classmethod
    def empty(cls) -> SourceMap:
        return cls(SourceNode(START, START))

    def resolve(self, *path: PathPart) -> tuple[SourceNode, tuple[PathPart, ...]]:
        """The deepest node along `path`, and the parts of `path` it matched."""
        node = self._root
        matched: list[PathPart] = []
        for part in path:
            child = _child(node, part)
            if child is not None:
                node = child
                matched.append(part)
        return node, tuple(matched)

    def find(self, *path: PathPart) -> SourceNode | None:
        """The node at exactly `path`, or None if some part of it is not in the file."""
        node = self._root
        for part in path:
            child = _child(node, part)
            if child is None:
                return None
            node = child
        return node

    def of(self, *path: PathPart) -> Position:
        """Where the entry at `path` is written: its key, or the list item."""
        return self.resolve(*path)[0].key

    def value_of(self, *path: PathPart) -> Position:
        """Where the value at `path` starts."""
        return self.resolve(*path)[0].value

    def at_offset(self, path: tuple[PathPart, ...], offset: int) -> Position:
        """The position of character `offset` of the scalar value at `path`.

        Exact for plain and quoted scalars on one line and for literal blocks; for
        other shapes (folded or multi-line flow scalars) it is the value's start.
        """
        node = self.find(*path)
        if node is None:
            return self.value_of(*path)
        start = node.value
        raw = node.raw
        if raw is None or offset < 0:
            return start
        if node.style is None and "\n" not in raw:
            return Position(start.line, start.column + offset)
        if node.style in ("'", '"') and "\n" not in raw and "\\" not in raw and "''" not in raw:
            return Position(start.line, start.column + 1 + offset)
        if node.style == "|":
            return _in_literal_block(start, raw, offset)
        return start


def _child(node: SourceNode, part: PathPart) -> SourceNode | None:
    if node.is_sequence:
        if isinstance(part, int) and not isinstance(part, bool):
            return node.children.get(part)
        return None
    if isinstance(part, bool):
        return None
    return node.children.get(str(part))


def _in_literal_block(start: Position, raw: str, offset: int) -> Position:
    # raw is `|` (indicators, comment) then the content lines, each indented.
    lines = raw.split("\n")
    content = lines[1:]
    indent = min((len(line) - len(line.lstrip(" ")) for line in content if line.strip()), default=0)
    row = 0
    remaining = offset
    for row, line in enumerate(content):
        width = len(line) - indent
        if remaining <= width:
            return Position(start.line + 1 + row, indent + 1 + remaining)
        remaining -= max(width, 0) + 1
    return Position(start.line + 1 + row, indent + 1)
