"""Three `callpop serve` processes on one machine, ports of their own, one PostgreSQL
database, one Redis stream (`bus:`, a key of this run's own), one simulated Asterisk:
one instance listens to its AMI at a time; SIGKILL of that one and another logs in
within 10 s, resyncs (a call answered while nobody listened gets its live pop, a call
whose caller hung up meanwhile ends), and the next call's AgentCalled pops. The agent's panel is on an instance that does not hold
the lease, so every pop crosses the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from callpop.ami.lease import AMI_NAMESPACE, lease_dsn, lease_holder
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, QueueCall
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from crm_adapter.sql.engine import create_engine
from screenpop.auth import Passwords
from screenpop.sqlstore import SqlScreenpopStore
from tests.ami.scripted import queue_call as _queue_call
from tests.ports import free_port
from tests.redis_server import require_machine_redis, unique_key
from tests.screenpop.wsclient import Tab, open_tab

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TAKEOVER_BOUND_S = 10.0
PASSWORD = "correct horse battery"
FLOW = """\
entry: hello
nodes:
  hello:
    type: transfer
    queue: sales
    prompts: [{sound: pls-hold-while-try, text: Please hold.}]
"""


@dataclass
class Instance:
    web_port: int
    proc: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


@pytest.fixture
async def database(pg_database: str) -> str:
    """A database of its own (serve takes a plain URL) with two agents' accounts."""
    engine = create_engine(pg_database)
    try:
        store = SqlScreenpopStore(engine)
        for name, interface in (("alice", "PJSIP/101"), ("bob", "PJSIP/102")):
            await store.add_account(name, interface, "agent", Passwords().hash(PASSWORD))
    finally:
        await engine.dispose()
    return pg_database


def write_config(
    tmp_path: Path,
    n: int,
    database: str,
    sim: AMIServer,
    web_port: int,
    *,
    bus: str | None = None,
    bus_key: str | None = None,
    lease_interval_s: float = 0.5,
) -> Path:
    root = tmp_path / f"instance-{n}"
    (root / "dialplan" / "flows").mkdir(parents=True)
    (root / "dialplan" / "flows" / "main.yaml").write_text(FLOW, encoding="utf-8")
    path = root / "callpop.yaml"
    shared_bus = f"bus: {bus}\nbus_key: '{bus_key}'\n" if bus else ""
    path.write_text(
        f"fastagi: 127.0.0.1:{free_port()}\nweb: 127.0.0.1:{web_port}\n"
        f"database: {database}\ndialplan: ./dialplan\nshutdown_grace_s: 1\n{shared_bus}"
        f"ami:\n  - {{host: {sim.host}, port: {sim.port}, name: pbx-east,"
        f" lease_interval_s: {lease_interval_s}}}\n",
        encoding="utf-8",
    )
    return path


