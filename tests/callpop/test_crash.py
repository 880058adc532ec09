"""`callpop serve` killed (SIGKILL) during live FastAGI calls: no call that Asterisk
routed by callpop's outcome is missing its journey and its call row.

Asterisk routes a call by `CALLPOP_OUTCOME` as soon as the AGI ends, and a killed
process ends it too (the kernel closes the socket): a journey written after the
outcome was set would be lost in that window. The runner stores it first
(ivr/runner.py, callpop/journeys.py). The simulator plays Asterisk: a call "got an
outcome" when the command setting `CALLPOP_OUTCOME` (an `EXEC MSet`) was answered.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.tables import calls, journeys
from tests.ports import free_port as _free_port

from .test_serve import FLOW

RUNS = 10
CALLS = 200


class Serve:
    """One `callpop serve` process in its own folder, with its own database and ports."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.agi_port, self.web_port = _free_port(), _free_port()
        flows = folder / "dialplan" / "flows"
        flows.mkdir(parents=True)
        (flows / "main.yaml").write_text(FLOW, encoding="utf-8")
        self.config = folder / "callpop.yaml"
        self.config.write_text(
            f"fastagi: 127.0.0.1:{self.agi_port}\nweb: 127.0.0.1:{self.web_port}\n"
            "database: sqlite:///./callpop.db\ndialplan: ./dialplan\n",
            encoding="utf-8",
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.log = (folder / "serve.log").open("wb")  # a file, never a pipe nobody reads

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
        env["CALLPOP_WEB_SECRET"] = "k" * 32
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callpop", "--config", str(self.config), "serve",
            stdout=self.log, stderr=self.log, env=env, cwd=self.folder,
        )  # fmt: skip

    async def ready(self) -> None:
        assert self.proc is not None
        async with asyncio.timeout(90), aiohttp.ClientSession() as http:
            while self.proc.returncode is None:
                try:
                    response = await http.get(f"http://127.0.0.1:{self.web_port}/readyz")
                    if response.status == 200:
                        return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"serve exited: {(self.folder / 'serve.log').read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stored(self) -> tuple[set[str], dict[str, str | None]]:
        """The call ids with a journey row, and each call row's outcome."""
        engine = create_engine(f"sqlite:///{self.folder / 'callpop.db'}")
        try:
            async with engine.connect() as conn:
                saved = set((await conn.execute(select(journeys.c.call_id))).scalars())
                result = await conn.execute(select(calls.c.call_id, calls.c.outcome))
                rows = {row.call_id: row.outcome for row in result}
        finally:
            await engine.dispose()
        return saved, rows


async def _calls_killed_midway(serve: Serve, run: int) -> list[CallRecord]:
    """200 calls arriving over ~0.4 s; SIGKILL once a random number of them finished."""
    rng = random.Random(run)
    kill_after = rng.randrange(20, 160)
    finished = 0
    enough = asyncio.Event()
    # Prompts at a fiftieth of real time: calls overlap, at every step of the flow.
    options = SimOptions(time_scale=0.02)

    async def call(n: int) -> CallRecord | None:
        nonlocal finished
        await asyncio.sleep(n * 0.002)
        script = CallerScript.parse(
            rng.choice(["1 2", "2", "w 1 1"]),
            caller=CallerId(f"+1555{run:02d}{n:05d}", f"Caller {n}"),
            uniqueid=f"17953{run:02d}000.{n}",
        )
        try:
            record = await call_fastagi("127.0.0.1", serve.agi_port, script, options=options)
        except OSError:
            return None  # refused: serve was already dead
        finished += 1
        if finished >= kill_after:
            enough.set()
        return record

    calls_task = asyncio.gather(*(call(n) for n in range(CALLS)))
    await asyncio.wait_for(enough.wait(), 60)
    serve.kill()
    records = await asyncio.wait_for(calls_task, 60)
    return [r for r in records if r is not None]


@pytest.mark.slow
async def test_sigkill_during_200_live_calls_loses_no_journey_of_a_call_given_its_outcome(
    tmp_path: Path,
) -> None:
    # Every run's serve starts at once (start-up is most of the time), each killed in turn.
    serves = [Serve(tmp_path / f"run{run}") for run in range(RUNS)]
    for serve in serves:
        await serve.start()
    try:
        await asyncio.gather(*(serve.ready() for serve in serves))
        given = lost = 0
        for run, serve in enumerate(serves):
            records = await _calls_killed_midway(serve, run)
            assert serve.proc is not None
            await asyncio.wait_for(serve.proc.wait(), 30)
            saved, rows = await serve.stored()
            for record in records:
                outcome = record.variables.get("CALLPOP_OUTCOME")
                if not outcome:
                    continue  # Asterisk got nothing: the operator, whatever the rows say
                given += 1
                call_id = record.variables["CALLPOP_CALL_ID"]
                if call_id not in saved or rows.get(call_id) != outcome:
                    lost += 1
            # Rows are written together: a journey never without its call row.
            assert set(rows) == saved, run
    finally:
        for serve in serves:
            if serve.proc is not None and serve.proc.returncode is None:
                serve.proc.kill()
                await serve.proc.wait()
            serve.log.close()
    # Calls were handed back in every run before the kill (it lands after 20 to 160
    # finished), so the check is not vacuous.
    assert given >= RUNS * 20
    assert lost == 0, f"{lost} of {given} calls given an outcome have no stored journey"
