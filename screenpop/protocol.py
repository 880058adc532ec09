"""The panel protocol spoken over `/ws`, sans-I/O (as wsproto: no socket, no clock).

The hub owns the websocket; this module turns its text frames into typed client
messages, builds the server's frames, and tracks the two things the protocol itself
requires: `hello` comes first, and a peer that says nothing for too long is dead.

Client -> server (JSON objects, one per text frame):
    {"type": "hello", "since": SEQ, "epoch": "...", "view": "panel" | "wallboard",
     "pop_on": "ring" | "answer"}
        first and once; `since` is the last `seq` the page saw (0 or absent: none),
        `epoch` the hub instance it saw it from (seqs of another instance mean nothing),
        `pop_on` the agent's preference as this browser remembers it (optional)
    {"type": "prefs", "pop_on": "ring" | "answer"}   the agent changed the preference
    {"type": "notes", "call_id": "...", "notes": "..."}  draft notes, autosaved
    {"type": "focus"}     this tab is the one the agent looks at: it alone alerts
    {"type": "control", "id": "...", "action": "status" | "transfer" | "dial", ...}
        a call control (the widget's way to the panel's POSTs: `screenpop.controls`);
        the other fields are the POST's body (a transfer's `call_id` among them); `id`
        (at most 64 characters) comes back in the answer; at most 4 unanswered at once
    {"type": "ping"} / {"type": "pong"}

Server -> client:
    {"type": "welcome", "epoch", "seq", "agent": {...}, "pop_on", "heartbeat_s"}
    {"type": "reset", "seq"}         forget every pop: the current ones follow
    {"type": "pop.offered" | "pop.accepted" | "pop.updated" | "pop.retracted" |
     "pop.wrapup" | "pop.done", "seq", "pop": {...}}
    {"type": "alert", "alerting": bool}   whether this tab rings for new offers
    {"type": "prefs", "pop_on": "ring" | "answer"}
    {"type": "wallboard", "board": {...}}
    {"type": "token", "token": "..."}    a fresh embed token (widget sockets only)
    {"type": "agent.status", "status": "ready" | "break" | "acw", "reason"}   the agent's
        status as the PBX reports it (a pause made here, on a phone, by a supervisor),
        after welcome when known and whenever it changes
    {"type": "controls", "status": bool, "pause_reasons": [...], "dial": bool,
     "transfer": {"enabled", "queues", "agents"}, "wrapup_s": {queue: s}}   the controls
        this server can send
        (widget sockets, after welcome; the panel has them in its page)
    {"type": "control.result", "id", "ok": true, ...the POST's answer} or
    {"type": "control.result", "id", "ok": false, "status": HTTP status, "error",
     "field"?}   the answer to a `control`, with the POST's words
    {"type": "bus", "state": "reconnecting" | "live"}  pop changes cannot reach this
        server now (Redis down; shown as a banner) / they do again
    {"type": "ping"} / {"type": "pong"}
    {"type": "error", "message"}     then the server closes
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

__all__ = [
    "AFTER_CALL_WORK",
    "MAX_FRAME_CHARS",
    "MAX_NOTES_CHARS",
    "POP_EVENT_TYPES",
    "ClientMessage",
    "Control",
    "Dead",
    "Focus",
    "Hello",
    "LocalProtocolError",
    "Notes",
    "PanelProtocol",
    "Ping",
    "Pong",
    "PopOn",
    "Prefs",
    "ProtocolState",
    "RemoteProtocolError",
    "SendPing",
    "dial_outcome_message",
    "encode_pop_event",
    "error_frame",
]

# QueuePause's Reason for after-call work; any other pause is a break with its reason.
AFTER_CALL_WORK = "After-call work"
MAX_FRAME_CHARS = 16_384
MAX_NOTES_CHARS = 8_000
MAX_CALL_ID_CHARS = 128
POP_EVENT_TYPES = frozenset(
    {"pop.offered", "pop.accepted", "pop.updated", "pop.retracted", "pop.wrapup", "pop.done"}
)
# WebSocket close code 1008: "policy violation", the generic code for a peer that
# broke the application's rules (RFC 6455 7.4.1).
POLICY_VIOLATION = 1008


class RemoteProtocolError(Exception):
    """The browser broke the protocol; close the socket with `code`."""

    def __init__(self, message: str, code: int = POLICY_VIOLATION) -> None:
        super().__init__(message)
        self.code = code


class LocalProtocolError(Exception):
    """The server tried something the protocol forbids (a bug in the hub)."""


class ProtocolState(Enum):
    AWAITING_HELLO = "awaiting_hello"
    OPEN = "open"
    CLOSED = "closed"


PopOn = Literal["ring", "answer"]


@dataclass(frozen=True, slots=True)
class Hello:
    since: int
    epoch: str | None
    view: Literal["panel", "wallboard"]
    pop_on: PopOn | None = None


@dataclass(frozen=True, slots=True)
class Prefs:
    pop_on: PopOn


@dataclass(frozen=True, slots=True)
class Notes:
    call_id: str
    notes: str


@dataclass(frozen=True, slots=True)
class Focus:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Control:
    """A call control: `args` is what the panel POSTs (checked by `screenpop.controls`)."""

    id: str
    action: str
    args: dict[str, Any]


ClientMessage = Hello | Notes | Prefs | Focus | Ping | Pong | Control


@dataclass(frozen=True, slots=True)
class SendPing:
    """`tick` says: send the heartbeat now."""

    frame: str


@dataclass(frozen=True, slots=True)
class Dead:
    """`tick` says: the peer has been silent too long; close the socket."""

    silent_s: float


def _parse(text: str) -> ClientMessage:
    if len(text) > MAX_FRAME_CHARS:
        raise RemoteProtocolError(
            f"frame of {len(text)} characters, the limit is {MAX_FRAME_CHARS}", code=1009
        )
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise RemoteProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("a message is a JSON object")
    kind = obj.get("type")
    if kind == "hello":
        since = obj.get("since", 0)
        if since is None:
            since = 0
        # bool is an int in Python; `true` is not a sequence number
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise RemoteProtocolError("hello.since is a non-negative integer")
        epoch = obj.get("epoch")
        if epoch is not None and (not isinstance(epoch, str) or len(epoch) > 64):
            raise RemoteProtocolError("hello.epoch is a short string")
        view = obj.get("view", "panel")
        if view not in ("panel", "wallboard"):
            raise RemoteProtocolError("hello.view is panel or wallboard")
        pop_on = obj.get("pop_on")
        if pop_on not in (None, "ring", "answer"):
            raise RemoteProtocolError("hello.pop_on is ring or answer")
        return Hello(since, epoch, view, pop_on)
    if kind == "notes":
        call_id, notes = obj.get("call_id"), obj.get("notes")
        if not isinstance(call_id, str) or not 0 < len(call_id) <= MAX_CALL_ID_CHARS:
            raise RemoteProtocolError("notes.call_id is a call id")
        if not isinstance(notes, str) or len(notes) > MAX_NOTES_CHARS:
            raise RemoteProtocolError(
                f"notes.notes is text of at most {MAX_NOTES_CHARS} characters"
            )
        return Notes(call_id, notes)
    if kind == "prefs":
        pop_on = obj.get("pop_on")
        if pop_on not in ("ring", "answer"):
            raise RemoteProtocolError("prefs.pop_on is ring or answer")
        return Prefs(pop_on)
    if kind == "focus":
        return Focus()
    if kind == "control":
        control_id, action = obj.get("id"), obj.get("action")
        if not isinstance(control_id, str) or not 0 < len(control_id) <= 64:
            raise RemoteProtocolError("control.id is a string of 1 to 64 characters")
        if not isinstance(action, str) or not 0 < len(action) <= 20:
            raise RemoteProtocolError("control.action is a short string")
        args = {k: v for k, v in obj.items() if k not in ("type", "id", "action")}
        return Control(control_id, action, args)
    if kind == "ping":
        return Ping()
    if kind == "pong":
        return Pong()
    raise RemoteProtocolError(f"unknown message type {str(kind)[:40]!r}")


def _dump(obj: Mapping[str, Any]) -> str:
    # compact separators: at 100 calls/s to 500 agents every byte is sent many times
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class PanelProtocol:
    """One websocket's protocol state. `now` values are seconds on any monotonic clock.

    The server pings every `heartbeat_s`; a peer silent for `dead_after` heartbeats
    (any message counts, the pong included) is dead. The browser runs the same rule
    the other way, which is how a page notices a half-open connection and reconnects.
    """

    def __init__(self, *, now: float, heartbeat_s: float = 20.0, dead_after: float = 2.5) -> None:
        if heartbeat_s <= 0 or dead_after <= 1:
            raise ValueError("heartbeat_s > 0 and dead_after > 1")
        self.heartbeat_s = heartbeat_s
        self._dead_s = heartbeat_s * dead_after
        self._last_in = now
        self._last_ping = now
        self.state = ProtocolState.AWAITING_HELLO
        self.hello: Hello | None = None

    def receive(self, text: str, *, now: float) -> ClientMessage:
        """Parse one text frame from the browser. Raises `RemoteProtocolError`
        (and the protocol is then closed) for anything but a valid message in order."""
        if self.state is ProtocolState.CLOSED:
            raise LocalProtocolError("receive after close")
        try:
            message = _parse(text)
            if self.state is ProtocolState.AWAITING_HELLO and not isinstance(
                message, Hello | Ping | Pong
            ):
                raise RemoteProtocolError("the first message is hello")
            if self.state is ProtocolState.OPEN and isinstance(message, Hello):
                raise RemoteProtocolError("hello was already sent")
        except RemoteProtocolError:
            self.state = ProtocolState.CLOSED
            raise
        self._last_in = now
        if isinstance(message, Hello):
            self.hello = message
            self.state = ProtocolState.OPEN
        return message

    def tick(self, *, now: float) -> SendPing | Dead | None:
        """What the heartbeat needs at `now`: a ping to send, the peer declared dead,
        or nothing. Call it at least every `heartbeat_s / 2`."""
        if self.state is ProtocolState.CLOSED:
            return None
        silent = now - self._last_in
        if silent >= self._dead_s:
            self.state = ProtocolState.CLOSED
            return Dead(silent)
        if now - self._last_ping >= self.heartbeat_s:
            self._last_ping = now
            return SendPing(_dump({"type": "ping"}))
        return None

    def close(self) -> None:
        self.state = ProtocolState.CLOSED

    # --- server frames ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state is not ProtocolState.OPEN:
            raise LocalProtocolError(f"cannot send in state {self.state.value}")

    def welcome(self, *, epoch: str, seq: int, agent: Mapping[str, Any], pop_on: str) -> str:
        self._check_open()
        return _dump(
            {
                "type": "welcome",
                "epoch": epoch,
                "seq": seq,
                "agent": dict(agent),
                "pop_on": pop_on,
                "heartbeat_s": self.heartbeat_s,
            }
        )

    def reset(self, *, seq: int) -> str:
        self._check_open()
        return _dump({"type": "reset", "seq": seq})

    def pop_event(self, kind: str, *, seq: int, pop: Mapping[str, Any]) -> str:
        self._check_open()
        if kind not in POP_EVENT_TYPES:
            raise LocalProtocolError(f"{kind!r} is not a pop event")
        return _dump({"type": kind, "seq": seq, "pop": pop})

    def alert(self, alerting: bool) -> str:
        self._check_open()
        return _dump({"type": "alert", "alerting": alerting})

    def prefs(self, pop_on: str) -> str:
        self._check_open()
        return _dump({"type": "prefs", "pop_on": pop_on})

    def wallboard(self, board: Mapping[str, Any]) -> str:
        self._check_open()
        return _dump({"type": "wallboard", "board": board})

    def bus_state(self, up: bool) -> str:
        """`reconnecting` while pop changes cannot reach this server (Redis down), `live`
        once they do again (what was missed follows)."""
        self._check_open()
        return _dump({"type": "bus", "state": "live" if up else "reconnecting"})

    def token(self, token: str) -> str:
        self._check_open()
        return _dump({"type": "token", "token": token})

    def agent_status(self, status: str, reason: str) -> str:
        self._check_open()
        return _dump({"type": "agent.status", "status": status, "reason": reason})

    def dial_result(self, call: str, number: str, outcome: str) -> str:
        """What became of a click-to-dial (`outcome`, `message` the words for the agent)."""
        self._check_open()
        frame = {
            "type": "dial.result",
            "call": call,
            "number": number,
            "outcome": outcome,
            "message": dial_outcome_message(outcome, number),
        }
        return _dump(frame)

    def controls(self, offer: Mapping[str, Any]) -> str:
        self._check_open()
        return _dump({**offer, "type": "controls"})

    def control_result(self, control_id: str, answer: Mapping[str, Any]) -> str:
        """`answer`: the POST's JSON answer, with `ok` (and `status` when refused)."""
        self._check_open()
        return _dump({**answer, "type": "control.result", "id": control_id})

    def pong(self) -> str:
        if self.state is ProtocolState.CLOSED:
            raise LocalProtocolError("cannot send after close")
        return _dump({"type": "pong"})


