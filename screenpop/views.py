"""The HTML pages: `/`, `/login`, `/logout`, `/agent`, `/supervisor`.

Templates get data, never markup: jinja2 escapes everything (autoescape on for every
template), and the data a page's script needs travels in a `<script type=
"application/json">` block rendered with `tojson`, which escapes `<`, `>` and `&`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from screenpop.auth import LoginBusy
from screenpop.guards import (
    CSRF_FIELD,
    check_double_submit,
    clear_session_cookie,
    client_ip,
    current,
    require,
    require_csrf,
    set_session_cookie,
)
from screenpop.keys import (
    CATALOGS,
    HUB,
    LIMITER,
    LOGIN_GATE,
    PASSWORDS,
    SESSIONS,
    STORE,
    TRANSFER,
)
from screenpop.store import Account

__all__ = ["home_for", "routes", "safe_next"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

LOGIN_CSRF_COOKIE = "callpop_login"
MAX_FIELD = 200


def home_for(account: Account) -> str:
    return "/supervisor" if account.role in ("supervisor", "admin") else "/agent"


def safe_next(value: str | None) -> str | None:
    """A path on this site to go to after login, or None.

    Browsers drop tabs and newlines from a URL and read `\\` as `/`, so
    `/<TAB>/evil.test/` is `//evil.test/` to them, another site. Anything with a
    control character, a space or a backslash is refused outright rather than
    cleaned; what is left must parse as a bare path (no scheme, no host) that does not
    start with `//`. Non-ASCII is percent-encoded for the Location header."""
    if not value or len(value) >= 500 or "\\" in value:
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return quote(value, safe="/?&=#%:@!$'()*+,;~-._")


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    principal = await current(request)
    raise web.HTTPFound("/login" if principal is None else home_for(principal[0]))


def _login_page(
    request: web.Request, *, error: str | None = None, name: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {
            "csrf": token,
            "error": error,
            "name": name,
            "next": safe_next(request.query.get("next")) or "",
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    principal = await current(request)
    if principal is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")) or home_for(principal[0]))
    return _login_page(request)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))[:MAX_FIELD].strip()
    password = str(form.get("password", ""))[:1024]
    if not check_double_submit(
        request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get(CSRF_FIELD, ""))
    ):
        return _login_page(
            request, error="The form expired. Please try again.", name=name, status=403
        )
    address = client_ip(request)
    limiter = request.app[LIMITER]
    # Counted now, before any await: concurrent guesses cannot all pass the check
    # before the first of them is counted. A success gives it back.
    attempt = limiter.attempt(address, name)
    if attempt.wait > 0:
        if attempt.first_refusal:  # once per name or address locked, not per guess
            log.warning(
                "logins for %r from %s refused for %d s: too many attempts",
                name,
                address,
                int(attempt.wait) + 1,
            )
        return _login_page(
            request,
            name=name,
            status=429,
            error=(f"Too many failed attempts. Try again in {int(attempt.wait) + 1} seconds."),
        )
    store, passwords = request.app[STORE], request.app[PASSWORDS]
    gate = request.app[LOGIN_GATE]
    try:
        async with gate:
            if refused := gate.recovered():
                log.info("password checks: accepting logins again (%d refused)", refused)
            account = await store.account_by_name(name) if name else None
            # argon2 takes tens of milliseconds of CPU: off the event loop, or every
            # pop waits; and an unknown name costs the same verification
            ok = await asyncio.to_thread(
                passwords.verify, account.password_hash if account else None, password
            )
            if account is not None and ok and passwords.needs_rehash(account.password_hash):
                new_hash = await asyncio.to_thread(passwords.hash, password)
                await store.set_password_hash(account.id, new_hash)
                account = await store.account(account.id) or account
    except LoginBusy as busy:
        if busy.first:
            log.warning(
                "password checks: %d running and queued, refusing logins until one is free",
                gate.capacity,
            )
        response = _login_page(
            request,
            name=name,
            status=503,
            error="Too many logins at once. Try again in a few seconds.",
        )
        response.headers["Retry-After"] = "5"
        return response
    if account is None or not ok:
        log.info("failed login for %r from %s", name, address)
        return _login_page(request, error="Wrong name or password.", name=name, status=401)
    limiter.succeeded(address, name)
    hub = request.app[HUB]
    if not hub.knows(account):
        await hub.refresh_accounts()  # added since the last read: pops find them from now on
    sessions = request.app[SESSIONS]
    token, _claims = sessions.issue(account)
    response = web.HTTPFound(safe_next(str(form.get("next", ""))) or home_for(account))
    set_session_cookie(response, request, token, sessions.ttl_s)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    log.info("login: %s (%s) from %s", account.name, account.role, address)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    principal = await current(request)
    response = web.HTTPFound("/login")
    if principal is not None:
        form = await request.post()
        account, claims = principal
        require_csrf(request, claims, str(form.get(CSRF_FIELD, "")))
        # in the database: every instance refuses the cookie, and so does this one
        # after a restart; the session's sockets here close now, elsewhere soon
        await request.app[STORE].revoke_session(
            claims.nonce, datetime.fromtimestamp(claims.expires, UTC)
        )
        request.app[HUB].end_session(claims.nonce)
        log.info("logout: %s", account.name)
    clear_session_cookie(response, request)
    raise response


@routes.get("/logout")
async def logout_get(request: web.Request) -> web.StreamResponse:
    # A GET must not change state (a link on another site could log agents out):
    # show the confirmation form, which POSTs with the CSRF token.
    principal = await current(request)
    if principal is None:
        raise web.HTTPFound("/login")
    return aiohttp_jinja2.render_template("logout.html", request, _page(request, principal))


def _page(request: web.Request, principal: tuple[Account, Any]) -> dict[str, Any]:
    account, claims = principal
    return {"account": account, "csrf": request.app[SESSIONS].csrf_token(claims)}


@routes.get("/agent")
async def agent_page(request: web.Request) -> web.StreamResponse:
    principal = await require(request)
    catalog = request.app[CATALOGS].dispositions
    context = _page(request, principal)
    context["boot"] = {
        "agent": principal[0].public(),
        "dispositions": [
            {
                "code": code,
                "label": d.label,
                "requires_note": d.requires_note,
                "follow_up": d.follow_up,
                "topics": list(d.topics),
            }
            for code, d in catalog.dispositions.items()
        ],
        "pause_reasons": list(request.app[CATALOGS].pause_reasons),
        # a queue's wrap-up: the panel shows after-call work that long after each call
        "wrapup_s": dict(request.app[CATALOGS].wrapup_s),
        "transfer": {
            "enabled": request.app[TRANSFER] is not None,
            "queues": list(request.app[CATALOGS].queues),
            "agents": sorted(
                a.name for a in await request.app[STORE].accounts() if a.id != principal[0].id
            ),
        },
    }
    return aiohttp_jinja2.render_template("agent.html", request, context)


@routes.get("/supervisor")
async def supervisor_page(request: web.Request) -> web.StreamResponse:
    principal = await require(request, roles=("supervisor", "admin"))
    context = _page(request, principal)
    context["boot"] = {"agent": principal[0].public()}
    return aiohttp_jinja2.render_template("supervisor.html", request, context)
