"""Queue state shared by every instance: the lease holder's listener folds AMI into it
and writes it; any instance's IVR reads it within the lookup budget (docs/contracts.md,
"Queue state across instances")."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.codec import Message
from callpop.ami.listener import AMIListener
from callpop.ami.queue_state import QueueState
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from callpop.queue_store import QueueRow, QueueStateReader, QueueStateStore, QueueStateWriter
from screenpop.bus import InProcessBus

from ..ami.scripted import queue_call


def state(queue: str = "billing", **fields: int | bool | None) -> QueueState:
    base = QueueState(queue, 0, 0, 1, 1, 0, 0, True, 0, False)
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


async def test_an_estimate_made_from_a_simulated_queue_reaches_another_instance(
    engine: AsyncEngine,
) -> None:
    # Two agents talking, four callers waiting, 300 s average talk time:
    # ceil((4 - 0 + 1) * 300 / 2) = 750 s (docs/dialplan.md).
    members = [
        QueueMemberSpec("sales", "PJSIP/101", "Bob Agent"),
        QueueMemberSpec("sales", "PJSIP/102", "Ann Agent"),
    ]
    board = QueueBoard(members, talk_time_s={"sales": 300})
    for n, interface in enumerate(("PJSIP/101", "PJSIP/102")):
        talking = dataclasses.replace(queue_call(f"t{n}", f"1800000000.{n}"), interface=interface)
        talking.joined(), talking.agent_called(), talking.answered()
        board.add(talking)
    for n in range(4):
        waiting = queue_call(f"w{n}", f"1800000001.{n}", Ids("1800000001", 100 + 10 * n))
        waiting.joined()
        board.add(waiting)
    writer = QueueStateWriter(QueueStateStore(engine), live=lambda: True)
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        listener = AMIListener(
            "127.0.0.1", sim.port, "callpop", "pw", InProcessBus().publish,
            observers=(writer.feed,), backoff_initial=0.01,
        )  # fmt: skip
        async with listener:
            async with asyncio.timeout(5):
                await listener.wait_resyncs(1)
    await writer.flush()
    other_instance = QueueStateReader(QueueStateStore(engine), budget_s=1.0, max_age_s=30)
    sales = (await other_instance.read(["sales"]))["sales"]
    assert sales["callers"] == 4
    assert (sales["logged_in"], sales["available"], sales["paused"]) == (2, 0, 0)
    assert sales["ewt_s"] == 750


async def test_the_writer_writes_only_what_changed(engine: AsyncEngine) -> None:
    writes: list[list[str]] = []

    class Counting(QueueStateStore):
        async def write(self, states: Sequence[QueueState]) -> None:  # type: ignore[override]
            states = list(states)
            writes.append([s.queue for s in states])
            await super().write(states)

    writer = QueueStateWriter(Counting(engine), live=lambda: True, clock=lambda: 100.0)
    for queue in ("billing", "sales"):
        writer.feed(Message([("Event", "QueueParams"), ("Queue", queue), ("TalkTime", "60")]))
    await writer.flush()
    await writer.flush()
    writer.feed(Message([("Event", "QueueCallerJoin"), ("Queue", "sales"), ("Uniqueid", "1")]))
    await writer.flush()
    assert writes == [["billing", "sales"], ["sales"]]


async def test_a_reader_answers_from_its_last_read_for_a_second_then_renews_it_unwaited(
    engine: AsyncEngine,
) -> None:
    store = QueueStateStore(engine)
    await store.write([state(ewt_s=100)])
    now = [0.0]
    reader = QueueStateReader(store, budget_s=1.0, max_age_s=30, monotonic=lambda: now[0])
    assert (await reader.read(["billing"]))["billing"]["ewt_s"] == 100
    await store.write([state(ewt_s=700)])
    now[0] = 0.5
    assert (await reader.read(["billing"]))["billing"]["ewt_s"] == 100
    now[0] = 1.0
    # Answered at once from the last read; a read renews it for the callers after.
    assert (await reader.read(["billing"]))["billing"]["ewt_s"] == 100
    for _ in range(500):
        if (await reader.read(["billing"]))["billing"]["ewt_s"] == 700:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the queue state was not read again")


class SlowStore(QueueStateStore):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.stalled = asyncio.Event()

    async def rows(self) -> dict[str, QueueRow]:
        found = await super().rows()
        await self.stalled.wait()
        return found


async def test_a_stalled_database_gives_the_last_state_within_the_budget_and_says_so_once(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store = SlowStore(engine)
    await store.write([state(ewt_s=100)])
    now = [0.0]
    reader = QueueStateReader(store, budget_s=0.05, max_age_s=30, monotonic=lambda: now[0])
    store.stalled.set()
    await reader.read(["billing"])
    store.stalled.clear()
    await store.write([state(ewt_s=900)])
    now[0] = 5.0
    with caplog.at_level(logging.WARNING, logger="callpop.queues"):
        for _ in range(3):
            async with asyncio.timeout(1):
                assert (await reader.read(["billing"]))["billing"]["ewt_s"] == 100
    assert len([r for r in caplog.records if "lookup budget" in r.getMessage()]) == 1
    store.stalled.set()
    await reader.close()


async def test_a_queue_nobody_wrote_is_absent(engine: AsyncEngine) -> None:
    reader = QueueStateReader(QueueStateStore(engine), budget_s=1.0, max_age_s=30)
    assert await reader.read(["billing"]) == {}


async def test_the_longest_wait_is_brought_forward_to_the_readers_time(
    engine: AsyncEngine,
) -> None:
    written = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    await QueueStateStore(engine, clock=lambda: written).write(
        [state(callers=2, longest_wait_s=30)]
    )
    later = QueueStateStore(engine, clock=lambda: written + timedelta(seconds=12))
    assert (await later.read())["billing"]["longest_wait_s"] == 42


T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


class Clocks:
    """The wall clock rows are stamped with and the writer's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


