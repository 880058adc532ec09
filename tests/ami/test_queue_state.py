"""Queue state for the IVR: the fold of AMI's queue answers and events, and the
estimated wait (callpop/ami/queue_state.py, docs/dialplan.md)."""

from __future__ import annotations

from pathlib import Path

from callpop.ami.codec import Decoder, Message
from callpop.ami.queue_state import QueueStates, estimate_wait
from callpop.pbx_sim.ami import read_transcript

RECORDING = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "asterisk"
    / "ami"
    / "queue-status-actions.txt"
)


def recorded_messages() -> list[Message]:
    decoder = Decoder()
    decoder.receive_data(read_transcript(RECORDING))
    return [m for m in decoder if isinstance(m, Message)]


def event(kind: str, **fields: str) -> Message:
    return Message([("Event", kind), *fields.items()])


def member(queue: str, location: str, status: str = "1", paused: str = "0") -> Message:
    return event("QueueMember", Queue=queue, Location=location, Status=status, Paused=paused)


def test_the_recorded_queue_status_gives_callers_agents_and_longest_wait() -> None:
    states = QueueStates()
    for message in recorded_messages():
        if message.action_id == "ami-3":
            states.feed(message, now=1000.0)
    board = states.snapshot(now=1004.0)
    noanswer = board["callpop-noanswer-queue"]
    assert (noanswer.callers, noanswer.logged_in, noanswer.available) == (1, 1, 0)
    assert noanswer.longest_wait_s == 5  # waited 1 s when asked, 4 s since
    test_queue = board["callpop-test-queue"]
    assert (test_queue.callers, test_queue.available, test_queue.ewt_s) == (0, 1, 0)


def test_a_caller_behind_a_busy_agent_waits_asterisks_talk_time_when_no_call_was_seen() -> None:
    states = QueueStates()
    states.feed(event("QueueParams", Queue="billing", Max="0", Holdtime="30", TalkTime="240"), 0)
    states.feed(member("billing", "PJSIP/101", status="2"), 0)
    assert states.snapshot(0)["billing"].ewt_s == 240


def test_recent_handle_times_replace_asterisks_average() -> None:
    states = QueueStates()
    states.feed(event("QueueParams", Queue="billing", Holdtime="30", TalkTime="240"), 0)
    states.feed(member("billing", "PJSIP/101", status="2"), 0)
    for talk in ("100", "200"):
        states.feed(event("AgentComplete", Queue="billing", TalkTime=talk), 0)
    assert states.snapshot(0)["billing"].ewt_s == 150


def test_callers_ahead_share_the_staffed_agents() -> None:
    states = QueueStates()
    states.feed(event("QueueParams", Queue="billing", TalkTime="300"), 0)
    for agent in ("PJSIP/101", "PJSIP/102"):
        states.feed(member("billing", agent, status="2"), 0)
    for n in range(5):
        states.feed(event("QueueCallerJoin", Queue="billing", Uniqueid=f"c{n}"), n)
    state = states.snapshot(10)["billing"]
    assert (state.callers, state.longest_wait_s) == (5, 10)
    assert state.ewt_s == 900  # 6 turns x 300 s / 2 agents


def test_paused_agents_do_not_count_and_a_queue_with_none_staffed_is_closed() -> None:
    states = QueueStates()
    states.feed(event("QueueParams", Queue="billing", TalkTime="300"), 0)
    states.feed(member("billing", "PJSIP/101", paused="1"), 0)
    state = states.snapshot(0)["billing"]
    assert (state.logged_in, state.paused, state.available) == (1, 1, 0)
    assert (state.open, state.ewt_s) == (False, None)


def test_a_leaving_caller_shortens_the_line_and_max_makes_it_full() -> None:
    states = QueueStates()
    states.feed(event("QueueParams", Queue="billing", Max="2", TalkTime="60"), 0)
    states.feed(member("billing", "PJSIP/101", status="2"), 0)
    states.feed(event("QueueCallerJoin", Queue="billing", Uniqueid="a"), 0)
    states.feed(event("QueueCallerJoin", Queue="billing", Uniqueid="b"), 0)
    assert states.snapshot(0)["billing"].full
    states.feed(event("QueueCallerAbandon", Queue="billing", Uniqueid="a"), 1)
    state = states.snapshot(1)["billing"]
    assert (state.callers, state.full) == (1, False)


def test_without_a_handle_time_asterisks_holdtime_is_the_estimate() -> None:
    assert estimate_wait(3, 0, 1, None, 45) == 45
