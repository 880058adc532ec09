"""ARI's websocket events, typed (the channels and playbacks they carry are
`ivr.ari.models`).

Sans-I/O: `parse_event(text)` turns one websocket text frame into a frozen event.
Shapes follow Asterisk 22's
`events.json`/`channels.json` (Swagger 1.1) as the recorded exchanges in
`tests/fixtures/asterisk/ari/` show them; where the two disagree the recordings win.

Anything that is not ARI (bad JSON, a required field missing or of the wrong type)
raises `AriProtocolError`, the peer's fault, and nothing else: the fuzz invariant of
every parser in callpop. An event type this module does not know (ARI grows new ones)
is an `UnknownEvent`, not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.ari.models import (
    AriProtocolError,
    BridgeSnapshot,
    CallerId,
    ChannelSnapshot,
    DialplanLocation,
    JsonObject,
    PlaybackSnapshot,
    field_int,
    field_object,
    field_str,
    field_str_list,
)

__all__ = [
    "KNOWN_EVENT_TYPES",
    "ApplicationReplaced",
    "AriEvent",
    "AriProtocolError",
    "BridgeDestroyed",
    "BridgeSnapshot",
    "CallerId",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelCreated",
    "ChannelDestroyed",
    "ChannelDialplan",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelEvent",
    "ChannelHangupRequest",
    "ChannelLeftBridge",
    "ChannelSnapshot",
    "ChannelStateChange",
    "ChannelVarset",
    "Dial",
    "DialplanLocation",
    "PlaybackContinuing",
    "PlaybackEvent",
    "PlaybackFinished",
    "PlaybackSnapshot",
    "PlaybackStarted",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "event_from_json",
    "parse_event",
]

# --- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AriEvent:
    """Every ARI event has `type`, `application` and `timestamp` (and `asterisk_id`)."""

    type: str
    application: str
    timestamp: str
    asterisk_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(AriEvent):
    channel: ChannelSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(ChannelEvent):
    """A channel entered the app; `args` are `Stasis(app,ARGS...)` split on commas."""

    args: tuple[str, ...]
    replace_channel: ChannelSnapshot | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    """Sent once per key, at its end. ARI does not stop a playback for it."""

    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    """`cause` 16 for a caller hang-up, 32 with `soft` for an ARI DELETE, 4 at shutdown."""

    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCallerId(ChannelEvent):
    caller_presentation: int
    caller_presentation_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(ChannelEvent):
    dialplan_app: str
    dialplan_app_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(AriEvent):
    """`channel` is absent for a global variable."""

    variable: str
    value: str
    channel: ChannelSnapshot | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(ChannelEvent):
    bridge: BridgeSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(ChannelEvent):
    bridge: BridgeSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(AriEvent):
    bridge: BridgeSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(AriEvent):
    peer: ChannelSnapshot
    dialstatus: str
    dialstring: str = ""
    forward: str = ""
    caller: ChannelSnapshot | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackEvent(AriEvent):
    playback: PlaybackSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    """One media of a playlist ended and the next starts (same playback id)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """`playback.state` is `done`, or `failed` (a missing sound, or the channel hung up)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(AriEvent):
    """Another client connected the same app name; this socket no longer gets events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(AriEvent):
    """An event type this module does not model; `body` is the whole decoded object."""

    body: JsonObject


def _channel(obj: JsonObject, where: str) -> ChannelSnapshot:
    return ChannelSnapshot.from_json(field_object(obj, "channel", where), f"{where}.channel")


def _optional_channel(obj: JsonObject, key: str, where: str) -> ChannelSnapshot | None:
    if obj.get(key) is None:
        return None
    return ChannelSnapshot.from_json(field_object(obj, key, where), f"{where}.{key}")


def _bridge(obj: JsonObject, where: str) -> BridgeSnapshot:
    return BridgeSnapshot.from_json(field_object(obj, "bridge", where), f"{where}.bridge")


def _playback(obj: JsonObject, where: str) -> PlaybackSnapshot:
    return PlaybackSnapshot.from_json(field_object(obj, "playback", where), f"{where}.playback")


def _soft(obj: JsonObject, where: str) -> bool:
    value = obj.get("soft", False)
    if not isinstance(value, bool):
        raise AriProtocolError(f"{where}.soft: expected a boolean")
    return value


_Parser = Callable[[JsonObject, dict[str, Any], str], AriEvent]

