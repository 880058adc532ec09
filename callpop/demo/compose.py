"""The demo, composed: `callpop serve`'s runtime and app, plus a PBX to call through.

    async with DemoServer(config, DemoOptions(), environ=os.environ) as demo:
        print(demo.urls.phone)        # the test phone; agents log in at demo.urls.agent
        await stop.wait()

What runs, all in one process and on one event loop:

    ./demo.db            deleted and made again: migrated, demo customers, cases, agents
    build_runtime        as `serve`: dialplan checked, CRM stack, pop bus, journeys
    build_app            as `serve`: the screen-pop app, /metrics, outbox relay, and the
                         AMI listener, here logged in to the AMI simulator below
    FastAGI server       `serve`'s, on the FastAGI address; its IVR on the demo clock
                         (`clock.py`)
    AMI simulator        Asterisk's manager interface on 127.0.0.1 (a free port)
    virtual PBX          calls from the test phone into the FastAGI port, queues played
                         on the AMI simulator, the agents' phones
    demo pages           /demo/phone, the agent page's phone bar, their websockets

Nothing here reimplements `serve`: the demo only adds its parts to what `serve` builds.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callpop.commands.init import init_database
from callpop.config import AmiSettings, Config, HostPort
from callpop.demo import phone, softphone
from callpop.demo.clock import DemoClock, office_hours_clock
from callpop.demo.context import DEMO, CallbackOffer, DemoContext, known_callers
from callpop.demo.pbx import PbxSettings, VirtualPbx
from callpop.demo.prompts import PromptBook
from callpop.pbx_sim.ami import AMIServer
from callpop.queue_store import QueueStateStore
from callpop.serve import FASTAGI, Runtime, build_app, build_runtime, make_runner, start_site
from crm_adapter.demo import DEMO_AGENTS, DemoReport
from crm_adapter.settings import CrmSettings
from ivr.flow import ENTRY_FLOW, CallbackNode, Flow

__all__ = ["DemoOptions", "DemoServer", "DemoUrls", "fresh_database"]

log = logging.getLogger("callpop.demo")
HERE = Path(__file__).resolve().parent
LISTENER_LOGIN_S = 10.0
SHUTDOWN_GRACE_S = 5.0  # the demo hangs its calls up itself before FastAGI stops
DEFAULT_WEB = HostPort("127.0.0.1", 8080)
DEFAULT_FASTAGI = HostPort("127.0.0.1", 4573)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """`database` is deleted and made again at each start: give it only a demo file."""

    web: HostPort = DEFAULT_WEB
    fastagi: HostPort = DEFAULT_FASTAGI
    database: Path = Path("demo.db")
    customers: int = 1000
    seed: int = 1
    at: datetime | None = None  # the IVR clock's start (None: office hours, see clock.py)
    real_clock: bool = False
    pace: float = 1.0  # prompt length factor (1.0: a voice talent's pace)
    sounds: Path | None = None  # recordings the test phone plays (`callpop prompts render`)
    listed_callers: int = 6


@dataclass(frozen=True, slots=True)
class DemoUrls:
    base: str
    agent: str
    supervisor: str
    phone: str
    fastagi: str
    ami: str


async def fresh_database(path: Path, *, customers: int, seed: int) -> DemoReport:
    """Delete `path` (and SQLite's -wal/-shm/-journal beside it), then migrate and seed."""
    for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)
    report = await init_database(f"sqlite:///{path}", demo=True, customers=customers, seed=seed)
    assert report is not None
    return report


def demo_config(base: Config, options: DemoOptions, ami: AMIServer, secret: str) -> Config:
    """`base` (dialplan, phone rules, origins) with the demo's database, addresses, SQL
    CRM and the AMI simulator; ARI off (the demo's PBX speaks FastAGI and AMI). Agents'
    sessions need not outlive the demo (its database does not): a fresh key unless
    one is configured."""
    keyed = base.web_secret is not None or base.web_secret_file is not None
    return base.model_copy(
        update={
            "web_secret": base.web_secret if keyed else secrets.token_urlsafe(32),
            "database": f"sqlite:///{options.database}",
            "web": options.web,
            "fastagi": options.fastagi,
            "crm": CrmSettings(),
            "ari": None,
            "shutdown_grace_s": min(base.shutdown_grace_s, SHUTDOWN_GRACE_S),
            "ami": (
                AmiSettings(host=ami.host, port=ami.port, username=ami.username, secret=secret),
            ),
        }
    )


