"""The websocket hub: bus events in, each agent's pops out to that agent's tabs only.

One task reads the bus and feeds the pop machine (`screenpop.pops`), the payload
builder and the wallboard; every resulting pop event gets the hub's next `seq` and
goes into the agent's log and to each of the agent's sockets. A page that reconnects
says the last `seq` it saw: it gets what it missed from the log, or, when the log no
longer covers it (or it comes from another hub instance, `epoch`), a `reset` and the
agent's current pops. Either way the current pop and wrap-up come back.

Nothing on the event path awaits a socket: each socket has its own bounded outbox and
writer task, and a socket that cannot keep up is closed (it reconnects and resyncs),
so one slow browser never delays another agent's pop.

Several tabs of one agent get the same events; one of them, the one the agent last
focused, has the alert (`alert` frames say which), so a call rings once.

The truth is the database and the bus, not this process: every pop change is written
to `pops` (the pop as it stands: state, queue, notes, disposition) and every queue
event to `queue_events` (`screenpop.history`, `screenpop.queue_log`). On start the hub
subscribes to the bus first, then reads the active pops and the day's queue counts
back (`restore`), then takes the events that arrived meanwhile: so a restarted instance,
or a new one beside others on the same database, shows every agent the pops they had
and the wallboard the day's totals, and an agent's disposition for a call that was live
before the restart is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import WSMsgType, web

from ivr.call import iso_utc
from ivr.ports import CallEvent
from screenpop.auth import EmbedClaims, SessionClaims
from screenpop.bus import BusClosed, BusEvent, EventStream, PopBus, ReplayGap, ResyncRequired
from screenpop.history import PopHistory, WriterLease
from screenpop.interfaces import normalise_interface
from screenpop.outlook import BoardOutlook, BoardSources
from screenpop.panel import EmbedMinter, Panel
from screenpop.payload import PayloadBuilder
from screenpop.pops import (
    POP_EVENT_KINDS,
    AgentRef,
    Pop,
    PopChange,
    PopError,
    PopMachine,
    PopState,
)
from screenpop.protocol import (
    AFTER_CALL_WORK,
    Control,
    Focus,
    Hello,
    Notes,
    PanelProtocol,
    Ping,
    PopOn,
    Prefs,
    ProtocolState,
    RemoteProtocolError,
    encode_pop_event,
    error_frame,
)
from screenpop.queue_log import queue_event, withdrawal
from screenpop.store import Account, ScreenpopStore, StoredPopState
from screenpop.wallboard import AgentLine, Wallboard

__all__ = ["Hub", "Panel", "SocketControls"]

log = logging.getLogger(__name__)

PopObserver = Callable[[str, "float | None"], None]
"""Told of every pop change sent (`offered`, `accepted`, ...), with the offer's latency."""

CONTROLS_IN_FLIGHT = 4  # unanswered controls one socket may have (a PBX action each)
LOG_PER_AGENT = 256  # pop events kept per agent for replay on reconnect
WALLBOARD_MIN_INTERVAL_S = 0.25  # at most four wallboard frames a second per supervisor
_HIDDEN_WHEN_ANSWER = frozenset({"offered", "retracted"})
# Pops changed longer ago than this are not shown again after a restart (a call whose
# hang-up never reached any instance must not stay on a desk for ever).
RESTORE_WINDOW = timedelta(hours=24)
# Agents' own events (no call): their status as the PBX reports it (callpop/ami/pauses.py).
AGENT_STATUS_EVENT = "agent.status"
# What became of an agent's click-to-dial (callpop/ami/dials.py; "unknown" from the hub of
# the instance it was asked on, when Asterisk said nothing in time).
AGENT_DIAL_EVENT = "agent.dial"
DIALS_WAITING = 1_000  # click-to-dials one instance waits on an outcome for, at most
# What agents do to their pops, shared with every instance through the bus.
AGENT_ACTIONS = frozenset({"pop.disposed", "pop.notes"})
# The history writer's mark: the rows of every bus event up to `seq` are written
# (screenpop/history.py: with a shared bus one instance writes them).
HISTORY_WRITTEN = "history.written"
QUEUED_CALLS_REMEMBERED = 20_000  # calls in the queues whose hang-up is recorded
_RESTORED_STATE: dict[StoredPopState, PopState] = {
    "offered": PopState.OFFERED,
    "live": PopState.ACCEPTED,
    "wrapup": PopState.WRAPUP,
}


