"""The agent's call controls: status (ready / break / after-call work), transfers and
click-to-dial, with one set of rules for both ways in: the panel's JSON API (POSTs with
the session cookie and CSRF token) and the socket of the widget embedded in a CRM page
(`control` messages). Both accept the same requests and refuse with the same words.

A refusal is `ControlDenied(status, message, field)`: `status` is the HTTP status the
API answers (400 a bad field, 409 a call that is not the agent's to transfer, 502 the
PBX refused, 503 the control is not configured), `message` one line for the agent.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from screenpop.keys import (
    AFTER_CALL_WORK,
    AGENT_STATUS,
    CATALOGS,
    DIAL_OUTCOME_S,
    HUB,
    ORIGINATE,
    SETTINGS,
    STORE,
    TRANSFER,
    CallChannels,
    TransferTarget,
)
from screenpop.pops import PopState
from screenpop.store import Account

__all__ = [
    "ACTIONS",
    "ControlDenied",
    "ControlError",
    "OriginateError",
    "dial",
    "offer",
    "run",
    "set_status",
    "text_field",
    "transfer",
]

log = logging.getLogger(__name__)

ACTIONS = ("status", "transfer", "dial")


class ControlError(Exception):
    """The PBX refused a call control (or could not be reached); the message is for the agent."""


class OriginateError(ControlError):
    """The PBX refused the click-to-dial call; the message is for the agent."""


class ControlDenied(Exception):
    """A control refused: `status` the HTTP status, `message` for the agent, `field` the
    request field at fault (None when none is)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            answer["field"] = self.field
        return answer


