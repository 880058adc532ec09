"""The agent's phone in the demo: a bar on the agent page to answer, reject, hang up.

A real agent answers on a desk phone or a softphone, and Asterisk tells callpop over AMI;
the panel itself never answers calls. The demo has no phones, so it adds one to the
agent page, in demo mode only: `inject_softphone` (a middleware of the demo app alone)
adds a script and a stylesheet to `/agent`, as development toolbars do, and the script
opens `/demo/softphone/ws`:

    page -> server   {"type": "answer"} | {"type": "reject"} | {"type": "hangup"}
    server -> page   {"type": "phone", "interface", "state": "idle|ringing|talking",
                      "call": {"call_id", "number", "name", "queue",
                               "kind": "queue|direct|consultation|callback|outbound",
                               "ringback": true while an outgoing call's number rings
                               (callback, outbound only)} | null,
                      "notice": why the last outgoing call failed ("No answer from N") | null}

The socket is the agent's own session (cookie) and this site's origin; the phone is
the agent's interface from the agents table, the one the queue rings and AMI names.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from callpop.demo.context import DEMO
from callpop.demo.phones import PhoneState
from callpop.demo.sockets import PageSocket, check_origin
from screenpop.guards import current

__all__ = ["SOFTPHONE_ASSETS", "inject_softphone", "routes"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SOFTPHONE_ASSETS = (
    b'<link rel="stylesheet" href="/demo/static/softphone.css">'
    b'<script src="/demo/static/softphone.js" defer></script>'
)
_PAGES = frozenset({"/agent"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def inject_softphone(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adds the demo phone to the agent page (this middleware exists only in the demo)."""
    response = await handler(request)
    if (
        request.path in _PAGES
        and request.method == "GET"
        and isinstance(response, web.Response)
        and response.status == 200
        and response.content_type == "text/html"
        and isinstance(response.body, bytes)
        and b"</body>" in response.body
    ):
        body = response.body
        at = body.rindex(b"</body>")
        response.body = body[:at] + SOFTPHONE_ASSETS + body[at:]
    return response


@routes.get("/demo/softphone/ws")
async def softphone_socket(request: web.Request) -> web.StreamResponse:
    check_origin(request)
    principal = await current(request)
    if principal is None:
        raise web.HTTPUnauthorized(text="log in first")
    account = principal[0]
    pbx = request.app[DEMO].pbx
    if pbx is None:
        raise web.HTTPServiceUnavailable(text="the virtual PBX is starting")
    async with PageSocket(request) as page:
        phone = pbx.phones.register(account.interface, account.name, page.send)
        log.info("demo phone %s of %s is online", account.interface, account.name)
        try:
            async for frame in page.frames():
                call, kind = phone.call, frame["type"]
                if call is None:
                    continue  # the call went before the click arrived
                if kind == "answer" and phone.state is PhoneState.RINGING:
                    call.answer(phone)
                elif kind == "reject" and phone.state is PhoneState.RINGING:
                    call.decline(phone)
                elif kind == "hangup" and phone.state is PhoneState.TALKING:
                    call.agent_hang_up(phone)
        finally:
            pbx.phones.unregister(phone, page.send)
    return page.ws
