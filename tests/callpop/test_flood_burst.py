"""A flood through `callpop serve` (issue 16 acceptance, the test-sized version of
`bench.flood`): flood mode on, a burst of callers through the FastAGI simulator on the
shipped dialplan, the billing queue on the AMI simulator with two agents already on
long calls, and serve SIGKILLed and started again in the middle of the burst.

Every caller callpop served has a journey whose overflow, estimate and callback offer
follow from a queue state callpop published while they were at those nodes; each kind
happened; every callback a caller heard booked is stored, and once the burst is over and
the agents are free, each is placed exactly once (one Originate the agent answered per
callback), none before."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

from bench.flood_calls import (
    Caller,
    QueueStateLog,
    callback_check,
    dial,
    judge,
    read_journeys,
)
from bench.paths import always_open_dialplan
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_floor import Floor
from callpop.pbx_sim.ami_status import QueueMemberSpec
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from tests.callpop.test_restart import Serve

AGENTS = [
    QueueMemberSpec("billing", "PJSIP/104", "Dana Agent"),
    QueueMemberSpec("billing", "PJSIP/105", "Eli Agent"),
]
# Two agents on calls the queue says last 5 min on average: each caller waiting adds
# 150 s to the estimate. The burst comes in three waves, each once the queue state it is
# meant for is published, so every branch of the billing path is walked however late
# the callers read the state: nobody waiting (an estimate of 3 min, no offer), then 9
# (25 min: the callback offer), then 24 (over 45 min: the overflow). The waiting ones
# are payments callers (they queue for billing too); the burst's own callers who queue
# give up within a second, so they move the estimate by a caller or two at most.
TALK_TIME_S = 300
WAVES = ((0, 30), (9, 20), (24, 10))  # (callers already waiting, callers in the wave)
FIRST_WAVE = WAVES[0][1]  # before the restart
GAP_S = 0.04
OPTIONS = SimOptions(time_scale=0.02)  # prompts and key timing at 1/50 of a real channel


class FloodServe(Serve):
    """`callpop serve` on the shipped dialplan (open every hour), flood mode's database."""

    def __init__(self, tmp_path: Path, ami: AMIServer) -> None:
        super().__init__(tmp_path, ami)
        dialplan = always_open_dialplan(tmp_path / "shipped")
        self.config.write_text(
            f"fastagi: 127.0.0.1:{self.agi}\nweb: 127.0.0.1:{self.web}\n"
            f"database: sqlite:///{self.database}\ndialplan: {dialplan}\n"
            f"ami: {{host: 127.0.0.1, port: {ami.port}, username: callpop}}\n"
            "callbacks: {agent_retry_s: 0.2}\nshutdown_grace_s: 2\n",
            encoding="utf-8",
        )


async def published(log: QueueStateLog, serve: Serve, *, wave: int, waiting: int) -> None:
    """Wait until serve has published a queue state with `waiting` callers; otherwise say
    which wave, what the table held and what serve logged."""
    try:
        async with asyncio.timeout(60):
            while True:
                if log.versions[-1].known and log.versions[-1].callers >= waiting:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(
            f"wave {wave}: no queue state with {waiting} callers published in 60 s;"
            f" last {log.versions[-3:]}, {log.failed_reads} failed reads; serve's log:\n"
            + serve.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        ) from None