def text_field(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    """`body[key]` as stripped text of at most `limit` characters (absent or null: "")."""
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ControlDenied(400, f"{key} is text")
    value = value.strip()
    if len(value) > limit:
        raise ControlDenied(400, f"{key} is at most {limit} characters")
    if required and not value:
        raise ControlDenied(400, f"{key} is required")
    return value


async def set_status(
    app: web.Application, account: Account, body: dict[str, Any]
) -> dict[str, Any]:
    """`{"status": "ready"}`, `{"status": "break", "reason": R}` (R one of the dialplan's
    pause_reasons) or `{"status": "acw"}`: a queue pause (unpause for ready)."""
    status = text_field(body, "status", 20, required=True)
    reasons = app[CATALOGS].pause_reasons
    if status == "ready":
        paused, reason = False, ""
    elif status == "acw":
        paused, reason = True, AFTER_CALL_WORK
    elif status == "break":
        reason = text_field(body, "reason", 40, required=True)
        if reason not in reasons:
            raise ControlDenied(
                400, f"{reason!r} is not a break reason (one of: {', '.join(reasons)})", "reason"
            )
        paused = True
    else:
        raise ControlDenied(400, f"{status!r} is not ready, break or acw", "status")
    control = app[AGENT_STATUS]
    if control is None:
        raise ControlDenied(
            503, "agent status needs AMI: configure the ami section of callpop.yaml"
        )
    try:
        await control(agent=account, paused=paused, reason=reason)
    except ControlError as exc:
        raise ControlDenied(502, str(exc)) from None
    log.info("agent status of %s: %s %s", account.name, status, reason)
    return {"ok": True, "status": status, "reason": reason}


async def transfer(
    app: web.Application, account: Account, call_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """`{"mode": "blind"|"attended", "kind": "agent"|"queue"|"number", "target": T}`:
    transfer the call this agent is talking on. T is an agent's login, a queue of
    queues.yaml or a phone number; attended transfers go to an agent or a number."""
    mode = text_field(body, "mode", 10, required=True)
    if mode not in ("blind", "attended"):
        raise ControlDenied(400, f"{mode!r} is not blind or attended", "mode")
    kind = text_field(body, "kind", 10, required=True)
    raw = text_field(body, "target", 80, required=True)
    target = await _transfer_target(app, account.id, kind, raw)
    if target.kind == "queue" and mode == "attended":
        raise ControlDenied(
            400,
            "an attended transfer goes to an agent or a number; send the caller to a "
            "queue with a blind transfer",
            "mode",
        )
    control = app[TRANSFER]
    if control is None:
        raise ControlDenied(503, "transfers need AMI: configure the ami section of callpop.yaml")
    pop = app[HUB].machine.pop(call_id, account.id)
    if pop is None or pop.state is not PopState.ACCEPTED:
        state = "not yours" if pop is None else pop.state.value
        raise ControlDenied(
            409, f"only a call you are talking on can be transferred (this one is {state})"
        )
    channels = CallChannels(pop.channel, pop.caller_channel)
    try:
        await control(agent=account, channels=channels, target=target, attended=mode == "attended")
    except ControlError as exc:
        raise ControlDenied(502, str(exc)) from None
    log.info("%s transfer of call %r by %s to a %s", mode, call_id, account.name, target.kind)
    return {"ok": True, "mode": mode, "kind": target.kind, "target": target.name}


async def _transfer_target(
    app: web.Application, agent_id: str, kind: str, raw: str
) -> TransferTarget:
    if kind == "agent":
        other = await app[STORE].account_by_name(raw)
        if other is None or other.id == agent_id:
            raise ControlDenied(400, f"{raw!r} is not another agent", "target")
        return TransferTarget("agent", other.name, other.interface)
    if kind == "queue":
        queues = app[CATALOGS].queues
        if raw not in queues:
            raise ControlDenied(
                400, f"{raw!r} is not a queue (one of: {', '.join(queues)})", "target"
            )
        return TransferTarget("queue", raw)
    if kind == "number":
        number = app[SETTINGS].normalise_phone(raw)
        if number is None:
            raise ControlDenied(400, f"{raw!r} is not a phone number", "target")
        return TransferTarget("number", number)
    raise ControlDenied(400, f"{kind!r} is not agent, queue or number", "kind")


async def dial(app: web.Application, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    """`{"number": N}`: ring the agent's phone, then call N from it. The answer says the
    PBX took the request; what became of it (the phone answered, was offline, busy, ...)
    reaches the agent's sockets later as a `dial.result` frame (docs/contracts.md)."""
    raw = text_field(body, "number", 40, required=True)
    originate = app[ORIGINATE]
    if originate is None:
        raise ControlDenied(
            503, "click-to-dial needs ARI or AMI: configure the ari or ami section of callpop.yaml"
        )
    number = app[SETTINGS].normalise_phone(raw)
    if number is None:
        raise ControlDenied(400, f"{raw!r} is not a phone number", "number")
    try:
        call = await originate(agent=account, number=number)
    except OriginateError as exc:
        raise ControlDenied(502, str(exc)) from None
    log.info("click-to-dial by %s", account.name)
    wait_s = app[DIAL_OUTCOME_S]
    if wait_s is not None and call:
        app[HUB].expect_dial(account, call, number, wait_s)
    return {"ok": True, "number": number, "call": call, "outcome_s": wait_s}


async def run(
    app: web.Application, account: Account, action: str, args: dict[str, Any]
) -> dict[str, Any]:
    """One control asked over a socket (`action` one of `ACTIONS`, `args` its request
    body; a transfer's `call_id` among them). Raises `ControlDenied`."""
    if action == "status":
        return await set_status(app, account, args)
    if action == "transfer":
        call_id = text_field(args, "call_id", 128, required=True)
        return await transfer(app, account, call_id, args)
    if action == "dial":
        return await dial(app, account, args)
    raise ControlDenied(400, f"{action!r} is not status, transfer or dial", "action")


def offer(app: web.Application, account: Account, agents: list[str]) -> dict[str, Any]:
    """What a widget needs to draw the controls (the panel has it in its page): which
    controls this server can send, the break reasons, the transfer targets (`agents`:
    the other agents' logins)."""
    catalogs = app[CATALOGS]
    return {
        "status": app[AGENT_STATUS] is not None,
        "pause_reasons": list(catalogs.pause_reasons),
        "transfer": {
            "enabled": app[TRANSFER] is not None,
            "queues": list(catalogs.queues),
            "agents": sorted(name for name in agents if name != account.name),
        },
        "dial": app[ORIGINATE] is not None,
        # each queue's wrap-up: after-call work shown that long after each call
        "wrapup_s": dict(catalogs.wrapup_s),
    }
