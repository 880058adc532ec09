"""The screen-pop benchmark's desk: `callpop serve` in its own process with a database
of demo customers and N agents, the AMI simulator it listens to, and N agent sockets.

Agents do not log in through the form (argon2 at its production cost is ~0.1 s a
login): the desk shares the session key with the server (`web_secret_file`) and
signs each agent's session cookie as a login would, then opens `/ws` with it exactly as
the panel page does (hello, pong to every ping).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from argon2 import PasswordHasher

from bench.crm_data import prepare_sqlite, sqlite_file
from bench.paths import always_open_dialplan
from bench.server_proc import ServerProcess, free_port, python_argv
from callpop.pbx_sim.ami import AMIServer
from crm_adapter.sql.engine import create_engine
from screenpop.auth import Sessions
from screenpop.guards import SESSION_COOKIE
from screenpop.sqlstore import SqlScreenpopStore
from screenpop.store import Account

__all__ = ["AgentSocket", "Desk", "open_desk"]

AMI_SECRET = "bench-ami-secret"
CRM_SIZE = 10_000
# The hash is never verified (cookies are signed directly): the cheapest argon2 will do.
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_SEED = 1


async def _database(
    cache: Path, dest: Path, agents: int, crm_size: int
) -> tuple[list[Account], list[str]]:
    """A copy of the cached demo CRM plus `agents` agents; returns the agents and a
    sample of customers' numbers for callers."""
    await prepare_sqlite(cache, [crm_size], _SEED)
    shutil.copyfile(sqlite_file(cache, crm_size, _SEED), dest)
    engine = create_engine(f"sqlite:///{dest}")
    try:
        store = SqlScreenpopStore(engine)
        password_hash = _HASHER.hash(secrets.token_urlsafe(12))
        accounts = [
            await store.add_account(f"bench{i:04d}", f"PJSIP/{2000 + i}", "agent", password_hash)
            for i in range(agents + 1)
        ]
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT e164 FROM customer_phones WHERE position = 0 ORDER BY customer_id LIMIT 2000"
            )
            numbers = [row[0] for row in rows]
    finally:
        await engine.dispose()
    return accounts, numbers


@dataclass
class AgentSocket:
    """One agent's panel socket; `on_pop(call_id, type)` is called for each pop frame."""

    account: Account
    ws: aiohttp.ClientWebSocketResponse
    on_pop: Callable[[str, str, float], None]
    task: asyncio.Task[None] | None = None
    frames: int = 0

    async def run(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            frame = json.loads(message.data)
            self.frames += 1
            kind = frame.get("type", "")
            if kind == "ping":
                await self.ws.send_str('{"type": "pong"}')
            elif kind.startswith("pop."):
                self.on_pop(frame["pop"]["call_id"], kind, now)


@dataclass
class Desk:
    server: ServerProcess
    ami: AMIServer
    base_url: str
    session_key: bytes
    accounts: list[Account]  # the last one is kept for the browser
    numbers: list[str]
    http: aiohttp.ClientSession
    sockets: list[AgentSocket] = field(default_factory=list)

    def cookie(self, account: Account) -> str:
        token, _ = Sessions(self.session_key, clock=time.time).issue(account)
        return token

    async def connect(
        self, account: Account, on_pop: Callable[[str, str, float], None]
    ) -> AgentSocket:
        ws = await self.http.ws_connect(
            self.base_url.replace("http", "ws", 1) + "/ws",
            headers={"Cookie": f"{SESSION_COOKIE}={self.cookie(account)}"},
        )
        await ws.send_str(json.dumps({"type": "hello", "since": 0, "view": "panel"}))
        async with asyncio.timeout(10):
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"{account.name}: socket closed before welcome")
                if json.loads(message.data).get("type") == "welcome":
                    break
        sock = AgentSocket(account, ws, on_pop)
        sock.task = asyncio.create_task(sock.run())
        self.sockets.append(sock)
        return sock

    async def close_sockets(self) -> None:
        for sock in self.sockets:
            await sock.ws.close()
        tasks = [s.task for s in self.sockets if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sockets.clear()


@contextlib.asynccontextmanager
async def open_desk(
    workdir: Path,
    cache: Path,
    agents: int,
    crm_size: int = CRM_SIZE,
    profile_stem: Path | None = None,
) -> AsyncIterator[Desk]:
    """The desk, serving; `agents` sockets are the caller's to open with `connect`.
    With `profile_stem`, `serve` runs under pyinstrument (bench.profiled)."""
    dialplan = always_open_dialplan(workdir / "dialplan")
    accounts, numbers = await _database(cache, workdir / "pop.db", agents, crm_size)
    session_key = secrets.token_bytes(32)
    web_port = free_port()
    async with AMIServer(username="callpop", secret=AMI_SECRET) as ami:
        secret_file = workdir / "web-secret"
        secret_file.write_bytes(session_key.hex().encode())
        config = workdir / "callpop.yaml"
        config.write_text(
            f"fastagi: 127.0.0.1:{free_port()}\n"
            f"web: 127.0.0.1:{web_port}\n"
            f"database: sqlite:///{workdir / 'pop.db'}\n"
            f"dialplan: {dialplan}\n"
            f"ami: {{host: 127.0.0.1, port: {ami.port}, username: callpop}}\n"
            f"web_secret_file: {secret_file}\n"
            # every agent's socket comes from 127.0.0.1: past the default 64 per address
            # the web port answers 503 (docs/security.md)
            f"web_limits: {{connections_per_address: {agents + 100}}}\n"
            "shutdown_grace_s: 2\n"
        )
        base_url = f"http://127.0.0.1:{web_port}"
        # No connection limit: every agent's socket stays open (aiohttp's default is 100).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            async def ready() -> bool:
                async with http.get(base_url + "/readyz") as response:
                    return response.status == 200 and ami.listeners > 0

            env = {"CALLPOP_AMI__SECRET": AMI_SECRET}
            cli = ["--config", str(config), "serve", "--log-level", "WARNING"]
            if profile_stem is None:
                argv = [str(Path(sys.executable).parent / "callpop"), *cli]
            else:
                argv = python_argv("bench.profiled", str(profile_stem), "--", *cli)
            # A profiled server writes its profile as it exits: give it the time.
            stop_s = 15.0 if profile_stem is None else 180.0
            async with ServerProcess(
                argv, env=env, ready_check=ready, stop_timeout_s=stop_s, name="callpop serve"
            ) as server:
                desk = Desk(
                    server, ami, base_url, session_key.hex().encode(), accounts, numbers, http
                )
                try:
                    yield desk
                finally:
                    await desk.close_sockets()
