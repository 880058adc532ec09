"""A sans-I/O AGI codec: bytes from Asterisk in, events out; commands in, bytes out.

The shape is h11's `Connection`: `receive_data(bytes)` (`b""` is EOF),
`next_event()` returning an event or `NEED_DATA`, `send(command)` returning the bytes
to write. Nothing here touches a socket or a clock, so the FastAGI server, the classic
AGI script and the tests all drive the same object.

Two layers, as on the wire:

1. the `agi_*` environment block, `key: value` lines ended by an empty line;
2. then command/response: `200 result=N (data) endpos=M`, `510 ...`, `511 ...`, a
   multi-line `520-...` usage ended by `520 End of proper usage.`, and the bare
   `HANGUP` line Asterisk writes between commands when the caller hangs up.

The events are in `events.py` (re-exported here). Every rule below cites the recorded
transcript that shows it, as h11 cites its RFC
(files in tests/fixtures/asterisk/agi/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, NoReturn

from agi_scripts.commands import Command
from agi_scripts.errors import AgiError, LocalProtocolError, RemoteProtocolError
from agi_scripts.events import (
    NEED_DATA,
    CommandFailed,
    ConnectionClosed,
    Environment,
    Event,
    HangupNotice,
    Response,
    _NeedData,
)
from agi_scripts.interning import InternTable

__all__ = [
    "LIVE_CHANNEL_COMMANDS",
    "NEED_DATA",
    "AgiConnection",
    "AgiError",
    "CommandFailed",
    "ConnectionClosed",
    "Environment",
    "Event",
    "HangupNotice",
    "LocalProtocolError",
    "RemoteProtocolError",
    "Response",
    "State",
]

# A line of Asterisk's own is at most a few hundred bytes (the longest are 520 usage
# texts, ~450). 16 KiB is h11's limit for an incomplete event: far above anything real,
# low enough that a peer streaming bytes without a newline cannot grow our memory.
DEFAULT_MAX_LINE = 16 * 1024
# The environment is ~25 lines (env-callerid.txt) plus one line per AGI() argument,
# and Asterisk accepts at most 128 of those (MAX_ARGS in res_agi.c).
DEFAULT_MAX_ENV_BYTES = 64 * 1024
MAX_ENV_LINES = 256
# The longest 520 usage recorded has 6 lines (invalid.txt); bound what we accumulate.
MAX_USAGE_LINES = 200

# Commands res_agi refuses on a dead channel with 511 (its command table's `dead`
# column is 0 for them; hangup-idle.txt shows ANSWER, STREAM FILE, WAIT FOR DIGIT,
# GET DATA, CHANNEL STATUS and HANGUP answered 511 while GET/SET VARIABLE, VERBOSE,
# DATABASE PUT and EXEC still answer 200). Unknown commands still get their 510.
LIVE_CHANNEL_COMMANDS: Final = frozenset(
    {
        "ANSWER",
        "CHANNEL STATUS",
        "CONTROL STREAM FILE",
        "GET DATA",
        "GET OPTION",
        "HANGUP",
        "RECEIVE CHAR",
        "RECEIVE TEXT",
        "RECORD FILE",
        "SAY ALPHA",
        "SAY DATE",
        "SAY DATETIME",
        "SAY DIGITS",
        "SAY NUMBER",
        "SAY PHONETIC",
        "SAY TIME",
        "SEND IMAGE",
        "SEND TEXT",
        "SET AUTOHANGUP",
        "SET CALLERID",
        "SET CONTEXT",
        "SET EXTENSION",
        "SET MUSIC",
        "SET PRIORITY",
        "SPEECH ACTIVATE GRAMMAR",
        "SPEECH CREATE",
        "SPEECH DEACTIVATE GRAMMAR",
        "SPEECH LOAD GRAMMAR",
        "SPEECH RECOGNIZE",
        "SPEECH SET",
        "STREAM FILE",
        "TDD MODE",
        "WAIT FOR DIGIT",
    }
)


class State(Enum):
    ENVIRONMENT = "environment"  # reading the agi_* block
    IDLE = "idle"  # no command in flight
    AWAITING = "awaiting"  # a command sent, its response not complete yet
    USAGE = "usage"  # inside a multi-line 520
    CLOSED = "closed"  # EOF received and every event before it returned
    ERROR = "error"  # the peer broke the protocol; nothing more will parse


# `(data)` is greedy so that a value holding `) ` keeps its text (variables.txt), and
# `endpos=` is only taken at the very end (RECORD FILE: `200 result=35 (dtmf) endpos=0`).
_RESULT = re.compile(rb"200 result=(\S*)(?: \((.*)\))?(?: endpos=(-?\d+))?", re.DOTALL)
_FAILURE = re.compile(rb"(510|511|520) (.*)", re.DOTALL)
_USAGE_START = b"520-"
_USAGE_END = b"520 "
_HANGUP = b"HANGUP"


@dataclass(slots=True)
class _Usage:
    """A multi-line 520 being read (rare: only our own bugs get one)."""

    head: str
    lines: list[str] = field(default_factory=list)


_KEY_CHARS: Final = re.compile(rb"[a-z0-9_]+")
# Values that are the same on every call of a site (the request URL, language, context,
# Asterisk version...), shared through the server's InternTable like the names. Never
# the caller's own data (caller ID, channel, uniqueid), which is neither shared nor ours
# to keep.
_SITE_KEYS: Final = frozenset(
    {
        "accountcode", "callingani2", "callingpres", "callington", "callingtns", "context",
        "dnid", "enhanced", "extension", "language", "network", "network_script",
        "priority", "rdnis", "request", "type", "version",
    }
)  # fmt: skip


# C0 and C1 control characters and DEL. Asterisk writes caller ID raw (env-hostile-name.txt),
# and a caller's name or number can hold any of them (a SIP display name, a
# `Set(CALLERID(name)=...)` from user data): a `\r` or a terminal escape must not reach a
# log line, a database row or an agent's screen as a control character.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def _env_value(key: str, value: bytes, table: InternTable) -> str:
    """An environment value as text (as `_text()`), control characters replaced by U+FFFD
    (as bytes that are not UTF-8 are): the value is kept, the call goes on. A site-constant
    one is the table's shared copy."""
    text = _printable(value.decode("utf-8", "replace"))
    return table.text(text) if key in _SITE_KEYS else text