@dataclass(frozen=True, slots=True)
class SocketControls:
    """The call controls a socket may ask for (`control` messages; the widget's way to
    the panel's POSTs). `offer(account, agents)` is what the widget draws (`agents`: the
    logins of every agent); `run(account, action, args)` answers one control, as the
    `control.result` frame's fields (`ok`, and `status` and `error` when refused), never
    raising for a refusal."""

    offer: Callable[[Account, list[str]], dict[str, Any]]
    run: Callable[[Account, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Hub:
    """Owns the pop machine, the wallboard and every panel socket of one process."""

    def __init__(
        self,
        *,
        bus: PopBus,
        store: ScreenpopStore,
        payloads: PayloadBuilder,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        heartbeat_s: float = 20.0,
        embed_token: EmbedMinter | None = None,
        on_pop: PopObserver | None = None,
        board_sources: BoardSources | None = None,
        history_lease: WriterLease | None = None,
        controls: SocketControls | None = None,
    ) -> None:
        """`history_lease`: instances share the bus, and only the holder of this lease
        writes the pop history (the others keep their copy until its mark passes)."""
        self._bus = bus
        self._controls = controls
        self._on_pop = on_pop
        self._store = store
        self._payloads = payloads
        self._clock = clock
        self._monotonic = monotonic
        self._heartbeat_s = heartbeat_s
        self._embed_token = embed_token
        self.epoch = secrets.token_hex(8)
        self.running = False
        self.bus_down = False
        self.seq = 0
        self.bus_seq = 0  # the seq of the last bus event handled
        self.machine = PopMachine(self._resolve, payloads.known)
        self.wallboard = Wallboard()
        self.outlook = BoardOutlook(board_sources) if board_sources is not None else None
        self._accounts: dict[str, Account] = {}
        self._by_interface: dict[str, AgentRef] = {}
        self._panels: dict[str, list[Panel]] = {}  # agent id -> their panel sockets
        self._alerter: dict[str, Panel] = {}
        self._boards: list[Panel] = []
        self._logs: dict[str, deque[tuple[int, str, dict[str, Any]]]] = {}
        self._evicted: dict[str, int] = {}  # agent id -> highest seq dropped from the log
        self._pop_on: dict[str, PopOn] = {}
        self._status: dict[str, tuple[str, str]] = {}  # agent id -> (status, reason)
        # agent id -> when the PBX said their device went on a call (`agent.status` in_call)
        self._in_call_since: dict[str, str] = {}
        # (agent id, dial's call id) -> the number: click-to-dials asked here whose
        # outcome has not come yet (`expect_dial`)
        self._dials_waiting: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._completing: set[str] = set()
        self._recomplete: set[str] = set()
        self._board_dirty = asyncio.Event()
        self._queued: OrderedDict[str, None] = OrderedDict()  # calls with queue events
        self._count_day: date | None = None  # the local day the wallboard's totals count
        # entered by `start`, consumed by `run`
        self._started: tuple[contextlib.AsyncExitStack, EventStream] | None = None
        self._sockets: set[Panel] = set()  # every open socket, whatever its view
        self.history = PopHistory(
            store,
            clock,
            lease=history_lease,
            announce=self._announce_written if history_lease is not None else None,
        )

    # --- agents -----------------------------------------------------------------------

    async def refresh_accounts(self) -> None:
        """Read the agents table again (an agent added while serving pops from now on)."""
        accounts = await self._store.accounts()
        self._accounts = {a.id: a for a in accounts}
        self._by_interface = {
            normalise_interface(a.interface): AgentRef(a.id, a.name) for a in accounts
        }
        self._board_dirty.set()

    def knows(self, account: Account) -> bool:
        """The account as last read from the agents table is this one."""
        return self._accounts.get(account.id) == account

    def _resolve(self, interface: str) -> AgentRef | None:
        return self._by_interface.get(interface)

    def pop_on(self, agent_id: str) -> PopOn:
        return self._pop_on.get(agent_id, "ring")

    def online(self, agent_id: str) -> bool:
        return bool(self._panels.get(agent_id))

    # --- the bus ----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the bus, then read the stored state back (`restore`): what is
        published while the rows are read waits in the subscription and is applied
        after them by `run`. The app awaits this before it takes connections."""
        self._started = await self._enter(None)
        await self.restore()

    async def _enter(self, since: int | None) -> tuple[contextlib.AsyncExitStack, EventStream]:
        # Entered, not only made: a bus that asks a server (Redis) fixes where "live"
        # starts when the subscription is entered.
        stack = contextlib.AsyncExitStack()
        events = await stack.enter_async_context(
            self._bus.subscribe(since, on_state=self._bus_state)
        )
        return stack, events

    async def run(self) -> None:
        """Consume the bus until cancelled or the bus closes (`start` first, or this
        does it)."""
        try:
            await self._consume()
        finally:
            self.running = False

    async def _consume(self) -> None:
        if self._started is None:
            await self.start()
        entered, self._started = self._started, None
        since: int | None = None
        while True:
            try:
                stack, events = entered if entered is not None else await self._enter(since)
                entered = None
                async with stack:
                    self.running = True
                    async for event in events:
                        self.handle_event(event)
                        since = self.bus_seq = event.seq
                return
            except ReplayGap as exc:
                log.error("pop bus: %s; going on from seq %d", exc, exc.resume_seq)
                since = exc.resume_seq
                self._bus_state(True)
            except ResyncRequired as exc:
                log.warning(
                    "pop bus: hub fell behind (%s); replaying from seq %d", exc, exc.last_seq
                )
                since = exc.last_seq

    async def restore(self) -> None:
        """Read back the active pops and the day's queue counts (a restart, or one more
        instance on the same database). A database that does not answer costs the
        restored state, never the start: the bus's events rebuild it from now on."""
        now = self._clock()
        self._count_day = now.astimezone().date()
        day_start = datetime.combine(self._count_day, time(), now.astimezone().tzinfo)
        try:
            stored = await self._store.active_pops(now - RESTORE_WINDOW)
            day = await self._store.queue_day(day_start)
        except Exception as exc:
            log.error(
                "restoring pops from the database failed (%s: %s); starting with none",
                type(exc).__name__,
                exc,
            )
            return
        calls: set[str] = set()
        for row in stored:
            account = self._accounts.get(row.agent_id)
            if account is None:  # removed since: nobody to show it to
                continue
            self.machine.restore(
                Pop(
                    row.call_id,
                    AgentRef(account.id, account.name),
                    _RESTORED_STATE[row.state],
                    iso_utc(row.since),
                    offers=row.offers,
                    queue=row.queue,
                    interface=row.interface,
                    notes=row.notes,
                    disposition=row.disposition,
                    pbx=row.pbx,
                )
            )
            calls.add(row.call_id)
            self._was_queued(row.call_id)
        self.wallboard.restore(
            handled=day.handled,
            abandoned=day.abandoned,
            waiting=[
                (queue, call_id, iso_utc(since), caller)
                for queue, call_id, since, caller in day.waiting
            ],
        )
        for _queue, call_id, _since, _caller in day.waiting:
            self._was_queued(call_id)
        for call_id in calls:
            if self.machine.has_call(call_id):
                self._complete_payload(call_id)  # customer and journey again, then `updated`
        self._board_dirty.set()
        if stored or day.waiting:
            log.info(
                "restored %d pops of %d calls and %d waiting calls from the database",
                len(stored),
                len(calls),
                len(day.waiting),
            )

    def live_calls(self, pbx: str, stored: Iterable[str] = ()) -> set[str]:
        """The calls live on the Asterisk `pbx` (`ami:` entry) as this hub holds them (a
        pop ringing or talking, a caller waiting, that its events reported; every hub
        holds the same), and those of `stored` (the rows' account, written by whichever
        instance) whose hang-up this hub has not seen."""
        held = self.machine.ringing_or_talking_on(pbx) | self.wallboard.waiting_on(pbx)
        return held | {c for c in stored if not self.machine.hung_up(c)}

    def _bus_state(self, up: bool) -> None:
        """The bus cannot deliver (Redis unreachable) or delivers again: every panel shows
        "reconnecting" until then; what was missed follows as pop changes."""
        if up != self.bus_down:
            return
        self.bus_down = not up
        for panels in self._panels.values():
            for panel in panels:
                panel.send(panel.protocol.bus_state(up))
        for panel in self._boards:
            panel.send(panel.protocol.bus_state(up))

    def handle_event(self, event: BusEvent) -> None:
        """One call event, in bus order. Synchronous: no socket is awaited here."""
        if event.type == HISTORY_WRITTEN:
            mark = event.data.get("seq")
            if isinstance(mark, int):
                self.history.written_up_to(mark)
            return
        self.history.note_bus(event.seq)
        if event.type in AGENT_ACTIONS:
            self._agent_action(event)
            return
        if event.type == AGENT_STATUS_EVENT:
            self._agent_status(event)
            return
        if event.type == AGENT_DIAL_EVENT:
            self._dial_result(event)
            return
        stale = self._payloads.observe(event)
        # The IVR's events, most of a call's, mean nothing to the pop machine.
        if event.type not in POP_EVENT_KINDS:
            if event.type == "queue.joined":
                self._record_queue_event(event)
            if self.wallboard.handle(event):
                self._board_dirty.set()
            if stale and self.machine.has_call(event.call_id):
                self._complete_payload(event.call_id, again=True)
            return
        if event.type == "queue.left":
            self._roll_day()
        if event.type != "call.hungup":
            self._record_queue_event(event)
        elif event.call_id in self._queued:  # a hang-up is a queue event if it was queued
            self._record_queue_event(event)
            del self._queued[event.call_id]
        changes = self.machine.handle(event)
        if self.wallboard.handle(event) or changes:
            self._board_dirty.set()
        self.dispatch(changes)
        if changes and self._on_pop is not None:
            self._observe(event, changes)
        if stale and self.machine.has_call(event.call_id):
            self._complete_payload(event.call_id, again=True)
        if event.type == "call.hungup" and not self.machine.has_call(event.call_id):
            self._payloads.forget(event.call_id)

    def _share(self, type_: str, call_id: str, at: str, data: dict[str, Any]) -> None:
        """Tell the other instances what an agent did here (their hubs hold the same pops:
        a disposition or notes given on one must not be undone by the next event on
        another). This hub applied it already: its own event is skipped on the way back,
        but tells the history which bus seq its changes are (`share`)."""
        share = self.history.shared()
        with contextlib.suppress(BusClosed):
            self._bus.publish(
                CallEvent(type_, call_id, at, {**data, "origin": self.epoch, "share": share})
            )

    def _announce_written(self, seq: int) -> None:
        at = iso_utc(self._clock())
        with contextlib.suppress(BusClosed):
            self._bus.publish(
                CallEvent(HISTORY_WRITTEN, "", at, {"seq": seq, "origin": self.epoch})
            )

    def _agent_action(self, event: BusEvent) -> None:
        data = event.data
        if data.get("origin") == self.epoch:
            self.history.echoed(event.seq, data.get("share"))
            return
        if event.type == "pop.disposed":
            self.history.hurry()  # the agent's instance answers them once this is written
        agent_id = str(data.get("agent_id") or "")
        try:
            if event.type == "pop.disposed":
                self.dispatch(
                    self.machine.dispose(
                        event.call_id,
                        agent_id,
                        str(data.get("disposition") or ""),
                        str(data.get("notes") or ""),
                        event.at,
                    )
                )
                if not self.machine.has_call(event.call_id):
                    self._payloads.forget(event.call_id)
            else:
                self.dispatch(
                    self.machine.set_notes(event.call_id, agent_id, str(data.get("notes") or ""))
                )
        except PopError as exc:  # this instance's pop is already past it
            log.debug(
                "%s of call %r from another instance not applied: %s",
                event.type,
                event.call_id,
                exc,
            )

    def _agent_status(self, event: BusEvent) -> None:
        """A member paused or back, wherever that was done: every tab and widget of the
        agent shows it (`ready`, `acw` for the after-call work reason, else `break`)."""
        data = event.data
        agent = self._resolve(normalise_interface(str(data.get("interface") or "")))
        if agent is None:
            return
        self._device_in_call(agent.id, data.get("in_call") is True, event.at)
        reason = str(data.get("reason") or "")
        if not data.get("paused"):
            status = ("ready", "")
        elif reason == AFTER_CALL_WORK:
            status = ("acw", reason)
        else:
            status = ("break", reason)
        if self._status.get(agent.id) == status:
            return
        self._status[agent.id] = status
        for panel in self._panels.get(agent.id, ()):
            panel.send(panel.protocol.agent_status(*status))

    def expect_dial(self, account: Account, call: str, number: str, within_s: float) -> None:
        """The agent's click-to-dial `call` was queued by the PBX: its outcome comes as an
        `agent.dial` event. If none comes within `within_s`, every socket of the agent is
        told the outcome is unknown (through the bus: the agent may have tabs on other
        instances), rather than the panel promising a ring for ever."""
        key = (account.id, call)
        self._dials_waiting[key] = number
        while len(self._dials_waiting) > DIALS_WAITING:
            self._dials_waiting.popitem(last=False)
        self._spawn(self._dial_deadline(account, call, within_s), f"dial-{account.name}")

    async def _dial_deadline(self, account: Account, call: str, within_s: float) -> None:
        await asyncio.sleep(within_s)
        number = self._dials_waiting.pop((account.id, call), None)
        if number is None:  # its outcome came
            return
        log.warning("click-to-dial %r of %s: no outcome from the PBX in time", call, account.name)
        data = {"interface": account.interface, "number": number, "outcome": "unknown"}
        with contextlib.suppress(BusClosed):
            self._bus.publish(CallEvent(AGENT_DIAL_EVENT, call, iso_utc(self._clock()), data))

    def _dial_result(self, event: BusEvent) -> None:
        """What became of a click-to-dial: told to every socket of its agent, only theirs."""
        data = event.data
        agent = self._resolve(normalise_interface(str(data.get("interface") or "")))
        if agent is None:
            return
        self._dials_waiting.pop((agent.id, event.call_id), None)
        outcome = str(data.get("outcome") or "failed")
        number = str(data.get("number") or "")
        for panel in self._panels.get(agent.id, ()):
            panel.send(panel.protocol.dial_result(event.call_id, number, outcome))

    def _device_in_call(self, agent_id: str, in_call: bool, at: str) -> None:
        """The PBX says the agent's device is (or is no longer) on a call: the wallboard
        shows them on a call even when no pop says so (a call that popped nobody)."""
        if in_call == (agent_id in self._in_call_since):
            return
        if in_call:
            self._in_call_since[agent_id] = at
        else:
            del self._in_call_since[agent_id]
        self._board_dirty.set()

    def agent_status(self, agent_id: str) -> tuple[str, str] | None:
        """(status, reason) as the PBX last reported it; None when it has not."""
        return self._status.get(agent_id)

    def _record_queue_event(self, event: BusEvent) -> None:
        record = queue_event(event, self._resolve)
        if record is not None:
            self.history.record_queue_event(record)
            self._was_queued(event.call_id)

    def _was_queued(self, call_id: str) -> None:
        """The call was in a queue: its hang-up is a queue event too."""
        if call_id not in self._queued:
            self._queued[call_id] = None
            if len(self._queued) > QUEUED_CALLS_REMEMBERED:
                self._queued.popitem(last=False)

    def _roll_day(self) -> None:
        today = self._clock().astimezone().date()
        if today != self._count_day:
            if self._count_day is not None:
                self.wallboard.new_day()
            self._count_day = today

    def dispatch(self, changes: list[PopChange], *, record: bool = True, own: bool = False) -> None:
        """Number the changes and send each to its agent's sockets. `record`: the
        stored row changes (not for a payload, which is not stored); `own`: an action of
        an agent here, published next (`_share`), not the bus event being handled."""
        for change in changes:
            self.seq += 1
            kind = f"pop.{change.kind}"
            view = dict(change.view)
            entries = self._logs.setdefault(change.agent_id, deque())
            if len(entries) >= LOG_PER_AGENT:
                self._evicted[change.agent_id] = entries.popleft()[0]
            entries.append((self.seq, kind, view))
            panels = self._panels.get(change.agent_id)
            # encoded only for an agent with a socket here: with a shared bus every hub
            # holds every pop, and most agents are on other instances
            if panels and not (
                self.pop_on(change.agent_id) == "answer" and view["state"] in _HIDDEN_WHEN_ANSWER
            ):
                frame = encode_pop_event(kind, self.seq, view)
                for panel in panels:
                    panel.send(frame)
            if record:
                self.history.record(change, own=own)
            if change.kind == "retracted":
                withdrawn = withdrawal(change)
                if withdrawn is not None:
                    self.history.record_queue_event(withdrawn)
            if change.kind in ("offered", "accepted") and not self._payloads.is_complete(
                view["call_id"]
            ):
                self._complete_payload(view["call_id"])
        if changes:
            self._board_dirty.set()

    def _observe(self, event: BusEvent, changes: list[PopChange]) -> None:
        # Latency of an offer: from the event's own time (Asterisk's Timestamp for AMI
        # events) to the pop queued on the agent's sockets.
        latency: float | None = None
        try:
            at = datetime.fromisoformat(event.at.replace("Z", "+00:00"))
            latency = max(0.0, (self._clock() - at).total_seconds())
        except ValueError:
            pass
        assert self._on_pop is not None
        for change in changes:
            self._on_pop(change.kind, latency if change.kind == "offered" else None)

    def _shown_here(self, call_id: str) -> bool:
        """An agent with a pop of the call has a socket on this instance. Every hub
        reads every call of the bus; only those completes the payload (its CRM and
        database reads): the others would read for sockets they do not hold. An agent
        who connects later gets it completed then (`_hello`)."""
        return any(self.online(agent_id) for agent_id in self.machine.agents_of(call_id))

    def _complete_payload(self, call_id: str, *, again: bool = False) -> None:
        if not self._shown_here(call_id):
            return
        if call_id in self._completing:
            if again:  # the running completion may render the stale payload: redo after it
                self._recomplete.add(call_id)
            return
        self._completing.add(call_id)
        self._spawn(self._finish_payload(call_id), f"pop-complete-{call_id}")

    async def _finish_payload(self, call_id: str) -> None:
        try:
            payload = await self._payloads.complete(call_id)
            self.dispatch(self.machine.set_payload(call_id, payload), record=False)
        finally:
            self._completing.discard(call_id)
            if call_id in self._recomplete:
                self._recomplete.discard(call_id)
                if self.machine.has_call(call_id):
                    self._complete_payload(call_id)

    def set_payload(self, call_id: str, payload: Mapping[str, Any]) -> None:
        self.dispatch(self.machine.set_payload(call_id, payload), record=False)

    # --- agent requests ---------------------------------------------------------------

    def dispose(self, call_id: str, account: Account, disposition: str, notes: str) -> None:
        """Raises `PopError` when the call is not this agent's to close."""
        at = iso_utc(self._clock())
        self.dispatch(self.machine.dispose(call_id, account.id, disposition, notes, at), own=True)
        if not self.machine.has_call(call_id):
            self._payloads.forget(call_id)
        self._share(
            "pop.disposed",
            call_id,
            at,
            {"agent_id": account.id, "disposition": disposition, "notes": notes},
        )

    async def durable(self, within_s: float = 2.0) -> bool:
        """Wait until every pop change made so far is written to `pops` (the history
        writer stops lingering for it), so what an agent is told was saved survives a
        SIGKILL of this instance. False when the database did not take it in time (it
        is still written when the database answers; logged)."""
        try:
            async with asyncio.timeout(within_s):
                await self.history.drained()
        except TimeoutError:
            log.warning("pop changes not yet written after %.1f s; acknowledged anyway", within_s)
            return False
        return True

    def owns(self, call_id: str, account: Account) -> bool:
        return self.machine.pop(call_id, account.id) is not None

    def set_pop_on(self, agent_id: str, pop_on: PopOn) -> None:
        if self._pop_on.get(agent_id) == pop_on:
            return
        self._pop_on[agent_id] = pop_on
        for panel in self._panels.get(agent_id, ()):
            panel.send(panel.protocol.prefs(pop_on))
            self._resync(panel)

    # --- sockets ----------------------------------------------------------------------

    async def serve(
        self,
        ws: web.WebSocketResponse,
        account: Account,
        *,
        session: SessionClaims | EmbedClaims,
        embed_origin: str | None = None,
    ) -> None:
        """Run one socket until it closes (or its `session` ends: `end_session`).
        The caller authenticated `account` with that session."""
        panel = Panel(
            ws,
            account,
            PanelProtocol(now=self._monotonic(), heartbeat_s=self._heartbeat_s),
            session,
            embed_origin=embed_origin,
        )
        self._sockets.add(panel)
        writer = asyncio.create_task(panel.write(), name=f"ws-writer-{account.name}")
        beat = asyncio.create_task(
            panel.heartbeat(self._monotonic, self._embed_token), name=f"ws-heartbeat-{account.name}"
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        raise RemoteProtocolError("frames are JSON text", code=1003)
                    continue
                self._on_message(panel, panel.protocol.receive(message.data, now=self._monotonic()))
        except RemoteProtocolError as exc:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(error_frame(str(exc)))
            await ws.close(code=exc.code, message=str(exc)[:120].encode())
        finally:
            self._sockets.discard(panel)
            self._unregister(panel)
            panel.protocol.close()
            for task in (beat, writer):
                task.cancel()
            await asyncio.gather(beat, writer, return_exceptions=True)

    def _on_message(self, panel: Panel, message: object) -> None:
        if isinstance(message, Hello):
            self._hello(panel, message)
        elif isinstance(message, Ping):
            panel.send(panel.protocol.pong())
        elif isinstance(message, Focus):
            self._give_alert(panel)
        elif isinstance(message, Prefs):
            self.set_pop_on(panel.account.id, message.pop_on)
        elif isinstance(message, Control):
            self._control(panel, message)
        elif isinstance(message, Notes):
            try:
                changes = self.machine.set_notes(message.call_id, panel.account.id, message.notes)
            except PopError as exc:
                log.debug("notes from %s ignored: %s", panel.account.name, exc)
                return
            self.dispatch(changes, own=True)
            if changes:
                self._share(
                    "pop.notes",
                    message.call_id,
                    iso_utc(self._clock()),
                    {"agent_id": panel.account.id, "notes": message.notes},
                )

    def _control(self, panel: Panel, control: Control) -> None:
        if panel.view != "panel":
            raise RemoteProtocolError("call controls are for an agent's panel or widget")
        if self._controls is None:
            refusal = {"ok": False, "status": 503, "error": "call controls are not set up here"}
            panel.send(panel.protocol.control_result(control.id, refusal))
            return
        if panel.controls_in_flight >= CONTROLS_IN_FLIGHT:
            refusal = {
                "ok": False,
                "status": 429,
                "error": f"{CONTROLS_IN_FLIGHT} controls are still waiting for the PBX; "
                "wait for their answers",
            }
            panel.send(panel.protocol.control_result(control.id, refusal))
            return
        panel.controls_in_flight += 1
        self._spawn(self._run_control(panel, control), f"control-{panel.account.name}")

    async def _run_control(self, panel: Panel, control: Control) -> None:
        assert self._controls is not None
        try:
            answer = await self._controls.run(panel.account, control.action, control.args)
        except Exception:
            log.exception("control %r of %s failed", control.action, panel.account.name)
            answer = {"ok": False, "status": 500, "error": "the control failed on the server"}
        finally:
            panel.controls_in_flight -= 1
        if panel.protocol.state is ProtocolState.OPEN:  # the socket may have gone meanwhile
            panel.send(panel.protocol.control_result(control.id, answer))

    def _hello(self, panel: Panel, hello: Hello) -> None:
        account = panel.account
        if hello.view == "wallboard":
            if account.role not in ("supervisor", "admin") or panel.embed_origin is not None:
                raise RemoteProtocolError("the wallboard is for supervisors")
            panel.view = "wallboard"
            self._boards.append(panel)
            panel.send(panel.protocol.wallboard(self.board()))
            if self.bus_down:
                panel.send(panel.protocol.bus_state(False))
            return
        if hello.pop_on is not None and account.id not in self._pop_on:
            self._pop_on[account.id] = hello.pop_on  # the browser remembers it across restarts
        panel.send(
            panel.protocol.welcome(
                epoch=self.epoch,
                seq=self.seq,
                agent=account.public(),
                pop_on=self.pop_on(account.id),
            )
        )
        if panel.embed_origin is not None and self._embed_token is not None:
            panel.send(
                panel.protocol.token(self._embed_token(account, panel.embed_origin, panel.session))
            )
        if panel.embed_origin is not None and self._controls is not None:
            agents = [a.name for a in self._accounts.values()]
            panel.send(panel.protocol.controls(self._controls.offer(account, agents)))
        status = self._status.get(account.id)
        if status is not None:
            panel.send(panel.protocol.agent_status(*status))
        if self.bus_down:
            panel.send(panel.protocol.bus_state(False))
        entries = self._logs.get(account.id, deque())
        can_replay = (
            hello.since > 0
            and hello.epoch == self.epoch
            and hello.since <= self.seq
            and hello.since >= self._evicted.get(account.id, 0)
        )
        if can_replay:
            answer = self.pop_on(account.id) == "answer"
            for seq, kind, view in entries:
                if seq > hello.since and not (answer and view["state"] in _HIDDEN_WHEN_ANSWER):
                    panel.send(panel.protocol.pop_event(kind, seq=seq, pop=view))
        else:
            self._resync(panel)
        was_online = self.online(account.id)
        self._panels.setdefault(account.id, []).append(panel)
        for pop in self.machine.pops_of(account.id):  # payloads not built while away
            shown = self.machine.view(pop)["payload"]
            if not self._payloads.is_complete(pop.call_id) or shown.get("status") == "loading":
                # the lookup may have finished while no agent of the call was here: the
                # pop still shows "loading" and only a completion sends `pop.updated`
                self._complete_payload(pop.call_id)
        if account.id not in self._alerter and panel.embed_origin is None:
            self._give_alert(panel)
        else:
            panel.send(panel.protocol.alert(False))
        if not was_online:
            self._board_dirty.set()

    def _resync(self, panel: Panel) -> None:
        """`reset`, then the agent's current pops as they stand."""
        panel.send(panel.protocol.reset(seq=self.seq))
        answer = self.pop_on(panel.account.id) == "answer"
        for pop in self.machine.pops_of(panel.account.id):
            view = self.machine.view(pop)
            if answer and view["state"] in _HIDDEN_WHEN_ANSWER:
                continue
            panel.send(panel.protocol.pop_event(f"pop.{view['state']}", seq=self.seq, pop=view))

    def _give_alert(self, panel: Panel) -> None:
        # a widget on a CRM page does not ring: it must not take the alert from a tab
        if panel.view != "panel" or panel.protocol.hello is None or panel.embed_origin is not None:
            return
        agent_id = panel.account.id
        current = self._alerter.get(agent_id)
        if current is panel:
            return
        if current is not None:
            current.send(current.protocol.alert(False))
        self._alerter[agent_id] = panel
        panel.send(panel.protocol.alert(True))

    def _unregister(self, panel: Panel) -> None:
        if panel.view == "wallboard":
            with contextlib.suppress(ValueError):
                self._boards.remove(panel)
            return
        agent_id = panel.account.id
        panels = self._panels.get(agent_id, [])
        if panel in panels:
            panels.remove(panel)
        if not panels:
            self._panels.pop(agent_id, None)
            self._board_dirty.set()
        if self._alerter.get(agent_id) is panel:
            del self._alerter[agent_id]
            tabs = [p for p in panels if p.embed_origin is None]
            if tabs:
                self._give_alert(tabs[-1])

    # --- sessions ---------------------------------------------------------------------

    def end_session(self, nonce: str) -> int:
        """Close every socket of a logged-out session (tabs, widgets, wallboards);
        how many there were."""
        ended = [p for p in self._sockets if p.session_nonce == nonce and not p.ended]
        for panel in ended:
            panel.end()
        if ended:
            log.info(
                "session of %s logged out: %d socket(s) closed", ended[0].account.name, len(ended)
            )
        return len(ended)

    async def run_revocations(self, every_s: float = 2.0) -> None:
        """Close the sockets of sessions logged out on other instances sharing the
        database (a logout here closes them at once). Says once when the database
        stops answering and once when it answers again."""
        since = self._clock()
        failing = False
        while True:
            await asyncio.sleep(every_s)
            try:
                revoked = await self._store.revoked_since(since)
            except Exception as exc:
                if not failing:
                    log.warning(
                        "reading logouts failed (%s); sockets of sessions logged out "
                        "elsewhere stay open until it answers",
                        type(exc).__name__,
                    )
                    failing = True
                continue
            if failing:
                log.info("reading logouts works again")
                failing = False
            for nonce, at in revoked:
                self.end_session(nonce)
                since = max(since, at)

    # --- wallboard --------------------------------------------------------------------

    def board(self) -> dict[str, Any]:
        lines = [AgentLine(a.id, a.name, a.interface, a.role) for a in self._accounts.values()]
        return self.wallboard.snapshot(
            now=self._clock().isoformat(timespec="milliseconds"),
            agents=sorted(lines, key=lambda a: a.name.casefold()),
            pops_of=self.machine.pops_of,
            online=self.online,
            in_call_since=self._in_call_since.get,
            outlook=self.outlook.current if self.outlook is not None else None,
        )

    async def run_outlook(self, every_s: float) -> None:
        """Read the estimated waits, callbacks pending and flood switch every `every_s`
        (`screenpop.outlook`), and send the board when they changed."""
        if self.outlook is None:
            return
        while True:
            if await self.outlook.refresh():
                self._board_dirty.set()
            await asyncio.sleep(every_s)

    async def run_wallboard(self) -> None:
        """Send the board to supervisors when it changed, at most a few times a second."""
        while True:
            await self._board_dirty.wait()
            self._board_dirty.clear()
            if self._boards:
                board = self.board()
                for panel in list(self._boards):
                    panel.send(panel.protocol.wallboard(board))
            await asyncio.sleep(WALLBOARD_MIN_INTERVAL_S)

    async def run_accounts(self, every_s: float = 30.0) -> None:
        """Pick up agents added or changed while serving."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh_accounts()
            except Exception:
                log.exception("reading the agents table failed; keeping the last list")

    # --- lifecycle --------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._started is not None:  # started, never run
            stack, self._started = self._started[0], None
            await stack.aclose()

    def sockets(self) -> list[web.WebSocketResponse]:
        return [p.ws for panels in self._panels.values() for p in panels] + [
            p.ws for p in self._boards
        ]
