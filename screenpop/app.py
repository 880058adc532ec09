"""The screen-pop web app: `create_app(settings, *, store, bus, clock, crm) -> web.Application`.

Everything is built here and handed in; nothing is global (aiohttp's "no singletons"):
handlers find what they need under the typed keys of `screenpop.keys`. The hub's tasks
(bus reader, wallboard, pop history, agent list) run in a cleanup context, so they
stop with the app; at shutdown every socket gets GOING_AWAY, and the pages reconnect
and replay what they missed (to this process again or to another one).

`callpop serve` adds `/metrics` and runs the app with its other servers; tests run it
on an aiohttp `TestServer` (port 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from ruamel.yaml import YAML

from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CrmAdapter, Customer
from ivr.catalog import Disposition, DispositionCatalog, QueueCatalog, ScriptCatalog
from ivr.loader import LoadError, read_catalog_file
from screenpop import api, controls, views, widget
from screenpop.auth import LoginGate, LoginLimiter, Passwords, Sessions, TrustedProxies
from screenpop.bus import PopBus
from screenpop.guards import security_headers
from screenpop.history import WriterLease
from screenpop.hub import Hub, PopObserver, SocketControls
from screenpop.keys import (
    AGENT_STATUS,
    BUS,
    CATALOGS,
    CLOCK,
    CRM,
    DEFAULT_PAUSE_REASONS,
    DIAL_OUTCOME_S,
    HUB,
    LIMITER,
    LOGIN_GATE,
    ORIGINATE,
    PASSWORDS,
    PAYLOADS,
    SESSIONS,
    SETTINGS,
    STORE,
    TRANSFER,
    WEBSOCKETS,
    AgentStatus,
    Catalogs,
    Originate,
    Transfer,
    WebSettings,
)
from screenpop.outlook import BoardSources
from screenpop.payload import PayloadBuilder
from screenpop.settings import ScreenpopSettings
from screenpop.store import Account, ScreenpopStore

__all__ = ["DEFAULT_DISPOSITIONS", "create_app", "load_catalogs"]

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

# Offered when the dialplan has no dispositions.yaml, so a fresh install can close calls.
DEFAULT_DISPOSITIONS = DispositionCatalog(
    dispositions={
        "resolved": Disposition(label="Resolved"),
        "follow_up": Disposition(label="Needs follow-up", requires_note=True, follow_up=True),
        "transferred": Disposition(label="Transferred"),
        "wrong_number": Disposition(label="Wrong number"),
    }
)


def load_catalogs(dialplan: Path) -> Catalogs:
    """`dispositions.yaml` and `scripts.yaml` of the dialplan folder (both optional).
    Raises `ivr.loader.LoadError` (with file:line:col) for a file that does not load."""
    root = dialplan.parent if dialplan.name == "flows" else dialplan
    dispositions: DispositionCatalog = DEFAULT_DISPOSITIONS
    scripts: ScriptCatalog | None = None
    path = root / "dispositions.yaml"
    if path.exists():
        loaded, findings = read_catalog_file(path, DispositionCatalog)
        if loaded is None:
            raise LoadError(findings)
        dispositions = loaded.model
    path = root / "scripts.yaml"
    if path.exists():
        loaded_scripts, findings = read_catalog_file(path, ScriptCatalog)
        if loaded_scripts is None:
            raise LoadError(findings)
        scripts = loaded_scripts.model
    queues: tuple[str, ...] = ()
    wrapup_s: dict[str, float] = {}
    path = root / "queues.yaml"
    if path.exists():
        loaded_queues, findings = read_catalog_file(path, QueueCatalog)
        if loaded_queues is None:
            raise LoadError(findings)
        queues = tuple(loaded_queues.model.queues)
        wrapup_s = {name: q.wrapup / 1000 for name, q in loaded_queues.model.queues.items()}
    return Catalogs(
        dispositions,
        scripts,
        load_pause_reasons(root / "pause_reasons.yaml"),
        queues,
        wrapup_s,
    )


def load_pause_reasons(path: Path) -> tuple[str, ...]:
    """`pause_reasons: [Lunch, ...]` (optional file): the agents' break reasons, sent as
    `QueuePause`'s `Reason`. Raises `ValueError` naming the file for anything else."""
    if not path.exists():
        return DEFAULT_PAUSE_REASONS
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    reasons = data.get("pause_reasons") if isinstance(data, dict) else None
    if (
        not isinstance(reasons, list)
        or not reasons
        or not all(
            isinstance(r, str) and 0 < len(r) <= 40 and r.isprintable() and r == r.strip()
            for r in reasons
        )
        or len(set(reasons)) != len(reasons)
    ):
        raise ValueError(
            f"{path}:1:1: error: pause_reasons is a list of distinct one-line reasons "
            "of 1 to 40 characters"
        )
    return tuple(reasons)


