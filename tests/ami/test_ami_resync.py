"""Resync on login: the simulator answers QueueStatus / CoreShowChannels as the real
Asterisk did (queue-status-actions.txt) or from the scripted calls live now, and the
listener turns what they describe into the call events a listener present all along
would have published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callpop.ami.codec import Decoder, Message, Signal, encode_action
from callpop.ami.listener import AMIListener, LiveCalls
from callpop.ami.queue_state import QueueStates
from callpop.ami.resync import resync_events
from callpop.pbx_sim.ami import AMIServer, read_transcript
from callpop.pbx_sim.ami_events import QueueCall
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec, RecordedAnswers
from screenpop.bus import BusEvent, InProcessBus

from .scripted import queue_call, take

RECORDING = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "asterisk"
    / "ami"
    / "queue-status-actions.txt"
)


def recorded_answer(action_id: str) -> bytes:
    """The bytes the real Asterisk sent for `action_id`, cut out of the recording by
    position: from its response to the list's Complete event."""
    wire = read_transcript(RECORDING)
    start = wire.index(f"Response: Success\r\nActionID: {action_id}\r\n".encode())
    end = wire.index(
        b"ListItems: ", wire.index(f"ActionID: {action_id}\r\nEventList: Complete".encode(), start)
    )
    return wire[start : wire.index(b"\r\n\r\n", end) + 4]


async def ask(port: int, action: str, action_id: str, *fields: tuple[str, str]) -> bytes:
    """Log in over a raw socket, send one list action, return its answer's bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder, raw = Decoder(), b""
    writer.write(
        encode_action(
            "Login", "l-1", [("Username", "callpop"), ("Secret", "pw"), ("Events", "off")]
        )
    )
    writer.write(encode_action(action, action_id, list(fields)))
    try:
        async with asyncio.timeout(5):
            while b"EventList: Complete" not in raw:
                data = await reader.read(65536)
                raw += data
                decoder.receive_data(data)
    finally:
        writer.close()
    return raw[raw.index(b"Response: Success\r\nActionID: " + action_id.encode()) :]


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus()


def listener_of(sim: AMIServer, bus: InProcessBus, **options: Any) -> AMIListener:
    """A listener of `sim`'s Asterisk, publishing on `bus`, reconnecting at once."""
    return AMIListener(
        "127.0.0.1",
        sim.port,
        "callpop",
        "pw",
        bus.publish,
        backoff_initial=0.01,
        backoff_max=0.05,
        **options,
    )


async def resynced(listener: AMIListener) -> AMIListener:
    """`listener` started, logged in and through its first resync."""
    await listener.start()
    async with asyncio.timeout(5):
        await listener.wait_resyncs(1)
    return listener


async def listening(sim: AMIServer, bus: InProcessBus) -> AMIListener:
    return await resynced(listener_of(sim, bus))


@pytest.fixture
async def recorded_sim() -> AsyncIterator[AMIServer]:
    answers = RecordedAnswers.from_transcript(RECORDING)
    async with AMIServer(username="callpop", secret="pw", answers=[answers]) as server:
        yield server


@pytest.mark.parametrize(
    ("action", "recorded_id", "fields"),
    [
        ("QueueStatus", "ami-3", ()),
        ("QueueStatus", "ami-4", (("Queue", "callpop-noanswer-queue"),)),
        ("QueueSummary", "ami-5", ()),
        ("CoreShowChannels", "ami-6", ()),
    ],
)
async def test_the_simulator_answers_state_queries_byte_for_byte_as_recorded(
    recorded_sim: AMIServer, action: str, recorded_id: str, fields: tuple[tuple[str, str], ...]
) -> None:
    answer = await ask(recorded_sim.port, action, "x-9", *fields)
    expected = recorded_answer(recorded_id).replace(
        f"ActionID: {recorded_id}\r\n".encode(), b"ActionID: x-9\r\n"
    )
    assert answer == expected


async def test_a_listener_logging_in_mid_call_publishes_the_waiting_caller_and_the_ringing_agent(
    recorded_sim: AMIServer, bus: InProcessBus
) -> None:
    async with bus.subscribe(since_seq=0) as stream:
        listener = await listening(recorded_sim, bus)
        try:
            joined, ringing = await take(stream, 2)
        finally:
            await listener.stop()
    assert (joined.type, joined.call_id) == ("queue.joined", "call-77")
    assert joined.data["queue"] == "callpop-noanswer-queue"
    assert (ringing.type, ringing.call_id) == ("agent.ringing", "call-77")
    assert dict(ringing.data) == {
        "queue": "callpop-noanswer-queue",
        "interface": "Local/8200@callpop-agents/n",
        "member_name": "Agent Nobody",
    }
    assert listener.resyncs == 1


