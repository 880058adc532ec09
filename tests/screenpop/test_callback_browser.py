"""A callback callpop places pops at the agent it rings, in Chromium: the pop tells when
the caller asked and how long they had waited (docs/admin.md, "Callbacks"). The whole
path runs: the stored request, the placer over AMI (the simulator on a socket), the bus,
the hub, the agent's page."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import expect

from callpop.callbacks.store import CallbackStore
from callpop.config import CallbackSettings
from callpop.pbx_sim.ami import ActionAnswers, AMIServer
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from tests.callpop.callbacks_harness import placing
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, make_desk

ALICE = QueueMemberSpec("billing", "PJSIP/101", "Alice Agent")


async def test_a_placed_callback_pops_at_the_agent_with_when_it_was_asked_for(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    store = CallbackStore(engine)
    # asked at 10:42 (the browser's clock is UTC here) after 6 minutes in the queue: the
    # last 10:42 before now, since a request is placed no earlier than it was made
    now = datetime.now(UTC)
    asked = now.replace(hour=10, minute=42, second=5, microsecond=0)
    if asked > now:
        asked -= timedelta(days=1)
    await store.request(
        call_id="1763900000.7", queue="billing", number="+15557654321",
        caller_name="Carol Caller", waited_s=361, at=asked,
    )  # fmt: skip
    calls = Originations([ALICE])
    answers: list[ActionAnswers] = [calls, QueueBoard([ALICE])]
    try:
        async for desk in make_desk(tmp_path, engine=engine):
            async with AMIServer(username="callpop", secret="pw", answers=answers) as sim:
                async with chromium() as browser:
                    context, page = await new_page(browser)
                    await login(page, desk.url, "alice", PASSWORD)
                    async with placing(
                        sim, store, desk.bus.publish, settings=CallbackSettings(), name="desk"
                    ):
                        async with asyncio.timeout(30):  # a hang would hold CI up
                            (sent,) = await sim.wait_action("Originate")
                        await expect(page.locator("#pop-callback")).to_have_text(
                            re.compile(r"^Callback requested at 10:42( AM)? after 6 min in queue$")
                        )
                        await expect(page.locator("#pop-caller-number")).to_have_text(
                            "+15557654321"
                        )
                        await expect(page.locator("#pop-caller-name")).to_have_text("Carol Caller")
                        await shot(page, "callback-pop-1366")
                        sim.emit(calls.agent_answers(sent.get("ChannelId") or ""))
                        await expect(page.locator(".state-badge")).to_have_text("Live")
                    await context.close()
    finally:
        await engine.dispose()
