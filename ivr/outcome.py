"""The outcome variables a call leaves on its channel (the `CALLPOP_*` contract)."""

from __future__ import annotations

from dataclasses import dataclass

from ivr import variables as v

__all__ = ["DialplanOutcome", "error_variables"]


@dataclass(frozen=True, slots=True)
class DialplanOutcome:
    """Everything the dialplan is told when the IVR ends."""

    call_id: str
    flow: str
    outcome: str
    target: str = ""
    priority: int | None = None
    customer_id: str = ""
    tier: str = ""
    verified: bool = False
    topic: str = ""
    last_node: str = ""
    survey: str = ""
    """`FLOW/NAME` of the post-call survey (a queue transfer's `survey:`)."""

    def variables(self) -> tuple[tuple[str, str], ...]:
        """The variables of `ivr.variables.ALL` that have a value, in that order, ready to
        set on the channel. An empty one is left out: an unset variable reads as empty in
        the dialplan, and each one set is work on the wire (part of the AGI channel's one
        `EXEC MSet`, an ARI request). The emitted entry context clears them all before
        the IVR runs, so none is left over from an earlier pass on the same channel."""
        values = {
            v.CALL_ID: self.call_id,
            v.FLOW: self.flow,
            v.OUTCOME: self.outcome,
            v.TARGET: self.target,
            v.QUEUE: self.target if self.outcome == "queue" else "",
            v.PRIORITY: "" if self.priority is None else str(self.priority),
            v.CUSTOMER_ID: self.customer_id,
            v.TIER: self.tier,
            v.VERIFIED: v.flag(self.verified),
            v.TOPIC: self.topic,
            v.LAST_NODE: self.last_node,
            v.SURVEY: self.survey if self.outcome == "queue" else "",
        }
        return tuple((name, values[name]) for name in v.ALL if values[name])


def error_variables(call_id: str, flow: str, last_node: str | None) -> tuple[tuple[str, str], ...]:
    """What the runner sets when callpop itself failed: the dialplan's `error` route
    sends the caller to the operator, with the call id kept for the agent's pop (the
    last node only when the caller reached one: empty variables are not set)."""
    variables = ((v.CALL_ID, call_id), (v.FLOW, flow), (v.OUTCOME, "error"))
    return (*variables, (v.LAST_NODE, last_node)) if last_node else variables
