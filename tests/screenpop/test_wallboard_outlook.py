"""The wallboard shows what the shared database says beside what the bus says: each
queue's estimated wait, its callbacks pending and the flood switch, read every few
seconds off the event path; a read that fails keeps the last values, logged once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.queue_state import QueueState
from callpop.board_sources import StoreBoardSources
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.queue_store import QueueStateStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.outlook import BoardOutlook, Flood
from tests.conftest import PG_URL
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk
from tests.screenpop.wsclient import open_tab

HOSTILE_QUEUE = '<img src=x onerror="document.title=1">'


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


def sources(engine: AsyncEngine) -> StoreBoardSources:
    return StoreBoardSources(
        QueueStateStore(engine), CallbackStore(engine), FloodStore(engine), max_age_s=30
    )


def written_ago(engine: AsyncEngine, age: timedelta) -> QueueStateStore:
    """The store as the AMI lease holder used it `age` ago, its last write or refresh
    before it lost Asterisk's manager interface."""
    return QueueStateStore(engine, clock=lambda: datetime.now(UTC) - age)


@pytest.fixture
async def desk(tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Desk]:
    async for item in make_desk(
        tmp_path, engine=engine, board_sources=sources(engine), board_refresh_s=0.1
    ):
        yield item


def queue(name: str, *, ewt_s: int | None, callers: int = 0) -> QueueState:
    return QueueState(
        queue=name,
        callers=callers,
        longest_wait_s=0,
        logged_in=2,
        available=0,
        paused=0,
        ewt_s=ewt_s,
        open=ewt_s is not None,
        max_callers=0,
        full=False,
    )


async def ask_callbacks(engine: AsyncEngine, queue_name: str, count: int) -> None:
    store = CallbackStore(engine)
    for n in range(count):
        await store.request(
            call_id=f"{queue_name}-{n}",
            queue=queue_name,
            number=f"+1555000{n:04d}",
            caller_name="",
            waited_s=60,
            at=datetime.now(UTC),
        )


async def test_the_board_frame_carries_each_queues_wait_its_callbacks_and_the_flood_switch(
    desk: Desk, engine: AsyncEngine
) -> None:
    await QueueStateStore(engine).write([queue("billing", ewt_s=240), queue("sales", ewt_s=None)])
    await ask_callbacks(engine, "billing", 3)
    await FloodStore(engine).set(True, "known-outage")
    async with await desk.logged_in("sue") as sue:
        board = await open_tab(sue, desk.url, view="wallboard")

        def told(frame: dict[str, Any]) -> bool:
            return frame["type"] == "wallboard" and bool(frame["board"]["flood"]["active"])

        frame = (await board.until(told))["board"]
    by_queue = {q["queue"]: q for q in frame["queues"]}
    assert frame["flood"] == {"active": True, "message": "known-outage"}
    assert {name: (q["ewt_s"], q["callbacks_pending"]) for name, q in by_queue.items()} == {
        "billing": (240, 3),
        "sales": (None, 0),
    }
    assert by_queue["billing"]["waiting"] == 0 and by_queue["billing"]["oldest_since"] is None
    assert by_queue["billing"]["state_seen_at"] is None  # current: not stale


async def test_a_queue_state_past_the_max_age_is_sent_as_stale_not_as_an_estimate(
    desk: Desk, engine: AsyncEngine
) -> None:
    await written_ago(engine, timedelta(minutes=2)).write([queue("billing", ewt_s=1500)])
    await QueueStateStore(engine).write([queue("sales", ewt_s=60)])
    async with await desk.logged_in("sue") as sue:
        board = await open_tab(sue, desk.url, view="wallboard")

        def both(frame: dict[str, Any]) -> bool:
            return frame["type"] == "wallboard" and len(frame["board"]["queues"]) == 2

        frame = (await board.until(both))["board"]
    by_queue = {q["queue"]: q for q in frame["queues"]}
    assert by_queue["billing"]["ewt_s"] is None
    seen = datetime.fromisoformat(by_queue["billing"]["state_seen_at"])
    assert timedelta(minutes=2) <= datetime.now(UTC) - seen < timedelta(minutes=3)
    assert (by_queue["sales"]["ewt_s"], by_queue["sales"]["state_seen_at"]) == (60, None)


async def test_a_queue_going_stale_and_current_again_is_logged_once_each_way(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await written_ago(engine, timedelta(seconds=45)).write([queue("billing", ewt_s=1500)])
    outlook = BoardOutlook(sources(engine))
    with caplog.at_level(logging.INFO, logger="screenpop.outlook"):
        for _ in range(3):
            await outlook.refresh()
        assert outlook.current.ewt_s == {"billing": None}
        assert set(outlook.current.stale_since) == {"billing"}
        await QueueStateStore(engine).vouch(["billing"])  # AMI back: the lease holder vouches
        for _ in range(3):
            await outlook.refresh()
    assert outlook.current.ewt_s == {"billing": 1500}
    assert outlook.current.stale_since == {}
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "billing not refreshed since" in m]) == 1
    assert len([m for m in said if "billing is current again" in m]) == 1


