"""Every AMI action the panel sends, checked against the wire exchanges of
tests/fixtures/asterisk/ami/controls/: the same headers in the same order with an
ActionID, Asterisk's response (ActionID echoed second) and the events after it, and
what the agent is told. The transfer simulator must answer and report as the files do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Decoder, Message
from callpop.ami.controls import AmiControls, ControlRefused
from callpop.pbx_sim.ami import AMIServer, read_transcript
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from callpop.pbx_sim.ami_transfers import Transfers

CONTROLS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami" / "controls"

# Originate's arguments as Asterisk 22's AMI documentation lists them.
ORIGINATE_FIELDS = {
    "Channel",
    "Exten",
    "Context",
    "Priority",
    "Application",
    "Data",
    "Timeout",
    "CallerID",
    "Variable",
    "Account",
    "EarlyMedia",
    "Async",
    "Codecs",
    "ChannelId",
    "OtherChannelId",
    "PreDialGoSub",
}


def exchange(name: str) -> tuple[Message, Message, list[Message], list[bytes]]:
    """(action, response, events, each event's exact bytes) of a fixture."""
    wire = read_transcript(CONTROLS / name)
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(wire)
    messages = [m for m in decoder if isinstance(m, Message)]
    frames = [f + b"\r\n\r\n" for f in wire.split(b"\r\n\r\n") if f.startswith(b"Event: ")]
    action, response, *events = messages
    return action, response, events, frames


def without_action_id(message: Message) -> list[tuple[str, str]]:
    return [(k, v) for k, v in message.headers if k != "ActionID"]


async def _ignore(msg: Message) -> None:
    return None


Control = Callable[[AmiControls, Message], Awaitable[None]]


async def blind(controls: AmiControls, action: Message) -> None:
    await controls.transfer(
        channel=action["Channel"],
        caller_channel="",
        exten=action["Exten"],
        context=action["Context"],
        attended=False,
        what="transferring the call",
    )


async def attended(controls: AmiControls, action: Message) -> None:
    await controls.transfer(
        channel=action["Channel"],
        caller_channel="",
        exten=action["Exten"],
        context=action["Context"],
        attended=True,
        what="transferring the call",
    )


async def redirect(controls: AmiControls, action: Message) -> None:
    await controls.transfer(
        channel="",
        caller_channel=action["Channel"],
        exten=action["Exten"],
        context=action["Context"],
        attended=False,
        what="transferring the call",
    )


async def pause(controls: AmiControls, action: Message) -> None:
    await controls.pause(
        interface=action["Interface"],
        paused=action["Paused"] == "true",
        reason=action.get("Reason") or "",
    )


CASES: dict[str, Control] = {
    "blindtransfer.txt": blind,
    "blindtransfer-no-such-channel.txt": blind,
    "blindtransfer-permission-denied.txt": blind,
    "atxfer.txt": attended,
    "redirect.txt": redirect,
    "redirect-no-such-channel.txt": redirect,
    "queuepause.txt": pause,
    "queuepause-not-a-member.txt": pause,
}


def test_every_fixture_of_the_folder_is_checked() -> None:
    files = {p.name for p in CONTROLS.glob("*.txt")}
    assert files == {*CASES, "originate.txt"}


@pytest.mark.parametrize("name", sorted({*CASES, "originate.txt"}))
def test_asterisk_answers_with_response_first_and_the_action_id_second(name: str) -> None:
    action, response, events, _ = exchange(name)
    assert action.action is not None and action.action_id
    assert response.headers[0][0] == "Response" and response.response in ("Success", "Error")
    assert response.headers[1] == ("ActionID", action.action_id)
    assert all(e.event for e in events)


async def replaying(name: str) -> tuple[AMIServer, Message]:
    """A simulator answering the fixture's action with its response, then its events."""
    action, response, _, frames = exchange(name)
    server = AMIServer()

    def answer(sent: Message) -> list[list[tuple[str, str]]]:
        asyncio.get_running_loop().call_soon(server.emit, frames)
        return [without_action_id(response)]

    server.responders[action.action or ""] = answer
    return server, response


class Heard:
    """The events the client received after its login, and a way to wait for them."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._changed = asyncio.Condition()

    async def add(self, msg: Message) -> None:
        if msg.event in ("FullyBooted", "SuccessfulAuth"):
            return
        async with self._changed:
            self.events.append(msg)
            self._changed.notify_all()

    async def wait(self, count: int) -> list[Message]:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: len(self.events) >= count)
        return self.events


@pytest.fixture
def heard() -> Heard:
    return Heard()


@contextlib.asynccontextmanager
async def connected(server: AMIServer, heard: Heard) -> AsyncIterator[AMIClient]:
    client = AMIClient(server.host, server.port, "callpop", "callpop", on_event=heard.add)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        await client.wait_connected()
    try:
        yield client
    finally:
        await client.close()
        async with asyncio.timeout(5):
            await task


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_panels_action_is_the_fixtures_and_the_agent_gets_its_answer(
    name: str, heard: Heard
) -> None:
    action, response, events, _ = exchange(name)
    server, _ = await replaying(name)
    async with server:
        async with connected(server, heard) as client:
            controls = AmiControls(lambda: client)
            control = CASES[name]
            if response.response == "Success":
                await control(controls, action)
            else:
                with pytest.raises(ControlRefused) as refused:
                    await control(controls, action)
                assert str(refused.value).endswith(f"refused by Asterisk: {response['Message']}")
            (sent,) = await server.wait_action(action.action or "")
            assert sent.action_id and sent.action_id.startswith("callpop-")
            assert [k for k, _ in sent.headers] == [k for k, _ in action.headers]
            assert without_action_id(sent) == without_action_id(action)
            got = await heard.wait(len(events))
            assert [m.headers for m in got] == [e.headers for e in events]


async def test_click_to_dial_sends_only_documented_originate_fields_and_gets_the_recorded_answer(
    heard: Heard,
) -> None:
    _, response, events, _ = exchange("originate.txt")
    server, _ = await replaying("originate.txt")
    async with server:
        async with connected(server, heard) as client:
            action_id = await AmiControls(lambda: client).originate(
                interface="PJSIP/101", number="+15557654321"
            )
            (sent,) = await server.wait_action("Originate")
            assert sent.action_id == action_id
            assert {k for k, _ in sent.headers} - {"Action", "ActionID"} <= ORIGINATE_FIELDS
            assert response["Message"] == "Originate successfully queued"
            assert events[0].event == "OriginateResponse"


def _queue_call(ids: Ids) -> QueueCall:
    caller = Snapshot(
        channel="PJSIP/trunk-00000001",
        uniqueid=ids.uniqueid(),
        linkedid="1795410000.1",
        context="callpop-route",
        exten="queue",
        priority=3,
        caller_num="+15551234567",
        caller_name="Jane Caller",
        variables=(("CALLPOP_CALL_ID", "1795410000.1"),),
    )
    ids.next_suffix = 2
    call = QueueCall(caller, "billing", "PJSIP/101", "alice", ids, Writer(clock=None))
    call.joined()
    call.agent_called()
    call.answered()
    return call


def _shape(message: Message) -> list[str]:
    return [k for k, _ in message.headers if k not in ("Timestamp", "ActionID")]


@pytest.mark.parametrize("name", ["blindtransfer.txt", "redirect.txt"])
async def test_the_transfer_simulator_answers_and_reports_as_the_fixture(
    name: str, heard: Heard
) -> None:
    action, response, events, _ = exchange(name)
    async with AMIServer() as server:
        transfers = Transfers(
            server, lambda exten, context: "PJSIP/102" if exten == "102" else None
        )
        transfers.add(_queue_call(Ids("1795410000", 1)))
        async with connected(server, heard) as client:
            answer = await client.action(action.action or "", without_action_id(action)[1:])
            assert without_action_id(answer[0]) == without_action_id(response)
            got = await heard.wait(len(events))
            assert [_shape(m) for m in got] == [_shape(e) for e in events]
            assert [m.get("Reason") for m in got] == [e.get("Reason") for e in events]


async def test_the_transfer_simulator_refuses_an_unknown_channel_as_asterisk_does(
    heard: Heard,
) -> None:
    action, response, _, _ = exchange("blindtransfer-no-such-channel.txt")
    async with AMIServer() as server:
        Transfers(server, lambda exten, context: None)
        async with connected(server, heard) as client:
            with pytest.raises(ControlRefused, match=response["Message"]):
                await blind(AmiControls(lambda: client), action)
