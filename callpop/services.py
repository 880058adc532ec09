"""The `CallServices` every driver is handed (ivr/ports.py), built from the CRM adapter,
the pop bus and a journey sink (`serve`'s journey writer, or the store itself).

A driver never talks to those directly: the runner asks here, within budgets, and
failures of these peers are absorbed here (logged once, counted), so a dead database
or a slow CRM degrades a call's data, never the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from callpop.flood import FloodReader
from callpop.journeys import JourneySink
from callpop.metrics import Metrics
from callpop.queue_store import QueueStateReader
from crm_adapter.lookup import lookup_within_budget, pin_within_budget
from crm_adapter.lookup_watch import LookupWatch
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CrmAdapter
from ivr.actions import CallbackRequest
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    FloodLooked,
    LookupFinished,
    LookupStatus,
    PinChecked,
    QueuesLooked,
)
from ivr.journey import Journey
from ivr.loop_concurrency import LOOP
from ivr.ports import CallEvent
from ivr.survey import SurveyAnswer, SurveyLeg
from screenpop.bus import BusClosed, PopBus

__all__ = ["CallbackRequests", "IvrServices", "SurveyAnswers"]

log = logging.getLogger("callpop.services")


class CallbackRequests(Protocol):
    """Where callback requests are stored (`callpop/callbacks/store.py`'s
    `CallbackStore`): returns the request's 1-based position among the queue's pending
    callbacks; idempotent per call id."""

    async def request(
        self,
        *,
        call_id: str,
        queue: str,
        number: str,
        caller_name: str,
        waited_s: float,
        at: datetime,
    ) -> int: ...

    async def withdraw(self, call_id: str, *, result: str) -> bool:
        """Take back the call's request while it is still pending; True if it was."""
        ...


class SurveyAnswers(Protocol):
    """Where post-call survey answers are stored (`callpop/surveys.py`'s `SurveyStore`)."""

    async def record(self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime) -> None: ...


