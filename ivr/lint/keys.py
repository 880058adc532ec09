"""Phone keys: options on real keys, global keys not reused, no clash with direct dial."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from ivr.flow import DirectDial, Flow, InputNode, MenuNode
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = [
    "PHONE_KEYS",
    "check_direct_dial_collision",
    "check_option_keys",
    "check_shadowed_global_keys",
    "first_keys",
]

PHONE_KEYS = frozenset("0123456789*#")
_DIGITS = frozenset("0123456789")
_ROLES = ("operator", "back", "repeat")


def _global_keys(flow: Flow) -> list[tuple[str, str]]:
    keys = flow.settings.keys
    pairs = [(role, getattr(keys, role)) for role in _ROLES]
    return [(role, key) for role, key in pairs if key is not None]


def check_option_keys(ctx: LintContext) -> Iterator[Finding]:
    """option-key: every option, global key, terminator and confirm key is one phone key."""
    for loaded in ctx.flows():
        flow = loaded.model

        def bad(key: str) -> bool:
            return len(key) != 1 or key not in PHONE_KEYS

        for role, key in _global_keys(flow):
            if bad(key):
                message = (
                    f"settings.keys.{role} {quote(key)} is not a phone key: use one of 0-9, * or #"
                )
                yield ctx.at("option-key", flow.id, ("settings", "keys", role), message, value=True)
        for node_id, node in flow.nodes.items():
            if isinstance(node, MenuNode):
                for key in node.options:
                    if bad(key):
                        message = (
                            f"option key {quote(key)} of menu {quote(node_id)} is not a phone key: "
                            "use one of 0-9, * or # (one key per option)"
                        )
                        yield ctx.at(
                            "option-key", flow.id, ("nodes", node_id, "options", key), message
                        )
            elif isinstance(node, InputNode):
                fields: list[tuple[tuple[str, ...], str | None]] = [
                    (("terminator",), node.terminator)
                ]
                if node.confirm is not None:
                    fields += [
                        (("confirm", "yes"), node.confirm.yes),
                        (("confirm", "no"), node.confirm.no),
                    ]
                for path, entry_key in fields:
                    if entry_key is not None and bad(entry_key):
                        message = f"{'.'.join(path)} {quote(entry_key)} of input {quote(node_id)} is not a phone key"
                        yield ctx.at(
                            "option-key", flow.id, ("nodes", node_id, *path), message, value=True
                        )
                if node.confirm is not None and node.confirm.yes == node.confirm.no:
                    message = f"input {quote(node_id)} confirms and retries on the same key {quote(node.confirm.yes)}"
                    yield ctx.at("option-key", flow.id, ("nodes", node_id, "confirm"), message)


def check_shadowed_global_keys(ctx: LintContext) -> Iterator[Finding]:
    """shadowed-global-key: no option on a global key; no two global keys alike."""
    for loaded in ctx.flows():
        flow = loaded.model
        roles = _global_keys(flow)
        seen: dict[str, str] = {}
        for role, key in roles:
            if key in seen:
                message = (
                    f"settings.keys.{role} and settings.keys.{seen[key]} are both {quote(key)}"
                )
                yield ctx.at(
                    "shadowed-global-key", flow.id, ("settings", "keys", role), message, value=True
                )
            seen.setdefault(key, role)
        for node_id, node in flow.nodes.items():
            if not isinstance(node, MenuNode):
                continue
            for key in node.options:
                if key in seen:
                    role = seen[key]
                    message = (
                        f"option {key} of menu {quote(node_id)} is the global {role} key: callers who "
                        f"learnt that {key} means {role} everywhere get this option instead; use another "
                        f"key, or turn the {role} key off (settings.keys.{role}: null)"
                    )
                    yield ctx.at(
                        "shadowed-global-key", flow.id, ("nodes", node_id, "options", key), message
                    )


def check_direct_dial_collision(ctx: LintContext) -> Iterator[Finding]:
    """direct-dial-collision: no option or global key that an extension can start with."""
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, MenuNode) or node.direct_dial is None:
                continue
            starts = first_keys(node.direct_dial)
            if starts is None:
                continue
            pattern = quote(node.direct_dial.pattern)
            for key in node.options:
                if key in starts:
                    message = (
                        f"option {key} of menu {quote(node_id)}: extensions matching direct_dial "
                        f"{pattern} can start with {key}, so a caller pressing {key} waits while the "
                        "menu waits for more digits; use another key or narrow the pattern"
                    )
                    yield ctx.at(
                        "direct-dial-collision",
                        flow.id,
                        ("nodes", node_id, "options", key),
                        message,
                    )
            for role, key in _global_keys(flow):
                if key in starts and key not in node.options:
                    message = (
                        f"extensions matching direct_dial {pattern} of menu {quote(node_id)} can start "
                        f"with {key}, the {role} key; narrow the pattern or change settings.keys.{role}"
                    )
                    path = ("nodes", node_id, "direct_dial", "pattern")
                    yield ctx.at("direct-dial-collision", flow.id, path, message, value=True)


class _Unknown(Exception):
    """A regular-expression construct this analysis does not follow."""


def first_keys(dial: DirectDial) -> frozenset[str] | None:
    """The phone keys an extension matching `dial.pattern` can start with, or None
    when the pattern uses something this analysis does not follow.

    Python's own regex parser gives the pattern's structure; from it, the keys that
    can come first are those of the first element that must match, plus those of every
    optional element before it. (Lookarounds are read as matching nothing, so the
    answer may include a key the pattern in fact refuses: a warning too many, never
    one too few.)
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        parsed = parser.parse(dial.pattern)
        keys, _ = _first(list(parsed))
    except (ImportError, AttributeError, _Unknown, TypeError, ValueError):
        return None
    return frozenset(keys)


