"""ARI's JSON, typed: channel and playback snapshots and the websocket events.

Sans-I/O: `parse_event(text)` turns one websocket text frame into a frozen event, and
`ChannelSnapshot.from_json` reads what REST returns. Shapes follow Asterisk 22's
`events.json`/`channels.json` (Swagger 1.1) as the recorded exchanges in
`tests/fixtures/asterisk/ari/` show them; where the two disagree the recordings win.

Anything that is not ARI (bad JSON, a required field missing or of the wrong type)
raises `AriProtocolError`, the peer's fault, and nothing else: the fuzz invariant of
every parser in callpop. An event type this module does not know (ARI grows new ones)
is an `UnknownEvent`, not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
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
    "parse_event",
]

JsonObject = Mapping[str, Any]


class AriProtocolError(ValueError):
    """What the peer sent is not ARI as Asterisk speaks it (the peer's fault)."""


def _field(obj: JsonObject, key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise AriProtocolError(f"{where}: missing field {key!r}") from None


def _str(obj: JsonObject, key: str, where: str, default: str | None = None) -> str:
    if default is not None and key not in obj:
        return default
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise AriProtocolError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _int(obj: JsonObject, key: str, where: str, default: int | None = None) -> int:
    if default is not None and key not in obj:
        return default
    value = _field(obj, key, where)
    # bool is an int in Python; ARI never sends one where it means a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise AriProtocolError(f"{where}.{key}: expected an integer, got {type(value).__name__}")
    return value


def _obj(obj: JsonObject, key: str, where: str) -> JsonObject:
    value = _field(obj, key, where)
    if not isinstance(value, dict):
        raise AriProtocolError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return value


def _str_list(obj: JsonObject, key: str, where: str) -> tuple[str, ...]:
    value = _field(obj, key, where)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AriProtocolError(f"{where}.{key}: expected a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class CallerId:
    """Caller ID as Asterisk reports it: raw, caller-controlled text."""

    name: str
    number: str

    @classmethod
    def from_json(cls, obj: JsonObject, where: str = "caller") -> CallerId:
        return cls(name=_str(obj, "name", where), number=_str(obj, "number", where))


@dataclass(frozen=True, slots=True)
class DialplanLocation:
    context: str
    exten: str
    priority: int
    app_name: str
    app_data: str

    @classmethod
    def from_json(cls, obj: JsonObject, where: str = "dialplan") -> DialplanLocation:
        return cls(
            context=_str(obj, "context", where),
            exten=_str(obj, "exten", where),
            priority=_int(obj, "priority", where),
            # Older Asterisk versions leave these out; 22 always sends them.
            app_name=_str(obj, "app_name", where, default=""),
            app_data=_str(obj, "app_data", where, default=""),
        )


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """A channel as `GET /channels` or an event's `channel` shows it. `id` is the uniqueid."""

    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    dialplan: DialplanLocation
    creationtime: str
    language: str = "en"
    accountcode: str = ""
    protocol_id: str = ""

    @classmethod
    def from_json(cls, obj: Any, where: str = "channel") -> ChannelSnapshot:
        if not isinstance(obj, dict):
            raise AriProtocolError(f"{where}: expected an object")
        return cls(
            id=_str(obj, "id", where),
            name=_str(obj, "name", where),
            state=_str(obj, "state", where),
            caller=CallerId.from_json(_obj(obj, "caller", where), f"{where}.caller"),
            connected=CallerId.from_json(_obj(obj, "connected", where), f"{where}.connected"),
            dialplan=DialplanLocation.from_json(_obj(obj, "dialplan", where), f"{where}.dialplan"),
            creationtime=_str(obj, "creationtime", where),
            language=_str(obj, "language", where, default="en"),
            accountcode=_str(obj, "accountcode", where, default=""),
            protocol_id=_str(obj, "protocol_id", where, default=""),
        )

    def in_stasis(self, app: str) -> bool:
        """Whether the channel runs `Stasis(app)` or `Stasis(app,args...)` right now.

        `GET /channels` lists every channel of the server (09-app-websocket-reconnect):
        an app's own are those whose dialplan application is Stasis with data `app` or
        `app,...`; `callpop-caller` is another app, not `callpop` with arguments.
        """
        data = self.dialplan.app_data
        return self.dialplan.app_name == "Stasis" and (data == app or data.startswith(app + ","))


@dataclass(frozen=True, slots=True)
class PlaybackSnapshot:
    id: str
    media_uri: str
    target_uri: str
    state: str
    language: str = ""
    next_media_uri: str | None = None

    @classmethod
    def from_json(cls, obj: Any, where: str = "playback") -> PlaybackSnapshot:
        if not isinstance(obj, dict):
            raise AriProtocolError(f"{where}: expected an object")
        next_media = obj.get("next_media_uri")
        if next_media is not None and not isinstance(next_media, str):
            raise AriProtocolError(f"{where}.next_media_uri: expected a string")
        return cls(
            id=_str(obj, "id", where),
            media_uri=_str(obj, "media_uri", where),
            target_uri=_str(obj, "target_uri", where),
            state=_str(obj, "state", where),
            language=_str(obj, "language", where, default=""),
            next_media_uri=next_media,
        )

    @property
    def channel_id(self) -> str | None:
        """The channel played to (`target_uri` is `channel:ID`), or None for a bridge."""
        scheme, sep, rest = self.target_uri.partition(":")
        return rest if sep and scheme == "channel" else None


@dataclass(frozen=True, slots=True)
class BridgeSnapshot:
    id: str
    bridge_type: str
    channels: tuple[str, ...]
    name: str = ""

    @classmethod
    def from_json(cls, obj: JsonObject, where: str = "bridge") -> BridgeSnapshot:
        return cls(
            id=_str(obj, "id", where),
            bridge_type=_str(obj, "bridge_type", where),
            channels=_str_list(obj, "channels", where),
            name=_str(obj, "name", where, default=""),
        )


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
class UnknownEvent(AriEvent):
    """An event type this module does not model; `body` is the whole decoded object."""

    body: JsonObject


def _channel(obj: JsonObject, where: str) -> ChannelSnapshot:
    return ChannelSnapshot.from_json(_obj(obj, "channel", where), f"{where}.channel")


def _optional_channel(obj: JsonObject, key: str, where: str) -> ChannelSnapshot | None:
    if obj.get(key) is None:
        return None
    return ChannelSnapshot.from_json(_obj(obj, key, where), f"{where}.{key}")


def _bridge(obj: JsonObject, where: str) -> BridgeSnapshot:
    return BridgeSnapshot.from_json(_obj(obj, "bridge", where), f"{where}.bridge")


def _playback(obj: JsonObject, where: str) -> PlaybackSnapshot:
    return PlaybackSnapshot.from_json(_obj(obj, "playback", where), f"{where}.playback")


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
        args=_str_list(o, "args", w),
        replace_channel=_optional_channel(o, "replace_channel", w),
    ),
    "StasisEnd": lambda o, b, w: StasisEnd(**b, channel=_channel(o, w)),
    "ChannelDtmfReceived": lambda o, b, w: ChannelDtmfReceived(
        **b, channel=_channel(o, w), digit=_str(o, "digit", w), duration_ms=_int(o, "duration_ms", w)
    ),
    "ChannelHangupRequest": lambda o, b, w: ChannelHangupRequest(
        **b,
        channel=_channel(o, w),
        cause=_int(o, "cause", w) if "cause" in o else None,
        soft=_soft(o, w),
    ),
    "ChannelDestroyed": lambda o, b, w: ChannelDestroyed(
        **b, channel=_channel(o, w), cause=_int(o, "cause", w), cause_txt=_str(o, "cause_txt", w)
    ),
    "ChannelStateChange": lambda o, b, w: ChannelStateChange(**b, channel=_channel(o, w)),
    "ChannelCreated": lambda o, b, w: ChannelCreated(**b, channel=_channel(o, w)),
    "ChannelCallerId": lambda o, b, w: ChannelCallerId(
        **b,
        channel=_channel(o, w),
        caller_presentation=_int(o, "caller_presentation", w),
        caller_presentation_txt=_str(o, "caller_presentation_txt", w),
    ),
    "ChannelConnectedLine": lambda o, b, w: ChannelConnectedLine(**b, channel=_channel(o, w)),
    "ChannelDialplan": lambda o, b, w: ChannelDialplan(
        **b,
        channel=_channel(o, w),
        dialplan_app=_str(o, "dialplan_app", w),
        dialplan_app_data=_str(o, "dialplan_app_data", w),
    ),
    "ChannelVarset": lambda o, b, w: ChannelVarset(
        **b,
        variable=_str(o, "variable", w),
        value=_str(o, "value", w),
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
        peer=ChannelSnapshot.from_json(_obj(o, "peer", w), f"{w}.peer"),
        dialstatus=_str(o, "dialstatus", w),
        dialstring=_str(o, "dialstring", w, default=""),
        forward=_str(o, "forward", w, default=""),
        caller=_optional_channel(o, "caller", w),
    ),
    "PlaybackStarted": lambda o, b, w: PlaybackStarted(**b, playback=_playback(o, w)),
    "PlaybackContinuing": lambda o, b, w: PlaybackContinuing(**b, playback=_playback(o, w)),
    "PlaybackFinished": lambda o, b, w: PlaybackFinished(**b, playback=_playback(o, w)),
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
    kind = _str(obj, "type", "event")
    where = kind if kind.isidentifier() else "event"
    base: dict[str, Any] = {
        "type": kind,
        # `application` and `timestamp` are required by events.json; asterisk_id is not.
        "application": _str(obj, "application", where),
        "timestamp": _str(obj, "timestamp", where),
        "asterisk_id": _str(obj, "asterisk_id", where, default=""),
    }
    parser = _PARSERS.get(kind)
    if parser is None:
        return UnknownEvent(**base, body=dict(obj))
    return parser(obj, base, where)