async def start(config: Path, web_port: int) -> Instance:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
    env |= {"CALLPOP_WEB_SECRET": "k" * 32, "CALLPOP_AMI__SECRET": "pw"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callpop",
        "--config",
        str(config),
        "serve",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    return Instance(web_port, proc)


async def wait_ready(instance: Instance) -> None:
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while instance.proc.returncode is None:
            with contextlib.suppress(aiohttp.ClientConnectionError):
                response = await http.get(f"{instance.url}/readyz")
                if response.status == 200:
                    return
            await asyncio.sleep(0.1)
    assert instance.proc.stderr is not None
    errors = (await instance.proc.stderr.read()).decode(errors="replace")
    raise AssertionError(f"callpop serve exited before it was ready:\n{errors[-2000:]}")


async def lease_holder_pid(database: str) -> int | None:
    """The process holding the AMI lease of `pbx-east`, from PostgreSQL's own view
    (application_name is `callpop HOST/PID`)."""
    return await holder_pid(database, "pbx-east")


async def holder_pid(database: str, label: str, namespace: str = AMI_NAMESPACE) -> int | None:
    """The process holding the lease `label` (an Asterisk's AMI, or the pop history's
    writer: `"pops"` in `"callpop-history"`)."""
    dsn = lease_dsn(database)
    assert dsn is not None
    conn = await asyncpg.connect(dsn)
    try:
        name = await lease_holder(conn, label, namespace)
    finally:
        await conn.close()
    return int(name.rsplit("/", 1)[1]) if name else None


async def agent_panel(http: aiohttp.ClientSession, instance: Instance) -> Tab:
    async with http.get(f"{instance.url}/login") as page:
        token = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    response = await http.post(
        f"{instance.url}/login",
        allow_redirects=False,
        data={"_csrf": token, "name": "alice", "password": PASSWORD},
    )
    assert response.status == 302
    tab = await open_tab(http, instance.url, origin=instance.url)
    await tab.until_type("welcome")
    return tab


def queue_call(call_id: str, uid: str, ids: Ids) -> QueueCall:
    """A caller offered to alice (`PJSIP/101`), the account the instances know."""
    return _queue_call(call_id, uid, ids, member="alice")


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, database: str, sim: AMIServer, *, lease_interval_s: float
) -> AsyncIterator[list[Instance]]:
    """Three instances of `sim`'s Asterisk, ready; stopped (and the stream forgotten) after."""
    redis_url, key = require_machine_redis(), unique_key("ami")
    ports = [free_port() for _ in range(3)]
    configs = [
        write_config(
            tmp_path,
            n,
            database,
            sim,
            port,
            bus=redis_url,
            bus_key=key,
            lease_interval_s=lease_interval_s,
        )
        for n, port in enumerate(ports)
    ]
    instances = [await start(config, port) for config, port in zip(configs, ports, strict=True)]
    try:
        for instance in instances:
            await wait_ready(instance)
        yield instances
    finally:
        await stop(instances)
        await forget_stream(redis_url, key)


async def stop(instances: list[Instance]) -> None:
    """SIGTERM each one still running; SIGKILL one that is not gone 20 s later."""
    for instance in instances:
        if instance.proc.returncode is None:
            instance.proc.send_signal(signal.SIGTERM)
    for instance in instances:
        try:
            async with asyncio.timeout(20):
                await instance.proc.wait()
        except TimeoutError:
            instance.proc.kill()
            await instance.proc.wait()


async def kill_the_holder(sim: AMIServer, database: str, instances: list[Instance]) -> Instance:
    """SIGKILL the AMI lease holder; returns once the simulator saw its socket close."""
    holder_pid = await lease_holder_pid(database)
    [holder] = [i for i in instances if i.proc.pid == holder_pid]
    holder.proc.send_signal(signal.SIGKILL)
    await holder.proc.wait()
    async with asyncio.timeout(TAKEOVER_BOUND_S):
        await sim.wait_listeners(0)
    assert sim.listeners == 0
    return holder


async def test_sigkill_of_the_ami_holder_another_instance_takes_over_resyncs_and_pops(
    tmp_path: Path, database: str
) -> None:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "alice")])
    ids = Ids("1800000000", 300)
    talking, next_call = (
        queue_call("call-talking", "1800000000.1", ids),
        queue_call("call-next", "1800000000.2", ids),
    )
    async with (
        AMIServer(username="callpop", secret="pw", answers=[board]) as sim,
        # 2 s between a standby's asks: the takeover leaves a window with nobody listening
        serving(tmp_path, database, sim, lease_interval_s=2.0) as instances,
    ):
        most_listening = 0

        async def sample() -> None:  # how many instances are logged in to the AMI
            nonlocal most_listening
            while True:
                most_listening = max(most_listening, sim.listeners)
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        sessions = [
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(2)
        ]
        try:
            async with asyncio.timeout(TAKEOVER_BOUND_S):
                await sim.wait_logins(1)
            await asyncio.sleep(1.0)
            assert (sim.logins, sim.listeners) == (1, 1)
            holder_pid = await lease_holder_pid(database)
            [holder] = [i for i in instances if i.proc.pid == holder_pid]
            others = [i for i in instances if i is not holder]
            # alice's panel on each instance that does not hold the lease
            panels = {
                i.web_port: await agent_panel(http, i)
                for http, i in zip(sessions, others, strict=True)
            }

            # the holder hears alice rung...
            board.add(talking)
            sim.emit(talking.joined() + talking.agent_called())
            for panel in panels.values():
                await panel.until_type("pop.offered", "call-talking")

            # ...then dies, and alice answers while no instance listens to the AMI
            killed_at = time.monotonic()
            await kill_the_holder(sim, database, instances)
            sim.emit(talking.answered())  # heard by nobody: Asterisk replays nothing

            async with asyncio.timeout(TAKEOVER_BOUND_S):
                await sim.wait_logins(2)
                await sim.wait_action("CoreShowChannels", 2)  # the new holder's resync
            takeover_s = time.monotonic() - killed_at
            new_pid = await lease_holder_pid(database)
            [new_holder] = [i for i in instances if i.proc.pid == new_pid]
            assert new_holder is not holder
            assert takeover_s < TAKEOVER_BOUND_S
            [elsewhere] = [i for i in others if i is not new_holder]
            panel = panels[elsewhere.web_port]

            # the resync told the new holder alice is talking: her pop is live
            live = await panel.until_type("pop.accepted", "call-talking")
            assert live["pop"]["state"] == "accepted"

            board.add(next_call)
            sim.emit(next_call.joined() + next_call.agent_called())
            offered = await panel.until_type("pop.offered", "call-next")
            assert offered["pop"]["queue"] == "sales"
            assert most_listening == 1
        finally:
            sampler.cancel()
            for http in sessions:
                await http.close()


