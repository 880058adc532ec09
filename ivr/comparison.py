"""How values compare in the condition language (`ivr.conditions` states the rules).

Keys typed on a phone are text and CRM fields may be numbers, so comparisons read a
digit string as a number where that is what an admin means, never throw, and treat
`null` (a missing name) as a value like any other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias

__all__ = ["COMPARE", "Scalar", "Value", "as_text", "contains", "equal", "order", "truthy"]

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | tuple[Scalar, ...]

_NUMERIC_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
# Longer digit strings are identifiers, not amounts (and int() refuses past 4300 digits).
_MAX_NUMBER_TEXT: Final = 64


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Value) -> float | int | None:
    """The number a value stands for, if any (a digit string counts)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and _NUMERIC_TEXT.fullmatch(value):
        return float(value) if "." in value else int(value)
    return None


def as_text(value: Value) -> str | None:
    """The text a value stands for (numbers read as their digits), or None."""
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value)
    return None


def equal(left: Value, right: Value) -> bool:
    """`==` of the condition language."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) or _is_number(right):
        a, b = _as_number(left), _as_number(right)
        return a is not None and b is not None and a == b
    if isinstance(left, tuple) or isinstance(right, tuple):
        return (
            isinstance(left, tuple)
            and isinstance(right, tuple)
            and len(left) == len(right)
            and all(equal(x, y) for x, y in zip(left, right, strict=True))
        )
    return left == right


def order(left: Value, right: Value) -> int | None:
    """-1, 0, 1, or None when the two cannot be ordered (then every order test is false)."""
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        if math.isnan(a) or math.isnan(b):
            return None
        return (a > b) - (a < b)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    return None


def contains(left: Value, right: Value) -> bool:
    """`in`: membership in a list, or substring of a text."""
    if isinstance(right, tuple):
        return any(equal(left, item) for item in right)
    needle, haystack = as_text(left), as_text(right)
    return needle is not None and haystack is not None and needle in haystack


def truthy(value: Value) -> bool:
    """A value used alone: true unless null, false, 0, \"\" or []."""
    return value not in (None, False, 0, "", ())


def _text_test(test: Callable[[str, str], bool]) -> Callable[[Value, Value], bool]:
    def run(left: Value, right: Value) -> bool:
        a, b = as_text(left), as_text(right)
        return a is not None and b is not None and test(a, b)

    return run


COMPARE: Final[Mapping[str, Callable[[Value, Value], bool]]] = {
    "==": equal,
    "!=": lambda a, b: not equal(a, b),
    "<": lambda a, b: (o := order(a, b)) is not None and o < 0,
    "<=": lambda a, b: (o := order(a, b)) is not None and o <= 0,
    ">": lambda a, b: (o := order(a, b)) is not None and o > 0,
    ">=": lambda a, b: (o := order(a, b)) is not None and o >= 0,
    "in": contains,
    "not in": lambda a, b: not contains(a, b),
    "startswith": _text_test(str.startswith),
    "endswith": _text_test(str.endswith),
}
