"""Sans-I/O AMI codec: bytes in -> banner and messages out; actions in -> bytes out.

The wire, as a real Asterisk 22 sends it (tests/fixtures/asterisk/ami/): one banner line
`Asterisk Call Manager/11.0.0\\r\\n`, then messages of `Key: value\\r\\n` lines, each
ended by an empty line. Framing is done on bytes and a message is decoded only once
complete, so a UTF-8 character split across TCP reads is never lost (panoramisk decodes
every chunk with errors='ignore'). Bytes that are not UTF-8 become U+FFFD: a caller ID
from a SIP peer is not guaranteed to be UTF-8 and must not cost us the event.

A message is an ordered multi-map: with `channelvars` every event repeats the key
`ChanVariable` once per variable, and a dict would keep one of them.

Values are kept byte for byte after the `": "` separator, including a bare `\\r` that
Asterisk echoes from an AGI command (`Command: NOOP\\r`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NoReturn

__all__ = [
    "BANNER_PREFIX",
    "Banner",
    "Decoder",
    "InvalidAction",
    "MalformedMessage",
    "Message",
    "ProtocolError",
    "Signal",
    "encode_action",
    "encode_message",
]

BANNER_PREFIX = "Asterisk Call Manager/"
_EOM = b"\r\n\r\n"
_EOL = b"\r\n"
# Keys Asterisk emits and accepts: letters, digits, '-', '_' (e.g. `Cause-txt`).
_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ProtocolError(Exception):
    """The peer sent something that is not AMI (or the connection ended mid-message)."""


class MalformedMessage(ProtocolError):
    """One message could not be parsed; it was consumed and the decoder can go on."""


class InvalidAction(ValueError):
    """An action or message to send carries a key or value that would break framing."""


class Signal(enum.Enum):
    """What `Decoder.next_event` returns when it has no message for you."""

    NEED_DATA = "need-data"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line of a session: `Asterisk Call Manager/<version>`."""

    version: str


class Message:
    """One AMI message (event, response or action): ordered `(key, value)` pairs.

    Lookups are case-insensitive, as Asterisk's own `astman_get_header`; `get` returns
    the first value of a key, `getall` every value in order.
    """

    __slots__ = ("_index", "_lower", "headers")

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        # Built on first use, once per message: every event is read by several lookups
        # (the triggers ask ~10 keys and scan `ChanVariable` lines of ~35-line events).
        self._lower: tuple[str, ...] | None = None
        self._index: dict[str, str] | None = None

    def _lowered(self) -> tuple[str, ...]:
        lower = self._lower
        if lower is None:
            lower = self._lower = tuple([key.lower() for key, _ in self.headers])
        return lower

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            # reversed: the first of repeated keys is the one left in the dict
            index = self._index = {
                key: value
                for key, (_, value) in zip(
                    reversed(self._lowered()), reversed(self.headers), strict=True
                )
            }
        return index

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._lookup().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lookup()

    def getall(self, key: str) -> list[str]:
        wanted = key.lower()
        if wanted not in self._lookup():
            return []
        return [
            value
            for k, (_, value) in zip(self._lowered(), self.headers, strict=True)
            if k == wanted
        ]

    def variables(self, key: str = "ChanVariable") -> dict[str, str]:
        """`NAME=VALUE` lines of `key` (`ChanVariable`, `DestChanVariable`) as a dict.

        Only the names repeat across lines, never within one channel's set, so a dict
        is right here (it is the raw message that must keep every line).
        """
        out: dict[str, str] = {}
        for raw in self.getall(key):
            name, _, value = raw.partition("=")
            out[name] = value
        return out

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action(self) -> str | None:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.headers == self.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        head = self.headers[0] if self.headers else ("", "")
        return f"<Message {head[0]}: {head[1]!r} ({len(self.headers)} headers)>"


def _parse(frame: bytes) -> Message:
    # Split on the first ": ", not ":": keys can hold a channel name, and channel
    # names can hold colons (`ChanVariable(IAX2/10.0.0.1:4569-1): X=1`). The
    # comprehensions are the common case (every line `Key: value`), twice as fast as
    # a loop; any other line goes the line-by-line way, which accepts a bare `Key:`.
    parts = [line.partition(": ") for line in frame.decode("utf-8", errors="replace").split("\r\n")]
    headers = [(key, value) for key, sep, value in parts if sep and key]
    if len(headers) == len(parts):
        return Message(headers)
    headers = []
    for key, sep, value in parts:
        if sep and key:
            headers.append((key, value))
        elif not sep and key.endswith(":") and len(key) > 1:
            headers.append((key[:-1], ""))
        else:
            line = key + sep + value
            raise MalformedMessage(f"not a 'Key: value' line: {line[:80]!r}")
    return Message(headers)


