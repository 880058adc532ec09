"""An `Originate` played on the virtual PBX: a callback (callpop/callbacks/placer.py
sends it) or the panel's click-to-dial (callpop/ami/controls.py, `originate`).

As Asterisk runs it with the dialplan `callpop asterisk-config` emits: the agent's phone
(`Channel`) rings first, for `Timeout`; once the agent answers, their leg runs `Exten` in
`Context`, whose `Dial` calls the customer's number for 30 seconds: the callback context
for a callback, the agents' own context for click-to-dial. In the demo the customer's
phone is the test phone page open as that number (the caller it has chosen, or the
number it last called as): it rings there ("Acme Telecom is calling you back" or
"Acme Telecom is calling"), and answering bridges the two. A number nobody answers, or
a page that is on another call or declines, ends the agent's call, and the agent's phone
shows why ("No answer from ...", "... is busy"), as a desk phone's display does.

The events are `callpop.pbx_sim.ami_originate`'s, in Asterisk 22's order: the answer
"Originate successfully queued" at once, then `OriginateResponse` Success when the agent
answers (Failure with Reason 3 when they let it ring out, 5 when they reject it or are
busy, 0 when their phone is not there), `DialBegin` and `DialEnd` of the customer's leg
(ANSWER, NOANSWER, BUSY, or CANCEL when the agent hangs up first) and both legs' `Hangup`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from callpop.ami.codec import Message
from callpop.demo.phones import AgentPhone, Phones
from callpop.pbx_sim.ami_originate import Originations

__all__ = ["CUSTOMER_RING_S", "CustomerLine", "OriginatedCall", "same_number"]

log = logging.getLogger(__name__)

CUSTOMER_RING_S = 30.0  # the callback context's Dial(..., 30)
_NOT_DIGITS = re.compile(r"[^0-9]")

Kind = Literal["callback", "outbound"]
Step = Literal["answer", "decline", "agent_hangup", "customer_answer", "customer_hangup"]


def same_number(a: str, b: str) -> bool:
    """The same phone, written with or without a country code or punctuation
    (`+15551234567`, `(555) 123-4567`): equal digits, or one ending with the other's ten."""
    x, y = _NOT_DIGITS.sub("", a), _NOT_DIGITS.sub("", b)
    if not x or not y:
        return False
    if x == y:
        return True
    short, long_ = sorted((x, y), key=len)
    return len(short) >= 10 and long_.endswith(short)


class CustomerLine(Protocol):
    """A test phone page, as the callback's customer leg sees it."""

    number: str | None

    def free(self) -> bool: ...

    def ring(self, leg: OriginatedCall) -> None: ...

    def tell(self, frame: dict[str, Any]) -> None: ...


def is_callback(action: Message) -> bool:
    """The placer's Originate: it sets CALLPOP_CALLBACK on the agent's leg."""
    return any(v.startswith("CALLPOP_CALLBACK=") for v in action.getall("Variable"))


# What the agent's phone shows once the customer's leg failed (DialEnd's DialStatus).
_MISSED = {
    "NOANSWER": "No answer from {number}",
    "BUSY": "{number} is busy",
    "CANCEL": "You hung up before {number} answered",
}


