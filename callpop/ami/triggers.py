"""AMI events -> call events for the screen-pop (pure: no I/O, no clock, no asyncio).

Pops follow the queue (design.md, "Asterisk side"): AgentCalled offers (`agent.ringing`),
AgentConnect makes live (`agent.connected`), AgentRingNoAnswer retracts
(`agent.ring_no_answer`), AgentComplete moves to wrap-up (`agent.completed`), with
`queue.joined`, `queue.left` and `call.hungup` around them. A `Dial` outside any queue
pops on DialBegin (ringing) and DialEnd (answered or not), the agent being the device of
`DestChannel`.

Which call: the `CALLPOP_CALL_ID` channel variable when `channelvars` carries it, else
`Linkedid`, else `Uniqueid` (a linkedid or uniqueid once seen with the variable keeps
mapping to it). Every call event has an identity (call, type, agent, agent leg), and an
identity seen before is never published again, so feeding the same AMI events twice
(a replay, a second listener) publishes nothing new; the same agent rung again for the
same call is a new agent leg, so it is a new offer of the same pop (the screen-pop keys
pops by call id).

Surprises from the recordings (tests/fixtures/asterisk/ami/) this code relies on:
- QueueCallerLeave comes *before* AgentConnect; the DialEnd `ANSWER` of the queue's own
  dial comes before both, so it tells a connected leave.
- A queue timeout is reported as QueueCallerAbandon too (queue-noanswer.txt); a caller
  who hangs up has a HangupRequest on their channel first. So: abandon + hang-up request
  = `abandoned`, abandon alone = `timeout`.
- The queue dials its members with DialBegin/DialEnd like any Dial, and a `Local/`
  member's `;2` half may Dial the real phone: neither is a transfer outside a queue.
- The call driver's Originate shows as a DialBegin with no `Channel`: not a transfer.
- An attended transfer's consultation is dialled from a new channel without
  `CALLPOP_CALL_ID`: the new agent pops from the `AttendedTransfer` event when the
  transfer completes (tests/fixtures/asterisk/ami/controls/atxfer.txt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callpop.ami.codec import Message
from ivr import variables
from ivr.call import iso_utc
from ivr.ports import CallEvent

__all__ = ["READS", "Triggers", "device_of"]


def _at(epoch: float) -> str:
    """`2026-11-22T23:21:38.515Z`: the envelope's `at`."""
    return iso_utc(datetime.fromtimestamp(epoch, UTC))


def device_of(channel: str) -> str:
    """The device a channel belongs to: `PJSIP/101-0000000a` -> `PJSIP/101`,
    `Local/8100@agents-00000005;1` -> `Local/8100@agents`."""
    name, semi, half = channel.rpartition(";")
    if semi and half.isdigit():
        channel = name
    base, dash, _ = channel.rpartition("-")
    return base if dash and "/" in base else channel


def _local_halves(channel: str) -> tuple[str, ...]:
    name, semi, half = channel.rpartition(";")
    if semi and half in ("1", "2"):
        return (f"{name};1", f"{name};2")
    return (channel,)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(slots=True)
class _Entry:
    """The caller's channel while it waits in a queue."""

    queue: str
    joined: str = ""
    answered: bool = False
    abandoned: bool = False
    hangup_requested: bool = False


@dataclass(slots=True)
class _Dial:
    """A Dial outside any queue, by its destination leg."""

    interface: str
    begin: float
    answered_at: float | None = None


@dataclass(slots=True)
class _Call:
    call_id: str
    channels: set[str] = field(default_factory=set)  # uniqueids seen, not hung up
    callers: set[str] = field(default_factory=set)  # uniqueids of the caller's side
    entries: dict[str, _Entry] = field(default_factory=dict)
    agent_channels: set[str] = field(default_factory=set)  # member legs and Local halves
    dials: dict[str, _Dial] = field(default_factory=dict)
    hungup: bool = False


@dataclass(slots=True)
class _Ctx:
    """What every handler needs about the message at hand."""

    msg: Message
    call: _Call
    at: str
    ts: float
    uid: str


