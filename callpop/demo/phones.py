"""The agents' phones of the virtual PBX: one per agent interface (`PJSIP/101`).

A real agent has a desk phone or a softphone beside the callpop panel; in the demo the
phone is a small bar the demo adds to the agent page (`softphone.py`). A phone is
*online* while at least one of the agent's pages is open: like an Asterisk dynamic queue
member, an online agent is a member of every queue and can be rung. The phone itself
outlives its pages, so reloading the agent page does not drop the call it carries.

One call at a time per phone (Asterisk's `ringinuse = no`): a phone that rings or talks
is not rung for another call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

__all__ = ["AgentPhone", "PhoneCall", "PhoneState", "Phones", "Sink"]

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]


class PhoneState(Enum):
    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"


class PhoneCall(Protocol):
    """What a phone can do to the call it rings for or carries."""

    @property
    def call_id(self) -> str: ...

    def caller_view(self) -> dict[str, Any]:
        """Caller number and name, queue, and `kind`: queue, direct (a Dial to this
        phone), consultation, callback or outbound (click-to-dial): what the phone's
        display shows."""
        ...

    def answer(self, phone: AgentPhone) -> None: ...

    def decline(self, phone: AgentPhone) -> None: ...

    def agent_hang_up(self, phone: AgentPhone) -> None: ...


@dataclass(eq=False)
class AgentPhone:
    interface: str
    agent: str
    state: PhoneState = PhoneState.IDLE
    call: PhoneCall | None = None
    since: float = 0.0  # monotonic time of the last state change
    calls_taken: int = 0
    last_call_ended: float = 0.0
    # QueuePause from the agent's Status menu: the reason while paused (queues skip it)
    paused: str | None = None
    # one line the display shows until the next call rings: why the last call failed
    notice: str | None = None
    sinks: list[Sink] = field(default_factory=list)

    @property
    def online(self) -> bool:
        return bool(self.sinks)

    def view(self) -> dict[str, Any]:
        """The phone as its display shows it (sent to the agent's pages)."""
        return {
            "type": "phone",
            "interface": self.interface,
            "state": self.state.value,
            "call": None
            if self.call is None
            else {"call_id": self.call.call_id, **self.call.caller_view()},
            "notice": self.notice,
        }

    def show(self) -> None:
        view = self.view()
        for sink in tuple(self.sinks):
            try:
                sink(view)
            except Exception:  # one broken page must not stop the others
                log.exception("phone %s: a page could not be told", self.interface)


class Phones:
    """Every agent phone, by interface. `on_free` is called when a phone can take a call
    (it came online or hung up), so that waiting callers ring it; `on_change` after any
    change a queue member's state shows (rings, talks, is free, online, paused), so that
    the PBX tells AMI (`QueueMemberStatus`)."""

    def __init__(
        self,
        on_free: Callable[[], None],
        monotonic: Callable[[], float],
        on_change: Callable[[AgentPhone], None] | None = None,
    ) -> None:
        self._phones: dict[str, AgentPhone] = {}
        self._on_free = on_free
        self._on_change = on_change
        self._monotonic = monotonic

    def __iter__(self) -> Iterator[AgentPhone]:
        return iter(self._phones.values())

    def get(self, interface: str) -> AgentPhone | None:
        return self._phones.get(interface.lower())

    def register(self, interface: str, agent: str, sink: Sink) -> AgentPhone:
        phone = self._phones.get(interface.lower())
        if phone is None:
            phone = self._phones[interface.lower()] = AgentPhone(
                interface, agent, since=self._monotonic()
            )
        phone.sinks.append(sink)
        sink(phone.view())
        if len(phone.sinks) == 1:
            self._changed(phone)
            if phone.state is PhoneState.IDLE:
                self._on_free()
        return phone

    def unregister(self, phone: AgentPhone, sink: Sink) -> None:
        if sink in phone.sinks:
            phone.sinks.remove(sink)
            if not phone.sinks:
                self._changed(phone)

    def _changed(self, phone: AgentPhone) -> None:
        if self._on_change is not None:
            self._on_change(phone)

    def available(self) -> list[AgentPhone]:
        return [
            p
            for p in self._phones.values()
            if p.online and p.state is PhoneState.IDLE and p.paused is None
        ]

    def pause(self, interface: str, reason: str | None) -> AgentPhone | None:
        """`QueuePause` of a member (None when no phone has that interface): a paused
        phone is rung by no queue; unpaused, waiting callers ring it again."""
        phone = self.get(interface)
        if phone is None:
            return None
        changed = phone.paused != reason
        phone.paused = reason
        if changed:
            self._changed(phone)
        if reason is None and phone.online and phone.state is PhoneState.IDLE:
            self._on_free()
        return phone

    # --- what calls do to phones ------------------------------------------------------------

    def ring(self, phone: AgentPhone, call: PhoneCall) -> bool:
        """Ring `phone` for `call`; False if it is not free (taken by another call)."""
        if phone.state is not PhoneState.IDLE or not phone.online:
            return False
        self._set(phone, PhoneState.RINGING, call)
        return True

    def note(self, phone: AgentPhone, text: str) -> None:
        """Show `text` on the phone's display (an outgoing call's failure) until it rings."""
        phone.notice = text
        phone.show()

    def connect(self, phone: AgentPhone, call: PhoneCall) -> None:
        self._set(phone, PhoneState.TALKING, call)
        phone.calls_taken += 1

    def hand_over(self, phone: AgentPhone, call: PhoneCall) -> None:
        """An attended transfer bridged the caller's `call` with `phone`, which was
        talking on the consultation: the phone carries that call now."""
        self._set(phone, PhoneState.TALKING, call)

    def release(self, phone: AgentPhone, call: PhoneCall) -> None:
        """The call no longer rings or talks on `phone` (no-op if it moved on)."""
        if phone.call is not call:
            return
        was_talking = phone.state is PhoneState.TALKING
        self._set(phone, PhoneState.IDLE, None)
        if was_talking:
            phone.last_call_ended = phone.since
        if phone.online:
            self._on_free()

    def _set(self, phone: AgentPhone, state: PhoneState, call: PhoneCall | None) -> None:
        if state is not PhoneState.IDLE:
            phone.notice = None
        phone.state = state
        phone.call = call
        phone.since = self._monotonic()
        phone.show()
        self._changed(phone)
