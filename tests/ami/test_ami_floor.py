"""The call-centre floor on the AMI simulator (callpop/pbx_sim/ami_floor.py), as a
manager client sees it over a socket: queued callers answered in turn or giving up,
callbacks' Originates answered by a free agent and refused by a busy one, and the state
queries answered from both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from callpop.ami.codec import Decoder, Message, encode_message
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_floor import Floor
from callpop.pbx_sim.ami_status import QueueMemberSpec

DANA = QueueMemberSpec("billing", "PJSIP/104", "Dana Agent")
ELI = QueueMemberSpec("billing", "PJSIP/105", "Eli Agent")


class Manager:
    """A manager session: actions out, every message in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = Decoder()
        self.seen: list[Message] = []

    def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(encode_message(list(headers)))

    async def until(self, done: Callable[[Message], bool]) -> list[Message]:
        """Messages read until one for which `done` holds (included)."""
        out: list[Message] = []
        async with asyncio.timeout(10):
            while True:
                item = self.decoder.next_event()
                if isinstance(item, Message):
                    out.append(item)
                    self.seen.append(item)
                    if done(item):
                        return out
                    continue
                self.decoder.receive_data(await self.reader.read(65536))


@pytest.fixture
async def floor() -> AsyncIterator[Floor]:
    talk = {"s": 3600.0}
    async with Floor(
        "billing", [DANA, ELI], talk_s=lambda: talk["s"], callback_talk_s=lambda: 3600.0,
        talk_time_s=300, ring_s=0.01,
    ) as f:  # fmt: skip
        yield f


@pytest.fixture
async def manager(floor: Floor) -> AsyncIterator[Manager]:
    async with AMIServer(username="callpop", secret="pw") as ami:
        floor.attach(ami)
        reader, writer = await asyncio.open_connection("127.0.0.1", ami.port)
        session = Manager(reader, writer)
        session.send(("Action", "Login"), ("Username", "callpop"), ("Secret", "pw"))
        await session.until(lambda m: m.event == "SuccessfulAuth")
        yield session
        writer.close()


def event(name: str, **fields: str) -> Callable[[Message], bool]:
    return lambda m: m.event == name and all(m.get(k) == v for k, v in fields.items())


async def test_a_queued_caller_is_answered_by_a_free_agent_and_the_talk_time_is_real(
    floor: Floor, manager: Manager
) -> None:
    entry = floor.join("1795300000.1", "+15559000001", patience_s=60)
    seen = await manager.until(event("AgentConnect"))
    assert [m.event for m in seen if m.event in ("QueueCallerJoin", "AgentCalled")] == [
        "QueueCallerJoin",
        "AgentCalled",
    ]
    assert seen[-1]["Linkedid"] == "1795300000.1" and seen[-1]["Interface"] == "PJSIP/104"
    await manager.until(event("QueueMemberStatus", Interface="PJSIP/104", Status="2"))
    floor.end_calls()
    done = await manager.until(event("AgentComplete"))
    assert done[-1]["TalkTime"] == "0"
    await manager.until(event("QueueMemberStatus", Interface="PJSIP/104", Status="1"))
    assert entry.ended == "talked" and floor.idle


async def test_a_caller_nobody_takes_in_time_gives_up(floor: Floor, manager: Manager) -> None:
    floor.join("1795300000.1", "+15559000001", patience_s=60)  # Dana
    floor.join("1795300000.2", "+15559000002", patience_s=60)  # Eli
    waiting = floor.join("1795300000.3", "+15559000003", patience_s=0.05)
    await manager.until(event("QueueCallerAbandon", Uniqueid="1795300000.3"))
    await manager.until(event("Hangup", Uniqueid="1795300000.3"))
    assert waiting.ended == "abandoned"


async def test_a_callback_rings_a_free_agent_and_a_busy_one_refuses(
    floor: Floor, manager: Manager
) -> None:
    floor.join("1795300000.1", "+15559000001", patience_s=60)  # Dana talks
    await manager.until(event("AgentConnect"))
    for attempt, agent in ((1, "PJSIP/104"), (2, "PJSIP/105")):
        manager.send(
            ("Action", "Originate"), ("ActionID", f"cb{attempt}"), ("Channel", agent),
            ("Context", "callpop-callback"), ("Exten", "+15551234567"), ("Priority", "1"),
            ("ChannelId", f"callback-7-{attempt}"), ("Async", "true"),
        )  # fmt: skip
        answer = await manager.until(event("OriginateResponse", Uniqueid=f"callback-7-{attempt}"))
        assert any(m.get("ActionID") == f"cb{attempt}" and m.event is None for m in answer)
        if attempt == 1:  # one line per phone: Dana is on a call
            assert (answer[-1]["Response"], answer[-1]["Reason"]) == ("Failure", "5")
        else:
            assert answer[-1]["Response"] == "Success"
    await manager.until(event("DialEnd", Uniqueid="callback-7-2", DialStatus="ANSWER"))
    assert floor.callbacks_placed() == {"7": 1} and floor.refused == {"7": 1}


async def test_the_channel_list_holds_the_queue_calls_and_the_callbacks(
    floor: Floor, manager: Manager
) -> None:
    floor.join("1795300000.1", "+15559000001", patience_s=60)  # Dana talks
    await manager.until(event("AgentConnect"))
    manager.send(
        ("Action", "Originate"), ("Channel", "PJSIP/105"), ("Context", "callpop-callback"),
        ("Exten", "+15551234567"), ("Priority", "1"), ("ChannelId", "callback-7-1"),
        ("Async", "true"),
    )  # fmt: skip
    await manager.until(event("DialEnd", Uniqueid="callback-7-1", DialStatus="ANSWER"))
    manager.send(("Action", "CoreShowChannels"), ("ActionID", "list"))
    listed = await manager.until(event("CoreShowChannelsComplete"))
    channels = [m for m in listed if m.event == "CoreShowChannel"]
    assert {m["Uniqueid"] for m in channels} >= {"1795300000.1", "callback-7-1"}
    assert listed[-1]["ListItems"] == str(len(channels))
    manager.send(("Action", "QueueStatus"), ("ActionID", "status"))
    status = await manager.until(event("QueueStatusComplete"))
    members = {m["Location"]: m["Status"] for m in status if m.event == "QueueMember"}
    assert members == {"PJSIP/104": "2", "PJSIP/105": "2"}  # on the queue call, the callback