class IvrServices:
    def __init__(
        self,
        *,
        crm: CrmAdapter,
        bus: PopBus,
        journeys: JourneySink | None,
        metrics: Metrics,
        lookup_budget_ms: int,
        driver: str = "fastagi",
        lookup_watch: LookupWatch | None = None,
        queues: QueueStateReader | None = None,
        flood: FloodReader | None = None,
        callbacks: CallbackRequests | None = None,
        phone: PhoneNormaliser | None = None,
        surveys: SurveyAnswers | None = None,
        pin_budget_ms: int = 1500,
    ) -> None:
        self._crm = crm
        self._pin_budget_ms = pin_budget_ms
        self._pins_failing = ""
        self._bus = bus
        self._journeys = journeys
        self._metrics = metrics
        self._budget_s = lookup_budget_ms / 1000
        self._lookup_budget_ms = lookup_budget_ms
        self.driver = driver
        self._queues = queues
        self._flood = flood
        self._callbacks = callbacks
        self._late: set[asyncio.Task[None]] = set()  # requests past the budget (_withdraw)
        self._phone = phone or PhoneNormaliser()
        self._callbacks_failing = False
        self._surveys = surveys
        self._surveys_failing = False
        # Logs the lookups' failures once per change of state, shared by every driver.
        self._lookup_watch = lookup_watch or LookupWatch()
        # prometheus_client's `.labels()` costs a lock and a dict lookup with a tuple
        # built each time: the children this driver counts with are looked up once.
        self._in_ivr = metrics.calls_in_ivr.labels(driver)
        self._errors = metrics.ivr_errors.labels(driver)
        self._ended: dict[str, Any] = {}
        self._lookup_seconds: dict[LookupStatus, Any] = {}
        # Told each call id the IVR starts: the AMI triggers match a Dial outside a
        # queue to our call by it when manager.conf lacks `channelvars`.
        self.on_call_started: list[Callable[[str], None]] = []

    def for_driver(self, driver: str) -> IvrServices:
        """The same services, counting calls under another driver's label."""
        twin = IvrServices(
            crm=self._crm,
            bus=self._bus,
            journeys=self._journeys,
            metrics=self._metrics,
            lookup_budget_ms=self._lookup_budget_ms,
            driver=driver,
            lookup_watch=self._lookup_watch,
            queues=self._queues,
            flood=self._flood,
            callbacks=self._callbacks,
            phone=self._phone,
            surveys=self._surveys,
            pin_budget_ms=self._pin_budget_ms,
        )
        twin.on_call_started = self.on_call_started
        return twin

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        started = time.perf_counter()
        outcome = await lookup_within_budget(self._crm, by, value, self._budget_s, concurrency=LOOP)
        self._lookup_watch.record(outcome)
        histogram = self._lookup_seconds.get(outcome.status)
        if histogram is None:
            histogram = self._lookup_seconds[outcome.status] = self._metrics.crm_lookup.labels(
                outcome.status.value
            )
        histogram.observe(time.perf_counter() - started)
        return outcome.finished(at_ms)

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        status, failure = await pin_within_budget(
            self._crm, customer_id, pin, self._pin_budget_ms / 1000, concurrency=LOOP
        )
        if failure != self._pins_failing:  # once per change of state, never the PIN
            if failure:
                log.warning(
                    "PIN checks failing (%s); callers go to the pin node's failure", failure
                )
            else:
                log.info("PIN checks answered again")
            self._pins_failing = failure
        return PinChecked(status, at_ms)

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        if self._queues is None:
            return QueuesLooked(at_ms)  # no queue state configured: every queue.Q.X is null
        return QueuesLooked(at_ms, await self._queues.read(queues))

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        if self._flood is None:
            return FloodLooked(at_ms)  # no shared database: never on
        state = await self._flood.read()
        return FloodLooked(at_ms, state.active, state.message)

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        number = self._phone.normalise(request.number)
        if number is None:
            return CallbackRequested(CallbackStatus.INVALID_NUMBER, at_ms)
        if self._callbacks is None:
            return CallbackRequested(CallbackStatus.UNAVAILABLE, at_ms)
        storing = asyncio.create_task(
            self._callbacks.request(
                call_id=call_id,
                queue=request.queue,
                number=number,
                caller_name=request.caller_name,
                waited_s=request.waited_s,
                at=datetime.now(UTC),
            ),
            name="callback-request",
        )
        try:
            async with asyncio.timeout(self._budget_s):
                # Shielded: a write cancelled past the budget may still land (a commit the
                # server finished while the answer was on its way), so it is let finish
                # and, when it stored the request, withdrawn (`_withdraw_late`).
                position = await asyncio.shield(storing)
        except Exception as exc:  # the caller keeps their line whatever the store did
            if not storing.done():
                self._withdraw_late(storing, call_id)
            if not self._callbacks_failing:
                log.warning(
                    "callback requests not stored (%s); callers keep their line",
                    type(exc).__name__,
                )
            self._callbacks_failing = True
            return CallbackRequested(CallbackStatus.UNAVAILABLE, at_ms)
        if self._callbacks_failing:
            log.info("callback requests stored again")
        self._callbacks_failing = False
        return CallbackRequested(CallbackStatus.STORED, at_ms, max(position, 1), number)

    async def record_survey_answer(
        self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime
    ) -> None:
        """`ivr.survey.SurveyServices`: the answer stored within the lookup budget; a
        store that fails or is too slow loses it (logged once per change of state), the
        caller goes on to the next question."""
        if self._surveys is None:
            if not self._surveys_failing:
                log.warning("survey answers not stored: no database for them")
            self._surveys_failing = True
            return
        try:
            async with asyncio.timeout(self._budget_s):
                await self._surveys.record(answer, leg, at=at)
        except Exception as exc:
            if not self._surveys_failing:
                log.warning(
                    "survey answers not stored (%s); callers go on with the survey",
                    type(exc).__name__,
                )
            self._surveys_failing = True
            return
        if self._surveys_failing:
            log.info("survey answers stored again")
        self._surveys_failing = False

    def _withdraw_late(self, storing: asyncio.Task[int], call_id: str) -> None:
        """The caller was told their request was not stored: one that lands anyway is
        taken back, so nobody who kept their line in the queue is also called back."""
        task = asyncio.create_task(self._withdraw(storing, call_id), name="callback-withdraw")
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _withdraw(self, storing: asyncio.Task[int], call_id: str) -> None:
        assert self._callbacks is not None
        try:
            await storing
        except Exception:
            return  # not stored: nothing to take back
        try:
            if await self._callbacks.withdraw(call_id, result="caller-not-told"):
                log.info("callback of call %s stored late, after its caller moved on: withdrawn",
                         call_id)  # fmt: skip
                return
            problem = "it was no longer pending"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning(
            "callback of call %s stored after its caller was told it was not, and not "
            "withdrawn (%s): see `callpop callbacks`",
            call_id, problem,
        )  # fmt: skip

    async def settled(self) -> None:
        """Until every request that overran the budget has landed or failed (and was
        withdrawn if it landed): at shutdown, and for tests."""
        while self._late:
            await asyncio.gather(*self._late, return_exceptions=True)

    def _count(self, event: CallEvent) -> None:
        kind = event.type
        if kind == "ivr.started":
            self._in_ivr.inc()
            for hook in self.on_call_started:
                hook(event.call_id)
        elif kind == "ivr.ended":
            self._in_ivr.dec()
            outcome = str(event.data.get("outcome") or "unknown")
            counter = self._ended.get(outcome)
            if counter is None:
                counter = self._ended[outcome] = self._metrics.calls.labels(self.driver, outcome)
            counter.inc()
            if outcome == "error":
                self._errors.inc()

    def publish(self, event: CallEvent) -> None:
        self._count(event)
        try:
            self._bus.publish(event)
        except BusClosed:
            # Shutting down: the caller is still served, the panel just misses an update.
            log.info(
                "bus closed; dropped %s", event.type, extra={"fields": {"call_id": event.call_id}}
            )

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        if self._journeys is None:
            return
        await self._journeys.save(journey, data)
