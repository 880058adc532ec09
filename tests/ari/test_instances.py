"""ARI across instances: two Stasis apps (two callpop instances' `ari.app`) on one
simulated Asterisk, sharing one session ledger in the database. A caller that the dead
instance left in Stasis is sent to the operator by the survivor; one whose instance is
alive, or of an app no callpop instance ran, is never touched."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ari_ledger import SqlAriLedger
from callpop.pbx_sim.ari import AriSimulator
from callpop.pbx_sim.ari_model import SimCall
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.tables import ari_instances, ari_sessions
from ivr.actions import Collect, Sound
from ivr.ari.app import StasisApp
from ivr.ari.client import AriClient, basic_auth
from ivr.ari.ledger import Claims
from ivr.ari.websocket import Backoff

from .harness import PASSWORD, SCALE, USER, ended, running, script
from .test_app import Steps

PATIENT = Collect(prompts=(Sound("menu"),), max_digits=1, timeout_ms=600_000, interdigit_ms=1000)
INTERVAL_S = 0.1
STALE_AFTER_S = 1.0  # ten heartbeats: a loaded machine's stalls do not kill a live one


def ledger(
    engine: AsyncEngine, instance: str, app: str, *, clock_offset_s: float = 0.0
) -> SqlAriLedger:
    def clock() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=clock_offset_s)

    return SqlAriLedger(
        engine, instance=instance, app=app, stale_after_s=STALE_AFTER_S, clock=clock
    )


@asynccontextmanager
async def simulator() -> AsyncIterator[tuple[AriSimulator, str]]:
    sim = AriSimulator(username=USER, password=PASSWORD, time_scale=SCALE)
    async with sim.serve() as url:
        yield sim, url


@asynccontextmanager
async def instance(
    url: str, app: str, handler: Steps, store: SqlAriLedger
) -> AsyncIterator[StasisApp]:
    async with AriClient(url, USER, PASSWORD) as client:
        stasis = StasisApp(
            client,
            app,
            handler,
            backoff=Backoff(0.01, 0.05, rng=random.Random(3)),
            timer_scale=SCALE,
            orphan_grace_s=0.05,
            ledger=store,
            ledger_interval_s=INTERVAL_S,
        )
        task = asyncio.create_task(stasis.run())
        try:
            await asyncio.wait_for(stasis.resynced.wait(), 10)
            yield stasis
        finally:
            await stasis.stop(grace_s=1.0)
            await task


async def left_in_stasis(sim: AriSimulator, url: str, app: str, uniqueid: str) -> SimCall:
    """A caller in `Stasis(app)` whose app's socket went away (its instance is gone)."""
    async with aiohttp.ClientSession(headers={"Authorization": basic_auth(USER, PASSWORD)}) as http:
        ws = await http.ws_connect(url.replace("http", "ws") + f"/events?app={app}")
        call = sim.call(script(uniqueid=uniqueid), app=app)
        assert (await ws.receive_json())["type"] == "StasisStart"
        await ws.close()
    return call


async def checks(stasis: StasisApp, rounds: int) -> None:
    """Until the app's take-over check has run `rounds` more times."""
    target = stasis.resync.take_over_checks + rounds
    async with asyncio.timeout(10):
        while True:  # the checks run on the app's own timer: nothing to wait on but time
            if stasis.resync.take_over_checks >= target:
                return
            await asyncio.sleep(INTERVAL_S / 2)


async def test_a_caller_left_by_a_dead_instance_is_sent_to_the_operator_by_a_survivor(
    engine: AsyncEngine,
) -> None:
    dead = ledger(
        engine, "host/1", "callpop-a", clock_offset_s=-60
    )  # its last heartbeat: a minute ago
    async with simulator() as (sim, url):
        call = await left_in_stasis(sim, url, "callpop-a", "1795389902.21")
        await dead.heartbeat()
        await dead.session_started(call.channel_id, "call-21")
        async with instance(
            url, "callpop-b", Steps("continue"), ledger(engine, "host/2", "callpop-b")
        ) as b:
            assert await ended(call) == "continued"
            assert call.continued_to == ("callpop-route", "operator", 1)
            assert b.resync.taken_over == 1


async def test_a_live_instances_caller_is_left_alone_until_its_heartbeat_stops(
    engine: AsyncEngine,
) -> None:
    alive = ledger(engine, "host/1", "callpop-a")

    async def beat() -> None:
        while True:
            await alive.heartbeat()
            await asyncio.sleep(INTERVAL_S)

    async with simulator() as (sim, url):
        call = await left_in_stasis(sim, url, "callpop-a", "1795389902.22")
        await alive.heartbeat()  # as a live instance does before it records a session
        await alive.session_started(call.channel_id, "call-22")
        heart = asyncio.create_task(beat())
        async with instance(
            url, "callpop-b", Steps("continue"), ledger(engine, "host/2", "callpop-b")
        ) as b:
            await checks(b, 20)  # twice the time a stale owner is given
            assert not call.ended.done()
            assert sim.state.channels[call.channel_id].stasis_app == "callpop-a"
            heart.cancel()  # instance A dies
            assert await ended(call) == "continued"
            assert call.continued_to == ("callpop-route", "operator", 1)


