"""`callpop serve`: everything configured, in one process, on one event loop.

The composition root. `build_runtime` makes the long-lived objects from the config
(database, CRM stack, bus, metrics, the services drivers get); `build_app` wires them
into one aiohttp application whose cleanup contexts start the other servers (the
aiohttp "complex applications" pattern: one runner owns the program):

    database + CRM      built before the app (migrations run first)
    outbox relay        cleanup_ctx: delivers write-backs to an external CRM
    AMI listener        cleanup_ctx, when `ami:` is configured
    ARI Stasis app      cleanup_ctx, when `ari:` is configured
    FastAGI server      cleanup_ctx; on shutdown it stops accepting first

On SIGTERM or SIGINT: the web site and FastAGI stop accepting, live IVR calls get
`shutdown_grace_s` to finish (then they are sent back to the dialplan, which routes
them to the operator), panels get GOING_AWAY, and the rest closes in reverse order.
The journey writer closes after FastAGI and ARI, so it writes every journey their
calls handed over, however many were still queued, before the database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from agi_scripts.routes.connected import connected_route
from agi_scripts.routes.ivr import ivr_route
from agi_scripts.routes.survey import survey_route
from agi_scripts.server import FastAgiServer
from callpop.ami.client import AMIClient
from callpop.ami.controls import (
    DIAL_CONTEXT,
    DIAL_OUTCOME_WAIT_S,
    AmiControls,
    PanelControls,
    panel_controls,
)
from callpop.ami.dials import DialOutcomes
from callpop.ami.lease import AmiLease, NoLease, PgAdvisoryLease, lease_dsn
from callpop.ami.listener import LeasedListener, LiveCalls
from callpop.ami.relay import ControlRelay
from callpop.ami_filter import READS as AMI_READS
from callpop.ari_ledger import SqlAriLedger
from callpop.board_sources import StoreBoardSources
from callpop.callbacks.placer import CallbackPlacer
from callpop.callbacks.store import CallbackStore
from callpop.collector import Collector
from callpop.config import AmiSettings, Config, ConfigError
from callpop.control import control_socket
from callpop.flood import FloodReader, FloodStore
from callpop.journeys import DURABLE_WITHIN_S, JourneyStore, JourneyWriter
from callpop.metrics import CONTENT_TYPE_LATEST, Metrics
from callpop.queue_store import QueueStateReader, QueueStateStore, QueueStateWriter
from callpop.reload import DialplanReloader, load_versioned
from callpop.services import IvrServices
from callpop.shutdown_watch import watch_shutdown
from callpop.surveys import SurveyStore
from callpop.web_server import (
    ConnectionLimits,
    GuardedSite,
    body_deadline,
    open_descriptors,
    raise_open_file_limit,
    web_budget,
)
from crm_adapter.factory import CrmStack, build_crm
from crm_adapter.settings import SecretError
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.ari.handler import IvrCallHandler
from ivr.ari.serving import ari_app_context
from ivr.compiled import LiveFlows
from ivr.loader import Dialplan
from ivr.runner import Clock as IvrClock
from screenpop.app import create_app
from screenpop.auth import TrustedProxies
from screenpop.bus import InProcessBus
from screenpop.hub import RESTORE_WINDOW, Hub
from screenpop.keys import HUB
from screenpop.redis_bus import RedisBus
from screenpop.sqlstore import SqlScreenpopStore

__all__ = [
    "FASTAGI_FD_MARGIN",
    "CannotListen",
    "PortBusy",
    "Runtime",
    "build_app",
    "build_runtime",
    "fastagi_max_calls",
    "make_runner",
    "serve",
    "start_site",
]

log = logging.getLogger("callpop.serve")


class CannotListen(Exception):
    """A listening address cannot be had; says which one, what it was for and why."""

    def __init__(self, what: str, address: str, reason: str) -> None:
        super().__init__(f"cannot listen for {what} on {address}: {reason}")
        self.what = what
        self.address = address


class PortBusy(CannotListen):
    """The port is taken (another callpop, or another program)."""

    def __init__(self, what: str, address: str) -> None:
        super().__init__(what, address, "the port is already in use")


def listen_error(exc: OSError, what: str, address: str) -> CannotListen:
    """The bind failure `exc` as one line naming the address: busy, not ours to take
    (a port below 1024 without the right), or not an address of this machine."""
    if exc.errno == errno.EADDRINUSE:
        return PortBusy(what, address)
    return CannotListen(what, address, exc.strerror or str(exc))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The long-lived objects of one `serve`, built from the config."""

    config: Config
    dialplan: Dialplan
    engine: AsyncEngine
    crm: CrmStack
    bus: InProcessBus | RedisBus
    metrics: Metrics
    journeys: JourneyStore
    services: IvrServices
    session_key: bytes
    writer: JourneyWriter
    reloader: DialplanReloader
    """Owns the flows new calls start on (`reloader.live`); `callpop reload` swaps them."""
    # names this process to the other instances (who holds an AMI lease, whose ARI call)
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}/{os.getpid()}")

    async def aclose(self) -> None:
        """Close after the drivers: their calls' journeys are written first."""
        await self.writer.aclose()
        await self.journeys.aclose()  # the writer's connection, once its last batch is in
        await self.bus.aclose()  # a Redis bus appends what is buffered first
        await self.crm.aclose()
        await self.engine.dispose()


