"""Two `callpop serve` processes, ports of their own, one PostgreSQL database and one Redis
stream (`bus:`), one simulated Asterisk (FastAGI + AMI): a call's IVR runs on one instance
and pops to an agent whose websocket is on the other; the agent's instance is SIGKILLed
and the page goes on with the other one; Redis stops and starts during calls.

The instance that holds the AMI lease publishes the queue events and runs the IVR; the
agent's socket is on the other one, so every pop crosses Redis.

With three instances: every hub reads every event, one writes the pop rows and queue
events (the pop history's lease), counted row by row by triggers; and its SIGKILL loses
no row (another instance takes the lease and writes what it had not).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from callpop.ami.lease import lease_dsn
from callpop.ami.relay import actions_channel
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, QueueCall
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from tests.ami.test_ami_instances import (
    FLOW,
    Instance,
    agent_panel,
    database,
    holder_pid,
    lease_holder_pid,
    queue_call,
    start,
    stop,
    wait_ready,
)
from tests.ports import free_port
from tests.redis_server import RedisServer, require_machine_redis, unique_key
from tests.screenpop.wsclient import Tab, open_tab

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

__all__ = ["database"]  # the fixture, shared with the AMI lease's instances test


class Site:
    """The instances of one test and the Asterisk they serve."""

    def __init__(
        self,
        sim: AMIServer,
        board: QueueBoard,
        instances: list[Instance],
        agi_ports: dict[int, int],
    ) -> None:
        self.sim = sim
        self.board = board
        self.instances = instances
        self.agi_ports = agi_ports  # web port -> FastAGI port
        self.ids = Ids("1800000000", 300)
        self.calls = 0

    async def roles(self, database: str) -> tuple[Instance, Instance]:
        """(the AMI lease holder, the other one)."""
        pid = await lease_holder_pid(database)
        [holder] = [i for i in self.instances if i.proc.pid == pid]
        [other] = [i for i in self.instances if i is not holder]
        return holder, other

    async def call(self, through: Instance, *, ring: bool = True) -> str:
        """A caller through `through`'s FastAGI IVR to the queue, then Asterisk rings alice.
        Returns the call id; the caller must have been served (sent on to the queue)."""
        self.calls += 1
        uid = f"1800000000.{self.calls}"
        script = CallerScript.parse(
            "", caller=CallerId("+15551234567", "Carol Caller"), uniqueid=uid
        )
        record = await call_fastagi("127.0.0.1", self.agi_ports[through.web_port], script)
        assert record.variables["CALLPOP_OUTCOME"] == "queue", record.variables
        call_id = record.variables["CALLPOP_CALL_ID"]
        if ring:
            self.ring(call_id, uid)
        return call_id

    def ring(self, call_id: str, uid: str) -> QueueCall:
        call = queue_call(call_id, uid, self.ids)
        self.board.add(call)
        self.sim.emit(call.joined() + call.agent_called())
        return call


def write_config(
    tmp_path: Path,
    n: int,
    database: str,
    sim: AMIServer,
    web_port: int,
    agi_port: int,
    bus: str,
    bus_key: str,
) -> Path:
    root = tmp_path / f"instance-{n}"
    (root / "dialplan" / "flows").mkdir(parents=True)
    (root / "dialplan" / "flows" / "main.yaml").write_text(FLOW, encoding="utf-8")
    path = root / "callpop.yaml"
    path.write_text(
        f"fastagi: 127.0.0.1:{agi_port}\nweb: 127.0.0.1:{web_port}\n"
        f"database: {database}\ndialplan: ./dialplan\nshutdown_grace_s: 1\n"
        f"bus: {bus}\nbus_key: '{bus_key}'\n"
        f"ami:\n  - {{host: {sim.host}, port: {sim.port}, name: pbx-east,"
        " lease_interval_s: 0.5}\n",
        encoding="utf-8",
    )
    return path


async def relay_taken(redis_url: str, key: str, label: str) -> None:
    """Until the lease holder takes the other instances' controls: it subscribes to the
    relay a moment after its AMI login, and a control asked before is refused ("try again
    in a moment")."""
    redis = Redis.from_url(redis_url)
    try:
        while True:
            [(_channel, subscribers)] = await redis.pubsub_numsub(actions_channel(key, label))
            if subscribers:
                return
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


async def two_instances(
    tmp_path: Path, database: str, redis_url: str, count: int = 2
) -> AsyncIterator[Site]:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "alice")])
    key = unique_key()
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        ports = [(free_port(), free_port()) for _ in range(count)]
        configs = [
            write_config(tmp_path, n, database, sim, web, agi, redis_url, key)
            for n, (web, agi) in enumerate(ports)
        ]
        instances = [await start(c, web) for c, (web, _) in zip(configs, ports, strict=True)]
        try:
            for instance in instances:
                await wait_ready(instance)
            async with asyncio.timeout(10):
                await sim.wait_logins(1)
                await relay_taken(redis_url, key, "pbx-east")
            yield Site(sim, board, instances, dict(ports))
        finally:
            await stop(instances)


