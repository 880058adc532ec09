"""Callbacks through `callpop serve` (a real process, the AMI simulator on a socket):
stored requests are placed when an agent is free, and a serve killed (SIGKILL) while a
callback's call is up comes back, follows that call, and places it no second time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from callpop.callbacks.store import CallbackStore
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from crm_adapter.sql.engine import create_engine
from tests.callpop.test_restart import Serve
from tests.callpop.test_restart import serve as serve  # the fixture, with alice on PJSIP/101

ALICE = QueueMemberSpec("billing", "PJSIP/101", "Alice Agent")


@pytest.fixture
def calls() -> Originations:
    return Originations([ALICE])


@pytest.fixture
async def pbx(calls: Originations) -> AsyncIterator[AMIServer]:
    async with AMIServer(
        username="callpop", secret="pw", answers=[calls, QueueBoard([ALICE])]
    ) as s:
        yield s


async def rows(serve: Serve) -> dict[str, tuple[str, str]]:
    engine = create_engine(f"sqlite:///{serve.database}")
    try:
        return {cb.call_id: (cb.state, cb.result) for cb in await CallbackStore(engine).listing()}
    finally:
        await engine.dispose()


async def until_row(serve: Serve, call_id: str, state: str, result: str | None = None) -> None:
    async with asyncio.timeout(20):
        while True:
            found = (await rows(serve)).get(call_id)
            if found is not None and found[0] == state and result in (None, found[1]):
                return
            await asyncio.sleep(0.1)


async def test_a_serve_killed_during_a_callback_follows_it_after_the_restart(
    serve: Serve, pbx: AMIServer, calls: Originations
) -> None:
    engine = create_engine(f"sqlite:///{serve.database}")
    try:
        store = CallbackStore(engine)
        for n in (1, 2):
            await store.request(
                call_id=f"asked-{n}", queue="billing", number=f"555000{n}",
                caller_name="Carol", waited_s=300, at=datetime.now(UTC),
            )  # fmt: skip
    finally:
        await engine.dispose()
    await serve.start()
    await pbx.wait_action("Originate")
    first = calls.placed[0].channel_id
    await until_row(serve, "asked-1", "placing", "ringing-agent")
    pbx.emit(calls.agent_answers(first))
    await serve.kill()
    await serve.start()
    await pbx.wait_logins(2)
    pbx.emit(calls.customer_answers(first))
    await until_row(serve, "asked-1", "connected")
    assert len(calls.placed) == 1
    pbx.emit(calls.hang_up(first))
    await pbx.wait_action("Originate", 2)
    assert calls.numbers() == ["5550001", "5550002"]
    await until_row(serve, "asked-2", "placing", "ringing-agent")