async def test_a_call_connected_while_nobody_listened_gets_its_live_pop_and_completes(
    bus: InProcessBus,
) -> None:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "Bob Agent")])
    call = queue_call("call-9", "1800000000.7")
    board.add(call)
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        call.joined(), call.agent_called(), call.answered()  # nobody listening
        async with bus.subscribe(since_seq=0) as stream:
            listener = await listening(sim, bus)
            try:
                [connected] = await take(stream, 1)
                sim.emit(call.completed())
                completed, hungup = await take(stream, 2)
            finally:
                await listener.stop()
    assert (connected.type, connected.call_id) == ("agent.connected", "call-9")
    assert connected.data["interface"] == "PJSIP/101"
    assert (completed.type, hungup.type) == ("agent.completed", "call.hungup")


async def test_a_reconnect_resync_publishes_nothing_that_was_already_published(
    bus: InProcessBus,
) -> None:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "Bob Agent")])
    call = queue_call("call-9", "1800000000.7")
    board.add(call)
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        async with bus.subscribe(since_seq=0) as stream:
            listener = await listening(sim, bus)
            try:
                sim.emit(call.joined() + call.agent_called())
                assert [e.type for e in await take(stream, 2)] == ["queue.joined", "agent.ringing"]
                sim.drop()
                async with asyncio.timeout(5):
                    await sim.wait_logins(2)
                    await listener.wait_resyncs(2)
                sim.emit(call.answered())
                events = await take(stream, 2)
            finally:
                await listener.stop()
    assert [e.type for e in events] == ["queue.left", "agent.connected"]


def test_a_ringing_leg_of_no_member_of_the_callers_queue_is_not_taken_for_an_agent() -> None:
    wire = read_transcript(RECORDING)
    decoder = Decoder()
    decoder.receive_data(wire)
    messages: list[Message] = []
    while (item := decoder.next_event()) is not Signal.NEED_DATA:
        if isinstance(item, Message):
            messages.append(item)
    status = [m for m in messages if m.action_id == "ami-3"]
    channels = [m for m in messages if m.action_id == "ami-6"]
    members_elsewhere = [m for m in status if m.get("Name") != "Agent Nobody"]
    events = resync_events(members_elsewhere, channels)
    assert [m.event for m in events] == ["QueueCallerJoin"]


async def first_login(
    sim: AMIServer, bus: InProcessBus, live_calls: LiveCalls, *, count: int
) -> tuple[AMIListener, list[BusEvent]]:
    """A listener of `sim`'s Asterisk labelled `pbx-east`, through its first resync, and
    the first `count` events it published."""
    listener = listener_of(sim, bus, pbx="pbx-east", live_calls=live_calls)
    async with bus.subscribe(since_seq=0) as stream:
        try:
            await resynced(listener)
            return listener, await take(stream, count)
        finally:
            await listener.stop()


async def test_a_login_ends_the_calls_held_live_that_the_recorded_asterisk_no_longer_lists(
    recorded_sim: AMIServer, bus: InProcessBus
) -> None:
    asked: list[str] = []

    async def held_live(pbx: str) -> set[str]:
        asked.append(pbx)
        # call-77 rings in the recording; call-gone hung up while nobody listened
        return {"call-77", "call-gone"}

    listener, events = await first_login(recorded_sim, bus, held_live, count=3)
    assert asked == ["pbx-east"]
    assert [(e.type, e.call_id) for e in events] == [
        ("queue.joined", "call-77"),
        ("agent.ringing", "call-77"),
        ("call.hungup", "call-gone"),
    ]
    assert all(e.data["pbx"] == "pbx-east" for e in events)
    assert listener.ended_at_resync == 1


async def test_a_login_ends_nothing_when_the_calls_held_live_cannot_be_read(
    recorded_sim: AMIServer, bus: InProcessBus
) -> None:
    async def unreadable(pbx: str) -> set[str]:
        raise ConnectionRefusedError("the database is down")

    listener, events = await first_login(recorded_sim, bus, unreadable, count=2)
    assert [e.type for e in events] == ["queue.joined", "agent.ringing"]
    assert listener.ended_at_resync == 0


