"""The FastAGI simulator answers as the recorded Asterisk 22 did, byte for byte.

Each test plays the server's side of a transcript over a real socket against the
simulator and compares every line the simulator writes with the recording. The call's
identity (uniqueid, channel, caller ID, context, arguments) comes from the
transcript's own environment block, so the block's order and formatting are what the
comparison checks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.agi_parse import parse_args
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript, ScriptError, parse_turns

from .harness import against
from .transcripts import Transcript, load


def environment_of(transcript: Transcript) -> dict[str, str]:
    values = {}
    for line in transcript.environment.decode("utf-8").split("\n"):
        if line:
            key, _, value = line.partition(": ")
            values[key.removeprefix("agi_")] = value
    return values


def script_for(transcript: Transcript, turns: str = "", **fields: Any) -> CallerScript:
    env = environment_of(transcript)
    number = env["callerid"] if env["callerid"] != "unknown" else None
    name = env["calleridname"] if env["calleridname"] != "unknown" else None
    return CallerScript(
        turns=parse_turns(turns),
        caller=CallerId(number, name),
        uniqueid=env["uniqueid"],
        channel=env["channel"],
        context=env["context"],
        extension=env["extension"],
        **fields,
    )


async def replay_against_simulator(
    name: str, turns: str = "", options: SimOptions | None = None, **fields: Any
) -> tuple[list[tuple[bytes, list[bytes], list[bytes]]], bytes, CallRecord]:
    """Plays the transcript's server lines; returns (command, expected, got) triples,
    the environment block received, and the simulator's record."""
    transcript = load(name)
    env = environment_of(transcript)
    results: list[tuple[bytes, list[bytes], list[bytes]]] = []
    received_env = bytearray()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received_env.extend(await reader.readuntil(b"\n\n"))
        for command, expected in transcript.exchanges():
            assert command is not None
            writer.write(command + b"\n")
            await writer.drain()
            got = [(await reader.readline()).rstrip(b"\n") for _ in expected]
            results.append((command, expected, got))
        writer.close()
        await writer.wait_closed()

    listener = await asyncio.start_server(server, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    args = [env[f"arg_{i}"] for i in range(1, 10) if f"arg_{i}" in env]
    async with listener:
        record = await asyncio.wait_for(
            call_fastagi(
                "127.0.0.1",
                port,
                script_for(transcript, turns, **fields),
                path=env["network_script"],
                args=args,
                options=options or SimOptions(),
                request=env["request"],
                priority=int(env["priority"]),
                threadid=int(env["threadid"]),
            ),
            30,
        )
    return results, bytes(received_env), record


CASES: dict[str, dict[str, Any]] = {
    "answer.txt": {},
    "call-id.txt": {"linkedid": "1795408960.34"},
    "env-callerid.txt": {},
    "env-callerid-quoted.txt": {},
    "env-hostile-name.txt": {},
    "env-no-callerid.txt": {},
    "variables.txt": {},
    "invalid.txt": {},
    "routing.txt": {},
    "exec.txt": {
        "turns": "42#",
        "options": SimOptions(missing_sounds=frozenset({"no-such-prompt"})),
    },
    "mset.txt": {},
    "get-data.txt": {"turns": "1234 w 56# 7 # 98 *1"},
    "wait-for-digit.txt": {"turns": "5 w # *"},
    "say-verbose-misc.txt": {"turns": "# # w"},
    "ivr-exten-7000.txt": {"turns": "1@1240 2#"},
    "hangup-idle.txt": {"hangup_on_command": 0},
    "hangup-mid-playback.txt": {"hangup_on_command": 1, "hangup_delay_ms": 1520},
    "hangup-mid-getdata.txt": {"turns": "1", "hangup_on_command": 1, "hangup_delay_ms": 1500},
    "hangup-mid-waitdigit.txt": {"hangup_on_command": 1, "hangup_delay_ms": 1000},
    "hangup-exit-on-hangup.txt": {
        "hangup_on_command": 0,
        "options": SimOptions(exit_on_hangup=True),
    },
    "hangup-nosighup.txt": {"hangup_on_command": 0, "options": SimOptions(sighup=False)},
    "agi-hangup-command.txt": {},
    "server-close-immediately.txt": {},
    "queue-connected-agi.txt": {
        "answered": True,
        "variables": (
            ("MEMBERINTERFACE", "Local/8100@callpop-agents/n"),
            ("MEMBERNAME", "Agent Alice"),
            ("QUEUENAME", "callpop-test-queue"),
            ("CALLPOP_CALL_ID", "call-42"),
            ("CONNECTEDLINE(all)", '"Alice Smith" <+15551234567>'),
        ),
    },
    "queue-connected-agi-without-setinterfacevar.txt": {
        "answered": True,
        "variables": (
            ("CALLPOP_CALL_ID", "call-42"),
            ("CONNECTEDLINE(all)", '"Alice Smith" <+15551234567>'),
        ),
    },
}


@pytest.mark.parametrize("name", list(CASES))
async def test_the_simulator_answers_every_command_as_the_recording(name: str) -> None:
    results, env, _ = await replay_against_simulator(name, **CASES[name])
    assert env == load(name).environment
    for command, expected, got in results:
        assert got == expected, command


async def test_exit_on_hangup_closes_after_a_second_hangup() -> None:
    _, _, record = await replay_against_simulator(
        "hangup-exit-on-hangup.txt", **CASES["hangup-exit-on-hangup.txt"]
    )
    assert record.ended == "asterisk-closed"
    assert [line for who, line in record.wire if who == "<"][-2:] == [b"HANGUP", b"HANGUP"]


async def test_half_close_gets_a_last_hangup_then_eof() -> None:
    transcript = load("half-close.txt")
    tail: list[bytes] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        for command in (b"ANSWER", b"NOOP"):
            writer.write(command + b"\n")
            await reader.readline()
        writer.write_eof()
        tail.extend((await reader.read()).split(b"\n"))

    await against(server, script_for(transcript))
    assert tail == [b"HANGUP", b""]  # then EOF, as half-close.txt recorded


async def test_pipelined_commands_wait_in_the_buffer_until_the_server_writes_again() -> None:
    answers: list[list[bytes]] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        writer.write(b"ANSWER\nNOOP\nGET VARIABLE CHANNEL(state)\n")  # one segment
        answers.append([await reader.readline()])
        try:
            extra = await asyncio.wait_for(reader.readline(), 0.3)
        except TimeoutError:
            extra = b""
        answers.append([extra])
        writer.write(b'VERBOSE "fourth" 1\n')
        answers.append([await reader.readline() for _ in range(3)])

    await against(server, script_for(load("pipelined.txt")))
    # pipelined.txt: only ANSWER is answered; the rest come once the 4th command arrives.
    assert answers == [
        [b"200 result=0\n"],
        [b""],
        [b"200 result=0\n", b"200 result=1 (Up)\n", b"200 result=1\n"],
    ]


def test_asterisk_splits_arguments_as_res_agi_does() -> None:
    assert parse_args(b'SET VARIABLE CALLPOP_QUOTE "say \\"hi\\" \\\\ back"') == [
        b"SET",
        b"VARIABLE",
        b"CALLPOP_QUOTE",
        b'say "hi" \\ back',
    ]
    assert parse_args(b'STREAM FILE beep ""') == [b"STREAM", b"FILE", b"beep", b""]
    assert parse_args(b"   NOOP") == [b"NOOP"]
    assert parse_args(b"NOOP\r") == [b"NOOP\r"]
    assert parse_args(b'a "b c"d e') == [b"a", b"b cd", b"e"]
    assert parse_args(b"a\x00b c") == [b"a"]


async def test_a_key_that_is_not_an_escape_digit_is_lost() -> None:
    # stream-file.txt: '5' during `STREAM FILE hello-world 12` is not returned.
    results: list[bytes] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        for command in (b"STREAM FILE hello-world 12", b"WAIT FOR DIGIT 100"):
            writer.write(command + b"\n")
            results.append(await reader.readline())

    await against(server, CallerScript.parse("5"))
    assert results == [b"200 result=0 endpos=11234\n", b"200 result=0\n"]


def test_a_caller_script_reads_its_text_form() -> None:
    assert CallerScript.parse("1 w 2@800 12@800/400 h@1500").turns == parse_turns(
        "1,w,2@800,12@800/400,h@1500"
    )
    with pytest.raises(ScriptError, match="column 3"):
        parse_turns("1 x")


def test_no_asterisk_command_is_a_prefix_of_another() -> None:
    # find_command looks commands up by their words, which is res_agi's first-match scan
    # only while no command's words begin another's.
    from callpop.pbx_sim.agi_parse import COMMANDS

    keys = [spec.key for spec in COMMANDS]
    assert [(a, b) for a in keys for b in keys if a != b and b[: len(a)] == a] == []
