"""Request-level security: who is logged in, CSRF, origins, security headers.

Every page and API handler goes through `require`; every state-changing request
through `require_csrf`. The account is read from the store on each request (a role
change or a deactivation takes effect at once); the session cookie only names it,
and a cookie whose session was logged out (on any instance, before any restart) is
nobody.

An `Origin` is this site's when it is the configured `web_public_url` or the address
the client's socket is connected to: never the Host header, which any page reached
through DNS rebinding sets to its own name.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import quote

from aiohttp import web

from screenpop.auth import SessionClaims, Sessions, client_address
from screenpop.keys import SESSIONS, SETTINGS, STORE
from screenpop.store import Account, Role

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Principal",
    "clear_session_cookie",
    "client_ip",
    "current",
    "is_own_origin",
    "require",
    "require_csrf",
    "security_headers",
    "set_session_cookie",
]

SESSION_COOKIE = "callpop_session"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
Principal = tuple[Account, SessionClaims]
_PRINCIPAL = web.RequestKey[Principal | None]("callpop.principal")


async def current(request: web.Request) -> Principal | None:
    """The logged-in account and its session, or None."""
    if _PRINCIPAL in request:
        cached: Principal | None = request[_PRINCIPAL]
        return cached
    sessions: Sessions = request.app[SESSIONS]
    claims = sessions.read(request.cookies.get(SESSION_COOKIE))
    principal: Principal | None = None
    if claims is not None:
        # one round trip: at a SIGKILL an instance's agents all log in again elsewhere at
        # once, beside the calls (docs/scale.md, the profile)
        account = await request.app[STORE].session_account(claims.agent_id, claims.nonce)
        if account is not None and sessions.belongs_to(claims, account):
            principal = (account, claims)
    request[_PRINCIPAL] = principal
    return principal


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/ws"


async def require(request: web.Request, roles: Iterable[Role] | None = None) -> Principal:
    """The principal, or the response that sends the browser to log in (pages) or
    says 401/403 (API)."""
    principal = await current(request)
    if principal is None:
        if _wants_json(request):
            raise web.HTTPUnauthorized(
                text='{"error": "log in first"}', content_type="application/json"
            )
        raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='/')}")
    if roles is not None and principal[0].role not in set(roles):
        if _wants_json(request):
            raise web.HTTPForbidden(
                text='{"error": "not allowed for your role"}', content_type="application/json"
            )
        raise web.HTTPForbidden(text="This page is not available for your role.")
    return principal


def client_ip(request: web.Request) -> str:
    """Who sent the request: the peer, or behind a trusted proxy the address it
    forwarded (`web_trusted_proxies`)."""
    proxies = request.app[SETTINGS].proxies
    return client_address(request.remote, request.headers.get(proxies.header), proxies)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _socket_origins(request: web.Request) -> set[str]:
    """The origins a browser sends when it reached the very address this socket is
    bound to (`http://127.0.0.1:8080`, and `localhost` on a loopback address)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return set()
    host, port = str(sockname[0]), int(sockname[1])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return set()
    hosts = [f"[{host}]" if ip.version == 6 else host]
    if ip.is_loopback:
        hosts.append("localhost")
    suffix = "" if _DEFAULT_PORTS.get(request.scheme) == port else f":{port}"
    return {f"{request.scheme}://{h}{suffix}" for h in hosts}


def is_own_origin(request: web.Request, origin: str) -> bool:
    """`origin` is this site as agents reach it: `web_public_url`, or the address
    the connection was made to. The Host header is the client's to choose."""
    origin = origin.rstrip("/").lower()
    return origin in request.app[SETTINGS].public_origins or origin in _socket_origins(request)


def require_csrf(request: web.Request, claims: SessionClaims, token: str | None) -> None:
    """Refuse a state change that does not carry the session's CSRF token, or that a
    browser says came from another site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and not is_own_origin(request, origin):
        raise web.HTTPForbidden(
            text='{"error": "cross-site request refused"}', content_type="application/json"
        )
    token = token or request.headers.get(CSRF_HEADER)
    if not request.app[SESSIONS].check_csrf(claims, token):
        raise web.HTTPForbidden(
            text='{"error": "missing or wrong CSRF token: reload the page"}',
            content_type="application/json",
        )


def check_double_submit(cookie: str | None, field: str | None) -> bool:
    """The login form's CSRF check (there is no session yet): the form field must
    repeat the random cookie set with the form."""
    return bool(cookie) and bool(field) and hmac.compare_digest(str(cookie), str(field))


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, token: str, max_age: int
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", secure=request.secure, httponly=True, samesite="Lax"
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CSP without inline scripts or styles (templates pass data in JSON blocks and
    data attributes), no framing, no MIME sniffing, no referrer to other sites."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _headers(request, response)
        raise
    _headers(request, response)
    return response


def _headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return  # a websocket, already under way
    ws_scheme = "wss" if request.secure else "ws"
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {ws_scheme}://{request.host}; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'; object-src 'none'"
        ),
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.path not in ("/healthz", "/readyz", "/widget.js") and not request.path.startswith(
        "/static/"
    ):
        headers.setdefault("Cache-Control", "no-store")
