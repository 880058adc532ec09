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

The same events carry the member's device state (`Status`, a device state): `in_call` is
true while the device is on a call (in use, busy, ringing while in use, on hold), popped
or not (a click-to-dial call, a direct call), so the wallboard does not count the agent
ready. It is one device whichever queue reports it; an event without a `Status` keeps
the last one known.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callpop.ami.codec import Message
from ivr.call import iso_utc
from ivr.ports import CallEvent

__all__ = ["MEMBER_EVENTS", "MemberPauses"]

MEMBER_EVENTS = frozenset({"QueueMemberPause", "QueueMemberStatus", "QueueMember"})
# AST_DEVICE_INUSE, _BUSY, _RINGINUSE, _ONHOLD: the agent is on a call
_IN_CALL_STATUSES = frozenset({"2", "3", "7", "8"})


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
        self._in_call: dict[str, bool] = {}  # interface -> its device on a call
        self._told: dict[str, tuple[bool, str, bool]] = {}  # interface -> what was published

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
        device = msg.get("Status")
        if device:
            self._in_call[interface] = device in _IN_CALL_STATUSES
        in_call = self._in_call.get(interface, False)
        state = (
            (True, self._last_reason.get(interface, ""), in_call)
            if queues
            else (False, "", in_call)
        )
        if self._told.get(interface) == state:
            return []
        self._told[interface] = state
        while len(self._told) > self._max:
            gone = next(iter(self._told))
            for table in (self._told, self._queues, self._last_reason, self._in_call):
                table.pop(gone, None)
        at = iso_utc(datetime.fromtimestamp(_float(msg.get("Timestamp"), now), UTC))
        data = {"interface": interface, "paused": state[0], "reason": state[1], "in_call": in_call}
        return [CallEvent("agent.status", "", at, data)]