def _printable(text: str) -> str:
    # isprintable() is one C pass and true for nearly every value; only a value it
    # refuses (a control character, or e.g. a no-break space) is searched.
    if text.isprintable():
        return text
    return _CONTROL.sub("\ufffd", text)


class AgiConnection:
    """One AGI session, Asterisk's peer side (a FastAGI server or an AGI script).

    The state machine: ENVIRONMENT --env--> IDLE --send--> AWAITING --response--> IDLE,
    AWAITING --`520-`--> USAGE --`520 `--> IDLE; `HANGUP` lines may come in IDLE and
    AWAITING and mark the channel dead; EOF leads to CLOSED, malformed input to ERROR.
    Whether the channel is dead is a second, orthogonal state (`channel_dead`):
    Asterisk keeps answering after a hang-up, but only some commands.

    `table` is where the names and site-wide values of the environment block are shared
    with the server's other calls (`interning.py`); without one, the connection has its
    own.
    """

    # One per held call: slots, not an instance dict.
    __slots__ = (
        "_buffer", "_channel_dead", "_env", "_env_bytes", "_eof", "_error", "_in_flight",
        "_max_env_bytes", "_max_line", "_scan_from", "_state", "_table", "_usage",
    )  # fmt: skip

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_env_bytes: int = DEFAULT_MAX_ENV_BYTES,
        table: InternTable | None = None,
    ) -> None:
        self._table = InternTable() if table is None else table
        self._max_line = max_line
        self._max_env_bytes = max_env_bytes
        self._buffer = bytearray()
        self._scan_from = 0  # where to resume looking for b"\n" in _buffer
        self._eof = False
        self._state = State.ENVIRONMENT
        # Handed to the Environment event when complete, not kept here as well.
        self._env: dict[str, str] | None = {}
        self._env_bytes = 0
        self._in_flight: Command | None = None
        self._usage: _Usage | None = None
        self._channel_dead = False
        self._error: RemoteProtocolError | None = None

    # -- state --------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def channel_dead(self) -> bool:
        """True once Asterisk said the channel hung up (`HANGUP` line or a 511)."""
        return self._channel_dead

    @property
    def in_flight(self) -> Command | None:
        return self._in_flight

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as events."""
        return len(self._buffer)

    @property
    def eof_received(self) -> bool:
        return self._eof

    # -- sending ----------------------------------------------------------------

    def send(self, command: Command) -> bytes:
        """The bytes of `command`. One at a time: Asterisk reads commands through a stdio
        buffer and answers only the first of several written together (pipelined.txt).

        Raises `RemoteProtocolError` (and the connection goes to ERROR) when bytes are
        already buffered that are not `HANGUP` lines: the peer sent them while no command
        was in flight, and read after this command they would pass for its answer. That is
        how a caller name holding `\n\n200 result=1 (ID)` would answer our call-id query
        (Asterisk writes the name raw: env-hostile-name.txt): the block ends at the forged
        empty line, and the forged answer, written with it, is already here."""
        state = self._state
        if state is State.ENVIRONMENT:
            raise LocalProtocolError(
                "cannot send a command before the environment block has arrived"
            )
        if state is State.AWAITING or state is State.USAGE:
            assert self._in_flight is not None
            raise LocalProtocolError(
                f"{command.name} sent while {self._in_flight.name} waits for its "
                "response: Asterisk answers only the first of pipelined commands"
            )
        if state is State.CLOSED:
            raise LocalProtocolError(f"cannot send {command.name}: Asterisk closed the connection")
        if state is State.ERROR:
            raise LocalProtocolError(f"cannot send {command.name} after a protocol error")
        if self._channel_dead and command.name in LIVE_CHANNEL_COMMANDS:
            raise LocalProtocolError(
                f"{command.name} is not permitted on a dead channel (Asterisk answers 511)"
            )
        if self._buffer and not _only_hangups(self._buffer):
            self._fail(
                RemoteProtocolError(
                    f"data received while no command was in flight: {_show(bytes(self._buffer))}"
                )
            )
        data = command.encode()
        self._in_flight = command
        self._state = State.AWAITING
        return data

    # -- receiving --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from Asterisk; `b""` means EOF."""
        if self._eof:
            if data:
                raise LocalProtocolError("received data after EOF")
            return
        if not data:
            self._eof = True
            return
        self._buffer += data

    @property
    def quiet(self) -> bool:
        """Nothing received beyond the events already returned, and no EOF: until more
        bytes come, `next_event()` can only say `NEED_DATA`."""
        return not self._buffer and not self._eof

    def next_event(self) -> Event | _NeedData:
        """The next complete event, or `NEED_DATA`. Raises `RemoteProtocolError` on input
        no Asterisk would send; the connection then stays in ERROR."""
        if self._state is State.ERROR:
            assert self._error is not None
            raise RemoteProtocolError(f"earlier protocol error: {self._error}")
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._fail(exc)

    def _fail(self, exc: RemoteProtocolError) -> NoReturn:
        self._state = State.ERROR
        self._error = exc
        raise exc

    def _next_event(self) -> Event | _NeedData:
        while True:
            state = self._state
            if state is State.CLOSED:
                return ConnectionClosed()
            if state is State.ENVIRONMENT:
                env = self._environment()
                if env is not None:
                    return env
                line = None
            else:
                line = self._take_line()
            if line is None:
                if not self._eof:
                    return NEED_DATA
                if self._buffer:
                    raise RemoteProtocolError(
                        f"connection closed in the middle of a line ({len(self._buffer)} bytes)"
                    )
                if self._state is State.ENVIRONMENT:
                    raise RemoteProtocolError("connection closed before the end of the environment")
                if self._state is State.USAGE:
                    raise RemoteProtocolError("connection closed inside a 520 usage text")
                # IDLE or AWAITING: Asterisk may close after its HANGUP lines
                # (hangup-exit-on-hangup.txt); not an error, the end of the session.
                self._state = State.CLOSED
                self._in_flight = None
                return ConnectionClosed()
            if line == _HANGUP and state is not State.USAGE:
                # Between responses only: res_agi writes it at the top of its command loop.
                self._channel_dead = True
                return HangupNotice()
            if state is State.AWAITING:
                event = self._response_line(line)
            elif state is State.USAGE:
                event = self._usage_line(line)
            else:
                raise RemoteProtocolError(
                    f"unsolicited line with no command in flight: {_show(line)}"
                )
            if event is not None:
                return event

    def _take_line(self) -> bytes | None:
        # Lines end in \n only; a \r is part of the line (invalid.txt: CRLF is not a
        # line ending to Asterisk, and it never sends one).
        buffer = self._buffer
        end = buffer.find(b"\n", self._scan_from)
        if end < 0:
            self._scan_from = len(buffer)
            if len(buffer) > self._max_line:
                raise RemoteProtocolError(f"line longer than {self._max_line} bytes")
            return None
        if end > self._max_line:
            raise RemoteProtocolError(f"line longer than {self._max_line} bytes")
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        self._scan_from = 0
        return line

    def _environment(self) -> Environment | None:
        """Every complete line of the block received so far, in one pass (the block
        usually arrives whole: ~25 lines); the Environment once its empty line came."""
        buffer = self._buffer
        env = self._env
        assert env is not None
        max_line = self._max_line
        start = 0
        try:
            while (end := buffer.find(b"\n", start)) >= 0:
                if end - start > max_line:
                    raise RemoteProtocolError(f"line longer than {max_line} bytes")
                self._env_bytes += end - start + 1
                if self._env_bytes > self._max_env_bytes:
                    raise RemoteProtocolError(
                        f"environment block larger than {self._max_env_bytes} bytes"
                    )
                line = bytes(buffer[start:end])
                start = end + 1
                if not line:
                    if "request" not in env:
                        raise RemoteProtocolError("environment block without agi_request")
                    self._state = State.IDLE
                    self._env = None
                    return Environment(env, self._table)
                if len(env) >= MAX_ENV_LINES:
                    raise RemoteProtocolError(
                        f"environment block with more than {MAX_ENV_LINES} lines"
                    )
                # `agi_<name>: <value>`, the name [a-z0-9_]+: it holds no ": ", so the
                # first ": " ends it.
                raw_key, sep, value = line.partition(b": ")
                if not (sep and raw_key.startswith(b"agi_") and _KEY_CHARS.fullmatch(raw_key, 4)):
                    raise RemoteProtocolError(f"not an agi_ environment line: {_show(line)}")
                key = self._table.text(raw_key[4:].decode("ascii"))
                if key in env:
                    # A repeated key means the block is not what Asterisk wrote (e.g. a
                    # newline smuggled into a caller name): refuse rather than pick one.
                    raise RemoteProtocolError(f"agi_{key} appears twice in the environment block")
                env[key] = _env_value(key, value, self._table)
        finally:
            if start:
                del buffer[:start]
        if len(buffer) > max_line:
            raise RemoteProtocolError(f"line longer than {max_line} bytes")
        return None

    def _response_line(self, line: bytes) -> Event | None:
        command = self._in_flight
        assert command is not None
        match = _RESULT.fullmatch(line)
        if match is not None:
            result, data, endpos = match.groups()
            self._in_flight = None
            self._state = State.IDLE
            return Response(
                command,
                _text(result),
                None if data is None else _text(data),
                None if endpos is None else int(endpos),
            )
        if line.startswith(_USAGE_START):
            self._usage = _Usage(_text(line[len(_USAGE_START) :]))
            self._state = State.USAGE
            return None
        match = _FAILURE.fullmatch(line)
        if match is not None:
            code = int(match.group(1))
            self._finish()
            if code == 511:
                self._channel_dead = True
            return CommandFailed(command, code, _text(match.group(2)))
        raise RemoteProtocolError(f"not an AGI response: {_show(line)}")

    def _usage_line(self, line: bytes) -> Event | None:
        command, usage = self._in_flight, self._usage
        assert command is not None and usage is not None
        if line.startswith(_USAGE_END):
            self._finish()
            return CommandFailed(command, 520, usage.head, tuple(usage.lines))
        if len(usage.lines) >= MAX_USAGE_LINES:
            raise RemoteProtocolError(f"520 usage text longer than {MAX_USAGE_LINES} lines")
        usage.lines.append(_text(line))
        return None

    def _finish(self) -> None:
        self._in_flight = None
        self._usage = None
        self._state = State.IDLE


def _only_hangups(buffer: bytearray) -> bool:
    """`buffer` is nothing but `HANGUP` lines, the last one maybe not complete yet: all
    Asterisk writes unasked (res_agi, at the top of its command loop: hangup-idle.txt)."""
    lines = bytes(buffer).split(b"\n")
    return all(line == _HANGUP for line in lines[:-1]) and _HANGUP.startswith(lines[-1])


def _text(raw: bytes) -> str:
    # Decode whole lines only (a character split across reads is never lost, unlike
    # panoramisk's per-chunk decode); bytes that are not UTF-8 become U+FFFD.
    return raw.decode("utf-8", "replace")


def _show(line: bytes, limit: int = 80) -> str:
    """A log-safe rendering of a peer's line: repr escapes control bytes."""
    shown = repr(line[:limit])
    return shown + ("..." if len(line) > limit else "")