# One small reader per event type (h11's READERS table): `base` holds the common fields.
_PARSERS: dict[str, _Parser] = {
    "StasisStart": lambda o, b, w: StasisStart(
        **b,
        channel=_channel(o, w),
        args=field_str_list(o, "args", w),
        replace_channel=_optional_channel(o, "replace_channel", w),
    ),
    "StasisEnd": lambda o, b, w: StasisEnd(**b, channel=_channel(o, w)),
    "ChannelDtmfReceived": lambda o, b, w: ChannelDtmfReceived(
        **b,
        channel=_channel(o, w),
        digit=field_str(o, "digit", w),
        duration_ms=field_int(o, "duration_ms", w),
    ),
    "ChannelHangupRequest": lambda o, b, w: ChannelHangupRequest(
        **b,
        channel=_channel(o, w),
        cause=field_int(o, "cause", w) if "cause" in o else None,
        soft=_soft(o, w),
    ),
    "ChannelDestroyed": lambda o, b, w: ChannelDestroyed(
        **b,
        channel=_channel(o, w),
        cause=field_int(o, "cause", w),
        cause_txt=field_str(o, "cause_txt", w),
    ),
    "ChannelStateChange": lambda o, b, w: ChannelStateChange(**b, channel=_channel(o, w)),
    "ChannelCreated": lambda o, b, w: ChannelCreated(**b, channel=_channel(o, w)),
    "ChannelCallerId": lambda o, b, w: ChannelCallerId(
        **b,
        channel=_channel(o, w),
        caller_presentation=field_int(o, "caller_presentation", w),
        caller_presentation_txt=field_str(o, "caller_presentation_txt", w),
    ),
    "ChannelConnectedLine": lambda o, b, w: ChannelConnectedLine(**b, channel=_channel(o, w)),
    "ChannelDialplan": lambda o, b, w: ChannelDialplan(
        **b,
        channel=_channel(o, w),
        dialplan_app=field_str(o, "dialplan_app", w),
        dialplan_app_data=field_str(o, "dialplan_app_data", w),
    ),
    "ChannelVarset": lambda o, b, w: ChannelVarset(
        **b,
        variable=field_str(o, "variable", w),
        value=field_str(o, "value", w),
        channel=_optional_channel(o, "channel", w),
    ),
    "ChannelEnteredBridge": lambda o, b, w: ChannelEnteredBridge(
        **b, channel=_channel(o, w), bridge=_bridge(o, w)
    ),
    "ChannelLeftBridge": lambda o, b, w: ChannelLeftBridge(
        **b, channel=_channel(o, w), bridge=_bridge(o, w)
    ),
    "BridgeDestroyed": lambda o, b, w: BridgeDestroyed(**b, bridge=_bridge(o, w)),
    "Dial": lambda o, b, w: Dial(
        **b,
        peer=ChannelSnapshot.from_json(field_object(o, "peer", w), f"{w}.peer"),
        dialstatus=field_str(o, "dialstatus", w),
        dialstring=field_str(o, "dialstring", w, default=""),
        forward=field_str(o, "forward", w, default=""),
        caller=_optional_channel(o, "caller", w),
    ),
    "PlaybackStarted": lambda o, b, w: PlaybackStarted(**b, playback=_playback(o, w)),
    "PlaybackContinuing": lambda o, b, w: PlaybackContinuing(**b, playback=_playback(o, w)),
    "PlaybackFinished": lambda o, b, w: PlaybackFinished(**b, playback=_playback(o, w)),
    "ApplicationReplaced": lambda o, b, w: ApplicationReplaced(**b),
}

KNOWN_EVENT_TYPES = frozenset(_PARSERS)


def parse_event(text: str | bytes) -> AriEvent:
    """One websocket text frame -> one typed event, or `AriProtocolError`."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AriProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise AriProtocolError("an ARI event is a JSON object")
    return event_from_json(obj)


def event_from_json(obj: JsonObject) -> AriEvent:
    kind = field_str(obj, "type", "event")
    where = kind if kind.isidentifier() else "event"
    base: dict[str, Any] = {
        "type": kind,
        # `application` and `timestamp` are required by events.json; asterisk_id is not.
        "application": field_str(obj, "application", where),
        "timestamp": field_str(obj, "timestamp", where),
        "asterisk_id": field_str(obj, "asterisk_id", where, default=""),
    }
    parser = _PARSERS.get(kind)
    if parser is None:
        return UnknownEvent(**base, body=dict(obj))
    return parser(obj, base, where)
