"""The ARI driver against the simulated Asterisk: a Stasis call becomes a session whose
channel plays, collects, sets variables and goes on in the dialplan, as the recordings
show a real Asterisk doing it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ivr import variables
from ivr.actions import Collect, Play, SayDigits, SayNumber, Sound
from ivr.ari.app import StasisCall, parse_args
from ivr.ari.channel import AriChannel, playback_kind
from ivr.events import DigitsEntered

from .harness import Recorder, ended, running, script
from .swagger import problems

MENU = Collect(prompts=(Sound("menu"),), max_digits=1, timeout_ms=3000, interdigit_ms=2000)
ACCOUNT = Collect(
    prompts=(Sound("enter-account"),),
    max_digits=6,
    timeout_ms=3000,
    interdigit_ms=2000,
    terminator="#",
)


class Steps(Recorder):
    def __init__(self, *steps: Any) -> None:
        super().__init__()
        self.steps = steps

    async def run(self, channel: AriChannel, call: StasisCall) -> Any:
        results: list[Any] = []
        for step in self.steps:
            if isinstance(step, Play):
                results.append(await channel.play(step))
            elif isinstance(step, Collect):
                results.append(await channel.collect(step))
            elif isinstance(step, tuple):
                await channel.set_variables(step)
            elif step == "say":
                await channel.say((Sound("demo-congrats"),))
            elif step == "continue":
                await channel.finish(hangup=False)
            elif step == "hangup":
                await channel.finish(hangup=True)
        return results


def requests_of(sim: Any, channel_id: str) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in sim.requests if channel_id in p]


async def test_a_stasis_call_runs_with_its_flow_caller_and_call_id() -> None:
    handler = Steps("continue")
    async with running(handler) as env:
        call = env.sim.call(
            script(linkedid="1795380000.1", extension="7101"), args=("flow=billing", "lang=fr")
        )
        assert await ended(call) == "continued"
    (started,) = handler.calls
    assert started.call_id == "1795380000.1"
    assert started.flow == "billing"
    assert dict(started.args) == {"lang": "fr"}
    assert (started.caller.number, started.caller.name) == ("+15551234567", "Alice Smith")
    assert started.dnis == "7101"
    assert ("POST", f"/ari/channels/{call.channel_id}/answer") in requests_of(
        env.sim, call.channel_id
    )


def test_stasis_args_default_to_main_and_skip_what_is_not_name_value() -> None:
    assert parse_args(()) == ("main", {})
    assert parse_args(("agent", "lang=en", "=x", "flow=tech")) == ("tech", {"lang": "en"})


async def test_the_first_key_stops_an_interruptible_prompt_and_is_returned() -> None:
    handler = Steps(Play((Sound("demo-congrats"), SayDigits("42"), SayNumber(7))), "continue")
    async with running(handler) as env:
        call = env.sim.call(script("3"))
        await ended(call)
        stops = [p for m, p in requests_of(env.sim, "callpop-play-") if m == "DELETE"]
    assert handler.results[call.channel_id] == ["3"]
    assert len(stops) == 1  # ARI does not stop a playback on DTMF: the app did
    assert call.played == ["sound:demo-congrats"]


async def test_a_prompt_nobody_interrupts_plays_to_its_end() -> None:
    handler = Steps(Play((Sound("beep"), SayDigits("42"), SayNumber(7))), "continue")
    async with running(handler) as env:
        call = env.sim.call(script("w"))
        await ended(call)
    assert handler.results[call.channel_id] == [""]
    assert call.played == ["sound:beep", "digits:42", "number:7"]


async def test_keys_during_a_say_are_not_taken() -> None:
    # The turn starts at the menu prompt: 1 answers it; 2 comes while the announcement plays.
    handler = Steps(MENU, "say", MENU, "continue")
    async with running(handler) as env:
        call = env.sim.call(script("12@300/1000"))
        await ended(call)
    first, second = handler.results[call.channel_id]
    assert first == DigitsEntered("1", first.at_ms)
    assert call.keys_sent == ["1", "2"]
    assert "sound:demo-congrats" in call.played
    assert (second.digits, second.timed_out) == ("", True)


@pytest.mark.parametrize(
    ("turns", "digits", "timed_out"),
    [
        ("123456", "123456", False),  # max digits
        ("42#", "42", False),  # terminator, dropped
        ("#", "", False),  # the terminator alone: not silence
        ("w", "", True),  # silence
        ("7", "7", True),  # a partial entry then the interdigit timeout
        ("9@8000", "", True),  # too late: the first-digit timeout came first
    ],
)
async def test_digit_collection_follows_get_data(turns: str, digits: str, timed_out: bool) -> None:
    handler = Steps(ACCOUNT, "continue")
    async with running(handler) as env:
        call = env.sim.call(script(turns))
        await ended(call)
    (entered,) = handler.results[call.channel_id]
    assert (entered.digits, entered.timed_out) == (digits, timed_out)


async def test_the_prompts_of_a_collection_are_stopped_by_the_first_digit() -> None:
    handler = Steps(ACCOUNT, "continue")
    async with running(handler) as env:
        call = env.sim.call(script("12#@100/50"))
        await ended(call)
        stops = [p for m, p, _ in env.sim.requests if m == "DELETE" and "callpop-collect-" in p]
    assert len(stops) == 1
    assert handler.results[call.channel_id][0].digits == "12"


async def test_playbacks_are_named_by_whether_keys_count() -> None:
    handler = Steps(Play((Sound("a"),)), Play((Sound("b"),), interruptible=False), MENU, "continue")
    async with running(handler) as env:
        call = env.sim.call(script("w w w"))
        await ended(call)
        ids = [
            value
            for _, _, query in env.sim.requests
            for name, value in query
            if name == "playbackId"
        ]
    assert [playback_kind(i) for i in ids] == ["play", "say", "collect"]


async def test_the_outcome_picks_the_extension_in_callpop_route() -> None:
    outcome = (
        (variables.OUTCOME, "queue"),
        (variables.QUEUE, "support"),
        (variables.TARGET, "support"),
    )
    handler = Steps(outcome, "continue")
    async with running(handler) as env:
        call = env.sim.call(script())
        await ended(call)
    assert call.continued_to == ("callpop-route", "queue", 1)
    assert call.variables[variables.QUEUE] == "support"


async def test_without_an_outcome_the_caller_goes_to_the_operator() -> None:
    async with running(Steps("continue")) as env:
        call = env.sim.call(script())
        await ended(call)
    assert call.continued_to == ("callpop-route", "operator", 1)


async def test_a_hangup_action_hangs_the_channel_up_normally() -> None:
    async with running(Steps(((variables.OUTCOME, "hangup"),), "hangup")) as env:
        call = env.sim.call(script())
        assert await ended(call) == "hangup-application"
    assert call.hangup_cause == 16


async def test_caller_text_reaches_the_channel_variables_unchanged() -> None:
    hostile = 'Zoë "VIP", two words & more=1 #x /../?\\'
    async with running(Steps(((variables.TOPIC, hostile),), "continue")) as env:
        call = env.sim.call(script())
        await ended(call)
    assert call.variables[variables.TOPIC] == hostile


async def test_a_caller_who_hangs_up_mid_prompt_ends_the_session_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Steps(ACCOUNT, "continue")
    async with running(handler) as env:
        call = env.sim.call(script("h@200"))
        assert await ended(call) == "hangup-caller"
        await handler.finished(call.channel_id).wait()
        await env.app.wait_idle()
    assert handler.gone[call.channel_id] == "caller"
    assert env.app.stats.calls_failed == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("request_number", range(6))
async def test_rest_on_a_channel_that_has_gone_ends_the_session_quietly(
    request_number: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The caller hangs up just before the N-th request on their channel: that request
    # gets 404 Channel not found, whatever it was (read the call id, answer, play, ...).
    handler = Steps(MENU, ((variables.OUTCOME, "queue"),), "say", "continue")
    async with running(handler) as env:
        call = env.sim.call(script("1", hangup_on_command=request_number))
        assert await ended(call) == "hangup-caller"
        await env.app.wait_idle()
    assert env.app.stats.calls_failed == 0
    assert env.app.live_calls == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_bug_in_the_ivr_sends_the_caller_on_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Recorder):
        async def run(self, channel: AriChannel, call: StasisCall) -> Any:
            raise RuntimeError("a bug")

    async with running(Broken()) as env:
        call = env.sim.call(script())
        await ended(call)
        await env.app.wait_idle()
    assert call.continued_to == ("callpop-route", "error", 1)
    assert call.variables[variables.OUTCOME] == "error"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


async def test_every_request_of_a_call_is_in_the_api_description() -> None:
    handler = Steps(
        Play((Sound("hello-world"),)), ACCOUNT, ((variables.OUTCOME, "queue"),), "say", "continue"
    )
    async with running(handler) as env:
        call = env.sim.call(script("1 42#"))
        await ended(call)
        sent = list(env.sim.requests)
    assert {m for m, _, _ in sent} >= {"GET", "POST", "DELETE"}
    assert [p for m, path, q in sent for p in problems(m, path, q)] == []


async def test_shutdown_sends_live_callers_to_the_operator() -> None:
    patient = Collect(
        prompts=(Sound("menu"),), max_digits=1, timeout_ms=600_000, interdigit_ms=1000
    )
    handler = Steps(patient, "continue")
    async with running(handler) as env:
        call = env.sim.call(script())  # silent: the collection waits
        await env.sim.until(lambda: bool(call.played))
        await env.app.stop(grace_s=0.01)
        assert await ended(call) == "continued"
    assert call.continued_to == ("callpop-route", "operator", 1)


async def test_a_caller_arriving_during_shutdown_goes_to_the_operator() -> None:
    handler = Steps(MENU, ((variables.OUTCOME, "queue"),), "continue")
    async with running(handler) as env:
        staying = env.sim.call(script("2@2000"))
        await env.sim.until(lambda: bool(staying.played))
        env.app.refuse_new_calls()
        arriving = env.sim.call(script(uniqueid="1795389902.8"))
        assert await ended(arriving) == "continued"
        assert await ended(staying) == "continued"
    assert arriving.continued_to == ("callpop-route", "operator", 1)
    assert staying.continued_to == ("callpop-route", "queue", 1)
    assert [c.channel_id for c in handler.calls] == [staying.channel_id]
    assert env.app.stats.declined == 1
