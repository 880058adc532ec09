"""AMI events -> call events, on the real transcripts and on scripted calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from callpop.ami.codec import Decoder, Message, Signal
from callpop.ami.triggers import Triggers, device_of
from callpop.pbx_sim.ami import read_transcript, transcript_events
from callpop.pbx_sim.ami_events import DirectDial, Ids, QueueCall, Snapshot, Writer, hangup
from ivr import variables as V
from ivr.ports import CallEvent

AMI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"


def decode(chunks: list[bytes]) -> list[Message]:
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(b"".join(chunks))
    decoder.receive_data(b"")
    out = [m for m in decoder if isinstance(m, Message)]
    assert decoder.next_event() is Signal.CLOSED
    return out


def transcript(name: str) -> list[Message]:
    return decode(transcript_events(read_transcript(AMI_DIR / name)))


def run(triggers: Triggers, msgs: list[Message], now: float = 0.0) -> list[CallEvent]:
    return [event for msg in msgs for event in triggers.feed(msg, now=now)]


def summary(events: list[CallEvent]) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.type, e.call_id, dict(e.data)) for e in events]


ALICE = {
    "queue": "callpop-test-queue",
    "interface": "Local/8100@callpop-agents/n",
    "member_name": "Agent Alice",
}
NOBODY = {
    "queue": "callpop-noanswer-queue",
    "interface": "Local/8200@callpop-agents/n",
    "member_name": "Agent Nobody",
}


def test_an_answered_queue_call_gives_join_offer_leave_connect_complete_hangup() -> None:
    events = run(Triggers(), transcript("queue-call.txt"))
    call = "1795389698.8"
    assert [(e.type, e.call_id, e.at, dict(e.data)) for e in events] == [
        (
            "queue.joined",
            call,
            "2026-11-22T23:21:38.515Z",
            {"queue": "callpop-test-queue", "position": 1, "priority": None, "count": 1},
        ),
        ("agent.ringing", call, "2026-11-22T23:21:38.515Z", ALICE),
        (
            "queue.left",
            call,
            "2026-11-22T23:21:39.515Z",
            {"queue": "callpop-test-queue", "reason": "connected"},
        ),
        (
            "agent.connected",
            call,
            "2026-11-22T23:21:39.515Z",
            {
                **ALICE,
                "hold_s": 1,
                # the bridge's two channels, for the agent's transfers
                "channel": "Local/8100@callpop-agents-00000005;1",
                "caller_channel": "Local/7500@callpop-test-00000004;2",
            },
        ),
        (
            "agent.completed",
            call,
            "2026-11-22T23:21:43.020Z",
            {**ALICE, "hold_s": 1, "talk_s": 4, "reason": "agent"},
        ),
        (
            "call.hungup",
            call,
            "2026-11-22T23:21:43.022Z",
            {"cause": 16, "cause_txt": "Normal Clearing"},
        ),
    ]


def test_channelvars_give_the_same_events_keyed_by_callpop_call_id() -> None:
    events = run(Triggers(), transcript("queue-call-channelvars.txt"))
    assert [e.type for e in events] == [
        "queue.joined",
        "agent.ringing",
        "queue.left",
        "agent.connected",
        "agent.completed",
        "call.hungup",
    ]
    assert {e.call_id for e in events} == {"1795408263.24"}


def test_callpop_call_id_wins_over_linkedid_even_on_legs_that_lack_it() -> None:
    wire = read_transcript(AMI_DIR / "queue-call-channelvars.txt").replace(
        b"CALLPOP_CALL_ID=1795408263.24", b"CALLPOP_CALL_ID=call-77"
    )
    events = run(Triggers(), decode(transcript_events(wire)))
    assert len(events) == 6
    assert {e.call_id for e in events} == {"call-77"}


def test_an_agent_rung_twice_is_offered_twice_for_one_call_and_the_timeout_is_no_abandon() -> None:
    events = run(Triggers(), transcript("queue-noanswer.txt"))
    call = "1795389591.20"
    assert summary(events) == [
        (
            "queue.joined",
            call,
            {"queue": "callpop-noanswer-queue", "position": 1, "priority": None, "count": 1},
        ),
        ("agent.ringing", call, NOBODY),
        ("agent.ring_no_answer", call, {**NOBODY, "ring_ms": 4000}),
        ("agent.ringing", call, NOBODY),
        ("agent.ring_no_answer", call, {**NOBODY, "ring_ms": 4000}),
        ("queue.left", call, {"queue": "callpop-noanswer-queue", "reason": "timeout"}),
        ("call.hungup", call, {"cause": 16, "cause_txt": "Normal Clearing"}),
    ]


@pytest.mark.parametrize(
    "name", ["queue-call.txt", "queue-call-channelvars.txt", "queue-noanswer.txt", "agi-call.txt"]
)
def test_replaying_the_same_events_publishes_nothing_new(name: str) -> None:
    triggers = Triggers()
    first = run(triggers, transcript(name))
    assert run(triggers, transcript(name)) == []
    assert run(Triggers(), transcript(name)) == first


def test_call_state_is_dropped_once_every_leg_hung_up() -> None:
    triggers = Triggers()
    run(triggers, transcript("queue-call.txt") + transcript("queue-noanswer.txt"))
    assert triggers.active_calls == 0


def test_a_connected_leave_is_told_even_without_dial_events() -> None:
    """manager.conf may not grant the `call` class: AgentConnect then settles it."""
    msgs = [m for m in transcript("queue-call.txt") if m.event not in ("DialBegin", "DialEnd")]
    events = run(Triggers(), msgs)
    assert [(e.type, e.data.get("reason")) for e in events][2:4] == [
        ("queue.left", "connected"),
        ("agent.connected", None),
    ]


def test_events_without_timestamp_are_stamped_with_now() -> None:
    msgs = [
        Message([(k, v) for k, v in m.headers if k != "Timestamp"])
        for m in transcript("queue-call.txt")
    ]
    events = run(Triggers(), msgs, now=1_800_000_000.25)
    assert {e.at for e in events} == {"2027-01-15T08:00:00.250Z"}


# -- scripted calls (formats checked against the transcripts in test_ami_simulator) --


def caller(call_id: str, *, channelvars: bool = True, value: str | None = None) -> Snapshot:
    chan_vars = (("CALLPOP_CALL_ID", call_id if value is None else value),) if channelvars else ()
    return Snapshot(
        channel="PJSIP/trunk-00000001",
        uniqueid=call_id,
        linkedid=call_id,
        context="callpop-route",
        exten="queue",
        priority=3,
        caller_num="+15551234567",
        caller_name="Alice Smith",
        variables=chan_vars,
    )


def queue_call(call_id: str, interface: str = "PJSIP/101") -> QueueCall:
    return QueueCall(
        caller(call_id), "sales", interface, "Bob", Ids("1800000000", 100), Writer(clock=None)
    )


def test_a_caller_who_hangs_up_in_the_queue_abandoned_it() -> None:
    call = queue_call("1800000000.1")
    msgs = decode(call.joined() + call.agent_called() + call.abandoned(12, caller_hung_up=True))
    events = run(Triggers(), msgs)
    assert [(e.type, e.data.get("reason")) for e in events] == [
        ("queue.joined", None),
        ("agent.ringing", None),
        ("queue.left", "abandoned"),
        ("call.hungup", None),
    ]


def test_a_dial_outside_a_queue_pops_on_dial_begin_and_connects_on_answer() -> None:
    dial = DirectDial(
        caller("1800000000.5"),
        "PJSIP/101",
        Ids("1800000000", 200),
        Writer(clock=iter([10.0, 10.0, 14.0, 74.0, 74.0]).__next__),
    )
    events = run(Triggers(), decode(dial.begin() + dial.end("ANSWER") + dial.hangup()))
    assert dial.leg is not None
    agent = {"queue": None, "interface": "PJSIP/101", "member_name": None}
    assert summary(events) == [
        ("agent.ringing", "1800000000.5", agent),
        (
            "agent.connected",
            "1800000000.5",
            {
                **agent,
                "hold_s": 4,
                "channel": "PJSIP/101-00000001",  # the leg DialBegin named
                "caller_channel": dial.caller.channel,
            },
        ),
        ("call.hungup", "1800000000.5", {"cause": 16, "cause_txt": "Normal Clearing"}),
        (
            "agent.completed",
            "1800000000.5",
            {**agent, "hold_s": 4, "talk_s": 60, "reason": "caller"},
        ),
    ]


def test_an_unanswered_dial_retracts_its_offer_with_the_dial_status() -> None:
    dial = DirectDial(
        caller("1800000000.5"),
        "PJSIP/101",
        Ids("1800000000", 200),
        Writer(clock=iter([10.0, 10.0, 12.5, 12.5]).__next__),
    )
    events = run(Triggers(), decode(dial.begin() + dial.end("BUSY")))
    assert summary(events)[1] == (
        "agent.ring_no_answer",
        "1800000000.5",
        {
            "queue": None,
            "interface": "PJSIP/101",
            "member_name": None,
            "ring_ms": 2500,
            "dial_status": "BUSY",
        },
    )


def test_a_dial_from_a_channel_callpop_did_not_route_does_not_pop() -> None:
    dial = DirectDial(
        caller("1800000000.5", value=""), "PJSIP/101", Ids("1800000000", 200), Writer(clock=None)
    )
    assert run(Triggers(), decode(dial.begin() + dial.end("ANSWER"))) == []


def test_without_channelvars_a_dial_pops_only_for_a_call_callpop_tracks() -> None:
    def dial() -> DirectDial:
        return DirectDial(
            caller("1800000000.5", channelvars=False),
            "PJSIP/101",
            Ids("1800000000", 200),
            Writer(clock=None),
        )

    assert run(Triggers(), decode(dial().begin())) == []
    tracking = Triggers()
    tracking.track("1800000000.5")
    assert [e.type for e in run(tracking, decode(dial().begin()))] == ["agent.ringing"]


def test_the_queue_dialling_its_member_and_a_local_member_dialling_its_phone_are_no_extra_pop() -> (
    None
):
    call = queue_call("1800000000.1", interface="Local/8100@callpop-agents/n")
    triggers = Triggers()
    run(triggers, decode(call.joined() + call.agent_called() + call.answered()))
    assert call.leg.two is not None
    phone_dial = DirectDial(
        call.leg.two.but(variables=(("CALLPOP_CALL_ID", ""),)),
        "PJSIP/8100",
        Ids("1800000000", 300),
        Writer(clock=None),
    )
    assert run(triggers, decode(phone_dial.begin() + phone_dial.end("ANSWER"))) == []


def test_the_same_queue_joined_again_later_is_a_new_join_not_a_replay() -> None:
    call = queue_call("1800000000.1")
    call.writer = Writer(clock=iter(float(t) for t in range(100, 200)).__next__)
    msgs = decode(call.joined() + call.abandoned(30, caller_hung_up=False) + call.joined())
    events = run(Triggers(), msgs)
    assert [(e.type, e.data.get("reason")) for e in events] == [
        ("queue.joined", None),
        ("queue.left", "timeout"),
        ("queue.joined", None),
    ]


@pytest.mark.parametrize(
    ("channel", "device"),
    [
        ("PJSIP/101-0000000a", "PJSIP/101"),
        ("PJSIP/my-phone-0000000a", "PJSIP/my-phone"),
        ("Local/8100@callpop-agents-00000005;1", "Local/8100@callpop-agents"),
        ("SIP/trunk-0000001f", "SIP/trunk"),
        ("PJSIP/101", "PJSIP/101"),
    ],
)
def test_the_agent_of_a_dial_is_the_device_of_its_channel(channel: str, device: str) -> None:
    assert device_of(channel) == device


def test_a_leave_with_neither_answer_nor_abandon_is_settled_when_the_dialplan_goes_on() -> None:
    msgs = [
        m
        for m in transcript("queue-noanswer.txt")
        if m.event not in ("DialEnd", "QueueCallerAbandon")
    ]
    left = [e for e in run(Triggers(), msgs) if e.type == "queue.left"]
    assert [(e.data["reason"], e.at) for e in left] == [("timeout", "2026-11-22T23:20:00.529Z")]


def test_an_attended_transfer_connects_the_target_when_it_completes_and_ends_on_its_hangup() -> (
    None
):
    """atxfer.txt: alice (PJSIP/101) consulted bob and hung up; the AttendedTransfer event
    names bob's channel as TransferTarget, the caller as Transferee."""
    ids = Ids("1795410000", 1)
    caller = Snapshot(
        channel="PJSIP/trunk-00000001",
        uniqueid=ids.uniqueid(),
        linkedid="1795410000.1",
        context="callpop-route",
        exten="queue",
        caller_num="+15551234567",
        variables=((V.CALL_ID, "1795410000.1"),),
    )
    ids.next_suffix = 2
    call = QueueCall(caller, "billing", "PJSIP/101", "alice", ids, Writer(clock=None))
    before = decode(call.joined() + call.agent_called() + call.answered())
    wire = read_transcript(AMI_DIR / "controls" / "atxfer.txt")
    after = [m for m in decode([wire]) if m.event]
    bob = Snapshot(
        channel="PJSIP/102-00000005",
        uniqueid="1795410000.10",
        linkedid="1795410000.1",
        context="callpop-agents",
        exten="102",
    )
    events = run(Triggers(), [*before, *after, *decode([hangup(Writer(clock=None), bob, 16)])])
    tail = summary(events)[-3:]
    assert tail[0] == (
        "agent.connected",
        "1795410000.1",
        {
            "queue": None,
            "interface": "PJSIP/102",
            "member_name": None,
            "hold_s": 0,
            "channel": "PJSIP/102-00000005",
            "caller_channel": "PJSIP/trunk-00000001",
        },
    )
    assert tail[1][0] == "agent.completed" and tail[1][2]["interface"] == "PJSIP/101"
    assert tail[1][2]["reason"] == "transfer"
    assert tail[2][0] == "agent.completed" and tail[2][2]["interface"] == "PJSIP/102"
