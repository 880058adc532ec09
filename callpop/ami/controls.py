"""Call controls over AMI, for when ARI is not configured: click-to-dial (`Originate`)
and agent status (`QueuePause` with a `Reason`).

Each control is one non-idempotent AMI action on the connection of the instance that
holds this Asterisk's AMI lease (`callpop.ami.lease`). Asterisk's refusal (`Response:
Error`, e.g. "Permission denied" or "No such channel") becomes `ControlRefused` with
a message for the agent; so does a missing connection (no lease here, Asterisk down)
and a lost one (the action may have run: the agent is told to check, never resent).
"""

from __future__ import annotations

from collections.abc import Callable

from callpop.ami.client import (
    ActionFailed,
    ActionOutcomeUnknown,
    ActionTimeout,
    AMIClient,
    AMIError,
    NotConnected,
)
from callpop.ami.codec import Message
from screenpop.api import ControlError, OriginateError
from screenpop.keys import AgentStatus, Originate
from screenpop.store import Account

__all__ = ["AmiControls", "ControlRefused", "OutcomeUnknown", "panel_controls"]

# Asterisk 22's Originate runs the dial in the background with Async: the response
# says only "queued"; OriginateResponse (same ActionID) follows when the agent answers.
_DIAL_TIMEOUT_MS = 30_000


class ControlRefused(Exception):
    """The control did not reach Asterisk or Asterisk refused it; the text is for the agent."""


class OutcomeUnknown(ControlRefused):
    """The action was sent but its answer never came: it may have run."""


class AmiControls:
    """`client()` gives the logged-in AMI client of this instance, None when another
    instance holds the lease (then every control is refused with that reason)."""

    def __init__(self, client: Callable[[], AMIClient | None], *, context: str = "default"):
        self._client = client
        self._context = context

    async def originate(self, *, interface: str, number: str) -> str:
        """Ring the agent's `interface`; when answered, dial `number` in the agents'
        context. Returns the action's ActionID (the OriginateResponse carries it)."""
        response = await self._send(
            "Originate",
            [
                ("Channel", interface),
                ("Context", self._context),
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

    async def _send(self, name: str, fields: list[tuple[str, str]], *, what: str) -> Message:
        client = self._client()
        if client is None:
            raise ControlRefused(
                f"{what} failed: this server does not hold the Asterisk connection "
                "(another instance does); try again on a reload"
            )
        try:
            answer = await client.action(name, fields)
        except ActionFailed as exc:
            raise ControlRefused(
                f"{what} was refused by Asterisk: {exc.response.get('Message') or 'no reason'}"
            ) from None
        except ActionOutcomeUnknown:
            raise OutcomeUnknown(
                f"{what}: the connection to Asterisk dropped before it answered; "
                "check your phone before trying again"
            ) from None
        except NotConnected:
            raise ControlRefused(f"{what} failed: Asterisk is not connected") from None
        except ActionTimeout:
            raise OutcomeUnknown(f"{what}: Asterisk did not answer in time") from None
        except AMIError as exc:
            raise ControlRefused(f"{what} failed: {exc}") from None
        return answer[0]


def panel_controls(controls: AmiControls) -> tuple[Originate, AgentStatus]:
    """The panel's click-to-dial and agent status (`create_app(originate=...,
    agent_status=...)`) on `controls`: an agent's interface is the AMI `Channel` and
    `Interface`; a refusal becomes the error the API shows the agent."""

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

    return originate, agent_status
