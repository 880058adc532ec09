"""The classic AGI script's survey mode (`AGI(python,-m,callpop.agi_script,CONFIG,--survey)`,
the route's `survey` extension on a classic site): a process per call runs the same
survey engine and stores each answer in the site's SQLite database as `serve` does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.pbx_sim.fastagi import CallRecord, call_agi_script
from callpop.pbx_sim.script import CallerScript
from callpop.surveys import SurveyStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

from .harness import DIALPLAN

LINKEDID = "1795389902.6"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Path, AsyncEngine]]:
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///./callpop.db\ndialplan: {DIALPLAN}\n")
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    yield config, engine
    await engine.dispose()


async def survey_call(config: Path, keys: str) -> CallRecord:
    """The caller's channel after the agent hung up: what the IVR and app_queue left."""
    script = CallerScript.parse(
        keys,
        uniqueid="1795389902.7",
        linkedid=LINKEDID,
        answered=True,
        context="callpop-route",
        extension="survey",
        variables=(
            ("CALLPOP_CALL_ID", LINKEDID),
            ("CALLPOP_SURVEY", "main/after_call"),
            ("MEMBERINTERFACE", "Local/8100@callpop-agents/n"),
            ("MEMBERNAME", "Alice"),
            ("QUEUENAME", "billing"),
            ("QUEUESTATUS", "CONTINUE"),
        ),
    )
    argv = [sys.executable, "-m", "callpop.agi_script", str(config), "--survey"]
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(config.parent / "cache")}
    async with asyncio.timeout(60):
        record, status, stderr = await call_agi_script(
            argv, script, args=argv[1:], cwd="/", env=env
        )
    assert (status, stderr) == (0, b"")
    return record


async def test_the_classic_script_asks_the_survey_and_stores_each_answer(
    site: tuple[Path, AsyncEngine],
) -> None:
    config, engine = site
    record = await survey_call(config, "5 9 4 3")
    rows = await SurveyStore(engine).answers_of(LINKEDID)
    assert [(r["question"], r["position"], r["score"]) for r in rows] == [
        ("resolved", 1, 5),
        ("courtesy", 2, 4),
        ("recommend", 3, 3),
    ]
    assert {(r["queue"], r["interface"], r["member_name"]) for r in rows} == {
        ("billing", "Local/8100@callpop-agents/n", "Alice")
    }
    assert record.played.count("acme-survey-keys") == 1
    assert record.hung_up_by == "application"


async def test_a_caller_who_hangs_up_midway_keeps_the_answers_given(
    site: tuple[Path, AsyncEngine],
) -> None:
    config, engine = site
    record = await survey_call(config, "2 h")
    assert record.hung_up_by == "caller"
    rows = await SurveyStore(engine).answers_of(LINKEDID)
    assert [(r["question"], r["score"]) for r in rows] == [("resolved", 2)]
