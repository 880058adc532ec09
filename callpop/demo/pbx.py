"""The virtual PBX of `callpop demo`: test-phone calls in, agent phones out, AMI beside.

A call from the test phone goes where a call into a real Asterisk would:

    extension 7000   AGI(agi://HOST:PORT/ivr): the real FastAGI port of the running
                     callpop, this side played by `LiveCaller` (the simulator's Asterisk,
                     the keys coming from the browser as the prompts play)
    callpop-route    by the CALLPOP_OUTCOME the IVR left: `queue` -> Queue() played on
                     the AMI simulator (`QueueVisit`), the operator queue when the outcome
                     is empty or `error` (callpop unreachable: AGISTATUS=FAILURE), a
                     voicemail, a Dial to an agent's phone, or the IVR's hang-up

Every channel's end is an AMI `Hangup`, and queue calls carry `CALLPOP_CALL_ID` as a
`ChanVariable` (manager.conf `channelvars`), so callpop's AMI listener pops the agents
over a real socket exactly as it would for Asterisk.

What callpop asks the PBX over AMI is answered too: `QueueStatus` and the members'
events (`members.py`: the queue state the IVR's estimated wait is folded from),
`CoreShowChannels`, and `Originate`, a callback's or the panel's click-to-dial
(`originated.py`: the agent's phone, then the customer's test phone). The test phone's flood button fills a queue with virtual
callers (`flood.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callpop.ami.codec import Message, encode_message
from callpop.asterisk_config import AGENTS_CONTEXT, QUEUES_CONTEXT
from callpop.demo.flood import FloodView, QueueFlood
from callpop.demo.live_agi import Heard, LiveCaller, WireLine
from callpop.demo.members import MemberBoard, Waiting
from callpop.demo.originated import CUSTOMER_RING_S, CustomerLine, OriginatedCall, same_number
from callpop.demo.phones import AgentPhone, Phones, PhoneState
from callpop.demo.prompts import PromptBook, sound_url
from callpop.demo.queueing import RETRY_S, QueueEnd, QueueFloor, QueueVisit
from callpop.demo.signals import Signal, TransferTo
from callpop.demo.talk import TalkEnd, agent_phone, converse
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import DirectDial, Ids, Snapshot, Writer, hangup
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_transfers import attended_transfer_event, blind_transfer_event
from callpop.pbx_sim.script import CallerId, CallerScript
from ivr import variables
from ivr.catalog import Queue, QueueCatalog

__all__ = ["DemoCall", "PbxSettings", "VirtualPbx", "clean_caller_id"]

log = logging.getLogger(__name__)

Tell = Callable[[dict[str, Any]], None]
_NUMBER_CHARS = re.compile(r"[^0-9+*#]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DIAL_RING_S = 20.0  # how long Dial() rings an agent's phone before giving up
VOICEMAIL_MAX_S = 120.0
# The operator queue when queues.yaml is absent (the dialplan still routes there).
FALLBACK_QUEUE = Queue(strategy="ringall", description="Anyone who asks for a person.")


def clean_caller_id(number: str | None, name: str | None) -> CallerId:
    """What a SIP trunk would let through: a number of dial characters (at most 32),
    a name without control characters (at most 80). Anything else is not a caller ID."""
    digits = _NUMBER_CHARS.sub("", number or "")[:32]
    label = " ".join(_CONTROL.sub(" ", name or "").split())[:80]
    return CallerId(digits or None, label or None)


@dataclass(frozen=True, slots=True)
class PbxSettings:
    fastagi_host: str
    fastagi_port: int
    ivr_path: str = "ivr"
    extension: str = "7000"
    retry_s: float = RETRY_S
    # how long an originated call's customer number rings (the dialplan's Dial(..., 30))
    customer_ring_s: float = CUSTOMER_RING_S


class DemoCall:
    """One test-phone call, from dial to hang-up. Also the `PhoneCall` agent phones ring for."""

    def __init__(self, pbx: VirtualPbx, caller: CallerId, tell: Tell) -> None:
        self.pbx = pbx
        self.caller = caller
        self.tell = tell
        self.uniqueid = pbx.ids.uniqueid()
        self.channel = f"PJSIP/trunk-{pbx.ids.suffix()}"
        self.call_id = self.uniqueid  # CHANNEL(linkedid) of a first leg (call-id.txt)
        self.queue: str | None = None
        self.state = "dialing"
        self.signals: asyncio.Queue[Signal] = asyncio.Queue()
        self.live: LiveCaller | None = None
        self.caller_gone = False
        self.agent_channel: str | None = None  # the agent leg bridged with the caller
        self.task: asyncio.Task[None] | None = None
        self.waiting_as: Waiting | None = None  # while in a queue (QueueStatus lists it)

    # --- PhoneCall (what agent phones do) -------------------------------------------------

    def caller_view(self) -> dict[str, Any]:
        return {
            "number": self.caller.number or "",
            "name": self.caller.name or "",
            "queue": self.queue,
            "kind": "queue" if self.queue is not None else "direct",
        }

    def answer(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("answer", phone))

    def decline(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("decline", phone))

    def agent_hang_up(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("agent_hangup", phone))

    def transfer(self, to: TransferTo) -> None:
        """The agent's transfer, as the PBX accepted it."""
        self.signals.put_nowait(Signal("transfer", to=to))

    # --- the caller -------------------------------------------------------------------------

    def press(self, key: str) -> None:
        if self.state == "ended":
            return
        if self.live is not None and not self.live.closed:
            self.live.press(key)
        elif self.state == "voicemail" and key == "#":
            self.signals.put_nowait(Signal("caller_hangup"))  # `#` ends the message
        self.tell({"type": "key", "key": key})

    def hang_up(self) -> None:
        if self.caller_gone:
            return
        self.caller_gone = True
        if self.live is not None and not self.live.closed:
            self.live.hang_up()
        self.signals.put_nowait(Signal("caller_hangup"))

    # --- the call -----------------------------------------------------------------------------

    def _state(self, state: str, **detail: Any) -> None:
        self.state = state
        self.tell({"type": "state", "state": state, "call_id": self.call_id, **detail})

    def _snapshot(self, *, context: str, exten: str, priority: int) -> Snapshot:
        return Snapshot(
            channel=self.channel,
            uniqueid=self.uniqueid,
            linkedid=self.uniqueid,
            context=context,
            exten=exten,
            priority=priority,
            caller_num=self.caller.number or "<unknown>",
            caller_name=self.caller.name or "<unknown>",
            variables=((variables.CALL_ID, self.call_id),),
        )

    def _hangup_event(self, snapshot: Snapshot) -> None:
        self.pbx.emit([hangup(self.pbx.writer, snapshot, 16)])

    async def run(self) -> None:
        try:
            outcome, target, values = await self._ivr()
            # gone in the IVR, or between its end and the dialplan's next step
            if self.caller_gone:
                self._hangup_event(
                    self._snapshot(
                        context="callpop-in", exten=self.pbx.settings.extension, priority=2
                    )
                )
                self._state("ended", reason="You hung up in the IVR.")
                return
            await self._route(outcome, target, values)
        except asyncio.CancelledError:
            self._state("ended", reason="The demo PBX is shutting down.")
            raise
        except Exception:
            log.exception("demo call %s failed", self.uniqueid)
            self._state("ended", reason="The demo PBX failed on this call (see the log).")

    async def _ivr(self) -> tuple[str, str, dict[str, str]]:
        settings = self.pbx.settings
        script = CallerScript(
            caller=self.caller,
            extension=settings.extension,
            context="callpop-in",
            dnid=settings.extension,
            uniqueid=self.uniqueid,
            channel=self.channel,
        )
        self.live = LiveCaller(
            script,
            self.pbx.book,
            on_hear=self._heard,
            on_wire=self._wire,
            monotonic=self.pbx.monotonic,
        )
        self._state(
            "ivr", agi=f"agi://{settings.fastagi_host}:{settings.fastagi_port}/{settings.ivr_path}"
        )
        try:
            record = await self.live.run(
                settings.fastagi_host, settings.fastagi_port, settings.ivr_path
            )
        except OSError as exc:
            # AGISTATUS=FAILURE and CALLPOP_OUTCOME empty: the dialplan's fallback
            self.tell(
                {
                    "type": "notice",
                    "text": f"callpop's FastAGI port did not answer "
                    f"({exc.strerror or exc}): the dialplan "
                    "falls back to the operator queue.",
                }
            )
            return "", "", {}
        values = record.variables
        self.call_id = values.get(variables.CALL_ID) or self.uniqueid
        return (values.get(variables.OUTCOME, ""), values.get(variables.TARGET, ""), values)

    def _heard(self, heard: Heard) -> None:
        audio = None
        if heard.sound is not None and self.pbx.book.recording(heard.sound) is not None:
            audio = sound_url(heard.sound)
        self.tell(
            {
                "type": "heard",
                "kind": heard.kind,
                "text": heard.text,
                "sound": heard.sound,
                "ms": heard.ms,
                "keys": heard.keys,
                "audio": audio,
            }
        )

    def _wire(self, line: WireLine) -> None:
        self.tell({"type": "wire", "who": line.who, "line": line.line})

    async def _route(self, outcome: str, target: str, values: dict[str, str]) -> None:
        """`Goto(callpop-route,${CALLPOP_OUTCOME},1)`, `operator` when it is empty."""
        self.tell(
            {
                "type": "outcome",
                "outcome": outcome or "(none)",
                "target": target,
                "variables": {k: v for k, v in values.items() if k.startswith("CALLPOP_")},
            }
        )
        if outcome == "queue" and target:
            await self._queue(values.get(variables.QUEUE) or target)
        elif outcome in ("", "error"):
            await self._queue(self.pbx.operator_queue)
        elif outcome in ("agent", "extension"):
            await self._dial(target if "/" in target else f"PJSIP/{target}")
        elif outcome == "voicemail":
            await self._voicemail(target)
        else:
            self._hangup_event(self._snapshot(context="callpop-route", exten="hangup", priority=1))
            self._state("ended", reason="The IVR ended the call.")

    async def _queue(self, name: str) -> None:
        self.queue = name
        queue = self.pbx.queue_settings(name)
        self._state("queue", queue=name)
        snapshot = self._snapshot(context="callpop-route", exten="queue", priority=3)
        visit = QueueVisit(
            name=name,
            queue=queue,
            caller=snapshot,
            call=self,
            floor=self.pbx.floor,
            signals=self.signals,
            tell=self.tell,
            position=self.pbx.waiting(name) + 1,
        )
        self.waiting_as = Waiting(name, snapshot, time.time())
        self.pbx.waiting_calls.add(self)
        try:
            end = await visit.run()
        finally:
            self.pbx.waiting_calls.discard(self)
        if end.how == "talked":
            self.pbx.members.completed(name, end.talk_s)
        await self._after_queue(end, snapshot)

    async def _after_queue(self, end: QueueEnd, snapshot: Snapshot) -> None:
        if end.how == "transferred":
            assert end.talk is not None
            await self._after_transfer(end.talk, snapshot, by=end.agent or "")
        elif end.how == "talked":
            who = "You" if end.hung_up_by == "caller" else end.agent
            self._state("ended", reason=f"{who} hung up after talking.", agent=end.agent)
        elif end.how == "abandoned":
            self._state("ended", reason="You hung up while waiting in the queue.")
        else:
            self._hangup_event(snapshot)
            self._state("ended", reason="Nobody answered within the queue's maximum wait.")

    async def _dial(
        self, interface: str, *, context: str = "callpop-route", exten: str = "agent"
    ) -> None:
        """`Dial(interface)` outside any queue (from `exten`@`context`): DialBegin rings
        the agent's pop."""
        phone = self.pbx.phones.get(interface)
        snapshot = self._snapshot(context=context, exten=exten, priority=1)
        if phone is None or not self.pbx.phones.ring(phone, self):
            self._hangup_event(snapshot)
            self._state(
                "ended",
                reason=f"{interface} has no free phone in this demo: "
                "Dial() fails (CHANUNAVAIL) and the call ends.",
            )
            return
        dial = DirectDial(snapshot, interface, self.pbx.ids, self.pbx.writer)
        self.pbx.emit(dial.begin())
        self._state("ringing", agent=phone.agent, interface=interface)
        answered = await self._wait_for(phone, {"answer"}, DIAL_RING_S)
        if answered is None or answered.kind != "answer":
            self.pbx.emit(
                dial.end("NOANSWER" if answered is None or answered.kind == "decline" else "CANCEL")
            )
            self.pbx.phones.release(phone, self)
            self._hangup_event(snapshot)
            reason = "You hung up." if self.caller_gone else f"{phone.agent} did not answer."
            self._state("ended", reason=reason)
            return
        self.pbx.emit(dial.end("ANSWER"))
        self.pbx.phones.connect(phone, self)
        self.tell(
            {"type": "connected", "agent": phone.agent, "interface": interface, "queue": None}
        )
        assert dial.leg is not None
        await self._bridged(phone, dial.leg.one, snapshot)

    async def _bridged(self, phone: AgentPhone, leg: Snapshot, caller: Snapshot) -> None:
        """The caller talks with `phone` (its channel `leg`) outside any queue, after a
        Dial or an attended transfer, until a hang-up or a transfer."""
        pbx = self.pbx
        end = await converse(
            self,
            phone=phone,
            agent_leg=leg,
            phones=pbx.phones,
            ids=pbx.ids,
            tell=self.tell,
            monotonic=pbx.monotonic,
        )
        w = pbx.writer
        if end.how in ("caller", "agent"):
            caller_first = end.how == "caller"
            ends = [hangup(w, caller, 16), hangup(w, leg, 16)]
            pbx.emit(ends if caller_first else ends[::-1])
            pbx.phones.release(phone, self)
            self._state(
                "ended",
                reason=("You" if caller_first else phone.agent) + " hung up after talking.",
                agent=phone.agent,
            )
            return
        bridge = f"bridge-{self.call_id}"
        if end.how == "attended":
            assert end.target_leg is not None and end.consult is not None
            first = attended_transfer_event(
                w,
                transferer=leg,
                consult=end.consult,
                transferee=caller,
                target=end.target_leg,
                bridge=bridge,
            )
            pbx.emit([first, hangup(w, leg, 16)])
        else:
            assert end.to is not None
            blind = (
                []
                if end.to.redirect
                else [blind_transfer_event(w, leg, caller, bridge, end.to.exten, end.to.context)]
            )
            pbx.emit([*blind, hangup(w, leg, 16)])
        pbx.phones.release(phone, self)
        await self._after_transfer(end, caller, by=phone.agent)

    async def _after_transfer(self, end: TalkEnd, caller: Snapshot, *, by: str) -> None:
        """Where the caller goes once `by` transferred them: bridged with the target
        (attended), or on through the emitted dialplan to an agent, a queue or a number."""
        if end.how == "attended":
            assert end.target is not None and end.target_leg is not None
            self.pbx.phones.hand_over(end.target, self)
            self.tell(
                {
                    "type": "connected",
                    "agent": end.target.agent,
                    "interface": end.target.interface,
                    "queue": None,
                }
            )
            await self._bridged(end.target, end.target_leg, caller)
            return
        to = end.to
        assert to is not None
        phone = agent_phone(self.pbx.phones, to)
        where = f"{phone.agent} ({to.exten})" if phone is not None else to.exten
        self.tell({"type": "notice", "text": f"{by} transferred you to {where}."})
        if to.context == AGENTS_CONTEXT:
            await self._dial(f"PJSIP/{to.exten}", context=to.context, exten=to.exten)
        elif to.context == QUEUES_CONTEXT:
            await self._queue(to.exten)
        else:
            self._hangup_event(self._snapshot(context=to.context, exten=to.exten, priority=1))
            self._state(
                "ended",
                reason=f"The demo PBX has no outside line: the call to {to.exten} fails "
                "and the call ends.",
            )

    async def _wait_for(
        self, phone: AgentPhone, kinds: set[str], within_s: float | None
    ) -> Signal | None:
        """The next signal of `kinds` from `phone`, or the caller's hang-up; None when
        `within_s` ran out. A decline counts when waiting for an answer."""
        wanted = kinds | ({"decline"} if "answer" in kinds else set())
        try:
            async with asyncio.timeout(within_s):
                while True:
                    signal = await self.signals.get()
                    if signal.kind == "caller_hangup":
                        return signal
                    if signal.kind in wanted and signal.phone is phone:
                        return signal
        except TimeoutError:
            return None

    async def _voicemail(self, mailbox: str) -> None:
        self._state("voicemail", mailbox=mailbox)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(VOICEMAIL_MAX_S):
                while (await self.signals.get()).kind != "caller_hangup":
                    pass
        self._hangup_event(self._snapshot(context="callpop-route", exten="voicemail", priority=1))
        self._state("ended", reason=f"Message left in mailbox {mailbox}.")


