"""The AGI codec's events: what Asterisk's bytes mean, as values (h11's `_events.py`).

Frozen dataclasses compared by value; `AgiConnection.next_event()` returns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from agi_scripts.commands import Command
from agi_scripts.errors import RemoteProtocolError

__all__ = [
    "NEED_DATA",
    "CommandFailed",
    "ConnectionClosed",
    "Environment",
    "Event",
    "HungUp",
    "Response",
]


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


@dataclass(frozen=True, slots=True)
class Environment:
    """The `agi_*` block, keys without the `agi_` prefix, values raw (caller-controlled
    text among them is untrusted: env-hostile-name.txt shows it arrives unescaped)."""

    values: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @classmethod
    def adopt(cls, values: dict[str, str]) -> Environment:
        """The event over `values` itself, not a copy: for the codec, which gives its
        dict up (a held call keeps one environment block, not two)."""
        env = object.__new__(cls)
        object.__setattr__(env, "values", MappingProxyType(values))
        return env

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def network(self) -> bool:
        return self.values.get("network") == "yes"

    @property
    def network_script(self) -> str:
        """FastAGI: the URL after `host:port/`, query string included (`ivr?flow=main`)."""
        return self.values.get("network_script", "")

    @property
    def request(self) -> str:
        return self.values.get("request", "")

    @property
    def uniqueid(self) -> str:
        return self.values.get("uniqueid", "")

    @property
    def channel(self) -> str:
        return self.values.get("channel", "")

    @property
    def caller_number(self) -> str:
        """`agi_callerid`, or "" when Asterisk says `unknown` (env-no-callerid.txt)."""
        return _known(self.values.get("callerid", ""))

    @property
    def caller_name(self) -> str:
        return _known(self.values.get("calleridname", ""))

    @property
    def dnid(self) -> str:
        return _known(self.values.get("dnid", ""))

    @property
    def language(self) -> str:
        return self.values.get("language", "")

    @property
    def args(self) -> tuple[str, ...]:
        """`agi_arg_1`.. in order: the AGI() arguments after the URL or script path."""
        out: list[str] = []
        while (value := self.values.get(f"arg_{len(out) + 1}")) is not None:
            out.append(value)
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
class HungUp:
    """The bare `HANGUP` line: the channel hung up (hangup-idle.txt), or the AGI ended
    after our half-close (half-close.txt). Sent between responses, never inside one."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """Asterisk closed its side; every later `next_event()` returns this again."""


Event = Environment | Response | CommandFailed | HungUp | ConnectionClosed
