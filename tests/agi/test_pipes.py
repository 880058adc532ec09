"""The classic script's session on two pipes, without an event loop (agi_scripts/pipes.py):
the channel's waits are blocking reads, bounded by their deadlines."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from agi_scripts import commands as cmd
from agi_scripts.channel import AgiChannel, Timeouts
from agi_scripts.codec import AgiConnection
from agi_scripts.pipes import PipeWire
from ivr.ports import ChannelGone
from ivr.sequential import SEQUENTIAL, run_to_end

ENVIRONMENT = (
    b"agi_request: callpop.agi_script\nagi_uniqueid: 1795389902.7\nagi_channel: PJSIP/a\n\n"
)


@pytest.fixture
def asterisk() -> Iterator[tuple[int, int, AgiChannel]]:
    """(what Asterisk writes to, what it reads from, the script's channel)."""
    answers_r, answers_w = os.pipe()
    commands_r, commands_w = os.pipe()
    wire = PipeWire(AgiConnection(), answers_r, commands_w, SEQUENTIAL)
    channel = AgiChannel(wire, timeouts=Timeouts(command=0.2, close=0.2))
    os.write(answers_w, ENVIRONMENT)
    run_to_end(channel.receive_environment())
    yield answers_w, commands_r, channel
    run_to_end(wire.close())
    os.close(answers_w)
    os.close(commands_r)


def test_a_command_is_written_and_its_answer_read(
    asterisk: tuple[int, int, AgiChannel],
) -> None:
    answers, commands, channel = asterisk
    os.write(answers, b"200 result=0\n")
    response = run_to_end(channel.run(cmd.answer()))
    assert response.result == "0"
    assert os.read(commands, 100) == b"ANSWER\n"


def test_an_answer_that_does_not_come_in_time_ends_the_session_as_timed_out(
    asterisk: tuple[int, int, AgiChannel],
) -> None:
    _answers, _commands, channel = asterisk
    with pytest.raises(ChannelGone) as gone:
        run_to_end(channel.run(cmd.answer()))
    assert gone.value.cause == channel.gone == "timeout"
    assert "no answer to ANSWER" in channel.broken_detail
    with pytest.raises(ChannelGone):  # nothing more is sent on a timed-out session
        run_to_end(channel.run(cmd.answer()))


def test_leaving_the_ivr_closes_the_scripts_side_so_the_agi_ends(
    asterisk: tuple[int, int, AgiChannel],
) -> None:
    _answers, commands, channel = asterisk
    run_to_end(channel.finish(hangup=False))
    assert os.read(commands, 100) == b""  # EOF: Asterisk goes on in the dialplan


def test_closing_does_not_wait_for_asterisk_which_closes_the_scripts_stdin_after_its_exit(
    asterisk: tuple[int, int, AgiChannel],
) -> None:
    """res_agi waits for the script's exit (`waitpid`) before it closes the script's
    stdin: a script waiting for that EOF held each caller for its close deadline."""
    _answers, commands, channel = asterisk  # Asterisk keeps its end open, as it does
    channel.timeouts = Timeouts(close=30)
    run_to_end(channel.finish(hangup=False))
    run_to_end(channel.close())
    assert channel.gone is None  # closed, not cut off at the deadline
    assert os.read(commands, 100) == b""


def test_a_sighup_during_a_prompt_ends_the_call_there(
    asterisk: tuple[int, int, AgiChannel],
) -> None:
    """Asterisk answers the prompt with -1, then signals the hang-up; the signal is
    handled while the script waits, and the IVR must not go on to the next node."""
    answers, _commands, channel = asterisk

    def hangup(signum: int, frame: object) -> None:
        channel.hangup_signalled()
        os.write(answers, b"200 result=-1 endpos=7040\n")

    previous = signal.signal(signal.SIGALRM, hangup)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(ChannelGone) as gone:
            run_to_end(channel.run(cmd.stream_file("acme-welcome", "")))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gone.value.cause == "caller"