def queue_updates(engine: AsyncEngine) -> list[str]:
    """Every UPDATE of `queue_states` the engine sends from now on."""
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE QUEUE_STATES"):
            sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return sent


def two_staffed_queues() -> QueueBoard:
    return QueueBoard(
        [
            QueueMemberSpec("sales", "PJSIP/101", "Bob Agent"),
            QueueMemberSpec("billing", "PJSIP/102", "Ann Agent"),
        ]
    )


class LeaseHolder:
    """A lease holder's queue state writer and its AMI listener on the simulator: the
    writer vouches while the listener is logged in, as `serve` wires it."""

    def __init__(self, engine: AsyncEngine, clocks: Clocks, sim: AMIServer) -> None:
        self.store = QueueStateStore(engine, clock=clocks.wall)
        self.writer = QueueStateWriter(
            self.store, live=self.logged_in, refresh_s=5, monotonic=clocks.monotonic
        )
        self.listener = AMIListener(
            "127.0.0.1", sim.port, "callpop", "pw", InProcessBus().publish,
            observers=(self.writer.feed,), backoff_initial=0.01,
        )  # fmt: skip

    def logged_in(self) -> bool:
        return self.listener.client.connected

    async def start(self) -> None:
        """Logged in, resynced, the first snapshot written."""
        await self.listener.start()
        async with asyncio.timeout(5):
            await self.listener.wait_resyncs(1)
        await self.writer.flush()