async def test_a_channel_with_no_session_of_a_dead_instances_app_is_taken_over(
    engine: AsyncEngine,
) -> None:
    # A died between the StasisStart and recording the session: its app still names it.
    await ledger(engine, "host/1", "callpop-a", clock_offset_s=-60).heartbeat()
    async with simulator() as (sim, url):
        call = await left_in_stasis(sim, url, "callpop-a", "1795389902.23")
        async with instance(
            url, "callpop-b", Steps("continue"), ledger(engine, "host/2", "callpop-b")
        ):
            assert await ended(call) == "continued"


async def test_a_channel_of_an_app_no_callpop_instance_ran_is_not_touched(
    engine: AsyncEngine,
) -> None:
    async with simulator() as (sim, url):
        call = await left_in_stasis(sim, url, "someone-else", "1795389902.24")
        async with instance(
            url, "callpop-b", Steps("continue"), ledger(engine, "host/2", "callpop-b")
        ) as b:
            await checks(b, 5)
            assert not call.ended.done()
            assert b.resync.taken_over == 0


async def test_a_live_session_is_recorded_with_its_owner_and_forgotten_when_it_ends(
    engine: AsyncEngine,
) -> None:
    handler = Steps(PATIENT, "continue")
    async with simulator() as (sim, url):
        async with instance(url, "callpop-b", handler, ledger(engine, "host/2", "callpop-b")):
            call = sim.call(script("", uniqueid="1795389902.25"), app="callpop-b")
            await sim.until(lambda: bool(call.played))
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(select(ari_sessions.c.channel_id, ari_sessions.c.instance))
                ).all()
            assert [tuple(r) for r in rows] == [(call.channel_id, "host/2")]
            sim.state.caller_hangs_up(sim.state.channels[call.channel_id])
            await asyncio.wait_for(handler.finished(call.channel_id).wait(), 10)
            async with asyncio.timeout(5):
                while True:
                    async with engine.connect() as conn:
                        if not (await conn.execute(select(ari_sessions))).all():
                            break
                    await asyncio.sleep(0.02)


async def test_with_the_database_away_callers_are_served_and_it_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = create_engine("postgresql://postgres@127.0.0.1:1/callpop")
    handler = Steps(PATIENT, "continue")
    try:
        async with simulator() as (sim, url):
            async with instance(url, "callpop-b", handler, ledger(away, "host/2", "callpop-b")):
                calls = [
                    sim.call(script("1", uniqueid=f"1795389902.{n}"), app="callpop-b")
                    for n in (41, 42)
                ]
                for call in calls:
                    assert await ended(call) == "continued"
    finally:
        await away.dispose()
    assert [len(results) for results in handler.results.values()] == [1, 1]
    warnings = [r for r in caplog.records if "ledger unreachable" in r.getMessage()]
    assert len(warnings) == 1


async def test_an_instance_starting_forgets_instances_silent_for_a_day_and_their_sessions(
    engine: AsyncEngine,
) -> None:
    long_dead = ledger(engine, "host/1", "callpop-a", clock_offset_s=-2 * 86_400)
    await long_dead.heartbeat()
    await long_dead.session_started("1795389902.51", "call-51")
    lately = ledger(engine, "host/3", "callpop-c", clock_offset_s=-60)
    await lately.heartbeat()
    await lately.session_started("1795389902.53", "call-53")
    await ledger(engine, "host/2", "callpop-b").heartbeat()
    async with engine.connect() as conn:
        instances = set((await conn.execute(select(ari_instances.c.instance))).scalars())
        sessions = set((await conn.execute(select(ari_sessions.c.channel_id))).scalars())
    assert instances == {"host/2", "host/3"}
    assert sessions == {"1795389902.53"}  # a minute is not a day: still the survivors' to act on


class SlowToStartLedger:
    """A session ledger on a database slow to answer the instance's first heartbeat; it
    notes how many heartbeats were written when each session was recorded."""

    def __init__(self, first_beat_s: float) -> None:
        self.first_beat_s = first_beat_s
        self.heartbeats = 0
        self.sessions: list[tuple[str, int]] = []

    async def heartbeat(self) -> None:
        if self.heartbeats == 0:
            await asyncio.sleep(self.first_beat_s)
        self.heartbeats += 1

    async def session_started(self, channel_id: str, call_id: str) -> None:
        self.sessions.append((channel_id, self.heartbeats))

    async def session_ended(self, channel_id: str) -> None:
        pass

    async def claims(self, in_stasis: Mapping[str, str]) -> Claims:
        return Claims(frozenset(), {})

    async def retire(self) -> None:
        pass


async def test_an_instance_records_no_caller_before_its_first_heartbeat_is_written() -> None:
    # Otherwise another instance's take-over check, run in between, reads the session's
    # owner as dead and sends a live caller to the operator.
    ledger = SlowToStartLedger(first_beat_s=0.3)
    async with running(
        Steps("continue"), start_app=False, ledger=ledger, ledger_interval_s=60.0
    ) as env:
        env.task = asyncio.create_task(env.app.run())
        await env.sim.wait_for_app()  # callers reach the app from here on
        call = env.sim.call(script(uniqueid="1795389902.30"))
        assert await ended(call) == "continued"
    assert ledger.sessions == [(call.channel_id, 1)]
