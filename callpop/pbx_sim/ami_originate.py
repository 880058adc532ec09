"""Asterisk's side of a callback's `Originate`, for the tests and the demo.

`Originations` plugs into `AMIServer(answers=[...])`: it answers `Originate` ("Originate
successfully queued", as queue-status-actions.txt) and records it, and answers
`CoreShowChannels` with the originated agent legs still up (so an instance taking over
mid-call finds them). The steps of each call then come as events a test emits, in the
order and format Asterisk 22 uses (queue-status-actions.txt, queue-call.txt):

- `agent_answers`: `OriginateResponse` Success, Reason 4, `Uniqueid` the `ChannelId`
  asked; the member shows in use (`QueueMemberStatus` Status 2); the agent's leg runs
  the callback context's `Dial` to the customer (`DialBegin`);
- `agent_does_not_answer`: `OriginateResponse` Failure (Reason 3: rang out), `Hangup`;
  with Reason 0 (no such device, offline) no channel was made: `Uniqueid: <unknown>` and
  no `Hangup` (originate-offline.txt);
- `customer_answers`: `DialEnd` ANSWER (the agent's leg bridged with the customer);
- `customer_does_not_answer`: `DialEnd` NOANSWER, the customer's and the agent's legs
  hang up, the member is free again;
- `hang_up`: after a conversation, both legs hang up and the member is free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from callpop.ami.codec import Message, encode_message
from callpop.pbx_sim.ami_events import Ids, Snapshot, Writer, hangup
from callpop.pbx_sim.ami_status import QueueMemberSpec

__all__ = ["Origination", "Originations", "caller_id"]

_DIALLABLE = re.compile(r"[0-9+*#]+")


def caller_id(text: str) -> tuple[str, str]:
    """(name, number) of an Originate's `CallerID`, as Asterisk's ast_callerid_parse
    reads it: `"Name" <number>`, `Name <number>`, a bare number (no name) or a bare
    name (no number)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        return name.strip().strip('"').strip(), number.strip()
    if _DIALLABLE.fullmatch(text):
        return "", text
    return text.strip('"'), ""


@dataclass
class Origination:
    action: Message
    agent: Snapshot
    customer: Snapshot | None = None
    bridged: bool = False

    @property
    def channel_id(self) -> str:
        return self.agent.uniqueid

    @property
    def number(self) -> str:
        return self.action.get("Exten") or ""

    @property
    def interface(self) -> str:
        return self.action.get("Channel") or ""