@pytest.fixture
async def site(tmp_path: Path, database: str) -> AsyncIterator[Site]:
    async for site in two_instances(tmp_path, database, require_machine_redis()):
        yield site


@pytest.fixture
async def three(tmp_path: Path, database: str) -> AsyncIterator[Site]:
    async for site in two_instances(tmp_path, database, require_machine_redis(), count=3):
        yield site


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def site_on_own_redis(
    tmp_path: Path, database: str, own_redis: RedisServer
) -> AsyncIterator[Site]:
    async for site in two_instances(tmp_path, database, own_redis.url):
        yield site


def offers(tab: Tab, call_id: str) -> list[dict[str, Any]]:
    return [f for f in tab.seen if f["type"] == "pop.offered" and f["pop"]["call_id"] == call_id]


async def test_a_call_through_one_instance_pops_to_an_agent_on_the_other(
    site: Site,
    database: str,
) -> None:
    ivr, agents = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, agents)  # a session made on the agent's instance
        call_id = await site.call(through=ivr)
        offered = await panel.until_type("pop.offered", call_id)
    pop = offered["pop"]
    assert pop["queue"] == "sales"
    # the IVR ran on the other instance: its journey came over the bus with the call
    assert pop["payload"]["caller"]["number"] == "+15551234567"


async def test_a_session_made_on_one_instance_is_valid_on_the_other(
    site: Site,
    database: str,
) -> None:
    first, second = site.instances
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await agent_panel(http, first)
        # the same cookie, sent to the other instance (a load balancer's choice)
        tab = await open_tab(http, second.url, origin=second.url)
        welcome = await tab.until_type("welcome")
        assert welcome["agent"]["name"] == "alice"
        async with http.get(f"{second.url}/api/v1/calls/today") as response:
            assert response.status == 200


async def test_sigkill_of_the_agents_instance_the_page_goes_on_with_the_other_none_lost_none_twice(
    site: Site,
    database: str,
) -> None:
    ivr, agents = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, agents)
        before = await site.call(through=ivr)
        await panel.until_type("pop.offered", before)
        since = max(f.get("seq", 0) for f in panel.seen)
        epoch = panel.seen[0]["epoch"]

        agents.proc.send_signal(signal.SIGKILL)
        await agents.proc.wait()
        during = await site.call(through=ivr)  # while the page has no socket

        # the page reconnects where the load balancer now sends it, saying what it saw
        again = await open_tab(http, ivr.url, origin=ivr.url, since=since, epoch=epoch)
        await again.until_type("welcome")
        await again.until_type("pop.offered", during)
        after = await site.call(through=ivr)
        await again.until_type("pop.offered", after)
        await asyncio.sleep(0.5)  # time for a duplicate to show, were there one
        with pytest.raises(TimeoutError):
            await again.until(lambda f: False)

    for call_id in (before, during, after):
        assert len(offers(again, call_id)) == 1, call_id


async def test_redis_stopped_and_started_during_calls_callers_served_events_after_none_twice(
    site_on_own_redis: Site,
    own_redis: RedisServer,
    database: str,
) -> None:
    site = site_on_own_redis
    ivr, agents = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, agents)
        first = await site.call(through=ivr)
        await panel.until_type("pop.offered", first)

        own_redis.stop()
        down = await panel.until(lambda f: f["type"] == "bus")
        assert down["state"] == "reconnecting"
        during = [await site.call(through=ivr) for _ in range(3)]  # callers are served

        own_redis.start()  # without persistence: an empty stream
        up = await panel.until(lambda f: f["type"] == "bus")
        assert up["state"] == "live"
        for call_id in during:
            await panel.until_type("pop.offered", call_id)
        after = await site.call(through=ivr)
        await panel.until_type("pop.offered", after)
        await asyncio.sleep(0.5)

    for call_id in (first, *during, after):
        assert len(offers(panel, call_id)) == 1, call_id


# --- one write per pop change, whatever the number of instances --------------------------

