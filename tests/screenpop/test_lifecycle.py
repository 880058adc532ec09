"""The app's life: dialplan catalogs at start, agents added while serving, sockets
told GOING_AWAY at shutdown (they reconnect and replay, to this process or another)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.loader import LoadError
from screenpop.app import DEFAULT_DISPOSITIONS, load_catalogs
from screenpop.auth import Passwords
from tests.screenpop.conftest import CHEAP_HASHER, PASSWORD, Desk, make_desk
from tests.screenpop.wsclient import open_tab

SAMPLE = Path(__file__).resolve().parents[2] / "dialplan"


def test_the_sample_dialplan_gives_the_panel_its_codes_and_scripts() -> None:
    catalogs = load_catalogs(SAMPLE)
    assert "resolved" in catalogs.dispositions.dispositions
    assert catalogs.scripts is not None and catalogs.scripts.for_topic("billing") is not None
    assert catalogs.scripts.for_topic("no-such-topic") is not None  # the default script


def test_a_dialplan_without_dispositions_gets_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    catalogs = load_catalogs(tmp_path)
    assert catalogs.dispositions == DEFAULT_DISPOSITIONS and catalogs.scripts is None


def test_a_broken_dispositions_file_stops_the_start_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "dispositions.yaml").write_text(
        "dispositions:\n  ok: {label: Fine}\n  Bad Code: {}\n"
    )
    with pytest.raises(LoadError) as failure:
        load_catalogs(tmp_path)
    assert f"{tmp_path / 'dispositions.yaml'}:3:" in str(failure.value)


async def test_an_agent_added_while_serving_gets_pops_after_logging_in(desk: Desk) -> None:
    account = await desk.store.add_account(
        "zoe", "PJSIP/150", "agent", Passwords(CHEAP_HASHER).hash(PASSWORD)
    )
    desk.accounts["zoe"] = account
    async with await desk.logged_in("zoe") as zoe:
        tab = await open_tab(zoe, desk.url)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551233000")
        await desk.ring(call, "zoe")
        assert (await tab.until_type("pop.offered", call))["pop"]["interface"] == "PJSIP/150"


async def test_shutdown_tells_every_socket_going_away(tmp_path: Path) -> None:
    async for desk in make_desk(tmp_path):
        session = await desk.logged_in("alice")
        try:
            tab = await open_tab(session, desk.url)
            await tab.until_type("welcome")
            closing = asyncio.create_task(tab.closed())  # a browser reads all the time
            await desk.server.close()
            assert await closing == 1001
        finally:
            await session.close()
