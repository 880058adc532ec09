"""pyinstrument profiles of the hot paths, written to bench/out/profiles/ by
`python -m bench --profile`: the engine walking the FastAGI path, the CRM lookup,
and `callpop serve` itself under FastAGI load (profiled in its own process).
What they showed, and what was changed, is in bench/findings.md."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from bench import loop
from bench.agi_load import run_load
from bench.agi_transcript import record
from bench.crm_data import prepare_sqlite, sqlite_file
from bench.engine import walk
from bench.fastagi import quiet
from bench.fastagi_servers import port_open, prepare_callpop
from bench.paths import DIALPLAN, FOUR_LEVELS
from bench.pop import Caller
from bench.pop_desk import open_desk
from bench.profile_summary import render
from bench.server_proc import ServerProcess, python_argv
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore
from ivr.compile_flow import compile_flows
from ivr.lint import check_dialplan

__all__ = ["write_profiles"]


def _save(profiler: Profiler, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.txt").write_text(
        profiler.output_text(unicode=True, color=False), encoding="utf-8"
    )
    Path(f"{stem}.html").write_text(profiler.output_html(), encoding="utf-8")
    if profiler.last_session is not None:
        Path(f"{stem}.summary.txt").write_text(
            render(profiler.last_session) + "\n", encoding="utf-8"
        )


def _engine(out: Path) -> None:
    flows = compile_flows(check_dialplan(DIALPLAN).flows)
    profiler = Profiler(interval=0.0002)
    profiler.start()
    deadline = time.perf_counter() + 2.0
    n = 0
    while time.perf_counter() < deadline:
        walk(flows, FOUR_LEVELS, f"p.{n}")
        n += 1
    profiler.stop()
    _save(profiler, out / "engine")


async def _crm(out: Path, cache: Path) -> None:
    await prepare_sqlite(cache, [10_000], 1)
    engine = create_engine(f"sqlite:///{sqlite_file(cache, 10_000, 1)}")
    store = SqlStore(engine)
    numbers = ["+15551234567", "5550104321", "+15551009999"]
    try:
        for number in numbers:
            await store.find_by_phone(number)
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        profiler.start()
        for n in range(1500):
            await store.find_by_phone(numbers[n % 3])
        profiler.stop()
    finally:
        await engine.dispose()
    _save(profiler, out / "crm-find-by-phone")


async def _serve(out: Path, cache: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="callpop-bench-prof-") as tmp:
        site = await prepare_callpop(Path(tmp), cache)
        argv = python_argv(
            "bench.profiled",
            str(out / "serve-fastagi"),
            "--",
            "--config",
            str(site.config),
            "serve",
        )
        server = ServerProcess(
            argv,
            ready_check=port_open(site.fastagi_port),
            stop_timeout_s=180.0,
            name="profiled serve",
        )
        async with server:
            transcript, _call = await record("127.0.0.1", site.fastagi_port, site.callers[0])
            await run_load(
                transcript,
                calls=3000,
                concurrency=200,
                time_scale=0,
                port=site.fastagi_port,
                callers=site.callers,
            )
            await quiet(server)  # the journeys saved after the calls are in the profile


async def _pops(out: Path, cache: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="callpop-bench-prof-") as tmp:
        async with open_desk(Path(tmp), cache, 500, profile_stem=out / "serve-pops") as desk:
            caller = Caller(desk)
            await asyncio.gather(*(desk.connect(a, caller.on_pop) for a in desk.accounts[:500]))
            ids = await caller.steady(100, 10, 500)
            await caller.settle(ids)


def write_profiles(out: Path, cache: Path) -> None:
    print("bench: profiling ...", file=sys.stderr, flush=True)
    _engine(out)
    asyncio.run(_crm(out, cache))
    loop.run(_pops(out, cache))
    loop.run(_serve(out, cache))
