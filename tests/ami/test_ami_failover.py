"""Two instances' AMI listeners under one lease (PostgreSQL) and one simulated Asterisk:
one listens at a time; when the holder's lease session dies the other logs in, resyncs
and carries the next call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from callpop.ami.lease import PgAdvisoryLease, lease_dsn
from callpop.ami.listener import LeasedListener
from callpop.config import AmiSettings
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from screenpop.bus import InProcessBus
from tests.conftest import PG_URL

from .scripted import queue_call, take

pytestmark = pytest.mark.postgres

DSN = lease_dsn(PG_URL)
TAKEOVER_BOUND_S = 10.0


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[AMIServer, QueueBoard]]:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "Bob Agent")])
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        yield sim, board


async def test_one_instance_listens_and_the_other_takes_over_when_its_session_dies(
    pbx: tuple[AMIServer, QueueBoard], pg_schema: str
) -> None:
    sim, board = pbx
    settings = AmiSettings(
        host=sim.host,
        port=sim.port,
        secret="pw",
        name=f"pbx-{uuid.uuid4().hex[:8]}",
        lease_interval_s=0.2,
    )
    buses = {name: InProcessBus() for name in ("a", "b")}
    assert DSN is not None
    instances = {
        name: LeasedListener(
            settings,
            PgAdvisoryLease(
                DSN,
                settings.label,
                instance=f"{settings.label}/{name}",
                interval_s=0.2,
                server_settings={"search_path": pg_schema},
            ),
            bus.publish,
            backoff_initial=0.01,
            backoff_max=0.05,
        )
        for name, bus in buses.items()
    }
    most_listening = 0

    async def sample() -> None:  # how many instances are logged in, all along
        nonlocal most_listening
        while True:
            most_listening = max(most_listening, sim.listeners)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    ids = Ids("1800000000", 100)
    first, second = (
        queue_call("call-1", "1800000000.1", ids),
        queue_call("call-2", "1800000000.2", ids),
    )
    try:
        for instance in instances.values():
            await instance.start()
        async with asyncio.timeout(5):
            await sim.wait_logins(1)
        await asyncio.sleep(0.6)  # three lease intervals: the standby must not log in
        assert (sim.logins, sim.listeners) == (1, 1)
        holder = next(n for n, i in instances.items() if i.listener is not None)
        standby = "b" if holder == "a" else "a"

        # a call answered while the holder listens...
        board.add(first)
        async with buses[holder].subscribe(since_seq=0) as stream:
            sim.emit(first.joined() + first.agent_called() + first.answered())
            assert [e.type for e in await take(stream, timeout_s=TAKEOVER_BOUND_S, count=4)] == [
                "queue.joined",
                "agent.ringing",
                "queue.left",
                "agent.connected",
            ]

        # ...then the holder's lease session dies (its process would be gone)
        async with buses[standby].subscribe(since_seq=0) as stream:
            admin = await asyncpg.connect(DSN)
            try:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = $1",
                    f"callpop {settings.label}/{holder}",
                )
            finally:
                await admin.close()
            # the standby logs in and its resync gives the talking agent the live pop
            [connected] = await take(stream, timeout_s=TAKEOVER_BOUND_S, count=1)
            assert (connected.type, connected.call_id) == ("agent.connected", "call-1")
            assert instances[standby].listener is not None
            assert instances[holder].listener is None

            # and the next call pops through the new holder
            board.add(second)
            sim.emit(second.joined() + second.agent_called())
            _joined, ringing = await take(stream, timeout_s=TAKEOVER_BOUND_S, count=2)
        assert (ringing.type, ringing.call_id) == ("agent.ringing", "call-2")
        assert ringing.data["interface"] == "PJSIP/101"
        assert (sim.logins, most_listening) == (2, 1)
    finally:
        sampler.cancel()
        for instance in instances.values():
            await instance.stop()
