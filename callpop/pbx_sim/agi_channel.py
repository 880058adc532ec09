"""Asterisk's side of AGI for one simulated channel, without I/O: a command line in,
the lines Asterisk would write out, on a virtual clock.

Every answer follows the recorded transcripts (tests/fixtures/asterisk/agi/) and,
where they are silent, res_agi.c of the same Asterisk 22: argument splitting by
`parse_args`, 510 for unknown commands, 520 with the usage text for wrong arguments,
511 for channel commands once the channel is dead, the `HANGUP` line after the
command a hang-up interrupted, keys as ASCII codes.

Nothing sleeps here: each command reports how long it would have taken on a real
channel (`CommandReply.duration_ms`); the I/O layer may sleep that long (benchmarks) or not.
The commands that play and listen are in `agi_media.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from callpop.pbx_sim.agi_media import HANDLERS as MEDIA_HANDLERS
from callpop.pbx_sim.agi_parse import CommandSpec, find_command, parse_args
from callpop.pbx_sim.script import CallerScript, TurnCursor
from callpop.pbx_sim.usage import usage_lines

__all__ = ["DEFAULT_SOUND_SAMPLES", "AgiChannelSim", "CommandReply", "SimOptions"]

DEFAULT_SOUND_SAMPLES: Final = 12000  # 1.5 s
ANSWER_MS: Final = 500  # answer.txt: ANSWER takes ~0.5 s on a channel not yet up
# A caller waiting on `WAIT FOR DIGIT -1` with nothing left to do gives up eventually.
PATIENCE_MS: Final = 10 * 60 * 1000
# Sound lengths the transcripts show (full-play endpos): the simulator's defaults.
KNOWN_SOUNDS: Final = {"hello-world": 11234, "beep": 3404, "demo-congrats": 36000}


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How the simulated Asterisk behaves.

    `sounds` maps sound names to their length in samples (8 kHz); others last
    DEFAULT_SOUND_SAMPLES, those in `missing_sounds` do not exist.
    `sighup`/`exit_on_hangup` are the channel variables `AGISIGHUP` and
    `AGIEXITONHANGUP` (hangup-nosighup.txt, hangup-exit-on-hangup.txt).
    `time_scale` is how much of each command's duration the I/O layer really waits:
    0 answers at once (tests, throughput), 1.0 is real time (latency benchmarks).
    """

    sounds: tuple[tuple[str, int], ...] = ()
    missing_sounds: frozenset[str] = frozenset()
    sighup: bool = True
    exit_on_hangup: bool = False
    time_scale: float = 0.0
    max_commands: int = 10_000


@dataclass(slots=True)
class CommandReply:
    lines: list[bytes] = field(default_factory=list)
    duration_ms: int = 0
    close: bool = False  # Asterisk ends the AGI after these lines


Handler = Callable[["AgiChannelSim", list[str], CommandReply], bool]