RUNTIME = web.AppKey("callpop_runtime", Runtime)
FASTAGI = web.AppKey("callpop_fastagi", FastAgiServer)
# How often a standby asks for the pop history writer's lease: a SIGKILLed writer's
# rows not yet written wait in the others' memory about this long.
HISTORY_LEASE_INTERVAL_S = 1.0
# Past the grace, a shutdown this much longer says what it still waits on.
SHUTDOWN_REPORT_AFTER_S = 10.0


def read_session_key(config: Config) -> bytes | None:
    """`CALLPOP_WEB_SECRET` or `web_secret_file`: the key that signs agent sessions."""
    if config.web_secret:
        return config.web_secret.encode("utf-8")
    if config.web_secret_file is not None:
        try:
            return config.web_secret_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                "web_secret_file", f"cannot read {config.web_secret_file}: {exc.strerror}"
            ) from None
    return None


def build_bus(config: Config, metrics: Metrics) -> InProcessBus | RedisBus:
    """The pop bus: in this process, or the Redis stream `bus:` names (several instances)."""
    if config.bus is None:
        return InProcessBus()
    log.info("pop bus: Redis stream %r at %s", config.bus_key, _redacted(config.bus))
    return RedisBus.from_url(
        config.bus,
        key=config.bus_key,
        maxlen=config.bus_retain,
        buffer=config.bus_buffer,
        on_dropped=metrics.bus_dropped.inc,
    )


