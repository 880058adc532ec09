"""The wallboard shows today's post-call survey average per queue and per agent, read
from the shared database with the other outlook figures (Chromium)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.board_sources import StoreBoardSources
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.queue_store import QueueStateStore
from callpop.surveys import SurveyStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.survey import SurveyAnswer, SurveyLeg
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


@pytest.fixture
async def desk(tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Desk]:
    sources = StoreBoardSources(
        QueueStateStore(engine),
        CallbackStore(engine),
        FloodStore(engine),
        SurveyStore(engine),
        max_age_s=30,
    )
    async for item in make_desk(
        tmp_path, engine=engine, board_sources=sources, board_refresh_s=0.1
    ):
        yield item


async def answers(
    engine: AsyncEngine,
    call_id: str,
    queue: str,
    interface: str,
    *scores: int,
    at: datetime | None = None,
) -> None:
    store = SurveyStore(engine)
    leg = SurveyLeg(call_id, queue, interface, "")
    for position, score in enumerate(scores, start=1):
        answer = SurveyAnswer("main", "after_call", f"q{position}", position, score)
        await store.record(answer, leg, at=at or datetime.now(UTC))


async def todays_answers(engine: AsyncEngine) -> None:
    await answers(engine, "1795389902.6", "billing", "PJSIP/101", 5, 4, 5)  # alice
    await answers(engine, "1795389903.1", "billing", "PJSIP/102", 2, 3)  # bob
    await answers(engine, "1795389904.2", "sales", "PJSIP/101", 4)
    await answers(engine, "1795389905.3", "sales", "PJSIP/102", 1)
    # yesterday's answers are not today's average
    await answers(
        engine,
        "1795300000.1",
        "billing",
        "PJSIP/101",
        1,
        1,
        1,
        at=datetime.now(UTC) - timedelta(days=2),
    )


async def test_the_board_frame_carries_todays_survey_average_per_queue_and_agent(
    desk: Desk, engine: AsyncEngine
) -> None:
    await todays_answers(engine)
    async with await desk.logged_in("sue") as sue:
        board = await open_tab(sue, desk.url, view="wallboard")

        def told(frame: dict[str, Any]) -> bool:
            # the board reads every 0.1 s here: wait for the read after the last answer
            survey = frame["board"].get("survey") if frame["type"] == "wallboard" else None
            return survey is not None and survey["answers"] == 7

        frame = (await board.until(told))["board"]
    queues = {q["queue"]: q["survey"] for q in frame["queues"]}
    assert queues["billing"] == {"average": 3.8, "answers": 5}
    assert queues["sales"] == {"average": 2.5, "answers": 2}
    agents = {a["name"]: a["survey"] for a in frame["agents"]}
    assert agents["alice"] == {"average": 4.5, "answers": 4}
    assert agents["bob"] == {"average": 2.0, "answers": 3}
    assert agents["sue"] is None
    assert frame["survey"] == {"average": 3.43, "answers": 7}


async def test_the_board_page_shows_the_survey_figures(desk: Desk, engine: AsyncEngine) -> None:
    await todays_answers(engine)
    async with chromium() as browser:
        context, sue = await new_page(browser, "1366")
        await login(sue, desk.url, "sue", PASSWORD)
        billing = sue.locator('#queues tr[data-queue="billing"]')
        await expect(billing.locator(".survey")).to_have_text("3.8 (5)")
        await expect(sue.locator('#queues tr[data-queue="sales"] .survey')).to_have_text("2.5 (2)")
        alice = sue.locator(".agent-tile").filter(has_text="alice")
        await expect(alice.locator(".chip.survey")).to_have_text("★ 4.5 / 5 · 4")
        bob = sue.locator(".agent-tile").filter(has_text="bob")
        await expect(bob.locator(".chip.survey")).to_have_text("★ 2.0 / 5 · 3")
        await expect(sue.locator("#survey-summary")).to_have_text("survey today 3.4 / 5 · 7")
        await shot(sue, "wallboard-survey-1366")
        # a queue name from the caller's channel is text on the page, never markup
        await answers(engine, "1795389906.4", HOSTILE_QUEUE, "PJSIP/102", 3)
        hostile = sue.locator("#queues tbody tr").filter(has_text="onerror")
        await expect(hostile.locator(".survey")).to_have_text("3.0 (1)")
        assert await sue.locator("#queues img").count() == 0
        assert await sue.title() != "1"
        await context.close()
