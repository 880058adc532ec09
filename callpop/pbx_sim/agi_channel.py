"""Asterisk's side of AGI for one simulated channel, without I/O: a command line in,
the lines Asterisk would write out, on a virtual clock.

Every answer follows the recorded transcripts (tests/fixtures/asterisk/agi/) and,
where they are silent, res_agi.c of the same Asterisk 22: argument splitting by
`parse_args`, 510 for unknown commands, 520 with the usage text for wrong arguments,
511 for channel commands once the channel is dead, the `HANGUP` line after the
command a hang-up interrupted, keys as ASCII codes, GET DATA's `(timeout)` and `#`.

Nothing sleeps here: each command reports how long it would have taken on a real
channel (`Outcome.duration_ms`); the I/O layer may sleep that long (benchmarks) or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from callpop.pbx_sim.agi_parse import CommandSpec, find_command, parse_args
from callpop.pbx_sim.script import CallerScript, TurnCursor
from callpop.pbx_sim.usage import usage_lines

__all__ = ["DEFAULT_SOUND_MS", "AgiChannelSim", "Outcome", "SimOptions"]

DEFAULT_SOUND_MS: Final = 1500
SAMPLES_PER_MS: Final = 8  # endpos counts 8 kHz samples (beep: 3404 ≈ 0.43 s)
ANSWER_MS: Final = 500  # answer.txt: ANSWER takes ~0.5 s on a channel not yet up
SAY_DIGIT_MS: Final = 830  # say-verbose-misc.txt: SAY DIGITS 123 took 2.496 s
# A caller waiting on `WAIT FOR DIGIT -1` with nothing left to do gives up eventually.
PATIENCE_MS: Final = 10 * 60 * 1000
DTMF_KEYS: Final = "0123456789*#ABCD"

# Sound lengths recorded in the transcripts (endpos / 8): the simulator's defaults.
KNOWN_SOUNDS_MS: Final = {"hello-world": 1404, "beep": 425, "demo-congrats": 4000}


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How the simulated Asterisk behaves.

    `sighup`/`exit_on_hangup` are the channel variables `AGISIGHUP` and
    `AGIEXITONHANGUP` (hangup-nosighup.txt, hangup-exit-on-hangup.txt).
    `time_scale` is how much of each command's duration the I/O layer really waits:
    0 answers at once (tests, throughput), 1.0 is real time (latency benchmarks).
    """

    sounds_ms: tuple[tuple[str, int], ...] = ()
    missing_sounds: frozenset[str] = frozenset()
    sighup: bool = True
    exit_on_hangup: bool = False
    time_scale: float = 0.0
    max_commands: int = 10_000


