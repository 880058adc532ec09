"""AMI events as Asterisk 22 writes them, generated for scripted calls.

The formats follow tests/fixtures/asterisk/ami/ line for line: the channel snapshot block
(`Channel` ... `Linkedid`, then one `ChanVariable` line per `channelvars` name), the
destination block with the `Dest` prefix, then the event's own keys, in Asterisk's order.
A test regenerates queue-call.txt's queue events from the same values and compares bytes.

`QueueCall` scripts a caller in a queue (join, an agent rung, answered or not, completed,
abandoned); `DirectDial` a transfer outside any queue. Each step returns the events as
wire bytes, ready for `AMIServer.emit`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from callpop.ami.codec import encode_message

__all__ = ["DirectDial", "Ids", "QueueCall", "Snapshot", "Writer"]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
CAUSE_TXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    32: "Circuit/channel congestion",
}

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A channel as an event shows it; `variables` are the `channelvars` values in order."""

    channel: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 6
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "en"
    account_code: str = ""
    variables: tuple[tuple[str, str], ...] = ()

    def but(self, **changes: Any) -> Snapshot:
        return dataclasses.replace(self, **changes)

    def block(self, prefix: str = "") -> Headers:
        p = prefix
        out: Headers = [
            (f"{p}Channel", self.channel),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{p}CallerIDNum", self.caller_num),
            (f"{p}CallerIDName", self.caller_name),
            (f"{p}ConnectedLineNum", self.connected_num),
            (f"{p}ConnectedLineName", self.connected_name),
            (f"{p}Language", self.language),
            (f"{p}AccountCode", self.account_code),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", str(self.priority)),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid),
        ]
        out.extend((f"{p}ChanVariable", f"{name}={value}") for name, value in self.variables)
        return out


class Writer:
    """Encodes events with `Privilege` and, as with `timestampevents = yes`, `Timestamp`."""

    def __init__(self, clock: Callable[[], float] | None = time.time) -> None:
        self._clock = clock

    def event(self, name: str, privilege: str, *parts: Iterable[tuple[str, str]]) -> bytes:
        headers: Headers = [("Event", name), ("Privilege", privilege)]
        if self._clock is not None:
            headers.append(("Timestamp", f"{self._clock():.6f}"))
        for part in parts:
            headers.extend(part)
        return encode_message(headers)


@dataclass
class Ids:
    """Asterisk's `EPOCH.N` unique ids and the hex suffixes of channel names."""

    epoch: str = "1795389698"
    next_uid: int = 1
    next_suffix: int = 1

    def uniqueid(self) -> str:
        self.next_uid += 1
        return f"{self.epoch}.{self.next_uid - 1}"

    def suffix(self) -> str:
        self.next_suffix += 1
        return f"{self.next_suffix - 1:08x}"


def hangup(w: Writer, chan: Snapshot, cause: int) -> bytes:
    return w.event(
        "Hangup",
        "call,all",
        chan.block(),
        [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))],
    )


@dataclass
class _Leg:
    """One agent leg: for a `Local/` member its `;1` and `;2` halves."""

    one: Snapshot
    two: Snapshot | None


def _new_leg(
    interface: str,
    caller: Snapshot,
    ids: Ids,
    context: str,
    blank_vars: tuple[tuple[str, str], ...],
) -> _Leg:
    device = interface.removesuffix("/n")
    base = Snapshot(
        channel="",
        uniqueid="",
        linkedid=caller.linkedid,
        context=context,
        exten=caller.exten,
        state=0,
        caller_num=caller.caller_num,
        caller_name=caller.caller_name,
        connected_num=caller.caller_num,
        connected_name=caller.caller_name,
        variables=blank_vars,
    )
    suffix = ids.suffix()
    if device.startswith("Local/"):
        exten, _, ctx = device.removeprefix("Local/").partition("@")
        one = base.but(channel=f"{device}-{suffix};1", uniqueid=ids.uniqueid(), context=ctx)
        two = one.but(channel=f"{device}-{suffix};2", uniqueid=ids.uniqueid(), exten=exten, state=6)
        return _Leg(one, two)
    return _Leg(base.but(channel=f"{device}-{suffix}", uniqueid=ids.uniqueid()), None)


