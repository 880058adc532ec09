"""The outbox: write-backs committed locally, delivered to the CRM exactly once, in call
order, through outages and crashes. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.outbox import Outbox
from crm_adapter.port import Interaction, InteractionUpdate
from crm_adapter.relay import OutboxRelay
from crm_adapter.rest.adapter import RestCrm
from crm_adapter.settings import OutboxSettings, RestSettings
from crm_adapter.sql.store import SqlStore
from tests.conftest import Database

from .crm_fake_server import FakeCrm, hubspot_settings

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SETTINGS = OutboxSettings(backoff_s=1, backoff_max_s=8, lease_s=30, poll_s=0.05, batch=50)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCrm, str]]:
    crm = FakeCrm()
    server = TestServer(crm.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield crm, str(server.make_url("")).rstrip("/")
    crm.release_slow()
    await server.close()


@pytest.fixture
async def rest(fake: tuple[FakeCrm, str]) -> AsyncIterator[RestCrm]:
    adapter = await RestCrm.open(RestSettings.model_validate(hubspot_settings(fake[1])))
    yield adapter
    await adapter.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(engine: AsyncEngine, clock: Clock) -> Outbox:
    return Outbox(engine, SETTINGS, clock=clock, random=lambda: 1.0)


@pytest.fixture
def relay(outbox: Outbox, rest: RestCrm) -> OutboxRelay:
    return OutboxRelay(outbox, rest.deliver)


@pytest.fixture
def store(engine: AsyncEngine, clock: Clock, relay: OutboxRelay) -> SqlStore:
    return SqlStore(
        engine,
        clock=clock,
        on_enqueue=relay.wake,
        outbox_operations={"log_interaction", "update_interaction"},
    )


async def _drain(relay: OutboxRelay, outbox: Outbox, clock: Clock, rounds: int = 12) -> None:
    """Run the relay round after round, jumping the clock past each backoff."""
    for _ in range(rounds):
        if (await outbox.backlog()).pending == 0:
            return
        await relay.run_once()
        clock.advance(SETTINGS.backoff_max_s)
    raise AssertionError(f"still pending after {rounds} rounds: {await outbox.backlog()}")


async def test_everything_is_delivered_exactly_once_after_the_crm_comes_back(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox, clock: Clock
) -> None:
    crm, _ = fake
    crm.calls_down = True
    for n in range(20):
        await store.log_interaction(Interaction(f"c{n}", started=T0, customer_id="101"))
    for n in range(0, 20, 2):
        await store.update_interaction(f"c{n}", InteractionUpdate(disposition="resolved"))
    for _ in range(3):  # the CRM stays down for a while
        await relay.run_once()
        clock.advance(SETTINGS.backoff_max_s)
    assert crm.applied == {}
    assert (await outbox.backlog()).pending == 30

    crm.calls_down = False
    await _drain(relay, outbox, clock)

    expected = {f"c{n}:1" for n in range(20)} | {f"c{n}:2" for n in range(0, 20, 2)}
    assert set(crm.applied) == expected
    assert set(crm.answered_ok.values()) == {1}
    assert len(crm.records) == 20


async def test_an_update_follows_its_log_and_names_the_crms_record(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox, clock: Clock
) -> None:
    crm, _ = fake
    await store.log_interaction(Interaction("c1", started=T0))
    await store.update_interaction("c1", InteractionUpdate(disposition="sale", notes="2 lines"))

    await _drain(relay, outbox, clock)

    assert crm.applied_order == ["c1:1", "c1:2"]
    assert crm.records["call-1"]["properties"]["disposition"] == "sale"
    assert [s.raw_path for s in crm.seen] == ["/calls", "/calls/call-1"]


async def test_retries_back_off_exponentially_up_to_the_cap(outbox: Outbox) -> None:
    assert [outbox.backoff(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


async def test_a_deferred_entry_waits_for_its_backoff(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox, clock: Clock
) -> None:
    crm, _ = fake
    crm.calls_unavailable = 1
    await store.log_interaction(Interaction("c1", started=T0))
    assert await relay.run_once() == 1

    assert await relay.run_once() == 0
    assert await outbox.next_due() == T0 + timedelta(seconds=1)
    clock.advance(1)
    assert await relay.run_once() == 1
    assert set(crm.applied) == {"c1:1"}


async def test_an_entry_the_crm_refuses_is_kept_as_failed_and_the_rest_go_on(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox, clock: Clock
) -> None:
    crm, _ = fake
    crm.calls_reject = True
    await store.log_interaction(Interaction("bad", started=T0))
    await relay.run_once()
    crm.calls_reject = False
    await store.log_interaction(Interaction("good", started=T0))
    # The refused log gave no CRM id, so its update cannot be addressed either.
    await store.update_interaction("bad", InteractionUpdate(disposition="x"))

    await _drain(relay, outbox, clock)

    backlog = await outbox.backlog()
    assert (backlog.pending, backlog.failed) == (0, 2)
    assert set(crm.applied) == {"good:1"}


async def test_the_backlog_reports_count_and_oldest(
    fake: tuple[FakeCrm, str], store: SqlStore, outbox: Outbox, clock: Clock
) -> None:
    await store.log_interaction(Interaction("c1", started=T0))
    clock.advance(5)
    await store.log_interaction(Interaction("c2", started=T0))

    backlog = await outbox.backlog()

    assert (backlog.pending, backlog.oldest, backlog.failed) == (2, T0, 0)
    assert backlog.oldest_age_s(clock.now) == 5


async def test_a_claimed_entry_is_left_alone_until_its_lease_runs_out(
    engine: AsyncEngine, store: SqlStore, outbox: Outbox, clock: Clock
) -> None:
    await store.log_interaction(Interaction("c1", started=T0))
    other = Outbox(engine, SETTINGS, clock=clock)

    assert [e.key for e in await outbox.claim()] == ["c1:1"]
    assert await other.claim() == []
    clock.advance(SETTINGS.lease_s)
    assert [e.key for e in await other.claim()] == ["c1:1"]


async def test_the_running_relay_delivers_as_soon_as_something_is_logged(
    fake: tuple[FakeCrm, str], engine: AsyncEngine, rest: RestCrm
) -> None:
    crm, _ = fake
    relay = OutboxRelay(Outbox(engine, OutboxSettings(poll_s=3600)), rest.deliver)
    store = SqlStore(engine, on_enqueue=relay.wake, outbox_operations={"log_interaction"})
    task = asyncio.create_task(relay.run())
    try:
        await store.log_interaction(Interaction("c1", started=T0))
        await crm.wait_for(lambda: "c1:1" in crm.applied)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- a crash ------------------------------------------------------------------------------

CHILD = Path(__file__).with_name("outbox_child.py")


async def _child(database: Database, crm_url: str, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        database.url,
        database.search_path or "-",
        crm_url,
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize("lost", ["request", "answer"])
async def test_after_a_sigkill_everything_is_delivered_exactly_once(
    fake: tuple[FakeCrm, str], engine: AsyncEngine, database: Database, lost: str
) -> None:
    crm, url = fake
    count = 6  # fewer than the relay's concurrency (8): all of them are in flight at the kill
    # The CRM holds every delivery: before applying it (the request is lost with the
    # process) or after (the CRM has it; the answer is lost).
    crm.calls_hang = "before" if lost == "request" else "after"
    first = await _child(database, url, count)
    try:
        assert first.stdout is not None
        assert await first.stdout.readline() == b"logged\n"
        await crm.wait_for(lambda: sum(s.raw_path == "/calls" for s in crm.seen) >= count)
    finally:
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL

    crm.calls_hang = None
    second = await _child(database, url, 0)
    try:
        # Every entry answered by the CRM: none was answered before the crash.
        await crm.wait_for(lambda: len(crm.answered_ok) == count)
        # Whatever the CRM applied before the crash, the resends carried the same keys.
        assert set(crm.answered_ok) == {f"call-{n}:1" for n in range(count)}
        assert sorted(r["call_id"] for r in crm.records.values()) == [
            f"call-{n}" for n in range(count)
        ]
    finally:
        second.kill()
        await second.wait()
    assert (await Outbox(engine).backlog()).failed == 0


# --- a refusing CRM, requeueing, and what the log says ---------------------------------------


async def test_a_401_is_kept_as_failed_with_the_crms_answer_and_requeued_in_call_order(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox, clock: Clock
) -> None:
    crm, _ = fake
    crm.calls_unauthorized = True  # the CRM's token was changed
    await store.log_interaction(Interaction("c1", started=T0, customer_id="101"))
    await store.update_interaction("c1", InteractionUpdate(disposition="sale"))
    await _drain(relay, outbox, clock)

    assert [(f.key, f.error) for f in await outbox.failures()] == [
        ("c1:2", "c1:2: the CRM gave no id for this call's log entry"),
        (
            "c1:1",
            'log_interaction: CRM refused with HTTP 401: {"message": "token expired\\u001b[2J"}',
        ),
    ]
    assert await outbox.requeue(failed=False) == 0  # refused ones stay refused without --failed

    crm.calls_unauthorized = False  # the operator put the new token in place
    assert await outbox.requeue(failed=True) == 2
    await _drain(relay, outbox, clock)

    assert crm.applied_order == ["c1:1", "c1:2"]  # same keys, log before its update
    backlog = await outbox.backlog()
    assert (backlog.pending, backlog.failed, backlog.delivered) == (0, 0, 2)


async def test_retry_makes_waiting_entries_due_before_their_backoff(
    fake: tuple[FakeCrm, str], store: SqlStore, relay: OutboxRelay, outbox: Outbox
) -> None:
    crm, _ = fake
    crm.calls_unavailable = 1
    await store.log_interaction(Interaction("c1", started=T0))
    await relay.run_once()
    assert await relay.run_once() == 0  # backing off

    assert await outbox.requeue(failed=False) == 1
    assert await relay.run_once() == 1
    assert set(crm.applied) == {"c1:1"}


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    fake: tuple[FakeCrm, str],
    store: SqlStore,
    relay: OutboxRelay,
    outbox: Outbox,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm, _ = fake
    crm.calls_down = True
    caplog.set_level(logging.INFO, logger="callpop.outbox")
    for n in range(20):
        await store.log_interaction(Interaction(f"c{n}", started=T0))
    for _ in range(4):  # 80 failed attempts
        await relay.run_once()
        clock.advance(SETTINGS.backoff_max_s)
    crm.calls_down = False
    await _drain(relay, outbox, clock)

    assert len(crm.applied) == 20
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0] == (
        "WARNING",
        "CRM write-backs failing: log_interaction: CRM answered HTTP 503;"
        " they are kept and retried with backoff",
    )
    assert lines[1][1].startswith("CRM write-backs going through again after ")
    assert lines[1][1].endswith("(80 attempts deferred meanwhile)")


async def test_a_refusing_crm_is_logged_once_not_per_entry(
    fake: tuple[FakeCrm, str],
    store: SqlStore,
    relay: OutboxRelay,
    outbox: Outbox,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm, _ = fake
    crm.calls_unauthorized = True
    caplog.set_level(logging.INFO, logger="callpop.outbox")
    for n in range(20):
        await store.log_interaction(Interaction(f"c{n}", started=T0))
    await _drain(relay, outbox, clock)
    crm.calls_unauthorized = False
    await store.log_interaction(Interaction("after", started=T0))
    await _drain(relay, outbox, clock)

    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            "ERROR",
            "CRM refusing write-backs: log_interaction: CRM refused with HTTP 401: "
            '{"message": "token expired\\u001b[2J"}; kept as failed (list them with '
            "`callpop crm outbox`, send them again with `callpop crm outbox retry --failed`)",
        ),
        (
            "WARNING",
            "CRM accepting write-backs again; 20 refused ones are kept as failed "
            "(`callpop crm outbox retry --failed`)",
        ),
    ]
