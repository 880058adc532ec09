"""ARI's resources as REST returns them and events carry them: channels, playbacks,
bridges, typed and validated (Asterisk 22's `channels.json`, `playbacks.json`, checked
against the recordings in `tests/fixtures/asterisk/ari/`).

What is not ARI raises `AriProtocolError`, naming the field: the peer's fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AriProtocolError",
    "BridgeSnapshot",
    "CallerId",
    "ChannelSnapshot",
    "DialplanLocation",
    "JsonObject",
    "PlaybackSnapshot",
    "field_int",
    "field_object",
    "field_str",
    "field_str_list",
]

JsonObject = Mapping[str, Any]


class AriProtocolError(ValueError):
    """What the peer sent is not ARI as Asterisk speaks it (the peer's fault)."""


def _get(obj: JsonObject, key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise AriProtocolError(f"{where}: missing field {key!r}") from None


def field_str(obj: JsonObject, key: str, where: str, default: str | None = None) -> str:
    if default is not None and key not in obj:
        return default
    value = _get(obj, key, where)
    if not isinstance(value, str):
        raise AriProtocolError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def field_int(obj: JsonObject, key: str, where: str, default: int | None = None) -> int:
    if default is not None and key not in obj:
        return default
    value = _get(obj, key, where)
    # bool is an int in Python; ARI never sends one where it means a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise AriProtocolError(f"{where}.{key}: expected an integer, got {type(value).__name__}")
    return value


def field_object(obj: JsonObject, key: str, where: str) -> JsonObject:
    value = _get(obj, key, where)
    if not isinstance(value, dict):
        raise AriProtocolError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return value


def field_str_list(obj: JsonObject, key: str, where: str) -> tuple[str, ...]:
    value = _get(obj, key, where)
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
        return cls(name=field_str(obj, "name", where), number=field_str(obj, "number", where))


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
            context=field_str(obj, "context", where),
            exten=field_str(obj, "exten", where),
            priority=field_int(obj, "priority", where),
            # Older Asterisk versions leave these out; 22 always sends them.
            app_name=field_str(obj, "app_name", where, default=""),
            app_data=field_str(obj, "app_data", where, default=""),
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
            id=field_str(obj, "id", where),
            name=field_str(obj, "name", where),
            state=field_str(obj, "state", where),
            caller=CallerId.from_json(field_object(obj, "caller", where), f"{where}.caller"),
            connected=CallerId.from_json(
                field_object(obj, "connected", where), f"{where}.connected"
            ),
            dialplan=DialplanLocation.from_json(
                field_object(obj, "dialplan", where), f"{where}.dialplan"
            ),
            creationtime=field_str(obj, "creationtime", where),
            language=field_str(obj, "language", where, default="en"),
            accountcode=field_str(obj, "accountcode", where, default=""),
            protocol_id=field_str(obj, "protocol_id", where, default=""),
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
            id=field_str(obj, "id", where),
            media_uri=field_str(obj, "media_uri", where),
            target_uri=field_str(obj, "target_uri", where),
            state=field_str(obj, "state", where),
            language=field_str(obj, "language", where, default=""),
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
            id=field_str(obj, "id", where),
            bridge_type=field_str(obj, "bridge_type", where),
            channels=field_str_list(obj, "channels", where),
            name=field_str(obj, "name", where, default=""),
        )
