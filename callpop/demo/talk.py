"""A caller talking with an agent's phone on the virtual PBX, until one of them hangs up
or the agent transfers the call, as Asterisk plays it for the panel's controls.

- Blind (`BlindTransfer` of the agent's channel, or `Redirect` of the caller's): the
  talk ends at once; the caller goes on to the destination (`TalkEnd.how == "blind"`).
- Attended (`Atxfer`): the caller stays with the agent while the agent's consultation
  call rings the target's phone (an agent of `callpop-agents`: the demo has no outside
  line and no consultation of a queue). The target answers and talks with the agent;
  when the agent hangs up, Asterisk bridges the caller with the target
  (`TalkEnd.how == "attended"`, with the target's phone and channel). A consultation
  the target rejects, does not answer within `ring_s`, or hangs up on leaves the agent
  with the caller. An agent who hangs up while the consultation still rings ends their
  call and the consultation (Asterisk would complete a "blonde" transfer: not played).

The responders of `callpop.demo.pbx.VirtualPbx` answer the AMI actions and post a
`transfer` signal to the call; this loop turns signals into the outcome, and the
caller's side (`DemoCall`, `QueueVisit`) emits the AMI events of that outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from callpop.asterisk_config import AGENTS_CONTEXT
from callpop.demo.phones import AgentPhone, PhoneCall, Phones
from callpop.demo.signals import Signal, TransferTo
from callpop.pbx_sim.ami_events import Ids, Snapshot

__all__ = ["CONSULT_RING_S", "Consultation", "TalkEnd", "Talker", "agent_phone", "converse"]

CONSULT_RING_S = 20.0  # how long a consultation rings the target before giving up

Tell = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class TalkEnd:
    """How the talk ended. `attended`: `target` (the phone that took the caller), its
    channel `target_leg` and the agent's consultation channel `consult`."""

    how: Literal["caller", "agent", "blind", "attended"]
    to: TransferTo | None = None
    target: AgentPhone | None = None
    target_leg: Snapshot | None = None
    consult: Snapshot | None = None


class Talker(PhoneCall, Protocol):
    """What `converse` needs of the caller's call: its signals, and where it records the
    agent channel it is bridged with (the transfer responders look it up)."""

    signals: asyncio.Queue[Signal]
    agent_channel: str | None


def agent_phone(phones: Phones, to: TransferTo) -> AgentPhone | None:
    """The phone a consultation to `to` rings: an agent's `PJSIP/NNN` is NNN in
    callpop-agents (`callpop.ami.controls.transfer_destination`); nothing else has one."""
    if to.context != AGENTS_CONTEXT or not to.exten.isdigit():
        return None
    return phones.get(f"PJSIP/{to.exten}")


class Consultation:
    """The agent's consultation call ringing or talking on the target's phone (a
    `PhoneCall`): its answer, rejection and hang-up go to the caller's call's signals."""

    def __init__(self, talker: Talker, agent: AgentPhone) -> None:
        self._talker = talker
        self._agent = agent

    @property
    def call_id(self) -> str:
        return self._talker.call_id

    def caller_view(self) -> dict[str, Any]:
        extension = self._agent.interface.partition("/")[2]
        return {
            "number": extension,
            "name": f"{self._agent.agent} (consultation)",
            "queue": None,
            "kind": "consultation",
        }

    def answer(self, phone: AgentPhone) -> None:
        self._talker.signals.put_nowait(Signal("consult_answer", phone))

    def decline(self, phone: AgentPhone) -> None:
        self._talker.signals.put_nowait(Signal("consult_end", phone))

    def agent_hang_up(self, phone: AgentPhone) -> None:
        self._talker.signals.put_nowait(Signal("consult_end", phone))


async def converse(
    talker: Talker,
    *,
    phone: AgentPhone,
    agent_leg: Snapshot,
    phones: Phones,
    ids: Ids,
    tell: Tell,
    monotonic: Callable[[], float],
    ring_s: float = CONSULT_RING_S,
) -> TalkEnd:
    """Run the talk between the caller and `phone` (whose channel is `agent_leg`)."""
    talker.agent_channel = agent_leg.channel
    consult: Consultation | None = None
    target: AgentPhone | None = None
    to: TransferTo | None = None
    answered = False
    ring_until: float | None = None

    def drop_consultation() -> None:
        nonlocal consult, target, answered, ring_until
        if consult is not None and target is not None:
            phones.release(target, consult)
        consult, target, answered, ring_until = None, None, False, None

    try:
        while True:
            signal = await _next(talker.signals, ring_until, monotonic)
            if signal is None:  # the consultation rang out
                tell({"type": "notice", "text": f"{phone.agent}'s consultation went unanswered."})
                drop_consultation()
                continue
            kind = signal.kind
            if kind == "caller_hangup":
                drop_consultation()
                return TalkEnd("caller")
            if kind == "agent_hangup" and signal.phone is phone:
                if answered and target is not None and to is not None:
                    leg = Snapshot(
                        channel=f"{target.interface}-{ids.suffix()}",
                        uniqueid=ids.uniqueid(),
                        linkedid=talker.call_id,
                        context=to.context,
                        exten=to.exten,
                        state=6,
                    )
                    consult_leg = agent_leg.but(
                        channel=f"{agent_leg.channel}-consult",
                        uniqueid=ids.uniqueid(),
                        context=to.context,
                        exten=to.exten,
                    )
                    return TalkEnd("attended", to, target, leg, consult_leg)
                drop_consultation()
                return TalkEnd("agent")
            if kind == "transfer" and signal.to is not None:
                if not signal.to.attended:
                    drop_consultation()
                    return TalkEnd("blind", signal.to)
                if consult is not None:
                    continue  # one consultation at a time
                wanted = agent_phone(phones, signal.to)
                calling = Consultation(talker, phone)
                if wanted is None or not phones.ring(wanted, calling):
                    tell(
                        {
                            "type": "notice",
                            "text": f"{phone.agent}'s consultation call to {signal.to.exten} "
                            "fails (no free demo phone there); you stay with "
                            f"{phone.agent}.",
                        }
                    )
                    continue
                consult, target, to = calling, wanted, signal.to
                ring_until = monotonic() + ring_s
                tell({"type": "notice", "text": f"{phone.agent} put you on hold to consult."})
            elif kind == "consult_answer" and target is not None and signal.phone is target:
                assert consult is not None
                phones.connect(target, consult)
                answered, ring_until = True, None
            elif kind == "consult_end" and target is not None and signal.phone is target:
                tell({"type": "notice", "text": f"{phone.agent} is back with you."})
                drop_consultation()
    finally:
        talker.agent_channel = None


async def _next(
    signals: asyncio.Queue[Signal], until: float | None, monotonic: Callable[[], float]
) -> Signal | None:
    if until is None:
        return await signals.get()
    try:
        async with asyncio.timeout(max(0.0, until - monotonic())):
            return await signals.get()
    except TimeoutError:
        return None
