"""The pop lifecycle: which agent sees which call, in which state. Pure: no I/O, no clock.

A pop is keyed by (call id, agent): one call has at most one pop per agent, whatever
AMI does. Pops follow the queue (design.md, "Asterisk side"):

    ring ──▶ OFFERED ──connect──▶ ACCEPTED ──complete/hangup──▶ WRAPUP ──dispose──▶ DONE
                │ ▲
                │ └──────────── ring (the same agent rung again: a new offer, same pop)
                ▼
            RETRACTED   no answer, another agent answered, caller abandoned or hung up

The classic faults of CRM connectors are what this table rules out: a pop that stays
on the first agent of a hunt group (every other offer is retracted on a connect), a
pop for every agent on a transfer (only the agent rung or connected gets one), a pop
again at hang-up (a hang-up never creates a pop), a second pop when the same member is
rung twice (`queue-noanswer.txt`: AgentCalled, AgentRingNoAnswer, AgentCalled again).

A transfer re-pops at the new agent: the new pop carries the notes of the agents who
had the call before (`handoff`), so the caller is not asked again.

All transitions live in `TRANSITIONS`; an event with no entry there is a stale or
duplicate report from the PBX (AMI and the `/connected` route may both report one
answer: the first wins) and changes nothing. Only `dispose`, which comes from an
agent's request, raises `PopError` when it does not fit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

from screenpop.interfaces import normalise_interface

__all__ = [
    "POP_EVENT_KINDS",
    "TRANSITIONS",
    "AgentRef",
    "CallEventLike",
    "Pop",
    "PopChange",
    "PopError",
    "PopMachine",
    "PopState",
    "normalise_interface",
]

# The kinds `PopMachine.handle` acts on; it returns no change for any other.
POP_EVENT_KINDS = frozenset(
    {
        "agent.ringing",
        "agent.connected",
        "agent.ring_no_answer",
        "agent.completed",
        "queue.left",
        "call.hungup",
    }
)


class PopState(Enum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    WRAPUP = "wrapup"
    DONE = "done"
    RETRACTED = "retracted"


ACTIVE_STATES = frozenset({PopState.OFFERED, PopState.ACCEPTED, PopState.WRAPUP})

Trigger = Literal[
    "ring", "connect", "connect_elsewhere", "no_answer", "complete", "abandon", "hangup", "dispose"
]
ChangeKind = Literal["offered", "accepted", "updated", "retracted", "wrapup", "done"]

# (state before or None for "no pop yet", trigger) -> state after.
TRANSITIONS: Mapping[tuple[PopState | None, Trigger], PopState] = {
    (None, "ring"): PopState.OFFERED,
    # /connected pops on answer without a ring; AMI may have been down for the ring
    (None, "connect"): PopState.ACCEPTED,
    # the agent talked and we missed it all: still give them the wrap-up to record it
    (None, "complete"): PopState.WRAPUP,
    (PopState.OFFERED, "ring"): PopState.OFFERED,
    (PopState.OFFERED, "connect"): PopState.ACCEPTED,
    (PopState.OFFERED, "connect_elsewhere"): PopState.RETRACTED,
    (PopState.OFFERED, "no_answer"): PopState.RETRACTED,
    (PopState.OFFERED, "abandon"): PopState.RETRACTED,
    (PopState.OFFERED, "hangup"): PopState.RETRACTED,
    (PopState.OFFERED, "complete"): PopState.WRAPUP,
    (PopState.RETRACTED, "ring"): PopState.OFFERED,
    (PopState.RETRACTED, "connect"): PopState.ACCEPTED,
    (PopState.ACCEPTED, "complete"): PopState.WRAPUP,
    (PopState.ACCEPTED, "hangup"): PopState.WRAPUP,
    (PopState.ACCEPTED, "dispose"): PopState.ACCEPTED,
    (PopState.WRAPUP, "dispose"): PopState.DONE,
    # the call came back to an agent who had it before (a transfer back): same pop
    (PopState.WRAPUP, "ring"): PopState.OFFERED,
    (PopState.WRAPUP, "connect"): PopState.ACCEPTED,
    (PopState.DONE, "ring"): PopState.OFFERED,
    (PopState.DONE, "connect"): PopState.ACCEPTED,
    (PopState.DONE, "dispose"): PopState.DONE,
}

_KIND_OF_STATE: Mapping[PopState, ChangeKind] = {
    PopState.OFFERED: "offered",
    PopState.ACCEPTED: "accepted",
    PopState.WRAPUP: "wrapup",
    PopState.DONE: "done",
    PopState.RETRACTED: "retracted",
}

# How many finished calls are remembered so that late or replayed events for them
# (an AgentRingNoAnswer after the Hangup) cannot bring a pop back.
ENDED_CALLS_REMEMBERED = 10_000
# Calls tracked at most. A call whose hang-up never reached us (AMI was down) would
# stay for ever; past this many, the oldest calls with nothing left on a desk go.
MAX_CALLS = 20_000


class PopError(Exception):
    """An agent's request does not fit the pop (unknown call, not theirs, wrong state)."""


