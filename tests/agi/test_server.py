"""The FastAGI server running the sample dialplan, against the simulated Asterisk over
real TCP sockets: outcomes, hang-ups at every step, concurrency, routes, shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import pytest

from agi_scripts.routes.ivr import ivr_route
from agi_scripts.server import FastAgiServer
from callpop.pbx_sim.agi_parse import find_command, parse_args
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from ivr import variables as v
from ivr.compiled import CompiledFlows

from .harness import (
    AT_NIGHT,
    FAST,
    KNOWN_ACCOUNT,
    OPEN_HOURS,
    VIP_NUMBER,
    FixedClock,
    MemoryServices,
    fastagi,
)

# keys -> (CALLPOP_OUTCOME, CALLPOP_TARGET, CALLPOP_PRIORITY, CALLPOP_TOPIC, nodes visited)
PATHS: dict[str, tuple[str, str, str, str, list[str]]] = {
    "1 2": (
        "queue",
        "billing",
        "1",
        "billing",
        [
            "welcome",
            "hours",
            "identify",
            "flood_check",
            "main_menu",
            "billing_menu",
            "billing_overflow",
            "billing_wait",
            "billing_callback",
            "billing_queue",
        ],
    ),
    "3 1": (
        "queue",
        "sales",
        "3",
        "sales",
        ["welcome", "hours", "identify", "flood_check", "main_menu", "sales_menu", "sales_new"],
    ),
    "3 3": (
        "extension",
        "7100",
        "0",
        "sales",
        ["welcome", "hours", "identify", "flood_check", "main_menu", "sales_menu", "business_desk"],
    ),
    "4 3 2": (
        "queue",
        "complaints",
        "6",
        "complaints",
        [
            "welcome",
            "hours",
            "identify",
            "flood_check",
            "main_menu",
            "account_menu",
            "complaint_menu",
            "complaint_followup",
        ],
    ),
    "0": (
        "queue",
        "operator",
        "1",
        "",
        ["welcome", "hours", "identify", "flood_check", "main_menu", "operator"],
    ),
    "9 9 9": (
        "queue",
        "operator",
        "1",
        "",
        ["welcome", "hours", "identify", "flood_check", "main_menu", "operator"],
    ),
    "w w": (
        "queue",
        "operator",
        "1",
        "",
        ["welcome", "hours", "identify", "flood_check", "main_menu", "operator"],
    ),
    "1 1 " + KNOWN_ACCOUNT + "# 1": (
        "queue",
        "billing",
        "2",
        "payments",
        [
            "welcome",
            "hours",
            "identify",
            "flood_check",
            "main_menu",
            "billing_menu",
            "account_entry",
            "account_lookup",
            "payments_queue",
        ],
    ),
    "1 * 2 1 2": (
        "queue",
        "tech",
        "2",
        "internet",
        [
            "welcome",
            "hours",
            "identify",
            "flood_check",
            "main_menu",
            "billing_menu",
            "main_menu",
            "tech",
            "tech_menu",
            "internet_menu",
            "internet_queue",
        ],
    ),
}
# Two AGI leg ids: agi_uniqueid is not the call id on a second leg (call-id.txt).
UNIQUEID, LINKEDID = "1795389902.7", "1795389902.6"


def caller(keys: str, **fields: object) -> CallerScript:
    return CallerScript.parse(keys, uniqueid=UNIQUEID, linkedid=LINKEDID, **fields)


async def call(server: object, script: CallerScript, path: str = "ivr?flow=main") -> CallRecord:
    port = server.port  # type: ignore[attr-defined]
    return await asyncio.wait_for(call_fastagi("127.0.0.1", port, script, path=path), 60)


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- the sample flow's paths ---------------------------------------------------------------


@pytest.mark.parametrize("keys", list(PATHS))
async def test_each_path_leaves_its_outcome_on_the_channel(
    keys: str,
    sample_flows: CompiledFlows,
    services: MemoryServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome, target, priority, topic, nodes = PATHS[keys]
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller(keys))
    assert record.read(v.OUTCOME) == outcome
    assert record.read(v.TARGET) == target
    assert record.read(v.PRIORITY) == priority
    assert record.read(v.TOPIC) == topic
    assert record.variables[v.CALL_ID] == LINKEDID
    assert record.variables[v.FLOW] == "main"
    assert record.route() == outcome  # Goto(callpop-route,${CALLPOP_OUTCOME},1)
    assert record.hung_up_by is None and record.ended == "server-closed"
    journey = services.journey()
    assert journey.path == nodes
    assert journey.call_id == LINKEDID
    assert journey.outcome is not None and journey.outcome.type == outcome
    assert warnings_from(caplog) == []


async def test_the_outcome_is_set_in_one_mset_on_the_wire(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("1 2"))
    sent = record.sent_by_server()
    assert sent.startswith(b'GET VARIABLE "CHANNEL(linkedid)"\nANSWER\n')
    sets = [line for line in sent.split(b"\n") if b"CALLPOP_" in line]
    assert sets == [
        b'EXEC "MSet" "CALLPOP_CALL_ID=1795389902.6,CALLPOP_FLOW=main,CALLPOP_OUTCOME=queue,'
        b"CALLPOP_TARGET=billing,CALLPOP_QUEUE=billing,CALLPOP_PRIORITY=1,CALLPOP_VERIFIED=0,"
        b'CALLPOP_TOPIC=billing,CALLPOP_LAST_NODE=billing_queue,CALLPOP_SURVEY=main/after_call"'
    ]
    assert record.variables["CALLPOP_QUEUE"] == "billing"


async def test_only_the_outcome_variables_that_have_a_value_are_set(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    # "0" asks for the operator from the main menu: no topic was chosen, the CRM does
    # not know the caller, and the operator transfer names no survey.
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("0"))
    set_names = [name for name, _value in record.set_order if name.startswith("CALLPOP_")]
    unset = (v.CUSTOMER_ID, v.TIER, v.TOPIC, v.SURVEY)
    assert set_names == [name for name in v.ALL if name not in unset]
    assert all(value for name, value in record.set_order if name.startswith("CALLPOP_"))


async def test_a_vip_caller_goes_straight_to_the_premier_team(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("", caller=CallerId(VIP_NUMBER, "Vera")))
    assert (record.variables[v.QUEUE], record.variables[v.PRIORITY]) == ("vip", "10")
    assert (record.variables[v.CUSTOMER_ID], record.variables[v.TIER]) == ("C-1", "vip")
    assert services.lookups[0] == ("phone", VIP_NUMBER)


async def test_after_hours_a_caller_leaves_a_message(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services, clock_start=AT_NIGHT) as server:
        record = await call(server, caller("1"))
    assert (record.variables[v.OUTCOME], record.variables[v.TARGET]) == ("voicemail", "8000@acme")


async def test_a_goodbye_hangs_up_with_the_agi_hangup_command(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services, clock_start=AT_NIGHT) as server:
        record = await call(server, caller("2"))
    assert record.variables[v.OUTCOME] == "hangup"
    assert record.hung_up_by == "application"
    assert record.played[-2:] == ["acme-thanks", "goodbye"]


# -- hang-ups at every step --------------------------------------------------------------


async def test_a_hangup_at_any_step_leaves_a_journey_that_says_where(
    sample_flows: CompiledFlows, caplog: pytest.LogCaptureFixture
) -> None:
    keys = "1 1 " + KNOWN_ACCOUNT + "# 1"
    full_path = PATHS[keys][4]
    reference = MemoryServices()
    async with fastagi(sample_flows, reference) as server:
        full = await call(server, caller(keys))
    last_nodes: list[str] = []
    for step in range(len(full.commands)):
        services = MemoryServices()
        async with fastagi(sample_flows, services) as server:
            record = await call(server, caller(keys, hangup_on_command=step))
        assert server.live_calls == 0
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == [], step
        journey = services.journey()
        assert journey.path == full_path[: len(journey.path)], step
        assert record.hung_up_by == "caller"
        assert journey.outcome is not None, step
        if step < len(full.commands) - 1:
            # Even after the IVR chose the queue (during "connecting you", or while the
            # outcome variables were being set) the caller never reached it: a hang-up.
            assert (journey.outcome.type, journey.outcome.reason) == ("hangup", "caller-hangup"), (
                step
            )
            last_nodes.append(journey.path[-1])
        else:
            # The last SET VARIABLE was answered before the HANGUP line: handed back.
            assert journey.outcome.type == "queue"
    # Every node where the IVR spoke or listened is a place someone left from (the main
    # menu took the 1 typed during the welcome, so nobody waited there).
    assert set(last_nodes) == {"welcome", "billing_menu", "account_entry", "payments_queue"}
    assert last_nodes == sorted(last_nodes, key=full_path.index)
    assert warnings_from(caplog) == []
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_missing_prompt_is_logged_once_and_the_call_goes_on(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    from callpop.pbx_sim.agi_channel import SimOptions

    async with fastagi(sample_flows, services) as server:
        port = server.port
        record = await call_fastagi(
            "127.0.0.1",
            port,
            caller("1 2"),
            path="ivr",
            options=SimOptions(missing_sounds=frozenset({"hello"})),
        )
    # STREAM FILE answers -1 as for a hang-up (stream-file.txt); the next answer tells.
    assert record.variables[v.OUTCOME] == "queue"
    assert warnings_from(caplog) == [
        "[1795389902.7] prompt 'hello' could not be played (missing sound file?)"
    ]


# -- many calls at once ---------------------------------------------------------------------


async def test_500_simultaneous_calls_all_end_with_their_outcome(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    keys = list(PATHS)
    async with fastagi(sample_flows, services) as server:
        records = await asyncio.gather(
            *(
                call(server, CallerScript.parse(keys[i % len(keys)], uniqueid=f"1800000000.{i}"))
                for i in range(500)
            )
        )
        assert server.served == 500
        # Every call's channel was forgotten by the shared watchdog at its end.
        assert server.watched_calls == 0
    for i, record in enumerate(records):
        outcome, target, *_ = PATHS[keys[i % len(keys)]]
        assert (record.variables[v.OUTCOME], record.variables[v.TARGET]) == (outcome, target), i
        assert record.variables[v.CALL_ID] == f"1800000000.{i}"
    assert len(services.journeys) == 500
    assert sorted(j.call_id for j in services.journeys) == sorted(
        f"1800000000.{i}" for i in range(500)
    )


# -- routes ---------------------------------------------------------------------------------


async def test_without_flow_the_main_flow_runs(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("0"), path="ivr")  # ivr-exten-7000.txt: no query
    assert record.variables[v.FLOW] == "main"


async def test_the_flow_comes_from_the_query_string(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("4"), path="ivr?lang=en&flow=tech")
    assert record.variables[v.FLOW] == "tech"
    assert services.journey().path[0] == "tech_menu"


async def test_an_unknown_flow_sends_the_caller_to_the_operator(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("1"), path="ivr?flow=nosuch")
    assert record.variables[v.OUTCOME] == "error"
    assert record.route() == "error"
    assert len(warnings_from(caplog)) == 1 and "'nosuch'" in warnings_from(caplog)[0]


async def test_an_unknown_route_closes_with_one_log_line(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("1"), path="nosuch?flow=main")
    assert record.commands == [] and record.route() == "operator"
    assert warnings_from(caplog) == [
        "[1795389902.7] closing: no route for agi path 'nosuch' (routes: connected, ivr)"
    ]


# -- the connect AGI of a queue -------------------------------------------------------------

QUEUE_VARIABLES = (
    ("MEMBERINTERFACE", "Local/8100@callpop-agents/n"),
    ("MEMBERNAME", "Agent Alice"),
    ("QUEUENAME", "billing"),
    ("QEHOLDTIME", "12"),
    ("CALLPOP_CALL_ID", "call-42"),
)


async def test_connected_publishes_the_agent_from_the_queue_variables(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    script = CallerScript(answered=True, variables=QUEUE_VARIABLES)
    async with fastagi(sample_flows, services) as server:
        record = await call(server, script, path="connected?queue=")  # queue-connected-agi.txt
    (event,) = services.events
    assert (event.type, event.call_id) == ("agent.connected", "call-42")
    assert dict(event.data) == {
        "queue": "billing",
        "interface": "Local/8100@callpop-agents/n",
        "member_name": "Agent Alice",
        "hold_s": 12,
    }
    # In milliseconds: only reads, no prompt, no wait.
    assert all(line.startswith(b"GET VARIABLE") for line in record.commands)
    assert record.duration_ms == 0


async def test_connected_without_setinterfacevar_explains_the_fix(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    script = CallerScript(answered=True, variables=(("CALLPOP_CALL_ID", "call-42"),))
    async with fastagi(sample_flows, services) as server:
        await call(server, script, path="connected")
    assert services.events == []
    assert "setinterfacevar" in warnings_from(caplog)[0]


# -- hostile caller ID ----------------------------------------------------------------------


async def test_a_hostile_caller_name_never_reaches_a_command(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    name = 'Zoë "Z" O\'Brien, Jr. \\ 李小龍 ${SHELL(rm -rf /)}'
    async with fastagi(sample_flows, services) as server:
        record = await call(server, caller("1 2", caller=CallerId("+15551234567", name)))
    assert record.variables[v.OUTCOME] == "queue"
    allowed = {
        "GET VARIABLE",
        "ANSWER",
        "STREAM FILE",
        "WAIT FOR DIGIT",
        "GET DATA",
        "SET VARIABLE",
        "SAY DIGITS",
        "SAY NUMBER",
        "HANGUP",
    }
    for line in record.commands:
        argv = parse_args(line)
        spec = find_command(argv)
        assert spec is not None, line
        # The one application callpop runs is MSet, setting the outcome variables.
        assert spec.name in allowed or (spec.name == "EXEC" and argv[1] == b"MSet"), line
    assert services.journey().caller_name == name  # the journey keeps it, as data


async def test_a_newline_in_the_caller_name_breaks_only_that_connection(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    # Asterisk writes the name raw (env-hostile-name.txt), so a newline splits the
    # environment block: the connection is refused before any command is sent.
    hostile = caller("1 2", caller=CallerId("123", '"Bob\nEXEC System rm" <123>'))
    async with fastagi(sample_flows, services) as server:
        record = await call(server, hostile)
        fine = await call(server, caller("1 2"))
    assert record.commands == [] and record.route() == "operator"
    assert fine.variables[v.OUTCOME] == "queue"
    (message,) = warnings_from(caplog)
    assert "no valid AGI environment" in message and "\n" not in message


# -- shutdown --------------------------------------------------------------------------------


async def test_shutdown_stops_accepting_and_lets_a_live_call_finish(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    from callpop.pbx_sim.agi_channel import SimOptions

    server_ctx = fastagi(sample_flows, services)
    server = await server_ctx.__aenter__()
    try:
        live = asyncio.create_task(
            call_fastagi(
                "127.0.0.1", server.port, caller("1 2"), options=SimOptions(time_scale=0.02)
            )
        )
        await services.started.wait()
        port = server.port
        server.stop_accepting()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await server.shutdown(grace_s=60)
        assert live.done()
        record = live.result()
    finally:
        await server_ctx.__aexit__(None, None, None)
    assert record.variables[v.OUTCOME] == "queue"
    assert services.journey().outcome is not None


async def test_after_the_grace_period_a_call_goes_back_to_the_dialplan(
    sample_flows: CompiledFlows, services: MemoryServices
) -> None:
    from callpop.pbx_sim.agi_channel import SimOptions

    server_ctx = fastagi(sample_flows, services)
    server = await server_ctx.__aenter__()
    try:
        live = asyncio.create_task(
            call_fastagi(
                "127.0.0.1", server.port, caller("w w"), options=SimOptions(time_scale=1.0)
            )
        )
        await services.started.wait()
        await server.shutdown(grace_s=0)
        record = await asyncio.wait_for(live, 30)
    finally:
        await server_ctx.__aexit__(None, None, None)
    assert server.live_calls == 0
    assert record.route() in ("operator", "error")  # both are the operator queue
    journey = services.journey()
    # Stored as callpop stopping, not as an error of the call's (nor a caller hang-up).
    assert journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == ("shutdown", "cancelled")


def test_fixed_clock_is_aware() -> None:
    assert isinstance(OPEN_HOURS, datetime) and OPEN_HOURS.tzinfo is not None


# -- more calls than the process can hold ----------------------------------------------------


async def closed_at_once(port: int) -> bool:
    """Connect as Asterisk would; True when the server closes the connection unasked."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True
    finally:
        writer.close()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in 5 s")