@dataclass
class Originations:
    members: Iterable[QueueMemberSpec] = ()
    trunk: str = "PJSIP/trunk"
    ids: Ids = field(default_factory=Ids)
    writer: Writer = field(default_factory=Writer)
    placed: list[Origination] = field(default_factory=list)
    live: dict[str, Origination] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.members = tuple(self.members)

    def answer(self, action: Message) -> bytes | None:
        name = (action.action or "").lower()
        if name == "originate":
            return self._originate(action)
        if name == "coreshowchannels":
            return self._channels(action.action_id)
        return None

    def numbers(self) -> list[str]:
        """The numbers called back, one per Originate, in order."""
        return [o.number for o in self.placed]

    def _originate(self, action: Message) -> bytes:
        interface = action.get("Channel") or ""
        uid = action.get("ChannelId") or self.ids.uniqueid()
        name, number = caller_id(action.get("CallerID") or "")
        agent = Snapshot(
            channel=f"{interface}-{self.ids.suffix()}",
            uniqueid=uid,
            linkedid=uid,
            context=action.get("Context") or "",
            exten=action.get("Exten") or "",
            state=5,
            caller_num=number or action.get("Exten") or "",
            caller_name=name or "<unknown>",
        )
        origination = Origination(action, agent)
        self.placed.append(origination)
        self.live[uid] = origination
        ident = [] if action.action_id is None else [("ActionID", action.action_id)]
        return encode_message(
            [("Response", "Success"), *ident, ("Message", "Originate successfully queued")]
        )

    def member_status(self, interface: str, status: str) -> list[bytes]:
        """`QueueMemberStatus` of `interface` in each of its queues (`Status` 1 not in use,
        2 in use, 6 ringing)."""
        w = self.writer
        return [
            w.event(
                "QueueMemberStatus",
                "agent,all",
                [
                    ("Queue", m.queue),
                    ("MemberName", m.name),
                    ("Interface", m.location),
                    ("StateInterface", m.state_interface),
                    ("Membership", "static"),
                    ("Penalty", "0"),
                    ("CallsTaken", "0"),
                    ("LastCall", "0"),
                    ("LastPause", "0"),
                    ("LoginTime", "0"),
                    ("InCall", "1" if status == "2" else "0"),
                    ("Status", status),
                    ("Paused", "0"),
                    ("PausedReason", ""),
                    ("Ringinuse", "0"),
                    ("Wrapuptime", "0"),
                ],
            )
            for m in self.members
            if m.location == interface
        ]

    def _response(
        self, o: Origination, success: bool, reason: str, uniqueid: str | None = None
    ) -> bytes:
        ident = [] if o.action.action_id is None else [("ActionID", o.action.action_id)]
        return self.writer.event(
            "OriginateResponse",
            "call,all",
            ident,
            [
                ("Response", "Success" if success else "Failure"),
                ("Channel", o.agent.channel if success else o.interface),
                ("Context", o.agent.context),
                ("Exten", o.number),
                ("Reason", reason),
                ("Uniqueid", o.channel_id if uniqueid is None else uniqueid),
                ("CallerIDNum", o.agent.caller_num),
                ("CallerIDName", o.agent.caller_name),
            ],
        )

    def agent_answers(self, channel_id: str) -> list[bytes]:
        o = self.live[channel_id]
        o.agent = o.agent.but(state=6)
        o.customer = Snapshot(
            channel=f"{self.trunk}-{self.ids.suffix()}",
            uniqueid=self.ids.uniqueid(),
            linkedid=channel_id,
            context="from-trunk",
            exten=o.number,
            state=0,
            caller_num=o.number,
        )
        w = self.writer
        return [
            self._response(o, True, "4"),
            *self.member_status(o.interface, "2"),
            w.event(
                "DialBegin",
                "call,all",
                o.agent.block(),
                o.customer.block("Dest"),
                [("DialString", f"{o.number}@trunk")],
            ),
        ]

    def agent_does_not_answer(self, channel_id: str, reason: str = "3") -> list[bytes]:
        o = self.live.pop(channel_id)
        if reason == "0":
            # no such device, or offline: Asterisk made no channel, so there is no Hangup
            # and the Uniqueid is "<unknown>" (originate-offline.txt, recorded)
            return [self._response(o, False, reason, uniqueid="<unknown>")]
        return [self._response(o, False, reason), hangup(self.writer, o.agent, 19)]

    def customer_answers(self, channel_id: str) -> list[bytes]:
        o = self.live[channel_id]
        assert o.customer is not None, "agent_answers() first"
        o.customer = o.customer.but(state=6)
        o.bridged = True
        return [self._dial_end(o, "ANSWER")]

    def customer_does_not_answer(self, channel_id: str, status: str = "NOANSWER") -> list[bytes]:
        o = self.live.pop(channel_id)
        assert o.customer is not None, "agent_answers() first"
        w = self.writer
        return [
            self._dial_end(o, status),
            hangup(w, o.customer, 19),
            hangup(w, o.agent, 16),
            *self.member_status(o.interface, "1"),
        ]

    def hang_up(self, channel_id: str) -> list[bytes]:
        o = self.live.pop(channel_id)
        w = self.writer
        legs = [hangup(w, o.customer, 16)] if o.customer is not None else []
        return [*legs, hangup(w, o.agent, 16), *self.member_status(o.interface, "1")]

    def _dial_end(self, o: Origination, status: str) -> bytes:
        assert o.customer is not None
        return self.writer.event(
            "DialEnd",
            "call,all",
            o.agent.block(),
            o.customer.block("Dest"),
            [("DialStatus", status)],
        )

    def _channels(self, aid: str | None) -> bytes:
        ident = [] if aid is None else [("ActionID", aid)]
        out = [
            encode_message(
                [
                    ("Response", "Success"),
                    *ident,
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                ]
            )
        ]
        for o in self.live.values():
            bridge = f"bridge-{o.channel_id}" if o.bridged else ""
            out.append(
                encode_message(
                    [
                        ("Event", "CoreShowChannel"),
                        *ident,
                        *o.agent.block(),
                        ("Application", "Dial" if o.customer is not None else "AppDial2"),
                        ("ApplicationData", f"{o.number}@trunk"),
                        ("Duration", "00:00:01"),
                        ("BridgeId", bridge),
                    ]
                )
            )
        out.append(
            encode_message(
                [
                    ("Event", "CoreShowChannelsComplete"),
                    *ident,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(self.live))),
                ]
            )
        )
        return b"".join(out)
