"""The IVR engine: one `Session` per call, events in, actions out, no I/O.

`Session` is to a call what h11's `Connection` is to an HTTP connection: it never
touches a socket, a clock or a database. A driver feeds it events (`CallStarted`,
`PlayFinished`, `DigitsEntered`, `LookupFinished`, `HungUp`) and carries out the
actions it returns; every driver (FastAGI, classic AGI, ARI, the simulators) gets the
same behaviour because there is only this one. The contract (docs/contracts.md): each
list of actions ends with one action that waits for an answer (`Play`, `Collect`,
`Lookup`) or a final one (`Transfer`, `Hangup`); `HungUp` may come at any time; an
event that does not answer the pending action raises `SessionError`.

How a call moves (docs/dialplan.md has the admin's view):

- Nodes are entered one after another until one waits for the caller or ends the
  call. Every entry counts toward `settings.max_steps`; past it the caller goes to the
  operator, so any key sequence ends in a transfer or a hang-up.
- Menus and inputs count invalid entries and timeouts separately, per visit, each with
  its own prompts and limit; a counter that runs out leads to `on_failure` or the
  operator. `agent_after_failures` counts failures over the whole call.
- Keys pressed during prompts are type-ahead: the next node that listens takes them
  without playing its prompts, so a regular caller dials through the tree.
- `back` returns to the menu the caller actually came from (a call stack across
  gotos and sub-flows), `repeat` replays the menu (at most `max_repeats` times a
  visit), `operator` leaves for the operator node or queue.
- Call-wide bounds (`max_steps`, `agent_after_failures`) are the start flow's; the
  rest (timeouts, prompts, keys, the operator) is the settings of the flow the caller
  is in.

Here: the contract with the driver and the walk from node to node. The node kinds
are in `ivr.listening` (menus, inputs) and `ivr.routing` (the others); the call's
state in `ivr.call`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Final

from ivr import pin_steps, queue_steps
from ivr.actions import Action
from ivr.call import OVERTIME_STEPS, Call, Next, Relisten, Visit, Wait, WaitKind, iso_utc
from ivr.callflow import ENTRY_FLOW, BranchNode, InputNode, MenuNode
from ivr.compiled import CompiledFlows, compiled
from ivr.errors import FlowError, SessionError
from ivr.events import (
    CallbackRequested,
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
from ivr.journey import Journey, JourneyStep, lost_outcome
from ivr.listening import confirm_digits, input_digits, listen, menu_digits
from ivr.routing import ENTER, branch_on, looked_up, lookup_now, played
from ivr.version import DialplanVersion

if TYPE_CHECKING:
    from ivr.flow import Flow

__all__ = ["Session", "iso_utc"]

_ANSWERS: Final[Mapping[WaitKind, type[Event]]] = {
    "play": PlayFinished,
    "lookup-prompts": PlayFinished,
    "lookup": LookupFinished,
    "queue-lookup": QueuesLooked,
    "menu": DigitsEntered,
    "input": DigitsEntered,
    "confirm": DigitsEntered,
    "wait-announced": PlayFinished,
    "callback-offer": DigitsEntered,
    "callback-number": DigitsEntered,
    "callback": CallbackRequested,
    "callback-done": PlayFinished,
    "flood": FloodLooked,
    "flood-message": PlayFinished,
    "pin": DigitsEntered,
    "pin-check": PinChecked,
}


_Decide = Callable[[Call], Next]


class _Phase(Enum):
    IDLE = "idle"  # waiting for CallStarted
    RUNNING = "running"  # an action waits for its answer
    ENDED = "ended"  # the call left the IVR (transfer, hang-up)
    FAILED = "failed"  # a SessionError, a FlowError or an engine bug: no more events


class Session:
    """One call's walk through the IVR. See the module docstring and docs/contracts.md.

    `flows` are the flows the call may walk (sub-flows included): a `CompiledFlows`
    (shared between calls with their parsed conditions and schedules), or the checked
    models, compiled for this call. `flow_id` is where it starts.
    """

    __slots__ = ("_call", "_flow_id", "_flows", "_phase")

    def __init__(
        self, flows: Mapping[str, Flow] | CompiledFlows, flow_id: str = ENTRY_FLOW
    ) -> None:
        self._flows = compiled(flows)
        self._flows.flow(flow_id)  # an unknown start flow is a FlowError now, not mid-call
        self._flow_id = flow_id
        self._phase = _Phase.IDLE
        self._call: Call | None = None

    @property
    def flow_id(self) -> str:
        return self._flow_id

    @property
    def version(self) -> DialplanVersion | None:
        """The dialplan version this call runs on, to its end (a reload swaps the flows
        new calls get, never these)."""
        return self._flows.version

    @property
    def journey(self) -> Journey:
        """The call's journey so far (complete once `ended`)."""
        if self._call is None:
            raise SessionError("no journey before CallStarted")
        return self._call.journey

    @property
    def ended(self) -> bool:
        """True once the call left the IVR (transfer, hang-up) or the session failed."""
        return self._phase in (_Phase.ENDED, _Phase.FAILED)

    @property
    def expecting(self) -> type[Event] | None:
        """The event that answers the pending action, if any (`HungUp` is always welcome
        while the session runs)."""
        if self._phase is _Phase.IDLE:
            return CallStarted
        call = self._call
        if self._phase is not _Phase.RUNNING or call is None or call.wait is None:
            return None
        return _ANSWERS[call.wait.kind]

    def handle(self, event: Event) -> list[Action]:
        """Feed one event; get the actions to carry out, in order."""
        if self._phase is _Phase.FAILED:
            raise SessionError("the session failed earlier and takes no more events")
        if self._phase is _Phase.IDLE:
            if not isinstance(event, CallStarted):
                raise SessionError(
                    f"the first event must be CallStarted, not {type(event).__name__}"
                )
            self._call = Call(self._flows, self._flow_id, event)
            self._phase = _Phase.RUNNING
            return self._step(self._call, lambda call: (self._flow_id, call.start_flow.entry))
        call = self._call
        assert call is not None
        if isinstance(event, HungUp):
            if self._phase is _Phase.RUNNING:
                call.now_ms = max(call.now_ms, event.at_ms)
                kind, call.reason = lost_outcome(event.cause)
                call.end(kind)
                self._phase = _Phase.ENDED
            # After the IVR ended (e.g. during "please hold") there is nothing to record.
            return []
        if self._phase is _Phase.ENDED:
            raise SessionError(f"{type(event).__name__} after the call left the IVR")
        wait = call.wait
        assert wait is not None
        expected = _ANSWERS[wait.kind]
        if not isinstance(event, expected):
            self._phase = _Phase.FAILED
            call.fail("driver-error")
            raise SessionError(
                f"{type(event).__name__} does not answer the pending action "
                f"(expected {expected.__name__})"
            )
        # A driver's clock is monotonic, but never let a slip make time run backwards.
        call.now_ms = max(call.now_ms, event.at_ms)
        call.wait = None
        return self._step(call, lambda call: _answer(call, event, wait))

    def abort(self, reason: str, at_ms: int, *, outcome: str = "error") -> None:
        """The driver cannot go on with this call (its channel failed, its task was
        cancelled): a running session records an `outcome` (`error`, or e.g. `shutdown`)
        with `reason` and takes no more events. A session that already ended keeps its
        outcome."""
        if self._phase is _Phase.RUNNING and self._call is not None:
            self._call.now_ms = max(self._call.now_ms, at_ms)
            self._call.fail(reason, outcome)
        if self._phase in (_Phase.IDLE, _Phase.RUNNING):
            self._phase = _Phase.FAILED

    def _step(self, call: Call, decide: _Decide) -> list[Action]:
        call.out = []
        try:
            nxt = decide(call)
            while nxt is not None:
                nxt = listen(call, nxt) if isinstance(nxt, Relisten) else _enter(call, nxt)
        except FlowError:
            self._phase = _Phase.FAILED
            call.fail("flow-error")
            raise
        except Exception:
            self._phase = _Phase.FAILED
            call.fail("internal-error")
            raise
        if call.ended:
            self._phase = _Phase.ENDED
        return call.out


