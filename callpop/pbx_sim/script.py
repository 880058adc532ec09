"""The scripted caller every Asterisk simulator plays (FastAGI now, ARI later).

A script is what one caller does, turn by turn. A *turn* starts when the IVR begins
to listen (a prompt that keys can stop, or a wait for keys) and the caller has no
turn going: then the caller presses keys with their timing, stays silent, or hangs up.
Key times are relative to the start of their turn, so a script does not depend on how
long the prompts are. After the last turn the caller stays silent (the IVR's
timeouts then run out until it transfers or hangs up), as `callpop simulate` does.

A hang-up can also be placed on the N-th AGI command the IVR sends, whatever it is
(`hangup_on_command`, `hangup_delay_ms` into it): that is how tests hang up at every
step of a path.

The text form, for the CLI, benchmarks and tests, is the `callpop simulate --keys`
form with timing: tokens split on spaces or commas, one per turn:

    1          press 1 (300 ms into the turn)
    1234#      press the keys one after another (250 ms apart)
    w          let the turn time out (silence)
    h          hang up at once;  h@1500 hangs up 1.5 s into the turn
    2@800      press 2 800 ms into the turn;  12@800/400: 800 ms, then 400 ms apart
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_DELAY_MS",
    "DEFAULT_GAP_MS",
    "CallerId",
    "CallerScript",
    "HangUp",
    "Keys",
    "ScriptError",
    "Silence",
    "Turn",
    "parse_turns",
]

DEFAULT_DELAY_MS: Final = 300
DEFAULT_GAP_MS: Final = 250

_KEYS = re.compile(r"[0-9*#A-D]+")
_TOKEN = re.compile(
    r"(?P<keys>[0-9*#A-D]+)(?:@(?P<delay>\d+)(?:/(?P<gap>\d+))?)?"
    r"|(?P<silence>w)"
    r"|(?P<hangup>h)(?:@(?P<hdelay>\d+))?",
    re.IGNORECASE,
)


class ScriptError(ValueError):
    """A caller script that cannot be read; the message names the token and its position."""


@dataclass(frozen=True, slots=True)
class CallerId:
    """The caller ID as the PBX has it. `name` may be anything a caller can put there:
    quotes, backslashes, commas, UTF-8, even control characters."""

    number: str | None = "+15551234567"
    name: str | None = "Alice Smith"


@dataclass(frozen=True, slots=True)
class Keys:
    """Press `keys`, the first `delay_ms` into the turn, then one every `gap_ms`."""

    keys: str
    delay_ms: int = DEFAULT_DELAY_MS
    gap_ms: int = DEFAULT_GAP_MS

    def __post_init__(self) -> None:
        if not _KEYS.fullmatch(self.keys):
            raise ScriptError(f"keys are DTMF 0-9 * # A-D, got {self.keys!r}")
        if self.delay_ms < 0 or self.gap_ms <= 0:
            raise ScriptError("a key delay cannot be negative and the gap must be positive")

    def times(self, start_ms: int) -> list[tuple[int, str]]:
        return [(start_ms + self.delay_ms + i * self.gap_ms, k) for i, k in enumerate(self.keys)]


@dataclass(frozen=True, slots=True)
class Silence:
    """Press nothing: the turn ends when the IVR's wait for a key times out."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """Hang up `delay_ms` into the turn (0: as soon as the IVR starts listening)."""

    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ScriptError("a hang-up delay cannot be negative")


Turn = Keys | Silence | HangUp


@dataclass(frozen=True, slots=True)
class CallerScript:
    """One simulated call: who calls, where, and what they do.

    `variables` are channel variables already set when the AGI starts (e.g.
    `CALLPOP_CALL_ID`, `MEMBERINTERFACE` and `QUEUENAME` for the connect AGI of a
    queue). `linkedid` is the call id Asterisk gives `CHANNEL(linkedid)`: the first
    leg's uniqueid, which differs from this leg's `agi_uniqueid` (call-id.txt).
    """

    turns: tuple[Turn, ...] = ()
    caller: CallerId = CallerId()
    extension: str = "7000"
    context: str = "callpop-in"
    dnid: str | None = None
    language: str = "en"
    uniqueid: str = "1795389902.7"
    linkedid: str | None = None
    channel: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    hangup_on_command: int | None = None
    hangup_delay_ms: int = 0
    answered: bool = False

    def __post_init__(self) -> None:
        if self.hangup_on_command is not None and self.hangup_on_command < 0:
            raise ScriptError("hangup_on_command counts AGI commands from 0")
        if self.hangup_delay_ms < 0:
            raise ScriptError("a hang-up delay cannot be negative")

    @classmethod
    def parse(cls, text: str, **fields: object) -> CallerScript:
        """A script from the text form (see the module docstring)."""
        return cls(turns=parse_turns(text), **fields)  # type: ignore[arg-type]


def parse_turns(text: str) -> tuple[Turn, ...]:
    """Turns from `"1 2@800 1234# w h@1500"`; tokens split on spaces or commas."""
    turns: list[Turn] = []
    for match in re.finditer(r"[^\s,]+", text):
        token = match.group(0)
        parsed = _TOKEN.fullmatch(token)
        if parsed is None:
            raise ScriptError(
                f"column {match.start() + 1}: {token!r} is not keys (1, 12#, 2@800, 12@800/400), "
                "w (silence) or h (hang up, h@1500)"
            )
        if parsed.group("keys"):
            delay = parsed.group("delay")
            gap = parsed.group("gap")
            turns.append(
                Keys(
                    parsed.group("keys").upper(),
                    DEFAULT_DELAY_MS if delay is None else int(delay),
                    DEFAULT_GAP_MS if gap is None else int(gap),
                )
            )
        elif parsed.group("silence"):
            turns.append(Silence())
        else:
            hdelay = parsed.group("hdelay")
            turns.append(HangUp(0 if hdelay is None else int(hdelay)))
    return tuple(turns)


@dataclass(slots=True)
class TurnCursor:
    """Which turn the caller is in; shared by the simulators."""

    turns: tuple[Turn, ...]
    index: int = 0
    active: Turn | None = None
    started_ms: int = 0
    pending_keys: list[tuple[int, str]] = field(default_factory=list)
    hangup_at_ms: int | None = None

    def listen(self, now_ms: int) -> None:
        """The IVR starts listening at `now_ms`: start the next turn if none is going."""
        if self.active is not None or self.hangup_at_ms is not None:
            return
        if self.index >= len(self.turns):
            self.active = Silence()  # after the script: silent until the IVR gives up
            self.started_ms = now_ms
            return
        turn = self.turns[self.index]
        self.index += 1
        self.active = turn
        self.started_ms = now_ms
        if isinstance(turn, Keys):
            self.pending_keys = turn.times(now_ms)
        elif isinstance(turn, HangUp):
            self.hangup_at_ms = now_ms + turn.delay_ms

    def timed_out(self) -> None:
        """The IVR's wait ran out: a silent turn is over."""
        if isinstance(self.active, Silence):
            self.active = None

    def take_key(self) -> None:
        """A key was consumed; a turn of keys ends with its last key."""
        if self.pending_keys:
            self.pending_keys.pop(0)
        if isinstance(self.active, Keys) and not self.pending_keys:
            self.active = None

    def drop_keys_before(self, now_ms: int) -> None:
        """Keys pressed while nothing listened are lost, as on a real channel."""
        while self.pending_keys and self.pending_keys[0][0] < now_ms:
            self.take_key()

    def next_key(self) -> tuple[int, str] | None:
        return self.pending_keys[0] if self.pending_keys else None
