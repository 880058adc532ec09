"""The outcome variables reach Asterisk in one `EXEC MSet`, every value unchanged.

Checked against the simulator over a socket: it splits the line with res_agi's
`parse_args` and MSet's argument with `ast_app_separate_args` (main/app.c), ported in
`callpop.pbx_sim.app_args` and replayed against Asterisk 22 in mset.txt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agi_scripts import commands as c
from callpop.pbx_sim.agi_parse import find_command, parse_args
from callpop.pbx_sim.fastagi import CallRecord
from callpop.pbx_sim.script import CallerScript

from .harness import against
from .test_commands import HOSTILE, expected_value


async def set_on_a_channel(commands: Sequence[c.Command]) -> CallRecord:
    """Send `commands` to the simulated Asterisk, one at a time, and hang up."""

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        for command in commands:
            writer.write(command.encode())
            assert (await reader.readline()).startswith(b"200 result=")
        writer.write(c.hangup().encode())
        await reader.readline()

    return await against(server, CallerScript())


def arrived(text: str) -> str:
    return expected_value(text).decode("utf-8", "replace")


def test_the_outcome_variables_are_one_command() -> None:
    (command,) = c.set_variables(
        [("CALLPOP_OUTCOME", "queue"), ("CALLPOP_QUEUE", "billing"), ("CALLPOP_VERIFIED", "0")]
    )
    assert command.encode() == (
        b'EXEC "MSet" "CALLPOP_OUTCOME=queue,CALLPOP_QUEUE=billing,CALLPOP_VERIFIED=0"\n'
    )


async def test_each_value_is_set_as_given_and_in_order() -> None:
    variables = [("CALLPOP_OUTCOME", "queue"), ("CALLPOP_QUEUE", "billing")]
    record = await set_on_a_channel(c.set_variables(variables))
    assert record.set_order == variables


@pytest.mark.parametrize("text", [t for t in HOSTILE if "$" not in t])
async def test_a_hostile_value_reaches_the_channel_unchanged(text: str) -> None:
    variables = [("CALLPOP_TIER", text), ("CALLPOP_TOPIC", "after it")]
    commands = c.set_variables(variables)
    record = await set_on_a_channel(commands)
    assert len(commands) == 1
    assert record.set_order == [("CALLPOP_TIER", arrived(text)), ("CALLPOP_TOPIC", "after it")]


@pytest.mark.parametrize(
    "text", ["a,CALLPOP_OUTCOME=hangup", "(,)", "[", "\\", '"', "x=y", "unbalanced ) ] , z"]
)
async def test_no_value_can_set_another_variable(text: str) -> None:
    variables = [("CALLPOP_TIER", text), ("CALLPOP_OUTCOME", "queue")]
    record = await set_on_a_channel(c.set_variables(variables))
    assert record.set_order == variables


async def test_a_value_with_a_dollar_is_set_by_its_own_set_variable() -> None:
    # With AGIEXECFULL=yes Asterisk would evaluate ${...} in an EXEC's arguments.
    variables = [
        ("CALLPOP_OUTCOME", "queue"),
        ("CALLPOP_TIER", "${SHELL(rm -rf /)}"),
        ("CALLPOP_TOPIC", "billing"),
    ]
    commands = c.set_variables(variables)
    assert [str(command).split('"')[0:2] for command in commands] == [
        ["EXEC ", "MSet"],
        ["SET VARIABLE ", "CALLPOP_TIER"],
        ["EXEC ", "MSet"],
    ]
    record = await set_on_a_channel(commands)
    assert record.set_order == variables


async def test_variables_too_long_for_one_command_go_in_several() -> None:
    variables = [(f"CALLPOP_V{i}", ("x" * 2_000) + '"\\,') for i in range(9)]
    commands = c.set_variables(variables)
    assert len(commands) > 1
    for command in commands:
        argv = parse_args(command.encode()[:-1])
        assert argv[:2] == [b"EXEC", b"MSet"]  # each within Asterisk's 8191 bytes
    record = await set_on_a_channel(commands)
    assert record.set_order == variables


def test_only_plain_variable_names_are_set_by_mset() -> None:
    with pytest.raises(ValueError, match="plain variables"):
        c.set_variables([("CHANNEL(language)", "fr")])


def test_nothing_to_set_is_no_command() -> None:
    assert c.set_variables([]) == ()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="$"),
            max_size=40,
        ),
        min_size=1,
        max_size=12,
    )
)
async def test_any_values_arrive_as_exactly_those_values(values: list[str]) -> None:
    variables = [(f"CALLPOP_V{i}", value) for i, value in enumerate(values)]
    (command,) = c.set_variables(variables)
    spec = find_command(parse_args(command.encode()[:-1]))
    assert spec is not None and spec.name == "EXEC"
    record = await set_on_a_channel([command])
    assert record.set_order == [(name, arrived(value)) for name, value in variables]