class Decoder:
    """Incremental AMI decoder (h11 style): `receive_data` then `next_event` until
    `Signal.NEED_DATA`. `receive_data(b"")` is EOF; `next_event` then gives
    `Signal.CLOSED`, or raises `ProtocolError` if a message was cut off.

    `expect_banner=False` decodes the client's side (actions), as the simulator does.
    A frame larger than `max_message` bytes is a `ProtocolError`: the peer is not AMI,
    and we will not buffer it without bound.
    """

    def __init__(self, *, expect_banner: bool = True, max_message: int = 1 << 20) -> None:
        self._buffer = bytearray()
        self._scan_from = 0
        self._want_banner = expect_banner
        self._eof = False
        self._max = max_message
        self._failed: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        if self._eof:
            if data:
                raise ProtocolError("data received after EOF")
            return
        if data:
            self._buffer += data
        else:
            self._eof = True

    def next_event(self) -> Banner | Message | Signal:
        if self._failed is not None:
            raise self._failed
        while True:
            if self._want_banner:
                return self._next_banner()
            end = self._buffer.find(_EOM, self._scan_from)
            if end < 0:
                return self._incomplete()
            frame = bytes(self._buffer[:end])
            del self._buffer[: end + len(_EOM)]
            self._scan_from = 0
            if not frame.strip(b"\r\n"):
                continue  # stray blank lines between messages carry nothing
            return _parse(frame.lstrip(b"\r\n"))

    def __iter__(self) -> Iterator[Banner | Message]:
        """Every complete banner or message now buffered."""
        while True:
            item = self.next_event()
            if isinstance(item, Signal):
                return
            yield item

    def _next_banner(self) -> Banner | Signal:
        end = self._buffer.find(_EOL)
        if end < 0:
            if len(self._buffer) > 256:
                self._fail(ProtocolError("no AMI banner in the first 256 bytes"))
            if self._eof:
                self._fail(ProtocolError("connection closed before the AMI banner"))
            return Signal.NEED_DATA
        line = bytes(self._buffer[:end]).decode("utf-8", errors="replace")
        del self._buffer[: end + len(_EOL)]
        if not line.startswith(BANNER_PREFIX):
            self._fail(ProtocolError(f"not an AMI banner: {line[:80]!r}"))
        self._want_banner = False
        return Banner(line[len(BANNER_PREFIX) :])

    def _incomplete(self) -> Signal:
        size = len(self._buffer)
        if size > self._max:
            self._fail(ProtocolError(f"AMI message larger than {self._max} bytes"))
        if self._eof:
            if self._buffer.strip(b"\r\n"):
                self._fail(
                    ProtocolError(f"connection closed in the middle of a message ({size} bytes)")
                )
            return Signal.CLOSED
        # the terminator may straddle the next read: rescan the last 3 bytes only
        self._scan_from = max(0, size - (len(_EOM) - 1))
        return Signal.NEED_DATA

    def _fail(self, error: ProtocolError) -> NoReturn:
        self._failed = error
        raise error


def _check(key: str, value: str) -> None:
    if _KEY.fullmatch(key) is None:
        raise InvalidAction(f"invalid AMI key {key!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidAction(f"value of {key} contains CR, LF or NUL: {value!r}")


def encode_message(headers: Iterable[tuple[str, str]]) -> bytes:
    """`Key: value\\r\\n...\\r\\n` with every key and value checked for CR/LF injection."""
    parts: list[str] = []
    for key, value in headers:
        _check(key, value)
        parts.append(f"{key}: {value}\r\n")
    if not parts:
        raise InvalidAction("an AMI message needs at least one line")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def encode_action(action: str, action_id: str, fields: Iterable[tuple[str, str]] = ()) -> bytes:
    """An action with its ActionID first, as Asterisk echoes it on the response."""
    if not action or not action_id:
        raise InvalidAction("an action needs a name and an ActionID")
    return encode_message([("Action", action), ("ActionID", action_id), *fields])
