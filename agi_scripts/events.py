"""The AGI codec's events: what Asterisk's bytes mean, as values (h11's `_events.py`).

Immutable values compared by value (frozen dataclasses, and `Environment`);
`AgiConnection.next_event()` returns them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from agi_scripts.commands import Command
from agi_scripts.errors import RemoteProtocolError
from agi_scripts.interning import InternTable

__all__ = [
    "NEED_DATA",
    "CommandFailed",
    "ConnectionClosed",
    "Environment",
    "Event",
    "HangupNotice",
    "Response",
]


class _NeedData(enum.Enum):
    """A one-member enum, so that `event is NEED_DATA` narrows the type for mypy."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA


class Environment:
    """The `agi_*` block, keys without the `agi_` prefix, values raw (caller-controlled
    text among them is untrusted: env-hostile-name.txt shows it arrives unescaped).

    A value compared by its `values`; immutable. Kept as the block's values in order
    over a name -> position layout; with the server's `InternTable`, one layout serves
    every call that sent the same names (a held call keeps only its values)."""

    __slots__ = ("_index", "_row")

    _index: Mapping[str, int]
    _row: tuple[str, ...]

    def __init__(self, values: Mapping[str, str], table: InternTable | None = None) -> None:
        names = tuple(values)
        index = {name: i for i, name in enumerate(names)} if table is None else table.layout(names)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_row", tuple(values.values()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Environment is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Environment):
            return NotImplemented
        return dict(self.values) == dict(other.values)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Environment(values={dict(self.values)!r})"

    @property
    def values(self) -> Mapping[str, str]:
        """Every `agi_*` value by name, read-only."""
        return MappingProxyType(dict(zip(self._index, self._row, strict=True)))

    def get(self, key: str, default: str = "") -> str:
        i = self._index.get(key)
        return default if i is None else self._row[i]

    @property
    def network(self) -> bool:
        return self.get("network") == "yes"

    @property
    def network_script(self) -> str:
        """FastAGI: the URL after `host:port/`, query string included (`ivr?flow=main`)."""
        return self.get("network_script")

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def caller_number(self) -> str:
        """`agi_callerid`, or "" when Asterisk says `unknown` (env-no-callerid.txt)."""
        return _known(self.get("callerid"))

    @property
    def caller_name(self) -> str:
        return _known(self.get("calleridname"))

    @property
    def dnid(self) -> str:
        return _known(self.get("dnid"))

    @property
    def language(self) -> str:
        return self.get("language")

    @property
    def args(self) -> tuple[str, ...]:
        """`agi_arg_1`.. in order: the AGI() arguments after the URL or script path."""
        out: list[str] = []
        while (i := self._index.get(f"arg_{len(out) + 1}")) is not None:
            out.append(self._row[i])
        return tuple(out)


def _known(value: str) -> str:
    return "" if value == "unknown" else value


@dataclass(frozen=True, slots=True)
class Response:
    """`200 result=N [(data)] [endpos=M]`, the answer to `command`.

    `result` is kept as text: it is a number for most commands, but the digits
    entered for GET DATA (`200 result=*1`, get-data.txt) and may be empty
    (`200 result=` for `#` alone). `data` is the text in parentheses, unescaped
    (`200 result=1 (a (b) c))` means `a (b) c)`, variables.txt).
    """

    command: Command
    result: str
    data: str | None = None
    endpos: int | None = None

    @property
    def code(self) -> int:
        return 200

    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise RemoteProtocolError(
                f"{self.command.name} answered result={self.result!r}, not a number"
            ) from None


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """Asterisk refused `command`: 510 (unknown command or empty line, invalid.txt),
    511 (not permitted on a dead channel, hangup-idle.txt) or 520 (wrong arguments,
    with the usage text Asterisk printed, raw XML doc markup and all)."""

    command: Command
    code: int
    message: str
    usage: tuple[str, ...] = ()

    @property
    def dead_channel(self) -> bool:
        return self.code == 511


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """The bare `HANGUP` line: the channel hung up (hangup-idle.txt), or the AGI ended
    after our half-close (half-close.txt). Sent between responses, never inside one."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Asterisk closed its side; every later `next_event()` returns this again."""


Event = Environment | Response | CommandFailed | HangupNotice | ConnectionClosed
