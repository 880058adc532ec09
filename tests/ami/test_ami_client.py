"""The asyncio AMI client over a real socket against the AMI simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from callpop.ami.client import (
    ActionFailed,
    ActionOutcomeUnknown,
    ActionTimeout,
    AMIClient,
    AuthenticationFailed,
    NotConnected,
    backoff_delay,
)
from callpop.ami.codec import Decoder, InvalidAction, Message
from callpop.pbx_sim.ami import AMIServer, read_transcript, transcript_events

AMI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"
SECRET = "s3cr3t\u00e9"


class Inbox:
    """Collects events; tests wait for a count instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._changed = asyncio.Condition()

    async def __call__(self, msg: Message) -> None:
        async with self._changed:
            self.events.append(msg)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[list[Message]], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self.events))

    def named(self, name: str) -> list[Message]:
        return [m for m in self.events if m.event == name]


@pytest.fixture
async def sim() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="callpop", secret=SECRET) as server:
        yield server


Running = Callable[..., Awaitable[tuple[AMIClient, Inbox]]]


@pytest.fixture
async def running(sim: AMIServer) -> AsyncIterator[Running]:
    tasks: list[tuple[AMIClient, asyncio.Task[None]]] = []

    async def start(secret: str = SECRET, **options: Any) -> tuple[AMIClient, Inbox]:
        inbox = Inbox()
        client = AMIClient(
            sim.host,
            sim.port,
            "callpop",
            secret,
            on_event=inbox,
            rng=random.Random(7),
            backoff_initial=0.01,
            backoff_max=0.05,
            **options,
        )
        tasks.append((client, asyncio.create_task(client.run())))
        return client, inbox

    yield start
    for client, task in tasks:
        await client.close()
        async with asyncio.timeout(5):
            await task


def transcript_messages(name: str) -> tuple[list[bytes], list[Message]]:
    frames = transcript_events(read_transcript(AMI_DIR / name))
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(b"".join(frames))
    return frames, [m for m in decoder if isinstance(m, Message)]


async def test_the_client_logs_in_with_its_secret_and_receives_events_in_order(
    sim: AMIServer, running: Running
) -> None:
    client, inbox = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    login = sim.actions[0]
    assert (login.action, login["Username"], login["Secret"], login["Events"]) == (
        "Login",
        "callpop",
        SECRET,
        "on",
    )
    assert login.action_id
    frames, expected = transcript_messages("queue-call.txt")
    sim.emit(frames)
    async with asyncio.timeout(5):
        await inbox.wait_for(lambda ev: len(ev) >= 2 + len(expected))
    assert [m.event for m in inbox.events[:2]] == ["FullyBooted", "SuccessfulAuth"]  # login's
    assert inbox.events[2:] == expected


async def test_a_refused_secret_is_reported_and_retried_with_backoff(
    sim: AMIServer, running: Running
) -> None:
    client, _ = await running(secret="wrong")
    async with asyncio.timeout(5):
        await sim.wait_action("Login", count=3)
    assert isinstance(client.last_error, AuthenticationFailed)
    assert sim.logins == 0
    assert not client.connected


async def test_after_a_dropped_connection_it_reconnects_and_never_resends_a_non_idempotent_action(
    sim: AMIServer, running: Running
) -> None:
    client, _ = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    sim.unanswered.add("Originate")
    originate = asyncio.create_task(
        client.action("Originate", [("Channel", "PJSIP/101"), ("Exten", "7000")], deadline_s=5)
    )
    async with asyncio.timeout(5):
        await sim.wait_action("Originate")
    sim.drop()
    with pytest.raises(ActionOutcomeUnknown):
        await originate
    async with asyncio.timeout(5):
        await sim.wait_logins(2)
        # a round trip on the new connection: anything resent would have arrived before
        [pong] = await client.action("Ping", idempotent=True)
    assert pong["Ping"] == "Pong"
    assert len([a for a in sim.actions if a.action == "Originate"]) == 1
    assert [a.action for a in sim.actions] == ["Login", "Originate", "Login", "Ping"]