async def test_the_flood_switch_turned_off_reaches_an_open_board(
    desk: Desk, engine: AsyncEngine
) -> None:
    flood = FloodStore(engine)
    await flood.set(True, "known-outage")
    async with await desk.logged_in("sue") as sue:
        board = await open_tab(sue, desk.url, view="wallboard")
        await board.until(lambda f: f["type"] == "wallboard" and f["board"]["flood"]["active"])
        await flood.set(False)
        frame = await board.until(
            lambda f: f["type"] == "wallboard" and not f["board"]["flood"]["active"]
        )
    assert frame["board"]["flood"] == {"active": False, "message": ""}


async def test_a_failed_read_keeps_the_last_values_and_is_logged_once(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await ask_callbacks(engine, "billing", 2)
    await FloodStore(engine).set(True, "known-outage")
    outlook = BoardOutlook(sources(engine))
    assert await outlook.refresh()
    async with engine.begin() as conn:  # the database loses the table under the board
        await conn.execute(text("ALTER TABLE callbacks RENAME TO callbacks_away"))
    with caplog.at_level(logging.WARNING, logger="screenpop.outlook"):
        assert not await outlook.refresh()
        assert not await outlook.refresh()
    assert outlook.current.callbacks_pending == {"billing": 2}
    assert outlook.current.flood == Flood(True, "known-outage")
    warnings = [r for r in caplog.records if "callbacks pending not read" in r.getMessage()]
    assert len(warnings) == 1
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE callbacks_away RENAME TO callbacks"))
    with caplog.at_level(logging.INFO, logger="screenpop.outlook"):
        await outlook.refresh()
    assert any("callbacks pending read again" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
async def test_a_read_slower_than_the_budget_keeps_the_last_values_and_is_logged_once(
    pg_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(PG_URL, search_path=pg_schema)
    locker = create_engine(PG_URL, search_path=pg_schema)
    try:
        await FloodStore(engine).set(True, "known-outage")
        outlook = BoardOutlook(sources(engine), budget_s=0.3)
        assert await outlook.refresh()
        async with locker.connect() as conn, conn.begin():
            # another session holds the flood switch's table: its read waits on the lock
            await conn.execute(text("LOCK TABLE flood_mode IN ACCESS EXCLUSIVE MODE"))
            with caplog.at_level(logging.WARNING, logger="screenpop.outlook"):
                assert not await outlook.refresh()
                assert not await outlook.refresh()
        assert outlook.current.flood == Flood(True, "known-outage")
        slow = [r for r in caplog.records if "flood switch not read" in r.getMessage()]
        assert len(slow) == 1 and "slower than the budget" in slow[0].getMessage()
        await FloodStore(engine).set(False)
        assert await outlook.refresh()
        assert outlook.current.flood == Flood(False, "")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM flood_mode"))
        await engine.dispose()
        await locker.dispose()


async def test_the_board_page_shows_the_wait_the_callbacks_and_a_flood_banner(
    desk: Desk, engine: AsyncEngine
) -> None:
    await QueueStateStore(engine).write(
        [queue("billing", ewt_s=240, callers=1), queue(HOSTILE_QUEUE, ewt_s=30)]
    )
    await ask_callbacks(engine, "billing", 3)
    await FloodStore(engine).set(True, "known-outage")
    waiting = desk.next_call_id()
    await desk.ivr(waiting, number="+15551230500", queue="billing")
    async with chromium() as browser:
        context, sue = await new_page(browser, "1366")
        await login(sue, desk.url, "sue", PASSWORD)
        banner = sue.locator("#flood")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("FLOOD")
        await expect(banner).to_contain_text("known-outage")
        billing = sue.locator('#queues tr[data-queue="billing"]')
        await expect(billing.locator(".ewt")).to_have_text("EWT 4 min")
        await expect(billing.locator(".callbacks")).to_have_text("3 callbacks")
        hostile = sue.locator("#queues tbody tr").filter(has_text="onerror")
        await expect(hostile).to_contain_text(HOSTILE_QUEUE)
        await expect(hostile.locator(".ewt")).to_have_text("EWT < 1 min")
        assert await sue.locator("#queues img").count() == 0
        assert await sue.title() != "1"
        await shot(sue, "wallboard-flood-1366")
        await FloodStore(engine).set(False)
        await expect(banner).to_be_hidden()
        await context.close()


async def test_the_board_page_marks_a_stale_queue_instead_of_showing_its_old_estimate(
    desk: Desk, engine: AsyncEngine
) -> None:
    # AMI lost two minutes ago, while billing was full: its 25 min estimate is history
    await written_ago(engine, timedelta(minutes=2, seconds=5)).write(
        [queue("billing", ewt_s=1500, callers=1)]
    )
    await QueueStateStore(engine).write([queue("sales", ewt_s=240)])
    waiting = desk.next_call_id()
    await desk.ivr(waiting, number="+15551230500", queue="billing")
    async with chromium() as browser:
        context, sue = await new_page(browser, "1366")
        await login(sue, desk.url, "sue", PASSWORD)
        billing = sue.locator('#queues tr[data-queue="billing"]')
        await expect(billing.locator(".ewt")).to_have_text(
            "queue state 2 min old — AMI not connected"
        )
        await expect(billing).to_have_class("stale")
        await expect(billing.locator(".ewt")).not_to_contain_text("EWT")
        sales = sue.locator('#queues tr[data-queue="sales"]')
        await expect(sales.locator(".ewt")).to_have_text("EWT 4 min")
        await expect(sales).not_to_have_class("stale")
        await shot(sue, "wallboard-stale-queue-1366")
        await context.close()
