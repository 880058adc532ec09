"""The FastAGI benchmark's command stream, recorded from callpop itself.

One call is placed on callpop's FastAGI server with the project's Asterisk simulator
(`callpop.pbx_sim.fastagi`), down the benchmark path. The commands callpop sent are
then played through the simulator's channel model once more, offline, to get for
each command Asterisk's exact answer and how long it takes on a real channel
(prompts play, the caller presses keys). That list is the *transcript*: the load
driver answers every server with it, and the peers (a bare asyncio server, panoramisk,
pyst2) send its commands, so every row of the table carries the same command stream.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel

from bench.paths import DIALPLAN
from callpop.pbx_sim.agi_channel import AgiChannelSim, SimOptions
from callpop.pbx_sim.agi_parse import parse_args
from callpop.pbx_sim.app_args import separate_args
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript, parse_turns
from ivr.actions import Sound
from ivr.flow import Prompt
from ivr.lint import check_dialplan
from ivr.simulator import spoken_ms

__all__ = [
    "REF_CALL_ID",
    "RecordedCommand",
    "Transcript",
    "caller_keys",
    "command_key",
    "key_of",
    "record",
    "sound_lengths",
]

# How long the sample's prompts play: estimated from each prompt's `text:` as
# `callpop simulate` does (ivr.simulator.spoken_ms: a voice talent's pace), so a menu of
# four options takes its ~15 s, not the simulator's default 1.5 s a sound.
WELCOME = ("hello", "acme-welcome", "acme-recording-notice")
MENUS = (("acme-main-menu", "4"), ("acme-account-menu", "3"), ("acme-complaint-menu", "2"))
# A caller who knows what they want presses the key once the option was read: 80% into
# the menu's prompt (a key stops a prompt and is the answer).
PRESS_AT = 0.8


def _prompts(node: object, found: dict[str, int]) -> None:
    if isinstance(node, Prompt):
        if node.sound is not None:
            found[node.sound] = spoken_ms([Sound(node.sound, node.text)])
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            _prompts(getattr(node, name), found)
    elif isinstance(node, dict):
        for value in node.values():
            _prompts(value, found)
    elif isinstance(node, list | tuple):
        for value in node:
            _prompts(value, found)


def sound_lengths(dialplan: Path = DIALPLAN) -> dict[str, int]:
    """Sound name -> milliseconds, for every prompt of the dialplan."""
    found: dict[str, int] = {}
    for flow in check_dialplan(dialplan).flows.values():
        _prompts(flow, found)
    return found


def caller_keys(sounds: dict[str, int]) -> tuple[str, ...]:
    """The caller of bench.paths.FOUR_LEVELS as callpop.pbx_sim.script tokens
    (`keys@ms into the turn`). The first turn starts with the welcome prompts (they can
    be interrupted), so the first key comes after the welcome and most of the main menu."""
    keys = []
    offset = sum(sounds[name] for name in WELCOME)
    for menu, key in MENUS:
        keys.append(f"{key}@{offset + int(sounds[menu] * PRESS_AT)}")
        offset = 0
    return tuple(keys)


# The call id of the recorded call: distinctive, so substituting it is exact.
REF_CALL_ID = "1795300000.424242"
NETWORK_SCRIPT = "ivr?flow=main"


def command_key(line: bytes) -> bytes:
    """What a command must match: the whole line, except that `SET VARIABLE NAME VALUE`
    is matched on its name and `EXEC MSet` on the names it sets, in order (the values
    carry the call id and the caller's CRM data), each split as Asterisk splits it."""
    if line[:13].upper() == b"SET VARIABLE ":
        return b" ".join(line.split(b" ", 3)[:3])
    if line[:12] == b'EXEC "MSet" ':
        pairs = separate_args(parse_args(line.rstrip(b"\n"))[2].decode(), ",", 99)
        return line[:12] + ",".join(pair.partition("=")[0] for pair in pairs).encode()
    return line


@dataclass(frozen=True, slots=True)
class RecordedCommand:
    command: str  # as callpop sent it for the recorded call
    answer: str  # Asterisk's answer lines, each ended by "\n"; REF_CALL_ID where the id goes
    duration_ms: int  # how long the command takes on a real channel
    menu_key: str | None = None  # the key the caller presses (a menu's choice)


@dataclass(frozen=True, slots=True)
class Transcript:
    steps: tuple[RecordedCommand, ...]
    caller: str
    keys: tuple[str, ...]
    outcome: dict[str, str]  # the CALLPOP_* variables the recorded call ended with

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Transcript:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            tuple(RecordedCommand(**s) for s in raw["steps"]),
            raw["caller"],
            tuple(raw["keys"]),
            raw["outcome"],
        )


def key_of(command: bytes, answer: list[bytes]) -> str | None:
    """The key the caller pressed, as the answer to `command` tells it: STREAM FILE and
    WAIT FOR DIGIT answer its ASCII code (`200 result=52` is 4), GET DATA the digits."""
    if not answer or not answer[0].startswith(b"200 result="):
        return None
    value = answer[0][len(b"200 result=") :].split(b" ")[0].decode()
    if command[:9].upper() == b"GET DATA ":
        return value or None
    if command[:12].upper() in (b"STREAM FILE ", b"WAIT FOR DIG") and value.isdigit():
        return chr(int(value)) if int(value) > 0 else None
    return None


def script_for(keys: tuple[str, ...], caller: str, uniqueid: str = REF_CALL_ID) -> CallerScript:
    return CallerScript(
        turns=parse_turns(" ".join(keys)),
        caller=CallerId(number=caller, name="Bench Caller"),
        uniqueid=uniqueid,
    )


async def record(host: str, port: int, caller: str) -> tuple[Transcript, CallRecord]:
    """Place the reference call and derive the transcript from what callpop sent."""
    sounds = sound_lengths()
    keys = caller_keys(sounds)
    # The simulator takes sound lengths in 8 kHz samples.
    options = SimOptions(sounds=tuple((name, ms * 8) for name, ms in sounds.items()))
    script = script_for(keys, caller)
    call = await call_fastagi(host, port, script, path=NETWORK_SCRIPT, options=options)
    sim = AgiChannelSim(script, options, fast=True)
    steps = []
    commands = [line for who, line in call.wire if who == ">"]
    for line in commands:
        out = sim.handle(line)
        if out.close:
            break
        answer = b"".join(a + b"\n" for a in out.lines).decode("utf-8")
        steps.append(
            RecordedCommand(line.decode("utf-8"), answer, out.duration_ms, key_of(line, out.lines))
        )
    outcome = {k: v for k, v in call.variables.items() if k.startswith("CALLPOP_")}
    return Transcript(tuple(steps), caller, keys, outcome), call
