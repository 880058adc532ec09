"""The simulated Asterisk's records: channels, playbacks, calls and Asterisk's REST
error answers, with their JSON as the recordings in tests/fixtures/asterisk/ari/ show it.
`callpop.pbx_sim.ari_state` gives them behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from callpop.pbx_sim.script import CallerScript, TurnCursor

__all__ = [
    "DEFAULT_SOUND_MS",
    "DTMF_MS",
    "HANGUP_CAUSES",
    "KNOWN_SOUNDS_MS",
    "SAY_DIGIT_MS",
    "Scheduler",
    "SimCall",
    "SimChannel",
    "SimError",
    "SimPlayback",
    "ari_time",
    "channel_not_found",
    "not_in_stasis",
]

DEFAULT_SOUND_MS: Final = 1500
SAY_DIGIT_MS: Final = 830  # say-verbose-misc.txt: SAY DIGITS 123 took 2.496 s
KNOWN_SOUNDS_MS: Final = {"hello-world": 1404, "beep": 425, "demo-congrats": 4000}
DTMF_MS: Final = 120  # the recorded callers' key length (duration_ms)
HANGUP_CAUSES: Final = {  # DELETE /channels ?reason= (channels.json)
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


class Scheduler(Protocol):
    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle: ...


class SimError(Exception):
    """A REST error as Asterisk answers it: status, reason phrase, JSON body."""

    def __init__(self, status: int, reason: str, message: str, key: str = "message") -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.body = {key: message}


def channel_not_found() -> SimError:
    return SimError(404, "Not Found", "Channel not found")


def not_in_stasis() -> SimError:
    return SimError(409, "Conflict", "Channel not in Stasis application")


def ari_time(moment: datetime) -> str:
    """ARI's timestamp format: `2026-11-22T23:16:59.586+0000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass(slots=True)
class SimPlayback:
    id: str
    channel: SimChannel
    media: list[str]
    language: str
    index: int = 0
    state: str = "queued"
    timer: asyncio.TimerHandle | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            body["next_media_uri"] = self.media[self.index + 1]
        body.update(
            target_uri=f"channel:{self.channel.id}", language=self.language, state=self.state
        )
        return body


@dataclass(slots=True)
class SimCall:
    """What happened to one scripted call; `ended` resolves when it left Stasis."""

    script: CallerScript
    channel_id: str
    app: str
    args: tuple[str, ...]
    ended: asyncio.Future[str]
    stasis_status: str = ""
    hung_up_by: str | None = None
    hangup_cause: int | None = None
    continued_to: tuple[str, str, int] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    played: list[str] = field(default_factory=list)
    keys_sent: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SimChannel:
    id: str
    name: str
    call: SimCall
    created: str
    state: str = "Ring"
    context: str = "callpop-in"
    exten: str = "7000"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    stasis_app: str | None = None
    playbacks: list[SimPlayback] = field(default_factory=list)
    requests: int = 0
    cursor: TurnCursor | None = None
    silence_saw_collect: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        caller = self.call.script.caller
        ident = {"name": caller.name or "", "number": caller.number or ""}
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": ident,
            "connected": dict(ident),
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": self.created,
            "language": self.call.script.language,
        }