@dataclass
class QueueCall:
    """A caller waiting in `queue`, offered to the member `interface`.

    `caller` is the channel in the queue (its `Linkedid` is the call id); `caller_peer`
    the `;1` half when the caller is a Local channel, as in the recorded transcripts.
    """

    caller: Snapshot
    queue: str
    interface: str
    member_name: str
    ids: Ids
    writer: Writer = field(default_factory=Writer)
    caller_peer: Snapshot | None = None
    agent_context: str = "from-internal"
    legs: list[_Leg] = field(default_factory=list)
    # where the scripted steps left the call, for the state queries (ami_status.QueueBoard)
    stage: str = "new"  # new, waiting, ringing, connected, ended

    @property
    def call_id(self) -> str:
        return self.caller.linkedid

    @property
    def leg(self) -> _Leg:
        return self.legs[-1]

    def _blank_vars(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, "") for name, _ in self.caller.variables)

    def _member(self) -> Headers:
        return [
            ("Queue", self.queue),
            ("Interface", self.interface),
            ("MemberName", self.member_name),
        ]

    def joined(self, position: int = 1, count: int = 1) -> list[bytes]:
        self.stage = "waiting"
        return [
            self.writer.event(
                "QueueCallerJoin",
                "agent,all",
                self.caller.block(),
                [("Queue", self.queue), ("Position", str(position)), ("Count", str(count))],
            )
        ]

    def agent_called(self) -> list[bytes]:
        """AgentCalled, then the queue's DialBegin and DialState RINGING to a new leg."""
        self.stage = "ringing"
        w, c = self.writer, self.caller.block()
        leg = _new_leg(
            self.interface, self.caller, self.ids, self.agent_context, self._blank_vars()
        )
        self.legs.append(leg)
        dial_exten = leg.two.exten if leg.two is not None else leg.one.exten
        dialing = leg.one.but(
            connected_num="<unknown>", connected_name="<unknown>", exten=dial_exten
        )
        return [
            w.event("AgentCalled", "agent,all", c, leg.one.block("Dest"), self._member()),
            w.event(
                "DialBegin", "call,all", c, dialing.block("Dest"), [("DialString", self.interface)]
            ),
            w.event(
                "DialState",
                "call,all",
                c,
                leg.one.but(state=5).block("Dest"),
                [("DialStatus", "RINGING")],
            ),
        ]

    def answered(self, hold_s: int = 1, ring_s: int = 1, count: int = 0) -> list[bytes]:
        """The agent answers: DialEnd ANSWER, QueueCallerLeave, AgentConnect."""
        self.stage = "connected"
        w, c = self.writer, self.caller.block()
        self.leg.one = self.leg.one.but(state=6)
        dest = self.leg.one.block("Dest")
        return [
            w.event("DialEnd", "call,all", c, dest, [("DialStatus", "ANSWER")]),
            w.event(
                "QueueCallerLeave",
                "agent,all",
                c,
                [("Queue", self.queue), ("Position", "1"), ("Count", str(count))],
            ),
            w.event(
                "AgentConnect",
                "agent,all",
                c,
                dest,
                self._member(),
                [("HoldTime", str(hold_s)), ("RingTime", str(ring_s))],
            ),
        ]

    def ring_no_answer(
        self, ring_ms: int = 4000, *, agent_priority: int = 1, peer_hangup: bool = True
    ) -> list[bytes]:
        """The member did not answer in time: Asterisk ends the ring and hangs up the leg
        (a Local member's `;2` half, at `agent_priority` of its dialplan, unless
        `peer_hangup` is False: Asterisk sometimes reports that one much later)."""
        self.stage = "waiting"
        w, c, leg = self.writer, self.caller.block(), self.leg
        dest = leg.one.but(state=5).block("Dest")
        out = [
            w.event(
                "AgentRingNoAnswer",
                "agent,all",
                c,
                dest,
                self._member(),
                [("RingTime", str(ring_ms))],
            ),
            w.event("DialEnd", "call,all", c, dest, [("DialStatus", "NOANSWER")]),
            w.event("DialEnd", "call,all", c, dest, [("DialStatus", "CANCEL")]),
            hangup(w, leg.one.but(state=5), 0),
        ]
        if leg.two is not None and peer_hangup:
            out.append(hangup(w, leg.two.but(state=4, priority=agent_priority), 0))
        return out

    def completed(
        self, hold_s: int = 1, talk_s: int = 4, reason: str = "agent", agent_priority: int = 1
    ) -> list[bytes]:
        """The agent hangs up (`reason` agent) or the caller does (`caller`)."""
        self.stage = "ended"
        w, leg = self.writer, self.leg
        c = self.caller.block()
        complete = w.event(
            "AgentComplete",
            "agent,all",
            c,
            leg.one.block("Dest"),
            self._member(),
            [("HoldTime", str(hold_s)), ("TalkTime", str(talk_s)), ("Reason", reason)],
        )
        agent_side = [hangup(w, leg.two.but(priority=agent_priority), 16)] if leg.two else []
        if reason == "caller":
            out = [hangup(w, self.caller, 16), complete, *agent_side, hangup(w, leg.one, 16)]
        else:
            out = [*agent_side, complete, hangup(w, leg.one, 16), hangup(w, self.caller, 16)]
        if self.caller_peer is not None:
            out.append(hangup(w, self.caller_peer, 0))
        return out

    def abandoned(self, hold_s: int, *, caller_hung_up: bool) -> list[bytes]:
        """The caller leaves without an agent: hung up, or the queue timed out."""
        self.stage = "ended"
        w, c = self.writer, self.caller.block()
        out = []
        if caller_hung_up:
            out.append(w.event("HangupRequest", "call,all", c, [("Cause", "16")]))
        out += [
            w.event(
                "QueueCallerAbandon",
                "agent,all",
                c,
                [
                    ("Queue", self.queue),
                    ("Position", "1"),
                    ("OriginalPosition", "1"),
                    ("HoldTime", str(hold_s)),
                ],
            ),
            w.event(
                "QueueCallerLeave",
                "agent,all",
                c,
                [("Queue", self.queue), ("Position", "1"), ("Count", "0")],
            ),
        ]
        if caller_hung_up:
            out.append(hangup(w, self.caller, 16))
        return out