async def test_a_hangup_while_no_instance_listens_ends_the_pop_after_the_takeover(
    tmp_path: Path, database: str
) -> None:
    board = QueueBoard(
        [
            QueueMemberSpec("sales", "PJSIP/101", "alice"),
            QueueMemberSpec("sales", "PJSIP/102", "bob"),
        ]
    )
    ids = Ids("1800000000", 300)
    gone = queue_call("call-gone", "1800000000.1", ids)  # alice's caller hangs up in the gap
    stays = _queue_call("call-stays", "1800000000.2", ids, member="bob")  # bob's talks on
    stays.interface = "PJSIP/102"
    async with (
        AMIServer(username="callpop", secret="pw", answers=[board]) as sim,
        serving(tmp_path, database, sim, lease_interval_s=2.0) as instances,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        async with asyncio.timeout(TAKEOVER_BOUND_S):
            await sim.wait_logins(1)
        holder_pid = await lease_holder_pid(database)
        others = [i for i in instances if i.proc.pid != holder_pid]
        # both answered while the holder listened: their pops are live everywhere
        for call in (gone, stays):
            board.add(call)
            sim.emit(call.joined() + call.agent_called() + call.answered())
        panel = await agent_panel(http, others[0])
        await panel.until_type("pop.accepted", "call-gone")

        await kill_the_holder(sim, database, instances)
        # alice's caller hangs up: Asterisk says so to nobody, and lists the call no more
        sim.emit(gone.completed(reason="caller"))
        board.remove(gone)

        async with asyncio.timeout(TAKEOVER_BOUND_S):
            await sim.wait_logins(2)
        wrapup = await panel.until_type("pop.wrapup", "call-gone")
        assert wrapup["pop"]["state"] == "wrapup"
        # bob's call is still listed: the resync left it alone
        expected = {("call-gone", "alice"): "wrapup", ("call-stays", "bob"): "live"}
        async with asyncio.timeout(TAKEOVER_BOUND_S):
            while True:
                if await pop_rows(database) == expected:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert await pop_rows(database) == expected


async def pop_rows(database: str) -> dict[tuple[str, str], str]:
    """(call id, agent name) -> state, as the `pops` table has them now."""
    conn = await asyncpg.connect(lease_dsn(database))
    try:
        rows = await conn.fetch(
            "SELECT p.call_id, a.name, p.state FROM pops p JOIN agents a ON a.id = p.agent_id"
        )
    finally:
        await conn.close()
    return {(r["call_id"], r["name"]): r["state"] for r in rows}


async def forget_stream(url: str, key: str) -> None:
    """This run's stream and its publishers' marks (`KEY:pub:*`)."""
    client = Redis.from_url(url)
    try:
        names = [name async for name in client.scan_iter(match=f"{key}*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()