async def test_a_burst_with_a_restart_in_the_middle_loses_nothing(tmp_path: Path) -> None:
    talk_s = 3600.0  # the agents stay on their calls until the burst is over
    floor = Floor(
        "billing",
        AGENTS,
        talk_s=lambda: talk_s,
        callback_talk_s=lambda: 0.05,
        talk_time_s=TALK_TIME_S,
        ring_s=0.01,
    )
    async with AMIServer(username="callpop", secret="pw") as ami, floor:
        floor.attach(ami)
        serve = FloodServe(tmp_path, ami)
        engine = create_engine(f"sqlite:///{serve.database}")
        await upgrade(engine)
        await FloodStore(engine).set(True, "known-outage")
        log = QueueStateLog(engine, every_s=0.05)
        sampling = asyncio.create_task(log.run())
        for n in (1, 2):  # the two agents' current calls
            floor.join(f"1795300000.{n}", f"+1555900000{n}", patience_s=3600)
        callers: list[Caller] = []
        tasks: list[asyncio.Task[Caller]] = []
        try:
            await serve.start()
            first = 0
            for number, (waiting, count) in enumerate(WAVES):
                while sum(1 for e in floor.calls if e.call.call_id.startswith("pay")) < waiting:
                    floor.join(f"pay.{len(floor.calls)}", "+15559000100", patience_s=3600)
                await published(log, serve, wave=number, waiting=waiting)
                for n in range(first, first + count):
                    tasks.append(
                        asyncio.create_task(
                            dial(floor, serve.agi, n, epoch="1795389902", options=OPTIONS,
                                 patience_s=0.5)
                        )
                    )  # fmt: skip
                    await asyncio.sleep(GAP_S)
                first += count
                if number == 0:
                    await serve.kill()  # SIGKILL while the first wave's calls are in the IVR
                    await serve.start()
            async with asyncio.timeout(60):
                callers = list(await asyncio.gather(*tasks))  # every IVR part is over
            flood_over = time.time()
            talk_s = 0.05  # then the agents finish, the queue drains, callbacks go out
            floor.end_calls()
            store = CallbackStore(engine)
            async with asyncio.timeout(60):  # every callback placed, every call over
                while True:
                    states = {c.state for c in await store.listing()}
                    if states <= {"connected", "cancelled"} and floor.idle:
                        break
                    await asyncio.sleep(0.1)
            found = await read_journeys(engine, [c.call_id for c in callers])
            checked = await callback_check(engine, floor, callers)
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            await serve.stop()
            await engine.dispose()

    served = [c for c in callers if c.served]
    # Callers the kill cut, or who called while serve was down, went to the operator
    # (the dialplan's fallback); every caller after the restart was served.
    assert all(c.route == "operator" for c in callers if not c.served)
    assert all(c.served for c in callers[FIRST_WAVE:])
    # No journey lost: a served call's is stored before Asterisk is given the outcome (so
    # a call the kill cut between the two has one too, its outcome never delivered).
    stored = {j["call_id"] for j in found}
    assert {c.call_id for c in served} <= stored
    assert all(
        c.n < FIRST_WAVE and not c.served
        for c in callers
        if c.call_id in stored - {s.call_id for s in served}
    )

    assert judge(found, log, slack_s=5.0).wrong == []  # every journey, cut ones too
    # what the served callers did: a caller the kill cut after their journey was stored
    # may have reached billing too, but is not counted among the served
    served_ids = {c.call_id for c in served}
    verdict = judge([j for j in found if j["call_id"] in served_ids], log, slack_s=5.0)
    assert verdict.reached_billing == sum(1 for c in served if c.kind != "update")
    assert verdict.heard - verdict.offered >= 1  # heard the estimate, no offer
    assert verdict.accepted >= 1 and verdict.declined >= 1
    assert sum(verdict.overflowed.values()) >= 1
    for c in served:  # the overflowed left a message; the booked hung up; the rest queued
        assert c.record is not None
        assert c.record.outcome in ("voicemail", "hangup", "queue"), c.record.outcome
    queued = [c for c in served if c.record and c.record.outcome == "queue"]
    assert all(c.queued in ("talked", "abandoned") for c in queued)

    # A caller the kill cut while hearing "booked" has no journey; their callback is
    # stored and placed all the same. A request stored only after the budget (its caller
    # told no, left in the queue) is withdrawn, never placed.
    assert sum(1 for c in served if c.booked) == verdict.accepted
    assert checked.lost == [] and checked.stored == checked.booked
    assert checked.told_no_kept == [] and checked.withdrawn_placed == []
    assert checked.not_placed == [] and checked.placed_twice == []
    assert checked.placed_once == checked.to_place >= checked.booked
    assert checked.states == +Counter(
        {"connected": checked.to_place, "cancelled": len(checked.withdrawn)}
    )
    assert all(at >= flood_over for at in floor.dialled_at.values())
