"""Caller-controlled text reaches Asterisk as one escaped argument, never as a command.

Every check parses our bytes with Asterisk's own splitter (res_agi.c `parse_args`,
mirrored in `callpop.pbx_sim.agi_parse`), not with our encoder's idea of it.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agi_scripts import commands as c
from agi_scripts.errors import LocalProtocolError
from callpop.pbx_sim.agi_parse import find_command, parse_args
from callpop.pbx_sim.script import CallerScript

from .harness import against

HOSTILE = [
    '"Bob\nEXEC System rm" <123>',
    'Zoë "Z" O\'Brien, Jr. \\ 李小龍',  # env-hostile-name.txt
    'quote " in the middle',
    "trailing backslash \\",
    '\\"',
    "emoji 🎉📞 and ZWJ 👩‍💻",
    "CR\rLF\r\nNUL\x00TAB\tend",
    "\nHANGUP\n",
    "",
    " leading and trailing spaces ",
    "${SHELL(rm -rf /)}",
    "a\u2028b\u0085c",
]


def as_asterisk_reads(line: bytes) -> tuple[str, list[bytes]]:
    """What res_agi runs for one line: the command and its arguments."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line
    argv = parse_args(line[:-1])
    spec = find_command(argv)
    assert spec is not None, line
    return spec.name, argv[len(spec.words) :]


def expected_value(text: str) -> bytes:
    """What must arrive: the text, with the control characters no line can carry
    turned into spaces (a newline would end the command, a NUL truncate it)."""
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text).encode()


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_value_is_one_argument_of_one_command(text: str) -> None:
    line = c.set_variable("CALLPOP_CALLER_NAME", text).encode()
    assert as_asterisk_reads(line) == (
        "SET VARIABLE",
        [b"CALLPOP_CALLER_NAME", expected_value(text)],
    )


def test_the_injection_attempt_is_escaped_byte_for_byte() -> None:
    line = c.set_variable("CALLPOP_X", '"Bob\nEXEC System rm" <123>').encode()
    assert line == b'SET VARIABLE "CALLPOP_X" "\\"Bob EXEC System rm\\" <123>"\n'


def test_the_recorded_hostile_name_is_escaped_byte_for_byte() -> None:
    name = 'Zoë "Z" O\'Brien, Jr. \\ 李小龍'
    line = c.verbose(name).encode()
    assert line == 'VERBOSE "Zoë \\"Z\\" O\'Brien, Jr. \\\\ 李小龍" "1"\n'.encode()
    assert as_asterisk_reads(line) == ("VERBOSE", [name.encode(), b"1"])


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_any_text_arrives_as_exactly_that_one_argument(text: str) -> None:
    line = c.set_variable("CALLPOP_X", text).encode()
    got = as_asterisk_reads(line)
    assert got[0] == "SET VARIABLE"
    assert got[1] == [
        b"CALLPOP_X",
        expected_value(text).decode("utf-8", "replace").encode("utf-8", "replace"),
    ]


@settings(max_examples=200)
@given(st.lists(st.text(max_size=30), max_size=6))
def test_every_builder_argument_is_quoted(args: list[str]) -> None:
    line = c.Command("EXEC", tuple(args)).encode()
    name, argv = as_asterisk_reads(line)
    assert name == "EXEC" and argv == [expected_value(a) for a in args]


def test_sound_names_are_quoted_too() -> None:
    # wazo-agid's stream_file passed the file name raw; here every argument is quoted.
    assert c.stream_file("hello world", "12#").encode() == b'STREAM FILE "hello world" "12#"\n'
    assert c.get_data("", 3000, 4).encode() == b'GET DATA "" "3000" "4"\n'


def test_a_command_longer_than_asterisk_reads_is_refused() -> None:
    fits = c.set_variable("CALLPOP_X", "x" * (c.MAX_COMMAND_BYTES - 30))
    assert len(fits.encode()) <= c.MAX_COMMAND_BYTES
    with pytest.raises(LocalProtocolError, match="another command"):
        c.set_variable("CALLPOP_X", "x" * c.MAX_COMMAND_BYTES).encode()


async def test_why_long_commands_are_refused_asterisk_runs_the_rest_as_a_command() -> None:
    # res_agi reads 8191 bytes with fgets; the rest of a longer line stays in its stdio
    # buffer and runs as the next command once more bytes arrive: here, a HANGUP.
    value = "x" * (c.MAX_COMMAND_BYTES - len('SET VARIABLE "A" "')) + " HANGUP"
    raw = f'SET VARIABLE "A" "{value}"\n'.encode()
    answers: list[bytes] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        writer.write(raw)
        answers.append(await reader.readline())
        writer.write(b"NOOP\n")
        answers.extend([await reader.readline() for _ in range(3)])

    record = await against(server, CallerScript())
    assert answers == [b"200 result=1\n", b"200 result=1\n", b"HANGUP\n", b"200 result=0\n"]
    assert record.hung_up_by == "application"


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: c.set_variable("BAD NAME", "x"), "variable"),
        (lambda: c.set_variable('X" NOOP', "x"), "variable"),
        (lambda: c.stream_file("beep", "1\n"), "escape"),
        (lambda: c.say_digits("12a"), "digits"),
        (lambda: c.exec_app("Dial,x"), "application"),
        (lambda: c.Command("noop"), "upper-case"),
    ],
)
def test_names_that_are_ours_are_checked_not_escaped(build: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        build()  # type: ignore[operator]


def test_keys_come_back_from_their_ascii_codes() -> None:
    assert [c.digit_from_code(n) for n in (49, 35, 42, 0, 65, -1)] == [
        "1",
        "#",
        "*",
        "",
        None,
        None,
    ]
