"""The one loop that drives a `Session` through a `Channel`, for every driver.

A driver (FastAGI, classic AGI, ARI, the simulators) implements `ivr.ports.Channel`
and calls `run_call`; everything else is here, once: actions become channel calls,
answers become events stamped with this loop's clock, lookups go through
`CallServices` (which keeps the CRM within its budget), call events go to the pop bus,
and the journey is handed to the services whatever happens.

Failure policy (style.md, after wazo-agid): a callpop bug never hangs up on a caller.
If the engine raises (a `SessionError`, a `FlowError`, a bug) or the channel fails in
an unexpected way, the error is logged once with its traceback, the channel gets
`CALLPOP_OUTCOME=error` (with the call id, flow and last node), and the call returns
to the dialplan, whose `error` route is the operator queue. A caller who hangs up is
no error: the journey records it. Cancellation (a shutdown past its grace period)
sends the caller on the same way, hands the journey over, and is re-raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from ivr.actions import (
    Action,
    CallbackRequest,
    CheckPin,
    Collect,
    EnterNode,
    FloodLookup,
    Hangup,
    Lookup,
    Play,
    QueueLookup,
    SetVariables,
    Transfer,
)
from ivr.call import iso_utc
from ivr.compiled import CompiledFlows, LiveFlows
from ivr.errors import FlowError
from ivr.events import (
    CallbackRequested,
    Caller,
    CallStarted,
    DigitsEntered,
    Event,
    FloodLooked,
    HungUp,
    LookupFinished,
    PinChecked,
    PlayFinished,
    QueuesLooked,
)
from ivr.journey import SHUTDOWN, Journey, lost_outcome
from ivr.outcome import error_variables
from ivr.ports import CallEvent, CallServices, Channel, ChannelGone
from ivr.session import Session
from ivr.survey import (
    SurveyAction,
    SurveyAnswer,
    SurveyEvent,
    SurveyLeg,
    SurveyServices,
    SurveySession,
)

__all__ = ["CLEANUP_TIMEOUT_S", "Clock", "SystemClock", "run_call", "run_survey", "start_call"]

log = logging.getLogger(__name__)

# After an error or a cancellation the caller must still be sent on to the dialplan,
# but a channel that does not answer must not hold the task (or a shutdown) forever.
CLEANUP_TIMEOUT_S = 5.0


class Clock(Protocol):
    """The runner's time: a monotonic clock for durations, a wall clock for stamps."""

    def monotonic_ms(self) -> int: ...

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real clocks."""

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def now(self) -> datetime:
        return datetime.now(UTC)


class _Finished(Exception):
    """The session's final action has been carried out."""