@dataclass(slots=True)
class Outcome:
    lines: list[bytes] = field(default_factory=list)
    duration_ms: int = 0
    close: bool = False  # Asterisk closes the connection after these lines


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
        self.commands = 0
        self.cursor = TurnCursor(script.turns)
        self._sounds = {**KNOWN_SOUNDS_MS, **dict(options.sounds_ms)}

    # -- the caller ---------------------------------------------------------------

    def _hangup_at(self) -> int | None:
        return self.cursor.hangup_at_ms

    def _caller_hangs_up(self, out: Outcome) -> None:
        self.dead = True
        self.hung_up_by = self.hung_up_by or "caller"
        self.cursor.hangup_at_ms = None
        if self.options.sighup and self.fast:
            out.lines.append(b"HANGUP")
        if self.options.exit_on_hangup:
            out.close = True  # and the end-of-AGI notice follows (a second HANGUP)

    def _wait(self, budget_ms: int | None, keys: str) -> tuple[str, int] | None:
        """Wait up to `budget_ms` (None: forever) for a key in `keys` or the hang-up.
        Returns ("key", k) / ("hangup", 0) with the clock moved there, or None (the
        budget ran out, clock moved to its end). Other keys are lost, as on a channel."""
        self.cursor.drop_keys_before(self.now_ms)
        end = None if budget_ms is None else self.now_ms + budget_ms
        while True:
            nxt = self.cursor.next_key()
            hang = self._hangup_at()
            if budget_ms is None and nxt is None and hang is None:
                hang = self.cursor.hangup_at_ms = self.now_ms + PATIENCE_MS
            if hang is not None and (end is None or hang <= end) and (nxt is None or hang <= nxt[0]):
                self.now_ms = max(self.now_ms, hang)
                return ("hangup", 0)
            if nxt is not None and (end is None or nxt[0] <= end):
                self.now_ms = max(self.now_ms, nxt[0])
                self.cursor.take_key()
                if nxt[1] in keys:
                    return ("key", ord(nxt[1]))
                continue
            assert end is not None
            self.now_ms = end
            return None

    # -- commands -----------------------------------------------------------------

    def handle(self, line: bytes) -> Outcome:
        """Run one command line (without its "\\n") as res_agi would."""
        out = Outcome()
        start = self.now_ms
        self.commands += 1
        if (
            not self.dead
            and self.script.hangup_on_command is not None
            and self.commands - 1 == self.script.hangup_on_command
        ):
            self.cursor.hangup_at_ms = self.now_ms
        elif not self.dead and (hang := self._hangup_at()) is not None and hang <= self.now_ms:
            # The caller hung up while the AGI was idle: the HANGUP line goes first.
            self._caller_hangs_up(out)
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
        # A command that is not blocking still lets a hang-up planned on it happen.
        if not self.dead and (hang := self._hangup_at()) is not None and hang <= self.now_ms:
            self._caller_hangs_up(out)
        out.duration_ms = self.now_ms - start
        return out

    def _run(self, spec: CommandSpec, argv: list[str], out: Outcome) -> bool:
        """False means wrong arguments (520)."""
        name = spec.name
        argc = len(argv)
        if name == "ANSWER":
            if not self.up:
                self.now_ms += ANSWER_MS
                self.up = True
            out.lines.append(b"200 result=0")
        elif name == "NOOP":
            out.lines.append(b"200 result=0")
        elif name == "CHANNEL STATUS":
            if argc != 2:
                return False
            out.lines.append(b"200 result=6" if self.up else b"200 result=4")
        elif name == "HANGUP":
            if argc == 2:  # another channel by name: none exists in the simulation
                out.lines.append(b"200 result=-1")
                return True
            if argc != 1:
                return False
            out.lines.append(b"200 result=1")
            self.hung_up_by = "application"
            self._caller_hangs_up(out)
        elif name == "STREAM FILE":
            return self._stream_file(argv, out)
        elif name == "WAIT FOR DIGIT":
            return self._wait_for_digit(argv, out)
        elif name == "GET DATA":
            return self._get_data(argv, out)
        elif name in ("SAY DIGITS", "SAY NUMBER", "SAY ALPHA"):
            return self._say(name, argv, out)
        elif name == "SET VARIABLE":
            if argc != 4:
                return False
            self._set(argv[2], argv[3])
            out.lines.append(b"200 result=1")
        elif name == "GET VARIABLE":
            if argc != 3:
                return False
            value = self.read(argv[2])
            out.lines.append(b"200 result=0" if value is None else _b(f"200 result=1 ({value})"))
        elif name == "GET FULL VARIABLE":
            if argc not in (4, 5):
                return False
            out.lines.append(_b(f"200 result=1 ({self.substitute(argv[3])})"))
        elif name == "EXEC":
            return self._exec(argv, out)
        elif name == "VERBOSE":
            if argc < 2:
                return False
            self.verbose.append(argv[1])
            out.lines.append(b"200 result=1")
        elif name in ("SET CONTEXT", "SET EXTENSION", "SET PRIORITY"):
            if argc != 3:
                return False
            self.dialplan[argv[1].lower()] = argv[2]
            out.lines.append(b"200 result=0")
        elif name == "DATABASE PUT":
            if argc != 5:
                return False
            self.database[(argv[2], argv[3])] = argv[4]
            out.lines.append(b"200 result=1")
        elif name in ("DATABASE GET", "DATABASE DEL"):
            if argc != 4:
                return False
            key = (argv[2], argv[3])
            if key not in self.database:
                out.lines.append(b"200 result=0")
            elif name == "DATABASE GET":
                out.lines.append(_b(f"200 result=1 ({self.database[key]})"))
            else:
                del self.database[key]
                out.lines.append(b"200 result=1")
        else:
            out.lines.append(b"200 result=0")
        return True

    def _sound_ms(self, name: str) -> int | None:
        if name in self.options.missing_sounds:
            return None
        return self._sounds.get(name, DEFAULT_SOUND_MS)

    def _stream_file(self, argv: list[str], out: Outcome) -> bool:
        if not 4 <= len(argv) <= 5:
            return False
        offset = 0
        if len(argv) == 5:
            parsed = _scan_int(argv[4])
            if parsed is None:
                return False
            offset = parsed
        length = self._sound_ms(argv[2])
        if length is None:
            out.lines.append(_b(f"200 result=-1 endpos={offset}"))
            return True
        self.played.append(argv[2])
        escapes = argv[3]
        if escapes:
            self.cursor.listen(self.now_ms)
        start = self.now_ms
        remaining = max(0, length - offset // SAMPLES_PER_MS)
        got = self._wait(remaining, escapes)
        endpos = offset + (self.now_ms - start) * SAMPLES_PER_MS
        if got is None:
            endpos = length * SAMPLES_PER_MS
            out.lines.append(_b(f"200 result=0 endpos={endpos}"))
            self.variables["PLAYBACKSTATUS"] = "SUCCESS"
        elif got[0] == "key":
            out.lines.append(_b(f"200 result={got[1]} endpos={endpos}"))
            self.variables["PLAYBACKSTATUS"] = "FAILED"
        else:
            out.lines.append(_b(f"200 result=-1 endpos={endpos}"))
            self.variables["PLAYBACKSTATUS"] = "FAILED"
            self._caller_hangs_up(out)
        return True

    def _wait_for_digit(self, argv: list[str], out: Outcome) -> bool:
        if len(argv) != 4:
            return False
        timeout = _scan_int(argv[3])
        if timeout is None:
            return False
        self.cursor.listen(self.now_ms)
        got = self._wait(None if timeout < 0 else timeout, DTMF_KEYS)
        if got is None:
            self.cursor.timed_out()
            out.lines.append(b"200 result=0")
        elif got[0] == "key":
            out.lines.append(_b(f"200 result={got[1]}"))
        else:
            out.lines.append(b"200 result=-1")
            self._caller_hangs_up(out)
        return True

    def _get_data(self, argv: list[str], out: Outcome) -> bool:
        # handle_getdata + ast_app_getdata_full + ast_readstring_full (main/app.c,
        # main/channel.c): any key stops the prompt and counts; `#` ends input.
        if len(argv) < 3:
            return False
        timeout = _atoi(argv[3]) if len(argv) >= 4 else 0
        maxlen = _atoi(argv[4]) if len(argv) >= 5 else 1024
        first, between = (6000, 2000) if timeout == 0 else (timeout, timeout)
        forever = timeout < 0
        prompt = argv[2]
        self.cursor.listen(self.now_ms)
        if maxlen <= 0:
            out.lines.append(b"200 result=-1")
            return True
        digits = ""
        got: tuple[str, int] | None = None
        if prompt:
            length = self._sound_ms(prompt)
            if length is None:
                out.lines.append(b"200 result=-1")
                return True
            self.played.append(prompt)
            got = self._wait(length, DTMF_KEYS)
        wait = first
        while True:
            if got is None:
                got = self._wait(None if forever else wait, DTMF_KEYS)
            if got is None:
                self.cursor.timed_out()
                out.lines.append(_b(f"200 result={digits} (timeout)"))
                return True
            if got[0] == "hangup":
                out.lines.append(b"200 result=-1")
                self._caller_hangs_up(out)
                return True
            key = chr(got[1])
            got = None
            if key == "#" and not digits:
                out.lines.append(b"200 result=")
                return True
            if key != "#":
                digits += key
            if key == "#" or len(digits) >= maxlen:
                out.lines.append(_b(f"200 result={digits}"))
                return True
            wait = between

    def _say(self, name: str, argv: list[str], out: Outcome) -> bool:
        if name == "SAY DIGITS" and len(argv) != 4:
            return False
        if name != "SAY DIGITS" and not 4 <= len(argv) <= 5:
            return False
        if name != "SAY ALPHA" and _scan_int(argv[2]) is None:
            return False
        spoken = argv[2].lstrip("-") if name == "SAY NUMBER" else argv[2]
        escapes = argv[3]
        if escapes:
            self.cursor.listen(self.now_ms)
        self.played.append(f"{name.split()[1].lower()}:{argv[2]}")
        got = self._wait(SAY_DIGIT_MS * max(1, len(spoken)), escapes)
        if got is None:
            out.lines.append(b"200 result=0")
        elif got[0] == "key":
            out.lines.append(_b(f"200 result={got[1]}"))
        else:
            out.lines.append(b"200 result=-1")
            self._caller_hangs_up(out)
        return True

    def _exec(self, argv: list[str], out: Outcome) -> bool:
        if len(argv) < 2:
            return False
        app = argv[1].lower()
        data = argv[2] if len(argv) > 2 else ""
        self.executed.append((argv[1], data))
        result = 0
        if app == "playback":
            sound = data.split(",")[0]
            length = self._sound_ms(sound)
            if length is None:
                self.variables["PLAYBACKSTATUS"] = "FAILED"
            else:
                self.played.append(sound)
                if self._wait(length, "") is not None:
                    result = -1
                    out.lines.append(b"200 result=-1")
                    self._caller_hangs_up(out)
                    return True
                self.variables["PLAYBACKSTATUS"] = "SUCCESS"
        elif app == "set":
            variable, _, value = data.partition("=")
            self._set(variable, value)
        elif app == "wait":
            try:
                self.now_ms += int(float(data or "0") * 1000)
            except ValueError:
                pass
        elif app not in ("noop", "verbose", "answer", "goto"):
            result = -2
        out.lines.append(_b(f"200 result={result}"))
        return True

    # -- variables ------------------------------------------------------------------

    def _set(self, name: str, value: str) -> None:
        self.set_order.append((name, value))
        # `_X` and `__X` set X, marked for inheritance (pbx_builtin_setvar_helper).
        stored = name[2:] if name.startswith("__") else name[1:] if name.startswith("_") else name
        self.variables[stored] = value

    def read(self, name: str) -> str | None:
        """GET VARIABLE: dialplan functions and the channel's own values first."""
        s = self.script
        caller_num = s.caller.number or ""
        caller_name = s.caller.name or ""
        builtin = {
            "CHANNEL(linkedid)": s.linkedid or s.uniqueid,
            "CHANNEL(uniqueid)": s.uniqueid,
            "UNIQUEID": s.uniqueid,
            "CHANNEL(name)": self.channel_name,
            "CHANNEL(state)": "Up" if self.up else "Ring",
            "CALLERID(num)": caller_num,
            "CALLERID(name)": caller_name,
            "CALLERID(all)": f'"{caller_name}" <{caller_num}>' if caller_name else caller_num,
            "CONTEXT": s.context,
            "EXTEN": s.extension,
        }
        if name in self.variables:
            return self.variables[name]
        return builtin.get(name)

    def substitute(self, expression: str) -> str:
        return re.sub(r"\$\{([^${}]*)\}", lambda m: self.read(m.group(1)) or "", expression)

    @property
    def channel_name(self) -> str:
        return self.script.channel or f"PJSIP/trunk-{self.script.uniqueid.replace('.', '')[-8:]}"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _scan_int(text: str) -> int | None:
    """C `sscanf("%30d")`: optional spaces and sign, then digits; None when none."""
    match = re.match(r"\s*([+-]?\d{1,30})", text)
    return None if match is None else int(match.group(1))


def _atoi(text: str) -> int:
    value = _scan_int(text)
    return 0 if value is None else value
