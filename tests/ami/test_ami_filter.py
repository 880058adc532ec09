"""manager.conf's `eventfilter` lines for callpop's AMI user: with them Asterisk sends only
what callpop reads, and what callpop makes of a call is the same as without them.

Checked on the transcripts recorded from a real Asterisk 22 with `read = all` (every
event it sends, tests/fixtures/asterisk/ami/README.md): each is replayed through every
consumer of the AMI stream twice, once whole and once as the filters let it through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callpop.ami.codec import Decoder, Message, Signal
from callpop.ami.dials import DialOutcomes
from callpop.ami.pauses import MemberPauses
from callpop.ami.queue_state import QueueStates
from callpop.ami.triggers import Triggers
from callpop.ami_filter import EVENT_FILTERS, READS, EventFilter, admitted
from callpop.callbacks import placer
from callpop.pbx_sim.ami import read_transcript, transcript_events
from ivr.ports import CallEvent

AMI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"
TRANSCRIPTS = sorted(
    str(p.relative_to(AMI_DIR))
    for p in AMI_DIR.rglob("*.txt")
    if transcript_events(read_transcript(p))
)
NOW = 1_800_000_000.0


def messages(name: str) -> list[Message]:
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(b"".join(transcript_events(read_transcript(AMI_DIR / name))))
    decoder.receive_data(b"")
    out = [m for m in decoder if isinstance(m, Message)]
    assert decoder.next_event() is Signal.CLOSED
    return out


def happened(name: str) -> list[Message]:
    """The events of a recording, without the answers to its own actions."""
    return [m for m in messages(name) if m.action_id not in ("qs-1", "cs-1")]


def consumed(msgs: list[Message]) -> dict[str, Any]:
    """What every consumer of the AMI stream makes of `msgs`."""
    triggers, pauses, queues = Triggers(), MemberPauses(), QueueStates()
    dialled: list[CallEvent] = []
    contexts = {m.get("Context") for m in msgs if m.event == "OriginateResponse"}
    dials = [DialOutcomes(dialled.append, context=c or "", clock=lambda: NOW) for c in contexts]
    calls: list[CallEvent] = []
    statuses: list[CallEvent] = []
    for msg in msgs:
        calls += triggers.feed(msg, now=NOW)
        statuses += pauses.feed(msg, now=NOW)
        queues.feed(msg, NOW)
        for dial in dials:
            dial.feed(msg)
    return {
        "calls": calls,
        "statuses": statuses,
        "queues": queues.snapshot(NOW),
        "dials": dialled,
    }


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_callpop_makes_the_same_of_a_filtered_stream(name: str) -> None:
    msgs = messages(name)
    assert consumed([m for m in msgs if admitted(m)]) == consumed(msgs)


def test_a_queue_call_reaches_callpop_in_a_fraction_of_its_events() -> None:
    msgs = messages("queue-call-channelvars.txt")
    kept = [m for m in msgs if admitted(m)]
    assert {m.event for m in kept} >= {"QueueCallerJoin", "AgentCalled", "AgentConnect"}
    assert len(kept) * 4 < len(msgs)


def test_the_queue_status_hint_is_let_through_and_no_other_variable() -> None:
    status = Message([("Event", "VarSet"), ("Variable", "QUEUESTATUS"), ("Value", "TIMEOUT")])
    other = Message([("Event", "VarSet"), ("Variable", "QUEUEPOSITION"), ("Value", "1")])
    assert admitted(status)
    assert not admitted(other)


def test_answers_to_actions_are_never_filtered() -> None:
    assert admitted(Message([("Response", "Success"), ("ActionID", "callpop-1")]))


def test_every_event_callpop_reads_has_a_filter_but_the_dialplan_hints() -> None:
    named = {f.name for f in EVENT_FILTERS}
    assert named == READS - {"Newexten"}


def test_the_callback_placer_reads_nothing_the_filter_drops() -> None:
    assert placer.READS <= READS


def test_filter_lines_are_asterisks_advanced_syntax() -> None:
    assert EventFilter("AgentCalled").line() == "eventfilter(action(include),name(AgentCalled)) ="
    assert (
        EventFilter("VarSet", "Variable", "QUEUESTATUS").line()
        == "eventfilter(action(include),name(VarSet),header(Variable),method(exact)) = QUEUESTATUS"
    )


def test_the_filter_lets_through_what_a_real_asterisk_with_it_sent() -> None:
    # The same calls, seen at once by a user without the filter and one with it.
    plain = happened("queue-calls-read-call-agent.txt")
    filtered = happened("queue-calls-eventfilter.txt")
    assert [m.event for m in plain if admitted(m)] == [m.event for m in filtered]


def test_callpop_makes_the_same_of_what_the_real_filtered_asterisk_sent() -> None:
    plain = messages("queue-calls-read-call-agent.txt")
    filtered = messages("queue-calls-eventfilter.txt")
    assert len(filtered) * 2 < len(plain)
    assert consumed(filtered) == consumed(plain)