class VirtualPbx:
    """The PBX: places test-phone calls, owns the agent phones and emits AMI events."""

    def __init__(
        self,
        settings: PbxSettings,
        *,
        ami: AMIServer,
        book: PromptBook,
        queues: QueueCatalog | None,
        monotonic: Callable[[], float] = time.monotonic,
        seed: int = 1,
    ) -> None:
        self.settings = settings
        self.ami = ami
        self.book = book
        self.queues = queues
        self.monotonic = monotonic
        self.ids = Ids(epoch=str(int(time.time())))
        self.writer = Writer()
        self.phones = Phones(self._phone_free, monotonic, on_change=self._member_changed)
        queue_names = queues.queues if queues is not None else {}
        strategies = {name: q.strategy for name, q in queue_names.items()} or {
            self.operator_queue: FALLBACK_QUEUE.strategy
        }
        self.members = MemberBoard(
            strategies,
            emit=self.emit,
            writer=self.writer,
            waiting=self._waiting_entries,
            phones=lambda: self.phones,
        )
        self.flood = QueueFlood(
            self.phones,
            emit=self.emit,
            ids=self.ids,
            writer=self.writer,
            on_change=self._flood_changed,
        )
        self.flood_watchers: set[Tell] = set()  # the test phone pages
        # callbacks (callpop's placer) and click-to-dial (the panel) Originate: the
        # agent's phone rings, then a test phone
        self.originations = Originations(ids=self.ids, writer=self.writer)
        self.originated: set[OriginatedCall] = set()
        self.lines: list[CustomerLine] = []
        ami.answers.append(self)
        self.floor = QueueFloor(
            self.phones,
            self.emit,
            self.ids,
            self.writer,
            monotonic,
            random.Random(seed),
            retry_s=settings.retry_s,
        )
        self.calls: set[DemoCall] = set()
        self.waiting_calls: set[DemoCall] = set()
        # the panel's Status menu: Asterisk's QueuePause, on the demo's phones
        ami.responders["QueuePause"] = self._queue_pause
        # the panel's transfers (callpop/demo/talk.py plays them)
        ami.responders["BlindTransfer"] = self._blind_transfer
        ami.responders["Atxfer"] = self._atxfer
        ami.responders["Redirect"] = self._redirect

    def _talking_on(self, channel: str) -> DemoCall | None:
        return next((c for c in self.calls if channel and c.agent_channel == channel), None)

    def _blind_transfer(self, action: Message) -> list[list[tuple[str, str]]]:
        """As manager.c answers (tests/fixtures/asterisk/ami/controls/blindtransfer*.txt);
        the call emits the events once this answer is on the wire."""
        call = self._talking_on(action.get("Channel") or "")
        if call is None:
            return [[("Response", "Error"), ("Message", "Channel specified does not exist")]]
        call.transfer(TransferTo(action.get("Exten") or "", action.get("Context") or ""))
        return [[("Response", "Success"), ("Message", "Transfer succeeded")]]

    def _atxfer(self, action: Message) -> list[list[tuple[str, str]]]:
        call = self._talking_on(action.get("Channel") or "")
        if call is None:
            return [[("Response", "Error"), ("Message", "Channel specified does not exist")]]
        call.transfer(
            TransferTo(action.get("Exten") or "", action.get("Context") or "", attended=True)
        )
        return [[("Response", "Success"), ("Message", "Atxfer successfully queued")]]

    def _redirect(self, action: Message) -> list[list[tuple[str, str]]]:
        channel = action.get("Channel") or ""
        call = next(
            (c for c in self.calls if c.channel == channel and c.agent_channel is not None), None
        )
        if call is None:
            return [[("Response", "Error"), ("Message", f"Channel does not exist: {channel}")]]
        call.transfer(
            TransferTo(action.get("Exten") or "", action.get("Context") or "", redirect=True)
        )
        return [[("Response", "Success"), ("Message", "Redirect successful")]]

    def _queue_pause(self, action: Message) -> list[list[tuple[str, str]]]:
        """As app_queue answers (tests/fixtures/asterisk/ami/controls/queuepause*.txt);
        the member board reports the pause (`QueueMemberPause`, callpop/demo/members.py),
        from which callpop reads the agent's status back (callpop/ami/pauses.py)."""
        paused = (action.get("Paused") or "").lower() in ("true", "yes", "1", "on")
        reason = (action.get("Reason") or "Paused") if paused else None
        if self.phones.pause(action.get("Interface") or "", reason) is None:
            return [[("Response", "Error"), ("Message", "Interface not found")]]
        word = "paused" if paused else "unpaused"
        return [[("Response", "Success"), ("Message", f"Interface {word} successfully")]]

    @property
    def operator_queue(self) -> str:
        return self.queues.operator if self.queues is not None else "operator"

    def queue_settings(self, name: str) -> Queue:
        if self.queues is not None and name in self.queues.queues:
            return self.queues.queues[name]
        return FALLBACK_QUEUE

    def waiting(self, queue: str) -> int:
        """Callers waiting in `queue` now, virtual ones included."""
        return sum(1 for w in self._waiting_entries() if w.queue == queue)

    def _waiting_entries(self) -> list[Waiting]:
        talking = {id(p.call) for p in self.phones if p.state is PhoneState.TALKING}
        real = [
            c.waiting_as
            for c in self.waiting_calls
            if c.waiting_as is not None and id(c) not in talking
        ]
        return self.flood.waiting() + real

    def emit(self, events: list[bytes]) -> None:
        self.ami.emit(events)

    def _phone_free(self) -> None:
        self.flood.hold_free_agents()  # in a flood the callers ahead take a free agent
        for call in self.waiting_calls:
            call.signals.put_nowait(Signal("free"))

    def _member_changed(self, phone: AgentPhone) -> None:
        self.members.changed(phone)

    def _flood_changed(self, view: FloodView) -> None:
        for watch in tuple(self.flood_watchers):
            watch(view.public())

    # --- AMI: what callpop asks the PBX -------------------------------------------------------

    def answer(self, action: Message) -> bytes | None:
        """`QueueStatus`, `CoreShowChannels` and `Originate` (callback, click-to-dial)."""
        name = (action.action or "").lower()
        if name == "queuestatus":
            return self.members.answer(action)
        if name == "coreshowchannels":
            return self._channels(action)
        if name == "originate":
            return self._originate(action)
        return None

    def _originate(self, action: Message) -> bytes | None:
        queued = self.originations.answer(action)
        assert queued is not None
        leg = OriginatedCall(
            action,
            self.originations.placed[-1].channel_id,  # the agent leg's Uniqueid
            ring_s=self.settings.customer_ring_s,
            originations=self.originations,
            phones=self.phones,
            emit=self.emit,
            find_line=self.find_line,
            on_end=self.originated.discard,
        )
        self.originated.add(leg)
        leg.start()
        return queued

    def _channels(self, action: Message) -> bytes:
        """The callers waiting in queues and the originated agent legs (what callpop's
        listener and callback placer look for after a login)."""
        waiting = self._waiting_entries()
        live = self.originations.answer(action)
        assert live is not None
        ident = [] if action.action_id is None else [("ActionID", action.action_id)]
        rows = [
            encode_message(
                [
                    ("Event", "CoreShowChannel"),
                    *ident,
                    *w.caller.block(),
                    ("Application", "Queue"),
                    ("ApplicationData", f"{w.queue},t"),
                    ("Duration", "00:00:01"),
                    ("BridgeId", ""),
                ]
            )
            for w in waiting
        ]
        # the originations' own listing: splice the queue callers in after its response
        head, sep, tail = live.partition(b"\r\n\r\n")
        count = len(self.originations.live) + len(rows)
        tail = re.sub(rb"ListItems: \d+", f"ListItems: {count}".encode(), tail)
        return head + sep + b"".join(rows) + tail

    def find_line(self, number: str) -> CustomerLine | None:
        """The test phone open as `number` (its chosen caller, or the number it last
        called as); a free one first."""
        lines = [line for line in self.lines if line.number and same_number(line.number, number)]
        return next((line for line in lines if line.free()), lines[0] if lines else None)

    def place_call(self, number: str | None, name: str | None, tell: Tell) -> DemoCall:
        """Start a call into extension 7000; `tell` gets what the caller sees and hears."""
        call = DemoCall(self, clean_caller_id(number, name), tell)
        self.calls.add(call)
        call.task = asyncio.create_task(call.run(), name=f"demo-call-{call.uniqueid}")
        call.task.add_done_callback(lambda _t: self.calls.discard(call))
        return call

    async def aclose(self) -> None:
        """Hang up every call and wait for them to end."""
        self.flood.stop()
        tasks = [c.task for c in self.calls if c.task is not None]
        tasks += [leg.task for leg in self.originated if leg.task is not None]
        for leg in list(self.originated):
            if leg.task is not None:
                leg.task.cancel()
        for call in list(self.calls):
            call.hang_up()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
