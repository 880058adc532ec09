"""The Stasis application: every channel that enters `Stasis(callpop[,flow=NAME,...])`
becomes one IVR call, run by the handler the composition root gives (the shared runner).

One task reads the events websocket (`EventStream`) and dispatches synchronously: a
`StasisStart` starts a call task, channel and playback events go to their channel's
inbox, `Connected` starts a reconciliation (`Resynchroniser`). Call tasks are tracked,
never fire-and-forget: each ends in `_run_call`, which keeps a session's end quiet when
the caller simply left (`ChannelGone`) and, for anything else, logs once and sends the
caller on to the dialplan with `CALLPOP_OUTCOME=error`, never into silence.

Shutdown (`stop`): new callers go straight to `callpop-route,operator,1`; live calls get
`grace_s` to finish; the rest are sent on to the operator; then the websocket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from ivr import variables
from ivr.ari.channel import OPERATOR_EXTENSION, ROUTE_CONTEXT, AriChannel
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.events import (
    ApplicationReplaced,
    AriEvent,
    ChannelEvent,
    PlaybackEvent,
    StasisEnd,
    StasisStart,
)
from ivr.ari.ledger import LedgerUnavailable, SessionLedger
from ivr.ari.models import AriProtocolError
from ivr.ari.resync import Resynchroniser
from ivr.ari.websocket import (
    Backoff,
    Connected,
    ConnectFailed,
    ConnectionLost,
    EventStream,
    StreamItem,
)
from ivr.events import Caller
from ivr.flow import ENTRY_FLOW
from ivr.ports import ChannelGone

__all__ = ["AppStats", "CallHandler", "StasisApp", "StasisCall", "parse_args"]

log = logging.getLogger(__name__)

_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Channels the app has sent on stay remembered this long (by count), so a resync that
# still sees one in Stasis for a moment does not take it for an orphan.
_SETTLED_MEMORY = 10_000
# The longest a caller waits on the shared session ledger (a record at the start and end).
LEDGER_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class StasisCall:
    """What a StasisStart says about a new call, plus its call id (CHANNEL(linkedid))."""

    call_id: str
    channel_id: str
    channel_name: str
    caller: Caller
    dnis: str
    flow: str
    language: str
    args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class CallHandler(Protocol):
    """Runs one call's IVR over its channel (the shared runner, wrapped by `callpop/`).
    Returns when the session is over; raises `ChannelGone` if the caller left."""

    async def __call__(self, channel: AriChannel, call: StasisCall) -> None: ...


def parse_args(args: Sequence[str]) -> tuple[str, dict[str, str]]:
    """`Stasis(callpop,flow=main,lang=en)` args -> (flow, the other `key=value` pairs).

    Args come from the dialplan, written by an admin: a malformed one is logged and
    skipped rather than costing the caller the IVR.
    """
    flow = ENTRY_FLOW
    extra: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        name = name.strip()
        if not sep or not _ARG_NAME.match(name):
            log.warning("Stasis argument %r is not NAME=VALUE; ignored", arg)
            continue
        if name == "flow":
            flow = value.strip() or ENTRY_FLOW
        else:
            extra[name] = value
    return flow, extra


@dataclass(slots=True)
class AppStats:
    calls_started: int = 0
    calls_ended: int = 0
    calls_failed: int = 0
    declined: int = 0
    resyncs: int = 0
    vanished: int = 0


class StasisApp:
    """The `callpop` Stasis application over one ARI connection."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        handler: CallHandler,
        *,
        backoff: Backoff | None = None,
        heartbeat_s: float | None = 20.0,
        route_context: str = ROUTE_CONTEXT,
        orphan_grace_s: float = 1.0,
        timer_scale: float = 1.0,
        clock: Callable[[], float] | None = None,
        ledger: SessionLedger | None = None,
        ledger_interval_s: float = 2.0,
    ) -> None:
        self.client = client
        self.app = app
        self.handler = handler
        self.route_context = route_context
        self.timer_scale = timer_scale
        self.stream = EventStream(client, app, backoff=backoff, heartbeat_s=heartbeat_s)
        self.resync = Resynchroniser(
            client,
            app,
            self,
            route_context=route_context,
            orphan_grace_s=orphan_grace_s,
            ledger=ledger,
        )
        self.ledger = ledger
        self.ledger_interval_s = ledger_interval_s
        self._ledger_down = False
        self.stats = AppStats()
        self._clock = clock or asyncio.get_running_loop().time
        self._calls: dict[str, AriChannel] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._settled: OrderedDict[str, None] = OrderedDict()
        self._resync_task: asyncio.Task[None] | None = None
        self._accepting = True
        self.connected = asyncio.Event()
        self.resynced = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the app connected and dispatching until `stop()`; with a ledger, also
        renew this instance's heartbeat and reconcile every `ledger_interval_s`, so
        callers another instance left in Stasis when it died are sent on."""
        if self.ledger is None:
            await self.stream.run(self._on_item)
            return
        # Alive in the ledger before any caller is recorded as ours: to the other
        # instances' take-over check, a session whose instance has no heartbeat yet is
        # orphaned, and its live caller would be sent to the operator.
        await self._ledger_call(self.ledger.heartbeat())
        keeper = asyncio.create_task(self._keep_ledger(), name=f"ari-ledger-{self.app}")
        try:
            await self.stream.run(self._on_item)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if not self._accepting:
                # stop(): every caller was sent on, nothing of ours is left in Stasis.
                # Torn down any other way, the records stay for a survivor to act on.
                await self._ledger_call(self.ledger.retire())

    async def _keep_ledger(self) -> None:
        assert self.ledger is not None
        while True:
            if self.connected.is_set() and self._accepting:
                try:
                    await self.resync.take_over()
                except (AriError, AriProtocolError) as exc:
                    log.debug("ARI take-over check failed: %s", exc)  # next round retries
            await asyncio.sleep(self.ledger_interval_s)
            await self._ledger_call(self.ledger.heartbeat())

    async def _ledger_call(self, step: Awaitable[None]) -> None:
        """A ledger write, at most `LEDGER_TIMEOUT_S`: the store being slow or away costs
        no caller more than that (logged once per change of state). A session left
        unrecorded is one no survivor takes while this instance lives."""
        try:
            async with asyncio.timeout(LEDGER_TIMEOUT_S):
                await step
        except (LedgerUnavailable, TimeoutError) as exc:
            if not self._ledger_down:
                log.warning("ARI session ledger unreachable (%r); calls go on", exc)
                self._ledger_down = True
            return
        if self._ledger_down:
            log.info("ARI session ledger reachable again")
            self._ledger_down = False

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    async def wait_idle(self) -> None:
        """Until no call task is left (new ones may start afterwards)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def refuse_new_calls(self) -> None:
        """From now on a new caller goes straight to `callpop-route,operator,1`."""
        self._accepting = False

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let live calls finish within `grace_s`, send the rest on, then disconnect."""
        self.refuse_new_calls()
        await self._settle(grace_s)
        await self._cancel_resync()
        await self.stream.close()
        # Callers who arrived during the grace period are being sent on: let them be.
        await self._settle(self.client.settings.total_timeout_s)

    async def _settle(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the call tasks, then cancel what is left (a
        cancelled call is sent on to the operator) and wait for that."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # --- the session registry the resynchroniser reads ----------------------------------

    def live_channels(self) -> Set[str]:
        return self._calls.keys()

    def settled_channels(self) -> Set[str]:
        return self._settled.keys()

    def resynced_channel(self, channel_id: str) -> None:
        channel = self._calls.get(channel_id)
        if channel is not None:
            channel.resynced()

    def vanished_channel(self, channel_id: str) -> None:
        channel = self._calls.get(channel_id)
        if channel is not None:
            self.stats.vanished += 1
            channel.vanished()

    # --- dispatch -------------------------------------------------------------------------

    def _on_item(self, item: StreamItem) -> None:
        try:
            self._dispatch(item)
        except Exception:
            # A bug in handling one event must not stop the events of every other call.
            log.exception("dispatching an ARI %s failed", type(item).__name__)

    def _dispatch(self, item: StreamItem) -> None:
        if isinstance(item, Connected):
            self._on_connected(item)
        elif isinstance(item, ConnectionLost):
            self.connected.clear()
            self.resynced.clear()
            log.warning(
                "ARI events websocket lost (code %d%s); %d calls live, reconnecting",
                item.code,
                ", no close frame" if item.code == 1006 else "",
                len(self._calls),
            )
            if self._resync_task is not None:
                self._resync_task.cancel()
        elif isinstance(item, ConnectFailed):
            log.warning("ARI events websocket: %s; retry in %.1f s", item.error, item.retry_in_s)
        else:
            self._on_event(item)

    def _on_connected(self, item: Connected) -> None:
        log.info("ARI app %r connected (connection %d)", self.app, item.connection)
        self.connected.set()
        if self._resync_task is not None:
            self._resync_task.cancel()
        self._resync_task = asyncio.create_task(self._resync_until_done())

    def _resync_soon(self) -> None:
        """A reconciliation now, unless one is running or the socket is away (then the
        reconnect brings one)."""
        running = self._resync_task is not None and not self._resync_task.done()
        if self.connected.is_set() and not running and self._accepting:
            self._resync_task = asyncio.create_task(self._resync_until_done())

    def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            self._start_call(event)
            return
        if isinstance(event, ApplicationReplaced):
            # Two processes under one app name take the events from each other; give
            # each callpop instance its own `ari.app`.
            log.warning("another ARI client connected as app %r and took its events", self.app)
            return
        channel_id: str | None = None
        if isinstance(event, ChannelEvent):
            channel_id = event.channel.id
            if isinstance(event, StasisEnd):
                self._settled.pop(channel_id, None)
        elif isinstance(event, PlaybackEvent):
            channel_id = event.playback.channel_id
        if channel_id is not None:
            channel = self._calls.get(channel_id)
            if channel is not None:
                channel.deliver(event)

    def _start_call(self, event: StasisStart) -> None:
        snapshot = event.channel
        if snapshot.id in self._calls:
            log.warning("second StasisStart for live channel %s; ignored", snapshot.id)
            return
        self._settled.pop(snapshot.id, None)  # back in Stasis: a call of its own again
        channel = AriChannel(
            self.client,
            snapshot.id,
            clock=self._clock,
            route_context=self.route_context,
            timer_scale=self.timer_scale,
        )
        self._calls[snapshot.id] = channel
        if self._accepting:
            self.stats.calls_started += 1
            task = asyncio.create_task(self._run_call(channel, event))
        else:
            self.stats.declined += 1
            task = asyncio.create_task(self._decline(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- calls ----------------------------------------------------------------------------

    async def _run_call(self, channel: AriChannel, event: StasisStart) -> None:
        snapshot = event.channel
        recorded = False
        try:
            flow, extra = parse_args(event.args)
            call_id = await channel.read_variable("CHANNEL(linkedid)")
            await channel.answer()
            call = StasisCall(
                call_id=call_id or snapshot.id,
                channel_id=snapshot.id,
                channel_name=snapshot.name,
                caller=Caller(number=snapshot.caller.number, name=snapshot.caller.name),
                dnis=snapshot.dialplan.exten,
                flow=flow,
                language=snapshot.language,
                args=MappingProxyType(extra),
            )
            if self.ledger is not None:
                recorded = True
                await self._ledger_call(self.ledger.session_started(channel.id, call.call_id))
            await self.handler(channel, call)
        except ChannelGone as gone:
            log.debug("channel %s: the session ended, channel gone (%s)", channel.id, gone.cause)
        except asyncio.CancelledError:
            # Shutdown past the grace period: the caller goes to the operator queue
            # rather than waiting in a silent Stasis until callpop comes back.
            await self._send_on(channel, OPERATOR_EXTENSION)
            raise
        except Exception:
            self.stats.calls_failed += 1
            log.exception("ARI call on channel %s failed; sending it on as an error", channel.id)
            await self._fail(channel)
        finally:
            self.stats.calls_ended += 1
            self._forget(channel)
            if recorded and self.ledger is not None:
                await self._ledger_call(self.ledger.session_ended(channel.id))
            if channel.gone == "ari-unavailable":
                # The session gave up on a REST call, not on the caller: if the channel
                # is still in Stasis, the next reconciliation sends it on.
                self._resync_soon()

    async def _decline(self, channel: AriChannel) -> None:
        try:
            await self._send_on(channel, OPERATOR_EXTENSION)
        finally:
            self._forget(channel)

    async def _fail(self, channel: AriChannel) -> None:
        if channel.finished or channel.gone is not None:
            return
        try:
            await asyncio.wait_for(
                channel.set_variables(((variables.OUTCOME, "error"),)), self._send_on_timeout
            )
            await asyncio.wait_for(channel.finish(hangup=False), self._send_on_timeout)
        except (ChannelGone, AriError, TimeoutError) as exc:
            log.warning("channel %s could not be sent on after an error: %s", channel.id, exc)

    async def _send_on(self, channel: AriChannel, extension: str) -> None:
        if channel.finished or channel.gone is not None:
            return
        try:
            await asyncio.wait_for(
                self.client.continue_in_dialplan(channel.id, self.route_context, extension, 1),
                self._send_on_timeout,
            )
            channel.finished = True
        except (AriError, TimeoutError) as exc:
            log.warning("channel %s could not be sent on: %s", channel.id, exc)

    @property
    def _send_on_timeout(self) -> float:
        return self.client.settings.total_timeout_s

    def _forget(self, channel: AriChannel) -> None:
        self._calls.pop(channel.id, None)
        if channel.finished:
            self._settled[channel.id] = None
            while len(self._settled) > _SETTLED_MEMORY:
                self._settled.popitem(last=False)

    # --- reconciliation -------------------------------------------------------------------

    async def _resync_until_done(self) -> None:
        """Reconcile after a (re)connect; retried with backoff while ARI REST fails.
        Cancelled when the socket is lost again (the next `Connected` starts anew)."""
        attempt = 0
        while True:
            try:
                await self.resync.run()
            except (AriError, AriProtocolError) as exc:
                delay = self.stream.backoff.delay(attempt)
                attempt += 1
                log.warning("ARI resync failed: %s; retry in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.stats.resyncs += 1
            self.resynced.set()
            return

    async def _cancel_resync(self) -> None:
        task, self._resync_task = self._resync_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
