"""The virtual PBX's queue members and queue state, as Asterisk's AMI shows them.

In the demo an agent's phone is online while their page is open, and an online phone is
a dynamic member of every queue. callpop's queue state (the estimated wait the IVR
announces, the agents free for a callback) is folded from what AMI says about members
and callers (callpop/ami/queue_state.py), so the PBX says it as Asterisk 22 does
(tests/fixtures/asterisk/ami/queue-status-actions.txt, controls/queuepause.txt):

- a phone's first time online: `QueueMemberAdded` in every queue; afterwards each change
  of what a queue sees is `QueueMemberStatus` (Status 1 not in use, 2 in use, 6 ringing,
  5 unavailable once the last page closed) and a pause or unpause `QueueMemberPause`;
- `QueueStatus` is answered with each queue's `QueueParams` (`TalkTime`: the queue's
  average talk time), its `QueueMember`s and the callers waiting (`QueueEntry`), which
  is what callpop's listener asks on every login.

`TalkTime` is Asterisk's running average of the queue's completed calls. The demo has
no day of calls behind it, so its queues start from `handle_s` (a contact centre's
typical handle time) and every call the virtual PBX completes in a queue moves the
average as app_queue moves it (`(3 * old + new) / 4`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from callpop.ami.codec import Message, encode_message
from callpop.demo.phones import AgentPhone, PhoneState
from callpop.pbx_sim.ami_events import Snapshot, Writer
from callpop.pbx_sim.ami_status import queue_entry, queue_params

__all__ = ["DEFAULT_HANDLE_S", "MemberBoard", "Waiting", "member_status"]

DEFAULT_HANDLE_S = 240  # four minutes: a typical contact centre's average handle time

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Waiting:
    """A caller waiting in a queue now (a test-phone call or a virtual caller)."""

    queue: str
    caller: Snapshot
    joined_at: float  # wall clock


def member_status(phone: AgentPhone) -> str:
    """AST_DEVICE_* of the phone as its queues see it."""
    if phone.state is PhoneState.TALKING:
        return "2"
    if phone.state is PhoneState.RINGING:
        return "6"
    return "1" if phone.online else "5"


class MemberBoard:
    """Tells AMI what the queues' members do, and answers `QueueStatus`."""

    def __init__(
        self,
        queues: Mapping[str, str],
        *,
        emit: Callable[[list[bytes]], None],
        writer: Writer,
        waiting: Callable[[], list[Waiting]],
        phones: Callable[[], Iterable[AgentPhone]],
        handle_s: int = DEFAULT_HANDLE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.strategies = dict(queues)  # queue -> strategy
        self.queues = tuple(queues)
        self._emit = emit
        self._writer = writer
        self._waiting = waiting
        self._phones = phones
        self._clock = clock
        self.talk_time_s = dict.fromkeys(self.queues, handle_s)
        self._logged_in: dict[str, float] = {}  # interface -> login time (wall clock)
        # interface -> (status, pause reason or None): a new reason is a new pause event
        self._shown: dict[str, tuple[str, str | None]] = {}

    # --- events -------------------------------------------------------------------------------

    def changed(self, phone: AgentPhone) -> None:
        """`Phones`' on_change: the events for what the queues now see of `phone`."""
        status, paused = member_status(phone), phone.paused
        shown = self._shown.get(phone.interface)
        if shown == (status, paused):
            return
        self._shown[phone.interface] = (status, paused)
        if shown is None:
            self._logged_in[phone.interface] = self._clock()
            kind = "QueueMemberAdded"
        elif shown[1] != paused:
            kind = "QueueMemberPause"
        else:
            kind = "QueueMemberStatus"
        self._emit(
            [self._writer.event(kind, "agent,all", self._member(q, phone)) for q in self.queues]
        )

    def completed(self, queue: str, talk_s: float) -> None:
        """A call of `queue` ended after `talk_s` of talk: app_queue's running average."""
        if queue in self.talk_time_s:
            self.talk_time_s[queue] = int((3 * self.talk_time_s[queue] + talk_s) / 4)

    def _member(self, queue: str, phone: AgentPhone) -> Headers:
        status = member_status(phone)
        return [
            ("Queue", queue),
            ("MemberName", phone.agent),
            ("Interface", phone.interface),
            ("StateInterface", phone.interface),
            ("Membership", "dynamic"),
            ("Penalty", "0"),
            ("CallsTaken", str(phone.calls_taken)),
            ("LastCall", "0"),
            ("LastPause", "0"),
            ("LoginTime", str(int(self._logged_in.get(phone.interface, 0)))),
            ("InCall", "1" if status == "2" else "0"),
            ("Status", status),
            ("Paused", "1" if phone.paused is not None else "0"),
            ("PausedReason", phone.paused or ""),
            ("Ringinuse", "0"),
            ("Wrapuptime", "0"),
        ]

    # --- QueueStatus ----------------------------------------------------------------------------

    def answer(self, action: Message) -> bytes | None:
        """`AMIServer` answers: `QueueStatus` (optionally for one `Queue`)."""
        if (action.action or "").lower() != "queuestatus":
            return None
        ident = [] if action.action_id is None else [("ActionID", action.action_id)]
        only = action.get("Queue")
        out = [
            encode_message(
                [
                    ("Response", "Success"),
                    *ident,
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ]
            )
        ]
        waiting = self._waiting()
        members = [p for p in self._phones() if p.interface in self._shown]
        now = self._clock()
        items = 0
        for queue in self.queues:
            if only and queue != only:
                continue
            here = sorted((w for w in waiting if w.queue == queue), key=lambda w: w.joined_at)
            out.append(
                queue_params(
                    queue,
                    calls=len(here),
                    talk_time_s=self.talk_time_s.get(queue, 0),
                    strategy=self.strategies.get(queue, "ringall"),
                    ident=ident,
                )
            )
            for phone in members:
                member = [(k, v) for k, v in self._member(queue, phone) if k != "Ringinuse"]
                # QueueMember says Name/Location where the events say MemberName/Interface
                renamed = {"MemberName": "Name", "Interface": "Location"}
                out.append(
                    encode_message(
                        [
                            ("Event", "QueueMember"),
                            *((renamed.get(k, k), v) for k, v in member),
                            *ident,
                        ]
                    )
                )
            for position, entry in enumerate(here, 1):
                wait_s = max(0, int(now - entry.joined_at))
                out.append(queue_entry(queue, position, entry.caller, wait_s=wait_s, ident=ident))
            items += 1 + len(members) + len(here)
        out.append(
            encode_message(
                [
                    ("Event", "QueueStatusComplete"),
                    *ident,
                    ("EventList", "Complete"),
                    ("ListItems", str(items)),
                ]
            )
        )
        return b"".join(out)
