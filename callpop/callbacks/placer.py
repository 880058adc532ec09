"""Placing stored callbacks when their turn comes (docs/admin.md, "Callbacks").

Runs on the instance that holds the AMI lease, as an observer of its listener: it folds
the queue members' state (`callpop.ami.queue_state.QueueStates`) and watches the AMI
events of its own attempts. A callback's turn has come when an agent of its queue is
available and every callback requested before it in that queue was served (connected,
given up, or waiting for a retry: a caller who did not answer had their turn).

One attempt:

1. claim the row (`pending -> placing`, a guarded UPDATE: one instance wins);
2. publish `callback.placing` (what the pop tells) and `agent.ringing` for the agent;
3. `Originate` to the agent's interface with `ChannelId` = the attempt's channel id, its
   leg running the customer's number in the callback context, which dials them;
4. `OriginateResponse` Failure: the agent did not take it; the attempt is given back
   and that agent rests `agent_retry_s`. Success: the agent is on (`agent.connected`);
5. `DialEnd` of the agent's leg: `ANSWER` connects the row; anything else is the
   customer not answering: a retry after `retry_s`, or `failed` after `attempts`;
6. `Hangup` of the agent's leg ends the pop (`agent.completed`, `call.hungup`).

After a restart or a takeover, rows left `placing` are looked up among Asterisk's live
channels (`CoreShowChannels`): a live one is followed to its end, a bridged one is
connected; one Asterisk never confirmed (the Originate was not answered) is given back;
one that ended while nobody watched is marked `failed` with result `unknown`: calling
the customer again could be the second call of a callback that already took place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callpop.ami.client import AMIClient, AMIError
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, ControlRefused, OutcomeUnknown
from callpop.ami.queue_state import READS as QUEUE_READS
from callpop.ami.queue_state import QueueStates
from callpop.callbacks.store import Callback, CallbackStore
from callpop.config import CallbackSettings
from ivr.call import iso_utc
from ivr.ports import CallEvent

__all__ = ["READS", "CallbackPlacer", "attempt_channel_id"]

log = logging.getLogger("callpop.callbacks")

Publish = Callable[[CallEvent], None]

# result values a row keeps while `placing`: before Asterisk confirmed the Originate,
# and after (the agent's phone rings)
_NOT_CONFIRMED = "placing"
_CONFIRMED = "ringing-agent"
# OriginateResponse `Reason` (the last control frame seen): 1 hung up, 3 ring timeout,
# 5 busy, 8 congestion; 0 failed outright
_REASONS = {"0": "failed", "1": "hung-up", "3": "no-answer", "5": "busy", "8": "congestion"}


_CHANNEL_PREFIX = "callback-"
# What `CallbackPlacer.feed` reads: its attempts' outcomes and the queues' state (where a
# callback may ring).
READS = QUEUE_READS | {"OriginateResponse", "DialEnd", "Hangup"}


def attempt_channel_id(callback_id: int, attempt: int) -> str:
    """The agent leg's Uniqueid (`Originate` `ChannelId`) and the pop's call id."""
    return f"{_CHANNEL_PREFIX}{callback_id}-{attempt}"


@dataclass
class _Attempt:
    callback_id: int
    channel_id: str
    interface: str
    queue: str
    agent_up: bool = False
    dial_ended: bool = False


@dataclass
class _Outcome:
    kind: str  # originate, dial-end, hangup
    channel_id: str
    status: str = ""


@dataclass
class _Held:
    """What this term knows; a new term (lease regained) starts from scratch."""

    queues: QueueStates = field(default_factory=QueueStates)
    attempts: dict[str, _Attempt] = field(default_factory=dict)
    outcomes: list[_Outcome] = field(default_factory=list)
    resting: dict[str, float] = field(default_factory=dict)  # interface -> until
    recovered: bool = False
    # attempts' events read before the recovery knew their rows: fed again after it
    early: list[Message] = field(default_factory=list)


class CallbackPlacer:
    """`feed` is the AMI listener's observer; `run()` places while this instance holds
    the lease (`client()` gives its logged-in AMI client, None otherwise)."""

    def __init__(
        self,
        store: CallbackStore,
        *,
        client: Callable[[], AMIClient | None],
        publish: Publish,
        settings: CallbackSettings,
        instance: str,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self._controls = AmiControls(client)
        self._publish = publish
        self._settings = settings
        self._instance = instance
        self._interval_s = interval_s
        self._clock = clock
        self._held = _Held()
        self._wake = asyncio.Event()
        self._failing = False
        self.placed = 0
        self.steps = 0  # loop turns, for tests waiting on "it had every chance"

    # --- AMI in ---------------------------------------------------------------------

    def feed(self, message: Message) -> None:
        held = self._held
        held.queues.feed(message, self._clock())
        kind = message.event
        if (
            not held.recovered
            and kind in ("OriginateResponse", "DialEnd", "Hangup")
            and (message.get("Uniqueid") or "").startswith(_CHANNEL_PREFIX)
        ):
            held.early.append(message)
            return
        if kind == "OriginateResponse":
            channel_id = self._originate_attempt(message)
            if channel_id is None:
                return
            answered = message.get("Response") == "Success"
            reason = _REASONS.get(message.get("Reason") or "", "failed")
            held.outcomes.append(_Outcome("originate", channel_id, "up" if answered else reason))
        elif kind in ("DialEnd", "Hangup"):
            channel_id = message.get("Uniqueid") or ""
            if channel_id not in held.attempts:
                return
            held.outcomes.append(
                _Outcome(kind.lower(), channel_id, message.get("DialStatus") or "")
            )
        elif kind not in ("QueueMemberStatus", "QueueMember", "QueueMemberPause"):
            return
        self._wake.set()

    def _originate_attempt(self, message: Message) -> str | None:
        attempts = self._held.attempts
        uid = message.get("Uniqueid") or ""
        if uid in attempts:
            return uid
        # a failed Originate may name no channel: match the interface and number asked
        for attempt in attempts.values():
            if message.get("Channel") == attempt.interface and not attempt.agent_up:
                return attempt.channel_id
        return None

    def reset(self) -> None:
        """The lease was lost: another instance follows the attempts from the rows."""
        self._held = _Held()

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self.step()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()

    async def step(self) -> None:
        self.steps += 1
        client = self._client()
        if client is None or not client.connected:
            return
        held = self._held
        try:
            await self._settle(held)
            if not held.recovered:
                await self._recover(held, client)
            await self._place(held)
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            if not self._failing:
                log.warning("callbacks: %s; trying again", str(exc).splitlines()[0] or repr(exc))
            self._failing = True
            return
        if self._failing:
            log.info("callbacks: placing again")
        self._failing = False

    # --- outcomes -------------------------------------------------------------------

    async def _settle(self, held: _Held) -> None:
        while held.outcomes:
            outcome = held.outcomes.pop(0)
            attempt = held.attempts.get(outcome.channel_id)
            if attempt is None:
                continue
            if outcome.kind == "originate":
                await self._originated(held, attempt, outcome.status)
            elif outcome.kind == "dialend":
                await self._dial_ended(attempt, outcome.status)
            else:
                await self._hung_up(held, attempt)

    async def _originated(self, held: _Held, attempt: _Attempt, status: str) -> None:
        if status == "up":
            attempt.agent_up = True
            self._event("agent.connected", attempt, {"hold_s": None})
            return
        # the agent did not take it: not the customer's fault, the attempt is given back
        await self._store.not_answered(
            attempt.callback_id,
            channel_id=attempt.channel_id,
            result=f"agent-{status}",
            max_attempts=self._settings.attempts,
            retry_after=timedelta(0),
            counts=False,
        )
        held.resting[attempt.interface] = self._clock() + self._settings.agent_retry_s
        self._event("agent.ring_no_answer", attempt, {"ring_ms": None})
        self._event("call.hungup", attempt, {})
        del held.attempts[attempt.channel_id]
        log.info(
            "callback %d: agent %s did not take it (%s)",
            attempt.callback_id, attempt.interface, status,
        )  # fmt: skip

    async def _dial_ended(self, attempt: _Attempt, status: str) -> None:
        attempt.dial_ended = True
        if status == "ANSWER":
            await self._store.connected(attempt.callback_id, channel_id=attempt.channel_id)
            log.info("callback %d connected", attempt.callback_id)
            return
        # CANCEL: the agent hung up while the customer's phone rang
        counts = status != "CANCEL"
        state = await self._store.not_answered(
            attempt.callback_id,
            channel_id=attempt.channel_id,
            result=status.lower() or "no-answer",
            max_attempts=self._settings.attempts,
            retry_after=timedelta(seconds=self._settings.retry_s),
            counts=counts,
        )
        log.info("callback %d: the customer did not answer (%s): %s",
                 attempt.callback_id, status, state)  # fmt: skip

    async def _hung_up(self, held: _Held, attempt: _Attempt) -> None:
        if not attempt.dial_ended:
            # the agent's leg ended before the customer's dial did (or ever began)
            await self._store.not_answered(
                attempt.callback_id,
                channel_id=attempt.channel_id,
                result="agent-hung-up",
                max_attempts=self._settings.attempts,
                retry_after=timedelta(0),
                counts=False,
            )
        if attempt.agent_up:
            self._event("agent.completed", attempt, {"talk_s": None})
        else:
            self._event("agent.ring_no_answer", attempt, {"ring_ms": None})
        self._event("call.hungup", attempt, {})
        held.attempts.pop(attempt.channel_id, None)

    # --- after a restart --------------------------------------------------------------

    async def _recover(self, held: _Held, client: AMIClient) -> None:
        stranded = [
            row
            for row in await self._store.listing(["placing"])
            if row.channel_id not in held.attempts
        ]
        if stranded:
            try:
                answer = await client.action("CoreShowChannels", idempotent=True, listing=True)
            except AMIError as exc:
                log.warning("callbacks: cannot list Asterisk's channels (%s); later", exc)
                return
            live = {
                m.get("Uniqueid") or "": m.get("BridgeId") or ""
                for m in answer
                if m.event == "CoreShowChannel"
            }
            # a call whose end was read during the login is followed to that end
            for message in held.early:
                live.setdefault(message.get("Uniqueid") or "", "")
            for row in stranded:
                await self._recover_one(held, row, live)
        held.recovered = True
        early, held.early = held.early, []
        for message in early:
            self.feed(message)
        await self._settle(held)

    async def _recover_one(self, held: _Held, row: Callback, live: dict[str, str]) -> None:
        attempt = _Attempt(row.id, row.channel_id, row.interface, row.queue)
        if row.channel_id in live:
            held.attempts[row.channel_id] = attempt
            attempt.agent_up = row.result != _NOT_CONFIRMED
            if live[row.channel_id]:  # bridged: agent and customer talk
                attempt.dial_ended = True
                await self._store.connected(row.id, channel_id=row.channel_id)
            log.info("callback %d: following its call %s after a restart", row.id, row.channel_id)
            return
        if row.result == _NOT_CONFIRMED:
            # Asterisk never confirmed the Originate and has no such channel: not placed
            await self._store.not_answered(
                row.id, channel_id=row.channel_id, result="not-sent", max_attempts=1,
                retry_after=timedelta(0), counts=False,
            )  # fmt: skip
            log.info("callback %d: its attempt never reached Asterisk; pending again", row.id)
            return
        await self._store.give_up(row.id, channel_id=row.channel_id, result="unknown")
        log.warning(
            "callback %d: its call %s ended while no instance watched; not placed again "
            "(it may have taken place): see `callpop callbacks`",
            row.id, row.channel_id,
        )  # fmt: skip

    # --- placing --------------------------------------------------------------------

    async def _place(self, held: _Held) -> None:
        now = self._clock()
        held.resting = {i: t for i, t in held.resting.items() if t > now}
        busy = {a.interface for a in held.attempts.values()}
        for queue in await self._store.queues_waiting():
            free = [
                i
                for i in held.queues.available_members(queue)
                if i not in busy and i not in held.resting
            ]
            if not free:
                continue
            for row, interface in zip(
                await self._store.due(queue, limit=len(free)), free, strict=False
            ):
                if await self._attempt(held, row, interface):
                    busy.add(interface)

    async def _attempt(self, held: _Held, row: Callback, interface: str) -> bool:
        channel_id = attempt_channel_id(row.id, row.attempts + 1)
        claimed = await self._store.claim(
            row.id, instance=self._instance, interface=interface, channel_id=channel_id
        )
        if not claimed:
            return False  # another instance's, or cancelled meanwhile
        attempt = _Attempt(row.id, channel_id, interface, row.queue)
        held.attempts[channel_id] = attempt
        self._publish(
            CallEvent(
                "callback.placing",
                channel_id,
                self._at(),
                {
                    "callback_id": row.id,
                    "asked_on": row.call_id,
                    "queue": row.queue,
                    "number": row.number,
                    "caller_name": row.caller_name,
                    "requested_at": iso_utc(row.requested_at),
                    "waited_s": row.waited_s,
                    "attempt": row.attempts + 1,
                    "interface": interface,
                },
            )
        )
        self._event("agent.ringing", attempt, {})
        try:
            await self._controls.place_callback(
                interface=interface,
                number=row.number,
                context=self._settings.context,
                channel_id=channel_id,
                ring_s=self._settings.agent_ring_s,
                variables=(("CALLPOP_CALL_ID", channel_id), ("CALLPOP_CALLBACK", str(row.id))),
            )
        except OutcomeUnknown as exc:
            # it may ring: the row stays `placing`, the next term's recovery decides
            log.warning("callback %d: %s", row.id, exc)
            return True
        except ControlRefused as exc:
            log.warning("callback %d: %s", row.id, exc)
            held.attempts.pop(channel_id, None)
            held.resting[interface] = self._clock() + self._settings.agent_retry_s
            await self._store.not_answered(
                row.id, channel_id=channel_id, result="refused", max_attempts=1,
                retry_after=timedelta(0), counts=False,
            )  # fmt: skip
            self._event("agent.ring_no_answer", attempt, {"ring_ms": None})
            self._event("call.hungup", attempt, {})
            return False
        await self._store.note(row.id, channel_id=channel_id, result=_CONFIRMED)
        self.placed += 1
        log.info(
            "callback %d (queue %s, attempt %d) rings %s",
            row.id, row.queue, row.attempts + 1, interface,
        )  # fmt: skip
        return True

    # --- events ---------------------------------------------------------------------

    def _at(self) -> str:
        return iso_utc(datetime.fromtimestamp(self._clock(), UTC))

    def _event(self, type_: str, attempt: _Attempt, extra: dict[str, Any]) -> None:
        data: dict[str, Any] = {}
        if type_ != "call.hungup":
            data = {
                "queue": attempt.queue,
                "interface": attempt.interface,
                "member_name": "",
                **extra,
            }
        self._publish(CallEvent(type_, attempt.channel_id, self._at(), data))
