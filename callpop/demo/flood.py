"""A flood of virtual callers in one queue of the virtual PBX (the test phone's button).

A price change or an outage fills a queue faster than its agents empty it: the demo
plays that so the busy-queue nodes can be seen at work (the estimated wait announced,
a callback offered, placed once an agent is free). `QueueFlood.start(queue, callers)`:

- `callers` virtual callers join `queue` (`QueueCallerJoin`, each with its own channel
  and call id, listed by `QueueStatus`): callpop folds them into the queue's state as
  it would real ones, and the wallboard counts them;
- while the flood lasts no agent is free: every online, unpaused phone that is idle is
  held by a virtual call (the phone shows it; the queues see the member in use,
  `QueueMemberStatus` 2). A virtual call is no queue call and pops nothing (its caller
  is nobody); an agent who hangs one up is taken by the next at once, as in a flood.

`stop()` ends it: the virtual callers hang up (`QueueCallerAbandon`, `QueueCallerLeave`,
`Hangup`) and the virtual calls end, so the agents are free again: waiting test-phone
callers ring them and callbacks are placed to them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callpop.demo.members import Waiting
from callpop.demo.phones import AgentPhone, Phones, PhoneState
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from ivr import variables

__all__ = ["MAX_CALLERS", "QueueFlood", "VirtualCall"]

MAX_CALLERS = 200
# exchange 019 is outside the demo customers' numbers (context.UNKNOWN_NUMBER): nobody's
_NUMBER = "+1555019{:04d}"


class VirtualCall:
    """What holds an agent's phone during a flood (a `PhoneCall` of `phones.py`)."""

    def __init__(self, flood: QueueFlood, serial: int) -> None:
        self._flood = flood
        self.call_id = f"virtual-{serial}"
        self.serial = serial

    def caller_view(self) -> dict[str, Any]:
        return {
            "number": "",
            "name": f"Virtual caller {self.serial} (flood)",
            "queue": self._flood.queue,
            "kind": "queue",
        }

    def answer(self, phone: AgentPhone) -> None:
        pass  # never rings: it is put through already talking

    def decline(self, phone: AgentPhone) -> None:
        pass

    def agent_hang_up(self, phone: AgentPhone) -> None:
        self._flood.hung_up(phone, self)


@dataclass(frozen=True, slots=True)
class FloodView:
    active: bool
    queue: str | None
    waiting: int
    holding: list[str]

    def public(self) -> dict[str, Any]:
        return {
            "type": "flood",
            "active": self.active,
            "queue": self.queue,
            "waiting": self.waiting,
            "holding": self.holding,
        }


class QueueFlood:
    def __init__(
        self,
        phones: Phones,
        *,
        emit: Callable[[list[bytes]], None],
        ids: Ids,
        writer: Writer,
        on_change: Callable[[FloodView], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._phones = phones
        self._emit = emit
        self._ids = ids
        self._writer = writer
        self._on_change = on_change
        self._clock = clock
        self.queue: str | None = None
        self._waiting: list[tuple[QueueCall, float]] = []  # the callers, joined at
        self._held: dict[AgentPhone, VirtualCall] = {}
        self._serial = 0

    @property
    def active(self) -> bool:
        return self.queue is not None

    def view(self) -> FloodView:
        return FloodView(
            self.active,
            self.queue,
            len(self._waiting),
            sorted(p.agent for p in self._held),
        )

    def waiting(self) -> list[Waiting]:
        return [Waiting(c.queue, c.caller, at) for c, at in self._waiting]

    def start(self, queue: str, callers: int) -> None:
        """`callers` more virtual callers in `queue` (a flood of another queue ends first)."""
        if not 1 <= callers <= MAX_CALLERS:
            raise ValueError(f"a flood is 1 to {MAX_CALLERS} callers")
        if self.queue is not None and self.queue != queue:
            self.stop()
        self.queue = queue
        events: list[bytes] = []
        for _ in range(callers):
            self._serial += 1
            uid = self._ids.uniqueid()
            caller = Snapshot(
                channel=f"PJSIP/trunk-{self._ids.suffix()}",
                uniqueid=uid,
                linkedid=uid,
                context="callpop-route",
                exten="queue",
                priority=3,
                caller_num=_NUMBER.format(self._serial % 100),
                caller_name=f"Virtual caller {self._serial}",
                variables=((variables.CALL_ID, uid),),
            )
            call = QueueCall(caller, queue, "", "", self._ids, self._writer)
            self._waiting.append((call, self._clock()))
            count = len(self._waiting)
            events += call.joined(count, count)
        self._emit(events)
        self.hold_free_agents()
        self._on_change(self.view())

    def hold_free_agents(self) -> None:
        """Every free phone is taken by a virtual call while the flood lasts (the PBX
        calls this first whenever a phone becomes free)."""
        if not self.active:
            return
        for phone in self._phones.available():
            self._serial += 1
            call = VirtualCall(self, self._serial)
            self._held[phone] = call
            self._phones.connect(phone, call)

    def hung_up(self, phone: AgentPhone, call: VirtualCall) -> None:
        if self._held.get(phone) is call:
            del self._held[phone]
        self._phones.release(phone, call)  # free: the next virtual call takes it
        self._on_change(self.view())

    def stop(self) -> None:
        if not self.active:
            return
        self.queue = None
        now = self._clock()
        events: list[bytes] = []
        for call, joined_at in self._waiting:
            events += call.abandoned(int(now - joined_at), caller_hung_up=True)
        self._waiting.clear()
        self._emit(events)
        held, self._held = self._held, {}
        for phone, virtual in held.items():
            if phone.call is virtual and phone.state is PhoneState.TALKING:
                self._phones.release(phone, virtual)
        self._on_change(self.view())