class AgiChannelSim:
    """The channel an AGI drives: variables, state, the caller's keys and hang-up."""

    def __init__(self, script: CallerScript, options: SimOptions, *, fast: bool = True) -> None:
        self.script = script
        self.options = options
        self.fast = fast  # FastAGI tells of a hang-up with a line, classic AGI with SIGHUP
        self.now_ms = 0
        self.up = script.answered
        self.dead = False
        self.hung_up_by: str | None = None
        self.variables: dict[str, str] = dict(script.variables)
        self.set_order: list[tuple[str, str]] = []
        self.played: list[str] = []
        self.verbose: list[str] = []
        self.executed: list[tuple[str, str]] = []
        self.database: dict[tuple[str, str], str] = {}
        self.dialplan: dict[str, str] = {}
        self.caller = (script.caller.name or "", script.caller.number or "")
        self.commands = 0
        self.cursor = TurnCursor(script.turns)
        self._sounds = {**KNOWN_SOUNDS, **dict(options.sounds)}

    # -- the caller ---------------------------------------------------------------

    def hang_up(self, out: CommandReply, by: str = "caller") -> None:
        self.dead = True
        self.hung_up_by = self.hung_up_by or by
        self.cursor.hangup_at_ms = None
        self.variables.setdefault("HANGUPCAUSE", "16")  # normal clearing
        if self.options.sighup and self.fast:
            out.lines.append(b"HANGUP")
        if self.options.exit_on_hangup:
            out.close = True  # and the end-of-AGI notice follows (a second HANGUP)

    def wait(self, budget_ms: int | None, keys: str) -> tuple[str, int] | None:
        """Wait up to `budget_ms` (None: forever) for a key in `keys` or the hang-up.
        Returns ("key", ascii) / ("hangup", 0) with the clock moved there, or None (the
        budget ran out, clock moved to its end). Other keys are lost, as on a channel."""
        cursor = self.cursor
        cursor.drop_keys_before(self.now_ms)
        end = None if budget_ms is None else self.now_ms + budget_ms
        while True:
            nxt = cursor.next_key()
            hang = cursor.hangup_at_ms
            if end is None and nxt is None and hang is None:
                hang = cursor.hangup_at_ms = self.now_ms + PATIENCE_MS
            if (
                hang is not None
                and (end is None or hang <= end)
                and (nxt is None or hang <= nxt[0])
            ):
                self.now_ms = max(self.now_ms, hang)
                return ("hangup", 0)
            if nxt is not None and (end is None or nxt[0] <= end):
                self.now_ms = max(self.now_ms, nxt[0])
                cursor.take_key()
                if nxt[1] in keys:
                    return ("key", ord(nxt[1]))
                continue
            assert end is not None
            self.now_ms = end
            return None

    def sound_samples(self, name: str) -> int | None:
        if name in self.options.missing_sounds:
            return None
        return self._sounds.get(name, DEFAULT_SOUND_SAMPLES)

    # -- commands -----------------------------------------------------------------

    def handle(self, line: bytes) -> CommandReply:
        """Run one command line (without its "\\n") as res_agi would."""
        out = CommandReply()
        start = self.now_ms
        self.commands += 1
        planned = self.script.hangup_on_command
        if not self.dead and planned is not None and self.commands - 1 == planned:
            self.cursor.hangup_at_ms = self.now_ms + self.script.hangup_delay_ms
        elif (
            not self.dead and (hang := self.cursor.hangup_at_ms) is not None and hang <= self.now_ms
        ):
            # The caller hung up while the AGI was idle: the HANGUP line came first.
            self.hang_up(out)
            if out.close:
                return out
        argv = parse_args(line)
        spec = find_command(argv)
        if spec is None:
            out.lines.append(b"510 Invalid or unknown command")
        elif self.dead and not spec.dead:
            out.lines.append(b"511 Command Not Permitted on a dead channel or intercept routine")
        else:
            args = [a.decode("utf-8", "replace") for a in argv]
            if not self._run(spec, args, out):
                out.lines.extend(usage_lines(spec.name))
        # A hang-up planned on a command that does not wait happens right after it.
        hang = self.cursor.hangup_at_ms
        if not self.dead and hang is not None and hang <= self.now_ms:
            self.hang_up(out)
        out.duration_ms = self.now_ms - start
        return out

    def _run(self, spec: CommandSpec, argv: list[str], out: CommandReply) -> bool:
        """False means wrong arguments (520)."""
        handler = _HANDLERS.get(spec.name) or MEDIA_HANDLERS.get(spec.name)
        if handler is None:
            out.lines.append(b"200 result=0")
            return True
        return handler(self, argv, out)

    # -- variables ------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        self.set_order.append((name, value))
        # `_X` and `__X` set X, marked for inheritance (pbx_builtin_setvar_helper).
        stored = name[2:] if name.startswith("__") else name[1:] if name.startswith("_") else name
        if stored in ("CALLERID(name)", "CALLERID(num)"):
            name_, num = self.caller
            self.caller = (value, num) if stored.endswith("(name)") else (name_, value)
            return
        self.variables[stored] = value

    def read(self, name: str) -> str | None:
        """GET VARIABLE: the channel's variables, then its functions and built-ins."""
        if name in self.variables:
            return self.variables[name]
        s = self.script
        caller_name, caller_num = self.caller
        priority = self.dialplan.get("priority")
        builtin = {
            "CHANNEL(linkedid)": s.linkedid or s.uniqueid,
            "CHANNEL(uniqueid)": s.uniqueid,
            "UNIQUEID": s.uniqueid,
            "CHANNEL(name)": self.channel_name,
            "CHANNEL(state)": "Up" if self.up else "Ring",
            "CALLERID(num)": caller_num,
            "CALLERID(name)": caller_name,
            "CALLERID(all)": f'"{caller_name}" <{caller_num}>' if caller_name else caller_num,
            "CONTEXT": self.dialplan.get("context", s.context),
            "EXTEN": self.dialplan.get("extension", s.extension),
            # After SET PRIORITY n, ${PRIORITY} reads n-1: the PBX adds one when AGI
            # returns (routing.txt).
            "PRIORITY": str(int(priority) - 1) if priority and priority.isdigit() else "2",
        }
        return builtin.get(name)

    def substitute(self, expression: str) -> str:
        return re.sub(r"\$\{([^${}]*)\}", lambda m: self.read(m.group(1)) or "", expression)

    @property
    def channel_name(self) -> str:
        return self.script.channel or f"PJSIP/trunk-{self.script.uniqueid.replace('.', '')[-8:]}"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