def _first(items: Iterable[Any]) -> tuple[set[str], bool]:
    """(keys that can come first, whether the sequence can match nothing)."""
    out: set[str] = set()
    for op, argument in items:
        keys, nullable = _first_item(str(op), argument)
        out |= keys
        if not nullable:
            return out, False
    return out, True


def _first_item(op: str, argument: Any) -> tuple[set[str], bool]:
    if op == "LITERAL":
        return {chr(argument)} & PHONE_KEYS, False
    if op == "NOT_LITERAL":
        return set(PHONE_KEYS - {chr(argument)}), False
    if op == "ANY":
        return set(PHONE_KEYS), False
    if op == "IN":
        return _charset(argument), False
    if op == "BRANCH":
        keys: set[str] = set()
        nullable = False
        for branch in argument[1]:
            branch_keys, branch_nullable = _first(list(branch))
            keys |= branch_keys
            nullable = nullable or branch_nullable
        return keys, nullable
    if op == "SUBPATTERN":
        return _first(list(argument[-1]))
    if op == "ATOMIC_GROUP":
        return _first(list(argument))
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _high, inner = argument
        keys, nullable = _first(list(inner))
        return keys, nullable or low == 0
    if op in ("AT", "ASSERT", "ASSERT_NOT"):
        return set(), True
    raise _Unknown(op)


_CATEGORIES = {
    "CATEGORY_DIGIT": _DIGITS,
    "CATEGORY_UNI_DIGIT": _DIGITS,
    "CATEGORY_NOT_DIGIT": frozenset("*#"),
    "CATEGORY_UNI_NOT_DIGIT": frozenset("*#"),
    "CATEGORY_WORD": _DIGITS,
    "CATEGORY_UNI_WORD": _DIGITS,
    "CATEGORY_NOT_WORD": frozenset("*#"),
    "CATEGORY_UNI_NOT_WORD": frozenset("*#"),
    "CATEGORY_SPACE": frozenset(),
    "CATEGORY_UNI_SPACE": frozenset(),
    "CATEGORY_NOT_SPACE": PHONE_KEYS,
    "CATEGORY_UNI_NOT_SPACE": PHONE_KEYS,
}


def _charset(items: Iterable[Any]) -> set[str]:
    keys: set[str] = set()
    negate = False
    for op, argument in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            keys |= {chr(argument)} & PHONE_KEYS
        elif name == "RANGE":
            low, high = argument
            keys |= {k for k in PHONE_KEYS if low <= ord(k) <= high}
        elif name == "CATEGORY":
            category = _CATEGORIES.get(str(argument))
            if category is None:
                raise _Unknown(str(argument))
            keys |= category
        else:
            raise _Unknown(name)
    return set(PHONE_KEYS - keys) if negate else keys