# Every row write PostgreSQL makes in `pops`, and every row offered to `queue_events`,
# whoever makes it. An upsert that updates fires the BEFORE INSERT and the UPDATE
# triggers, so `pops` counts AFTER (one per row written); `queue_events` counts BEFORE,
# as ON CONFLICT DO NOTHING fires no AFTER trigger for the copy it drops.
AUDIT = """
CREATE TABLE row_writes (tab text, call_id text, agent_id bigint, state text, kind text);
CREATE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'pops' THEN
    INSERT INTO row_writes VALUES ('pops', NEW.call_id, NEW.agent_id, NEW.state, NULL);
  ELSE
    INSERT INTO row_writes VALUES ('queue_events', NEW.call_id, NULL, NULL, NEW.kind);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_pops AFTER INSERT OR UPDATE ON pops
  FOR EACH ROW EXECUTE FUNCTION audit_write();
CREATE TRIGGER audit_queue_events BEFORE INSERT ON queue_events
  FOR EACH ROW EXECUTE FUNCTION audit_write();
"""


async def row_writes(database: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(lease_dsn(database))
    try:
        return list(await conn.fetch("SELECT * FROM row_writes"))
    finally:
        await conn.close()


async def pop_states(database: str) -> dict[str, str]:
    conn = await asyncpg.connect(lease_dsn(database))
    try:
        return dict(await conn.fetch("SELECT call_id, state FROM pops"))
    finally:
        await conn.close()


async def until_pop_states(database: str, expected: dict[str, str]) -> None:
    async with asyncio.timeout(15):
        while True:
            if await pop_states(database) == expected:
                return
            await asyncio.sleep(0.1)


async def test_three_instances_write_each_pop_change_and_queue_event_once(
    three: Site, database: str
) -> None:
    site = three
    conn = await asyncpg.connect(lease_dsn(database))
    try:
        await conn.execute(AUDIT)
    finally:
        await conn.close()
    ami_pid = await lease_holder_pid(database)
    writer_pid = await holder_pid(database, "pops", "callpop-history")
    # the agent on an instance that neither writes nor hears the AMI: its disposition
    # is written by another
    agents = next(i for i in site.instances if i.proc.pid not in (writer_pid, ami_pid))
    ivr = next(i for i in site.instances if i is not agents)
    calls = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, agents)
        for n in range(3):
            call_id = await site.call(through=ivr, ring=False)
            call = site.ring(call_id, f"1800000000.{site.calls}")
            await panel.until_type("pop.offered", call_id)
            await asyncio.sleep(0.4)  # each change in a batch of its own
            site.sim.emit(call.answered())
            await panel.until_type("pop.accepted", call_id)
            await asyncio.sleep(0.4)
            site.sim.emit(call.completed())
            site.board.remove(call)
            await panel.until_type("pop.wrapup", call_id)
            calls.append(call_id)
            if n < 2:  # the last one stays in wrap-up
                await asyncio.sleep(0.4)
                status = await dispose_call(http, agents, call_id)
                assert status == 200
                await panel.until_type("pop.done", call_id)
    await until_pop_states(database, {calls[0]: "done", calls[1]: "done", calls[2]: "wrapup"})
    await asyncio.sleep(1.5)  # six batches' lingering of the two other instances

    writes = await row_writes(database)
    pops_written = Counter((r["call_id"], r["state"]) for r in writes if r["tab"] == "pops")
    assert set(pops_written.values()) == {1}, pops_written
    assert {state for _, state in pops_written} == {"offered", "live", "wrapup", "done"}
    events_written = Counter((r["call_id"], r["kind"]) for r in writes if r["tab"] != "pops")
    assert set(events_written.values()) == {1}, events_written
    assert {kind for _, kind in events_written} >= {"joined", "offered", "connected", "completed"}


async def dispose_call(http: aiohttp.ClientSession, instance: Instance, call_id: str) -> int:
    async with http.get(f"{instance.url}/agent") as page:
        html = await page.text()
    token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    async with http.post(
        f"{instance.url}/api/v1/calls/{call_id}/disposition",
        json={"disposition": "resolved", "notes": "checked"},
        headers={"X-CSRF-Token": token},
    ) as response:
        return response.status


async def test_sigkill_of_the_history_writer_loses_no_row(three: Site, database: str) -> None:
    site = three
    writer_pid = await holder_pid(database, "pops", "callpop-history")
    [writer] = [i for i in site.instances if i.proc.pid == writer_pid]
    survivors = [i for i in site.instances if i is not writer]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, survivors[0])
        call_id = await site.call(through=survivors[1], ring=False)
        call = site.ring(call_id, f"1800000000.{site.calls}")
        await panel.until_type("pop.offered", call_id)
        await until_pop_states(database, {call_id: "offered"})
        # the answer reaches every hub; the writer dies before its linger is over
        site.sim.emit(call.answered())
        await panel.until_type("pop.accepted", call_id)
        writer.proc.send_signal(signal.SIGKILL)
        await writer.proc.wait()
        # another instance takes the lease and writes what no mark covered
        await until_pop_states(database, {call_id: "live"})
        new_pid = await holder_pid(database, "pops", "callpop-history")
        assert new_pid in {i.proc.pid for i in survivors}
