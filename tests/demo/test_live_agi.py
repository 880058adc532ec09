"""The test phone's Asterisk side answers AGI commands live: keys and hang-ups arrive
while a command runs, and the answer is the one Asterisk would give at that moment.

callpop's side is scripted here over a real socket; the caller acts when told what
it hears (no sleeps), so each test reads as a call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from callpop.demo.live_agi import Heard, LiveCaller
from callpop.demo.prompts import PromptBook
from callpop.pbx_sim.fastagi import CallRecord
from callpop.pbx_sim.script import CallerId, CallerScript
from tests.demo.agi_peer import Session, agi_peer

BOOK = PromptBook(
    {"acme-menu": "For billing, press 1. For support, press 2.", "hello": "Hello."}, pace=0.05
)
SCRIPT = CallerScript(caller=CallerId("+15550104321", "Sean Chen"), uniqueid="1795400000.7")


def caller(on_hear: Callable[[LiveCaller, Heard], None]) -> LiveCaller:
    live: LiveCaller

    def hear(heard: Heard) -> None:
        on_hear(live, heard)

    live = LiveCaller(SCRIPT, BOOK, on_hear=hear)
    return live


async def start(
    live: LiveCaller, port: int, sessions: asyncio.Queue[Session]
) -> tuple[Session, asyncio.Task[CallRecord]]:
    task = asyncio.create_task(live.run("127.0.0.1", port, "ivr?flow=main"))
    session = await sessions.get()
    env = await session.environment()
    assert (env["agi_network_script"], env["agi_callerid"], env["agi_calleridname"]) == (
        "ivr?flow=main",
        "+15550104321",
        "Sean Chen",
    )
    return session, task


async def test_a_key_pressed_while_a_prompt_plays_stops_it_and_is_its_answer() -> None:
    heard: list[Heard] = []

    def on_hear(live: LiveCaller, what: Heard) -> None:
        heard.append(what)
        live.press("2")

    async with agi_peer() as (port, sessions):
        session, task = await start(caller(on_hear), port, sessions)
        answer = await session.command(b'STREAM FILE "acme-menu" "0123456789*#"')
        assert await session.close() == b"HANGUP\n"
        await task
    code, endpos = answer.split(b" ")[1:]
    assert code == b"result=50"
    assert int(endpos.removeprefix(b"endpos=")) < BOOK.samples("acme-menu")
    assert heard == [
        Heard(
            "prompt",
            "For billing, press 1. For support, press 2.",
            "acme-menu",
            heard[0].ms,
            "0123456789*#",
        )
    ]


async def test_keys_pressed_while_a_prompt_no_key_may_stop_plays_are_lost() -> None:
    def on_hear(live: LiveCaller, what: Heard) -> None:
        if what.sound == "hello":
            live.press("5")

    async with agi_peer() as (port, sessions):
        session, task = await start(caller(on_hear), port, sessions)
        played = await session.command(b'STREAM FILE "hello" ""')
        waited = await session.command(b"WAIT FOR DIGIT 50")
        await session.close()
        await task
    assert played == f"200 result=0 endpos={BOOK.samples('hello')}".encode()
    assert waited == b"200 result=0"


async def test_get_data_reads_the_keys_as_the_caller_presses_them_and_drops_the_pound() -> None:
    def on_hear(live: LiveCaller, what: Heard) -> None:
        if what.kind == "listen":
            for key in "42#":
                live.press(key)

    async with agi_peer() as (port, sessions):
        session, task = await start(caller(on_hear), port, sessions)
        answer = await session.command(b'GET DATA "" 3000 10')
        await session.close()
        await task
    assert answer == b"200 result=42"


async def test_a_hang_up_during_a_wait_ends_it_the_hangup_line_follows_and_the_channel_is_dead() -> (
    None
):
    def on_hear(live: LiveCaller, what: Heard) -> None:
        live.hang_up()

    async with agi_peer() as (port, sessions):
        session, task = await start(caller(on_hear), port, sessions)
        ended = await session.command(b"WAIT FOR DIGIT 10000")
        notice = await session.line()
        still = await session.command(b'SET VARIABLE "CALLPOP_OUTCOME" "hangup"')
        refused = await session.command(b'STREAM FILE "hello" ""')
        await session.close()
        record = await task
    assert (ended, notice, still) == (b"200 result=-1", b"HANGUP", b"200 result=1")
    assert refused.startswith(b"511 ")
    assert record.hung_up_by == "caller"


async def test_a_hang_up_while_callpop_is_busy_elsewhere_sends_the_hangup_line_at_once() -> None:
    live = caller(lambda _live, _heard: None)
    async with agi_peer() as (port, sessions):
        session, task = await start(live, port, sessions)
        assert await session.command(b"ANSWER") == b"200 result=0"
        live.hang_up()  # nothing runs on the channel: hangup-idle.txt
        assert await session.line() == b"HANGUP"
        await session.close()
        record = await task
    assert record.hung_up_by == "caller"


async def test_when_callpop_ends_the_session_asterisk_sends_a_last_hangup_and_keeps_the_variables() -> (
    None
):
    live = caller(lambda _live, _heard: None)
    async with agi_peer() as (port, sessions):
        session, task = await start(live, port, sessions)
        linkedid = await session.command(b'GET VARIABLE "CHANNEL(linkedid)"')
        await session.command(b'SET VARIABLE "CALLPOP_OUTCOME" "queue"')
        await session.command(b'SET VARIABLE "CALLPOP_QUEUE" "billing"')
        last = await session.close()
        record = await task
    assert linkedid == b"200 result=1 (1795400000.7)"
    assert last == b"HANGUP\n"
    assert record.ended == "server-closed"
    assert (record.variables["CALLPOP_OUTCOME"], record.variables["CALLPOP_QUEUE"]) == (
        "queue",
        "billing",
    )


@pytest.mark.parametrize("key", ["x", "", "12", "\n"])
def test_only_phone_keys_can_be_pressed(key: str) -> None:
    with pytest.raises(ValueError, match="not a phone key"):
        caller(lambda _live, _heard: None).press(key)