def create_app(
    settings: ScreenpopSettings,
    *,
    store: ScreenpopStore,
    bus: PopBus,
    clock: Callable[[], datetime],
    crm: CrmAdapter,
    originate: Originate | None = None,
    dial_outcome_s: float | None = None,
    agent_status: AgentStatus | None = None,
    transfer: Transfer | None = None,
    catalogs: Catalogs | None = None,
    session_key: bytes | None = None,
    passwords: Passwords | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    heartbeat_s: float = 20.0,
    on_pop: PopObserver | None = None,
    revocation_poll_s: float = 2.0,
    board_sources: BoardSources | None = None,
    board_refresh_s: float = 3.0,
    history_lease: WriterLease | None = None,
) -> web.Application:
    """The screen-pop app. `clock` gives aware UTC datetimes; `originate` is the
    click-to-dial seam (ARI when configured, None: the panel says it is not set up);
    `dial_outcome_s`: how long a click-to-dial's outcome (`agent.dial`) is waited for
    before the agent is told it is unknown (None: `originate` reports no outcome);
    `session_key` signs cookies and tokens: give the same one to every instance and
    across restarts, or agents log in again after each (random when None).
    `revocation_poll_s`: how often logouts on other instances sharing the database
    are looked for, to close that session's sockets here. `board_sources`: where the
    wallboard reads each queue's estimated wait, the callbacks pending and the flood
    switch, every `board_refresh_s` (None: the board shows none of them).
    `history_lease`: instances share the bus; only this lease's holder writes the pop
    history (`screenpop.history`; None: this instance writes it all)."""
    if session_key is None:
        log.warning("no web session key configured: agents must log in again after a restart")
        session_key = secrets.token_bytes(32)
    if catalogs is None:
        catalogs = load_catalogs(Path(settings.dialplan))
    phone: PhoneNormaliser = settings.phone.normaliser()
    crm_settings = settings.crm

    def record_link(customer: Customer) -> str | None:
        return crm_settings.record_link(customer.id, customer.external_id, customer.account)

    payloads = PayloadBuilder(
        crm,
        store,
        late_s=crm_settings.pop_window_s,
        scripts=catalogs.scripts,
        record_link=record_link,
        # one instance prefetches while the caller waits; with a shared bus only the
        # rung agent's instance reads, when the pop is offered (`Hub._shown_here`)
        prefetch=not settings.shared_bus,
    )
    sessions = Sessions(session_key, clock=lambda: clock().timestamp())
    hub = Hub(
        bus=bus,
        store=store,
        payloads=payloads,
        clock=clock,
        monotonic=monotonic,
        heartbeat_s=heartbeat_s,
        embed_token=sessions.embed_token,
        on_pop=on_pop,
        board_sources=board_sources,
        history_lease=history_lease,
        controls=SocketControls(
            offer=lambda account, agents: controls.offer(app, account, agents),
            run=lambda account, action, args: _socket_control(app, account, action, args),
        ),
    )

    app = web.Application(middlewares=[security_headers], client_max_size=256 * 1024)
    app[CLOCK] = clock
    app[STORE] = store
    app[BUS] = bus
    app[CRM] = crm
    app[HUB] = hub
    app[PAYLOADS] = payloads
    app[SESSIONS] = sessions
    app[PASSWORDS] = passwords or Passwords()
    limits = settings.login
    app[LIMITER] = LoginLimiter(
        clock=monotonic,
        per_pair=limits.per_pair,
        per_user=limits.per_user,
        per_address=limits.per_address,
        window_s=limits.window_s,
    )
    app[LOGIN_GATE] = LoginGate(concurrent=limits.concurrent, waiting=limits.waiting)
    app[CATALOGS] = catalogs
    app[SETTINGS] = WebSettings(
        web_origins=tuple(o.rstrip("/") for o in settings.web_origins),
        public_origins=(settings.public_url,) if settings.public_url else (),
        proxies=TrustedProxies(settings.trusted_proxies, settings.forwarded_header),
        record_link=record_link,
        normalise_phone=phone.normalise,
    )
    app[ORIGINATE] = originate
    app[DIAL_OUTCOME_S] = dial_outcome_s
    app[AGENT_STATUS] = agent_status
    app[TRANSFER] = transfer
    app[WEBSOCKETS] = weakref.WeakSet()

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        # autoescape for every template whatever its name, and for strings too
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    app.add_routes(views.routes)
    app.add_routes(api.routes)
    app.add_routes(widget.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    app.cleanup_ctx.append(_hub_tasks(revocation_poll_s, board_refresh_s))
    app.on_shutdown.append(_close_sockets)
    return app


async def _socket_control(
    app: web.Application, account: Account, action: str, args: dict[str, Any]
) -> dict[str, Any]:
    """A socket's `control`, answered with the panel API's words (and HTTP status)."""
    try:
        return await controls.run(app, account, action, args)
    except controls.ControlDenied as exc:
        return {"ok": False, "status": exc.status, **exc.to_dict()}


def _hub_tasks(
    revocation_poll_s: float, board_refresh_s: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def hub_tasks(app: web.Application) -> AsyncIterator[None]:
        hub = app[HUB]
        await hub.refresh_accounts()
        await hub.start()  # the pops and counts of before a restart, before any agent connects
        tasks = [
            asyncio.create_task(coro, name=name)
            for name, coro in (
                ("hub-bus", hub.run()),
                ("hub-wallboard", hub.run_wallboard()),
                ("hub-outlook", hub.run_outlook(board_refresh_s)),
                ("hub-history", hub.history.run()),
                ("hub-accounts", hub.run_accounts()),
                ("hub-revocations", hub.run_revocations(revocation_poll_s)),
            )
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.history.flush()
        await hub.aclose()
        await app[PAYLOADS].aclose()

    return hub_tasks


async def _close_sockets(app: web.Application) -> None:
    sockets = app[WEBSOCKETS]
    for ws in tuple(sockets):
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """Ready for agents: the bus reader runs and the database answers."""
    if not request.app[HUB].running:
        return web.Response(status=503, text="pop bus: not subscribed\n")
    try:
        async with asyncio.timeout(2.0):
            await request.app[STORE].accounts()
    except Exception as exc:
        return web.Response(status=503, text=f"database: {type(exc).__name__}\n")
    return web.Response(text="ready\n")
