"""Scale-out: pop latency with several `callpop serve` instances on one PostgreSQL database and
one Redis stream, beside one instance with the in-process bus, in the same run; and the
time from an instance's SIGKILL to the next pop it would have carried (docs/scale.md).

    python -m bench.scale_out [--instances 3] [--agents 2000] [--rate 300] [--seconds 10]
                              [--profile DIR]

Each phase: the instances start on a fresh PostgreSQL database (`TEST_PG_URL`'s server),
the agents' sockets are spread over them in turn (`/ws` with a signed session cookie, as
bench.pop_desk does), and the AMI simulator plays queue calls at `rate` a second (join,
AgentCalled 100 ms later, answer, hang-up: bench.pop.Caller), agents rung in turn. One
instance holds the AMI lease and publishes; every pop to an agent on another instance
crosses Redis. Latency: the simulator writing `AgentCalled` -> the rung agent's socket
holding `pop.offered`, both on this process's clock.

Then one instance that does not hold the AMI lease is SIGKILLed: its agents' sockets
reconnect at once to the next instance (a browser waits its backoff, ~0.5 s, first) and
the calls go on; the figure is the time from the SIGKILL to each of those agents' first
pop. Prints one JSON object. Timings depend on the machine's load, so each phase also
reports the CPU seconds each instance and this process (the load: the agents' sockets and
the AMI simulator) used during the calls: a load generator near one core's worth is the
bench's bottleneck, not callpop's. `--profile DIR` runs each instance under pyinstrument
(DIR/<phase>-<n>.pyisession; `pyinstrument --load FILE` reads one) and keeps the end of
what each logged (DIR/<phase>-<n>.log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import asyncpg
from argon2 import PasswordHasher
from redis.asyncio import Redis

from bench.machine import load_average
from bench.paths import always_open_dialplan
from bench.pop import ANSWER_AFTER_S, HANGUP_AFTER_S, Caller
from bench.pop_desk import AMI_SECRET
from bench.procstat import machine_ticks
from bench.server_proc import ServerProcess, free_port
from bench.stats import summary_ms
from callpop.ami.lease import AMI_NAMESPACE, lease_holder
from callpop.pbx_sim.ami import AMIServer
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.auth import Sessions
from screenpop.guards import SESSION_COOKIE
from screenpop.redis_bus import Entry, seq_of
from screenpop.sqlstore import SqlScreenpopStore
from screenpop.store import Account

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
FIRST_BACKOFF_S = (0.05, 0.2)
PYINSTRUMENT = (
    sys.executable,
    "-m",
    "pyinstrument",
    "-i",
    "0.005",
    "-r",
    "pyisession",
)  # the page's first reconnect delay, jitter included


class Desk:
    """What `bench.pop.Caller` needs (accounts, numbers, the AMI simulator), plus the
    instances and where each agent's socket is."""

    def __init__(
        self,
        ami: AMIServer,
        accounts: list[Account],
        key: bytes,
        http: aiohttp.ClientSession,
        database: str,
    ) -> None:
        self.ami = ami
        self.database = database  # the phase's own, as asyncpg takes it
        self.accounts = accounts
        self.numbers = [f"+1555{n:07d}" for n in range(2000)]
        self.key = key
        self.http = http
        self.servers: list[ServerProcess] = []
        self.urls: list[str] = []
        self.on: dict[str, int] = {}  # agent id -> instance index
        self.sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.closing = False
        self.killed: int | None = None
        self.killed_at = 0.0
        self.moved_ids: set[str] = set()  # agents whose instance was killed
        self.first_after_kill: dict[str, float] = {}  # agent id -> s from SIGKILL to a pop

    async def connect(self, account: Account, instance: int, caller: Caller) -> None:
        token, _ = Sessions(self.key, clock=time.time).issue(account)
        ws = await self.http.ws_connect(
            self.urls[instance].replace("http", "ws", 1) + "/ws",
            headers={"Cookie": f"{SESSION_COOKIE}={token}"},
        )
        await ws.send_str(json.dumps({"type": "hello", "since": 0, "view": "panel"}))
        self.on[account.id] = instance
        self.sockets[account.id] = ws
        self.tasks.append(asyncio.create_task(self._read(account, ws, caller)))

    async def _read(
        self, account: Account, ws: aiohttp.ClientWebSocketResponse, caller: Caller
    ) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            frame = json.loads(message.data)
            kind = frame.get("type", "")
            if kind == "ping":
                await ws.send_str('{"type": "pong"}')
            elif kind.startswith("pop."):
                caller.on_pop(frame["pop"]["call_id"], kind, now)
                self.popped(account, kind, now)
        if not self.closing:
            await self.moved(account, caller)

    def popped(self, account: Account, kind: str, now: float) -> None:
        if (
            kind == "pop.offered"
            and self.killed is not None
            and account.id in self.moved_ids
            and account.id not in self.first_after_kill
        ):
            self.first_after_kill[account.id] = now - self.killed_at

    async def moved(self, account: Account, caller: Caller) -> None:
        """The socket's instance died: reconnect to the next one after the browser's
        first backoff (screenpop/static/common.js: 50-200 ms)."""
        alive = [i for i in range(len(self.urls)) if i != self.killed]
        self.moved_ids.add(account.id)
        await asyncio.sleep(random.uniform(FIRST_BACKOFF_S[0], FIRST_BACKOFF_S[1]))
        await self.connect(account, alive[(self.on[account.id] + 1) % len(alive)], caller)

    async def close(self) -> None:
        """All at once, and not waiting on an overloaded server's close handshakes."""
        self.closing = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(
                    *(ws.close() for ws in self.sockets.values()), return_exceptions=True
                )