class CallEventLike(Protocol):
    """What the machine reads of a bus event (`screenpop.bus.BusEvent` fits)."""

    @property
    def type(self) -> str: ...

    @property
    def call_id(self) -> str: ...

    @property
    def at(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class AgentRef:
    """An agent as the pops know them: their id and the name other agents see."""

    id: str
    name: str


@dataclass(slots=True)
class Pop:
    """One call on one agent's desk."""

    call_id: str
    agent: AgentRef
    state: PopState
    since: str
    offers: int = 0
    queue: str = ""
    interface: str = ""
    notes: str = ""
    disposition: str | None = None
    reason: str | None = None
    # The agent's own channel in the bridge and the caller's (AMI AgentConnect's
    # DestChannel and Channel): what a transfer acts on. Never in a view: no other agent
    # (nor this one's browser) needs the PBX's channel names.
    channel: str = ""
    caller_channel: str = ""
    # The Asterisk (`ami:` entry) whose events made the pop: its AMI's next holder ends
    # the call if that Asterisk no longer lists it. Never in a view either.
    pbx: str = ""

    @property
    def pop_id(self) -> str:
        return f"{self.call_id}/{self.agent.id}"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(slots=True)
class _Call:
    call_id: str
    pops: dict[str, Pop] = field(default_factory=dict)  # agent id -> pop, in arrival order
    payload: Mapping[str, Any] = field(default_factory=dict)
    hung_up: bool = False


@dataclass(frozen=True, slots=True)
class PopChange:
    """Something one agent's panel must show: `kind` is the `pop.*` event type's tail."""

    kind: ChangeKind
    agent_id: str
    view: Mapping[str, Any]
    pbx: str = ""  # the pop's Asterisk, for its row (not shown to anyone)


class PopMachine:
    """Every call's pops. `resolve` maps an AMI interface to an agent (None: not ours).

    `handle(event)` takes call events in bus order and returns the changes to send;
    `dispose`, `set_notes` and `set_payload` are the agent's and the payload
    builder's inputs. Views are plain dicts ready for JSON.
    """

    def __init__(
        self,
        resolve: Callable[[str], AgentRef | None],
        payload_for: Callable[[str], Mapping[str, Any]] | None = None,
    ) -> None:
        self._resolve = resolve
        # what a call's first pop shows, asked once when the call first reaches an agent
        self._payload_for = payload_for or (lambda _call_id: {})
        self._calls: dict[str, _Call] = {}
        self._by_agent: dict[str, dict[str, Pop]] = {}  # agent id -> call id -> active pop
        self._ended: OrderedDict[str, None] = OrderedDict()

    # --- reading ----------------------------------------------------------------------

    def pops_of(self, agent_id: str) -> list[Pop]:
        """The agent's active pops (offered, accepted, wrap-up), oldest first."""
        return list(self._by_agent.get(agent_id, {}).values())

    def pop(self, call_id: str, agent_id: str) -> Pop | None:
        call = self._calls.get(call_id)
        return None if call is None else call.pops.get(agent_id)

    def agents_of(self, call_id: str) -> list[str]:
        """The agents holding a pop of the call (any state)."""
        call = self._calls.get(call_id)
        return [] if call is None else list(call.pops)

    def calls(self) -> Iterator[str]:
        return iter(self._calls)

    def hung_up(self, call_id: str) -> bool:
        """The call's hang-up was seen (or it ended and was forgotten)."""
        call = self._calls.get(call_id)
        return call_id in self._ended if call is None else call.hung_up

    def ringing_or_talking_on(self, pbx: str) -> set[str]:
        """The calls with a pop offered or accepted that the Asterisk `pbx` reported:
        those its caller's hang-up would end."""
        return {
            call.call_id
            for call in self._calls.values()
            if not call.hung_up
            and any(
                p.pbx == pbx and p.state in (PopState.OFFERED, PopState.ACCEPTED)
                for p in call.pops.values()
            )
        }

    def has_call(self, call_id: str) -> bool:
        return call_id in self._calls

    def payload(self, call_id: str) -> Mapping[str, Any] | None:
        call = self._calls.get(call_id)
        return None if call is None else call.payload

    def view(self, pop: Pop) -> dict[str, Any]:
        call = self._calls.get(pop.call_id)
        handoff = []
        if call is not None:
            handoff = [
                {"agent": other.agent.name, "notes": other.notes}
                for other in call.pops.values()
                if other is not pop
                and other.notes
                and other.state in (PopState.ACCEPTED, PopState.WRAPUP, PopState.DONE)
            ]
        return {
            "pop_id": pop.pop_id,
            "call_id": pop.call_id,
            "state": pop.state.value,
            "since": pop.since,
            "offers": pop.offers,
            "queue": pop.queue,
            "interface": pop.interface,
            "notes": pop.notes,
            "disposition": pop.disposition,
            "reason": pop.reason,
            "handoff": handoff,
            "payload": dict(call.payload) if call is not None else {},
        }

    # --- inputs -----------------------------------------------------------------------

    def restore(self, pop: Pop) -> None:
        """Put back an active pop read from storage (this process started while the
        call was on a desk): no change is sent for it, the call's next events move it
        as any other. The call's payload is the builder's until completed again."""
        if not pop.active or pop.call_id in self._ended:
            return
        call = self._calls.get(pop.call_id)
        if call is None:
            call = self._calls[pop.call_id] = _Call(
                pop.call_id, payload=self._payload_for(pop.call_id)
            )
        if pop.agent.id in call.pops:  # the bus got there first: it is newer
            return
        call.pops[pop.agent.id] = pop
        self._by_agent.setdefault(pop.agent.id, {})[pop.call_id] = pop

    def handle(self, event: CallEventLike) -> list[PopChange]:
        kind = event.type
        if kind == "agent.ringing":
            return self._agent_event(event, "ring")
        if kind == "agent.connected":
            return self._agent_event(event, "connect")
        if kind == "agent.ring_no_answer":
            return self._agent_event(event, "no_answer")
        if kind == "agent.completed":
            return self._agent_event(event, "complete")
        if kind == "queue.left":
            if event.data.get("reason") in ("abandoned", "timeout"):
                return self._all_pops(event, "abandon", str(event.data.get("reason")))
            return []
        if kind == "call.hungup":
            changes = self._all_pops(event, "hangup", "caller_hungup")
            call = self._calls.get(event.call_id)
            if call is not None:
                call.hung_up = True
                self._maybe_forget(call)
            else:
                self._remember_ended(event.call_id)
            return changes
        return []

    def set_payload(self, call_id: str, payload: Mapping[str, Any]) -> list[PopChange]:
        """What the panel shows of the call (customer, IVR path...) is now `payload`:
        every active pop of the call is updated."""
        call = self._calls.get(call_id)
        if call is None:
            return []
        call.payload = payload
        return [self._change("updated", p) for p in call.pops.values() if p.active]

    def set_notes(self, call_id: str, agent_id: str, notes: str) -> list[PopChange]:
        """The agent's draft notes (autosaved as they type): their other tabs, and any
        agent the call went on to, see them."""
        pop = self._own_active_pop(call_id, agent_id)
        if pop.notes == notes:
            return []
        pop.notes = notes
        return self._notes_changed(pop)

    def dispose(
        self, call_id: str, agent_id: str, disposition: str, notes: str, at: str
    ) -> list[PopChange]:
        """The agent recorded the call's outcome. During the call the pop stays live
        (it ends straight after the call); in wrap-up it ends now."""
        pop = self._own_pop(call_id, agent_id)
        after = TRANSITIONS.get((pop.state, "dispose"))
        if after is None:
            raise PopError(
                f"call {call_id} is {pop.state.value} for this agent: "
                "a disposition needs an answered call"
            )
        pop.disposition = disposition
        pop.notes = notes
        if after is not pop.state:
            changes = self._move(pop, after, at, reason=None)
        else:
            changes = [self._change("updated", pop)]
        changes += self._notes_changed(pop, include_self=False)
        self._maybe_forget(self._calls[call_id])
        return changes

    # --- transitions ------------------------------------------------------------------

    def _agent_event(self, event: CallEventLike, trigger: Trigger) -> list[PopChange]:
        if event.call_id in self._ended:
            return []
        interface = str(event.data.get("interface") or "")
        agent = self._resolve(normalise_interface(interface)) if interface else None
        if agent is None:
            return []
        call = self._calls.get(event.call_id)
        if call is None:
            if trigger not in ("ring", "connect", "complete"):
                return []
            call = self._calls[event.call_id] = _Call(
                event.call_id, payload=self._payload_for(event.call_id)
            )
            if len(self._calls) > MAX_CALLS:
                self._shed()
        if call.hung_up:
            return []
        pop = call.pops.get(agent.id)
        after = TRANSITIONS.get((None if pop is None else pop.state, trigger))
        if after is None:
            if pop is not None and trigger == "connect":
                # the /connected route reported the answer first; AMI's report of it
                # still brings the channels a transfer needs
                self._note_channels(pop, event)
            return []
        queue = str(event.data.get("queue") or "")
        pbx = str(event.data.get("pbx") or "")
        if pop is None:
            pop = Pop(
                event.call_id, agent, after, event.at, queue=queue, interface=interface, pbx=pbx
            )
            call.pops[agent.id] = pop
            changes = self._move(pop, after, event.at, reason=None, new=True)
        else:
            if queue:
                pop.queue = queue
            if pbx:
                pop.pbx = pbx
            pop.interface = interface
            reason = "no_answer" if trigger == "no_answer" else None
            if after is PopState.WRAPUP and pop.disposition is not None:
                after = PopState.DONE  # disposed during the call: nothing left to wrap up
            changes = self._move(pop, after, event.at, reason=reason)
        if trigger == "connect":
            self._note_channels(pop, event)
            # ring-all losers get no event of their own: the connect elsewhere is theirs
            for other in call.pops.values():
                if other is not pop and other.state is PopState.OFFERED:
                    changes += self._move(
                        other, PopState.RETRACTED, event.at, reason="answered_elsewhere"
                    )
        self._maybe_forget(call)
        return changes

    @staticmethod
    def _note_channels(pop: Pop, event: CallEventLike) -> None:
        channel = str(event.data.get("channel") or "")
        if channel:
            pop.channel = channel
            pop.caller_channel = str(event.data.get("caller_channel") or "")

    def _all_pops(self, event: CallEventLike, trigger: Trigger, reason: str) -> list[PopChange]:
        call = self._calls.get(event.call_id)
        if call is None:
            return []
        changes: list[PopChange] = []
        for pop in list(call.pops.values()):
            after = TRANSITIONS.get((pop.state, trigger))
            if after is None:
                continue
            if after is PopState.WRAPUP and pop.disposition is not None:
                after = PopState.DONE
            changes += self._move(
                pop, after, event.at, reason=reason if after is PopState.RETRACTED else None
            )
        self._maybe_forget(call)
        return changes

    def _move(
        self, pop: Pop, after: PopState, at: str, *, reason: str | None, new: bool = False
    ) -> list[PopChange]:
        if after is PopState.OFFERED:
            pop.offers += 1
        if not new and after is pop.state and after is not PopState.OFFERED:
            return []
        pop.state = after
        pop.since = at
        pop.reason = reason
        index = self._by_agent.setdefault(pop.agent.id, {})
        if pop.active:
            index[pop.call_id] = pop
        else:
            index.pop(pop.call_id, None)
            if not index:
                del self._by_agent[pop.agent.id]
        return [self._change(_KIND_OF_STATE[after], pop)]

    def _notes_changed(self, pop: Pop, *, include_self: bool = True) -> list[PopChange]:
        call = self._calls[pop.call_id]
        return [
            self._change("updated", p)
            for p in call.pops.values()
            if p.active and (include_self or p is not pop)
        ]

    def _change(self, kind: ChangeKind, pop: Pop) -> PopChange:
        return PopChange(kind, pop.agent.id, self.view(pop), pop.pbx)

    def _own_pop(self, call_id: str, agent_id: str) -> Pop:
        call = self._calls.get(call_id)
        pop = None if call is None else call.pops.get(agent_id)
        if pop is None:
            raise PopError(f"no pop of call {call_id} for this agent")
        return pop

    def _own_active_pop(self, call_id: str, agent_id: str) -> Pop:
        pop = self._own_pop(call_id, agent_id)
        if not pop.active:
            raise PopError(f"the pop of call {call_id} is {pop.state.value}")
        return pop

    def _maybe_forget(self, call: _Call) -> None:
        """A call that hung up and has nothing left on any desk is forgotten, its id
        remembered so that late events cannot revive it."""
        if call.hung_up and not any(p.active for p in call.pops.values()):
            del self._calls[call.call_id]
            self._remember_ended(call.call_id)

    def _shed(self) -> None:
        for call_id in [
            c for c, call in self._calls.items() if not any(p.active for p in call.pops.values())
        ][: len(self._calls) - MAX_CALLS]:
            del self._calls[call_id]
            self._remember_ended(call_id)

    def _remember_ended(self, call_id: str) -> None:
        self._ended[call_id] = None
        self._ended.move_to_end(call_id)
        while len(self._ended) > ENDED_CALLS_REMEMBERED:
            self._ended.popitem(last=False)
