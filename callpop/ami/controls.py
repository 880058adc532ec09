"""Call controls over AMI, for when ARI is not configured: click-to-dial (`Originate`),
agent status (`QueuePause` with a `Reason`) and transfers (`BlindTransfer`, `Atxfer`,
`Redirect`).

Transfers act on the channels AMI named when the agent answered (AgentConnect's
`DestChannel`, the agent's leg, and `Channel`, the caller's), kept in the hub's pop:
- blind: `BlindTransfer` of the agent's channel: Asterisk sends everything bridged to it
  (the caller) to `Exten`@`Context` and hangs up the agent's leg; the queue then reports
  AgentComplete with `Reason: transfer`, and the caller's new Dial or Queue pops there;
- attended: `Atxfer` of the agent's channel: Asterisk plays the `atxfer` feature code
  and the extension as DTMF on it (features.conf must define `atxfer`; the extension is
  digits), the agent talks to the target, and hanging up completes the transfer
  (AMI `AttendedTransfer`);
- `Redirect` of the caller's channel is the blind transfer when the agent's own channel
  is not known (the answer came from the `/connected` FastAGI route only).
Exchanges recorded in tests/fixtures/asterisk/ami/controls/.

Each control is one non-idempotent AMI action on the connection of the instance that
holds this Asterisk's AMI lease (`callpop.ami.lease`). Asterisk's refusal (`Response:
Error`, e.g. "Permission denied" or "No such channel") becomes `ControlRefused` with
a message for the agent; so does a missing connection (no lease here, Asterisk down)
and a lost one (the action may have run: the agent is told to check, never resent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from callpop.ami.client import (
    ActionFailed,
    ActionOutcomeUnknown,
    ActionTimeout,
    AMIClient,
    AMIError,
    NotConnected,
)
from callpop.ami.codec import Message
from callpop.ami.relay import ControlRelay, NoHolder, RelayTimeout
from callpop.asterisk_config import AGENTS_CONTEXT, QUEUES_CONTEXT
from screenpop.controls import ControlError, OriginateError
from screenpop.keys import AgentStatus, CallChannels, Originate, Transfer, TransferTarget
from screenpop.store import Account

__all__ = [
    "DIAL_CONTEXT",
    "DIAL_OUTCOME_WAIT_S",
    "AmiControls",
    "ControlRefused",
    "OutcomeUnknown",
    "PanelControls",
    "panel_controls",
    "transfer_destination",
]

# Asterisk 22's Originate runs the dial in the background with Async: the response
# says only "queued"; OriginateResponse (same ActionID) follows when the agent answers,
# or when their phone fails, rings out (`Timeout`) or is busy (callpop/ami/dials.py).
_DIAL_TIMEOUT_MS = 30_000
# How long the agent's panel waits for that OriginateResponse before saying the outcome
# is unknown: the ring time, and a margin for a slow PBX or a relayed event.
DIAL_OUTCOME_WAIT_S = _DIAL_TIMEOUT_MS / 1000 + 10.0
# The context click-to-dial runs the number in: `asterisk-config`'s internal context.
DIAL_CONTEXT = "default"


_NO_CHANNEL = (
    "Asterisk has not told this server which channel your call is on "
    "(was AMI down when you answered?); transfer it from your phone"
)


class ControlRefused(Exception):
    """The control did not reach Asterisk or Asterisk refused it; the text is for the agent."""


class OutcomeUnknown(ControlRefused):
    """The action was sent but its answer never came: it may have run."""


class AmiControls:
    """`client()` gives the logged-in AMI client of this instance, None when another
    instance holds the lease: then a control goes through `relay` to the holder
    (`callpop.ami.relay`, several instances on Redis), or is refused with that reason."""

    def __init__(
        self,
        client: Callable[[], AMIClient | None],
        *,
        context: str = DIAL_CONTEXT,
        relay: ControlRelay | None = None,
    ):
        self._client = client
        self._relay = relay
        self.context = context  # the agents' context: click-to-dial and numbers

    async def originate(self, *, interface: str, number: str) -> str:
        """Ring the agent's `interface`; when answered, dial `number` in the agents'
        context. Returns the action's ActionID (the OriginateResponse carries it)."""
        response = await self._send(
            "Originate",
            [
                ("Channel", interface),
                ("Context", self.context),
                ("Exten", number),
                ("Priority", "1"),
                ("CallerID", number),
                ("Timeout", str(_DIAL_TIMEOUT_MS)),
                ("Async", "true"),
            ],
            what=f"calling {number}",
        )
        return response.action_id or ""

    async def place_callback(
        self,
        *,
        interface: str,
        number: str,
        context: str,
        channel_id: str,
        ring_s: int,
        variables: tuple[tuple[str, str], ...] = (),
    ) -> str:
        """Ring the agent's `interface` first; once answered, its leg runs `number` in
        `context`, whose extension dials the customer (docs/admin.md, "Callbacks").
        `channel_id` becomes the agent leg's Uniqueid, so every event of the attempt
        (OriginateResponse, DialEnd, Hangup) names it. Returns the ActionID."""
        fields = [
            ("Channel", interface),
            ("Context", context),
            ("Exten", number),
            ("Priority", "1"),
            ("CallerID", f'"Callback" <{number}>'),
            ("Timeout", str(ring_s * 1000)),
            ("ChannelId", channel_id),
            ("Async", "true"),
        ]
        fields.extend(("Variable", f"{name}={value}") for name, value in variables)
        response = await self._send("Originate", fields, what=f"calling back {number}")
        return response.action_id or ""

    async def pause(self, *, interface: str, paused: bool, reason: str = "") -> None:
        """`QueuePause` in every queue the interface is a member of (no `Queue`)."""
        fields = [("Interface", interface), ("Paused", "true" if paused else "false")]
        if reason:
            fields.append(("Reason", reason))
        await self._send("QueuePause", fields, what="changing your status")

    async def transfer(
        self,
        *,
        channel: str,
        caller_channel: str,
        exten: str,
        context: str,
        attended: bool,
        what: str,
    ) -> None:
        """Transfer the call the agent is on (`channel`, bridged with `caller_channel`)
        to `exten`@`context`; `what` names the target for the agent's message."""
        if attended:
            if not channel:
                raise ControlRefused(f"{what} failed: {_NO_CHANNEL}")
            await self._send(
                "Atxfer",
                [("Channel", channel), ("Exten", exten), ("Context", context)],
                what=what,
            )
        elif channel:
            await self._send(
                "BlindTransfer",
                [("Channel", channel), ("Context", context), ("Exten", exten)],
                what=what,
            )
        elif caller_channel:
            await self._send(
                "Redirect",
                [
                    ("Channel", caller_channel),
                    ("Exten", exten),
                    ("Context", context),
                    ("Priority", "1"),
                ],
                what=what,
            )
        else:
            raise ControlRefused(f"{what} failed: {_NO_CHANNEL}")

    async def _send(self, name: str, fields: list[tuple[str, str]], *, what: str) -> Message:
        client = self._client()
        if client is None and self._relay is None:
            raise ControlRefused(
                f"{what} failed: this server does not hold the Asterisk connection "
                "(another instance does); try again on a reload"
            )
        try:
            if client is not None:
                return (await client.action(name, fields))[0]
            assert self._relay is not None
            return await self._relay.action(name, fields)
        except ActionFailed as exc:
            raise ControlRefused(
                f"{what} was refused by Asterisk: {exc.response.get('Message') or 'no reason'}"
            ) from None
        except RelayTimeout:
            raise OutcomeUnknown(
                f"{what}: the callpop instance connected to Asterisk did not answer in time; "
                "check your phone before trying again"
            ) from None
        except ActionOutcomeUnknown:
            raise OutcomeUnknown(
                f"{what}: the connection to Asterisk dropped before it answered; "
                "check your phone before trying again"
            ) from None
        except NoHolder:
            raise ControlRefused(
                f"{what} failed: no callpop instance is connected to Asterisk now; "
                "try again in a moment"
            ) from None
        except NotConnected:
            raise ControlRefused(f"{what} failed: Asterisk is not connected") from None
        except ActionTimeout:
            raise OutcomeUnknown(f"{what}: Asterisk did not answer in time") from None
        except AMIError as exc:
            raise ControlRefused(f"{what} failed: {exc}") from None


