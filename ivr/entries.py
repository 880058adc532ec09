"""What a caller's keys mean: menu choices, input entries and their validation.

Pure functions over the flow model, kept apart from the `Session` so each rule is
stated once and tested alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ivr.callflow import GlobalKeys, InputNode, MenuNode

__all__ = [
    "MenuChoice",
    "check_entry",
    "luhn_valid",
    "menu_choice",
    "split_menu_buffer",
    "take_entry",
]

_DIGITS = re.compile(r"[0-9]+", re.ASCII)

ChoiceKind = Literal["option", "operator", "back", "repeat", "extension", "invalid"]


@dataclass(frozen=True, slots=True)
class MenuChoice:
    kind: ChoiceKind
    key: str
    """The key chosen, or the extension dialled."""
    rest: str = ""
    """Keys typed after the choice: type-ahead for the next node that listens."""


def menu_choice(entry: str, node: MenuNode, keys: GlobalKeys) -> MenuChoice:
    """What an entry means in a menu.

    An empty entry is the terminator pressed alone: `#`, whatever the driver did with
    it (AGI's GET DATA drops `#` and answers `200 result=`, a caller asking to repeat).
    An entry that is a whole direct-dial number is the extension. Otherwise the first
    key decides and the rest is type-ahead: an option first (a menu option overrides a
    global key; lint warns), then the global keys. Anything else is invalid, and the
    keys after it are dropped: the caller is no longer where they thought they were.
    """
    if entry == "":
        entry = "#"
    dial = node.direct_dial
    if (
        dial is not None
        and dial.min_digits <= len(entry) <= dial.max_digits
        and re.fullmatch(dial.pattern, entry)
    ):
        return MenuChoice("extension", entry)
    key, rest = entry[0], entry[1:]
    if key in node.options:
        return MenuChoice("option", key, rest)
    global_keys: tuple[tuple[ChoiceKind, str | None], ...] = (
        ("operator", keys.operator),
        ("back", keys.back),
        ("repeat", keys.repeat),
    )
    for kind, global_key in global_keys:
        if key == global_key:
            return MenuChoice(kind, key, rest)
    return MenuChoice("invalid", key)


def split_menu_buffer(buffer: str, node: MenuNode) -> tuple[str, str]:
    """The entry a menu takes from the type-ahead buffer, and what stays buffered.

    A menu without direct dial takes one key. With direct dial it takes the keys up to
    a `#` (dropped) or up to the longest extension: a caller who typed ahead has
    finished typing, so nothing is gained by waiting for more.
    """
    dial = node.direct_dial
    if dial is None:
        return buffer[0], buffer[1:]
    end = buffer.find("#", 0, dial.max_digits + 1)
    if end >= 0:
        return buffer[:end], buffer[end + 1 :]
    return buffer[: dial.max_digits], buffer[dial.max_digits :]


def take_entry(buffer: str, terminator: str | None, max_digits: int) -> tuple[str, str, bool]:
    """Split an input's entry off the type-ahead buffer: `(entry, rest, complete)`.

    The entry is complete at the terminator (dropped) or at `max_digits`; otherwise
    the caller is still typing and the entry is the start of what they will enter.
    """
    if terminator is not None:
        end = buffer.find(terminator, 0, max_digits + 1)
        if end >= 0:
            return buffer[:end], buffer[end + 1 :], True
    if len(buffer) >= max_digits:
        return buffer[:max_digits], buffer[max_digits:], True
    return buffer, "", False


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of card numbers and many account numbers."""
    if not _DIGITS.fullmatch(digits):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def check_entry(entry: str, node: InputNode) -> str | None:
    """Why an input entry is refused (`too-short`, `too-long`, `not-digits`, `pattern`,
    `luhn`, `range`), or None if it is valid.

    Without a pattern an entry is digits only; a pattern may allow `*` (or `#` when it
    is not the terminator), and then decides alone what the entry may hold.
    """
    if len(entry) < node.min_digits:
        return "too-short"
    if len(entry) > node.max_digits:
        return "too-long"
    rules = node.validate_
    is_digits = _DIGITS.fullmatch(entry) is not None
    if rules is not None and rules.pattern is not None:
        if re.fullmatch(rules.pattern, entry) is None:
            return "pattern"
    elif not is_digits:
        return "not-digits"
    if rules is None:
        return None
    if rules.luhn and not luhn_valid(entry):
        return "luhn"
    if rules.min_value is not None or rules.max_value is not None:
        if not is_digits:
            return "range"
        value = int(entry)
        if rules.min_value is not None and value < rules.min_value:
            return "range"
        if rules.max_value is not None and value > rules.max_value:
            return "range"
    return None