class OriginatedCall:
    """One Originate, from the agent's ring to both hang-ups (a `PhoneCall` for the
    agent's phone). `channel_id` is the agent leg's Uniqueid (the Originate's `ChannelId`
    when it names one); `ring_s` is how long the customer's number rings."""

    def __init__(
        self,
        action: Message,
        channel_id: str,
        *,
        ring_s: float = CUSTOMER_RING_S,
        originations: Originations,
        phones: Phones,
        emit: Callable[[list[bytes]], None],
        find_line: Callable[[str], CustomerLine | None],
        on_end: Callable[[OriginatedCall], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.action = action
        self.channel_id = channel_id
        self.number = action.get("Exten") or ""
        self.kind: Kind = "callback" if is_callback(action) else "outbound"
        self.ring_s = ring_s
        self._originations = originations
        self._phones = phones
        self._emit = emit
        self._find_line = find_line
        self._on_end = on_end
        self._monotonic = monotonic
        self.steps: asyncio.Queue[tuple[Step, AgentPhone | None]] = asyncio.Queue()
        self.line: CustomerLine | None = None
        self.ringback = False
        self.task: asyncio.Task[None] | None = None

    # --- PhoneCall (the agent's phone) ---------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self.channel_id

    def caller_view(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": "Callback" if self.kind == "callback" else "",
            "queue": None,
            "kind": self.kind,
            # the agent answered and hears ringback while the customer's number rings
            "ringback": self.ringback,
        }

    def answer(self, phone: AgentPhone) -> None:
        self.steps.put_nowait(("answer", phone))

    def decline(self, phone: AgentPhone) -> None:
        self.steps.put_nowait(("decline", phone))

    def agent_hang_up(self, phone: AgentPhone) -> None:
        self.steps.put_nowait(("agent_hangup", phone))

    # --- the customer's test phone -------------------------------------------------------------

    def customer_answers(self) -> None:
        self.steps.put_nowait(("customer_answer", None))

    def customer_hangs_up(self) -> None:
        self.steps.put_nowait(("customer_hangup", None))

    # --- the call ------------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"demo-{self.kind}-{self.channel_id}")

    async def _run(self) -> None:
        try:
            await self._place()
        except asyncio.CancelledError:
            self._hang_up_all()
            raise
        except Exception:
            log.exception("demo %s %s failed", self.kind, self.channel_id)
            self._hang_up_all()
        finally:
            self._on_end(self)

    def _hang_up_all(self) -> None:
        if self.channel_id in self._originations.live:
            self._emit(self._originations.hang_up(self.channel_id))
        self._release()
        if self.line is not None:
            self.line.tell({"type": "state", "state": "ended", "reason": "The PBX hung up."})

    def _release(self) -> None:
        for phone in self._phones:
            if phone.call is self:
                self._phones.release(phone, self)

    async def _next(self, within_s: float | None, wanted: set[Step]) -> Step | None:
        try:
            async with asyncio.timeout(within_s):
                while True:
                    step, _phone = await self.steps.get()
                    if step in wanted:
                        return step
        except TimeoutError:
            return None

    async def _place(self) -> None:
        interface = self.action.get("Channel") or ""
        ring_s = max(1.0, int(self.action.get("Timeout") or "30000") / 1000)
        phone = self._phones.get(interface)
        if phone is None or not phone.online:
            self._emit(self._originations.agent_does_not_answer(self.channel_id, reason="0"))
            return
        if not self._phones.ring(phone, self):
            self._emit(self._originations.agent_does_not_answer(self.channel_id, reason="5"))
            return
        step = await self._next(ring_s, {"answer", "decline"})
        if step != "answer":
            self._phones.release(phone, self)
            reason = "3" if step is None else "5"
            self._emit(self._originations.agent_does_not_answer(self.channel_id, reason=reason))
            return
        self._phones.connect(phone, self)
        self._emit(self._originations.agent_answers(self.channel_id))
        # the agent's leg runs Exten in Context: Dial(customer, 30)
        line = self._find_line(self.number)
        if line is not None and not line.free():
            self._customer_missed(phone, "BUSY")
            return
        if line is not None:
            self.line = line
            line.ring(self)
        self._hear_ringback(phone, True)
        step = await self._next(self.ring_s, {"customer_answer", "customer_hangup", "agent_hangup"})
        self._hear_ringback(phone, False)
        if step != "customer_answer":
            if line is not None:
                line.tell(
                    {
                        "type": "state",
                        "state": "ended",
                        "reason": "The agent hung up."
                        if step == "agent_hangup"
                        else "Missed call.",
                    }
                )
            self._customer_missed(
                phone,
                {"agent_hangup": "CANCEL", "customer_hangup": "BUSY"}.get(step or "", "NOANSWER"),
            )
            return
        self._emit(self._originations.customer_answers(self.channel_id))
        assert line is not None
        line.tell({"type": "connected", "agent": phone.agent, "interface": phone.interface,
                   "queue": None, "callback": self.kind == "callback",
                   "outbound": self.kind == "outbound"})  # fmt: skip
        talk_from = self._monotonic()
        step = await self._next(None, {"customer_hangup", "agent_hangup"})
        self._emit(self._originations.hang_up(self.channel_id))
        self._release()
        who = "You" if step == "customer_hangup" else phone.agent
        line.tell(
            {
                "type": "state",
                "state": "ended",
                "reason": f"{who} hung up after talking.",
                "talk_s": int(self._monotonic() - talk_from),
            }
        )

    def _hear_ringback(self, phone: AgentPhone, on: bool) -> None:
        self.ringback = on
        if phone.call is self:
            phone.show()

    def _customer_missed(self, phone: AgentPhone, status: str) -> None:
        self._emit(self._originations.customer_does_not_answer(self.channel_id, status))
        self._release()
        self._phones.note(phone, _MISSED[status].format(number=self.number))
