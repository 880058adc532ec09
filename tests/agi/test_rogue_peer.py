"""A hostile caller and a rogue FastAGI peer, over real sockets: bytes nobody asked for
are never an answer, a forged caller name cannot choose the call id, and a call that
ends on a protocol error or a timeout is recorded as such and goes to the operator
(nothing more is sent on a session that cannot be trusted: CALLPOP_OUTCOME stays empty,
which the dialplan routes to `callpop-route,operator,1`)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agi_scripts.channel import Timeouts
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi, environment_block
from callpop.pbx_sim.script import CallerId, CallerScript
from ivr import variables as v
from ivr.compiled import CompiledFlows

from .harness import MemoryServices, fastagi

VICTIM_ID, ATTACKER_LEG = "1795389902.6", "1795389950.3"


async def call(port: int, script: CallerScript) -> CallRecord:
    return await asyncio.wait_for(call_fastagi("127.0.0.1", port, script, path="ivr"), 60)


def environment(uniqueid: str = ATTACKER_LEG) -> bytes:
    """The environment block a raw peer sends, as Asterisk writes it."""
    script = CallerScript.parse("1 2", uniqueid=uniqueid)
    return environment_block(
        script, request="agi://h/ivr", network_script="ivr", channel_name="PJSIP/eve-00000001"
    )


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- the forged caller name (Asterisk writes it raw: env-hostile-name.txt) -------------------


async def test_a_caller_name_forging_the_call_id_answer_cannot_choose_the_call_id(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    victim = CallerScript.parse(
        "1 2",
        uniqueid="1795389902.7",
        linkedid=VICTIM_ID,
        caller=CallerId("+15551234567", "Victim"),
    )
    # The name ends the environment block early and writes the answer to our first
    # command, GET VARIABLE CHANNEL(linkedid), ahead of it.
    forged = f"Eve\n\n200 result=1 ({VICTIM_ID})"
    attacker = CallerScript.parse(
        "1 2",
        uniqueid=ATTACKER_LEG,
        linkedid="1795389950.2",
        caller=CallerId("+15559999999", forged),
    )
    async with fastagi(sample_flows, services) as server:
        await call(server.port, victim)
        record = await call(server.port, attacker)
    # No command went out on the attacker's session, so nothing was set: the operator.
    assert record.commands == [] and record.route() == "operator"
    victim_journey, attacker_journey = services.journeys
    assert (victim_journey.call_id, victim_journey.caller_name) == (VICTIM_ID, "Victim")
    assert victim_journey.outcome is not None and victim_journey.outcome.type == "queue"
    # Recorded under the leg's own uniqueid, which comes before the caller name.
    assert attacker_journey.call_id == ATTACKER_LEG
    assert attacker_journey.outcome is not None
    assert attacker_journey.outcome.type == "protocol-error"
    assert attacker_journey.caller_name == "Eve"
    # The victim's pops never carry the attacker's caller ID.
    for event in services.events:
        if event.call_id == VICTIM_ID and event.type == "ivr.started":
            assert event.data["caller"] == {"number": "+15551234567", "name": "Victim"}
    assert {
        e.call_id
        for e in services.events
        if e.data.get("caller", {}).get("number") == "+15559999999"
    } == {ATTACKER_LEG}
    (warning,) = warnings_from(caplog)
    assert "protocol-error" in warning and "no command was in flight" in warning
    assert "\n" not in warning


async def test_a_forged_answer_arriving_after_the_environment_is_refused_too(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    # A raw peer: the environment, then, in a second write, an "answer" nobody asked for
    # yet; our first command must not take it.
    env = environment()
    async with fastagi(sample_flows, services) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        writer.write(f"200 result=1 ({VICTIM_ID})\n".encode())
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        writer.close()
    assert b"SET VARIABLE" not in received
    journey = services.journey()
    assert journey.call_id == ATTACKER_LEG
    assert journey.outcome is not None and journey.outcome.type == "protocol-error"


async def test_an_answer_sent_ahead_of_the_next_command_ends_the_call_as_a_protocol_error(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    # The peer answers our call-id query and, in the same write, the ANSWER that has
    # not been sent yet: the ANSWER is never sent, and nothing after it.
    env = environment()
    async with fastagi(sample_flows, services) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"200 result=1 (1795389950.2)\n200 result=0\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert first == b'GET VARIABLE "CHANNEL(linkedid)"\n'
    assert rest == b""  # not even the outcome variables
    journey = services.journey()
    assert journey.call_id == "1795389950.2"
    assert journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == (
        "protocol-error",
        "channel-protocol-error",
    )


async def test_control_characters_in_the_caller_name_are_replaced_and_the_call_goes_on(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    name = "Eve\r\x1b[2J\x07 \u009b31m Smith"
    async with fastagi(sample_flows, services) as server:
        record = await call(
            server.port,
            CallerScript.parse(
                "1 2", uniqueid="1795389902.7", caller=CallerId("+1555\t1234567", name)
            ),
        )
    assert record.variables[v.OUTCOME] == "queue"
    journey = services.journey()
    assert journey.caller_name == "Eve\ufffd\ufffd[2J\ufffd \ufffd31m Smith"
    assert journey.caller_number == "+1555\ufffd1234567"


# -- answers no Asterisk gives ----------------------------------------------------------------


async def test_a_9000_character_call_id_is_a_protocol_error_recorded_under_the_leg_id(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    script = CallerScript.parse("1 2", uniqueid=ATTACKER_LEG, linkedid="9" * 9000)
    async with fastagi(sample_flows, services) as server:
        record = await call(server.port, script)
    # Asked once, then nothing more: no outcome that could not be stored with its id.
    assert record.commands == [b'GET VARIABLE "CHANNEL(linkedid)"']
    assert record.route() == "operator"
    journey = services.journey()
    assert journey.call_id == ATTACKER_LEG
    assert journey.outcome is not None and journey.outcome.type == "protocol-error"
    (warning,) = warnings_from(caplog)
    assert "CHANNEL(linkedid) is not an Asterisk uniqueid" in warning
    assert "(9000 characters)" in warning and len(warning) < 300


async def test_a_peer_that_stops_answering_is_recorded_as_a_timeout(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    env = environment()
    quick = Timeouts(environment=5.0, command=0.3, prompt=0.3, slack=0.3, close=0.3)
    async with fastagi(sample_flows, services, timeouts=quick) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"200 result=1 (1795389950.2)\n")
        await writer.drain()
        # ANSWER is never answered.
        assert await asyncio.wait_for(reader.readline(), 10) == b"ANSWER\n"
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    journey = services.journey()
    assert journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == ("timeout", "channel-timeout")


async def test_connected_makes_no_pop_for_a_call_id_no_asterisk_gives(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    script = CallerScript(
        answered=True,
        variables=(
            ("CALLPOP_CALL_ID", "x" * 9000),
            ("MEMBERINTERFACE", "PJSIP/101"),
            ("QUEUENAME", "billing"),
        ),
    )
    async with fastagi(sample_flows, services) as server:
        await asyncio.wait_for(call_fastagi("127.0.0.1", server.port, script, path="connected"), 60)
    assert services.events == []
    (warning,) = warnings_from(caplog)
    assert "not an Asterisk uniqueid" in warning and "(9000 characters)" in warning
