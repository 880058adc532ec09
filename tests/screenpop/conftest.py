"""A whole screen-pop desk for tests: a migrated SQLite database holding the CRM
(the real `SqlStore`), the agents and the journeys; the in-process bus; the app on an
aiohttp `TestServer` on 127.0.0.1, port 0. `Desk.call(...)` plays a call the way the
IVR runner and the AMI triggers would: journey saved, events published on the bus.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.config import Config
from callpop.journeys import JourneyStore
from crm_adapter.port import CrmAdapter
from crm_adapter.settings import CrmSettings
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.store import SqlStore
from ivr import variables as V
from ivr.journey import Journey, JourneyOutcome, JourneyStep
from ivr.ports import CallEvent
from screenpop.app import create_app
from screenpop.auth import Passwords
from screenpop.bus import InProcessBus, PopBus
from screenpop.keys import HUB, AgentStatus, Originate, Transfer
from screenpop.outlook import BoardSources
from screenpop.sqlstore import SqlScreenpopStore
from screenpop.store import Account

PASSWORD = "correct horse battery"
CRM_ORIGIN = "http://crm.example.test"
RECORD_URL = "https://crm.example.test/customers/{customer_id}"

DISPOSITIONS = """\
dispositions:
  resolved: {label: Resolved}
  payment_taken: {label: Payment taken, topics: [payments, billing]}
  callback: {label: Call back later, requires_note: true, follow_up: true}
"""

SCRIPTS = """\
default: general
scripts:
  general:
    title: Any call
    steps:
      - say: Thank the caller for waiting.
  billing:
    title: Billing question
    summary: Find the charge, explain it, offer a payment plan if needed.
    steps:
      - say: Greet the customer by name.
      - check: The account number matches the one on screen.
      - ask: Is the charge on the last invoice?
        answers:
          "yes":
            - do: Open the invoice in the CRM.
          "no":
            - say: Ask for the date of the charge.
      - do: Record the outcome.
        disposition: resolved
"""


QUEUES = """\
operator: operator
queues:
  operator: {strategy: ringall}
  billing: {strategy: ringall}