async def test_an_idempotent_action_cut_off_by_a_drop_is_sent_again_on_the_next_connection(
    sim: AMIServer, running: Running
) -> None:
    sim.responders["QueueSummary"] = lambda action: [
        [("Response", "Success"), ("EventList", "start"), ("Message", "Queue summary will follow")],
        [("Event", "QueueSummary"), ("Queue", "sales"), ("LoggedIn", "1")],
        [("Event", "QueueSummaryComplete"), ("EventList", "Complete"), ("ListItems", "1")],
    ]
    client, _ = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    sim.unanswered.add("QueueSummary")
    summary = asyncio.create_task(
        client.action("QueueSummary", idempotent=True, listing=True, deadline_s=5)
    )
    async with asyncio.timeout(5):
        await sim.wait_action("QueueSummary")
    sim.unanswered.clear()
    sim.drop()
    async with asyncio.timeout(5):
        items = await summary
    assert [m.response or m.event for m in items] == [
        "Success",
        "QueueSummary",
        "QueueSummaryComplete",
    ]
    assert len([a for a in sim.actions if a.action == "QueueSummary"]) == 2
    assert len({m.action_id for m in items}) == 1


async def test_shutdown_then_eof_is_followed_by_a_reconnect(
    sim: AMIServer, running: Running
) -> None:
    client, inbox = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    frames, _ = transcript_messages("asterisk-stop-now-idle.txt")
    sim.emit(frames)
    sim.end_sessions()
    async with asyncio.timeout(5):
        await inbox.wait_for(lambda ev: any(m.event == "Shutdown" for m in ev))
        await sim.wait_logins(2)
        await client.wait_connected()
    assert client.connects == 2


async def test_a_silent_peer_is_detected_by_the_ping_deadline(
    sim: AMIServer, running: Running
) -> None:
    sim.unanswered.add("Ping")
    await running(ping_interval=0.02, action_timeout=0.05)
    async with asyncio.timeout(5):
        await sim.wait_logins(2)


async def test_an_error_response_raises_with_asterisks_message(
    sim: AMIServer, running: Running
) -> None:
    client, _ = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    with pytest.raises(ActionFailed, match="Invalid/unknown command"):
        await client.action("NoSuchAction", idempotent=True)


async def test_an_unanswered_action_times_out(sim: AMIServer, running: Running) -> None:
    client, _ = await running()
    async with asyncio.timeout(5):
        await client.wait_connected()
    sim.unanswered.add("Redirect")
    with pytest.raises(ActionTimeout, match="Redirect"):
        await client.action("Redirect", [("Channel", "PJSIP/1")], deadline_s=0.05)


async def test_a_non_idempotent_action_is_refused_while_disconnected() -> None:
    client = AMIClient("127.0.0.1", 9, "u", "s", on_event=Inbox())
    with pytest.raises(NotConnected, match="Originate not sent"):
        await client.action("Originate")


def test_backoff_grows_exponentially_up_to_its_ceiling_with_jitter() -> None:
    rng = random.Random(1)
    for failures in range(12):
        top = min(30.0, 0.5 * 2**failures)
        delays = [backoff_delay(failures, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.25 <= d <= top for d in delays)
        assert max(delays) - min(delays) > 0.1 * (top - 0.25)  # jittered, not fixed
    assert max(backoff_delay(50, 0.5, 30.0, rng) for _ in range(200)) > 20


def test_credentials_that_would_inject_a_line_are_refused_at_construction() -> None:
    with pytest.raises(InvalidAction, match="Secret"):
        AMIClient("127.0.0.1", 5038, "callpop", "pw\r\nAction: Originate", on_event=Inbox())


async def test_an_asterisk_that_stays_down_is_logged_once_not_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with AMIServer(secret="pw") as sim:
        port = sim.port  # a port that refuses once the simulator is gone

    async def nothing(msg: Message) -> None:
        return None

    client = AMIClient(
        "127.0.0.1",
        port,
        "callpop",
        "pw",
        on_event=nothing,
        backoff_initial=0.01,
        backoff_max=0.02,
        rng=random.Random(1),
    )
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0.5)  # some twenty refused attempts
    await client.close()
    await asyncio.wait_for(task, 5)
    lost = [
        r
        for r in caplog.records
        if r.getMessage() == "AMI connection lost or refused" and r.levelname == "WARNING"
    ]
    assert len(lost) == 1