def _answer(call: Call, event: Event, wait: Wait) -> Next:
    """Hand the answer to the node that waits for it."""
    if isinstance(event, PlayFinished):
        call.buffer += event.keys
        if wait.kind == "play":
            return played(call)
        if wait.kind == "wait-announced":
            return queue_steps.wait_announced(call, wait.entry)
        if wait.kind == "callback-done":
            return queue_steps.callback_done(call)
        if wait.kind == "flood-message":
            return queue_steps.flood_played(call, wait.entry)
        return lookup_now(call)
    if isinstance(event, LookupFinished):
        return looked_up(call, event)
    if isinstance(event, QueuesLooked):
        call.context.queues_looked(event.queues)
        if isinstance(call.here.node, BranchNode):
            return branch_on(call)
        return queue_steps.queue_looked(call)
    if isinstance(event, CallbackRequested):
        return queue_steps.callback_stored(call, event)
    if isinstance(event, FloodLooked):
        return queue_steps.flood_looked(call, event)
    if isinstance(event, PinChecked):
        return pin_steps.pin_checked(call, event)
    assert isinstance(event, DigitsEntered)
    if wait.kind == "menu":
        return menu_digits(call, event)
    if wait.kind == "input":
        return input_digits(call, event, wait.prefix)
    if wait.kind == "callback-offer":
        return queue_steps.callback_offer(call, event)
    if wait.kind == "callback-number":
        return queue_steps.callback_number(call, event)
    if wait.kind == "pin":
        return pin_steps.pin_digits(call, event)
    return confirm_digits(call, event, wait.entry)


def _enter(call: Call, target: tuple[str, str]) -> Next:
    """Enter a node: count the step, record it, and let its kind decide."""
    node, entered = call.flows.entry(target)
    flow_id, node_id = target
    call.steps += 1
    if call.overtime is not None or call.steps > call.max_steps:
        if call.overtime is None:
            call.overtime = OVERTIME_STEPS
            return call.to_operator("max-steps", flow_id)
        if call.overtime == 0 or isinstance(node, (MenuNode, InputNode)):
            return call.to_operator_queue(flow_id)
        call.overtime -= 1
    call.leave("left")
    kind = node.type
    step = JourneyStep(
        flow=flow_id, node=node_id, kind=kind, entered_ms=call.now_ms, label=node.label
    )
    call.journey.steps.append(step)
    call.visit = Visit(flow_id, node_id, node, step)
    call.out.append(entered)
    return ENTER[kind](call, node)
