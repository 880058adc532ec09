"""The panel's JSON API: dispositions, click-to-dial, customer choice and creation,
today's calls. Every POST carries the session's CSRF token (`X-CSRF-Token`).

The disposition is written through the CRM adapter (`update_interaction`, or
`log_interaction` when the call has no record yet): the adapter's outbox makes it
durable when the call returns, so the agent is told "saved" only when it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from crm_adapter.port import (
    CrmError,
    CrmRejected,
    CustomerDraft,
    Interaction,
    InteractionUpdate,
    NotFound,
)
from screenpop import controls
from screenpop.guards import require, require_csrf
from screenpop.keys import (
    CATALOGS,
    CLOCK,
    CRM,
    HUB,
    PAYLOADS,
    STORE,
)
from screenpop.pops import PopError
from screenpop.protocol import MAX_CALL_ID_CHARS, MAX_NOTES_CHARS

__all__ = ["routes"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_BODY = 64 * 1024
HISTORY_WAIT_S = 2.0


def _error(status: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return status(text=json.dumps({"error": message, **extra}), content_type="application/json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _error(web.HTTPBadRequest, f"the body is at most {MAX_BODY} bytes")
    if request.content_type != "application/json":
        raise _error(web.HTTPUnsupportedMediaType, "send application/json")
    try:
        body = json.loads(await request.text())
    except ValueError as exc:
        raise _error(web.HTTPBadRequest, f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body is a JSON object")
    return body


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    try:
        return controls.text_field(body, key, limit, required=required)
    except controls.ControlDenied as exc:
        raise _error(web.HTTPBadRequest, exc.message) from None


def _call_id(request: web.Request) -> str:
    call_id = request.match_info["call_id"]
    if not 0 < len(call_id) <= MAX_CALL_ID_CHARS:
        raise _error(web.HTTPBadRequest, "not a call id")
    return call_id


@routes.post("/api/v1/calls/{call_id}/disposition")
async def disposition(request: web.Request) -> web.Response:
    account, claims = await require(request)
    require_csrf(request, claims, None)
    call_id = _call_id(request)
    body = await _json_body(request)
    code = _text(body, "disposition", 64, required=True)
    notes = _text(body, "notes", MAX_NOTES_CHARS)
    catalog = request.app[CATALOGS].dispositions
    spec = catalog.dispositions.get(code)
    if spec is None:
        raise _error(
            web.HTTPBadRequest, f"unknown disposition code {code[:40]!r}", field="disposition"
        )
    if spec.requires_note and not notes:
        raise _error(web.HTTPBadRequest, f"“{spec.label}” needs a note", field="notes")
    hub, crm, payloads = request.app[HUB], request.app[CRM], request.app[PAYLOADS]
    now = request.app[CLOCK]()
    existing: Interaction | None = None
    try:
        existing = await crm.get_interaction(call_id)
    except NotFound:
        existing = None
    except CrmError as exc:
        raise _error(
            web.HTTPServiceUnavailable,
            f"the CRM is unavailable ({type(exc).__name__}); your notes are kept, try again",
        ) from None
    owns = hub.owns(call_id, account)
    if not owns and (existing is None or existing.agent != account.name):
        raise _error(web.HTTPNotFound, "no call of yours with this id")
    customer_id = _text(body, "customer_id", 200) or payloads.chosen_customer(call_id)
    if (
        customer_id
        and not payloads.offered(call_id, customer_id)
        and (existing is None or existing.customer_id != customer_id)
    ):
        _refuse_customer(account.name, call_id, customer_id)
    try:
        if existing is None:
            started = await _started(request, call_id, now)
            await crm.log_interaction(
                Interaction(
                    call_id=call_id,
                    started=started,
                    customer_id=customer_id or None,
                    agent=account.name,
                    journey=payloads.journey_summary(call_id),
                    disposition=code,
                    notes=notes,
                    ended=now,
                )
            )
        else:
            await crm.update_interaction(
                call_id,
                InteractionUpdate(
                    customer_id=customer_id or None,
                    agent=account.name,
                    disposition=code,
                    notes=notes,
                    ended=existing.ended or now,
                ),
            )
    except CrmRejected as exc:
        raise _error(web.HTTPUnprocessableEntity, f"the CRM refused it: {exc}") from None
    except CrmError as exc:
        raise _error(
            web.HTTPServiceUnavailable,
            f"the CRM is unavailable ({type(exc).__name__}); your notes are kept, try again",
        ) from None
    if owns:
        try:
            hub.dispose(call_id, account, code, notes)
            await hub.durable()  # the pop's row says so before the agent is told
        except PopError as exc:
            # saved in the CRM all the same: a ringing pop cannot be closed yet
            log.info(
                "disposition of %s by %s stored, pop unchanged: %s", call_id, account.name, exc
            )
    log.info("disposition %s for call %r by %s", code, call_id, account.name)
    return web.json_response({"ok": True, "call_id": call_id, "disposition": code})


def _refuse_customer(agent: str, call_id: str, customer_id: str) -> None:
    """An agent asked to attach a customer the pop never offered for this call (a
    forged request: the panel only shows offered ones). Logged: it is how records
    would be read that the agent has no call about."""
    log.warning(
        "agent %s tried to attach customer %r, not offered for call %r", agent, customer_id, call_id
    )
    raise _error(
        web.HTTPForbidden, "this customer was not offered for this call", field="customer_id"
    )


async def _started(request: web.Request, call_id: str, now: datetime) -> datetime:
    row = await request.app[STORE].call(call_id)
    started = row.get("started_at") if row else None
    return started if isinstance(started, datetime) else now


_DENIED: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    409: web.HTTPConflict,
    502: web.HTTPBadGateway,
    503: web.HTTPServiceUnavailable,
}


async def _control(request: web.Request, action: str) -> web.Response:
    """A call control of `screenpop.controls`: the same rules as the widget's socket."""
    account, claims = await require(request)
    require_csrf(request, claims, None)
    body = await _json_body(request)
    try:
        if action == "transfer":
            answer = await controls.transfer(request.app, account, _call_id(request), body)
        else:
            answer = await controls.run(request.app, account, action, body)
    except controls.ControlDenied as exc:
        raise _error(
            _DENIED.get(exc.status, web.HTTPBadRequest),
            exc.message,
            **({"field": exc.field} if exc.field else {}),
        ) from None
    return web.json_response(answer)