async def fresh_database(agents: int) -> tuple[str, str, list[Account]]:
    name = f"callpop_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    try:
        await upgrade(engine)
        store = SqlScreenpopStore(engine)
        password_hash = _HASHER.hash(secrets.token_urlsafe(12))
        accounts = [
            await store.add_account(f"bench{i:04d}", f"PJSIP/{2000 + i}", "agent", password_hash)
            for i in range(agents)
        ]
    finally:
        await engine.dispose()
    return name, url, accounts


async def deadlocks(name: str) -> int:
    """Deadlocks PostgreSQL detected (and broke by aborting a transaction) in the database."""
    admin = await asyncpg.connect(PG_URL)
    try:
        return int(
            await admin.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = $1", name)
            or 0
        )
    finally:
        await admin.close()


async def pop_row_writes(name: str) -> tuple[int, int]:
    """(rows in `pops`, rows PostgreSQL inserted or updated in it), from its statistics,
    which an idle backend flushes within 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL)."""
    await asyncio.sleep(11)
    conn = await asyncpg.connect(PG_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        rows = int(await conn.fetchval("SELECT count(*) FROM pops"))
        writes = await conn.fetchval(
            "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'pops'"
        )
        return rows, int(writes or 0)
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def phase(
    workdir: Path,
    *,
    instances: int,
    agents: int,
    rate: int,
    seconds: float,
    redis: bool,
    kill: bool,
    profile: Path | None = None,
) -> dict[str, Any]:
    name, url, accounts = await fresh_database(agents)
    key = secrets.token_bytes(32)
    (workdir / "web-secret").write_bytes(key.hex().encode())
    dialplan = always_open_dialplan(workdir / "dialplan")
    bus_key = f"callpop-bench:{uuid.uuid4().hex[:8]}:bus"
    try:
        async with (
            AMIServer(username="callpop", secret=AMI_SECRET) as ami,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            desk = Desk(ami, accounts, key.hex().encode(), http, url)
            for n in range(instances):
                web_port = free_port()
                (workdir / f"instance-{n}").mkdir()  # each its own control socket
                config = workdir / f"instance-{n}" / "callpop.yaml"
                config.write_text(
                    f"fastagi: 127.0.0.1:{free_port()}\nweb: 127.0.0.1:{web_port}\n"
                    f"database: {url}\ndialplan: {dialplan}\n"
                    f"ami: [{{host: 127.0.0.1, port: {ami.port}, username: callpop,"
                    " lease_interval_s: 1}]\n"
                    f"web_secret_file: {workdir / 'web-secret'}\nshutdown_grace_s: 2\n"
                    # every agent's socket comes from this one address
                    f"web_limits: {{connections_per_address: {agents + 100}}}\n"
                    + (f"bus: {REDIS_URL}\nbus_key: '{bus_key}'\n" if redis else "")
                )
                base = f"http://127.0.0.1:{web_port}"

                async def ready(base: str = base) -> bool:
                    async with http.get(base + "/readyz") as response:
                        return response.status == 200

                session = str(profile / f"{workdir.name}-{n}.pyisession") if profile else ""
                profiler = (
                    [*PYINSTRUMENT, "-o", session, "-m", "callpop"]
                    if profile is not None
                    else [str(Path(sys.executable).parent / "callpop")]
                )
                server = ServerProcess(
                    [
                        *profiler,
                        "--config",
                        str(config),
                        "serve",
                        "--log-level",
                        "WARNING",
                    ],
                    env={"CALLPOP_AMI__SECRET": AMI_SECRET},
                    ready_check=ready,
                    name=f"callpop serve {n}",
                    # a profiled instance writes its profile after it stopped
                    stop_timeout_s=15 if profile is None else 90,
                )
                await server.__aenter__()
                desk.servers.append(server)
                desk.urls.append(base)
            try:
                async with asyncio.timeout(30):
                    await ami.wait_logins(1)
                caller = Caller(desk)  # type: ignore[arg-type]
                started = time.perf_counter()
                for batch in range(0, agents, 200):
                    await asyncio.gather(
                        *(
                            desk.connect(a, i % instances, caller)
                            for i, a in enumerate(accounts[batch : batch + 200], start=batch)
                        )
                    )
                connect_s = time.perf_counter() - started
                say(f"{agents} sockets on {instances} instance(s) in {connect_s:.0f} s")
                await asyncio.sleep(1)
                watch = StreamWatch(bus_key) if redis else None
                watching = asyncio.create_task(watch.run()) if watch is not None else None
                await asyncio.sleep(0.2)  # its XREAD from the head is in place
                cpu = CpuShares(desk.servers)
                ids = await caller.steady(rate, seconds, agents)
                await caller.settle(ids)
                cpu_s = cpu.used()
                if watch is not None and watching is not None:
                    watch.stop.set()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):
                            await watching
                say(f"{len(ids)} calls placed, {len(caller.latency)} popped")
                got = [caller.latency[c] for c in ids if c in caller.latency]
                result: dict[str, Any] = {
                    "instances": instances,
                    "bus": "redis" if redis else "in-process",
                    "agents": agents,
                    "rate": rate,
                    "calls": len(ids),
                    "lost": len(ids) - len(got),
                    "connect_s": round(connect_s, 1),
                    **({k: round(v, 1) for k, v in summary_ms(got).items()} if got else {}),
                    # CPU seconds during the calls: each instance, then this process
                    "cpu_s": cpu_s,
                }
                if watch is not None:  # AgentCalled -> agent.ringing on the stream
                    result["to_stream_ms"] = watch.to_stream_ms(caller, ids)
                    result["to_append_ms"] = watch.to_append_ms(ids)
                result["deadlocks"] = await deadlocks(name)
                say(json.dumps(result))
                if kill:
                    await asyncio.sleep(ANSWER_AFTER_S + HANGUP_AFTER_S)
                    result["kill"] = await kill_one(desk, caller, rate, agents)
                    say(json.dumps(result["kill"]))
                # the whole phase's row writes in `pops` against its rows: with one
                # writer for all instances, not one write per instance
                result["pop_rows"], result["pop_row_writes"] = await pop_row_writes(name)
                return result
            finally:
                await desk.close()
                for n, server in enumerate(desk.servers):
                    await server.stop()
                    if profile is not None:  # what each instance logged, beside its profile
                        log = profile / f"{workdir.name}-{n}.log"
                        log.write_text(await server.stderr(limit=None))
    finally:
        await drop_database(name)


async def kill_one(desk: Desk, caller: Caller, rate: int, agents: int) -> dict[str, Any]:
    """SIGKILL an instance that does not hold the AMI lease (the pop history's writer if
    that is another one: its rows not yet written must be written by the next one);
    time to its agents' next pop."""
    holder = await holder_pid(desk, f"127.0.0.1:{desk.ami.port}")
    writer = await holder_pid(desk, "pops", "callpop-history")
    victim = next(
        (i for i, s in enumerate(desk.servers) if s.pid == writer and s.pid != holder),
        next(i for i, s in enumerate(desk.servers) if s.pid != holder),
    )
    on_victim = [a for a, i in desk.on.items() if i == victim]
    desk.killed, desk.killed_at = victim, time.perf_counter()
    desk.servers[victim].proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    say(f"SIGKILL instance {victim} ({len(on_victim)} agents on it)")
    ids = await caller.steady(rate, 12, agents)
    await caller.settle(ids)
    waits = [desk.first_after_kill[a] for a in on_victim if a in desk.first_after_kill]
    # the calls the killed instance would have carried: call n rings agent n % agents
    victims = set(on_victim)
    carried = [c for n, c in enumerate(ids) if desk.accounts[n % agents].id in victims]
    carried_got = [caller.latency[c] for c in carried if c in caller.latency]
    first = carried[0] if carried else None
    next_pop_s = (
        caller.rung_at[first] + caller.latency[first] - desk.killed_at
        if first is not None and first in caller.latency
        else None
    )
    return {
        "killed_history_writer": desk.servers[victim].pid == writer,
        # SIGKILL -> the agent's socket holding the first pop the dead instance would
        # have carried (its call rang that agent after the SIGKILL)
        "next_pop_s": round(next_pop_s, 3) if next_pop_s is not None else None,
        "next_pop_rung_after_kill_s": (
            round(caller.rung_at[first] - desk.killed_at, 3) if first is not None else None
        ),
        "carried_calls": len(carried),
        "carried_lost": len(carried) - len(carried_got),
        **(
            {f"carried_{k}": round(v, 1) for k, v in summary_ms(carried_got).items()}
            if carried_got
            else {}
        ),
        "killed_agents": len(on_victim),
        "popped_again": len(waits),
        "first_s": round(min(waits), 2) if waits else None,
        "median_s": round(statistics.median(waits), 2) if waits else None,
        "max_s": round(max(waits), 2) if waits else None,
        "calls_after_kill": len(ids),
        "lost_after_kill": len([c for c in ids if c not in caller.latency]),
    }


class StreamWatch:
    """When each call's `agent.ringing` is on the bus stream, as this process reads it
    (XREAD BLOCK, like a hub): the pop's latency up to the stream (the AMI holder reading
    AgentCalled, its triggers, the bus writer's append) apart from what follows (each
    hub reading the stream, the pop machine, the socket)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen: dict[str, float] = {}  # call id -> perf_counter when read
        # call id -> s from the event's `at` (the simulator's AgentCalled Timestamp) to
        # its entry id (Redis's TIME when the holder's append ran): the holder's part
        # alone, whatever this process's own loop does
        self.appended: dict[str, float] = {}
        # asked to stop: redis-py may swallow a cancellation that lands inside XREAD
        self.stop = asyncio.Event()

    async def run(self) -> None:
        client = Redis.from_url(REDIS_URL)
        last: bytes | str = "$"
        try:
            while not self.stop.is_set():
                reply = cast(
                    list[tuple[bytes, list[Entry]]],
                    await client.xread({self.key: last}, block=200, count=1000),
                )
                now = time.perf_counter()
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        body = json.loads(fields[b"e"])
                        if body["type"] == "agent.ringing" and body["call_id"] not in self.seen:
                            self.seen[body["call_id"]] = now
                            at = datetime.fromisoformat(body["at"].replace("Z", "+00:00"))
                            self.appended[body["call_id"]] = (
                                seq_of(entry_id) / 1_000_000 - at.timestamp()
                            )
        finally:
            await client.aclose()

    def to_stream_ms(self, caller: Caller, ids: list[str]) -> dict[str, float]:
        got = [self.seen[c] - caller.rung_at[c] for c in ids if c in self.seen]
        return {k: round(v, 1) for k, v in summary_ms(got).items()} if got else {}

    def to_append_ms(self, ids: list[str]) -> dict[str, float]:
        got = [self.appended[c] for c in ids if c in self.appended]
        return {k: round(v, 1) for k, v in summary_ms(got).items()} if got else {}


class CpuShares:
    """CPU seconds used from now on by each instance and by this process (the load), and
    the share of the whole machine's cores busy meanwhile (Redis, PostgreSQL and any other
    load included): near 1.0, latencies are the queue for a core, not callpop's work."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = list(servers)
        self.wall = time.perf_counter()
        self.start = [s.cpu() for s in self.servers]
        self.own = time.process_time()
        self.machine = machine_ticks()

    def used(self) -> dict[str, float]:
        out = {
            f"instance_{n}": round(s.cpu() - before, 2)
            for n, (s, before) in enumerate(zip(self.servers, self.start, strict=True))
        }
        out["bench"] = round(time.process_time() - self.own, 2)
        out["wall"] = round(time.perf_counter() - self.wall, 2)
        busy, total = (now - then for now, then in zip(machine_ticks(), self.machine, strict=True))
        out["machine_busy"] = round(busy / total, 2) if total else 0.0
        return out


