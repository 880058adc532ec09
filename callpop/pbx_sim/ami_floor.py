"""A call-centre floor played on the AMI simulator: one Asterisk queue whose members
answer by themselves, the callers the IVR sent there, and the callbacks callpop places.

For the flood test and the flood benchmark, where hundreds of callers come out of the IVR
and nobody clicks an agent's phone. `Floor` plugs into `AMIServer(answers=[floor])` and
plays, in the formats of `callpop.pbx_sim.ami_events` (byte-faithful to Asterisk 22):

- a caller the dialplan queued (`join`): `QueueCallerJoin`; the first free member is rung
  (`AgentCalled`, member `Status` 6), answers after `ring_s` (`AgentConnect`, `Status` 2),
  talks `talk_s()` seconds, and hangs up (`AgentComplete` with the real `TalkTime`, then
  `Status` 1): callers are served first come, first served, one member one call, as
  app_queue with `ringinuse = no`; a caller still waiting after their patience abandons
  (`QueueCallerAbandon`, `QueueCallerLeave`, `Hangup`);
- a callback's `Originate` (`callpop.pbx_sim.ami_originate`): a free member answers after
  `ring_s`, the customer after `ring_s` more, they talk `callback_talk_s()` and both legs
  hang up; a member already on a call is busy (`OriginateResponse` Failure, `Reason` 5),
  as a device with one line is;
- the state queries a (re)connecting listener sends: `QueueStatus` from the live calls
  (`QueueBoard`, with the queue's `TalkTime` average as `QueueParams` reports it) and
  `CoreShowChannels` listing the queue calls' and the callbacks' channels together.

`talk_s` and `callback_talk_s` can be changed while it runs (a benchmark drains its
backlog faster once its flood is over); `end_calls()` hangs up every conversation now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from callpop.ami.codec import Decoder, Message, encode_message
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec

__all__ = ["Floor", "FloorCall", "merge_lists"]

_CALLBACK_PREFIX = "callback-"


@dataclass
class FloorCall:
    """One caller in the queue and how their stay ended."""

    call: QueueCall
    joined_at: float
    patience_s: float
    ended: str = ""  # "", talked, abandoned
    agent: str = ""


def merge_lists(answers: Sequence[bytes]) -> bytes:
    """Several answers to one list action (`CoreShowChannels`) as one: the first answer's
    response, every answer's list items in order, one completion counting them all."""
    first: Message | None = None
    items: list[Message] = []
    complete: Message | None = None
    for wire in answers:
        decoder = Decoder(expect_banner=False)
        decoder.receive_data(wire)
        while isinstance(message := decoder.next_event(), Message):
            if message.event is None:
                first = first or message
            elif (message.get("EventList") or "").lower() == "complete":
                complete = complete or message
            else:
                items.append(message)
    assert first is not None and complete is not None, "list answers with their framing"
    counted = [(k, str(len(items)) if k.lower() == "listitems" else v) for k, v in complete.headers]
    return b"".join(encode_message(m.headers) for m in (first, *items)) + encode_message(counted)


