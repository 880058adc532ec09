"""The simulator's answers to the state queries an AMI client sends after (re)connecting:
`QueueStatus`, `QueueSummary`, `CoreShowChannels` (queue-status-actions.txt).

Two sources:
- `RecordedAnswers` replays what the real Asterisk answered in a transcript, byte for
  byte, with the recording's ActionID swapped for the asking client's;
- `QueueBoard` answers from the scripted calls that are live now (`QueueCall`), in the
  recorded format and key order, so a listener that logs in mid-call (a takeover) sees
  the callers waiting, the members ringing and the agents talking.

Both plug into `AMIServer(answers=[...])`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callpop.ami.codec import Decoder, Message, encode_message
from callpop.pbx_sim.ami import read_transcript
from callpop.pbx_sim.ami_events import QueueCall, Snapshot

__all__ = [
    "QueueBoard",
    "QueueMemberSpec",
    "RecordedAnswers",
    "queue_entry",
    "queue_params",
    "recorded_actions",
]

Headers = list[tuple[str, str]]


def recorded_actions(path: Path) -> list[Message]:
    """The actions the recording client sent, from the transcript's comment block
    (`#   Action: X\\r\\nActionID: ...\\r\\n\\r\\n`)."""
    out: list[Message] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#   Action: "):
            continue
        wire = line.removeprefix("#   ").replace("\\r\\n", "\r\n").encode("utf-8")
        decoder = Decoder(expect_banner=False)
        decoder.receive_data(wire)
        item = decoder.next_event()
        if isinstance(item, Message):
            out.append(item)
    return out


def _key(action: Message) -> tuple[str, frozenset[tuple[str, str]]]:
    fields = frozenset(
        (k.lower(), v) for k, v in action.headers if k.lower() not in ("action", "actionid")
    )
    return (action.action or "").lower(), fields


class RecordedAnswers:
    """What Asterisk answered to each action of a transcript; an action with the same
    name and fields (ActionID aside) gets those bytes again."""

    def __init__(
        self, answers: dict[tuple[str, frozenset[tuple[str, str]]], tuple[str, bytes]]
    ) -> None:
        self._answers = answers

    @classmethod
    def from_transcript(
        cls,
        path: Path,
        names: tuple[str, ...] = ("QueueStatus", "QueueSummary", "CoreShowChannels"),
    ) -> RecordedAnswers:
        wanted = {n.lower() for n in names}
        frames = [f + b"\r\n\r\n" for f in read_transcript(path).split(b"\r\n\r\n") if f]
        answers = {}
        for action in recorded_actions(path):
            if (action.action or "").lower() not in wanted or action.action_id is None:
                continue
            marker = f"\r\nActionID: {action.action_id}\r\n".encode()
            answers[_key(action)] = (
                action.action_id,
                b"".join(f for f in frames if marker in f.replace(b"\r\n\r\n", b"\r\n")),
            )
        return cls(answers)

    def answer(self, action: Message) -> bytes | None:
        found = self._answers.get(_key(action))
        if found is None:
            return None
        recorded_id, data = found
        old = f"\r\nActionID: {recorded_id}\r\n".encode()
        new = (
            b"\r\n"
            if action.action_id is None
            else (f"\r\nActionID: {action.action_id}\r\n".encode())
        )
        return data.replace(old, new)


@dataclass(frozen=True, slots=True)
class QueueMemberSpec:
    queue: str
    location: str  # `Local/8100@agents/n`, `PJSIP/101`
    name: str

    @property
    def state_interface(self) -> str:
        return self.location.removesuffix("/n")


@dataclass
class QueueBoard:
    """The queues' members and the scripted calls live now. Tests `add` a call when it
    joins and `remove` it when it ends; the call's own steps say whether it waits,
    rings or talks (`QueueCall.stage`)."""

    members: list[QueueMemberSpec]
    clock: Callable[[], float] = time.time
    calls: list[QueueCall] = field(default_factory=list)
    talk_time_s: dict[str, int] = field(default_factory=dict)
    """Each queue's average talk time as `QueueParams` reports it (`TalkTime`; 0 if absent)."""

    def add(self, call: QueueCall) -> None:
        self.calls.append(call)

    def remove(self, call: QueueCall) -> None:
        self.calls.remove(call)

    def answer(self, action: Message) -> bytes | None:
        name = (action.action or "").lower()
        aid = action.action_id
        if name == "queuestatus":
            return self._queue_status(aid, action.get("Queue"))
        if name == "coreshowchannels":
            return self._channels(aid)
        return None

    def _live(self) -> list[QueueCall]:
        return [c for c in self.calls if c.stage in ("waiting", "ringing", "connected")]

    def _queue_status(self, aid: str | None, only: str | None) -> bytes:
        ident = [] if aid is None else [("ActionID", aid)]
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
        queues = list(dict.fromkeys(m.queue for m in self.members))
        items = 0
        for queue in queues:
            if only and queue != only:
                continue
            waiting = [c for c in self._live() if c.queue == queue and c.stage != "connected"]
            out.append(
                queue_params(
                    queue,
                    calls=len(waiting),
                    talk_time_s=self.talk_time_s.get(queue, 0),
                    ident=ident,
                )
            )
            items += 1
            for member in (m for m in self.members if m.queue == queue):
                in_call = any(
                    c.stage == "connected" and c.interface == member.location for c in self._live()
                )
                ringing = any(
                    c.stage == "ringing" and c.interface == member.location for c in self._live()
                )
                # Status: 1 not in use, 2 in use, 6 ringing (AST_DEVICE_*)
                status = "2" if in_call else "6" if ringing else "1"
                out.append(
                    encode_message(
                        [
                            ("Event", "QueueMember"),
                            ("Queue", queue),
                            ("Name", member.name),
                            ("Location", member.location),
                            ("StateInterface", member.state_interface),
                            ("Membership", "static"),
                            ("Penalty", "0"),
                            ("CallsTaken", "0"),
                            ("LastCall", "0"),
                            ("LastPause", "0"),
                            ("LoginTime", f"{int(self.clock())}"),
                            ("InCall", "1" if in_call else "0"),
                            ("Status", status),
                            ("Paused", "0"),
                            ("PausedReason", ""),
                            ("Wrapuptime", "0"),
                            *ident,
                        ]
                    )
                )
                items += 1
            for position, call in enumerate(waiting, 1):
                out.append(queue_entry(queue, position, call.caller, wait_s=1, ident=ident))
                items += 1
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
        rows: list[Headers] = []
        for call in self._live():
            bridge = f"bridge-{call.caller.uniqueid}" if call.stage == "connected" else ""
            rows.append(_channel(call.caller, "Queue", f"{call.queue},t", bridge))
            if call.stage in ("ringing", "connected") and call.legs:
                leg = call.leg
                state = 6 if call.stage == "connected" else 5
                rows.append(
                    _channel(leg.one.but(state=state), "AppQueue", "(Outgoing Line)", bridge)
                )
                if leg.two is not None:
                    rows.append(_channel(leg.two, "Wait", "30", ""))
        for row in rows:
            out.append(encode_message([("Event", "CoreShowChannel"), *ident, *row]))
        out.append(
            encode_message(
                [
                    ("Event", "CoreShowChannelsComplete"),
                    *ident,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(rows))),
                ]
            )
        )
        return b"".join(out)


