"""What happened to a call in the queues, as rows of `queue_events`. Pure: no I/O.

The AMI listener's call events and the pop machine's withdrawals become one row each,
keyed by the call id, so statistics and CRM records can be reconciled afterwards
(docs/screenpop.md, "Reconciling a call"):

    queue.joined                   -> joined
    agent.ringing                  -> offered      (the member rung)
    agent.ring_no_answer           -> no_answer
    agent.connected                -> connected
    agent.completed                -> completed    (reason: who hung up, caller or agent)
    queue.left, reason abandoned   -> abandoned
    queue.left, other reasons      -> left         (reason: connected, timeout, ...)
    call.hungup                    -> hungup       (only for a call seen in a queue)
    a pop retracted                -> withdrawn    (reason: no_answer, answered_elsewhere,
                                                    abandoned, timeout, caller_hungup)

A row's time is the event's own (Asterisk's Timestamp for AMI events), never the
writer's: every instance writes the same row for the same event, and the table's
unique key keeps one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from screenpop.interfaces import normalise_interface
from screenpop.pops import AgentRef, CallEventLike, PopChange
from screenpop.store import QueueEventKind, QueueEventRecord

__all__ = ["queue_event", "stamp", "withdrawal"]

_KIND_OF_EVENT: Mapping[str, QueueEventKind] = {
    "queue.joined": "joined",
    "agent.ringing": "offered",
    "agent.ring_no_answer": "no_answer",
    "agent.connected": "connected",
    "agent.completed": "completed",
    "call.hungup": "hungup",
}


def stamp(at: str) -> datetime | None:
    """An envelope's `at` (ISO 8601 with an offset or `Z`) as an aware datetime."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def queue_event(
    event: CallEventLike, resolve: Callable[[str], AgentRef | None]
) -> QueueEventRecord | None:
    """The row an event makes, or None (not a queue event, or no usable time)."""
    kind: QueueEventKind | None
    reason: str | None = None
    data = event.data
    if event.type == "queue.left":
        reason = str(data.get("reason") or "") or None
        kind = "abandoned" if reason == "abandoned" else "left"
    else:
        kind = _KIND_OF_EVENT.get(event.type)
        if kind == "completed":
            reason = str(data.get("reason") or "") or None
    at = stamp(event.at)
    if kind is None or at is None:
        return None
    interface = str(data.get("interface") or "")
    agent = resolve(normalise_interface(interface)) if interface else None
    return QueueEventRecord(
        event.call_id,
        kind,
        at,
        queue=str(data.get("queue") or ""),
        interface=interface,
        agent_id=None if agent is None else agent.id,
        reason=reason,
    )


def withdrawal(change: PopChange) -> QueueEventRecord | None:
    """The `withdrawn` row of a retracted pop, with why; None for other changes."""
    view = change.view
    if change.kind != "retracted":
        return None
    at = stamp(str(view.get("since") or ""))
    if at is None:
        return None
    return QueueEventRecord(
        str(view["call_id"]),
        "withdrawn",
        at,
        queue=str(view.get("queue") or ""),
        interface=str(view.get("interface") or ""),
        agent_id=change.agent_id,
        reason=view.get("reason"),
    )
