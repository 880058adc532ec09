"""Agents' pauses as Asterisk reports them -> `agent.status` events (pure: no I/O).

A pause can be made anywhere: callpop's panel or widget (`QueuePause`), a phone's feature
code, a supervisor's `queue pause member` on the console, another AMI client. app_queue
reports it per queue: `QueueMemberPause` (`Paused`, `PausedReason`), and every
`QueueMemberStatus` (a device state change) carries `Paused` and `PausedReason` as well;
on login the listener's `QueueStatus` lists each member as `QueueMember` (`Location`
instead of `Interface`) with the same fields (tests/fixtures/asterisk/ami/: queue-call.txt,
queue-status-actions.txt, controls/queuepause.txt).

An agent is one interface in several queues. They are paused while any queue has them
paused, with the reason of the latest pause reported; `agent.status` (call id empty, data
`{"interface", "paused", "reason"}`) is emitted when that changes, so the same state
reported by every queue, or again by a resync, publishes once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callpop.ami.codec import Message
from ivr.call import iso_utc
from ivr.ports import CallEvent

__all__ = ["MEMBER_EVENTS", "MemberPauses"]

MEMBER_EVENTS = frozenset({"QueueMemberPause", "QueueMemberStatus", "QueueMember"})


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default


class MemberPauses:
    """Feed it the member events (`MEMBER_EVENTS`); it returns the `agent.status` events."""

    def __init__(self, *, max_members: int = 100_000) -> None:
        self._max = max_members
        self._queues: dict[str, dict[str, str | None]] = {}  # interface -> queue -> reason
        self._last_reason: dict[str, str] = {}  # interface -> reason of the latest pause
        self._told: dict[str, tuple[bool, str]] = {}  # interface -> what was published

    def feed(self, msg: Message, *, now: float) -> list[CallEvent]:
        """`now` (epoch seconds) stamps an event without `Timestamp` (a QueueMember)."""
        if msg.event not in MEMBER_EVENTS:
            return []
        where = msg.get("Interface") or msg.get("Location") or ""
        interface = where.removesuffix("/n")
        queue = msg.get("Queue") or ""
        if not interface or msg.get("Paused") not in ("0", "1"):
            return []
        paused = msg.get("Paused") == "1"
        reason = (msg.get("PausedReason") or "").strip()
        queues = self._queues.setdefault(interface, {})
        if paused:
            if queues.get(queue) != reason or msg.event == "QueueMemberPause":
                self._last_reason[interface] = reason
            queues[queue] = reason
        else:
            queues.pop(queue, None)
        state = (True, self._last_reason.get(interface, "")) if queues else (False, "")
        if self._told.get(interface) == state:
            return []
        self._told[interface] = state
        while len(self._told) > self._max:
            gone = next(iter(self._told))
            for table in (self._told, self._queues, self._last_reason):
                table.pop(gone, None)
        at = iso_utc(datetime.fromtimestamp(_float(msg.get("Timestamp"), now), UTC))
        data = {"interface": interface, "paused": state[0], "reason": state[1]}
        return [CallEvent("agent.status", "", at, data)]
