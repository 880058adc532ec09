"""What became of a click-to-dial: Asterisk's `OriginateResponse` -> `agent.dial` events
(pure: no I/O).

The panel's click-to-dial is an `Originate` with `Async: true` (callpop/ami/controls.py):
Asterisk answers "Originate successfully queued" at once, and says only later, in an
`OriginateResponse` with the same ActionID, whether the agent's phone took the call
(`Response: Success`, `Reason: 4`) or why not (`Response: Failure`, `Reason` the last
control frame seen: 0 no such device or offline, 1 hung up, 3 rang out, 5 busy,
8 congestion). That event reaches only the AMI connection of the instance holding the
lease, which may not be the one the agent asked on (callpop/ami/relay.py): this observer
runs on the holder's listener and turns each response to a click-to-dial (an Originate
into the agents' context: a callback's runs in the callback context) into an
`agent.dial` event on the bus. Its call id is the ActionID, which the asking instance got
back as the dial's `call`; its `interface` is the agent's phone, so the hub of every
instance tells that agent's sockets, and only theirs (screenpop/hub.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from callpop.ami.codec import Message
from callpop.ami.triggers import device_of
from ivr.call import iso_utc
from ivr.ports import CallEvent
from screenpop.hub import AGENT_DIAL_EVENT

__all__ = ["DIAL_EVENT", "OUTCOMES", "READS", "DialOutcomes", "outcome_of"]

DIAL_EVENT = AGENT_DIAL_EVENT

# OriginateResponse `Reason` of a Failure -> the outcome the panel words
# (docs/contracts.md, "agent.dial"); any other reason is "failed".
_FAILURES = {"0": "offline", "1": "hung_up", "3": "no_answer", "5": "busy", "8": "congestion"}
OUTCOMES = ("connected", *_FAILURES.values(), "failed", "unknown")
# What `DialOutcomes.feed` reads.
READS = frozenset({"OriginateResponse"})


def outcome_of(message: Message) -> str:
    """`connected`, or why the agent's phone did not take the call."""
    if message.get("Response") == "Success":
        return "connected"
    return _FAILURES.get(message.get("Reason") or "", "failed")


class DialOutcomes:
    """`feed` is an AMI listener's observer (the lease holder's); every click-to-dial's
    `OriginateResponse` is published as an `agent.dial` event. `context` is the agents'
    context click-to-dial runs the number in (`AmiControls.context`)."""

    def __init__(
        self,
        publish: Callable[[CallEvent], None],
        *,
        context: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publish = publish
        self._context = context
        self._clock = clock
        self.published = 0

    def feed(self, message: Message) -> None:
        if message.event not in READS or message.get("Context") != self._context:
            return
        action_id = message.action_id
        if not action_id:  # nobody asked for it by an id: no agent waits on it
            return
        channel = message.get("Channel") or ""
        # a Failure names the channel asked (the agent's interface, `Local/...@ctx/n`
        # included); a Success the new channel (`PJSIP/101-0000000a`): its device
        interface = device_of(channel) if message.get("Response") == "Success" else channel
        at = iso_utc(datetime.fromtimestamp(self._clock(), UTC))
        data = {
            "interface": interface,
            "number": message.get("Exten") or "",
            "outcome": outcome_of(message),
            "reason": message.get("Reason") or "",
        }
        self._publish(CallEvent(DIAL_EVENT, action_id, at, data))
        self.published += 1
