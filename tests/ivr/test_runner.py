"""The runner: a Session driven through a Channel with CallServices.

The channel and the services are in-memory fakes of our own ports (`ivr.ports`):
the channel answers from a script, as a caller would, and moves a fake clock on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import pytest

from ivr.actions import CallbackRequest, Collect, Play, SayNumber, Sound, Spoken
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    Caller,
    CallStarted,
    DigitsEntered,
    FloodLooked,
    LookupFinished,
    LookupStatus,
    PinChecked,
    PinStatus,
    QueuesLooked,
    QueueValue,
)
from ivr.flow import Flow
from ivr.journey import Journey
from ivr.loop_concurrency import LOOP
from ivr.ports import CallEvent, ChannelGone, Concurrency
from ivr.runner import run_call
from ivr.sequential import SEQUENTIAL, run_to_end
from ivr.session import Session

from .session_driver import make_flow, menu, queue

START = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
CALL = CallStarted(
    "1717416000.7", Caller("+15551230000", "ANA"), START, dnis="7000", channel="PJSIP/a-1"
)


class FakeClock:
    def __init__(self) -> None:
        self.ms = 50_000  # monotonic clocks do not start at zero

    def monotonic_ms(self) -> int:
        return self.ms

    def now(self) -> datetime:
        return START


Answer = str | DigitsEntered | BaseException


@dataclass
class FakeChannel:
    """Answers plays and collects from `script`, in order; each answer takes 1.5 s."""

    concurrency: ClassVar[Concurrency] = LOOP
    clock: FakeClock
    script: list[Answer] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_on: str | None = None
    fail_with: Exception = field(default_factory=lambda: RuntimeError("channel broke"))
    blocked: asyncio.Event = field(default_factory=asyncio.Event)

    def _next(self) -> Answer:
        self.clock.ms += 1500
        if not self.script:
            self.blocked.set()
            raise AssertionError("the script ran out")
        answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _record(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.fail_on == name:
            raise self.fail_with

    async def play(self, play: Play) -> str:
        self._record("play", play)
        answer = self._next()
        assert isinstance(answer, str)
        return answer

    async def collect(self, collect: Collect) -> DigitsEntered:
        self._record("collect", collect)
        if not self.script:
            self.blocked.set()
            await asyncio.Event().wait()  # a caller who never answers
        answer = self._next()
        if isinstance(answer, str):
            return DigitsEntered(answer, 999_999)
        assert isinstance(answer, DigitsEntered)
        return answer

    async def say(self, prompts: tuple[Spoken, ...]) -> None:
        self._record("say", prompts)

    async def set_variables(self, variables: tuple[tuple[str, str], ...]) -> None:
        self._record("set_variables", dict(variables))

    async def finish(self, *, hangup: bool) -> None:
        self._record("finish", hangup)

    def named(self, name: str) -> list[Any]:
        return [arg for n, arg in self.calls if n == name]


@dataclass
class FakeServices:
    customer: Mapping[str, Any] | None = None
    events: list[CallEvent] = field(default_factory=list)
    journeys: list[Journey] = field(default_factory=list)
    saved_data: list[Mapping[str, Any]] = field(default_factory=list)
    lookups: list[tuple[str, str, int]] = field(default_factory=list)
    queues: Mapping[str, Mapping[str, QueueValue]] = field(default_factory=dict)
    queue_lookups: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    flood: str | None = None
    callbacks: list[tuple[CallbackRequest, str]] = field(default_factory=list)
    publish_fails: bool = False
    save_fails: bool = False
    pin_answer: PinStatus = PinStatus.NO_PIN
    pin_checks: list[tuple[str, int]] = field(default_factory=list)

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        self.lookups.append((by, value, at_ms))
        if self.customer is None:
            return LookupFinished(LookupStatus.NOT_FOUND, at_ms)
        return LookupFinished(LookupStatus.FOUND, at_ms, self.customer, 1)

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        self.queue_lookups.append((queues, at_ms))
        return QueuesLooked(at_ms, {q: self.queues[q] for q in queues if q in self.queues})

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        return FloodLooked(at_ms, self.flood is not None, self.flood or "")

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        self.callbacks.append((request, call_id))
        return CallbackRequested(CallbackStatus.STORED, at_ms, len(self.callbacks), "+15550001")

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        self.pin_checks.append((customer_id, at_ms))
        return PinChecked(self.pin_answer, at_ms)

    def publish(self, event: CallEvent) -> None:
        if self.publish_fails:
            raise ConnectionError("bus down")
        self.events.append(event)

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        if self.save_fails:
            raise OSError("database down")
        # By call id, as the database upserts: a journey stored before its hand-back
        # is stored again if the hand-back failed.
        kept = [i for i, j in enumerate(self.journeys) if j.call_id != journey.call_id]
        self.journeys[:] = [self.journeys[i] for i in kept] + [journey]
        self.saved_data[:] = [self.saved_data[i] for i in kept] + [data]

    def of_type(self, kind: str) -> list[CallEvent]:
        return [e for e in self.events if e.type == kind]


HOTLINE = make_flow(
    {
        "main": menu({"1": {"goto": "who", "topic": "billing"}, "2": "bye"}, "main-menu"),
        "who": {"type": "lookup", "found": "vip", "not_found": "billing"},
        "vip": queue("vip", priority=9, prompts=["pls-hold"]),
        "billing": queue("billing"),
        "bye": {"type": "hangup", "prompts": ["goodbye"]},
        "broken": menu({"1": "nowhere"}),
    }
)


async def run(
    script: list[Answer], flow: Flow = HOTLINE, **services: Any
) -> tuple[Journey | None, FakeChannel, FakeServices]:
    clock = FakeClock()
    channel = FakeChannel(clock, script)
    fake = FakeServices(**services)
    journey = await run_call(Session({"main": flow}), channel, fake, CALL, clock=clock)
    return journey, channel, fake


async def test_a_call_is_carried_out_on_the_channel() -> None:
    journey, channel, services = await run(["1"])
    assert [name for name, _ in channel.calls] == ["collect", "set_variables", "finish"]
    assert channel.named("collect")[0].prompts == (Sound("main-menu"),)
    assert channel.named("set_variables")[0]["CALLPOP_OUTCOME"] == "queue"
    assert channel.named("set_variables")[0]["CALLPOP_TARGET"] == "billing"
    assert channel.named("finish") == [False]
    assert services.journeys == [journey]


async def test_lookups_go_through_the_services() -> None:
    _, channel, services = await run(["1"], customer={"id": "C9", "tier": "vip"})
    assert services.lookups == [("phone", "+15551230000", 1500)]
    assert channel.named("set_variables")[0]["CALLPOP_CUSTOMER_ID"] == "C9"
    assert channel.named("say") == [(Sound("pls-hold"),)]


async def test_queue_state_is_read_through_the_services() -> None:
    busy = make_flow(
        {
            "check": {
                "type": "branch",
                "cases": [{"when": "queue.billing.ewt_s > 600", "goto": "overflow"}],
                "default": "billing",
            },
            "overflow": queue("overflow"),
            "billing": queue("billing"),
        }
    )
    _, channel, services = await run([], busy, queues={"billing": {"ewt_s": 900}})
    assert services.queue_lookups == [(("billing",), 0)]
    assert channel.named("set_variables")[0]["CALLPOP_TARGET"] == "overflow"


BUSY = make_flow(
    {
        "flood": {
            "type": "flood",
            "messages": {"known-outage": ["outage"]},
            "next": "offer",
            "normal": "billing",
        },
        "offer": {
            "type": "callback",
            "queue": "billing",
            "offer_above": "5m",
            "declined": "billing",
        },
        "billing": queue("billing"),
    }
)


async def test_the_flood_switch_is_read_through_the_services() -> None:
    _, channel, _ = await run(
        ["", "2"], BUSY, flood="known-outage", queues={"billing": {"ewt_s": 900}}
    )
    assert channel.named("play")[0].prompts == (Sound("outage"),)


async def test_a_callback_request_goes_to_the_services_with_the_call_id() -> None:
    _, channel, services = await run(
        ["", "1", ""], BUSY, flood="known-outage", queues={"billing": {"ewt_s": 900}}
    )
    ((request, call_id),) = services.callbacks
    assert (request.queue, request.number, request.caller_id) == ("billing", "+15551230000", True)
    assert call_id == CALL.call_id
    assert channel.named("set_variables")[0]["CALLPOP_OUTCOME"] == "hangup"
    assert channel.named("say")[0][-2:] == (SayNumber(1), Sound("goodbye", "Goodbye."))


async def test_a_transfer_says_its_prompts_then_sets_variables_then_returns_to_the_dialplan() -> (
    None
):
    _, channel, _ = await run(["1"], customer={"id": "C9"})
    assert [name for name, _ in channel.calls][1:] == ["say", "set_variables", "finish"]


async def test_a_hangup_node_hangs_up_after_its_prompts() -> None:
    _, channel, _ = await run(["2"])
    assert channel.named("say") == [(Sound("goodbye"),)]
    assert channel.named("set_variables")[0]["CALLPOP_OUTCOME"] == "hangup"
    assert channel.named("finish") == [True]


async def test_answers_are_stamped_with_the_runner_clock() -> None:
    journey, _, _ = await run(["9", "1"])
    assert journey is not None
    # The channel said 999999 ms; the call's clock says 1.5 s per answer.
    assert (journey.steps[0].entered_ms, journey.steps[0].left_ms) == (0, 3000)


async def test_call_events_are_published_in_order() -> None:
    journey, _, services = await run(["1"])
    assert [e.type for e in services.events] == [
        "ivr.started",
        "ivr.node",
        "ivr.node",
        "ivr.node",
        "ivr.ended",
    ]
    assert services.events[0].data == {
        "flow": "main",
        "version": None,  # flows built in memory have no dialplan version
        "caller": {"number": "+15551230000", "name": "ANA"},
        "dnis": "7000",
    }
    assert [(e.data["node"], e.data["kind"]) for e in services.of_type("ivr.node")] == [
        ("main", "menu"),
        ("who", "lookup"),
        ("billing", "transfer"),
    ]
    assert journey is not None
    assert services.events[-1].data == {
        "outcome": "queue",
        "target": "billing",
        "variables": journey.variables,
        "journey": journey.to_dict(),
    }
    assert {e.call_id for e in services.events} == {"1717416000.7"}


async def test_ivr_ended_carries_the_journey_the_services_were_given_to_store() -> None:
    journey, _, services = await run(["1"], customer={"id": "C9", "tier": "vip"})
    assert journey is not None
    ended = services.of_type("ivr.ended")[0].data
    # The screen-pop builds the pop's IVR path from this, without reading the database.
    assert ended["journey"]["steps"][0]["node"] == "main"
    assert ended["journey"]["steps"][0]["keys"] == ["1"]
    assert ended["journey"]["customer_id"] == "C9"
    # Made once: the dict on the bus is the one handed over for the database.
    assert services.saved_data == [ended["journey"]]
    assert services.saved_data[0] is ended["journey"]


async def test_event_stamps_are_iso_utc_with_milliseconds_from_the_call_clock() -> None:
    _, _, services = await run(["1"])
    stamps = [e.at for e in services.events]
    assert stamps[0] == "2024-06-03T12:00:00.000Z"
    assert stamps[-1] == "2024-06-03T12:00:01.500Z"  # the answer came 1.5 s in


async def test_a_caller_who_hangs_up_ends_the_call_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journey, channel, services = await run(["9", ChannelGone("caller")])
    assert journey is not None and journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == ("hangup", "caller-hangup")
    assert channel.named("finish") == []
    assert services.journeys == [journey]
    assert services.of_type("ivr.ended")[0].data["outcome"] == "hangup"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _error_handoff(channel: FakeChannel) -> None:
    assert channel.named("set_variables")[-1] == {
        "CALLPOP_CALL_ID": "1717416000.7",
        "CALLPOP_FLOW": "main",
        "CALLPOP_OUTCOME": "error",
        "CALLPOP_LAST_NODE": "broken",
    }
    assert channel.named("finish") == [False]


async def test_an_engine_error_sends_the_caller_to_the_operator_never_hangs_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = make_flow({"broken": menu({"1": "nowhere"})})
    journey, channel, services = await run(["1"], flow=flow)
    _error_handoff(channel)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert journey is not None and journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == ("error", "flow-error")
    assert services.journeys == [journey]
    assert services.of_type("ivr.ended")[0].data["outcome"] == "error"


async def test_a_channel_failure_is_handled_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    flow = make_flow({"broken": menu({"1": "q"}), "q": queue("q")})
    journey, channel, _ = await run([RuntimeError("driver bug")], flow=flow)
    _error_handoff(channel)
    assert journey is not None and journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == ("error", "internal-error")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


@pytest.mark.parametrize("failure", [ChannelGone("caller"), RuntimeError("channel broke")])
async def test_an_error_while_sending_the_caller_on_is_not_raised(failure: Exception) -> None:
    clock = FakeClock()
    channel = FakeChannel(
        clock, [RuntimeError("driver bug")], fail_on="set_variables", fail_with=failure
    )
    services = FakeServices()
    flow = make_flow({"broken": menu({"1": "q"}), "q": queue("q")})
    journey = await run_call(Session({"main": flow}), channel, services, CALL, clock=clock)
    assert channel.named("set_variables") == [
        {
            "CALLPOP_CALL_ID": "1717416000.7",
            "CALLPOP_FLOW": "main",
            "CALLPOP_OUTCOME": "error",
            "CALLPOP_LAST_NODE": "broken",
        }
    ]
    assert journey is not None and services.journeys == [journey]


@dataclass
class OrderWatchingServices(FakeServices):
    """Notes, at each save, how many times the channel had been asked to `watched`."""

    channel: FakeChannel | None = None
    watched: str = "set_variables"
    done_when_saved: list[int] = field(default_factory=list)

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        assert self.channel is not None
        self.done_when_saved.append(len(self.channel.named(self.watched)))
        await super().save_journey(journey, data)


@pytest.mark.parametrize("keys", ["1", "2"])  # a transfer, the IVR hanging up
async def test_the_journey_is_stored_before_the_outcome_is_set_on_the_channel(keys: str) -> None:
    # Asterisk routes by CALLPOP_OUTCOME as soon as the AGI ends, a crash included.
    clock = FakeClock()
    channel = FakeChannel(clock, [keys])
    services = OrderWatchingServices(channel=channel)
    journey = await run_call(Session({"main": HOTLINE}), channel, services, CALL, clock=clock)
    assert services.done_when_saved == [0]  # stored once, before any variable
    assert journey is not None and services.saved_data[0] == journey.to_dict()
    assert len(channel.named("set_variables")) == 1


@pytest.mark.parametrize(
    ("failure", "recorded"),
    [
        (ChannelGone("caller"), ("hangup", "caller-hangup")),
        (ChannelGone("protocol-error"), ("protocol-error", "channel-protocol-error")),
        (ChannelGone("timeout"), ("timeout", "channel-timeout")),
        (RuntimeError("a 9,000-character call id"), ("error", "internal-error")),
    ],
)
async def test_an_outcome_that_never_reached_asterisk_is_replaced_by_how_the_call_ended(
    failure: Exception, recorded: tuple[str, str]
) -> None:
    # The session chose the billing queue; setting its variables failed.
    clock = FakeClock()
    channel = FakeChannel(clock, ["1"], fail_on="set_variables", fail_with=failure)
    services = FakeServices()
    journey = await run_call(Session({"main": HOTLINE}), channel, services, CALL, clock=clock)
    assert journey is not None and journey.outcome is not None
    assert (journey.outcome.type, journey.outcome.reason) == recorded
    assert journey.variables == {}  # Asterisk was given none
    # Stored again as it truly ended (the first store said `queue`).
    assert services.saved_data[-1]["outcome"]["type"] == recorded[0]


async def test_a_journey_that_cannot_be_saved_is_logged_once_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journey, channel, _ = await run(["1"], save_fails=True)
    assert journey is not None and channel.named("finish") == [False]
    failures = [r for r in caplog.records if "saving the journey" in r.getMessage()]
    assert len(failures) == 1


async def test_a_bus_that_fails_costs_the_caller_nothing(caplog: pytest.LogCaptureFixture) -> None:
    journey, channel, _ = await run(["1"], publish_fails=True)
    assert journey is not None and journey.outcome is not None
    assert journey.outcome.type == "queue"
    assert channel.named("finish") == [False]
    assert len([r for r in caplog.records if "publishing" in r.getMessage()]) == 1


async def test_cancellation_sends_the_caller_on_saves_a_shutdown_journey_and_is_re_raised() -> None:
    clock = FakeClock()
    channel = FakeChannel(clock, [])
    services = FakeServices()
    flow = make_flow({"broken": menu({"1": "q"}), "q": queue("q")})
    task = asyncio.create_task(
        run_call(Session({"main": flow}), channel, services, CALL, clock=clock)
    )
    await channel.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _error_handoff(channel)
    assert len(services.journeys) == 1
    outcome = services.journeys[0].outcome
    # Stored as callpop stopping, not as a failure of the call (CALLPOP_OUTCOME=error
    # is still what the channel was given: the operator).
    assert outcome is not None and (outcome.type, outcome.reason) == ("shutdown", "cancelled")


@dataclass
class LooplessChannel(FakeChannel):
    """A channel whose driver has no event loop (the classic script's)."""

    concurrency: ClassVar[Concurrency] = SEQUENTIAL


def test_the_process_ending_mid_call_sends_the_caller_on_then_goes_on_ending() -> None:
    clock = FakeClock()
    channel = LooplessChannel(clock, [KeyboardInterrupt()])
    services = FakeServices()
    flow = make_flow({"broken": menu({"1": "q"}), "q": queue("q")})
    with pytest.raises(KeyboardInterrupt):
        run_to_end(run_call(Session({"main": flow}), channel, services, CALL, clock=clock))
    _error_handoff(channel)
    outcome = services.journeys[0].outcome
    assert outcome is not None and (outcome.type, outcome.reason) == ("shutdown", "cancelled")


def test_without_an_event_loop_a_transfers_journey_is_stored_before_its_last_prompts() -> None:
    clock = FakeClock()
    channel = LooplessChannel(clock, ["1"])
    services = OrderWatchingServices(channel=channel, watched="say")
    flow = make_flow({"broken": menu({"1": "q"}), "q": queue("q", prompts=["connecting"])})
    journey = run_to_end(run_call(Session({"main": flow}), channel, services, CALL, clock=clock))
    assert journey is not None and services.journeys == [journey]
    assert services.done_when_saved == [0]  # stored first, then "connecting" played
    assert [name for name, _ in channel.calls][-3:] == ["say", "set_variables", "finish"]


@dataclass
class PromptWaitingForTheSave(FakeChannel):
    """A channel whose last prompts end only once the journey's save has begun."""

    save_begun: asyncio.Event = field(default_factory=asyncio.Event)

    async def say(self, prompts: tuple[Spoken, ...]) -> None:
        await super().say(prompts)
        await self.save_begun.wait()


@dataclass
class SaveNoticingServices(FakeServices):
    channel: PromptWaitingForTheSave | None = None

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        assert self.channel is not None
        self.channel.save_begun.set()
        await super().save_journey(journey, data)


async def test_the_journey_is_written_while_the_caller_hears_the_last_prompts() -> None:
    clock = FakeClock()
    channel = PromptWaitingForTheSave(clock, ["1"])
    services = SaveNoticingServices(channel=channel, customer={"id": "C9", "tier": "vip"})
    async with asyncio.timeout(5):  # a save only after the prompts would never begin
        journey = await run_call(Session({"main": HOTLINE}), channel, services, CALL, clock=clock)
    assert channel.named("say") == [(Sound("pls-hold"),)]
    assert journey is not None and services.saved_data == [journey.to_dict()]
    assert [name for name, _ in channel.calls][-2:] == ["set_variables", "finish"]


async def test_a_caller_gone_during_the_last_prompts_is_stored_as_hung_up() -> None:
    clock = FakeClock()
    channel = FakeChannel(clock, ["1"], fail_on="say", fail_with=ChannelGone("caller"))
    services = FakeServices(customer={"id": "C9", "tier": "vip"})
    journey = await run_call(Session({"main": HOTLINE}), channel, services, CALL, clock=clock)
    assert journey is not None and journey.outcome is not None
    assert journey.outcome.type == "hangup"
    assert services.saved_data[-1]["outcome"]["type"] == "hangup"
    assert channel.named("set_variables") == []
