"""Prompt templates: `digits: "{vars.account}"`, `number: "{customer.open_cases}"`.

A template is text with `{root.field}` placeholders, the roots being those of the
condition language (`vars`, `customer`, `caller`, `call`), plus `{digits}`, the entry
being confirmed in an input's `confirm` prompts. Text outside placeholders is kept
as written (`digits: "1{vars.ext}"`). A placeholder with no value is empty.

Filled values are caller- or CRM-controlled: a `digits` prompt keeps only the
digits 0-9 of the result and a `number` prompt only a number, so nothing else ever
reaches the driver (and so no AGI argument or ARI URL can be shaped by a caller).
A prompt whose value has nothing to say is left out rather than failing the call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Final, TypeAlias

from ivr.actions import SayDigits, SayNumber, Sound, Spoken
from ivr.callflow import Prompt

__all__ = ["ROOTS", "Value", "Values", "fill", "placeholders", "resolve", "text_of"]

ROOTS: Final = ("vars", "customer", "caller", "call")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}", re.ASCII)
_NOT_DIGIT = re.compile(r"[^0-9]", re.ASCII)
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)

Value: TypeAlias = str | int | float | bool | None
Values: TypeAlias = Callable[[str], Value]
"""Gives the value of a placeholder name such as `vars.account`, or None."""


def placeholders(template: str) -> list[str]:
    """The placeholder names a template uses, in order (for lint)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def text_of(value: Value) -> str:
    """How a value reads inside a template."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fill(template: str, values: Values) -> str:
    return _PLACEHOLDER.sub(lambda m: text_of(values(m.group(1))), template)


def _say_digits(template: str, values: Values, secret: Callable[[str], bool]) -> SayDigits | None:
    digits = _NOT_DIGIT.sub("", fill(template, values))
    if not digits:
        return None
    return SayDigits(digits, sensitive=any(secret(name) for name in placeholders(template)))


def _say_number(template: str, values: Values) -> SayNumber | None:
    text = fill(template, values).strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    # Asterisk says numbers up to the billions; past that it is not a number to say.
    if not math.isfinite(value) or abs(value) >= 1e12:
        return None
    return SayNumber(round(value))


def _nothing_secret(name: str) -> bool:
    return False


def resolve(
    prompts: Iterable[Prompt], values: Values, secret: Callable[[str], bool] = _nothing_secret
) -> tuple[Spoken, ...]:
    """The prompts ready to play, templates filled; digits said from a placeholder that
    `secret` names are marked sensitive."""
    out: list[Spoken] = []
    for prompt in prompts:
        if prompt.sound is not None:
            out.append(Sound(prompt.sound, prompt.text))
        elif prompt.digits is not None:
            said = _say_digits(prompt.digits, values, secret)
            if said is not None:
                out.append(said)
        elif prompt.number is not None:
            number = _say_number(prompt.number, values)
            if number is not None:
                out.append(number)
    return tuple(out)
