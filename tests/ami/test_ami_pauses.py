"""Agents' pauses read back from Asterisk (callpop/ami/pauses.py): the member events of
the fixtures become one `agent.status` per change, whoever made the pause."""

from __future__ import annotations

from pathlib import Path

from callpop.ami.codec import Decoder, Message
from callpop.ami.pauses import MemberPauses
from callpop.pbx_sim.ami import read_transcript, transcript_events

AMI = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"


def events_of(path: Path, name: str) -> list[Message]:
    decoder = Decoder(expect_banner=False)
    for frame in transcript_events(read_transcript(path)):
        decoder.receive_data(frame)
    return [m for m in decoder if isinstance(m, Message) and m.event == name]


def edited(message: Message, **changes: str) -> Message:
    """The same event with some fields changed (another queue, another reason)."""
    return Message([(k, changes.get(k, v)) for k, v in message.headers])


def statuses(pauses: MemberPauses, messages: list[Message]) -> list[dict[str, object]]:
    return [dict(e.data) for m in messages for e in pauses.feed(m, now=0.0)]


LUNCH = events_of(AMI / "controls" / "queuepause.txt", "QueueMemberPause")[0]


def test_a_pause_reported_by_the_pbx_is_the_agents_status_with_its_reason() -> None:
    (event,) = MemberPauses().feed(LUNCH, now=0.0)
    assert (event.type, event.call_id, event.at) == ("agent.status", "", "2026-11-23T05:00:00.031Z")
    assert dict(event.data) == {
        "interface": "PJSIP/101",
        "paused": True,
        "reason": "Lunch",
        "in_call": False,
    }


def test_the_same_pause_reported_by_each_queue_is_told_once() -> None:
    pauses = MemberPauses()
    told = statuses(pauses, [LUNCH, edited(LUNCH, Queue="support"), LUNCH])
    assert told == [{"interface": "PJSIP/101", "paused": True, "reason": "Lunch", "in_call": False}]


def test_an_agent_is_ready_once_no_queue_has_them_paused() -> None:
    pauses = MemberPauses()
    back = edited(LUNCH, Paused="0", PausedReason="")
    told = statuses(
        pauses, [LUNCH, edited(LUNCH, Queue="support"), back, edited(back, Queue="support")]
    )
    assert told == [
        {"interface": "PJSIP/101", "paused": True, "reason": "Lunch", "in_call": False},
        {"interface": "PJSIP/101", "paused": False, "reason": "", "in_call": False},
    ]


def test_a_supervisors_pause_with_another_reason_replaces_the_agents() -> None:
    pauses = MemberPauses()
    told = statuses(pauses, [LUNCH, edited(LUNCH, PausedReason="Coaching")])
    assert [t["reason"] for t in told] == ["Lunch", "Coaching"]


def test_a_member_status_carries_the_pause_and_a_local_member_is_its_device() -> None:
    # recorded: Local/8100@callpop-agents/n, not paused, in use (2) on a call, then free (1)
    recorded = events_of(AMI / "queue-call.txt", "QueueMemberStatus")
    pauses = MemberPauses()
    told = statuses(pauses, recorded)
    agent = {"interface": "Local/8100@callpop-agents", "paused": False, "reason": ""}
    assert told == [{**agent, "in_call": True}, {**agent, "in_call": False}]
    paused = edited(recorded[-1], Paused="1", PausedReason="Break")
    assert statuses(pauses, [paused]) == [
        {
            "interface": "Local/8100@callpop-agents",
            "paused": True,
            "reason": "Break",
            "in_call": False,
        }
    ]


def test_the_resyncs_queue_member_list_gives_each_members_status() -> None:
    listed = events_of(AMI / "queue-status-actions.txt", "QueueMember")
    pauses = MemberPauses()
    told = statuses(pauses, listed)
    assert {t["interface"] for t in told} == {
        (m.get("Location") or "").removesuffix("/n") for m in listed
    }
    assert all(t["paused"] is False for t in told)
    # each member's device state as listed (2: in use, on a call)
    assert {t["interface"]: t["in_call"] for t in told} == {
        (m.get("Location") or "").removesuffix("/n"): m.get("Status") == "2" for m in listed
    }


def test_a_device_on_a_call_is_told_once_whichever_queue_reports_it() -> None:
    pauses = MemberPauses()
    free = edited(LUNCH, Paused="0", PausedReason="")
    on_call = edited(free, Status="2")
    told = statuses(pauses, [free, on_call, edited(on_call, Queue="support"), free])
    assert [t["in_call"] for t in told] == [False, True, False]


def test_a_pause_without_a_device_state_keeps_the_last_one_known() -> None:
    pauses = MemberPauses()
    on_call = edited(LUNCH, Paused="0", PausedReason="", Status="2")
    no_status = Message([(k, v) for k, v in LUNCH.headers if k != "Status"])
    told = statuses(pauses, [on_call, no_status])
    assert [(t["paused"], t["in_call"]) for t in told] == [(False, True), (True, True)]


def test_a_pause_and_its_end_recorded_on_a_live_asterisk_are_told_as_they_happened() -> None:
    recorded = events_of(AMI / "queue-pause.txt", "QueueMemberPause")
    assert statuses(MemberPauses(), recorded) == [
        {
            "interface": "Local/8100@callpop-agents",
            "paused": True,
            "reason": "Lunch",
            "in_call": False,
        },
        {"interface": "Local/8100@callpop-agents", "paused": False, "reason": "", "in_call": False},
    ]