def transfer_destination(
    target: TransferTarget, *, attended: bool, context: str, international_prefix: str
) -> tuple[str, str]:
    """(Exten, Context) of a transfer target in the dialplan `asterisk-config` emits:
    an agent's `PJSIP/NNN` is NNN in callpop-agents (a `Local/NNN@CTX/n` member NNN in
    CTX), a queue its name in callpop-queues, a number the agents' `context` (as
    click-to-dial). Atxfer dials by DTMF: a number's `+` is the international prefix."""
    if target.kind == "queue":
        if attended:
            raise ControlRefused("an attended transfer goes to an agent or a number")
        return target.name, QUEUES_CONTEXT
    if target.kind == "number":
        number = target.name
        if attended and number.startswith("+"):
            number = international_prefix + number[1:]
        return number, context
    interface = target.interface.removesuffix("/n")
    tech, _, resource = interface.partition("/")
    if tech == "Local":
        exten, _, local_context = resource.partition("@")
        if exten.isdigit() and local_context:
            return exten, local_context
    elif tech == "PJSIP" and resource.isdigit():
        return resource, AGENTS_CONTEXT
    raise ControlRefused(
        f"{target.name}'s phone ({target.interface}) has no extension a transfer can dial: "
        "transfer to their number instead"
    )


class PanelControls(NamedTuple):
    originate: Originate
    agent_status: AgentStatus
    transfer: Transfer


def panel_controls(controls: AmiControls, *, international_prefix: str = "00") -> PanelControls:
    """The panel's click-to-dial, agent status and transfers (`create_app(originate=...,
    agent_status=..., transfer=...)`) on `controls`: an agent's interface is the AMI
    `Channel` and `Interface`; a refusal becomes the error the API shows the agent."""

    async def originate(*, agent: Account, number: str) -> str:
        try:
            return await controls.originate(interface=agent.interface, number=number)
        except ControlRefused as exc:
            raise OriginateError(str(exc)) from None

    async def agent_status(*, agent: Account, paused: bool, reason: str) -> None:
        try:
            await controls.pause(interface=agent.interface, paused=paused, reason=reason)
        except ControlRefused as exc:
            raise ControlError(str(exc)) from None

    async def transfer(
        *, agent: Account, channels: CallChannels, target: TransferTarget, attended: bool
    ) -> None:
        what = f"transferring the call to {target.name}"
        try:
            exten, context = transfer_destination(
                target,
                attended=attended,
                context=controls.context,
                international_prefix=international_prefix,
            )
            await controls.transfer(
                channel=channels.channel,
                caller_channel=channels.caller_channel,
                exten=exten,
                context=context,
                attended=attended,
                what=what,
            )
        except ControlRefused as exc:
            raise ControlError(str(exc)) from None

    return PanelControls(originate, agent_status, transfer)
