"""`ivr.ports.Channel` over one AGI session: the codec, over a `Wire`.

The same class serves FastAGI (a TCP connection on the event loop: `AgiWire`,
wire.py) and the classic AGI script (its stdin/stdout, read with blocking reads and
no event loop: `PipeWire`, pipes.py): the bytes are the same, only the hang-up notice
differs (a `HANGUP` line, or SIGHUP for a script: `hangup_signalled()`).

How engine actions become AGI commands, and why:
- a prompt keys may stop is `STREAM FILE name "0123456789*#"`; the key that stops it is
  its answer (stream-file.txt); a prompt no key may stop has `""` as escape digits;
- a collection plays its prompts the same way (a key that stops them is the first
  digit), then waits for a first key with `WAIT FOR DIGIT timeout` and reads the rest
  with `GET DATA "" interdigit max` when `#` ends input (GET DATA's own terminator,
  dropped, `#` alone being `200 result=` and a timeout `(timeout)`: get-data.txt), or
  key by key with `WAIT FOR DIGIT interdigit` for another terminator. Asterisk drops
  keys pressed between commands, so the rest of an entry is read inside one command;
- `STREAM FILE` answers `-1` for a missing file and for a hang-up alike: a missing
  prompt must not end the call, so the IVR goes on, and a hang-up shows at the next
  command (the `HANGUP` line, or 511 on a dead channel: hangup-mid-playback.txt).

Every wait has a deadline. A peer that does not answer in time, or answers what no
Asterisk would, leaves the channel broken: `ChannelGone` with the cause, and the
connection is closed by whoever owns it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from agi_scripts import commands as cmd
from agi_scripts.codec import (
    LIVE_CHANNEL_COMMANDS,
    NEED_DATA,
    CommandFailed,
    ConnectionClosed,
    Environment,
    Event,
    HangupNotice,
    Response,
)
from agi_scripts.deadline import NEVER
from agi_scripts.errors import RemoteProtocolError
from ivr.actions import Collect, Play, SayDigits, SayNumber, Sound, Spoken
from ivr.events import DigitsEntered
from ivr.ports import ChannelGone, Concurrency

if TYPE_CHECKING:
    from agi_scripts.codec import AgiConnection
    from agi_scripts.watchdog import Watchdog

__all__ = [
    "DEFAULT_TIMEOUTS",
    "AgiChannel",
    "AgiCommandError",
    "CallDeadlineExceeded",
    "Timeouts",
    "Timer",
    "Wire",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# What a wait was for, as the log line says it if its deadline passes (% formats of
# the command's name and the wait's seconds, filled only then).
_NO_ENVIRONMENT: Final = "no environment block within %(s)gs"
_NO_ANSWER: Final = "no answer to %(name)s within %(s)gs"
_NOT_READ: Final = "Asterisk did not read %(name)s"
_NOT_CLOSED: Final = "Asterisk did not close the session"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines, in seconds, for everything the channel waits on.

    `command` bounds commands that answer at once (ANSWER takes ~0.5 s: answer.txt);
    `prompt` one prompt's playback (IVR prompts are seconds long; a stuck one must not
    hold the call); waits for keys get their own timeout plus `slack`.
    """

    environment: float = 10.0
    command: float = 10.0
    prompt: float = 120.0
    slack: float = 10.0
    close: float = 2.0


DEFAULT_TIMEOUTS: Final = Timeouts()


class AgiCommandError(Exception):
    """Asterisk refused a command of ours (510, or 520 with its usage): a driver bug."""

    def __init__(self, failure: CommandFailed) -> None:
        super().__init__(
            f"Asterisk answered {failure.code} {failure.message!r} to {failure.command.name}"
        )
        self.failure = failure


class CallDeadlineExceeded(Exception):
    """The call has been in the IVR longer than its deadline: the runner sends it on."""


class Timer(Protocol):
    def cancel(self) -> None: ...


class Wire(Protocol):
    """One AGI session's bytes and clock, as the channel uses them."""

    @property
    def conn(self) -> AgiConnection: ...

    @property
    def concurrency(self) -> Concurrency: ...

    def time(self) -> float:
        """Monotonic seconds, the clock of `call_later` (and of the watchdog)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call `callback` after `delay` seconds unless cancelled first."""
        ...

    def send(self, data: bytes) -> bool:
        """Write `data`; True if some of it waits for the peer to read (`drain`)."""
        ...

    def drain(self) -> Awaitable[None]: ...

    def wait_event(self) -> Awaitable[Event]:
        """The codec's next event once bytes, EOF or a broken connection arrive."""
        ...

    def write_eof(self) -> None: ...

    def wait_eof(self) -> Awaitable[None]: ...

    def abort(self) -> None: ...

    def close(self) -> Awaitable[None]: ...


