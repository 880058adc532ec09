"""The `pin` node: the caller's PIN, checked by the CRM for the customer identified so
far. docs/dialplan.md ("Checking a PIN") has the admin's view.

The digits are collected as a sensitive entry and handed to the services in one
`CheckPin`; they are kept nowhere (not in `vars`, so no prompt or condition can read
them), and the journey records `PIN_SHOWN` for each entry. Whether a PIN is right is
the CRM's answer, never the flow's: the node has no PIN to compare with, and the
count of wrong PINs that locks a customer lives with the PIN (crm_adapter/pins.py),
across calls. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ivr.actions import PIN_SHOWN, CheckPin, Collect, Spoken
from ivr.call import Call, Next, Wait
from ivr.callflow import PinNode
from ivr.events import DigitsEntered, PinChecked, PinStatus

__all__ = ["ENTER_PIN_STEPS", "pin_checked", "pin_digits"]

_ASKED = Wait("pin")
_CHECKING = Wait("pin-check")


def _enter_pin(call: Call, node: PinNode) -> Next:
    if not call.customer_id:
        # Nobody identified (not found, several sharing the number, the CRM down):
        # there is no one whose PIN this could be.
        call.leave("no-customer")
        return (call.here.flow, node.failed)
    call.buffer = ""  # keys typed before the question are not a PIN
    _ask(call, node, ())
    return None


def _ask(call: Call, node: PinNode, lead: tuple[Spoken, ...]) -> None:
    settings = call.settings()
    call.emit_wait(
        Collect(
            prompts=lead + call.prompts(node.prompts),
            max_digits=node.max_digits,
            min_digits=node.min_digits,
            timeout_ms=node.timeout or settings.timeout,
            interdigit_ms=node.interdigit_timeout or settings.interdigit_timeout,
            terminator=node.terminator,
            sensitive=True,
            pin=True,
        ),
        _ASKED,
    )


def _node(call: Call) -> PinNode:
    node = call.here.node
    assert isinstance(node, PinNode)
    return node


def pin_digits(call: Call, event: DigitsEntered) -> Next:
    """The answer to the PIN's Collect."""
    node = _node(call)
    step = call.here.step
    if not event.digits:
        # Silence, or the terminator alone: no PIN was given, and nothing is shown.
        step.timeouts += 1
        return _again(call, node, ())
    step.keys.append(PIN_SHOWN)
    pin = event.digits
    if not (pin.isdigit() and node.min_digits <= len(pin) <= node.max_digits):
        # Not a PIN at all (too short, a star): wrong without asking the CRM, and
        # without counting against the customer's lockout.
        step.invalid += 1
        return _again(call, node, call.prompts(node.wrong_prompts))
    call.emit_wait(CheckPin(call.customer_id, pin), _CHECKING)
    return None


def pin_checked(call: Call, event: PinChecked) -> Next:
    """The CRM's answer to `CheckPin`."""
    node = _node(call)
    flow = call.here.flow
    status = event.status
    if status is PinStatus.VERIFIED:
        # The warning (an account not the caller ID's) stays: the agent still sees it.
        call.identified("pin", call.customer_id, call.journey.identity_warning)
        call.leave("verified")
        return (flow, node.verified)
    if status is PinStatus.WRONG:
        call.here.step.invalid += 1
        return _again(call, node, call.prompts(node.wrong_prompts))
    if status is PinStatus.LOCKED:
        call.reason = "pin-locked"
        call.leave("locked")
        return (flow, node.failed)
    if status is PinStatus.NO_PIN:
        call.leave("no-pin")
        return (flow, node.no_pin or node.failed)
    call.leave("unavailable")
    return (flow, node.unavailable or node.failed)


def _again(call: Call, node: PinNode, lead: tuple[Spoken, ...]) -> Next:
    step = call.here.step
    if step.invalid + step.timeouts >= node.max_attempts:
        call.reason = "pin-failed"
        call.leave("max-attempts")
        return (call.here.flow, node.failed)
    _ask(call, node, lead)
    return None


ENTER_PIN_STEPS: Final[dict[str, Callable[[Call, Any], Next]]] = {"pin": _enter_pin}
