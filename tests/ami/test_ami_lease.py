"""The AMI lease over the machine's PostgreSQL: one holder at a time, taken over when
the holder's session dies, keyed per database schema and Asterisk."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from callpop.ami.lease import PgAdvisoryLease, lease_dsn
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres

DSN = lease_dsn(PG_URL)
# The bound the issue sets for a takeover after the holder dies.
TAKEOVER_BOUND_S = 10.0


def lease(pg_schema: str, label: str, instance: str, schema: str | None = None) -> PgAdvisoryLease:
    assert DSN is not None
    return PgAdvisoryLease(
        DSN,
        label,
        instance=instance,
        interval_s=0.2,
        server_settings={"search_path": schema or pg_schema},
    )


@pytest.fixture
def label() -> str:
    return f"pbx-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def leases(pg_schema: str, label: str) -> AsyncIterator[list[PgAdvisoryLease]]:
    # instance names of this test alone: the kill below goes by application_name
    made = [lease(pg_schema, label, f"{label}/{n}") for n in range(3)]
    yield made
    for held in made:
        await held.release()


async def acquired(contenders: list[PgAdvisoryLease], timeout_s: float) -> list[PgAdvisoryLease]:
    tasks = {asyncio.create_task(c.acquire()): c for c in contenders}
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [tasks[t] for t in done]


async def test_of_two_contenders_only_one_holds_the_lease(leases: list[PgAdvisoryLease]) -> None:
    winners = await acquired(leases[:2], timeout_s=2.0)
    assert len(winners) == 1
    assert sum(1 for held in leases[:2] if held.held) == 1


async def test_three_contenders_after_the_holder_releases_exactly_one_more_wins(
    leases: list[PgAdvisoryLease],
) -> None:
    [first] = await acquired(leases, timeout_s=2.0)
    await first.release()
    others = [held for held in leases if held is not first]
    winners = await acquired(others, timeout_s=3.0)
    assert len(winners) == 1


async def test_when_the_holders_session_is_killed_another_takes_the_lease_within_the_bound(
    leases: list[PgAdvisoryLease], caplog: pytest.LogCaptureFixture
) -> None:
    holder, standby = leases[0], leases[1]
    await holder.acquire()
    caplog.set_level(logging.INFO, logger="callpop.ami")
    taking = asyncio.create_task(standby.acquire())
    losing = asyncio.create_task(holder.until_lost())
    await asyncio.sleep(0.5)
    assert not taking.done()
    assert DSN is not None
    admin = await asyncpg.connect(DSN)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'callpop ' || $1",
            holder.instance,
        )
    finally:
        await admin.close()
    assert killed == 1
    async with asyncio.timeout(TAKEOVER_BOUND_S):
        await asyncio.gather(taking, losing)
    assert standby.held and not holder.held
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count(f"AMI {holder.label}: lease held by {holder.instance}; standing by") == 1
    assert f"AMI {holder.label}: lease taken over from {holder.instance}" in messages
    assert sum("lease lost" in m for m in messages) == 1


async def test_the_same_asterisk_in_another_schema_is_another_lease(
    pg_schema: str, label: str
) -> None:
    here = lease(pg_schema, label, "host-a/1")
    elsewhere = lease(pg_schema, label, "host-b/1", schema="public")
    try:
        assert len(await acquired([here, elsewhere], timeout_s=2.0)) == 2
    finally:
        await here.release()
        await elsewhere.release()


async def test_two_asterisks_have_leases_of_their_own(pg_schema: str, label: str) -> None:
    first = lease(pg_schema, label + "-1", "host-a/1")
    second = lease(pg_schema, label + "-2", "host-a/1")
    try:
        assert len(await acquired([first, second], timeout_s=2.0)) == 2
    finally:
        await first.release()
        await second.release()


async def test_a_database_that_is_away_is_logged_once_and_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = PgAdvisoryLease(
        "postgresql://postgres@127.0.0.1:1/test",
        "pbx",
        instance="a/1",
        interval_s=0.05,
        connect_timeout_s=0.5,
    )
    caplog.set_level(logging.INFO, logger="callpop.ami")
    task = asyncio.create_task(away.acquire())
    await asyncio.sleep(0.5)
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sum("cannot reach the database" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("database", "dsn"),
    [
        (
            "postgresql://u:p%40ss@db.example:5433/callpop",
            "postgresql://u:p%40ss@db.example:5433/callpop",
        ),
        ("postgres://u@db.example/callpop", "postgresql://u@db.example/callpop"),
        ("postgresql+asyncpg://u@db.example/callpop", "postgresql://u@db.example/callpop"),
        ("sqlite:///./callpop.db", None),
    ],
)
def test_every_postgresql_url_gets_a_lease_and_sqlite_none(database: str, dsn: str | None) -> None:
    assert lease_dsn(database) == dsn
