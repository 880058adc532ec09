"""The contenders of the FastAGI benchmark and how each is started.

- callpop: `callpop serve` itself, in its own process, with the sample dialplan (open
  every hour), a SQLite database holding 10k demo customers (the IVR's lookup is real)
  where journeys and calls are written, logs at INFO on stderr and the Prometheus
  metrics, exactly as deployed; on uvloop (what `serve` picks when installed) and on
  asyncio's default loop.
- the limit: `bench.peers.bare`, no logic (default loop and uvloop).
- panoramisk: `bench.peers.panoramisk_ivr` (default loop and uvloop).
- process per call: `bench.peers.pyst2_ivr` (and callpop's own classic AGI script,
  `agi_scripts/script.py`, when present), spawned per call as Asterisk does.
"""

from __future__ import annotations

import asyncio
import compileall
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.crm_data import prepare_sqlite, sqlite_file
from bench.paths import always_open_dialplan
from bench.server_proc import ROOT, ServerProcess, free_port, python_argv
from crm_adapter.sql.engine import create_engine

__all__ = [
    "CallpopSite",
    "Contender",
    "compile_callpop",
    "contenders",
    "port_open",
    "prepare_callpop",
]

Role = Literal["limit", "peer", "callpop"]
CRM_SIZE = 10_000
_SEED = 1
PACKAGES = ("ivr", "agi_scripts", "crm_adapter", "callpop", "screenpop")


@dataclass(frozen=True)
class CallpopSite:
    """What `callpop serve` runs with in the benchmark."""

    config: Path
    fastagi_port: int
    callers: tuple[str, ...]  # non-VIP customers' numbers: the IVR finds them and goes on


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    role: Role
    # FastAGI servers: how to start the process; classic scripts: the program and its
    # AGI arguments per call (`AGI(program,arg1,...)`: Asterisk runs the program with
    # the arguments and also lists them in the environment as agi_arg_N).
    start: Callable[[Path, CallpopSite], ServerProcess] | None = None
    per_call: Callable[[Path, CallpopSite], tuple[list[str], list[str]]] | None = None
    # A script whose every process costs a sizeable fraction of a second of CPU (callpop's
    # classic script: ~0.3 s, ~40 MB) is measured on fewer calls (the lowest concurrency
    # only, a tenth of the calls, 10 held), so the whole run stays within its time budget.
    heavy: bool = False

    @property
    def classic(self) -> bool:
        return self.per_call is not None


def compile_callpop() -> None:
    """Write callpop's bytecode, as `pip install` does for an installed package.

    A checkout installed in editable mode has none until an import writes it, and none
    is written where PYTHONDONTWRITEBYTECODE is set (as on the benchmark machine): a
    process per call would then compile every module it imports on every call (~50 ms
    of the classic script's ~0.2 s), which no installed site pays, while pyst2, installed
    by pip, has its bytecode. `serve` compiles once and is hardly touched."""
    for package in PACKAGES:
        if not compileall.compile_dir(ROOT / package, quiet=1):
            raise RuntimeError(f"cannot compile {package}'s bytecode")


async def prepare_callpop(workdir: Path, cache: Path, crm_size: int = CRM_SIZE) -> CallpopSite:
    """The config, dialplan and database `callpop serve` is started with, its bytecode
    written (`compile_callpop`)."""
    compile_callpop()
    dialplan = always_open_dialplan(workdir / "dialplan")
    await prepare_sqlite(cache, [crm_size], _SEED)
    database = workdir / "agi.db"
    shutil.copyfile(sqlite_file(cache, crm_size, _SEED), database)
    engine = create_engine(f"sqlite:///{database}")
    try:
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT p.e164 FROM customer_phones p JOIN customers c ON c.id = p.customer_id "
                "WHERE c.tier != 'vip' AND p.position = 0 ORDER BY c.id LIMIT 5000"
            )
            callers = tuple(row[0] for row in rows)
    finally:
        await engine.dispose()
    port = free_port()
    config = workdir / "callpop.yaml"
    config.write_text(
        f"fastagi: 127.0.0.1:{port}\n"
        f"web: 127.0.0.1:{free_port()}\n"
        f"database: sqlite:///{database}\n"
        f"dialplan: {dialplan}\n"
        "shutdown_grace_s: 2\n"
    )
    return CallpopSite(config, port, callers)


def port_open(port: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()  # an empty session: the server sees EOF before the environment
        await writer.wait_closed()
        return True

    return check


def _callpop(loop: str) -> Callable[[Path, CallpopSite], ServerProcess]:
    def start(transcript: Path, site: CallpopSite) -> ServerProcess:
        if loop == "uvloop":
            argv = [
                str(Path(sys.executable).parent / "callpop"),
                "--config",
                str(site.config),
                "serve",
            ]
        else:
            argv = python_argv("bench.peers.callpop_serve", "--config", str(site.config), "serve")
        server = ServerProcess(
            argv, ready_check=port_open(site.fastagi_port), name=f"callpop serve ({loop})"
        )
        server.port = site.fastagi_port
        return server

    return start


def _peer(module: str, loop: str) -> Callable[[Path, CallpopSite], ServerProcess]:
    def start(transcript: Path, site: CallpopSite) -> ServerProcess:
        return ServerProcess(
            python_argv(module, str(transcript), "--loop", loop), name=f"{module} ({loop})"
        )

    return start


def _pyst2(transcript: Path, site: CallpopSite) -> tuple[list[str], list[str]]:
    # AGI(/path/pyst2_ivr.py,TRANSCRIPT): the script's #! line names the interpreter.
    return [sys.executable, str(ROOT / "bench" / "peers" / "pyst2_ivr.py"), str(transcript)], [
        str(transcript)
    ]


def _callpop_classic(transcript: Path, site: CallpopSite) -> tuple[list[str], list[str]]:
    # AGI(/venv/bin/python,-m,callpop.agi_script,CONFIG,main), as asterisk-config emits it.
    args = ["-m", "callpop.agi_script", str(site.config), "main"]
    return [sys.executable, *args], args


def contenders() -> list[Contender]:
    found = [
        Contender(
            "bare",
            "(c) bare asyncio, no logic",
            "limit",
            start=_peer("bench.peers.bare", "asyncio"),
        ),
        Contender(
            "bare-uvloop",
            "(c) bare asyncio + uvloop, no logic",
            "limit",
            start=_peer("bench.peers.bare", "uvloop"),
        ),
        Contender(
            "panoramisk",
            "(b) panoramisk FastAGI IVR",
            "peer",
            start=_peer("bench.peers.panoramisk_ivr", "asyncio"),
        ),
        Contender(
            "panoramisk-uvloop",
            "(b) panoramisk FastAGI IVR + uvloop",
            "peer",
            start=_peer("bench.peers.panoramisk_ivr", "uvloop"),
        ),
        Contender(
            "callpop",
            "callpop serve (full engine, journeys, logs, metrics)",
            "callpop",
            start=_callpop("asyncio"),
        ),
        Contender(
            "callpop-uvloop",
            "callpop serve + uvloop (as `serve` runs when installed)",
            "callpop",
            start=_callpop("uvloop"),
        ),
        Contender("pyst2", "(a) pyst2 script, a process per call", "peer", per_call=_pyst2),
        Contender(
            "callpop-classic",
            "callpop classic AGI script, a process per call",
            "callpop",
            per_call=_callpop_classic,
            heavy=True,
        ),
    ]
    return found