# What the agent reads about their click-to-dial (`dial.result`; callpop/ami/dials.py).
_DIAL_OUTCOMES = {
    "connected": "Connected: your phone answered and is calling {number}",
    "offline": "Your phone is offline or unreachable: {number} was not called",
    "no_answer": "Your phone did not answer: {number} was not called",
    "busy": "Your phone is busy: {number} was not called",
    "hung_up": "Your phone hung up before the call started: {number} was not called",
    "congestion": "The PBX could not reach your phone (congestion): {number} was not called",
    "failed": "Your phone did not take the call: {number} was not called",
    "unknown": "The PBX has not said whether your phone took the call to {number}: "
    "check your phone before trying again",
}


def dial_outcome_message(outcome: str, number: str) -> str:
    """One line for the agent about their click-to-dial to `number`."""
    words = _DIAL_OUTCOMES.get(outcome, _DIAL_OUTCOMES["failed"])
    return words.format(number=number or "the number")


def error_frame(message: str) -> str:
    """The last frame before the server closes (valid in any state)."""
    return _dump({"type": "error", "message": message})


def encode_pop_event(kind: str, seq: int, pop: Mapping[str, Any]) -> str:
    """A pop event frame, encoded once and sent to every tab of the agent."""
    if kind not in POP_EVENT_TYPES:
        raise LocalProtocolError(f"{kind!r} is not a pop event")
    return _dump({"type": kind, "seq": seq, "pop": pop})
