"""Queue state for the IVR, folded from what AMI says (pure: no I/O, no clock).

The lease holder's listener feeds every AMI message here: the answers to `QueueStatus`
(`QueueParams`, `QueueMember`, `QueueEntry`) and `QueueSummary`, and the live events
(`QueueCallerJoin`/`QueueCallerLeave`/`QueueCallerAbandon`, `QueueMemberStatus`,
`QueueMemberPause`, `AgentComplete`). `snapshot(now)` gives each queue's
`QueueState`, the values conditions read as `queue.NAME.FIELD`.

The estimated wait (`ewt_s`) of a new caller, documented in docs/dialplan.md:

    ahead = callers - available + 1      (the new caller's turn, net of free agents)
    ewt_s = 0 if ahead <= 0 else ceil(ahead * handle_s / staffed)

- `callers` is the number waiting now, `available` the agents free to take a call;
- `staffed` is the agents logged in and not paused (busy agents free up; a queue with
  none staffed has no estimate: `ewt_s` is null and `open` is false);
- `handle_s` is the mean talk time of the last `HANDLE_WINDOW` calls the queue
  completed (`AgentComplete`), else Asterisk's own `TalkTime` average (`QueueParams`,
  `QueueSummary`); when neither is known, Asterisk's `Holdtime` (its average wait)
  is the estimate as it stands.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from callpop.ami.codec import Message

__all__ = ["HANDLE_WINDOW", "READS", "QueueState", "QueueStates", "estimate_wait"]

HANDLE_WINDOW = 20

# The messages `QueueStates.feed` folds in: the queue events, and the items of the
# `QueueStatus` / `QueueSummary` listings a resync reads.
READS = frozenset(
    {
        "QueueParams",
        "QueueSummary",
        "QueueMember",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueEntry",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentComplete",
    }
)

# QueueMember / QueueMemberStatus `Status` (AST_DEVICE_*): 0 unknown, 1 not in use,
# 2 in use, 3 busy, 4 invalid, 5 unavailable, 6 ringing, 7 ring+in use, 8 on hold.
_NOT_IN_USE = "1"
_LOGGED_OUT = frozenset({"4", "5"})


def estimate_wait(
    callers: int, available: int, staffed: int, handle_s: float | None, holdtime_s: int | None
) -> int | None:
    """Seconds a caller joining now may wait; None when nobody staffs the queue or
    nothing is known to estimate from."""
    if staffed <= 0:
        return None
    ahead = callers - available + 1
    if ahead <= 0:
        return 0
    if handle_s is not None and handle_s > 0:
        return math.ceil(ahead * handle_s / staffed)
    return holdtime_s


@dataclass(frozen=True, slots=True)
class QueueState:
    queue: str
    callers: int
    longest_wait_s: int
    logged_in: int
    available: int
    paused: int
    ewt_s: int | None
    open: bool
    max_callers: int  # 0: unlimited
    full: bool

    def fields(self) -> dict[str, int | bool | None]:
        return {
            "callers": self.callers,
            "longest_wait_s": self.longest_wait_s,
            "logged_in": self.logged_in,
            "available": self.available,
            "paused": self.paused,
            "ewt_s": self.ewt_s,
            "open": self.open,
            "full": self.full,
        }


@dataclass
class _Member:
    status: str
    paused: bool


@dataclass
class _Queue:
    max_callers: int = 0
    holdtime_s: int | None = None
    talktime_s: int | None = None
    members: dict[str, _Member] = field(default_factory=dict)
    # uniqueid -> the clock second it joined (or was first seen waiting)
    waiting: dict[str, float] = field(default_factory=dict)
    handled: deque[int] = field(default_factory=lambda: deque(maxlen=HANDLE_WINDOW))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class QueueStates:
    """The fold of AMI messages into per-queue state; `now` is the caller's clock."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def _queue(self, name: str) -> _Queue:
        return self._queues.setdefault(name, _Queue())

    def feed(self, message: Message, now: float) -> None:
        kind = message.event
        if kind not in READS:
            return
        name = message.get("Queue")
        if not name:
            return
        queue = self._queue(name)
        if kind == "QueueParams":
            queue.max_callers = _int(message.get("Max")) or 0
            queue.holdtime_s = _int(message.get("Holdtime"))
            queue.talktime_s = _int(message.get("TalkTime"))
            queue.members.clear()
            queue.waiting.clear()
        elif kind == "QueueSummary":
            queue.holdtime_s = _int(message.get("HoldTime"))
            queue.talktime_s = _int(message.get("TalkTime"))
        elif kind in ("QueueMember", "QueueMemberStatus", "QueueMemberAdded"):
            where = message.get("Location") or message.get("Interface") or ""
            queue.members[where] = _Member(
                status=message.get("Status") or "0", paused=message.get("Paused") == "1"
            )
        elif kind == "QueueMemberRemoved":
            queue.members.pop(message.get("Location") or message.get("Interface") or "", None)
        elif kind == "QueueMemberPause":
            where = message.get("Location") or message.get("Interface") or ""
            if where in queue.members:
                queue.members[where].paused = message.get("Paused") == "1"
        elif kind == "QueueEntry":
            waited = _int(message.get("Wait")) or 0
            queue.waiting[message.get("Uniqueid") or ""] = now - waited
        elif kind == "QueueCallerJoin":
            queue.waiting.setdefault(message.get("Uniqueid") or "", now)
        elif kind in ("QueueCallerLeave", "QueueCallerAbandon"):
            queue.waiting.pop(message.get("Uniqueid") or "", None)
        elif kind == "AgentComplete":
            talk = _int(message.get("TalkTime"))
            if talk is not None:
                queue.handled.append(talk)

    def available_members(self, queue: str) -> list[str]:
        """The interfaces free to take a call in `queue` now (logged in, not paused, not
        in use), in Asterisk's member order: where a callback may ring."""
        q = self._queues.get(queue)
        if q is None:
            return []
        return [
            where
            for where, m in q.members.items()
            if not m.paused and m.status == _NOT_IN_USE and where
        ]

    def snapshot(self, now: float) -> dict[str, QueueState]:
        return {name: self._state(name, q, now) for name, q in sorted(self._queues.items())}

    def _state(self, name: str, q: _Queue, now: float) -> QueueState:
        logged_in = [m for m in q.members.values() if m.status not in _LOGGED_OUT]
        paused = sum(1 for m in logged_in if m.paused)
        available = sum(1 for m in logged_in if not m.paused and m.status == _NOT_IN_USE)
        staffed = len(logged_in) - paused
        handle: float | None = (
            sum(q.handled) / len(q.handled) if q.handled else (q.talktime_s or None)
        )
        callers = len(q.waiting)
        longest = max((now - t for t in q.waiting.values()), default=0.0)
        return QueueState(
            queue=name,
            callers=callers,
            longest_wait_s=max(0, int(longest)),
            logged_in=len(logged_in),
            available=available,
            paused=paused,
            ewt_s=estimate_wait(callers, available, staffed, handle, q.holdtime_s),
            open=staffed > 0,
            max_callers=q.max_callers,
            full=q.max_callers > 0 and callers >= q.max_callers,
        )