async def _first_resync(
    sim: AMIServer, bus: InProcessBus, states: QueueStates, live_calls: LiveCalls | None = None
) -> None:
    """A listener logs in to `sim`, feeding `states`, and stops once it has resynced."""
    listener = listener_of(
        sim, bus, live_calls=live_calls, observers=(lambda m: states.feed(m, 0.0),)
    )
    try:
        await resynced(listener)
    finally:
        await listener.stop()


class JoinWhileChannelsAreAsked:
    """Answers nothing itself: when the listener asks `CoreShowChannels` (after its
    `QueueStatus` was answered), a caller joins the queue first, as one may on a live
    Asterisk between the two answers."""

    def __init__(self, sim: AMIServer, board: QueueBoard, call: QueueCall) -> None:
        self.sim, self.board, self.call = sim, board, call

    def answer(self, action: Message) -> bytes | None:
        if (
            action.action or ""
        ).lower() == "coreshowchannels" and self.call not in self.board.calls:
            self.board.add(self.call)
            self.sim.emit(self.call.joined())
        return None


async def test_a_caller_who_joins_between_the_resyncs_two_answers_stays_in_the_queue_state(
    bus: InProcessBus,
) -> None:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "Bob Agent")])
    states = QueueStates()
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        sim.answers.insert(0, JoinWhileChannelsAreAsked(sim, board, queue_call("c-1", "1800.1")))
        await _first_resync(sim, bus, states)
    # the older QueueStatus snapshot (nobody waiting) must not wipe out the newer join
    assert states.snapshot(0.0)["sales"].callers == 1


class JoinRightAfterTheQueueStatusAnswer:
    """Answers `QueueStatus` from the board as it is (nobody waiting), and a caller joins
    right behind the answer, in the same write: the listener reads the join before its
    resync has taken the answer in, as it may under load on a live Asterisk."""

    def __init__(self, board: QueueBoard, call: QueueCall) -> None:
        self.board, self.call = board, call

    def answer(self, action: Message) -> bytes | None:
        if (action.action or "").lower() != "queuestatus" or self.call in self.board.calls:
            return None
        listing = self.board.answer(action)
        assert listing is not None
        self.board.add(self.call)
        return listing + b"".join(self.call.joined())


async def test_a_caller_who_joins_right_behind_the_queuestatus_answer_stays_in_the_queue_state(
    bus: InProcessBus,
) -> None:
    board = QueueBoard([QueueMemberSpec("sales", "PJSIP/101", "Bob Agent")])
    states = QueueStates()
    async with AMIServer(username="callpop", secret="pw", answers=[board]) as sim:
        sim.answers.insert(
            0, JoinRightAfterTheQueueStatusAnswer(board, queue_call("c-1", "1800.1"))
        )
        await _first_resync(sim, bus, states)
    # the snapshot is older than the join read after it: it must not wipe the caller out
    assert states.snapshot(0.0)["sales"].callers == 1


DENIED = RECORDING.with_name("coreshowchannels-permission-denied.txt")


async def test_a_user_refused_the_channel_list_resyncs_the_queues_ends_nothing_and_says_why(
    bus: InProcessBus, caplog: pytest.LogCaptureFixture
) -> None:
    # Asterisk's answer to a user whose manager.conf `write` lacks `reporting`, as recorded
    refusal = RecordedAnswers.from_transcript(DENIED, names=("CoreShowChannels",))
    status = RecordedAnswers.from_transcript(RECORDING, names=("QueueStatus",))
    queues = QueueStates()

    async def held_live(pbx: str) -> set[str]:
        return {"call-77", "call-gone"}

    async with AMIServer(username="callpop", secret="pw", answers=[refusal, status]) as sim:
        await _first_resync(sim, bus, queues, held_live)
    assert queues.snapshot(0.0)["callpop-noanswer-queue"].callers == 1
    # the members as listed, and no call: none ended, none made up
    assert {e.type for e in await bus.replay(0)} == {"agent.status"}
    [advice] = [r.getMessage() for r in caplog.records if "CoreShowChannels" in r.getMessage()]
    assert "Permission denied" in advice
    assert "write = reporting" in advice