"""


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Originated:
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, *, agent: Account, number: str) -> str:
        self.calls.append((agent.name, number))
        return f"dial-{len(self.calls)}"


@dataclass
class Desk:
    server: TestServer
    bus: PopBus
    crm: SqlStore
    store: SqlScreenpopStore
    journeys: JourneyStore
    accounts: dict[str, Account]
    originated: Originated
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @property
    def hub(self) -> Any:
        return self.server.app[HUB]

    def next_call_id(self) -> str:
        return f"1763900000.{next(self._ids)}"

    async def publish(self, type_: str, call_id: str, **data: Any) -> None:
        self.bus.publish(CallEvent(type_, call_id, iso(), data))

    async def ivr(
        self,
        call_id: str,
        *,
        number: str,
        name: str = "",
        steps: Sequence[tuple[str, str, str, Sequence[str]]] = (),
        queue: str = "billing",
        topic: str | None = "billing",
        customer_id: str | None = None,
        verified: bool = False,
        tier: str | None = None,
        identity: str | None = None,
        identity_warning: str | None = None,
        save_journey: bool = True,
        journey_on_bus: bool = True,
    ) -> None:
        """The IVR part of a call: events as the runner publishes them (`ivr.ended`
        carrying the journey), the journey saved, then the caller joins the queue."""
        await self.publish(
            "ivr.started",
            call_id,
            flow="main",
            caller={"number": number, "name": name},
            dnis="7000",
        )
        journey = Journey(
            call_id=call_id,
            flow="main",
            caller_number=number,
            caller_name=name,
            dnis="7000",
            started_at=iso(),
        )
        if identity is not None:
            journey.identity = identity  # type: ignore[assignment]
            journey.identity_warning = identity_warning
            journey.verified = identity in ("account+ani", "pin")
        for index, (node, kind, label, keys) in enumerate(steps):
            await self.publish("ivr.node", call_id, node=node, kind=kind)
            journey.steps.append(
                JourneyStep(
                    flow="main",
                    node=node,
                    kind=kind,
                    entered_ms=index * 1000,
                    left_ms=index * 1000 + 900,
                    keys=list(keys),
                    result="option",
                    label=label,
                )
            )
        variables = {
            V.CALL_ID: call_id,
            V.FLOW: "main",
            V.OUTCOME: "queue",
            V.TARGET: queue,
            V.QUEUE: queue,
            V.PRIORITY: "0",
            V.CUSTOMER_ID: customer_id or "",
            V.TIER: tier or "",
            V.VERIFIED: "1" if verified else "0",
            V.TOPIC: topic or "",
            V.LAST_NODE: steps[-1][0] if steps else "",
        }
        journey.variables = dict(variables)
        journey.customer_id, journey.topic, journey.verified = customer_id, topic, verified
        journey.outcome = JourneyOutcome("queue", queue, 0, "option", len(steps) * 1000)
        if save_journey:
            await self.journeys.save(journey)
        extra = {"journey": journey.to_dict()} if journey_on_bus else {}
        await self.publish(
            "ivr.ended", call_id, outcome="queue", target=queue, variables=variables, **extra
        )
        await self.publish("queue.joined", call_id, queue=queue, position=1, priority=0)

    async def ring(self, call_id: str, agent: str, queue: str = "billing") -> None:
        account = self.accounts[agent]
        await self.publish(
            "agent.ringing",
            call_id,
            queue=queue,
            interface=account.interface,
            member_name=account.name,
            ring_ms=0,
        )

    async def answer(self, call_id: str, agent: str, queue: str = "billing") -> None:
        account = self.accounts[agent]
        await self.publish("queue.left", call_id, queue=queue, reason="connected")
        await self.publish(
            "agent.connected",
            call_id,
            queue=queue,
            interface=account.interface,
            member_name=account.name,
            hold_s=3,
        )

    async def complete(self, call_id: str, agent: str, queue: str = "billing") -> None:
        account = self.accounts[agent]
        await self.publish(
            "agent.completed",
            call_id,
            queue=queue,
            interface=account.interface,
            member_name=account.name,
            talk_s=30,
        )
        await self.publish("call.hungup", call_id, cause="16")

    async def settled(self) -> None:
        """Every event published so far was handled by the hub and what it changed is in
        the database (the history writer drained)."""
        for _ in range(500):
            if self.hub.bus_seq >= self.bus.last_seq:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"the hub is at seq {self.hub.bus_seq} of {self.bus.last_seq}")
        await self.hub.history.drained()

    @staticmethod
    def session() -> aiohttp.ClientSession:
        # aiohttp's cookie jar ignores cookies of IP hosts unless told; browsers keep them
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def logged_in(self, name: str, password: str = PASSWORD) -> aiohttp.ClientSession:
        session = self.session()
        response = await self.login(session, name, password)
        if response.status != 302:
            await session.close()
            raise AssertionError(f"login as {name}: {response.status}")
        return session

    async def login(
        self, session: aiohttp.ClientSession, name: str, password: str = PASSWORD
    ) -> aiohttp.ClientResponse:
        """Log in through the form, as a browser does (CSRF cookie and field)."""
        async with session.get(f"{self.url}/login") as page:
            html = await page.text()
        token = html.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        return await session.post(
            f"{self.url}/login",
            allow_redirects=False,
            data={"_csrf": token, "name": name, "password": password},
        )

    async def csrf(self, session: aiohttp.ClientSession) -> str:
        async with session.get(f"{self.url}/agent") as page:
            html = await page.text()
        return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]


def write_dialplan(root: Path) -> Path:
    (root / "flows").mkdir(parents=True)
    (root / "dispositions.yaml").write_text(DISPOSITIONS)
    (root / "scripts.yaml").write_text(SCRIPTS)
    (root / "queues.yaml").write_text(QUEUES)
    return root


# argon2 at its production cost makes every login ~100 ms; these tests check logic
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def make_desk(
    tmp_path: Path,
    *,
    agents: Mapping[str, tuple[str, str]] | None = None,
    heartbeat_s: float = 20.0,
    web_origins: tuple[str, ...] = (CRM_ORIGIN,),
    crm: CrmAdapter | None = None,
    passwords: Passwords | None = None,
    settings: Mapping[str, Any] | None = None,
    engine: AsyncEngine | None = None,
    port: int = 0,
    bus: PopBus | None = None,
    originate: Originate | None = None,
    dial_outcome_s: float | None = None,
    agent_status: AgentStatus | None = None,
    transfer: Transfer | None = None,
    clock: Callable[[], datetime] = now,
    board_sources: BoardSources | None = None,
    board_refresh_s: float = 3.0,
) -> AsyncIterator[Desk]:
    """The desk; `crm` replaces the SQL CRM the app talks to (the SQL store stays the
    database of agents and journeys); `settings` are more `Config` keys. `engine`: a
    migrated database of the caller's (another desk's: two instances on one database),
    left open at the end; agents already there are kept. `port`: where to listen (a
    restarted desk on its predecessor's port, for a page to reconnect to). `bus`: the
    desk's pop bus (a `RedisBus` shared with other desks), the caller's to close. `clock`:
    the app's time (the history's times come from it). `board_sources`: where the
    wallboard reads estimated waits, callbacks and the flood switch, every
    `board_refresh_s`. `dial_outcome_s`: how long a click-to-dial's outcome is waited for
    (None: no outcome is expected)."""
    own_engine = engine is None
    if engine is None:
        engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
        await upgrade(engine)
    dialplan = tmp_path / "dialplan"
    config = Config(
        dialplan=dialplan if dialplan.exists() else write_dialplan(dialplan),
        web_origins=web_origins,
        **{"crm": CrmSettings(record_url=RECORD_URL, lookup_budget_ms=300), **(settings or {})},
    )
    sql_crm = SqlStore(engine, config.phone.normaliser())
    store = SqlScreenpopStore(engine)
    passwords = passwords or Passwords(CHEAP_HASHER)
    accounts = {}
    for name, (interface, role) in (
        agents
        or {
            "alice": ("PJSIP/101", "agent"),
            "bob": ("PJSIP/102", "agent"),
            "sue": ("PJSIP/200", "supervisor"),
        }
    ).items():
        accounts[name] = await store.account_by_name(name) or await store.add_account(
            name,
            interface,
            role,  # type: ignore[arg-type]
            passwords.hash(PASSWORD),
        )
    own_bus = bus is None
    if bus is None:
        bus = InProcessBus()
    originated = Originated()
    app = create_app(
        config.screenpop_settings(),
        store=store,
        bus=bus,
        clock=clock,
        crm=crm or sql_crm,
        originate=originate or originated,
        dial_outcome_s=dial_outcome_s,
        agent_status=agent_status,
        transfer=transfer,
        session_key=b"k" * 32,
        passwords=passwords,
        heartbeat_s=heartbeat_s,
        board_sources=board_sources,
        board_refresh_s=board_refresh_s,
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Desk(server, bus, sql_crm, store, JourneyStore(engine), accounts, originated)
    finally:
        await server.close()
        if own_bus:
            assert isinstance(bus, InProcessBus)
            bus.close()
        if own_engine:
            await engine.dispose()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async for item in make_desk(tmp_path):
        yield item
