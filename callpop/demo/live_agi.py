"""Asterisk's side of one FastAGI session, the caller being a person at the test phone.

The simulator (`callpop.pbx_sim`) answers every AGI command exactly as Asterisk 22 does,
but on a virtual clock and for a caller whose keys are scripted in advance. Here the keys
come from a browser while the call runs, so each command is answered by *speculation*:

    run the command on a copy of the simulated channel with the keys known so far;
    it says when the command would end (a prompt's length, a wait's timeout) and how;
    wait in real time until then, or until the caller presses a key or hangs up;
    on new input, run it again from the same starting state with that input added;
    when the real time reaches the end with nothing new, that answer is the answer.

The virtual clock is the real time since the call started, so a key pressed 1.2 s into a
prompt stops it at 1.2 s, `endpos` and all. The simulator stays pure and byte-faithful
(its tests hold this side to the recorded transcripts); only the timing is live.

As on a real channel: keys pressed while nothing listens are lost, a hang-up while the
server is idle sends the `HANGUP` line at once (hangup-idle.txt), and after the server
closes the session Asterisk writes a last `HANGUP` (half-close.txt).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from callpop.demo.prompts import SAMPLES_PER_MS, PromptBook, spoken_digits
from callpop.pbx_sim.agi_channel import AgiChannelSim, CommandReply, SimOptions
from callpop.pbx_sim.agi_parse import AGI_BUF_LEN, find_command, parse_args
from callpop.pbx_sim.fastagi import CallRecord, environment_block
from callpop.pbx_sim.script import CallerScript

__all__ = ["Heard", "LiveCaller", "WireLine"]

log = logging.getLogger(__name__)

DTMF = frozenset("0123456789*#")
ALL_KEYS = "0123456789*#"
# A wait longer than this is shown as "no limit" (WAIT FOR DIGIT -1: the caller's patience).
PATIENCE_SHOWN_MS = 120_000
_READ_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Heard:
    """What the caller hears (or the IVR waits for) as a command starts.

    `keys`: the keys that stop it ("" when keys are ignored); `ms`: how long it lasts
    at most (a prompt's length, a wait's timeout; None: no limit)."""

    kind: Literal["prompt", "digits", "number", "listen"]
    text: str
    sound: str | None
    ms: int | None
    keys: str


@dataclass(frozen=True, slots=True)
class WireLine:
    """One AGI line: `who` is "asterisk" or "server"."""

    who: Literal["asterisk", "server"]
    line: str


def _ms(samples: int) -> int:
    return -(-samples // SAMPLES_PER_MS)


class LiveCaller:
    """One call into the IVR, driven by `press()` and `hang_up()` while `run()` runs.

    `on_hear` is told what plays or listens as each command starts; `on_wire` (optional)
    every AGI line both ways. Both are called on the event loop and must not block.
    """

    def __init__(
        self,
        script: CallerScript,
        book: PromptBook,
        *,
        on_hear: Callable[[Heard], None],
        on_wire: Callable[[WireLine], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.script = script
        self.book = book
        self._on_hear = on_hear
        self._on_wire = on_wire
        self._monotonic = monotonic
        self._sim = AgiChannelSim(script, SimOptions(sounds=book.sound_lengths()), fast=True)
        self._started = monotonic()
        self._keys: list[tuple[int, str]] = []  # (virtual ms, key) not yet consumed
        self._hangup_at: int | None = None
        self._input = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._busy = False  # a command is being answered
        self.closed = False  # the AGI session is over

    @property
    def channel(self) -> AgiChannelSim:
        """The simulated channel as last committed (variables, played, dead...)."""
        return self._sim

    @property
    def hung_up(self) -> bool:
        return self._hangup_at is not None or self._sim.hung_up_by == "caller"

    def elapsed_ms(self) -> int:
        return int((self._monotonic() - self._started) * 1000)

    # --- the caller ---------------------------------------------------------------------

    def press(self, key: str) -> None:
        if key not in DTMF:
            raise ValueError(f"not a phone key: {key!r}")
        if self.closed or self.hung_up:
            return
        self._keys.append((self.elapsed_ms(), key))
        self._input.set()

    def hang_up(self) -> None:
        if self.hung_up:
            return
        self._hangup_at = self.elapsed_ms()
        self._input.set()
        if not self._busy and not self.closed and not self._sim.dead:
            # hangup-idle.txt: the HANGUP line goes out at once when no command runs
            out = CommandReply()
            self._sim.hang_up(out)
            self._hangup_at = None
            self._write(out.lines)

    # --- the session --------------------------------------------------------------------

    async def run(self, host: str, port: int, path: str = "ivr") -> CallRecord:
        """Connect as `AGI(agi://host:port/path)`, answer commands until the server
        closes, and return the record (variables set, prompts played, wire)."""
        reader, writer = await asyncio.open_connection(host, port)
        self._writer = writer
        record = CallRecord()
        env = environment_block(
            self.script,
            request=f"agi://{host}:{port}/{path}",
            network_script=path,
            channel_name=self._sim.channel_name,
        )
        try:
            self._write(env.split(b"\n")[:-1])
            await writer.drain()
            record.ended = await self._serve(reader, writer)
        except ConnectionError:
            record.ended = "connection-lost"
        finally:
            self.closed = True
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        sim = self._sim
        record.variables = dict(sim.variables)
        record.set_order = list(sim.set_order)
        record.played = list(sim.played)
        record.hung_up_by = sim.hung_up_by or ("caller" if self._hangup_at is not None else None)
        record.duration_ms = self.elapsed_ms()
        return record

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        buffer = bytearray()
        while True:
            line = await _next_line(reader, buffer)
            if line is None:
                # The server closed (or half-closed): Asterisk's last HANGUP, then close.
                self._write([b"HANGUP"])
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                return "server-closed"
            self._wire("server", line)
            if line[:7].lower() == b"failure":
                return "failure"
            self._busy = True
            try:
                outcome = await self._answer(line)
            finally:
                self._busy = False
            self._write(outcome.lines)
            await writer.drain()
            if outcome.close:
                return "asterisk-closed"

    async def _answer(self, line: bytes) -> CommandReply:
        """The answer to one command, by speculation (see the module docstring)."""
        base = self._sim
        base.now_ms = max(base.now_ms, self.elapsed_ms())
        heard_told = False
        while True:
            self._input.clear()
            trial = copy.deepcopy(base)
            trial.cursor.pending_keys = list(self._keys)
            if self._hangup_at is not None:
                # during the command, never before it (that one was sent at once)
                trial.cursor.hangup_at_ms = max(self._hangup_at, base.now_ms + 1)
            outcome = trial.handle(line)
            if not heard_told:
                heard_told = True
                heard = self._heard(line, base, trial)
                if heard is not None:
                    self._on_hear(heard)
            remaining_ms = trial.now_ms - self.elapsed_ms()
            if remaining_ms > 0:
                try:
                    async with asyncio.timeout(remaining_ms / 1000):
                        await self._input.wait()
                    continue  # a key or the hang-up came before the end: answer again
                except TimeoutError:
                    pass
            self._sim = trial
            self._keys = [k for k in trial.cursor.pending_keys if k[0] >= trial.now_ms]
            if trial.dead:
                self._hangup_at = None
            return outcome

    def _heard(self, line: bytes, before: AgiChannelSim, after: AgiChannelSim) -> Heard | None:
        """What the command plays or waits for, from its first answer (no new input yet):
        a prompt by the sound it played, a wait by how long it would last."""
        argv = parse_args(line)
        spec = find_command(argv)
        if spec is None or before.dead:
            return None
        args = [a.decode("utf-8", "replace") for a in argv[len(spec.words) :]]
        lasts = after.now_ms - before.now_ms
        ms = lasts if lasts < PATIENCE_SHOWN_MS else None
        played = after.played[len(before.played) :]
        name = spec.name
        if played and not played[0].startswith("say-"):
            sound = played[0]
            return Heard(
                "prompt",
                self.book.text(sound),
                sound,
                _ms(self.book.samples(sound)),
                _stop_keys(name, args),
            )
        if name in ("SAY DIGITS", "SAY NUMBER") and len(args) > 1:
            kind: Literal["digits", "number"] = "digits" if name == "SAY DIGITS" else "number"
            text = spoken_digits(args[0]) if kind == "digits" else args[0]
            return Heard(kind, text, None, ms, _only_dtmf(args[1]))
        if name in ("WAIT FOR DIGIT", "GET DATA"):
            return Heard("listen", "", None, ms, ALL_KEYS)
        return None

    # --- wire ---------------------------------------------------------------------------

    def _write(self, lines: list[bytes]) -> None:
        if not lines or self._writer is None or self._writer.is_closing():
            return
        for line in lines:
            self._wire("asterisk", line)
        self._writer.write(b"".join(line + b"\n" for line in lines))

    def _wire(self, who: Literal["asterisk", "server"], line: bytes) -> None:
        if self._on_wire is not None:
            self._on_wire(WireLine(who, line.decode("utf-8", "replace")))


def _stop_keys(command: str, args: list[str]) -> str:
    """The keys that stop a command's prompt: GET DATA any key (it is the first digit),
    EXEC Playback none, STREAM FILE and its kin their escape digits (the 2nd argument)."""
    if command == "GET DATA":
        return ALL_KEYS
    if command == "EXEC" or len(args) < 2:
        return ""
    return _only_dtmf(args[1])


def _only_dtmf(escapes: str) -> str:
    return "".join(k for k in escapes if k in DTMF)


async def _next_line(reader: asyncio.StreamReader, buffer: bytearray) -> bytes | None:
    """The next command line without its "\\n" (None at the end), as Asterisk's fgets
    reads it: at most AGI_BUF_LEN - 1 bytes, a longer line read as two commands; a last
    line without "\\n" still runs."""
    limit = AGI_BUF_LEN - 1
    while True:
        end = buffer.find(b"\n", 0, limit)
        if end >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            return line
        if len(buffer) >= limit:
            line = bytes(buffer[:limit])
            del buffer[:limit]
            return line
        chunk = await reader.read(_READ_CHUNK)
        if not chunk:
            if buffer:
                line = bytes(buffer)
                buffer.clear()
                return line
            return None
        buffer += chunk
