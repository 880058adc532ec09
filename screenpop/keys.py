"""The typed keys of the screen-pop app's shared state (aiohttp `AppKey`: no globals).

Everything a handler needs is put on the app by `screenpop.app.create_app` under one
of these keys, so a handler reads `request.app[HUB]` with its type known to mypy.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from aiohttp import web

from crm_adapter.port import CrmAdapter, Customer
from ivr.catalog import DispositionCatalog, ScriptCatalog
from screenpop.auth import LoginGate, LoginLimiter, Passwords, Sessions, TrustedProxies
from screenpop.bus import PopBus
from screenpop.hub import Hub
from screenpop.payload import PayloadBuilder
from screenpop.protocol import AFTER_CALL_WORK
from screenpop.store import Account, ScreenpopStore

__all__ = [
    "AFTER_CALL_WORK",
    "AGENT_STATUS",
    "BUS",
    "CATALOGS",
    "CLOCK",
    "CRM",
    "DEFAULT_PAUSE_REASONS",
    "DIAL_OUTCOME_S",
    "HUB",
    "LIMITER",
    "LOGIN_GATE",
    "ORIGINATE",
    "PASSWORDS",
    "PAYLOADS",
    "SESSIONS",
    "SETTINGS",
    "STORE",
    "TRANSFER",
    "WEBSOCKETS",
    "AgentStatus",
    "CallChannels",
    "Catalogs",
    "Originate",
    "Transfer",
    "TransferTarget",
    "WebSettings",
]


class Originate(Protocol):
    """Click-to-dial: ring the agent's own phone, then call `number` from it.

    Returns an id of the new call (e.g. the ARI channel id). Raises `OriginateError`
    (`screenpop.controls`) with a message for the agent when the PBX refuses.
    """

    def __call__(self, *, agent: Account, number: str) -> Awaitable[str]: ...


class AgentStatus(Protocol):
    """Agent status as queue pause: `paused` False is ready; True with `reason` a break
    or after-call work. Raises `ControlError` (`screenpop.controls`) with a message for the
    agent when the PBX refuses."""

    def __call__(self, *, agent: Account, paused: bool, reason: str) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """Where the agent sends the call: another agent (`name` their login, `interface`
    their phone), a queue of queues.yaml, or a phone number (`name` in E.164)."""

    kind: Literal["agent", "queue", "number"]
    name: str
    interface: str = ""


@dataclass(frozen=True, slots=True)
class CallChannels:
    """The PBX's channels of the call the agent answered (AMI AgentConnect's
    `DestChannel` and `Channel`); empty when it did not say."""

    channel: str
    caller_channel: str


class Transfer(Protocol):
    """Blind or attended transfer of the agent's call. Raises `ControlError`
    (`screenpop.controls`) with a message for the agent when the PBX refuses."""

    def __call__(
        self, *, agent: Account, channels: CallChannels, target: TransferTarget, attended: bool
    ) -> Awaitable[None]: ...


# Offered when the dialplan has no pause_reasons.yaml.
DEFAULT_PAUSE_REASONS = ("Break", "Lunch", "Training")


@dataclass(frozen=True, slots=True)
class Catalogs:
    """The dialplan files the panel shows: wrap-up codes, agent scripts, break reasons."""

    dispositions: DispositionCatalog
    scripts: ScriptCatalog | None
    pause_reasons: tuple[str, ...] = DEFAULT_PAUSE_REASONS
    queues: tuple[str, ...] = ()  # queues.yaml's queues: transfer targets
    # each queue's wrap-up (queues.conf wrapuptime), in seconds: the panel's after-call work
    wrapup_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What the handlers need of the config, resolved once."""

    web_origins: tuple[str, ...]
    # where agents' browsers reach this site (`web_public_url`), besides the address
    # the socket was opened to: compared with `Origin`, never the Host header
    public_origins: tuple[str, ...]
    proxies: TrustedProxies
    record_link: Callable[[Customer], str | None]
    normalise_phone: Callable[[str], str | None]


CLOCK = web.AppKey[Callable[[], datetime]]("clock")
STORE = web.AppKey("store", ScreenpopStore)
BUS = web.AppKey("bus", PopBus)
CRM = web.AppKey("crm", CrmAdapter)
HUB = web.AppKey("hub", Hub)
PAYLOADS = web.AppKey("payloads", PayloadBuilder)
SESSIONS = web.AppKey("sessions", Sessions)
PASSWORDS = web.AppKey("passwords", Passwords)
LIMITER = web.AppKey("limiter", LoginLimiter)
LOGIN_GATE = web.AppKey("login_gate", LoginGate)
CATALOGS = web.AppKey("catalogs", Catalogs)
SETTINGS = web.AppKey("settings", WebSettings)
ORIGINATE = web.AppKey[Originate | None]("originate")
# how long a click-to-dial's outcome is waited for (None: the originate reports none)
DIAL_OUTCOME_S = web.AppKey[float | None]("dial_outcome_s")
AGENT_STATUS = web.AppKey[AgentStatus | None]("agent_status")
TRANSFER = web.AppKey[Transfer | None]("transfer")
WEBSOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("websockets")
