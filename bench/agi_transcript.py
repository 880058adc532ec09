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

from callpop.pbx_sim.agi_channel import AgiChannelSim, SimOptions
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript, parse_turns

__all__ = ["CALLER_KEYS", "REF_CALL_ID", "Step", "Transcript", "command_key", "key_of", "record"]

# The caller of bench.paths.FOUR_LEVELS on a real channel (callpop.pbx_sim.script
# tokens, each `keys@ms into the turn`): the first turn starts with the welcome prompts
# (they can be interrupted), so 4 comes 5.2 s in, during the main menu's prompt, after
# the three welcome prompts (1.5 s each); then 3 and 2 halfway through their menus'
# prompts. A caller who knows the tree, but listens.
CALLER_KEYS = ("4@5200", "3@1200", "2@1200")
# The call id of the recorded call: distinctive, so substituting it is exact.
REF_CALL_ID = "1795300000.424242"
NETWORK_SCRIPT = "ivr?flow=main"


def command_key(line: bytes) -> bytes:
    """What a command must match: the whole line, except that `SET VARIABLE NAME VALUE`
    is matched on its name (the values carry the call id and the caller's CRM data)."""
    if line[:13].upper() == b"SET VARIABLE ":
        return b" ".join(line.split(b" ", 3)[:3])
    return line


@dataclass(frozen=True, slots=True)
class Step:
    command: str  # as callpop sent it for the recorded call
    answer: str  # Asterisk's answer lines, each ended by "\n"; REF_CALL_ID where the id goes
    duration_ms: int  # how long the command takes on a real channel
    menu_key: str | None = None  # the key the caller presses (a menu's choice)


@dataclass(frozen=True, slots=True)
class Transcript:
    steps: tuple[Step, ...]
    caller: str
    keys: tuple[str, ...]
    outcome: dict[str, str]  # the CALLPOP_* variables the recorded call ended with

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Transcript:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(Step(**s) for s in raw["steps"]), raw["caller"], tuple(raw["keys"]),
                   raw["outcome"])


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
    return CallerScript(turns=parse_turns(" ".join(keys)),
                        caller=CallerId(number=caller, name="Bench Caller"), uniqueid=uniqueid)


async def record(host: str, port: int, keys: tuple[str, ...], caller: str) -> tuple[Transcript, CallRecord]:
    """Place the reference call and derive the transcript from what callpop sent."""
    script = script_for(keys, caller)
    call = await call_fastagi(host, port, script, path=NETWORK_SCRIPT)
    sim = AgiChannelSim(script, SimOptions(), fast=True)
    steps = []
    commands = [line for who, line in call.wire if who == ">"]
    for line in commands:
        out = sim.handle(line)
        if out.close:
            break
        answer = b"".join(a + b"\n" for a in out.lines).decode("utf-8")
        steps.append(Step(line.decode("utf-8"), answer, out.duration_ms, key_of(line, out.lines)))
    outcome = {k: v for k, v in call.variables.items() if k.startswith("CALLPOP_")}
    return Transcript(tuple(steps), caller, keys, outcome), call
