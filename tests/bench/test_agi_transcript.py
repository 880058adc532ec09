"""The benchmark's Asterisk matches each command callpop sends against the recorded path:
the outcome's `EXEC MSet` on the names it sets, whatever the values (the call id, the
caller's CRM data)."""

from __future__ import annotations

from agi_scripts import commands as c
from bench.agi_transcript import command_key


def mset(*variables: tuple[str, str]) -> bytes:
    (command,) = c.set_variables(variables)
    return command.encode()


def test_an_mset_matches_on_the_names_it_sets_whatever_the_values() -> None:
    recorded = mset(("CALLPOP_CALL_ID", "1795300000.424242"), ("CALLPOP_TIER", "vip"))
    this_call = mset(("CALLPOP_CALL_ID", "1795300001.7"), ("CALLPOP_TIER", 'a,b=c "d"'))
    assert command_key(recorded) == command_key(this_call)
    assert command_key(this_call) == b'EXEC "MSet" CALLPOP_CALL_ID,CALLPOP_TIER'


def test_an_mset_of_other_names_does_not_match() -> None:
    # A lookup past its budget: no customer id, the caller goes on unidentified.
    recorded = mset(("CALLPOP_CUSTOMER_ID", "2"), ("CALLPOP_VERIFIED", "0"))
    this_call = mset(
        ("CALLPOP_VERIFIED", "0"),
    )
    assert command_key(recorded) != command_key(this_call)


def test_other_commands_match_whole() -> None:
    line = c.stream_file("acme-main-menu", "123").encode()
    assert command_key(line) == line