async def test_while_connected_the_lease_holder_vouches_for_every_row_in_one_statement(
    engine: AsyncEngine,
) -> None:
    clocks = Clocks()
    async with AMIServer(username="callpop", secret="pw", answers=[two_staffed_queues()]) as sim:
        holder = LeaseHolder(engine, clocks, sim)
        await holder.start()
        try:
            assert holder.writer.writes == 1
            clocks.seconds = 2  # nothing changed, no refresh due yet: nothing sent
            updates = queue_updates(engine)
            await holder.writer.flush()
            assert updates == []
            clocks.seconds = 10  # nothing changed, a refresh due
            await holder.writer.flush()
            rows = await holder.store.rows()
        finally:
            await holder.listener.stop()
    assert len(updates) == 1  # one statement for every queue
    assert holder.writer.writes == 1  # nothing rewritten
    assert {q: r.seen_at for q, r in rows.items()} == {
        "billing": T0 + timedelta(seconds=10),
        "sales": T0 + timedelta(seconds=10),
    }


async def test_a_lease_holder_that_lost_asterisk_stops_vouching_and_says_so_once(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    clocks = Clocks()
    sim = AMIServer(username="callpop", secret="pw", answers=[two_staffed_queues()])
    await sim.start()
    holder = LeaseHolder(engine, clocks, sim)
    await holder.start()
    listener, writer, store = holder.listener, holder.writer, holder.store
    async with listener:
        await writer.flush()
        await sim.close()  # Asterisk goes down: the listener keeps trying to log in
        async with asyncio.timeout(5):
            while listener.client.connected:  # noqa: ASYNC110 (a property, no event to wait on)
                await asyncio.sleep(0.01)
        with caplog.at_level(logging.INFO, logger="callpop.queues"):
            for second in (10, 20, 40):
                clocks.seconds = second
                await writer.flush()
    rows = await store.rows()
    assert {r.seen_at for r in rows.values()} == {T0}  # aged since the last login
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if m.startswith("AMI not connected")]) == 1
    reader = QueueStateReader(store, budget_s=1.0, max_age_s=30, clock=clocks.wall)
    assert await reader.read(["billing", "sales"]) == {}  # 40 s old: unknown


async def test_a_row_past_the_max_age_is_unknown_and_logged_once_per_change(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    clocks = Clocks()
    store = QueueStateStore(engine, clock=clocks.wall)
    await store.write([state(full=True, ewt_s=3000)])
    reader = QueueStateReader(
        store, budget_s=1.0, max_age_s=30, clock=clocks.wall, monotonic=clocks.monotonic
    )
    with caplog.at_level(logging.INFO, logger="callpop.queues"):
        clocks.seconds = 30  # exactly the max age: still current
        assert (await reader.read(["billing"]))["billing"]["full"] is True
        for second in (31, 32, 33):  # three callers, one line
            clocks.seconds = second
            assert await reader.read(["billing"]) == {}
        await store.vouch(["billing"])  # AMI back: the lease holder vouches again
        for second in (34, 35):
            clocks.seconds = second
            assert (await reader.read(["billing"]))["billing"]["full"] is True
    said = [r.getMessage() for r in caplog.records]
    stale = [m for m in said if "reads as unknown" in m]
    assert len(stale) == 1 and "billing is 31 s old" in stale[0]
    assert len([m for m in said if "billing is current again" in m]) == 1


async def test_an_answer_kept_while_the_database_stalls_goes_stale_too(
    engine: AsyncEngine,
) -> None:
    clocks = Clocks()
    store = SlowStore(engine)
    await QueueStateStore(engine, clock=clocks.wall).write([state(full=True)])
    reader = QueueStateReader(
        store, budget_s=0.05, max_age_s=30, clock=clocks.wall, monotonic=clocks.monotonic
    )
    store.stalled.set()
    assert (await reader.read(["billing"]))["billing"]["full"] is True
    store.stalled.clear()
    clocks.seconds = 20  # the database is stuck: the last answer, still current
    assert (await reader.read(["billing"]))["billing"]["full"] is True
    clocks.seconds = 45  # still stuck, and that answer is past the max age: unknown
    async with asyncio.timeout(1):
        assert await reader.read(["billing"]) == {}
    store.stalled.set()
    await reader.close()
