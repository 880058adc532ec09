"""The sockets: `/ws` for the agent panel, the wallboard and the embeddable widget;
`/widget.js` and `/widget/connect` for an existing web CRM that embeds the pop.

An agent's panel authenticates with the session cookie. A CRM page on another origin
does not get that cookie (SameSite=Lax), so the widget asks for an embed token: it
opens `/widget/connect?origin=...` in a small window, a top-level page of this site
where the agent is logged in (or logs in); that page checks the origin against
`web_origins` and hands a short-lived token, bound to that origin, back to the CRM
page with `postMessage`. The socket then opens with `?embed=TOKEN` and the server
sends a fresh token every heartbeat, so the widget can reconnect (or survive the CRM
page navigating to a record) without asking again. A token opens one socket: the
newest one the widget was sent is always unused. Every token carries the nonce of
the agent's session that asked for it and never outlives that session: when the agent
logs out (here or on another instance) the widget's socket is closed and its tokens
are refused. docs/widget.md has the details.

`Origin` is checked on every socket: this site's own origin (`web_public_url` or the
address connected to, never the Host header) or one of `web_origins`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib.resources import files

import aiohttp_jinja2
from aiohttp import web

from screenpop.auth import EmbedClaims, SessionClaims
from screenpop.guards import current, is_own_origin, require
from screenpop.keys import HUB, SESSIONS, SETTINGS, STORE, WEBSOCKETS
from screenpop.protocol import MAX_FRAME_CHARS

__all__ = ["routes"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _origin_allowed(request: web.Request, origin: str | None) -> bool:
    # Browsers send Origin with every websocket handshake; a client without one is not
    # a browser, so no other site can be riding on the agent's cookie.
    if origin is None:
        return True
    return is_own_origin(request, origin) or origin in request.app[SETTINGS].web_origins


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if not _origin_allowed(request, origin):
        log.warning("websocket from origin %r refused", origin)
        raise web.HTTPForbidden(text="origin not allowed")
    embed = request.query.get("embed")
    embed_origin: str | None = None
    session: SessionClaims | EmbedClaims
    if embed:
        if origin is None or origin not in request.app[SETTINGS].web_origins:
            raise web.HTTPForbidden(text="embed tokens are for the origins in web_origins")
        sessions = request.app[SESSIONS]
        claims = sessions.read_embed(embed, origin)
        store = request.app[STORE]
        account = (
            None if claims is None else await store.session_account(claims.agent_id, claims.session)
        )
        if claims is None or account is None or not sessions.belongs_to(claims, account):
            raise web.HTTPUnauthorized(text="embed token expired or invalid: connect again")
        # one socket per token: a token read from a URL in a log is already spent
        if not await store.use_embed_token(
            claims.token_id, datetime.fromtimestamp(claims.expires, UTC)
        ):
            log.warning(
                "widget socket for %s refused: its embed token was used before", account.name
            )
            raise web.HTTPUnauthorized(text="embed token already used: connect again")
        embed_origin, session = origin, claims
    else:
        principal = await current(request)
        if principal is None:
            raise web.HTTPUnauthorized(text="log in first")
        account, session = principal
    # aiohttp's own ping frames detect a dead TCP peer; the protocol's heartbeat lets
    # the page detect a dead server
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME_CHARS * 4)
    await ws.prepare(request)
    sockets = request.app[WEBSOCKETS]
    sockets.add(ws)
    try:
        await request.app[HUB].serve(ws, account, session=session, embed_origin=embed_origin)
    finally:
        sockets.discard(ws)
    return ws


@routes.get("/widget.js")
async def widget_js(request: web.Request) -> web.StreamResponse:
    body = files("screenpop").joinpath("static/widget.js").read_bytes()
    return web.Response(
        body=body,
        content_type="application/javascript",
        charset="utf-8",
        headers={
            "Cache-Control": "public, max-age=300",
            # the script tag lives on the CRM's page
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@routes.get("/widget/connect")
async def widget_connect(request: web.Request) -> web.StreamResponse:
    account, claims = await require(request)
    origin = request.query.get("origin", "")
    if origin not in request.app[SETTINGS].web_origins:
        return aiohttp_jinja2.render_template(
            "widget_connect.html",
            request,
            {
                "account": account,
                "error": "This site is not allowed to embed callpop. "
                "An administrator can add it to web_origins in callpop.yaml.",
                "origin": origin,
                "boot": None,
            },
            status=403,
        )
    token = request.app[SESSIONS].embed_token(account, origin, claims)
    return aiohttp_jinja2.render_template(
        "widget_connect.html",
        request,
        {
            "account": account,
            "error": None,
            "origin": origin,
            "boot": {"origin": origin, "token": token, "agent": account.public()},
        },
    )