class Floor:
    """The floor; `async with Floor(...)` cancels its timers at the end."""

    def __init__(
        self,
        queue: str,
        members: Sequence[QueueMemberSpec],
        *,
        talk_s: Callable[[], float],
        callback_talk_s: Callable[[], float],
        talk_time_s: int = 0,
        ring_s: float = 0.2,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.queue = queue
        self.members = [m for m in members if m.queue == queue]
        self.talk_s = talk_s
        self.callback_talk_s = callback_talk_s
        self.ring_s = ring_s
        self.clock = clock
        self.ids = ids or Ids()
        self.writer = Writer(clock)
        self.board = QueueBoard(self.members, clock=clock, talk_time_s={queue: talk_time_s})
        self.originations = Originations(self.members, ids=self.ids, writer=self.writer)
        self.ami: AMIServer | None = None
        self.waiting: deque[FloorCall] = deque()
        self.calls: list[FloorCall] = []
        self.busy: dict[str, str] = {}  # interface -> what it is on (a call id, a callback)
        self.refused: Counter[str] = Counter()  # callback id -> Originates refused (busy)
        self.dialled_at: dict[str, float] = {}  # attempt channel id -> customer dialled
        self._tasks: set[asyncio.Task[None]] = set()
        self._ending: dict[str, asyncio.Event] = {}  # interface -> hang up now

    # --- wiring -------------------------------------------------------------------------

    def attach(self, ami: AMIServer) -> None:
        """Answer `ami`'s state queries and Originates, and emit to its sessions."""
        self.ami = ami
        ami.answers.insert(0, self)

    async def __aenter__(self) -> Floor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _emit(self, events: list[bytes]) -> None:
        if self.ami is not None:
            self.ami.emit(events)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- what the floor tells --------------------------------------------------------

    def callbacks_placed(self) -> Counter[str]:
        """Callback id -> Originates whose agent answered (the customer was dialled)."""
        answered: Counter[str] = Counter()
        for origination in self.originations.placed:
            if origination.customer is not None:
                answered[_callback_of(origination.channel_id)] += 1
        return answered

    @property
    def idle(self) -> bool:
        """Nobody waits, rings or talks, and no callback is up."""
        return not self.waiting and not self.busy

    # --- callers ------------------------------------------------------------------------

    def join(self, call_id: str, caller_num: str, *, patience_s: float) -> FloorCall:
        """The dialplan's `Queue()` for the call `call_id` (its first leg's uniqueid)."""
        caller = Snapshot(
            channel=f"PJSIP/trunk-{self.ids.suffix()}",
            uniqueid=call_id,
            linkedid=call_id,
            context="callpop-route",
            exten="queue",
            priority=3,
            caller_num=caller_num,
            caller_name="<unknown>",
            variables=(("CALLPOP_CALL_ID", call_id),),
        )
        call = QueueCall(caller, self.queue, "", "", self.ids, self.writer)
        entry = FloorCall(call, self.clock(), patience_s)
        self.calls.append(entry)
        self.board.add(call)
        self.waiting.append(entry)
        self._emit(call.joined(len(self.waiting), len(self.waiting)))
        self._spawn(self._patience(entry))
        self._dispatch()
        return entry

    async def _patience(self, entry: FloorCall) -> None:
        await asyncio.sleep(entry.patience_s)
        if entry in self.waiting:
            self.waiting.remove(entry)
            hold = int(self.clock() - entry.joined_at)
            self._emit(entry.call.abandoned(hold, caller_hung_up=True))
            self._end(entry, "abandoned")

    def _end(self, entry: FloorCall, how: str) -> None:
        entry.ended = how
        self.board.remove(entry.call)

    def _free(self) -> list[QueueMemberSpec]:
        return [m for m in self.members if m.location not in self.busy]

    def _dispatch(self) -> None:
        for member in self._free():
            if not self.waiting:
                return
            entry = self.waiting.popleft()
            self.busy[member.location] = entry.call.call_id
            self._spawn(self._serve(entry, member))

    async def _serve(self, entry: FloorCall, member: QueueMemberSpec) -> None:
        call = entry.call
        call.interface, call.member_name = member.location, member.name
        rung = self.clock()
        self._emit([*call.agent_called(), *self.originations.member_status(member.location, "6")])
        await asyncio.sleep(self.ring_s)
        hold = int(self.clock() - entry.joined_at)
        answered = call.answered(hold_s=hold, ring_s=int(self.clock() - rung))
        self._emit([*answered, *self.originations.member_status(member.location, "2")])
        entry.agent = member.name
        talked_from = self.clock()
        await self._talk(member.location, self.talk_s())
        talk = int(self.clock() - talked_from)
        self._emit(
            [
                *call.completed(hold_s=hold, talk_s=talk, reason="agent"),
                *self.originations.member_status(member.location, "1"),
            ]
        )
        self._end(entry, "talked")
        del self.busy[member.location]
        self._dispatch()

    async def _talk(self, interface: str, seconds: float) -> None:
        ending = self._ending[interface] = asyncio.Event()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, seconds)):
                    await ending.wait()
        finally:
            self._ending.pop(interface, None)

    def end_calls(self) -> None:
        """Every member on a conversation hangs up now."""
        for ending in list(self._ending.values()):
            ending.set()

    # --- callbacks ----------------------------------------------------------------------

    def answer(self, action: Message) -> bytes | None:
        name = (action.action or "").lower()
        if name == "queuestatus":
            wire = self.board.answer(action)
            return None if wire is None else self._with_callbacks(wire)
        if name == "coreshowchannels":
            parts = [self.board.answer(action), self.originations.answer(action)]
            return merge_lists([p for p in parts if p is not None])
        if name == "originate":
            return self._originate(action)
        return None

    def _with_callbacks(self, wire: bytes) -> bytes:
        """The board knows the queue's calls; a member on a callback is in use too."""
        on_callback = {i for i, what in self.busy.items() if what.startswith(_CALLBACK_PREFIX)}
        if not on_callback:
            return wire
        decoder = Decoder(expect_banner=False)
        decoder.receive_data(wire)
        out = []
        while isinstance(message := decoder.next_event(), Message):
            headers = message.headers
            if message.event == "QueueMember" and message.get("Location") in on_callback:
                changed = {"status": "2", "incall": "1"}
                headers = tuple((k, changed.get(k.lower(), v)) for k, v in headers)
            out.append(encode_message(headers))
        return b"".join(out)

    def _originate(self, action: Message) -> bytes | None:
        queued = self.originations.answer(action)
        interface = action.get("Channel") or ""
        channel_id = action.get("ChannelId") or ""
        if interface not in {m.location for m in self.members} or interface in self.busy:
            # one line per phone: a member on a call is busy for an Originate too
            self.refused[_callback_of(channel_id)] += 1
            self._spawn(self._refuse(channel_id))
            return queued
        self.busy[interface] = channel_id
        self._spawn(self._call_back(channel_id, interface))
        return queued

    async def _refuse(self, channel_id: str) -> None:
        await asyncio.sleep(0)  # after the action's response, as Asterisk
        self._emit(self.originations.agent_does_not_answer(channel_id, reason="5"))

    async def _call_back(self, channel_id: str, interface: str) -> None:
        await asyncio.sleep(self.ring_s)
        self._emit(self.originations.agent_answers(channel_id))
        self.dialled_at[channel_id] = self.clock()
        await asyncio.sleep(self.ring_s)
        self._emit(self.originations.customer_answers(channel_id))
        await self._talk(interface, self.callback_talk_s())
        self._emit(self.originations.hang_up(channel_id))
        del self.busy[interface]
        self._dispatch()


def _callback_of(channel_id: str) -> str:
    """`callback-17-2` (callpop.callbacks.placer.attempt_channel_id) -> `17`."""
    if not channel_id.startswith(_CALLBACK_PREFIX):
        return channel_id
    return channel_id.removeprefix(_CALLBACK_PREFIX).rsplit("-", 1)[0]