@asynccontextmanager
async def full_server(
    flows: CompiledFlows, services: MemoryServices
) -> AsyncIterator[tuple[FastAgiServer, asyncio.StreamWriter]]:
    """A server that can hold one call, holding one (the writer ends it)."""
    server = FastAgiServer(
        [ivr_route(flows, services, clock=FixedClock(OPEN_HOURS))],
        port=0,
        max_calls=1,
        timeouts=FAST,
    )
    async with server:
        _held, holding = await asyncio.open_connection("127.0.0.1", server.port)
        await until(lambda: server.live_calls == 1)
        yield server, holding


def fastagi_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("FastAGI:")]


async def test_past_its_most_calls_a_new_call_is_closed_at_once_and_said_once(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    async with full_server(sample_flows, services) as (server, holding):
        assert await closed_at_once(server.port)
        assert await closed_at_once(server.port)
        assert (server.live_calls, server.refused) == (1, 2)
        holding.close()
    assert fastagi_lines(caplog) == [
        "FastAGI: 1 calls held, the most this process's open files allow; new calls are "
        "closed at once (the dialplan sends them to the operator) until calls end: raise "
        "the hard open-file limit (docs/asterisk.md)"
    ]


async def test_once_a_held_call_ends_the_server_takes_calls_again_and_says_so(
    sample_flows: CompiledFlows, services: MemoryServices, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agi_scripts.server")
    async with full_server(sample_flows, services) as (server, holding):
        assert await closed_at_once(server.port)
        caplog.clear()
        holding.close()
        await until(lambda: server.live_calls == 0)
        record = await call(server, caller("1 2"))
    assert record.read(v.OUTCOME) == "queue"
    assert fastagi_lines(caplog) == ["FastAGI: taking calls again (0 held, 1 closed while full)"]
