"""What the PBX says is going on now, as the queue events that would have told it.

AMI replays nothing after a (re)connect (tests/fixtures/asterisk/ami/README.md), and an
instance that takes over an Asterisk's AMI from a dead one heard none of the events
before. So on every login the listener asks `QueueStatus` and `CoreShowChannels` and
feeds `Triggers` the events that describe the current state, built here (pure, no I/O):

- a caller waiting in a queue (`QueueEntry`; its channel's `CoreShowChannel` carries the
  `Linkedid` and `ChanVariable` lines the entry lacks) -> `QueueCallerJoin`;
- a member leg the queue is ringing (`Application: AppQueue`, not up) -> `AgentCalled`;
- a member leg that is up (the agent answered; the caller is still in `Queue()`, which
  bridges them) -> `AgentConnect`: the agent still gets the live pop of a call connected
  while no instance was listening;
- and the other way round, a call callpop holds live on this Asterisk (a pop ringing or
  talking, a caller waiting) that no listed channel belongs to any more (`listed_calls`):
  it hung up while nobody listened, and the listener ends it with `call.hungup`.

The caller's queue is the first argument of its `Queue()` (`ApplicationData`), the
member the one of that queue whose location is the leg's device (`Local/8200@agents/n`
rings `Local/8200@agents-0000000f;1`). Triggers' identities make the result idempotent:
events it already saw on this connection publish nothing again, and a pop offered or
answered before the takeover is the same pop (screenpop/pops.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callpop.ami.codec import Message
from callpop.ami.triggers import device_of
from ivr import variables

__all__ = ["Member", "listed_calls", "resync_events"]

# The channel snapshot block of an event, in Asterisk's order (ami_events.Snapshot).
_BLOCK = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


@dataclass(frozen=True, slots=True)
class Member:
    queue: str
    location: str  # what AgentCalled reports as `Interface`
    name: str
    state_interface: str

    def rings(self, leg_channel: str) -> bool:
        device = device_of(leg_channel)
        return device in (self.location.removesuffix("/n"), self.state_interface)


def _block(channel: Message, prefix: str = "") -> list[tuple[str, str]]:
    out = [(f"{prefix}{key}", channel.get(key) or "") for key in _BLOCK]
    out += [(f"{prefix}ChanVariable", raw) for raw in channel.getall("ChanVariable")]
    return out


def _members(status: Iterable[Message]) -> list[Member]:
    return [
        Member(
            m.get("Queue") or "",
            m.get("Location") or "",
            m.get("Name") or "",
            m.get("StateInterface") or "",
        )
        for m in status
        if m.event == "QueueMember"
    ]


def resync_events(status: Sequence[Message], channels: Sequence[Message]) -> list[Message]:
    """`status`: the QueueStatus answer (response and list events), `channels`: the
    CoreShowChannels one. Returns the events to feed `Triggers`, callers' joins first."""
    listed = [c for c in channels if c.event == "CoreShowChannel"]
    entries = {e.get("Uniqueid"): e for e in status if e.event == "QueueEntry"}
    waiting = {p.get("Queue"): p.get("Calls") or "0" for p in status if p.event == "QueueParams"}
    members = _members(status)
    joins: list[Message] = []
    agents: list[Message] = []
    for caller in listed:
        if caller.get("Application") != "Queue":
            continue
        queue = (caller.get("ApplicationData") or "").split(",", 1)[0]
        entry = entries.get(caller.get("Uniqueid"))
        if entry is not None:
            joins.append(
                Message(
                    [
                        ("Event", "QueueCallerJoin"),
                        *_block(caller),
                        ("Queue", queue),
                        ("Position", entry.get("Position") or "1"),
                        ("Count", waiting.get(queue, "0")),
                    ]
                )
            )
        for leg in listed:
            if leg.get("Application") != "AppQueue" or leg.get("Linkedid") != caller.get(
                "Linkedid"
            ):
                continue
            member = next(
                (m for m in members if m.queue == queue and m.rings(leg.get("Channel") or "")), None
            )
            if member is None:
                continue
            answered = leg.get("ChannelStateDesc") == "Up"
            agents.append(
                Message(
                    [
                        ("Event", "AgentConnect" if answered else "AgentCalled"),
                        *_block(caller),
                        *_block(leg, "Dest"),
                        ("Queue", queue),
                        ("Interface", member.location),
                        ("MemberName", member.name),
                    ]
                )
            )
    return joins + agents


def listed_calls(
    channels: Sequence[Message], call_id_variable: str = variables.CALL_ID
) -> set[str]:
    """Every id a call of the `CoreShowChannels` answer may be known by (`Triggers` names a
    call by its `CALLPOP_CALL_ID` when the channel carries it, else its `Linkedid`, else its
    `Uniqueid`): a call id held live and in none of these has no channel left."""
    prefix = call_id_variable + "="
    ids: set[str] = set()
    for channel in channels:
        if channel.event != "CoreShowChannel":
            continue
        for key in ("Linkedid", "Uniqueid"):
            value = channel.get(key)
            if value:
                ids.add(value)
        for raw in channel.getall("ChanVariable"):
            if raw.startswith(prefix) and raw != prefix:
                ids.add(raw[len(prefix) :])
    return ids
