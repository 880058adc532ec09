"""The state of one call inside the engine, and the moves every node kind shares.

`Session` checks the contract with the driver; the node handlers (`ivr.listening`
for menus and inputs, `ivr.routing` for the rest) decide; `Call` holds what they
decide on (type-ahead, the menu stack, counters, what the CRM said) and records it
in the journey. Nothing here does I/O: decisions become `Action`s in `Call.out`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

from ivr.actions import Action, Hangup, Spoken, Transfer, TransferKind
from ivr.callflow import Flow, InputNode, MenuNode, Node, Prompt, Settings
from ivr.compiled import CompiledFlows
from ivr.context import CallContext
from ivr.events import CallStarted
from ivr.journey import VERIFIED_IDENTITIES, Identity, Journey, JourneyOutcome, JourneyStep
from ivr.outcome import DialplanOutcome, error_variables
from ivr.templates import resolve

__all__ = [
    "OVERTIME_STEPS",
    "Call",
    "Next",
    "Relisten",
    "Target",
    "Visit",
    "Wait",
    "WaitKind",
    "iso_utc",
]

# Once max_steps is spent the caller is on the way to the operator. The operator node
# may still route (hours, branch, a "please hold" play) for this many nodes, but may
# not listen; past that, or at a listening node, the call goes straight to
# settings.operator_queue. This is what makes every call end.
OVERTIME_STEPS: Final = 10

# A call's `secret` until an entry is sensitive (a frozenset: replaced, never changed).
_NO_SECRETS: Final[frozenset[str]] = frozenset()

Target: TypeAlias = tuple[str, str]
"""(flow id, node id) of the next node to enter."""


@dataclass(frozen=True, slots=True)
class Relisten:
    """Stay in the listening node and listen again, after `lead` (e.g. "invalid option").

    `replay=False` asks again with the node's own prompts only."""

    lead: tuple[Spoken, ...] = ()
    replay: bool = True


Next: TypeAlias = Target | Relisten | None
"""What a node handler decided: enter a node, listen again, or stop (an action that
waits for the driver, or a final one, is in `Call.out`)."""

WaitKind = Literal[
    "play",
    "lookup-prompts",
    "lookup",
    "queue-lookup",
    "menu",
    "input",
    "confirm",
    "wait-announced",
    "callback-offer",
    "callback-number",
    "callback",
    "callback-done",
    "flood",
    "flood-message",
    "pin",
    "pin-check",
]


@dataclass(frozen=True, slots=True)
class Wait:
    """What the pending action waits for, with what the answer needs to be understood."""

    kind: WaitKind
    prefix: str = ""
    """input: digits taken from type-ahead before this Collect."""
    entry: str = ""
    """confirm: the entry being read back; wait-announced: what was said; flood-message:
    the message played."""