@routes.post("/api/v1/dial")
async def dial(request: web.Request) -> web.Response:
    """`{"number": N}`: click-to-dial (`screenpop.controls.dial`)."""
    return await _control(request, "dial")


@routes.post("/api/v1/status")
async def agent_status(request: web.Request) -> web.Response:
    """`{"status": "ready"}`, `{"status": "break", "reason": R}` or `{"status": "acw"}`
    (`screenpop.controls.set_status`)."""
    return await _control(request, "status")


@routes.post("/api/v1/calls/{call_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    """`{"mode", "kind", "target"}`: transfer the call this agent is talking on
    (`screenpop.controls.transfer`)."""
    return await _control(request, "transfer")


@routes.post("/api/v1/calls/{call_id}/customer")
async def choose_customer(request: web.Request) -> web.Response:
    account, claims = await require(request)
    require_csrf(request, claims, None)
    call_id = _call_id(request)
    body = await _json_body(request)
    customer_id = _text(body, "customer_id", 200, required=True)
    hub, payloads = request.app[HUB], request.app[PAYLOADS]
    if not hub.owns(call_id, account):
        raise _error(web.HTTPNotFound, "no call of yours with this id")
    if not payloads.offered(call_id, customer_id):
        _refuse_customer(account.name, call_id, customer_id)
    try:
        payload = await payloads.choose(call_id, customer_id)
    except NotFound:
        raise _error(web.HTTPNotFound, "no such customer") from None
    except (CrmError, TimeoutError):
        raise _error(web.HTTPServiceUnavailable, "the CRM is unavailable, try again") from None
    # stored before the pop shows it: what the agent sees chosen is what the call's
    # row and the interaction hold
    await _record_choice(request, call_id, customer_id, account.name)
    hub.set_payload(call_id, payload)
    return web.json_response({"ok": True})


async def _record_choice(request: web.Request, call_id: str, customer_id: str, agent: str) -> None:
    """The agent's choice goes to the call's row and its CRM interaction at once, not
    only with the disposition: a call the agent never disposes of is still on the right
    record, and the call history names the customer the agent settled on."""
    crm, payloads, store = request.app[CRM], request.app[PAYLOADS], request.app[STORE]
    now = request.app[CLOCK]()
    caller, caller_name = payloads.caller(call_id)
    try:
        await store.record_customer_choice(
            call_id,
            customer_id,
            agent=agent,
            at=now,
            caller=caller,
            caller_name=caller_name,
            started_at=await _started(request, call_id, now),
        )
    except Exception:
        # the CRM interaction below still gets it; the pop shows it either way
        log.exception("recording the customer chosen on the row of call %r failed", call_id)
    try:
        try:
            await crm.update_interaction(
                call_id, InteractionUpdate(customer_id=customer_id, agent=agent)
            )
        except NotFound:
            now = request.app[CLOCK]()
            await crm.log_interaction(
                Interaction(
                    call_id=call_id,
                    started=await _started(request, call_id, now),
                    customer_id=customer_id,
                    agent=agent,
                    journey=payloads.journey_summary(call_id),
                )
            )
    except CrmError as exc:
        # the pop shows the choice; the disposition writes it again
        log.warning("recording the customer chosen for %r failed: %s", call_id, exc)


@routes.post("/api/v1/customers")
async def create_customer(request: web.Request) -> web.Response:
    account, claims = await require(request)
    require_csrf(request, claims, None)
    body = await _json_body(request)
    call_id = _text(body, "call_id", MAX_CALL_ID_CHARS)
    phone = _text(body, "phone", 40)
    try:
        draft = CustomerDraft(
            name=_text(body, "name", 200, required=True),
            phones=(phone,) if phone else (),
            account=_text(body, "account", 64) or None,
            email=_text(body, "email", 254) or None,
            notes=_text(body, "notes", 2000),
        )
    except ValueError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    hub = request.app[HUB]
    if call_id and not hub.owns(call_id, account):
        raise _error(web.HTTPNotFound, "no call of yours with this id")
    try:
        customer = await request.app[CRM].create_customer(draft)
    except CrmRejected as exc:
        raise _error(web.HTTPUnprocessableEntity, f"the CRM refused it: {exc}") from None
    except CrmError:
        raise _error(web.HTTPServiceUnavailable, "the CRM is unavailable, try again") from None
    if call_id:
        try:
            payload = await request.app[PAYLOADS].choose(call_id, customer.id)
            await _record_choice(request, call_id, customer.id, account.name)
            hub.set_payload(call_id, payload)
        except (CrmError, TimeoutError):
            log.warning(
                "customer %s created; refreshing the pop of %r failed", customer.id, call_id
            )
    log.info("customer %s created by %s", customer.id, account.name)
    return web.json_response({"ok": True, "customer_id": customer.id}, status=201)


@routes.get("/api/v1/calls/today")
async def calls_today(request: web.Request) -> web.Response:
    account, _claims = await require(request)
    now = request.app[CLOCK]()
    # The page asks when a pop it was sent changes (wrap-up, done): the history it reads
    # is written in batches, so first wait for what was sent so far (bounded: a slow
    # database gives a list a moment old, not a hung request).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HISTORY_WAIT_S):
            await request.app[HUB].history.drained()
    # "today" is the last 24 hours: the agent's shift, whatever the server's time zone
    rows = await request.app[STORE].calls_of(account.id, now - timedelta(hours=24))
    return web.json_response(
        {
            "calls": [
                {
                    "call_id": r.call_id,
                    "state": r.state,
                    "offered_at": r.offered_at.isoformat(),
                    "connected_at": r.connected_at.isoformat() if r.connected_at else None,
                    "hung_up_at": r.hung_up_at.isoformat() if r.hung_up_at else None,
                    "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                    "talk_s": r.talk_s,
                    "wrapup_s": r.wrapup_s,
                    "caller": r.caller,
                    "caller_name": r.caller_name,
                    "customer_id": r.customer_id,
                    "disposition": r.disposition,
                    "reason": r.reason,
                }
                for r in rows
            ]
        }
    )
