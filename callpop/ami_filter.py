"""The AMI events callpop reads, and the manager.conf `eventfilter` lines that have Asterisk
send its AMI user those and no others.

A real Asterisk sends an AMI user every event of the classes its `read` allows. For one
queue call with `read = call,agent` that is some sixty events (DeviceStateChange,
Newstate, NewCallerid, NewConnectedLine, LocalBridge, the Bridge* events, ...:
tests/fixtures/asterisk/ami/queue-call.txt), of which callpop acts on about a dozen; and
the one instance holding an Asterisk's AMI lease reads and parses every one of them, for
every call of that Asterisk, on the path of every pop. The filters ("Advanced Event
Filtering" in Asterisk's manager.conf.sample: matched on the event name's hash, no
regular expression) make Asterisk drop the rest before writing them. They apply to
events only: the answers to callpop's actions, the `QueueStatus` and `CoreShowChannels`
listings included, come whatever the filters say.

The set is the union of what each consumer of the AMI stream declares it reads (`READS`
beside each `feed`), so a consumer that starts reading another event names it there and
the filter follows. The callback placer's (callpop/callbacks/placer.py) is not imported
here (it needs the database layer, and `callpop asterisk-config` must not); it reads
nothing the others do not, which tests/ami/test_ami_filter.py checks. `VarSet` and `Newexten` (class `dialplan`, which `read = call,agent`
does not give) are hints the triggers use to settle a queue leave early when a site
gives that class anyway; of them only the `QUEUESTATUS` VarSet is let through: `Queue()`
sets it before the dialplan goes on, so the Newexten after it tells nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from callpop.ami import dials, queue_state, triggers
from callpop.ami.codec import Message
from callpop.ami.pauses import MEMBER_EVENTS

__all__ = ["EVENT_FILTERS", "READS", "EventFilter", "admitted"]

# `AMIClient` logs Asterisk's `Shutdown` (the connection is about to close, and why).
_CLIENT_READS = frozenset({"Shutdown"})

READS: frozenset[str] = (
    triggers.READS | MEMBER_EVENTS | queue_state.READS | dials.READS | _CLIENT_READS
)
"""Every AMI event some part of callpop acts on."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One include filter: the events called `name`, and with `header`, only those whose
    `header` is exactly `value`."""

    name: str
    header: str | None = None
    value: str = ""

    def line(self) -> str:
        """The manager.conf line, for the AMI user's section."""
        criteria = f"action(include),name({self.name})"
        if self.header is None:
            return f"eventfilter({criteria}) ="
        return f"eventfilter({criteria},header({self.header}),method(exact)) = {self.value}"

    def admits(self, message: Message) -> bool:
        """Whether Asterisk lets `message` through this filter."""
        if message.event != self.name:
            return False
        return self.header is None or message.get(self.header) == self.value


_LEAVE_HINTS = frozenset({"VarSet", "Newexten"})

EVENT_FILTERS: tuple[EventFilter, ...] = (
    *(EventFilter(name) for name in sorted(READS - _LEAVE_HINTS)),
    EventFilter("VarSet", "Variable", "QUEUESTATUS"),
)
"""The AMI user's filters: with include filters only, Asterisk sends an event that
matches any of them and drops every other."""


def admitted(message: Message) -> bool:
    """Whether Asterisk, with `EVENT_FILTERS`, sends `message` when it happens. A response
    to an action always comes, and so do the items of a listing (`QueueStatus`'s
    `QueueEntry`, `CoreShowChannels`' `CoreShowChannel`, ...), which are written to the
    asking session only: not to be asked of them."""
    if message.event is None:
        return True
    return any(f.admits(message) for f in EVENT_FILTERS)