@dataclass(slots=True)
class Visit:
    """The node the caller is in. Invalid and timeout counts live in `step`."""

    flow: str
    node_id: str
    node: Node
    step: JourneyStep
    repeats: int = 0


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as call events and journeys carry times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Call:
    # A held call keeps one of these: slots, not an instance dict.
    __slots__ = (
        "ani", "buffer", "context", "customer_id", "ended", "failures", "flow_id", "flows",
        "history", "journey", "max_steps", "now_ms", "out", "overtime", "reason",
        "secret", "start_flow", "started", "steps", "tier", "topic", "verified", "visit", "wait",
    )  # fmt: skip

    def __init__(self, flows: CompiledFlows, flow_id: str, started: CallStarted) -> None:
        self.flows = flows
        self.flow_id = flow_id
        self.start_flow: Flow = flows.flow(flow_id)
        self.max_steps = self.start_flow.settings.max_steps
        self.started = started
        self.now_ms = started.at_ms
        self.context = CallContext(
            call_id=started.call_id,
            flow=flow_id,
            caller_number=started.caller.number,
            caller_name=started.caller.name,
            dnis=started.dnis,
        )
        self.journey = Journey(
            call_id=started.call_id,
            flow=flow_id,
            caller_number=started.caller.number,
            caller_name=started.caller.name,
            dnis=started.dnis,
            started_at=iso_utc(started.now),
            version=flows.version,
        )
        self.out: list[Action] = []
        self.wait: Wait | None = None
        self.visit: Visit | None = None
        self.ended = False
        self.buffer = ""
        """Type-ahead: keys pressed that no node has taken yet."""
        self.history: list[Target] = []
        """The menus the caller came through, the current one last (for `back`)."""
        self.steps = 0
        self.overtime: int | None = None
        self.failures = 0
        self.reason = "routed"
        """Why the call is going where it goes (the journey outcome's reason)."""
        self.topic: str | None = None
        self.customer_id = ""
        self.tier = ""
        self.verified = False
        self.ani: tuple[str, ...] = ()
        """The customer ids the caller ID matched (a lookup by caller), for `account+ani`."""
        self.secret = _NO_SECRETS
        """Placeholder names (`vars.account`) holding a sensitive entry: few calls have
        one, so it starts as the shared empty one (an empty set of its own is 216 bytes)."""

    # --- where we are ---------------------------------------------------------------------

    @property
    def here(self) -> Visit:
        assert self.visit is not None, "no node entered yet"
        return self.visit

    def settings(self, flow_id: str | None = None) -> Settings:
        """The settings of the flow the caller is in (or of `flow_id`)."""
        return self.flows.flow(flow_id or self.here.flow).settings

    def prompts(
        self, prompts: tuple[Prompt, ...], digits: str | None = None, *, secret: bool = False
    ) -> tuple[Spoken, ...]:
        """Prompts ready to play, templates filled (`{digits}` is the entry being confirmed,
        `secret` when it is a sensitive one). Digits said from a sensitive entry are marked
        `sensitive`, so that nothing but the caller's ear gets them whole."""
        sounds = self.flows.sounds(prompts)
        if sounds is not None:
            return sounds
        context = self.context

        def value(name: str) -> str | int | float | bool | None:
            return digits if name == "digits" else context.value(name)

        secrets = (self.secret | {"digits"}) if secret else self.secret
        return resolve(prompts, value, secrets.__contains__)

    def emit_wait(self, action: Action, wait: Wait) -> None:
        self.out.append(action)
        self.wait = wait

    def leave(self, result: str) -> None:
        """Close the current node's journey step, saying how it was left."""
        if self.visit is not None and self.visit.step.left_ms is None:
            self.visit.step.left_ms = self.now_ms
            self.visit.step.result = result

    def identified(self, identity: Identity, customer_id: str, warning: str | None = None) -> None:
        """How the caller was identified (docs/contracts.md, "Matching and identity"):
        verified only by an account of the caller ID's customer, or a secret."""
        self.customer_id = self.journey.customer_id = customer_id
        self.journey.identity = identity
        self.journey.identity_warning = warning
        self.verified = self.journey.verified = identity in VERIFIED_IDENTITIES

    # --- counting failures ----------------------------------------------------------------

    def failed(self, what: Literal["invalid", "timeout"], *, replay_lead: bool = True) -> Next:
        """Count an invalid entry or a timeout in the current menu or input.

        The node's own counter first: when it runs out, `on_failure` or the operator.
        Then the call's: `agent_after_failures` failures in all lead to the operator.
        Otherwise listen again after the node's (or the settings') prompts for it.
        Type-ahead is dropped: the caller is not where they thought they were.
        """
        visit = self.here
        node = visit.node
        assert isinstance(node, (MenuNode, InputNode))
        settings = self.settings()
        self.failures += 1
        self.buffer = ""
        if what == "invalid":
            visit.step.invalid += 1
            count, limit = visit.step.invalid, node.max_invalid or settings.max_invalid
            prompts = node.invalid_prompts
            prompts = settings.invalid_prompts if prompts is None else prompts
            reason = "max-invalid"
        else:
            visit.step.timeouts += 1
            count, limit = visit.step.timeouts, node.max_timeouts or settings.max_timeouts
            prompts = node.timeout_prompts
            prompts = settings.timeout_prompts if prompts is None else prompts
            reason = "max-timeouts"
        if count >= limit:
            self.leave(reason)
            if node.on_failure is not None:
                self.reason = reason
                return (visit.flow, node.on_failure)
            return self.to_operator(reason)
        after = self.start_flow.settings.agent_after_failures
        if after is not None and self.failures >= after:
            self.leave("agent-after-failures")
            return self.to_operator("agent-after-failures")
        return Relisten(self.prompts(prompts), replay=replay_lead)

    # --- leaving the IVR ------------------------------------------------------------------

    def to_operator(self, reason: str, flow_id: str | None = None) -> Next:
        """To the operator node of the flow, or its operator queue when it has none."""
        self.reason = reason
        flow_id = flow_id or self.here.flow
        operator = self.settings(flow_id).operator
        if operator is None or (self.overtime is not None and reason != "max-steps"):
            return self.to_operator_queue(flow_id)
        return (flow_id, operator)

    def to_operator_queue(self, flow_id: str) -> Next:
        return self.transfer("queue", self.settings(flow_id).operator_queue, 0, ())

    def outcome(
        self, outcome: str, target: str = "", priority: int | None = None, survey: str = ""
    ) -> DialplanOutcome:
        return DialplanOutcome(
            call_id=self.started.call_id,
            flow=self.flow_id,
            outcome=outcome,
            target=target,
            priority=priority,
            customer_id=self.customer_id,
            tier=self.tier,
            verified=self.verified,
            topic=self.topic or "",
            last_node=self.visit.node_id if self.visit else "",
            survey=survey,
        )

    def transfer(
        self,
        kind: TransferKind,
        target: str,
        priority: int,
        prompts: tuple[Spoken, ...],
        survey: str = "",
    ) -> Next:
        variables = self.outcome(kind, target, priority, survey).variables()
        self.out.append(Transfer(kind, target, priority, variables, prompts))
        self.end(kind, target, priority, variables)
        return None

    def hangup(self, prompts: tuple[Spoken, ...]) -> Next:
        variables = self.outcome("hangup").variables()
        self.out.append(Hangup(variables, prompts))
        self.end("hangup", variables=variables)
        return None

    def end(
        self,
        kind: str,
        target: str | None = None,
        priority: int | None = None,
        variables: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        """The call leaves the IVR: close the journey with its outcome."""
        self.leave(kind)
        if variables is None:
            variables = self.outcome(kind, target or "", priority).variables()
        self.journey.outcome = JourneyOutcome(kind, target, priority, self.reason, self.now_ms)
        self.journey.variables = dict(variables)
        self.journey.topic = self.topic
        self.wait = None
        self.ended = True

    def fail(self, reason: str, kind: str = "error") -> None:
        """The engine cannot go on (a flow defect, a driver or engine bug): an `error`
        outcome, which the runner turns into CALLPOP_OUTCOME=error and the operator."""
        self.wait = None
        self.ended = True
        if self.journey.outcome is None:
            self.leave(kind)
            self.journey.outcome = JourneyOutcome(kind, None, None, reason, self.now_ms)
            self.journey.variables = dict(
                error_variables(self.started.call_id, self.flow_id, self.journey.last_node)
            )
            self.journey.topic = self.topic
