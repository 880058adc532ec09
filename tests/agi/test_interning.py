"""The environment's repeated names and site-wide values are shared through the
server's InternTable (interning.py): between the calls of one server, bounded against a
peer that sends new ones every call, and never the caller's own data."""

from __future__ import annotations

import asyncio

from agi_scripts.codec import AgiConnection, Environment
from agi_scripts.interning import InternTable
from agi_scripts.request import AgiRequest, Route
from agi_scripts.server import FastAgiServer
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript


def block(caller: str, uniqueid: str, extra: bytes = b"") -> bytes:
    return (
        b"agi_network: yes\n"
        b"agi_request: agi://127.0.0.1/ivr\n"
        b"agi_language: en\n"
        b"agi_uniqueid: " + uniqueid.encode() + b"\n"
        b"agi_callerid: " + caller.encode() + b"\n" + extra + b"\n"
    )


def environment(table: InternTable, data: bytes) -> Environment:
    conn = AgiConnection(table=table)
    conn.receive_data(data)
    env = conn.next_event()
    assert isinstance(env, Environment)
    return env


def test_two_calls_on_one_table_share_the_names_and_site_values() -> None:
    table = InternTable()
    first = environment(table, block("5551001", "1.1"))
    second = environment(table, block("5551002", "1.2"))
    for (name1, value1), (name2, value2) in zip(
        first.values.items(), second.values.items(), strict=True
    ):
        assert name1 is name2
        if name1 in ("network", "request", "language"):
            assert value1 is value2
    assert (first.caller_number, second.caller_number) == ("5551001", "5551002")


def test_the_callers_own_data_is_not_kept_in_the_table() -> None:
    table = InternTable()
    environment(table, block("5551001", "1.1"))
    after_one = table.sizes
    for i in range(50):
        environment(table, block(f"555{i:04}", f"2.{i}"))
    assert table.sizes == after_one


def test_a_peer_sending_new_names_every_call_cannot_grow_the_table() -> None:
    table = InternTable(max_strings=40, max_layouts=3)
    for i in range(500):
        extra = b"agi_arg_%d: x\nagi_context: site-%d\n" % (i, i)
        env = environment(table, block("5551001", f"3.{i}", extra))
        assert env.get(f"arg_{i}") == "x" and env.get("context") == f"site-{i}"
    assert table.sizes == (40, 3)


async def test_the_server_shares_one_table_between_its_calls() -> None:
    seen: list[Environment] = []

    async def keep(request: AgiRequest) -> None:
        seen.append(request.environment)

    server = FastAgiServer([Route("ivr", keep)], host="127.0.0.1", port=0)
    async with server:
        for i in range(2):
            script = CallerScript.parse("", uniqueid=f"4.{i}", caller=CallerId(f"555100{i}", None))
            await asyncio.wait_for(call_fastagi("127.0.0.1", server.port, script), 30)
        await asyncio.wait_for(server.wait_idle(), 30)
    assert len(seen) == 2
    strings, layouts = server.intern_table.sizes
    assert strings > 0 and layouts == 1
    names = [tuple(env.values) for env in seen]
    assert names[0] == names[1]
    assert all(a is b for a, b in zip(*names, strict=True))
