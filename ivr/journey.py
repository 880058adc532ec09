"""The journey: what a caller did in the IVR, node by node.

Recorded by the `Session` as it runs, so every driver records the same thing. It is
what the agent's pop shows ("Billing > Payment > entered account ****1234"), what
analytics read to redesign menus callers cannot understand, and what ties the IVR
to the CRM interaction by call id. Sensitive entries are masked before they are
recorded, so nothing downstream (logs, database, browser) ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ivr.version import DialplanVersion

__all__ = [
    "IDENTITIES",
    "PROTOCOL_ERROR",
    "SHUTDOWN",
    "TIMEOUT",
    "VERIFIED_IDENTITIES",
    "Identity",
    "Journey",
    "JourneyOutcome",
    "JourneyStep",
    "lost_outcome",
    "mask",
]

# How the caller was identified: `ani` the caller ID matched one customer, `account` an
# account number that exists, `account+ani` that account is the caller ID's customer's,
# `pin` a flow's pin node checked a secret through the CRM. Only the last two prove it.
Identity = Literal["none", "ani", "account", "account+ani", "pin"]
IDENTITIES: Final = ("none", "ani", "account", "account+ani", "pin")
VERIFIED_IDENTITIES: Final = frozenset({"account+ani", "pin"})
ACCOUNT_NOT_CALLER: Final = "account-not-caller"

# Journey outcome types beyond the `CALLPOP_OUTCOME` values (`queue`, `extension`,
# `agent`, `voicemail`, `hangup`, `error`): calls that ended without Asterisk being
# told anything, each for its own reason, so reports never count them as callers who
# hung up. Asterisk sends each of them to the operator (an empty CALLPOP_OUTCOME).
PROTOCOL_ERROR = "protocol-error"  # the peer sent what no Asterisk sends: we stopped talking
TIMEOUT = "timeout"  # the peer did not answer within its deadline: the session was cut
SHUTDOWN = "shutdown"  # callpop stopped (SIGTERM) before the call left the IVR

# A lost channel's cause (`ivr.events.HungUp.cause`) -> (outcome type, reason).
_LOST = {
    "protocol-error": (PROTOCOL_ERROR, "channel-protocol-error"),
    "timeout": (TIMEOUT, "channel-timeout"),
    "cancelled": (SHUTDOWN, "cancelled"),
    # The link broke, or ARI took the channel away: whether the caller left is not
    # known, so `hangup`, with the reason telling it apart from a caller's own.
    "connection-lost": ("hangup", "channel-connection-lost"),
    "left-stasis": ("hangup", "channel-left-stasis"),
}


def lost_outcome(cause: str) -> tuple[str, str]:
    """The journey outcome (type, reason) of a call whose channel was lost with `cause`:
    a fault's own type, or `hangup` (`caller-hangup`) for the caller leaving."""
    return _LOST.get(cause, ("hangup", "caller-hangup"))


def mask(digits: str) -> str:
    """`****` plus at most the last two digits, and only when the entry is long enough
    that they give nothing away (a 4-digit PIN shows nothing)."""
    if len(digits) >= 8:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


@dataclass(slots=True, kw_only=True)
class JourneyStep:
    """One visit to one node. `keys` are the entries made there (masked if sensitive);
    `result` says how the node was left: an option key, `timeout`, `invalid`, `found`,
    `open`, `back`, `repeat`, `operator`, `hangup` ..."""

    flow: str
    node: str
    kind: str
    entered_ms: int
    left_ms: int | None = None
    keys: list[str] = field(default_factory=list)
    invalid: int = 0
    timeouts: int = 0
    result: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "node": self.node,
            "kind": self.kind,
            "label": self.label,
            "entered_ms": self.entered_ms,
            "left_ms": self.left_ms,
            "ms": None if self.left_ms is None else self.left_ms - self.entered_ms,
            "keys": list(self.keys),
            "invalid": self.invalid,
            "timeouts": self.timeouts,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True)
class JourneyOutcome:
    """How the IVR ended: `type` is the CALLPOP_OUTCOME value Asterisk was given, or one
    of `PROTOCOL_ERROR`, `TIMEOUT`, `SHUTDOWN` (and `hangup` for a caller who left) when
    it was given none; `reason` says why (e.g. `option`, `operator-key`, `max-invalid`,
    `max-steps`, `caller-hangup`, `channel-timeout`, `cancelled`)."""

    type: str
    target: str | None
    priority: int | None
    reason: str
    at_ms: int


@dataclass(slots=True)
class Journey:
    call_id: str
    flow: str
    caller_number: str
    caller_name: str
    dnis: str
    started_at: str
    steps: list[JourneyStep] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    customer_id: str | None = None
    topic: str | None = None
    verified: bool = False
    identity: Identity = "none"
    """How the caller was identified (docs/contracts.md, "Matching and identity")."""
    identity_warning: str | None = None
    """`account-not-caller`: the account typed is another customer's than the caller ID's."""
    outcome: JourneyOutcome | None = None
    version: DialplanVersion | None = None
    """The dialplan version the call ran on (None for flows built in memory)."""

    def undelivered(self, type: str, reason: str, at_ms: int) -> None:
        """The outcome recorded was not given to Asterisk (the channel was lost, or
        callpop failed, while handing the call back): record how the call truly ended,
        with no variables, since Asterisk got none."""
        previous = self.outcome
        at_ms = max(at_ms, previous.at_ms) if previous is not None else at_ms
        self.outcome = JourneyOutcome(type, None, None, reason, at_ms)
        self.variables = {}

    @property
    def last_node(self) -> str | None:
        return self.steps[-1].node if self.steps else None

    @property
    def path(self) -> list[str]:
        """Node ids in the order visited, e.g. for "where did callers leave"."""
        return [s.node for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "flow": self.flow,
            "version": None if self.version is None else self.version.to_dict(),
            "caller": {"number": self.caller_number, "name": self.caller_name},
            "dnis": self.dnis,
            "started_at": self.started_at,
            "steps": [s.to_dict() for s in self.steps],
            "variables": dict(self.variables),
            "customer_id": self.customer_id,
            "topic": self.topic,
            "verified": self.verified,
            "identity": self.identity,
            "identity_warning": self.identity_warning,
            "outcome": None
            if self.outcome is None
            else {
                "type": self.outcome.type,
                "target": self.outcome.target,
                "priority": self.outcome.priority,
                "reason": self.outcome.reason,
                "at_ms": self.outcome.at_ms,
            },
        }