def callback_offer(flows: Mapping[str, Flow]) -> CallbackOffer | None:
    """The first callback the flows offer, the entry flow's first (the flood button's
    default queue and the threshold its estimate must pass)."""
    for flow_id in sorted(flows, key=lambda f: (f != ENTRY_FLOW, f)):
        for node_id, node in flows[flow_id].nodes.items():
            if isinstance(node, CallbackNode):
                return CallbackOffer(node.queue, node.offer_above / 1000, f"{flow_id}/{node_id}")
    return None


def _pbx_context(
    runtime: Runtime,
    demo: DemoContext,
    ami: AMIServer,
    clock: DemoClock,
    pace: float,
    sounds: Path | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        server = app[FASTAGI]  # started by serve's own FastAGI context, before this one
        book = PromptBook.from_flows(runtime.dialplan.flows.values(), pace=pace, sounds=sounds)
        pbx = VirtualPbx(
            PbxSettings(server.host, server.port),
            ami=ami,
            book=book,
            queues=runtime.dialplan.catalog.queues,
        )
        demo.pbx = pbx
        try:
            yield
        finally:
            demo.pbx = None
            await pbx.aclose()  # every call hung up while FastAGI and AMI still run

    return context


class DemoServer:
    """Start with `async with` (or `start()`/`stop()`); `urls` once started."""

    def __init__(self, config: Config, options: DemoOptions, *, environ: Mapping[str, str]) -> None:
        self.base_config = config
        self.options = options
        self.environ = dict(environ)
        self.ami = AMIServer(username="callpop", secret=secrets.token_urlsafe(18))
        self.report: DemoReport | None = None
        self.runtime: Runtime | None = None
        self.runner: web.AppRunner | None = None
        self.clock: DemoClock | None = None
        self.urls: DemoUrls | None = None

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> DemoUrls:
        options = self.options
        self.report = await fresh_database(
            options.database, customers=options.customers, seed=options.seed
        )
        await self.ami.start("127.0.0.1", 0)
        config = demo_config(self.base_config, options, self.ami, self.ami.secret)
        try:
            self.runtime = runtime = await build_runtime(config, environ=self.environ)
            self.clock = clock = office_hours_clock(
                dict(runtime.dialplan.flows), ENTRY_FLOW, at=options.at, real=options.real_clock
            )
            app = build_app(runtime, ivr_clock=clock)
            demo = DemoContext(
                callers=known_callers(options.seed, min(options.listed_callers, options.customers)),
                clock_reason=clock.reason,
                logins=tuple((a.name, a.password, a.role) for a in DEMO_AGENTS),
                queues=tuple(runtime.dialplan.catalog.queues.queues)
                if runtime.dialplan.catalog.queues is not None
                else (),
                callback_offer=callback_offer(runtime.dialplan.flows),
                queue_states=QueueStateStore(runtime.engine).read,
            )
            self._add_demo(app, runtime, demo, clock)
            self.runner = make_runner(app, config)
            await self.runner.setup()
            await start_site(self.runner, config)
            # Queue events sent before the listener logs in would be lost: wait for it.
            async with asyncio.timeout(LISTENER_LOGIN_S):
                await self.ami.wait_logins(1)
        except BaseException:
            await self.stop()
            raise
        host, port = self.runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        assert demo.pbx is not None
        self.urls = DemoUrls(
            base=base,
            agent=f"{base}/agent",
            supervisor=f"{base}/supervisor",
            phone=f"{base}/demo/phone",
            fastagi=f"agi://{config.fastagi.host}:{demo.pbx.settings.fastagi_port}/ivr",
            ami=f"{self.ami.host}:{self.ami.port}",
        )
        return self.urls

    def _add_demo(
        self, app: web.Application, runtime: Runtime, demo: DemoContext, clock: DemoClock
    ) -> None:
        app[DEMO] = demo
        app.add_routes(phone.routes)
        app.add_routes(softphone.routes)
        app.router.add_static(
            "/demo/static/", HERE / "static", name="demo_static", append_version=True
        )
        env = aiohttp_jinja2.get_env(app)
        loader = env.loader
        assert loader is not None
        env.loader = jinja2.ChoiceLoader([loader, jinja2.FileSystemLoader(HERE / "templates")])
        app.middlewares.append(softphone.inject_softphone)
        app.cleanup_ctx.append(
            _pbx_context(runtime, demo, self.ami, clock, self.options.pace, self.options.sounds)
        )

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.runtime is not None:
            await self.runtime.aclose()
            self.runtime = None
        await self.ami.close()