# -- the commands that neither play nor listen ------------------------------------------


def _answer(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if not sim.up:
        sim.now_ms += ANSWER_MS
        sim.up = True
    out.lines.append(b"200 result=0")
    return True


def _noop(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    out.lines.append(b"200 result=0")
    return True


def _channel_status(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) == 3:  # another channel by name: none exists in the simulation
        out.lines.append(b"200 result=-1")
        return True
    if len(argv) != 2:
        return False
    out.lines.append(b"200 result=6" if sim.up else b"200 result=4")
    return True


def _hangup(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) == 2:
        out.lines.append(b"200 result=-1")
        return True
    if len(argv) != 1:
        return False
    out.lines.append(b"200 result=1")
    sim.hang_up(out, by="application")  # agi-hangup-command.txt: the HANGUP line follows
    return True


def _set_variable(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) != 4:
        return False
    sim.set(argv[2], argv[3])
    out.lines.append(b"200 result=1")
    return True


def _get_variable(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) != 3:
        return False
    value = sim.read(argv[2])
    # The value is not escaped: `a (b) c)` comes back as `(a (b) c))` (variables.txt).
    out.lines.append(b"200 result=0" if value is None else _b(f"200 result=1 ({value})"))
    return True


def _get_full_variable(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) not in (4, 5):
        return False
    out.lines.append(_b(f"200 result=1 ({sim.substitute(argv[3])})"))
    return True


def _verbose(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) < 2:
        return False
    sim.verbose.append(argv[1])
    out.lines.append(b"200 result=1")
    return True


def _set_dialplan(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) != 3:
        return False
    sim.dialplan[argv[1].lower()] = argv[2]
    out.lines.append(b"200 result=0")
    return True


def _set_callerid(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) >= 3:
        match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', argv[2])
        sim.caller = (match.group(1), match.group(2)) if match else ("", argv[2])
    out.lines.append(b"200 result=1")
    return True


def _database(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    verb = argv[1].upper()
    if verb == "PUT":
        if len(argv) != 5:
            return False
        sim.database[(argv[2], argv[3])] = argv[4]
        out.lines.append(b"200 result=1")
        return True
    if len(argv) != 4:
        return False
    key = (argv[2], argv[3])
    if key not in sim.database:
        out.lines.append(b"200 result=0")
    elif verb == "GET":
        out.lines.append(_b(f"200 result=1 ({sim.database[key]})"))
    else:
        del sim.database[key]
        out.lines.append(b"200 result=1")
    return True


_HANDLERS: Final[dict[str, Handler]] = {
    "ANSWER": _answer,
    "NOOP": _noop,
    "CHANNEL STATUS": _channel_status,
    "HANGUP": _hangup,
    "SET VARIABLE": _set_variable,
    "GET VARIABLE": _get_variable,
    "GET FULL VARIABLE": _get_full_variable,
    "VERBOSE": _verbose,
    "SET CONTEXT": _set_dialplan,
    "SET EXTENSION": _set_dialplan,
    "SET PRIORITY": _set_dialplan,
    "SET CALLERID": _set_callerid,
    "DATABASE PUT": _database,
    "DATABASE GET": _database,
    "DATABASE DEL": _database,
}
