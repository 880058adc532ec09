"""A test driver for `ivr.session.Session`: answers its actions as a PBX would.

Each method sends one event with a clock that moves on a second per answer, and
returns the actions the session answered with. Flows are built with
`Flow.model_validate`, independent of the YAML loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ivr.actions import (
    Action,
    CallbackRequest,
    Collect,
    FloodLookup,
    Hangup,
    Lookup,
    Play,
    QueueLookup,
    Transfer,
)
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    Caller,
    CallStarted,
    CustomerValue,
    DigitsEntered,
    FloodLooked,
    HungUp,
    LookupFinished,
    LookupStatus,
    PlayFinished,
    QueuesLooked,
    QueueValue,
)
from ivr.flow import Flow
from ivr.journey import Journey
from ivr.session import Session

NOON = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)  # a Monday


def make_flow(nodes: Mapping[str, Any], entry: str | None = None, **top: Any) -> Flow:
    """A flow from its nodes (the first one is the entry unless named)."""
    return Flow.model_validate({"entry": entry or next(iter(nodes)), "nodes": dict(nodes), **top})


def menu(options: Mapping[str, Any], prompt: str = "menu", **fields: Any) -> dict[str, Any]:
    return {"type": "menu", "prompts": [prompt], "options": dict(options), **fields}


def queue(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "transfer", "queue": name, **fields}


class Driver:
    def __init__(
        self,
        flow: Flow | Mapping[str, Flow],
        flow_id: str = "main",
        *,
        number: str = "+15551230000",
        name: str = "CALLER",
        dnis: str = "7000",
        now: datetime = NOON,
    ) -> None:
        flows = {flow_id: flow} if isinstance(flow, Flow) else dict(flow)
        self.session = Session(flows, flow_id)
        self.caller = Caller(number, name)
        self.dnis = dnis
        self.now = now
        self.at_ms = 0
        self.actions: list[Action] = []

    # --- events ---------------------------------------------------------------------------

    def _tick(self) -> int:
        self.at_ms += 1000
        return self.at_ms

    def start(self) -> list[Action]:
        event = CallStarted("call-1", self.caller, self.now, dnis=self.dnis, at_ms=self.at_ms)
        self.actions = self.session.handle(event)
        return self.actions

    def keys(self, digits: str) -> list[Action]:
        self.actions = self.session.handle(DigitsEntered(digits, self._tick()))
        return self.actions

    def silence(self, digits: str = "") -> list[Action]:
        """Nothing typed (or a partial entry) before the timeout."""
        self.actions = self.session.handle(DigitsEntered(digits, self._tick(), timed_out=True))
        return self.actions

    def terminator(self) -> list[Action]:
        """`#` alone: AGI's `200 result=` without `(timeout)`."""
        return self.keys("")

    def played(self, keys: str = "") -> list[Action]:
        self.actions = self.session.handle(PlayFinished(self._tick(), keys))
        return self.actions

    def found(self, customer: Mapping[str, CustomerValue]) -> list[Action]:
        event = LookupFinished(LookupStatus.FOUND, self._tick(), customer, matches=1)
        self.actions = self.session.handle(event)
        return self.actions

    def several(self, *candidates: str) -> list[Action]:
        event = LookupFinished(
            LookupStatus.FOUND, self._tick(), matches=len(candidates), candidates=candidates
        )
        self.actions = self.session.handle(event)
        return self.actions

    def not_found(self) -> list[Action]:
        self.actions = self.session.handle(LookupFinished(LookupStatus.NOT_FOUND, self._tick()))
        return self.actions

    def unavailable(self) -> list[Action]:
        self.actions = self.session.handle(LookupFinished(LookupStatus.UNAVAILABLE, self._tick()))
        return self.actions

    def queues(self, queues: Mapping[str, Mapping[str, QueueValue]]) -> list[Action]:
        self.actions = self.session.handle(QueuesLooked(self._tick(), queues))
        return self.actions

    def flood(self, message: str | None) -> list[Action]:
        """The flood switch: on with `message`, or off (None)."""
        event = FloodLooked(self._tick(), message is not None, message or "")
        self.actions = self.session.handle(event)
        return self.actions

    def callback(
        self, status: CallbackStatus, position: int | None = None, number: str = ""
    ) -> list[Action]:
        event = CallbackRequested(status, self._tick(), position, number)
        self.actions = self.session.handle(event)
        return self.actions

    def hang_up(self) -> list[Action]:
        self.actions = self.session.handle(HungUp(self._tick()))
        return self.actions

    # --- what the session asked for ----------------------------------------------------------

    @property
    def last(self) -> Action:
        return self.actions[-1]

    @property
    def collect(self) -> Collect:
        assert isinstance(self.last, Collect), self.actions
        return self.last

    @property
    def play(self) -> Play:
        assert isinstance(self.last, Play), self.actions
        return self.last

    @property
    def lookup(self) -> Lookup:
        assert isinstance(self.last, Lookup), self.actions
        return self.last

    @property
    def queue_lookup(self) -> QueueLookup:
        assert isinstance(self.last, QueueLookup), self.actions
        return self.last

    @property
    def flood_lookup(self) -> FloodLookup:
        assert isinstance(self.last, FloodLookup), self.actions
        return self.last

    @property
    def callback_request(self) -> CallbackRequest:
        assert isinstance(self.last, CallbackRequest), self.actions
        return self.last

    @property
    def transfer(self) -> Transfer:
        assert isinstance(self.last, Transfer), self.actions
        return self.last

    @property
    def hangup(self) -> Hangup:
        assert isinstance(self.last, Hangup), self.actions
        return self.last

    @property
    def sounds(self) -> list[str]:
        """Names of the sound files the last waiting action plays."""
        last = self.last
        assert isinstance(last, Collect | Play | Transfer | Hangup), self.actions
        return [getattr(p, "name", repr(p)) for p in last.prompts]

    @property
    def journey(self) -> Journey:
        return self.session.journey

    @property
    def variables(self) -> dict[str, str]:
        last = self.last
        assert isinstance(last, Transfer | Hangup), self.actions
        return dict(last.variables)

    @property
    def reason(self) -> str:
        assert self.journey.outcome is not None
        return self.journey.outcome.reason
