"""The AMI listener: AMI client -> triggers -> publish (the pop bus); members' pauses ->
`agent.status` (`callpop.ami.pauses`).

Composition: `callpop serve` builds one per `ami:` entry (under its lease, `LeasedListener`)
with `bus.publish`; tests and the benchmark build one against the simulator. Events are
handled in the order Asterisk sent them, each published before the next is read.

On every login (the first, a reconnect, a takeover from another instance) the listener
resyncs: AMI replays nothing, so it asks `QueueStatus` and `CoreShowChannels` and feeds
the triggers what they describe (`callpop.ami.resync`) before the events heard since.
And it ends the calls callpop held live on this Asterisk (`live_calls`, asked before the
snapshot) that the snapshot no longer lists: their callers hung up while no instance
listened, and nothing else would ever tell the pops.

Every event it publishes carries `pbx`, the `ami:` entry's label, so that the pops know
which Asterisk their call is on (a resync of one Asterisk must not end another's calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

from callpop.ami.client import ActionFailed, AMIClient, AMIError
from callpop.ami.codec import Message
from callpop.ami.lease import AmiLease
from callpop.ami.pauses import MEMBER_EVENTS, MemberPauses
from callpop.ami.resync import listed_calls, resync_events
from callpop.ami.triggers import Triggers
from callpop.config import AmiSettings
from ivr.call import iso_utc
from ivr.ports import CallEvent

__all__ = ["AMIListener", "LeasedListener", "LiveCalls", "Observe", "Publish"]

log = logging.getLogger("callpop.ami")

Publish = Callable[[CallEvent], None]
"""`PopBus.publish`: synchronous, never waits (docs/contracts.md)."""

Observe = Callable[[Message], None]
"""Sees every AMI message the listener handles, and the answers of its resync's
`QueueStatus` (the queue state writer, callpop/queue_store.py); synchronous, fast."""

LiveCalls = Callable[[str], Awaitable[Collection[str]]]
"""The call ids callpop holds live on the Asterisk of this label (pops ringing or talking,
callers waiting), as stored and as the hub holds them (callpop/live_calls.py)."""

LIVE_CALLS_BUDGET_S = 2.0  # a resync does not wait longer for them: it ends none then

# Queue events are class `agent`, Dial and Hangup class `call`: asking for those two
# spares us the dialplan class (dozens of VarSet/Newexten per call).
EVENT_CLASSES = "call,agent"
# After this many events of a term, the listener says once whether most of them were of
# kinds nothing in callpop reads (manager.conf without callpop's eventfilter lines).
UNREAD_SAMPLE = 1_000


class AMIListener:
    """Owns one `AMIClient` task; `start()` then `stop()` (or `async with`)."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        publish: Publish,
        *,
        triggers: Triggers | None = None,
        clock: Callable[[], float] = time.time,
        events: str = EVENT_CLASSES,
        observers: tuple[Observe, ...] = (),
        pbx: str = "",
        live_calls: LiveCalls | None = None,
        reads: frozenset[str] | None = None,
        **client_options: Any,
    ) -> None:
        """`pbx`: the label put on every event (`AmiSettings.label`); `live_calls`: what
        a resync may end (None: it ends nothing); `reads`: the events callpop acts on
        (callpop/ami_filter.py), to tell the admin once when Asterisk sends mostly others."""
        self.triggers = triggers or Triggers()
        self._pbx = pbx
        self._username = username
        self._reads = reads
        self._seen = 0
        self._unread = 0
        self._live_calls = live_calls
        self.pauses = MemberPauses()
        self._observers = observers
        self._publish = publish
        self._clock = clock
        self.client = AMIClient(
            host,
            port,
            username,
            secret,
            on_event=self._on_event,
            on_connected=self._resync,
            events=events,
            **client_options,
        )
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.resyncs = 0
        self.ended_at_resync = 0
        self._resynced = asyncio.Condition()
        # channels hung up while a resync's snapshot was on its way: not brought back
        self._hung_up_meanwhile: set[str] | None = None
        # members whose pause was reported while a resync's snapshot was on its way: the
        # snapshot may be older than that report, so it does not overwrite it
        self._members_meanwhile: set[str] | None = None

    @classmethod
    def from_settings(cls, settings: AmiSettings, publish: Publish, **options: Any) -> AMIListener:
        """`options` go to `AMIListener` (triggers, clock, events) or `AMIClient`."""
        return cls(
            settings.host,
            settings.port,
            settings.username,
            settings.resolved_secret(),
            publish,
            **{"pbx": settings.label, **options},
        )

    def track(self, call_id: str) -> None:
        """See `Triggers.track`: feed it the call ids of `ivr.started` events."""
        self.triggers.track(call_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.client.run(), name="ami-listener")
            self._task.add_done_callback(_report_crash)

    async def stop(self, deadline_s: float = 5.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await self.client.close()
        try:
            async with asyncio.timeout(deadline_s):
                await task
        except TimeoutError:
            task.cancel()
            log.warning("AMI listener did not stop in time; cancelled")

    async def __aenter__(self) -> AMIListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_resyncs(self, count: int) -> None:
        """Until `count` logins have been resynced (under the caller's own timeout)."""
        async with self._resynced:
            await self._resynced.wait_for(lambda: self.resyncs >= count)

    async def _on_event(self, msg: Message) -> None:
        if self._reads is not None:
            self._sample(msg, self._reads)
        if self._hung_up_meanwhile is not None and msg.event == "Hangup":
            self._hung_up_meanwhile.add(msg.get("Uniqueid") or "")
        if self._members_meanwhile is not None and msg.event in MEMBER_EVENTS:
            self._members_meanwhile.add(msg.get("Interface") or "")
        self._observe(msg)
        await self._feed(msg)

    def _sample(self, msg: Message, reads: frozenset[str]) -> None:
        self._seen += 1
        if msg.event not in reads:
            self._unread += 1
        if self._seen < UNREAD_SAMPLE:
            return
        if self._unread * 2 > self._seen:
            log.warning(
                "AMI %s: %d of the first %d events were of kinds callpop does not read;"
                " the eventfilter lines `callpop asterisk-config` writes for manager.conf's"
                " [%s] make Asterisk keep them (docs/asterisk.md)",
                self._pbx or "-",
                self._unread,
                self._seen,
                self._username,
            )
        self._reads = None  # one sample a term: the configuration changes only on a reload

    def _observe(self, msg: Message) -> None:
        for observe in self._observers:
            observe(msg)

    async def _feed(self, msg: Message) -> None:
        # Triggers are pure and fast; publish is the bus's, which never waits on a
        # subscriber: an AgentCalled is on the bus before the next event is read.
        now = self._clock()
        for event in self.triggers.feed(msg, now=now):
            self._publish(self._tagged(event))
            self.published += 1
        for event in self.pauses.feed(msg, now=now):  # a member paused or back: the agent's status
            self._publish(event)
            self.published += 1

    def _tagged(self, event: CallEvent) -> CallEvent:
        if not self._pbx:
            return event
        return CallEvent(event.type, event.call_id, event.at, {**event.data, "pbx": self._pbx})

    async def _held_live(self) -> Collection[str]:
        """The calls callpop holds live on this Asterisk; none (nothing is ended) when
        they cannot be read within the budget, said once per resync."""
        if self._live_calls is None or not self._pbx:
            return ()
        try:
            async with asyncio.timeout(LIVE_CALLS_BUDGET_S):
                return await self._live_calls(self._pbx)
        except Exception as exc:
            log.warning(
                "AMI resync: the calls held live could not be read; none is ended",
                extra={"fields": {"host": self.client.host, "error": repr(exc)}},
            )
            return ()

    async def _resync(self) -> None:
        """The PBX's current queue state, as events (module docstring). Events read
        while the answers come are handled first; a snapshot of a channel that hung up
        meanwhile is dropped, so a call that just ended does not pop again."""
        held = await self._held_live()  # before the snapshot: later calls are not in it
        hung_up: set[str] = set()
        members: set[str] = set()
        self._hung_up_meanwhile = hung_up
        self._members_meanwhile = members
        try:
            # The queue state's observers take the snapshot as it is read: an event read
            # after this answer (a caller joining right behind it, or while
            # CoreShowChannels is asked) is newer, and the snapshot's QueueParams, fed
            # any later, would wipe that caller out.
            status = await self.client.action(
                "QueueStatus", idempotent=True, listing=True, observe=self._observe
            )
            channels = await self._channels()
        except AMIError as exc:
            log.warning(
                "AMI resync failed; only events from now on count",
                extra={"fields": {"host": self.client.host, "error": repr(exc)}},
            )
            return
        finally:
            self._hung_up_meanwhile = None
            self._members_meanwhile = None
        events = [
            m
            for m in resync_events(status, channels or ())
            if m.get("Uniqueid") not in hung_up and m.get("DestUniqueid") not in hung_up
        ]
        for msg in events:
            await self._feed(msg)
        for msg in status:  # each member's pause as the PBX has it now
            if msg.event == "QueueMember" and msg.get("Location") not in members:
                await self._feed(msg)
        if channels is None:
            gone = []  # no channel list: nothing tells which held call has no channel left
        else:
            present = listed_calls(channels, self.triggers.call_id_variable)
            gone = sorted(call_id for call_id in held if call_id not in present)
        at = iso_utc(datetime.fromtimestamp(self._clock(), UTC))
        for call_id in gone:
            # Asterisk's own Hangup was not heard: no cause to tell
            self._publish(
                self._tagged(
                    CallEvent("call.hungup", call_id, at, {"cause": None, "cause_txt": "resync"})
                )
            )
            self.published += 1
        self.ended_at_resync += len(gone)
        async with self._resynced:
            self.resyncs += 1
            self._resynced.notify_all()
        counts = {
            name: sum(1 for m in events if m.event == name)
            for name in ("QueueCallerJoin", "AgentCalled", "AgentConnect")
        }
        log.info(
            "AMI resynced from QueueStatus and CoreShowChannels"
            if channels is not None
            else "AMI resynced from QueueStatus alone",
            extra={
                "fields": {
                    "host": self.client.host,
                    "port": self.client.port,
                    "waiting": counts["QueueCallerJoin"],
                    "ringing": counts["AgentCalled"],
                    "connected": counts["AgentConnect"],
                    "ended": len(gone),
                }
            },
        )

    async def _channels(self) -> list[Message] | None:
        """The `CoreShowChannels` answer, or None when Asterisk refuses it to this user
        (the action is class `system` or `reporting`: a manager.conf whose `write` has
        neither). The resync then has the queues, members and pauses but no calls: the
        callers waiting and the agents ringing or talking are heard of from their next
        event on, and no call held live is ended."""
        try:
            return await self.client.action("CoreShowChannels", idempotent=True, listing=True)
        except ActionFailed as exc:
            log.error(
                "AMI %s: Asterisk refused CoreShowChannels to user %s (%s): the calls under"
                " way are not resynced; give the user `write = reporting` in manager.conf"
                " (callpop asterisk-config, docs/asterisk.md)",
                self._pbx or self.client.host,
                self._username,
                exc,
            )
            return None


class LeasedListener:
    """One Asterisk's AMI, consumed while this instance holds its lease: acquire, listen
    (the listener's login resyncs), and on losing the lease stop listening at once, then
    stand by for it again. A new `AMIListener` each term: what the last term's triggers
    knew is stale after a gap, and the resync rebuilds it."""

    def __init__(
        self,
        settings: AmiSettings,
        lease: AmiLease,
        publish: Publish,
        *,
        on_term_end: Callable[[], None] | None = None,
        **options: Any,
    ) -> None:
        self.settings = settings
        # Told when a term ends: what it observed is no longer this instance's to publish.
        self._on_term_end = on_term_end
        self.lease = lease
        self._publish = publish
        self._options = options
        self.listener: AMIListener | None = None
        self.terms = 0
        self._task: asyncio.Task[None] | None = None

    def track(self, call_id: str) -> None:
        if self.listener is not None:
            self.listener.track(call_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ami-{self.settings.label}")
            self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.lease.release()

    async def _run(self) -> None:
        while True:
            await self.lease.acquire()
            listener = AMIListener.from_settings(self.settings, self._publish, **self._options)
            self.listener = listener
            self.terms += 1
            await listener.start()
            try:
                await self.lease.until_lost()
            finally:
                self.listener = None
                await listener.stop()
                if self._on_term_end is not None:
                    self._on_term_end()
            # An instance that just lost its session may be the one in trouble: let a
            # standby take the lease before contending again.
            await asyncio.sleep(2 * self.settings.lease_interval_s)


def _report_crash(task: asyncio.Task[None]) -> None:
    """`run()` only returns on `close()`: anything else is a bug to shout about now,
    not at shutdown when `stop()` awaits the task."""
    if not task.cancelled() and task.exception() is not None:
        log.error("AMI listener stopped", exc_info=task.exception())