@dataclass
class DirectDial:
    """`Dial(interface)` from the caller's channel, outside any queue."""

    caller: Snapshot
    interface: str
    ids: Ids
    writer: Writer = field(default_factory=Writer)
    agent_context: str = "from-internal"
    leg: _Leg | None = None

    def begin(self) -> list[bytes]:
        w, c = self.writer, self.caller.block()
        self.leg = _new_leg(
            self.interface,
            self.caller,
            self.ids,
            self.agent_context,
            tuple((name, "") for name, _ in self.caller.variables),
        )
        one = self.leg.one
        return [
            w.event(
                "DialBegin",
                "call,all",
                c,
                one.but(connected_num="<unknown>", connected_name="<unknown>").block("Dest"),
                [("DialString", self.interface)],
            ),
            w.event(
                "DialState",
                "call,all",
                c,
                one.but(state=5).block("Dest"),
                [("DialStatus", "RINGING")],
            ),
        ]

    def end(self, status: str = "ANSWER") -> list[bytes]:
        """DialEnd with `status` (ANSWER, NOANSWER, BUSY, ...); the leg hangs up unless
        answered."""
        assert self.leg is not None, "begin() first"
        w, c = self.writer, self.caller.block()
        state = 6 if status == "ANSWER" else 5
        self.leg.one = self.leg.one.but(state=state)
        out = [
            w.event("DialEnd", "call,all", c, self.leg.one.block("Dest"), [("DialStatus", status)])
        ]
        if status != "ANSWER":
            out.append(hangup(w, self.leg.one, 0))
        return out

    def hangup(self, *, caller_first: bool = True) -> list[bytes]:
        assert self.leg is not None, "begin() first"
        w = self.writer
        caller, agent = hangup(w, self.caller, 16), hangup(w, self.leg.one, 16)
        return [caller, agent] if caller_first else [agent, caller]
