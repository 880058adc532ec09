"""The small template language of the REST adapter's config.

`{name}` or `{dotted.path}` placeholders in literal text; `{{` and `}}` are literal
braces. It is deliberately not `str.format`: no attribute access, no format specs, so
a template can only ever name a value. Rendering takes an `escape` function because
the right escaping depends on where the text lands (a path segment, a query value, a
JSON string); values themselves are caller-controlled data and never templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MISSING", "Template", "TemplateError", "lookup_path"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")


class TemplateError(ValueError):
    """A template that does not parse; the message gives the column (1-based)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    parts: tuple[str | tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[str | tuple[str, ...]] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch in "{}" and text[i + 1 : i + 2] == ch:
                literal.append(ch)
                i += 2
            elif ch == "}":
                raise TemplateError(f"column {i + 1}: unmatched '}}' (write '}}}}' for a brace)")
            elif ch == "{":
                end = text.find("}", i)
                if end < 0:
                    raise TemplateError(f"column {i + 1}: '{{' is never closed")
                name = text[i + 1 : end]
                if not _NAME.fullmatch(name):
                    raise TemplateError(
                        f"column {i + 2}: {name!r} is not a placeholder name (letters, digits, _ - and dots)"
                    )
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(tuple(name.split(".")))
                i = end + 1
            else:
                literal.append(ch)
                i += 1
        if literal:
            parts.append("".join(literal))
        return cls(text, tuple(parts))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(".".join(p) for p in self.parts if isinstance(p, tuple))

    @property
    def sole(self) -> str | None:
        """The placeholder when the template is exactly one placeholder and nothing else."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple):
            return ".".join(self.parts[0])
        return None

    def render(self, values: Mapping[str, Any], escape: Callable[[str], str] = str) -> str:
        """Fill placeholders from `values` (dotted names walk nested mappings); a missing
        or null value renders as the empty string. Each value is `escape`d; the literal
        text, written by the admin, is not."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = lookup_path(values, part)
            if value is MISSING or value is None:
                continue
            out.append(escape(_text(value)))
        return "".join(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lookup_path(record: Any, path: tuple[str, ...] | str) -> Any:
    """Walk `a.b.0.c` through mappings and lists; `MISSING` where the path leads nowhere."""
    keys = path.split(".") if isinstance(path, str) else path
    current = record
    for key in keys:
        if isinstance(current, Mapping):
            if key not in current:
                return MISSING
            current = current[key]
        elif isinstance(current, list) and key.isdigit():
            index = int(key)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