class _CallRun:
    # One per held call: slots, not an instance dict.
    __slots__ = (
        "call", "channel", "clock", "handed_back", "publish_failed", "services",
        "session", "start_ms", "stored",
    )  # fmt: skip

    def __init__(
        self,
        session: Session,
        channel: Channel,
        services: CallServices,
        call: CallStarted,
        clock: Clock,
    ) -> None:
        self.session = session
        self.channel = channel
        self.services = services
        self.call = call
        self.clock = clock
        self.start_ms = clock.monotonic_ms()
        self.publish_failed = False
        self.handed_back = False
        # The journey's `to_dict()` as handed to the services, or None: not stored yet,
        # or changed since (then `finish` stores it again).
        self.stored: Mapping[str, Any] | None = None

    def at_ms(self) -> int:
        return max(0, self.clock.monotonic_ms() - self.start_ms)

    def stamp(self) -> str:
        """The call's start on the wall clock plus its monotonic time since, so that a
        wall-clock step (NTP) mid-call cannot reorder one call's events."""
        return iso_utc(self.call.now + timedelta(milliseconds=self.at_ms()))

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Hand a call event to the services: synchronous and never waits (ivr/ports.py).
        The services promise not to raise; should a bug make them, the caller is still
        served and one line per call is logged."""
        try:
            self.services.publish(CallEvent(kind, self.call.call_id, self.stamp(), data))
        except Exception:
            if not self.publish_failed:
                self.publish_failed = True
                log.exception("call %r: publishing %s failed", self.call.call_id, kind)

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> Journey | None:
        self.publish(
            "ivr.started",
            {
                "flow": self.session.flow_id,
                "version": None if (version := self.session.version) is None else version.to_dict(),
                "caller": {"number": self.call.caller.number, "name": self.call.caller.name},
                "dnis": self.call.dnis,
            },
        )
        try:
            try:
                actions = self.session.handle(self.call)
                while True:
                    event = await self.carry_out(actions)
                    actions = self.session.handle(event)
            except _Finished:
                pass
            except ChannelGone as gone:
                if not self.session.ended:
                    self.session.handle(HungUp(self.at_ms(), gone.cause))
                    self.stored = None  # a journey stored before the hang-up said less
                else:
                    # Lost while handing the call back: Asterisk got no outcome.
                    self.undelivered(*lost_outcome(gone.cause))
        except Exception:
            log.exception(
                "call %r: the IVR failed in flow %r; sending the caller on to the operator",
                self.call.call_id,
                self.session.flow_id,
            )
            self.session.abort("internal-error", self.at_ms())
            self.undelivered("error", "internal-error")
            await self.hand_back()
        except GeneratorExit:
            raise  # closed without being resumed: nothing can be awaited any more
        except BaseException:
            # Cancelled (a shutdown past its grace period), or the process is ending.
            self.session.abort("cancelled", self.at_ms(), outcome=SHUTDOWN)
            self.undelivered(SHUTDOWN, "cancelled")
            await self.hand_back()
            try:
                async with self.channel.concurrency.within(CLEANUP_TIMEOUT_S):
                    await self.finish()
            except TimeoutError:
                log.warning("call %r: the journey was not handed over in time", self.call.call_id)
            raise
        return await self.finish()

    async def carry_out(self, actions: list[Action]) -> Event:
        """Carry out one answer's actions; the last one waits (its answer is returned)
        or is final (`_Finished` is raised once it is done)."""
        # Exact types first (the actions are final dataclasses; `is` costs a fraction of
        # `isinstance`), entering a node, the commonest, first.
        for action in actions:
            if type(action) is EnterNode:
                self.publish(
                    "ivr.node", {"node": action.node, "kind": action.kind, "flow": action.flow}
                )
            elif type(action) is Collect:
                entered = await self.channel.collect(action)
                # This loop owns the call's clock: the channel's stamp is not the call's.
                return DigitsEntered(entered.digits, self.at_ms(), entered.timed_out)
            elif type(action) is Play:
                keys = await self.channel.play(action)
                return PlayFinished(self.at_ms(), keys)
            elif type(action) is SetVariables:
                await self.channel.set_variables(action.variables)
            elif type(action) is Lookup:
                found = await self.services.lookup(action.by, action.value, at_ms=self.at_ms())
                return LookupFinished(
                    found.status, self.at_ms(), found.customer, found.matches, found.candidates
                )
            elif type(action) is QueueLookup:
                looked = await self.services.queue_state(action.queues, at_ms=self.at_ms())
                return QueuesLooked(self.at_ms(), looked.queues)
            elif type(action) is CallbackRequest:
                asked = await self.services.request_callback(
                    action, call_id=self.call.call_id, at_ms=self.at_ms()
                )
                return CallbackRequested(asked.status, self.at_ms(), asked.position, asked.number)
            elif type(action) is CheckPin:
                checked = await self.services.verify_pin(
                    action.customer_id, action.pin, at_ms=self.at_ms()
                )
                return PinChecked(checked.status, self.at_ms())
            elif type(action) is FloodLookup:
                flood = await self.services.flood_state(at_ms=self.at_ms())
                return FloodLooked(self.at_ms(), flood.active, flood.message)
            elif type(action) is Transfer or type(action) is Hangup:
                # Stored before Asterisk can see the outcome: a variable set takes effect
                # at once, and any end of the connection (a crash, SIGKILL) ends the AGI,
                # so the dialplan would route the call by it with its journey lost. The
                # write goes on while the caller hears the last prompts ("connecting
                # you"), which last longer than a commit: no caller waits for it then.
                if action.prompts:
                    storing = self.channel.concurrency.alongside(self.store())
                    await self.channel.say(action.prompts)
                    await storing
                else:
                    await self.store()
                await self.channel.set_variables(action.variables)
                await self.channel.finish(hangup=type(action) is Hangup)
                self.handed_back = True
                raise _Finished
            else:
                raise TypeError(f"the session asked for an unknown action: {action!r}")
        raise AssertionError(f"the session's answer ended with no waiting action: {actions!r}")

    # --- the end --------------------------------------------------------------------------

    def journey(self) -> Journey | None:
        try:
            return self.session.journey
        except Exception:
            return None  # The session never started: nothing was recorded.

    def undelivered(self, kind: str, reason: str) -> None:
        """The session had ended with an outcome that never reached Asterisk (the hand-back
        was cut short): the journey records `kind` instead, and is stored again."""
        if self.handed_back:
            return
        journey = self.journey()
        outcome = None if journey is None else journey.outcome
        if journey is None or outcome is None or outcome.type == kind:
            return  # the same kind of end: its own reason says more (`flow-error` ...)
        if outcome.type == SHUTDOWN:
            return  # the shutdown is why the rest failed
        journey.undelivered(kind, reason, self.at_ms())
        self.stored = None

    async def store(self) -> None:
        """Hand the journey to the services: stored when this returns, or queued once
        the services' bound on that wait passed (a slow database delays a caller by at
        most that bound; `callpop/journeys.py`)."""
        journey = self.journey()
        if journey is None:
            return
        # One dict for the database and for `ivr.ended`: the screen-pop builds the pop's
        # IVR path (labels, keys) from the event and does not wait for the write.
        self.stored = data = journey.to_dict()
        try:
            await self.services.save_journey(journey, data)
        except Exception:
            log.exception("call %r: saving the journey failed", self.call.call_id)

    async def hand_back(self) -> None:
        """Send the caller on to the dialplan with CALLPOP_OUTCOME=error (the operator),
        the journey stored first (as for any outcome Asterisk is given)."""
        if self.handed_back:
            return
        journey = self.journey()
        last_node = journey.last_node if journey is not None else None
        variables = error_variables(self.call.call_id, self.session.flow_id, last_node)
        if journey is not None and journey.variables != dict(variables):
            journey.variables = dict(variables)  # what the channel is about to be given
            self.stored = None
        try:
            async with self.channel.concurrency.within(CLEANUP_TIMEOUT_S):
                if self.stored is None:
                    await self.store()
                await self.channel.set_variables(variables)
                await self.channel.finish(hangup=False)
        except Exception as exc:
            if isinstance(exc, ChannelGone):
                # The caller left meanwhile, or the session broke: nobody to send on.
                self.undelivered(*lost_outcome(exc.cause))
            else:
                log.warning(
                    "call %r: could not send the caller on after an error: %r",
                    self.call.call_id,
                    exc,
                )
            if journey is not None and journey.variables:
                journey.variables = {}  # Asterisk was given none (or not all)
                self.stored = None
        self.handed_back = True

    async def finish(self) -> Journey | None:
        journey = self.journey()
        if journey is None:
            return None
        outcome = journey.outcome
        data = self.stored
        if data is None:
            # Not stored before a hand-back (the caller left, the session broke), or
            # changed since. Handed over before anything here can wait, so a cancellation
            # (a shutdown past its grace period) cannot lose it; `serve` writes whatever
            # is queued before it exits.
            await self.store()
            data = self.stored
            assert data is not None
        self.publish(
            "ivr.ended",
            {
                "outcome": outcome.type if outcome is not None else "error",
                "target": outcome.target if outcome is not None else None,
                "variables": data["variables"],
                "journey": data,
            },
        )
        return journey


def run_call(
    session: Session,
    channel: Channel,
    services: CallServices,
    call: CallStarted,
    *,
    clock: Clock | None = None,
) -> Coroutine[Any, Any, Journey | None]:
    """Run one call's IVR to its end (await it); it returns its journey (None only if
    the session could not even start) and raises nothing but a cancellation (or the
    process's end: any `BaseException` that is not an `Exception`), after the caller
    was sent on.
    `call` is the session's first event; its `now` is the call's start on the wall
    clock, from which event stamps count `clock`'s monotonic time."""
    return _CallRun(session, channel, services, call, clock or SystemClock()).run()


def start_call(
    flows: LiveFlows,
    flow_id: str,
    channel: Channel,
    services: CallServices,
    *,
    call_id: str,
    caller: Caller,
    dnis: str = "",
    channel_name: str = "",
    variables: Mapping[str, str] = MappingProxyType({}),
    clock: Clock | None = None,
) -> Coroutine[Any, Any, Journey | None]:
    """What every driver does with a new call: run flow `flow_id` of the flows current
    now (await it, as `run_call`). A flow that is not loaded is the admin's error, not the
    caller's: it is logged and the caller goes on to the dialplan with
    `CALLPOP_OUTCOME=error` (the operator).

    Not a coroutine itself: it hands back the run's, so a held call's await chain has
    no frame of this function in it."""
    try:
        session = Session(flows.current, flow_id)
    except FlowError as exc:
        log.error(
            "call %r: the dialplan asks for flow %r, which is not loaded (%s); "
            "sending the caller to the operator",
            call_id,
            flow_id,
            exc,
        )
        return _flow_not_loaded(channel, call_id, flow_id)
    clock = clock or SystemClock()
    started = CallStarted(
        call_id=call_id,
        caller=caller,
        now=clock.now(),
        dnis=dnis,
        channel=channel_name,
        variables=variables,
    )
    return run_call(session, channel, services, started, clock=clock)


async def _flow_not_loaded(channel: Channel, call_id: str, flow_id: str) -> None:
    try:
        await channel.set_variables(error_variables(call_id, flow_id, None))
        await channel.finish(hangup=False)
    except ChannelGone:
        pass


# --- the post-call survey (ivr/survey.py) ------------------------------------------------


async def run_survey(
    flows: CompiledFlows,
    ref: str,
    channel: Channel,
    services: SurveyServices,
    leg: SurveyLeg,
    *,
    caller: Caller | None = None,
    clock: Clock | None = None,
) -> SurveySession | None:
    """Run survey `ref` (CALLPOP_SURVEY, `FLOW/NAME`) on the caller's channel to its end;
    returns the session (None when the survey is not loaded) and raises nothing but a
    cancellation."""
    clock = clock or SystemClock()
    try:
        session = SurveySession(flows, ref)
    except FlowError as exc:
        log.error("call %r: no survey to run (%s); back to the dialplan", leg.call_id, exc)
        await _survey_back_to_dialplan(channel, leg)
        return None
    started = CallStarted(call_id=leg.call_id, caller=caller or Caller(), now=clock.now())
    try:
        actions = session.handle(started)
        while True:
            event = await _carry_out_survey(actions, channel, services, leg, clock)
            if event is None:
                break
            actions = session.handle(event)
    except ChannelGone as gone:
        session.handle(HungUp(0, gone.cause))
    except Exception:
        log.exception("call %r: survey %r failed; back to the dialplan", leg.call_id, ref)
        session.abort()
        await _survey_back_to_dialplan(channel, leg)
    except BaseException:
        session.abort()  # cancelled, or the process is ending
        raise
    return session


async def _carry_out_survey(
    actions: list[SurveyAction],
    channel: Channel,
    services: SurveyServices,
    leg: SurveyLeg,
    clock: Clock,
) -> SurveyEvent | None:
    """Carry out one answer's actions; the event that answers the last one, or None once
    the final hang-up is done."""
    for action in actions:
        if isinstance(action, SurveyAnswer):
            await services.record_survey_answer(action, leg, at=clock.now())
        elif isinstance(action, Collect):
            entered = await channel.collect(action)
            return DigitsEntered(entered.digits, 0, entered.timed_out)
        elif isinstance(action, Hangup):
            if action.prompts:
                await channel.say(action.prompts)
            await channel.finish(hangup=True)
            return None
        else:
            raise TypeError(f"the survey asked for an unknown action: {action!r}")
    raise AssertionError(f"the survey's answer ended with no waiting action: {actions!r}")


async def _survey_back_to_dialplan(channel: Channel, leg: SurveyLeg) -> None:
    try:
        async with channel.concurrency.within(CLEANUP_TIMEOUT_S):
            await channel.finish(hangup=False)
    except (ChannelGone, TimeoutError):
        pass
    except Exception as exc:
        log.warning("call %r: could not end the survey: %r", leg.call_id, exc)