class AgiChannel:
    """One AGI session as the runner's `Channel` (and the route's tool for the rest)."""

    __slots__ = (
        "_failed_prompt",
        "_wait",
        "_wait_name",
        "_wait_s",
        "broken_detail",
        "conn",
        "deadline",
        "environment",
        "finished",
        "gone",
        "timeouts",
        "uniqueid",
        "until",
        "watchdog",
        "wire",
    )

    def __init__(
        self,
        wire: Wire,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        deadline: float | None = None,
        uniqueid: str = "",
        watchdog: Watchdog | None = None,
    ) -> None:
        self.wire = wire
        self.conn = wire.conn
        self.timeouts = timeouts
        # Monotonic seconds after which no new prompt or wait starts (None: no limit).
        self.deadline = deadline
        self.uniqueid = uniqueid  # for log lines, once known
        self.gone: str | None = None
        self.broken_detail = ""  # what broke the session, for the owner's one log line
        # A prompt that answered -1: a missing file, or a hang-up that the next command
        # will reveal. Reported only once the next answer shows the channel alive.
        self._failed_prompt: str | None = None
        self.finished = False
        self.environment: Environment | None = None
        # The server's shared Watchdog, which watches this channel until `close()`:
        # a wait sets `until`, its deadline in loop time (NEVER between waits). Without
        # one (the classic script, a process per call) each wait gets its own timer.
        self.watchdog = watchdog
        self.until = NEVER
        if watchdog is not None:
            watchdog.watch(self)
        # What the current wait is for (a format, a command's name, its seconds): the
        # text is only made if the deadline passes.
        self._wait = ""
        self._wait_name = ""
        self._wait_s = 0.0

    # --- the transport ------------------------------------------------------------------

    async def _next_event(self, within_s: float, what: str, name: str = "") -> Event:
        """The codec's next event, waiting for bytes within `within_s`; EOF is an
        event (the codec's), a broken connection or bad bytes end the session."""
        wire = self.wire
        try:
            event = wire.conn.next_event()
            if event is not NEED_DATA:
                return event  # already read (a HANGUP line and an answer often come together)
            self._wait, self._wait_name, self._wait_s = what, name, within_s
            # The wire's future is awaited in this frame, not through `_within`: a held
            # call waits here, and every coroutine in its await chain keeps a frame.
            timer = self._arm(within_s)
            try:
                return await wire.wait_event()
            finally:
                self._disarm(timer)
        except RemoteProtocolError as exc:
            raise self._broken("protocol-error", str(exc)) from None
        except (ConnectionError, OSError) as exc:
            raise self._broken("connection-lost", repr(exc)) from None

    async def _within(self, within_s: float, waiting: Awaitable[_T]) -> _T:
        """`waiting`, cut off by `expire()` if not done within `within_s`."""
        timer = self._arm(within_s)
        try:
            return await waiting
        finally:
            self._disarm(timer)

    @property
    def concurrency(self) -> Concurrency:
        return self.wire.concurrency

    def _arm(self, within_s: float) -> Timer | None:
        """Start a wait's deadline: the watchdog's `until`, or a timer of its own."""
        if self.watchdog is not None:
            self.until = self.wire.time() + within_s
            return None
        return self.wire.call_later(within_s, self.expire)

    def _disarm(self, timer: Timer | None) -> None:
        self.until = NEVER
        if timer is not None:
            timer.cancel()

    def expire(self) -> None:
        """The deadline passed: the session is over, cut the connection (the pending
        wait then ends, and the cause stays `timeout`)."""
        self._broken("timeout", self._wait % {"name": self._wait_name, "s": self._wait_s})
        self.wire.abort()

    def protocol_error(self, detail: str) -> ChannelGone:
        """A route found an answer no Asterisk would give (a call id that is not one):
        the session ends as on bad bytes, with nothing more sent."""
        return self._broken("protocol-error", detail)

    def _broken(self, cause: str, detail: str) -> ChannelGone:
        """The session cannot be trusted any more: `ChannelGone(cause)` from here on.

        After a protocol error or a timeout no command is sent, not even the
        `CALLPOP_*` outcome: the peer's next bytes could be an answer forged ahead (a
        rogue peer, or a caller name that split the environment block), so nothing
        read could confirm that the variables were set. The connection is closed; AGI()
        returns with `CALLPOP_OUTCOME` unset, and the emitted dialplan sends an empty
        outcome to `callpop-route,operator,1` (design.md), as when callpop is down."""
        if self.gone is None:
            self.gone = cause
            self.broken_detail = detail
        return ChannelGone(self.gone)

    async def receive_environment(self) -> Environment:
        event = await self._next_event(self.timeouts.environment, _NO_ENVIRONMENT)
        if not isinstance(event, Environment):
            # EOF before anything: the codec raised; anything else cannot come first.
            raise self._broken("protocol-error", f"expected the environment, got {event!r}")
        self.environment = event
        return event

    async def run(self, command: cmd.Command, answer_within_s: float | None = None) -> Response:
        """Send one command and wait for its answer (one at a time: pipelined.txt).

        Raises ChannelGone if the channel is dead (a 511, or EOF) or the session broke,
        AgiCommandError for a 510/520, LocalProtocolError for a driver bug."""
        if self.gone is not None:
            raise ChannelGone(self.gone)
        conn = self.conn
        if conn.channel_dead and command.name in LIVE_CHANNEL_COMMANDS:
            raise self._gone("caller")
        wire = self.wire
        try:
            # The codec's bytes go straight to the socket (no local keeps them while the
            # call waits). A command is a few dozen bytes and the socket takes it at once;
            # wait (with a deadline) only when it did not: a peer that stopped reading.
            if wire.send(conn.send(command)):  # LocalProtocolError is our bug: let it through
                self._wait, self._wait_name = _NOT_READ, command.name
                await self._within(self.timeouts.command, wire.drain())
        except RemoteProtocolError as exc:
            # Bytes came while no command was in flight (a forged answer): nothing more
            # is sent on this session, not even the outcome (see `_broken`).
            raise self._broken("protocol-error", str(exc)) from None
        except (ConnectionError, OSError) as exc:
            raise self._broken("connection-lost", repr(exc)) from None
        limit = self.timeouts.command if answer_within_s is None else answer_within_s
        # The answer, read here rather than in a helper coroutine (a held call waits in
        # this loop): `HANGUP` lines before it, failures, EOF, a failed prompt to report.
        hung_up = False
        try:
            while True:
                event = await self._next_event(limit, _NO_ANSWER, command.name)
                if isinstance(event, HangupNotice):
                    hung_up = True  # the answer still follows (hangup-mid-playback.txt)
                    continue
                if isinstance(event, ConnectionClosed):
                    raise self._gone("caller" if conn.channel_dead else "asterisk-closed")
                if isinstance(event, CommandFailed):
                    if event.dead_channel:
                        raise self._gone("caller")
                    raise AgiCommandError(event)
                assert isinstance(event, Response)
                break
        except (Exception, GeneratorExit):
            raise
        except BaseException:
            # Cancelled (or the process is ending): the answer will never be read, and
            # the session cannot be used any more.
            self._broken("cancelled", f"cancelled while waiting for the answer to {command.name}")
            raise
        if hung_up or self.gone is not None:
            # A `HANGUP` line before the answer, or a classic script's SIGHUP during the
            # wait (Asterisk answers the command in flight with -1, then signals).
            raise self._gone("caller")
        if self._failed_prompt is not None and self.gone is None:
            log.warning(
                "[%s] prompt %r could not be played (missing sound file?)",
                self.uniqueid,
                self._failed_prompt,
            )
            self._failed_prompt = None
        return event

    def _gone(self, cause: str) -> ChannelGone:
        if self.gone is None:
            self.gone = cause
        return ChannelGone(self.gone)

    def hangup_signalled(self) -> None:
        """Classic AGI: Asterisk sent SIGHUP (the caller hung up, or the AGI ended)."""
        if not self.finished:
            self._gone("caller")

    # --- reading the channel ------------------------------------------------------------

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or dialplan function; None when unset (variables.txt)."""
        response = await self.run(cmd.get_variable(name))
        return response.data if response.result == "1" else None

    async def answer(self) -> None:
        await self.run(cmd.answer())

    # --- ivr.ports.Channel --------------------------------------------------------------

    async def play(self, play: Play) -> str:
        self._check_deadline()
        escapes = cmd.ALL_KEYS if play.interruptible else ""
        within = self.timeouts.prompt
        for spoken in play.prompts:
            # Not a helper coroutine per prompt: every resumption walks each frame.
            command = _prompt_command(spoken, escapes)
            key = self._heard(await self.run(command, within), spoken, command)
            if key:
                return key
        return ""

    async def say(self, prompts: tuple[Spoken, ...]) -> None:
        for spoken in prompts:
            command = _prompt_command(spoken, "")
            self._heard(await self.run(command, self.timeouts.prompt), spoken, command)

    async def collect(self, collect: Collect) -> DigitsEntered:
        self._check_deadline()
        first = ""
        for spoken in collect.prompts:
            command = _prompt_command(spoken, cmd.ALL_KEYS)
            first = self._heard(await self.run(command, self.timeouts.prompt), spoken, command)
            if first:
                break
        if not first:
            first = await self._wait_for_key(collect.timeout_ms)
            if not first:
                return DigitsEntered("", 0, timed_out=True)
        if collect.terminator is not None and first == collect.terminator:
            return DigitsEntered("", 0)
        if collect.max_digits == 1:
            return DigitsEntered(first, 0)
        if collect.terminator == "#":
            return await self._get_data_rest(first, collect)
        return await self._keys_rest(first, collect)

    async def set_variables(self, variables: tuple[tuple[str, str], ...]) -> None:
        if self.gone is not None:
            raise ChannelGone(self.gone)
        for command in cmd.set_variables(variables):
            await self.run(command)

    async def finish(self, *, hangup: bool) -> None:
        """Hang up (`HANGUP`), or return to the dialplan, which goes on at the next
        priority (routing.txt). Either way the AGI ends here: our side is half-closed at
        once. Over FastAGI the caller then reaches the queue while the journey is being
        saved; a classic script's Asterisk waits for the process to exit (pipes.py)."""
        if self.gone is not None:
            raise ChannelGone(self.gone)
        if hangup:
            await self.run(cmd.hangup())  # agi-hangup-command.txt: 200 result=1, HANGUP
        self.finished = True
        self.wire.write_eof()

    # --- commands for the engine's actions ------------------------------------------------

    def _check_deadline(self) -> None:
        if self.gone is not None:
            raise ChannelGone(self.gone)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise CallDeadlineExceeded("the call reached its deadline in the IVR")

    def _heard(self, response: Response, spoken: Spoken, command: cmd.Command) -> str:
        """What a prompt's answer says: the key that stopped it, or ""."""
        code = response.result_int()
        if code < 0:
            # A missing file, or a hang-up whose HANGUP line is on its way: go on, the
            # next command tells (stream-file.txt, hangup-mid-playback.txt).
            self._failed_prompt = spoken.name if isinstance(spoken, Sound) else str(command)
            return ""
        return self._key(code, command)

    def _key(self, code: int, command: cmd.Command) -> str:
        key = cmd.digit_from_code(code)
        if key is None:
            # DTMF A-D: a keypad has them, no flow asks for them; treat as no key.
            log.info("[%s] ignored key code %d from %s", self.uniqueid, code, command.name)
            return ""
        return key

    async def _wait_for_key(self, timeout_ms: int) -> str:
        """One key within `timeout_ms`, "" on timeout; keys the engine does not know
        (A-D) are skipped without extending the wait."""
        end = time.monotonic() + timeout_ms / 1000
        remaining = timeout_ms
        while True:
            command = cmd.wait_for_digit(remaining)
            response = await self.run(command, remaining / 1000 + self.timeouts.slack)
            code = response.result_int()
            if code < 0:
                raise self._gone("caller")  # wait-for-digit: -1 is a hang-up or a dead channel
            if code == 0:
                return ""
            key = self._key(code, command)
            remaining = int((end - time.monotonic()) * 1000)
            if key or remaining <= 0:
                return key

    async def _get_data_rest(self, first: str, collect: Collect) -> DigitsEntered:
        more = collect.max_digits - len(first)
        command = cmd.get_data("", collect.interdigit_ms, more)
        budget = (more + 1) * collect.interdigit_ms / 1000 + self.timeouts.slack
        response = await self.run(command, budget)
        if response.result == "-1":
            raise self._gone("caller")  # get-data.txt: -1 only on hang-up with no prompt
        digits = response.result
        if not _is_keys(digits):
            raise self._broken("protocol-error", f"GET DATA answered {digits!r}")
        return DigitsEntered(first + digits, 0, timed_out=response.data == "timeout")

    async def _keys_rest(self, first: str, collect: Collect) -> DigitsEntered:
        digits = first
        while len(digits) < collect.max_digits:
            key = await self._wait_for_key(collect.interdigit_ms)
            if not key:
                return DigitsEntered(digits, 0, timed_out=True)
            if key == collect.terminator:
                break
            digits += key
        return DigitsEntered(digits, 0)

    # --- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """End the session: half-close so Asterisk sends its last HANGUP and closes
        (half-close.txt), then close; a peer that does not close in time is cut off.
        (A classic script's wire has nothing to wait for: pipes.py.)"""
        wire = self.wire
        wire.write_eof()
        self._wait = _NOT_CLOSED
        try:
            await self._within(self.timeouts.close, wire.wait_eof())
            await wire.close()
        finally:
            if self.watchdog is not None:
                self.watchdog.forget(self)


def _prompt_command(spoken: Spoken, escapes: str) -> cmd.Command:
    """The command that plays one prompt, keys among `escapes` stopping it."""
    if isinstance(spoken, Sound):
        return cmd.stream_file(spoken.name, escapes)
    if isinstance(spoken, SayDigits):
        return cmd.say_digits(spoken.digits, escapes)
    if isinstance(spoken, SayNumber):
        return cmd.say_number(spoken.number, escapes)
    raise TypeError(f"not a prompt: {spoken!r}")


def _is_keys(text: str) -> bool:
    return all(ch in cmd.ALL_KEYS for ch in text)