def _redacted(url: str) -> str:
    """The URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{'***@' if at else ''}{host}" if credentials or at else url


async def build_runtime(
    config: Config, *, environ: dict[str, str], clock: Callable[[], datetime] = utcnow
) -> Runtime:
    """Load and check the dialplan, migrate the database, build the CRM stack and bus."""
    # Raises DialplanError with findings.
    dialplan, flows = load_versioned(Path(config.dialplan), clock())
    engine = create_engine(config.database)
    try:
        await upgrade(engine)  # a database that cannot be used: CrmError, naming it
        crm = await build_crm(config.crm, config.phone, engine)
    except SecretError as exc:
        await engine.dispose()
        raise ConfigError("crm.rest.auth", str(exc)) from None
    except BaseException:
        await engine.dispose()
        raise
    metrics = Metrics()
    bus = build_bus(config, metrics)
    journeys = JourneyStore(engine, clock=clock)
    # Calls wait (bounded) for their journey's commit before Asterisk gets their outcome.
    writer = JourneyWriter(journeys, durable_within_s=DURABLE_WITHIN_S)
    queue_store = QueueStateStore(engine, clock=clock)
    budget_s = config.crm.lookup_budget_ms / 1000
    services = IvrServices(
        crm=crm.crm,
        bus=bus,
        journeys=writer,
        metrics=metrics,
        lookup_budget_ms=config.crm.lookup_budget_ms,
        pin_budget_ms=config.crm.pin_budget_ms,
        queues=QueueStateReader(
            queue_store,
            budget_s=budget_s,
            max_age_s=config.queues.state_max_age_s,
            clock=clock,
        ),
        flood=FloodReader(FloodStore(engine), budget_s=budget_s),
        callbacks=CallbackStore(engine),
        phone=config.phone.normaliser(),
        surveys=SurveyStore(engine),
    )
    session_key = read_session_key(config)
    if session_key is None:
        log.warning("no CALLPOP_WEB_SECRET or web_secret_file: agents log in again after a restart")
        session_key = secrets.token_bytes(32)
    reloader = DialplanReloader(Path(config.dialplan), LiveFlows(flows), bus=bus, clock=clock)
    return Runtime(
        config, dialplan, engine, crm, bus, metrics, journeys, services, session_key, writer,
        reloader=reloader,
    )  # fmt: skip


async def _metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    backlog = await runtime.crm.outbox.backlog()
    runtime.metrics.outbox_backlog.set(backlog.pending)
    runtime.metrics.outbox_oldest_age.set(backlog.oldest_age_s(utcnow()))
    if isinstance(runtime.bus, RedisBus):
        runtime.metrics.bus_buffered.set(runtime.bus.buffered)
    for state, count in (
        ("pending", backlog.pending),
        ("failed", backlog.failed),
        ("delivered", backlog.delivered),
    ):
        runtime.metrics.outbox_entries.labels(state).set(count)
    return web.Response(
        body=runtime.metrics.exposition(),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def _relay_context(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    async def relay(app: web.Application) -> AsyncIterator[None]:
        if runtime.crm.relay is None:
            yield
            return
        task = asyncio.create_task(runtime.crm.relay.run(), name="outbox-relay")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return relay


def _ami_lease(runtime: Runtime, settings: AmiSettings) -> AmiLease:
    """PostgreSQL: several instances may run, so each Asterisk's AMI is leased; SQLite:
    one instance, no lease (callpop/ami/lease.py says why an advisory lock)."""
    dsn = lease_dsn(runtime.config.database)
    if dsn is None:
        return NoLease()
    return PgAdvisoryLease(
        dsn, settings.label, instance=runtime.instance, interval_s=settings.lease_interval_s
    )


def _history_lease(runtime: Runtime) -> PgAdvisoryLease | None:
    """Instances sharing the bus (Redis) and the database (PostgreSQL): one of them, the
    holder of this lease, writes the pop history for all (screenpop/history.py). One
    instance writes its own, with no lease."""
    dsn = lease_dsn(runtime.config.database)
    if dsn is None or runtime.config.bus is None:
        return None
    return PgAdvisoryLease(
        dsn,
        "pops",
        instance=runtime.instance,
        interval_s=HISTORY_LEASE_INTERVAL_S,
        namespace="callpop-history",
        subject="pop history",
    )


def _reload_context(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    async def reload(app: web.Application) -> AsyncIterator[None]:
        settings = runtime.config.reload
        try:
            async with control_socket(runtime.reloader, settings.socket):
                async with runtime.reloader.running(watch_s=settings.watch_s):
                    yield
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy("`callpop reload` (reload.socket)", str(settings.socket)) from None
            message = f"cannot listen on {settings.socket}: {exc}"
            raise ConfigError("reload.socket", message) from None

    return reload


def _ami_context(
    runtime: Runtime, listeners: list[LeasedListener], *, dials: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    """`dials`: click-to-dial goes through the first Asterisk's AMI, whose lease holder
    publishes each one's outcome (callpop/ami/dials.py)."""

    async def ami(app: web.Application) -> AsyncIterator[None]:
        live_calls = _live_calls(runtime, app[HUB])
        # The queue state this instance folds while it holds a lease, written for all.
        queues = QueueStateWriter(
            QueueStateStore(runtime.engine),
            live=lambda: _logged_in(listeners),
            refresh_s=runtime.config.queues.state_refresh_s,
        )
        # Callbacks are placed through the first Asterisk, by whichever instance holds
        # its lease (docs/admin.md, "Callbacks"): the placer observes that listener.
        placer = CallbackPlacer(
            CallbackStore(runtime.engine),
            client=lambda: _term_client(listeners),
            publish=runtime.bus.publish,
            settings=runtime.config.callbacks,
            instance=runtime.instance,
        )

        # each click-to-dial's OriginateResponse, seen by the holder of the first lease
        outcomes = DialOutcomes(runtime.bus.publish, context=DIAL_CONTEXT)
        first_observers = (queues.feed, placer.feed, *((outcomes.feed,) if dials else ()))

        def term_end(first: bool) -> Callable[[], None]:
            def ended() -> None:
                queues.reset()
                if first:
                    placer.reset()

            return ended

        listeners[:] = [
            LeasedListener(
                settings,
                _ami_lease(runtime, settings),
                runtime.bus.publish,
                on_term_end=term_end(n == 0),
                observers=first_observers if n == 0 else (queues.feed,),
                live_calls=live_calls,
                reads=AMI_READS,
            )
            for n, settings in enumerate(runtime.config.ami)
        ]
        writing = asyncio.create_task(queues.run(), name="queue-state-writer")
        placing = asyncio.create_task(placer.run(), name="callback-placer")
        for listener in listeners:
            runtime.services.on_call_started.append(listener.track)
            await listener.start()
            log.info(
                "AMI: queue events of %s (%s:%d)",
                listener.settings.label,
                listener.settings.host,
                listener.settings.port,
            )
        yield
        for listener in listeners:
            await listener.stop()
        listeners.clear()
        for task in (writing, placing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ami


def _live_calls(runtime: Runtime, hub: Hub) -> LiveCalls:
    """What an AMI login's resync may end (callpop/ami/listener.py): the calls of that
    Asterisk with a pop ringing or talking in the `pops` rows (whichever instance wrote
    them, within the hub's restore window), and those this instance's hub holds live
    (a caller waiting, a change of the last instant not yet written)."""
    store = SqlScreenpopStore(runtime.engine)

    async def live(pbx: str) -> set[str]:
        stored = await store.ringing_or_talking_on(pbx, utcnow() - RESTORE_WINDOW)
        return hub.live_calls(pbx, stored)

    return live


def _logged_in(listeners: list[LeasedListener]) -> bool:
    """This instance holds a lease and is logged in to every Asterisk it holds one for:
    what its queue state writer folded is current (one writer serves every listener, so
    one Asterisk lost stops it vouching for all of them: unknown beats wrong)."""
    terms = [leased.listener for leased in listeners if leased.listener is not None]
    return bool(terms) and all(term.client.connected for term in terms)


def _term_client(listeners: list[LeasedListener]) -> AMIClient | None:
    """The first Asterisk's AMI client while this instance holds its lease."""
    term = listeners[0].listener if listeners else None
    return term.client if term is not None else None


def _ami_controls(
    listeners: list[LeasedListener], international_prefix: str, relay: ControlRelay | None
) -> PanelControls:
    """Click-to-dial, agent status and transfers through the first Asterisk's AMI (when ARI is not
    configured), on this instance's connection when it holds that AMI's lease, else through
    `relay` to the instance that does (docs/scale.md, "Call controls across instances")."""

    return panel_controls(
        AmiControls(lambda: _term_client(listeners), relay=relay),
        international_prefix=international_prefix,
    )


def _control_relay_context(relay: ControlRelay) -> Callable[[web.Application], AsyncIterator[None]]:
    async def control_relay(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(relay.run(), name="control-relay")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await relay.aclose()

    return control_relay


def _fastagi_context(
    runtime: Runtime, ivr_clock: IvrClock | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def fastagi(app: web.Application) -> AsyncIterator[None]:
        config = runtime.config
        services = runtime.services.for_driver("fastagi")
        flows = runtime.reloader.live
        server = FastAgiServer(
            [
                ivr_route(flows, services, clock=ivr_clock),
                connected_route(services),
                survey_route(flows, services, clock=ivr_clock),
            ],
            host=config.fastagi.host,
            port=config.fastagi.port,
            max_calls=fastagi_max_calls(
                resource.getrlimit(resource.RLIMIT_NOFILE)[0], open_descriptors()
            ),
        )
        try:
            await server.start()
        except OSError as exc:
            raise listen_error(exc, "FastAGI", str(config.fastagi)) from None
        app[FASTAGI] = server
        log.info(
            "FastAGI: listening on %s:%d (routes /ivr, /connected, /survey), "
            "at most %d calls at once (the open-file limit, %d kept for the rest)",
            config.fastagi.host,
            server.port,
            server.max_calls,
            FASTAGI_FD_MARGIN,
        )
        yield
        await server.shutdown(grace_s=config.shutdown_grace_s)

    return fastagi


# Descriptors kept beside FastAGI's calls for what `serve` opens once running: the
# database pool (SQLite holds three files a connection: the database, its WAL and
# shared memory), the journey writer's, Redis, AMI and ARI, sockets of ended calls
# not yet closed. Web connections have their own budget (`web_limits`).
FASTAGI_FD_MARGIN = 128


def fastagi_max_calls(limit: int, in_use: int) -> int:
    """The FastAGI calls one process can hold: one descriptor each, from what the
    open-file limit leaves after those in use and FASTAGI_FD_MARGIN."""
    return max(1, limit - in_use - FASTAGI_FD_MARGIN)


async def _stop_accepting_calls(app: web.Application) -> None:
    # Asterisk's next calls must fail over to the operator at once, not queue up
    # behind a server that is draining.
    server = app.get(FASTAGI)
    if server is not None:
        server.stop_accepting()


def _ari_context(
    runtime: Runtime, ivr_clock: IvrClock | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ari(app: web.Application) -> AsyncIterator[None]:
        settings = runtime.config.ari
        assert settings is not None
        services = runtime.services.for_driver("ari")
        handler = IvrCallHandler(runtime.reloader.live, services, clock=ivr_clock, surveys=services)
        # PostgreSQL: other instances may share the Asterisk, so sessions are recorded
        # and a dead instance's callers are taken over; SQLite: one instance, no ledger.
        ledger = None
        if lease_dsn(runtime.config.database) is not None:
            ledger = SqlAriLedger(runtime.engine, instance=runtime.instance, app=settings.app)
        async with ari_app_context(
            settings, handler, grace_s=runtime.config.shutdown_grace_s, ledger=ledger
        ):
            log.info("ARI: Stasis app %r on %s", settings.app, settings.url)
            yield

    return ari


def build_app(
    runtime: Runtime,
    *,
    clock: Callable[[], datetime] = utcnow,
    ivr_clock: IvrClock | None = None,
) -> web.Application:
    """The one application of `serve`. `ivr_clock` is the IVR's time (the real clocks when
    None); the demo runs its IVR in office hours with its own."""
    config = runtime.config
    metrics = runtime.metrics
    ami_listeners: list[LeasedListener] = []  # filled while the app runs
    controls_on_ami = bool(config.ami) and config.ari is None
    # several instances share a Redis bus: a control reaches the AMI lease holder there
    relay = (
        ControlRelay.from_url(
            config.bus,
            key=config.bus_key,
            label=config.ami[0].label,
            instance=runtime.instance,
            client=lambda: _term_client(ami_listeners),
        )
        if controls_on_ami and config.bus is not None
        else None
    )
    ami_controls = (
        _ami_controls(ami_listeners, (*config.phone.international_prefixes, "00")[0], relay)
        if controls_on_ami
        else None
    )

    def on_pop(kind: str, latency_s: float | None) -> None:
        metrics.pops_delivered.labels(kind).inc()
        if latency_s is not None:
            metrics.pop_latency.observe(latency_s)

    app = create_app(
        config.screenpop_settings(),
        store=SqlScreenpopStore(runtime.engine, clock=clock),
        bus=runtime.bus,
        clock=clock,
        crm=runtime.crm.crm,
        session_key=runtime.session_key,
        on_pop=on_pop,
        originate=ami_controls.originate if ami_controls else None,
        dial_outcome_s=DIAL_OUTCOME_WAIT_S if ami_controls else None,
        agent_status=ami_controls.agent_status if ami_controls else None,
        transfer=ami_controls.transfer if ami_controls else None,
        history_lease=_history_lease(runtime),
        board_sources=StoreBoardSources(
            QueueStateStore(runtime.engine, clock=clock),
            CallbackStore(runtime.engine),
            FloodStore(runtime.engine),
            SurveyStore(runtime.engine),
            max_age_s=config.queues.state_max_age_s,
            clock=clock,
        ),
    )
    app[RUNTIME] = runtime
    app.middlewares.append(body_deadline(config.web_limits.body_timeout_s))
    app.router.add_get("/metrics", _metrics)
    app.cleanup_ctx.append(_relay_context(runtime))
    app.cleanup_ctx.append(_reload_context(runtime))
    if config.ami:
        app.cleanup_ctx.append(_ami_context(runtime, ami_listeners, dials=controls_on_ami))
    if relay is not None:
        app.cleanup_ctx.append(_control_relay_context(relay))
    if config.ari is not None:
        app.cleanup_ctx.append(_ari_context(runtime, ivr_clock))
    app.cleanup_ctx.append(_fastagi_context(runtime, ivr_clock))
    app.on_shutdown.insert(0, _stop_accepting_calls)
    return app


def make_runner(app: web.Application, config: Config) -> web.AppRunner:
    """The web app's runner: idle keep-alive connections (and a next request head that
    does not come whole) closed after `web_limits.idle_timeout_s`."""
    return web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=5.0,
        keepalive_timeout=config.web_limits.idle_timeout_s,
    )


async def start_site(runner: web.AppRunner, config: Config) -> GuardedSite:
    """Listen for agents on `config.web`, each connection counted against the limits
    (`callpop.web_server`); a taken port is `PortBusy`, naming it, and any other bind
    failure `CannotListen`. Call it once startup opened what it opens: the web gets
    what the open-file limit leaves beside FastAGI's reserve."""
    limits = config.web_limits
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = open_descriptors()
    total = web_budget(soft, in_use, limits.fastagi_fd_reserve, limits.max_connections)
    log.info(
        "web: at most %d connections (%d per address); open files %d of %d, %d kept for FastAGI",
        total,
        limits.connections_per_address,
        in_use,
        soft,
        limits.fastagi_fd_reserve,
    )
    site = GuardedSite(
        runner,
        config.web.host,
        config.web.port,
        ConnectionLimits(
            header_timeout_s=limits.header_timeout_s,
            per_address=limits.connections_per_address,
            total=total,
            exempt=TrustedProxies(config.web_trusted_proxies),
        ),
    )
    try:
        await site.start()
    except OSError as exc:
        raise listen_error(exc, "the web app", str(config.web)) from None
    return site


async def serve(
    config: Config,
    *,
    environ: dict[str, str],
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Runtime, Any], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    runtime = await build_runtime(config, environ=environ)
    # once the config and the database are known good (a failed start says only why)
    before, after = raise_open_file_limit()
    if after > before:
        log.info("open files: limit raised from %d to %d", before, after)
    else:
        log.info(
            "open files: limit %d (the hard limit; raise it with ulimit -n or LimitNOFILE=)", after
        )
    reloads: set[asyncio.Task[Any]] = set()

    def reload_on_signal() -> None:
        task = asyncio.create_task(runtime.reloader.reload("signal"), name="dialplan-reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, reload_on_signal)
    runner = make_runner(build_app(runtime), config)
    collector = Collector()
    try:
        await runner.setup()
        await start_site(runner, config)
        for address in runner.addresses:
            log.info("web: serving agents on http://%s:%d", address[0], address[1])
        # Startup's objects frozen, calls' collected on a clock (callpop/collector.py).
        collector.start()
        if on_ready is not None:
            on_ready(runtime, runner)
        await stop.wait()
        log.info("shutting down: no new calls, live calls get %.0f s", config.shutdown_grace_s)
    finally:
        async with watch_shutdown(config.shutdown_grace_s + SHUTDOWN_REPORT_AFTER_S):
            await runner.cleanup()
            await runtime.aclose()
        await collector.stop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
