"""The AMI simulator plays Asterisk's side exactly as the recorded transcripts show."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from callpop.pbx_sim.ami import AMIServer, read_transcript, transcript_events
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer

AMI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"
TIMESTAMP = re.compile(rb"\r\nTimestamp: [0-9.]+\r\n")


def frames(name: str) -> list[bytes]:
    return transcript_events(read_transcript(AMI_DIR / name))


def response_frame(name: str, first_line: bytes) -> bytes:
    """The first frame of a transcript that starts with `first_line`."""
    wire = read_transcript(AMI_DIR / name)
    wire = wire[wire.index(b"\r\n") + 2 :]  # the banner line
    for frame in wire.split(b"\r\n\r\n"):
        if frame.startswith(first_line):
            return frame + b"\r\n\r\n"
    raise AssertionError(f"{first_line!r} not in {name}")


def untimed(frame: bytes) -> bytes:
    return TIMESTAMP.sub(b"\r\nTimestamp: *\r\n", frame)


def alice_caller(
    exten: str, uid: str, linkedid: str, suffix: str, *, half: int = 2, priority: int = 3
) -> Snapshot:
    return Snapshot(
        channel=f"Local/{exten}@callpop-test-{suffix};{half}",
        uniqueid=uid,
        linkedid=linkedid,
        context="callpop-test",
        exten=exten,
        priority=priority,
        caller_num="+15551234567",
        caller_name="Alice Smith",
        connected_num="+15551234567",
        connected_name="Alice Smith",
    )


QUEUE_EVENTS = {
    "QueueCallerJoin",
    "AgentCalled",
    "DialBegin",
    "DialState",
    "DialEnd",
    "QueueCallerLeave",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
    "QueueCallerAbandon",
    "Hangup",
}


def recorded_call_events(name: str) -> list[bytes]:
    """The transcript's events of the kinds the generator writes, without the recording
    tool's own Originate (a DialBegin/DialEnd with no `Channel`)."""
    out = []
    for frame in frames(name):
        kind = frame.split(b"\r\n", 1)[0].removeprefix(b"Event: ").decode()
        if kind in QUEUE_EVENTS and b"\r\nChannel: " in frame:
            out.append(untimed(frame))
    return out


def test_a_generated_answered_queue_call_is_byte_identical_to_the_recording() -> None:
    caller = alice_caller("7500", "1795389698.9", "1795389698.8", "00000004")
    call = QueueCall(
        caller,
        "callpop-test-queue",
        "Local/8100@callpop-agents/n",
        "Agent Alice",
        Ids("1795389698", next_uid=10, next_suffix=5),
        Writer(),
        caller_peer=alice_caller(
            "7500", "1795389698.8", "1795389698.8", "00000004", half=1, priority=1
        ),
    )
    generated = (
        call.joined()
        + call.agent_called()
        + call.answered(hold_s=1, ring_s=1)
        + call.completed(hold_s=1, talk_s=4, reason="agent", agent_priority=6)
    )
    assert [untimed(f) for f in generated] == recorded_call_events("queue-call.txt")


def test_a_generated_unanswered_queue_call_matches_the_recording_in_order() -> None:
    caller = alice_caller("7501", "1795389591.21", "1795389591.20", "0000000a")
    call = QueueCall(
        caller,
        "callpop-noanswer-queue",
        "Local/8200@callpop-agents/n",
        "Agent Nobody",
        Ids("1795389591", next_uid=22, next_suffix=11),
        Writer(),
    )
    first = call.agent_called() + call.ring_no_answer(4000, agent_priority=3)
    # five seconds on, the unique ids carry the new epoch second; .23 went to the ;2 half
    call.ids.epoch, call.ids.next_uid = "1795389596", 24
    second = call.agent_called() + call.ring_no_answer(4000, peer_hangup=False)
    generated = call.joined() + first + second + call.abandoned(9, caller_hung_up=False)
    recorded = recorded_call_events("queue-noanswer.txt")
    assert [untimed(f) for f in generated] == recorded[: len(generated)]


def test_every_generated_event_has_a_timestamp_with_microseconds() -> None:
    caller = alice_caller("7500", "1.2", "1.1", "00000001")
    call = QueueCall(caller, "q", "PJSIP/101", "Bob", Ids("1", 3), Writer(clock=lambda: 12.5))
    for frame in call.joined() + call.agent_called():
        assert b"\r\nTimestamp: 12.500000\r\n" in frame


@pytest.fixture
async def sim() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="ami", secret="ami") as server:
        yield server


Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@pytest.fixture
async def connect(sim: AMIServer) -> AsyncIterator[Connect]:
    """Raw TCP connections to the simulator, read past the banner, closed at the end."""
    writers: list[asyncio.StreamWriter] = []

    async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(sim.host, sim.port)
        writers.append(writer)
        async with asyncio.timeout(5):
            assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
        return reader, writer

    yield open_one
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.readuntil(b"\r\n\r\n")


async def test_banner_and_login_are_answered_byte_for_byte_as_asterisk_does(
    connect: Connect,
) -> None:
    reader, writer = await connect()
    writer.write(
        b"Action: Login\r\nActionID: ami-1\r\nUsername: ami\r\nSecret: ami\r\nEvents: on\r\n\r\n"
    )
    assert await read_frame(reader) == response_frame("queue-call.txt", b"Response: Success")
    booted = await read_frame(reader)
    assert booted.startswith(b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: ")
    assert (await read_frame(reader)).startswith(b"Event: SuccessfulAuth\r\n")
    writer.write(b"Action: Logoff\r\nActionID: ami-7\r\n\r\n")
    assert await read_frame(reader) == response_frame(
        "queue-status-actions.txt", b"Response: Goodbye"
    )
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # then Asterisk closes


async def test_a_wrong_secret_is_refused_and_the_connection_closed(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: ami\r\nSecret: nope\r\n\r\n")
    assert await read_frame(reader) == (
        b"Response: Error\r\nActionID: 1\r\nMessage: Authentication failed\r\n\r\n"
    )
    async with asyncio.timeout(5):
        assert await reader.read() == b""


async def test_actions_before_login_are_denied_and_get_no_events(
    sim: AMIServer, connect: Connect
) -> None:
    reader, writer = await connect()
    writer.write(b"Action: Ping\r\nActionID: 9\r\n\r\n")
    assert await read_frame(reader) == (
        b"Response: Error\r\nActionID: 9\r\nMessage: Permission denied\r\n\r\n"
    )
    assert sim.listeners == 0


async def test_a_transcript_is_replayed_byte_for_byte(sim: AMIServer, connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"Action: Login\r\nUsername: ami\r\nSecret: ami\r\nEvents: off\r\n\r\n")
    assert await read_frame(reader) == (
        b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n"
    )
    assert sim.listeners == 0  # Events: off

    reader, writer = await connect()
    async with asyncio.timeout(5):
        writer.write(b"Action: Login\r\nUsername: ami\r\nSecret: ami\r\n\r\n")
        for _ in range(3):  # response, FullyBooted, SuccessfulAuth
            await read_frame(reader)
        recorded = frames("queue-call-channelvars.txt")
        sim.emit(recorded)
        received = await reader.readexactly(sum(len(f) for f in recorded))
    assert received == b"".join(recorded)
