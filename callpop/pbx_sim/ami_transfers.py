"""Transfers on the AMI simulator, answered and reported as Asterisk 22 does.

`Transfers` answers `BlindTransfer`, `Atxfer` and `Redirect` for the scripted queue
calls it is given (`QueueCall`, connected), then emits what follows on the wire, in
the order of tests/fixtures/asterisk/ami/controls/ (assembled from Asterisk 22's AMI
documentation and manager.c's answers; no live recording of a transfer exists):

- `BlindTransfer` of the agent's channel: `Response: Success` / `Message: Transfer
  succeeded`, then the `BlindTransfer` event (`Transferer*` the agent's leg,
  `Transferee*` the caller, the bridge, `IsExternal`, `Context`, `Extension`), the
  queue's `AgentComplete` with `Reason: transfer`, the agent leg's `Hangup`, and the
  caller's new `Dial` to the target (DialBegin, DialState RINGING; DialEnd ANSWER when
  `answer` is called or at once with `auto_answer`);
- `Atxfer`: `Message: Atxfer successfully queued`; `complete_attended` then plays the
  agent hanging up on the consultation: `AttendedTransfer` (`DestType: Bridge`),
  `AgentComplete` `Reason: transfer`, the agent's legs' `Hangup`;
- `Redirect` of the caller's channel: `Message: Redirect successful`, the agent leg's
  `Hangup` (its bridge partner left), the caller's Dial as above;
- a channel that is not a connected agent leg (or caller, for Redirect):
  `Response: Error` with manager.c's words (`Channel specified does not exist`,
  `Channel does not exist: NAME`).

`route(exten, context)` says which interface a destination dials; None: the simulator
plays nothing more for the caller (a queue destination, whose events the test or the
demo plays with a new `QueueCall`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from callpop.ami.codec import Message
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import DirectDial, Headers, QueueCall, Snapshot, Writer, hangup

__all__ = [
    "Transfers",
    "attended_transfer_event",
    "blind_transfer_event",
    "bridge_block",
    "transferred_out",
]

Route = Callable[[str, str], str | None]


def bridge_block(uniqueid: str, prefix: str = "Bridge", channels: int = 2) -> Headers:
    """A basic two-party bridge as AMI describes one (`BridgeUniqueid` ... `VideoSourceMode`)."""
    p = prefix
    return [
        (f"{p}Uniqueid", uniqueid),
        (f"{p}Type", "basic"),
        (f"{p}Technology", "simple_bridge"),
        (f"{p}Creator", "<unknown>"),
        (f"{p}Name", "<unknown>"),
        (f"{p}NumChannels", str(channels)),
        (f"{p}VideoSourceMode", "none"),
    ]


def blind_transfer_event(
    w: Writer, transferer: Snapshot, transferee: Snapshot, bridge: str, exten: str, context: str
) -> bytes:
    """The `BlindTransfer` event: `transferer` (the agent's leg) sent `transferee` (the
    caller), bridged in `bridge`, to `exten`@`context`."""
    return w.event(
        "BlindTransfer",
        "call,all",
        [("Result", "Success")],
        transferer.block("Transferer"),
        transferee.block("Transferee"),
        bridge_block(bridge),
        [("IsExternal", "No"), ("Context", context), ("Extension", exten)],
    )


def attended_transfer_event(
    w: Writer,
    *,
    transferer: Snapshot,
    consult: Snapshot,
    transferee: Snapshot,
    target: Snapshot,
    bridge: str,
) -> bytes:
    """The `AttendedTransfer` event when the agent (`transferer`, bridged with the
    caller `transferee` in `bridge`) hangs up on the consultation (`consult`, talking to
    `target`): Asterisk bridges the caller with the target (`DestType: Bridge`)."""
    return w.event(
        "AttendedTransfer",
        "call,all",
        [("Result", "Success")],
        transferer.block("OrigTransferer"),
        bridge_block(bridge, "OrigBridge"),
        consult.block("SecondTransferer"),
        bridge_block(f"consult-{bridge}", "SecondBridge"),
        transferee.block("Transferee"),
        target.block("TransferTarget"),
        [("IsExternal", "No"), ("DestType", "Bridge"), ("DestBridgeUniqueid", bridge)],
    )


def transferred_out(call: QueueCall, hold_s: int = 1, talk_s: int = 1) -> list[bytes]:
    """app_queue's AgentComplete `Reason: transfer`, then the agent's legs hang up."""
    w, leg = call.writer, call.leg
    call.stage = "ended"
    out = [
        w.event(
            "AgentComplete",
            "agent,all",
            call.caller.block(),
            leg.one.block("Dest"),
            [
                ("Queue", call.queue),
                ("Interface", call.interface),
                ("MemberName", call.member_name),
            ],
            [("HoldTime", str(hold_s)), ("TalkTime", str(talk_s)), ("Reason", "transfer")],
        ),
        hangup(w, leg.one, 16),
    ]
    if leg.two is not None:
        out.append(hangup(w, leg.two, 16))
    return out


@dataclass
class Transfers:
    """Registers itself as the simulator's responder for the three transfer actions."""

    server: AMIServer
    route: Route
    auto_answer: bool = True
    calls: list[QueueCall] = field(default_factory=list)
    dials: dict[str, DirectDial] = field(default_factory=dict)  # caller channel -> new dial
    consulting: dict[str, tuple[QueueCall, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server.responders["BlindTransfer"] = self._blind
        self.server.responders["Atxfer"] = self._atxfer
        self.server.responders["Redirect"] = self._redirect

    def add(self, call: QueueCall) -> None:
        self.calls.append(call)

    def answer(self, caller_channel: str) -> None:
        """The transfer target picks up: the caller's Dial ends `ANSWER`."""
        self.server.emit(self.dials[caller_channel].end("ANSWER"))

    def complete_attended(self, channel: str, target: Snapshot) -> None:
        """The agent of `channel` hangs up after consulting `target` (the channel that
        answered the consultation): Asterisk bridges the caller with it."""
        call, exten, context = self.consulting.pop(channel)
        w, leg = call.writer, call.leg
        consult = leg.one.but(
            channel=f"{leg.one.channel}-consult",
            uniqueid=call.ids.uniqueid(),
            exten=exten,
            context=context,
        )
        events = [
            attended_transfer_event(
                w,
                transferer=leg.one,
                consult=consult,
                transferee=call.caller,
                target=target,
                bridge=f"bridge-{call.call_id}",
            ),
            *transferred_out(call),
        ]
        self.calls.remove(call)
        self.server.emit(events)

    # --- responders ----------------------------------------------------------------

    def _connected(self, channel: str) -> QueueCall | None:
        return next(
            (c for c in self.calls if c.stage == "connected" and c.leg.one.channel == channel),
            None,
        )

    def _blind(self, action: Message) -> list[list[tuple[str, str]]]:
        call = self._connected(action.get("Channel") or "")
        if call is None:
            return [[("Response", "Error"), ("Message", "Channel specified does not exist")]]
        exten, context = action.get("Exten") or "", action.get("Context") or ""
        event = blind_transfer_event(
            call.writer, call.leg.one, call.caller, f"bridge-{call.call_id}", exten, context
        )
        self._later([event, *transferred_out(call), *self._dial_on(call, exten, context)])
        return [[("Response", "Success"), ("Message", "Transfer succeeded")]]

    def _atxfer(self, action: Message) -> list[list[tuple[str, str]]]:
        channel = action.get("Channel") or ""
        call = self._connected(channel)
        if call is None:
            return [[("Response", "Error"), ("Message", "Channel specified does not exist")]]
        self.consulting[channel] = (call, action.get("Exten") or "", action.get("Context") or "")
        return [[("Response", "Success"), ("Message", "Atxfer successfully queued")]]

    def _redirect(self, action: Message) -> list[list[tuple[str, str]]]:
        channel = action.get("Channel") or ""
        call = next(
            (c for c in self.calls if c.stage == "connected" and c.caller.channel == channel),
            None,
        )
        if call is None:
            return [[("Response", "Error"), ("Message", f"Channel does not exist: {channel}")]]
        exten, context = action.get("Exten") or "", action.get("Context") or ""
        legs = [hangup(call.writer, call.leg.one, 16)]
        if call.leg.two is not None:
            legs.append(hangup(call.writer, call.leg.two, 16))
        call.stage = "ended"
        self.calls.remove(call)
        self._later([*legs, *self._dial_on(call, exten, context)])
        return [[("Response", "Success"), ("Message", "Redirect successful")]]

    # --- what follows ---------------------------------------------------------------

    def _dial_on(self, call: QueueCall, exten: str, context: str) -> list[bytes]:
        if call in self.calls:
            self.calls.remove(call)
        interface = self.route(exten, context)
        caller = call.caller.but(context=context, exten=exten, priority=1)
        if interface is None:
            return []
        dial = DirectDial(caller, interface, call.ids, call.writer)
        self.dials[caller.channel] = dial
        out = dial.begin()
        if self.auto_answer:
            out += dial.end("ANSWER")
        return out

    def _later(self, events: list[bytes]) -> None:
        # after the response, which the server writes once the responder returns
        asyncio.get_running_loop().call_soon(self.server.emit, events)