_SETTLES_LEAVE = frozenset(
    {"AgentConnect", "VarSet", "Newexten", "HangupRequest", "SoftHangupRequest", "Hangup"}
)
_Handler = Callable[["Triggers", _Ctx], list[CallEvent]]
_QUEUE_EVENTS = frozenset(
    {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentRingNoAnswer",
        "AgentComplete",
    }
)


class Triggers:
    """Feed it every AMI event in order; it returns the call events to publish.

    State is per call and dropped when the call's channels have hung up; it is also
    bounded (`max_calls`, `max_seen` identities) so a lost Hangup cannot leak memory.
    """

    def __init__(
        self,
        *,
        call_id_variable: str = variables.CALL_ID,
        max_calls: int = 50_000,
        max_seen: int = 500_000,
    ) -> None:
        self._var = call_id_variable
        self._max_calls = max_calls
        self._max_seen = max_seen
        self._calls: dict[str, _Call] = {}
        self._alias: dict[str, str] = {}  # linkedid/uniqueid -> CALLPOP_CALL_ID
        self._seen: dict[tuple[str, ...], None] = {}
        self._tracked: dict[str, None] = {}
        self._pending_leave: dict[str, tuple[str, _Entry]] = {}  # uniqueid -> call, entry

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def call_id_variable(self) -> str:
        """The channel variable that names a call (`CALLPOP_CALL_ID`)."""
        return self._var

    def track(self, call_id: str) -> None:
        """A call callpop routed (its `ivr.started`): lets a Dial outside a queue pop
        even when manager.conf lacks `channelvars`."""
        self._tracked[call_id] = None
        while len(self._tracked) > self._max_calls:
            del self._tracked[next(iter(self._tracked))]

    def feed(self, msg: Message, *, now: float) -> list[CallEvent]:
        """The call events `msg` causes; `now` (epoch seconds) stamps events that carry
        no `Timestamp` (manager.conf without `timestampevents`)."""
        name = msg.event
        if name is None:
            return []
        out: list[CallEvent] = []
        if self._pending_leave:
            self._settle_leave(msg, name, now, out)
        handler = _HANDLERS.get(name)
        if handler is None:
            return out
        resolved = self._resolve(msg, _CALL_PREFIX.get(name, ""))
        if resolved is None:
            return out
        call_id, explicit = resolved
        create = name in _QUEUE_EVENTS or explicit or call_id in self._tracked
        call = self._call(call_id, create)
        if call is None:
            return out
        ts = _float(msg.get("Timestamp"), now)
        uid = msg.get("Uniqueid") or ""
        if uid and name != "Hangup":
            call.channels.add(uid)
        out.extend(handler(self, _Ctx(msg, call, _at(ts), ts, uid)))
        return out

    # -- call identity -------------------------------------------------------------

    def _resolve(self, msg: Message, block: str = "") -> tuple[str, bool] | None:
        """(call id, whether the channel carries a non-empty CALLPOP_CALL_ID); `block`
        names the channel block that says whose call it is (`Transferee` in a transfer
        event, which has no plain `Uniqueid`)."""
        uid, lid = msg.get(f"{block}Uniqueid"), msg.get(f"{block}Linkedid")
        prefix = self._var + "="
        for raw in msg.getall(f"{block}ChanVariable"):
            if raw.startswith(prefix):
                value = raw[len(prefix) :]
                if value:
                    for other in (lid, uid):
                        if other and other != value and other not in self._alias:
                            self._alias[other] = value
                    while len(self._alias) > 4 * self._max_calls:
                        del self._alias[next(iter(self._alias))]
                    return value, True
                break
        for key in (lid, uid):
            if key:
                return self._alias.get(key, key), False
        return None

    def _call(self, call_id: str, create: bool) -> _Call | None:
        call = self._calls.get(call_id)
        if call is None and create:
            call = self._calls[call_id] = _Call(call_id)
            while len(self._calls) > self._max_calls:
                del self._calls[next(iter(self._calls))]
        return call

    def _emit(
        self,
        out: list[CallEvent],
        identity: tuple[str, ...],
        type_: str,
        call_id: str,
        at: str,
        data: dict[str, Any],
    ) -> None:
        if identity in self._seen:
            return
        self._seen[identity] = None
        while len(self._seen) > self._max_seen:
            del self._seen[next(iter(self._seen))]
        out.append(CallEvent(type_, call_id, at, data))

    def _left(
        self, out: list[CallEvent], call_id: str, uid: str, entry: _Entry, reason: str, at: str
    ) -> None:
        # `joined` (the join's Timestamp) tells a second stay in the same queue from a replay
        self._emit(
            out,
            ("queue.left", call_id, uid, entry.queue, entry.joined),
            "queue.left",
            call_id,
            at,
            {"queue": entry.queue, "reason": reason},
        )

    def _settle_leave(self, msg: Message, name: str, now: float, out: list[CallEvent]) -> None:
        """A QueueCallerLeave with no sign of an answer (Dial events not readable):
        AgentConnect on that channel means connected; the dialplan going on after
        `Queue()` (QUEUESTATUS set, next priority) or a hang-up means the caller left
        without an agent while still on the line. Other events (the QUEUEWAIT VarSets
        between the leave and the connect) tell nothing."""
        if name not in _SETTLES_LEAVE or (
            name == "VarSet" and msg.get("Variable") != "QUEUESTATUS"
        ):
            return
        uid = msg.get("Uniqueid") or ""
        pending = self._pending_leave.pop(uid, None)
        if pending is None:
            return
        call_id, entry = pending
        reason = "connected" if name == "AgentConnect" else "timeout"
        self._left(out, call_id, uid, entry, reason, _at(_float(msg.get("Timestamp"), now)))

    # -- queue events --------------------------------------------------------------

    def _joined(self, c: _Ctx) -> list[CallEvent]:
        queue = c.msg.get("Queue") or ""
        known = c.call.entries.get(c.uid)
        if known is not None and known.queue == queue:
            return []  # a resync describing a wait already known: the same stay
        joined = c.msg.get("Timestamp") or ""
        c.call.entries[c.uid] = _Entry(queue, joined)
        c.call.callers.add(c.uid)
        chan_vars = c.msg.variables()
        priority = _int(chan_vars.get(variables.PRIORITY) or chan_vars.get("QUEUE_PRIO"))
        out: list[CallEvent] = []
        self._emit(
            out,
            ("queue.joined", c.call.call_id, c.uid, queue, joined),
            "queue.joined",
            c.call.call_id,
            c.at,
            {
                "queue": queue,
                "position": _int(c.msg.get("Position")),
                "priority": priority,
                "count": _int(c.msg.get("Count")),
            },
        )
        return out

    def _member(self, c: _Ctx, type_: str, extra: dict[str, Any]) -> list[CallEvent]:
        msg, call = c.msg, c.call
        dest_uid = msg.get("DestUniqueid") or ""
        dest = msg.get("DestChannel")
        if dest:
            call.agent_channels.update(_local_halves(dest))
        if dest_uid:
            call.channels.add(dest_uid)
        call.callers.add(c.uid)
        interface = msg.get("Interface") or (device_of(dest) if dest else "")
        data = {
            "queue": msg.get("Queue") or "",
            "interface": interface,
            "member_name": msg.get("MemberName") or "",
            **extra,
        }
        out: list[CallEvent] = []
        self._emit(out, (type_, call.call_id, interface, dest_uid), type_, call.call_id, c.at, data)
        return out

    def _agent_called(self, c: _Ctx) -> list[CallEvent]:
        return self._member(c, "agent.ringing", {})

    def _ring_no_answer(self, c: _Ctx) -> list[CallEvent]:
        return self._member(c, "agent.ring_no_answer", {"ring_ms": _int(c.msg.get("RingTime"))})

    def _agent_connect(self, c: _Ctx) -> list[CallEvent]:
        entry = c.call.entries.get(c.uid)
        if entry is not None:
            entry.answered = True
        # The two channels of the bridge, for the agent's call controls (a transfer acts
        # on the agent's own channel): kept in the hub's pop state, never shown to others.
        return self._member(
            c,
            "agent.connected",
            {
                "hold_s": _int(c.msg.get("HoldTime")),
                "channel": c.msg.get("DestChannel") or "",
                "caller_channel": c.msg.get("Channel") or "",
            },
        )

    def _agent_complete(self, c: _Ctx) -> list[CallEvent]:
        return self._member(
            c,
            "agent.completed",
            {
                "hold_s": _int(c.msg.get("HoldTime")),
                "talk_s": _int(c.msg.get("TalkTime")),
                "reason": c.msg.get("Reason") or "",
            },
        )

    def _abandon(self, c: _Ctx) -> list[CallEvent]:
        entry = c.call.entries.get(c.uid)
        if entry is not None:
            entry.abandoned = True
        return []

    def _leave(self, c: _Ctx) -> list[CallEvent]:
        entry = c.call.entries.pop(c.uid, None) or _Entry(c.msg.get("Queue") or "")
        out: list[CallEvent] = []
        if entry.answered:
            self._left(out, c.call.call_id, c.uid, entry, "connected", c.at)
        elif entry.abandoned:
            reason = "abandoned" if entry.hangup_requested else "timeout"
            self._left(out, c.call.call_id, c.uid, entry, reason, c.at)
        else:
            self._pending_leave[c.uid] = (c.call.call_id, entry)
            while len(self._pending_leave) > self._max_calls:
                del self._pending_leave[next(iter(self._pending_leave))]
        return out

    def _hangup_request(self, c: _Ctx) -> list[CallEvent]:
        entry = c.call.entries.get(c.uid)
        if entry is not None:
            entry.hangup_requested = True
        return []

    # -- dials ---------------------------------------------------------------------

    def _dials_for_caller(self, c: _Ctx) -> bool:
        """Is this Dial the caller's own (a transfer), not the queue's or an agent leg's?"""
        msg, call = c.msg, c.call
        if "Channel" not in msg or c.uid in call.entries or c.uid in call.dials:
            return False
        if msg.get("Channel") in call.agent_channels:
            return False
        value = next(
            (
                raw.partition("=")[2]
                for raw in msg.getall("ChanVariable")
                if raw.partition("=")[0] == self._var
            ),
            None,
        )
        return value is None or value != ""  # an empty CALLPOP_CALL_ID: not our caller

    def _dial_begin(self, c: _Ctx) -> list[CallEvent]:
        msg, call = c.msg, c.call
        dest_uid, dest = msg.get("DestUniqueid") or "", msg.get("DestChannel") or ""
        if not dest_uid or not self._dials_for_caller(c):
            return []
        interface = device_of(dest)
        call.dials[dest_uid] = _Dial(interface, c.ts)
        call.callers.add(c.uid)
        call.channels.add(dest_uid)
        call.agent_channels.update(_local_halves(dest))
        out: list[CallEvent] = []
        self._emit(
            out,
            ("agent.ringing", call.call_id, interface, dest_uid),
            "agent.ringing",
            call.call_id,
            c.at,
            {"queue": None, "interface": interface, "member_name": None},
        )
        return out

    def _dial_end(self, c: _Ctx) -> list[CallEvent]:
        msg, call = c.msg, c.call
        status = msg.get("DialStatus") or ""
        entry = call.entries.get(c.uid)
        if entry is not None and status == "ANSWER":
            entry.answered = True  # the queue's own dial: tells QueueCallerLeave why
        dest_uid = msg.get("DestUniqueid") or ""
        dial = call.dials.get(dest_uid)
        if dial is None or dial.answered_at is not None:
            return []  # not ours, or a second DialEnd (NOANSWER then CANCEL) of one leg
        out: list[CallEvent] = []
        base = {"queue": None, "interface": dial.interface, "member_name": None}
        if status == "ANSWER":
            dial.answered_at = c.ts
            self._emit(
                out,
                ("agent.connected", call.call_id, dial.interface, dest_uid),
                "agent.connected",
                call.call_id,
                c.at,
                {
                    **base,
                    "hold_s": round(c.ts - dial.begin),
                    "channel": msg.get("DestChannel") or "",
                    "caller_channel": msg.get("Channel") or "",
                },
            )
        else:
            del call.dials[dest_uid]
            self._emit(
                out,
                ("agent.ring_no_answer", call.call_id, dial.interface, dest_uid),
                "agent.ring_no_answer",
                call.call_id,
                c.at,
                {**base, "ring_ms": round((c.ts - dial.begin) * 1000), "dial_status": status},
            )
        return out

    # -- transfers -----------------------------------------------------------------

    def _attended_transfer(self, c: _Ctx) -> list[CallEvent]:
        """An attended transfer completed: the caller (`Transferee*`) is now bridged with
        `TransferTarget*`, whose device is the new agent. The consultation was dialled
        from a channel without the call id, so this is where the new agent's pop comes
        from; its Hangup ends it (agent.completed) like a Dial's answered leg."""
        msg, call = c.msg, c.call
        target, target_uid = msg.get("TransferTargetChannel"), msg.get("TransferTargetUniqueid")
        if msg.get("Result") != "Success" or not target or not target_uid:
            return []
        interface = device_of(target)
        call.dials[target_uid] = _Dial(interface, c.ts, answered_at=c.ts)
        call.channels.add(target_uid)
        call.agent_channels.update(_local_halves(target))
        transferee_uid = msg.get("TransfereeUniqueid") or ""
        if transferee_uid:
            call.callers.add(transferee_uid)
            call.channels.add(transferee_uid)
        out: list[CallEvent] = []
        self._emit(
            out,
            ("agent.connected", call.call_id, interface, target_uid),
            "agent.connected",
            call.call_id,
            c.at,
            {
                "queue": None,
                "interface": interface,
                "member_name": None,
                "hold_s": 0,
                "channel": target,
                "caller_channel": msg.get("TransfereeChannel") or "",
            },
        )
        return out

    # -- hang-up -------------------------------------------------------------------

    def _hangup(self, c: _Ctx) -> list[CallEvent]:
        msg, call, uid = c.msg, c.call, c.uid
        out: list[CallEvent] = []
        dial = call.dials.pop(uid, None)
        if dial is not None and dial.answered_at is not None:
            self._emit(
                out,
                ("agent.completed", call.call_id, dial.interface, uid),
                "agent.completed",
                call.call_id,
                c.at,
                {
                    "queue": None,
                    "interface": dial.interface,
                    "member_name": None,
                    "hold_s": round(dial.answered_at - dial.begin),
                    "talk_s": round(c.ts - dial.answered_at),
                    "reason": "caller" if call.hungup else "agent",
                },
            )
        is_caller = (
            uid in call.callers
            or uid == msg.get("Linkedid")
            or any(
                raw.startswith(self._var + "=") and raw != self._var + "="
                for raw in msg.getall("ChanVariable")
            )
        )
        if is_caller and not call.hungup:
            call.hungup = True
            self._emit(
                out,
                ("call.hungup", call.call_id),
                "call.hungup",
                call.call_id,
                c.at,
                {"cause": _int(msg.get("Cause")), "cause_txt": msg.get("Cause-txt")},
            )
        call.entries.pop(uid, None)
        call.channels.discard(uid)
        if not call.channels:
            del self._calls[call.call_id]
        return out


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


# Events that name the call's channel with a prefix rather than plain `Uniqueid`.
_CALL_PREFIX = {"AttendedTransfer": "Transferee"}

_HANDLERS: dict[str, _Handler] = {
    "AttendedTransfer": Triggers._attended_transfer,
    "QueueCallerJoin": Triggers._joined,
    "AgentCalled": Triggers._agent_called,
    "AgentRingNoAnswer": Triggers._ring_no_answer,
    "AgentConnect": Triggers._agent_connect,
    "AgentComplete": Triggers._agent_complete,
    "QueueCallerAbandon": Triggers._abandon,
    "QueueCallerLeave": Triggers._leave,
    "HangupRequest": Triggers._hangup_request,
    "SoftHangupRequest": Triggers._hangup_request,
    "DialBegin": Triggers._dial_begin,
    "DialEnd": Triggers._dial_end,
    "Hangup": Triggers._hangup,
}

# Every event whose arrival can change what `Triggers.feed` returns (manager.conf's
# `eventfilter` for callpop's user is made from it: callpop/ami_filter.py).
READS = frozenset(_HANDLERS) | _SETTLES_LEAVE