def queue_params(
    queue: str, *, calls: int, talk_time_s: int, strategy: str = "ringall", ident: Headers
) -> bytes:
    """A queue's `QueueParams` in a `QueueStatus` answer (queue-status-actions.txt)."""
    return encode_message(
        [
            ("Event", "QueueParams"),
            ("Queue", queue),
            ("Max", "0"),
            ("Strategy", strategy),
            ("Calls", str(calls)),
            ("Holdtime", "0"),
            ("TalkTime", str(talk_time_s)),
            ("Completed", "0"),
            ("Abandoned", "0"),
            ("ServiceLevel", "0"),
            ("ServicelevelPerf", "0.0"),
            ("ServicelevelPerf2", "0.0"),
            ("Weight", "0"),
            *ident,
        ]
    )


def queue_entry(
    queue: str, position: int, caller: Snapshot, *, wait_s: int, ident: Headers
) -> bytes:
    """A caller waiting, as `QueueEntry` in a `QueueStatus` answer."""
    return encode_message(
        [
            ("Event", "QueueEntry"),
            ("Queue", queue),
            ("Position", str(position)),
            ("Channel", caller.channel),
            ("Uniqueid", caller.uniqueid),
            ("CallerIDNum", caller.caller_num),
            ("CallerIDName", caller.caller_name),
            ("ConnectedLineNum", caller.connected_num),
            ("ConnectedLineName", caller.connected_name),
            ("Wait", str(wait_s)),
            ("Priority", "0"),
            *ident,
        ]
    )


def _channel(chan: Snapshot, app: str, data: str, bridge: str) -> Headers:
    return [
        *chan.block(),
        ("Application", app),
        ("ApplicationData", data),
        ("Duration", "00:00:01"),
        ("BridgeId", bridge),
    ]