def say(text: str) -> None:
    print(f"bench.scale_out: {text}", file=sys.stderr, flush=True)


async def holder_pid(desk: Desk, label: str, namespace: str = AMI_NAMESPACE) -> int | None:
    """The pid holding a lease: the AMI's (`label` its `host:port`) or the pop history
    writer's ("pops" in "callpop-history"); application_name is `callpop HOST/PID`."""
    conn = await asyncpg.connect(desk.database)
    try:
        name = await lease_holder(conn, label, namespace)
    finally:
        await conn.close()
    return int(name.rsplit("/", 1)[1]) if name else None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": " ".join(f"{x:.2f}" for x in load_average())}
    with tempfile.TemporaryDirectory(prefix="callpop-bench-scale-") as tmp:
        one = Path(tmp) / "one"
        one.mkdir()
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        out["single_in_process"] = await phase(
            one,
            instances=1,
            agents=args.agents,
            rate=args.rate,
            seconds=args.seconds,
            redis=False,
            kill=False,
            profile=args.profile,
        )
        many = Path(tmp) / "many"
        many.mkdir()
        out["scaled_out_redis"] = await phase(
            many,
            instances=args.instances,
            agents=args.agents,
            rate=args.rate,
            seconds=args.seconds,
            redis=True,
            kill=True,
            profile=args.profile,
        )
    out["load_after"] = " ".join(f"{x:.2f}" for x in load_average())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out")
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--profile", type=Path, help="run each instance under pyinstrument")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
