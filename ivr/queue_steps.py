"""Nodes for busy queues: announce the estimated wait (`wait`), offer a callback that
keeps the caller's place (`callback`), send callers elsewhere when a queue is closed or
over capacity (`overflow`), and play a known cause first while an admin has flood mode
on (`flood`). docs/dialplan.md has the admin's view.

The queue nodes read the queue's state through the services (`QueueLookup`, within the
lookup budget) each time they are entered; `flood` reads the switch (`FloodLookup`);
`callback` stores the request (`CallbackRequest`). Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from ivr.actions import CallbackRequest, Collect, FloodLookup, Play, QueueLookup, SayNumber, Sound
from ivr.actions import Spoken as SpokenPrompt
from ivr.call import Call, Next, Wait
from ivr.callflow import CallbackNode, FloodNode, OverflowNode, Prompt, WaitNode
from ivr.events import CallbackRequested, CallbackStatus, DigitsEntered, FloodLooked
from ivr.journey import mask

__all__ = [
    "GOODBYE",
    "WAIT_SOUNDS",
    "callback_done",
    "callback_number",
    "callback_offer",
    "callback_stored",
    "flood_looked",
    "flood_played",
    "queue_looked",
    "rounded_wait",
    "spoken_wait",
    "wait_announced",
]

GOODBYE: Final = (Prompt(sound="goodbye", text="Goodbye."),)

# Asterisk's own queue sounds (core sounds, en): what app_queue says for a hold time.
_LESS_THAN: Final = Sound("queue-less-than", "less than")
_MINUTE: Final = Sound("queue-minute", "minute")
_MINUTES: Final = Sound("queue-minutes", "minutes")
# every sound the estimate is said with, besides the number (the demo's phone shows them)
WAIT_SOUNDS: Final = (_LESS_THAN, _MINUTE, _MINUTES)


def rounded_wait(ewt_s: float) -> tuple[bool, int]:
    """(less than, minutes) as a caller hears an estimate of `ewt_s` seconds.

    Under a minute: "less than 1 minute". Up to 10 minutes: whole minutes, rounded up.
    Up to an hour: rounded up to 5 minutes. Past an hour: rounded up to 15 minutes.
    Always up: a caller forgives an agent who comes early, not one who comes late; and
    "about 37 minutes" claims a precision the estimate does not have."""
    if ewt_s < 60:
        return True, 1
    minutes = math.ceil(ewt_s / 60)
    if minutes <= 10:
        return False, minutes
    if minutes <= 60:
        return False, 5 * math.ceil(minutes / 5)
    return False, 15 * math.ceil(minutes / 15)


def spoken_wait(ewt_s: float) -> tuple[SpokenPrompt, ...]:
    """The rounded estimate as prompts: [less than] NUMBER minute(s)."""
    less, minutes = rounded_wait(ewt_s)
    unit = _MINUTE if minutes == 1 else _MINUTES
    return ((_LESS_THAN,) if less else ()) + (SayNumber(minutes), unit)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ewt(call: Call, queue: str) -> float | None:
    return _number(call.context.value(f"queue.{queue}.ewt_s"))


def _read_queue(call: Call, queue: str) -> Next:
    call.emit_wait(QueueLookup((queue,)), Wait("queue-lookup"))
    return None


# --- wait -------------------------------------------------------------------------------


def _enter_wait(call: Call, node: WaitNode) -> Next:
    return _read_queue(call, node.queue)


def _wait_looked(call: Call, node: WaitNode) -> Next:
    ewt = _ewt(call, node.queue)
    flow = call.here.flow
    if ewt is None:
        call.leave("unknown")
        return (flow, node.unknown or node.next)
    less, minutes = rounded_wait(ewt)
    prompts = call.prompts(node.prompts) + spoken_wait(ewt)
    # Heard to the end: a key pressed during an estimate is not a menu choice.
    said = f"{'under-' if less else ''}{minutes}min"
    call.emit_wait(Play(prompts, interruptible=False), Wait("wait-announced", entry=said))
    return None


def wait_announced(call: Call, said: str) -> Next:
    node = call.here.node
    assert isinstance(node, WaitNode)
    call.leave(said)
    return (call.here.flow, node.next)


# --- overflow ---------------------------------------------------------------------------


def _enter_overflow(call: Call, node: OverflowNode) -> Next:
    return _read_queue(call, node.queue)


def _overflow_looked(call: Call, node: OverflowNode) -> Next:
    def field(name: str) -> object:
        return call.context.value(f"queue.{node.queue}.{name}")

    logged_in, available, callers = (
        _number(field(f)) for f in ("logged_in", "available", "callers")
    )
    ewt = _ewt(call, node.queue)
    reason = None
    if field("open") is False or logged_in == 0:
        reason = "closed"
    elif field("full") is True:
        reason = "full"
    elif (
        node.max_waiting is not None
        and available == 0
        and callers is not None
        and callers >= node.max_waiting
    ):
        reason = "over-max-waiting"
    elif node.max_wait is not None and ewt is not None and ewt * 1000 > node.max_wait:
        reason = "over-max-wait"
    flow = call.here.flow
    if reason is None:
        call.leave("room")
        return (flow, node.next)
    call.leave(reason)
    call.reason = f"overflow-{reason}"
    return (flow, node.to)


# --- callback ---------------------------------------------------------------------------


def _enter_callback(call: Call, node: CallbackNode) -> Next:
    return _read_queue(call, node.queue)


def _callback_looked(call: Call, node: CallbackNode) -> Next:
    ewt = _ewt(call, node.queue)
    if ewt is None or ewt * 1000 <= node.offer_above:
        call.leave("below-threshold" if ewt is not None else "unknown")
        return (call.here.flow, node.declined)
    call.buffer = ""  # nobody types ahead into a question they could not foresee
    call.emit_wait(_one_key(call, node, call.prompts(node.offer_prompts)), Wait("callback-offer"))
    return None


def _one_key(call: Call, node: CallbackNode, prompts: tuple[SpokenPrompt, ...]) -> Collect:
    settings = call.settings()
    return Collect(
        prompts=prompts,
        max_digits=1,
        timeout_ms=node.timeout or settings.timeout,
        interdigit_ms=settings.interdigit_timeout,
    )


def _caller_id(call: Call) -> str:
    number = call.started.caller.number
    return number if any(c.isdigit() for c in number) else ""


def _ask_number(call: Call, node: CallbackNode, lead: tuple[SpokenPrompt, ...] = ()) -> None:
    settings = call.settings()
    asked = node.number_prompts if _caller_id(call) else node.typed_number_prompts
    call.emit_wait(
        Collect(
            prompts=lead + call.prompts(asked),
            max_digits=20,
            timeout_ms=node.timeout or settings.timeout,
            interdigit_ms=settings.interdigit_timeout,
            terminator="#",
        ),
        Wait("callback-number"),
    )


def callback_offer(call: Call, event: DigitsEntered) -> Next:
    node = call.here.node
    assert isinstance(node, CallbackNode)
    key = event.digits[:1]
    if key:
        call.here.step.keys.append(key)
    if key != node.accept:
        call.leave("declined" if key else "timeout")
        return (call.here.flow, node.declined)
    _ask_number(call, node)
    return None


def callback_number(call: Call, event: DigitsEntered) -> Next:
    """The caller confirmed the caller ID (`#` alone, or the accept key alone) or typed
    a number."""
    node = call.here.node
    assert isinstance(node, CallbackNode)
    step = call.here.step
    digits = event.digits
    confirmed = (digits == "" and not event.timed_out) or digits == node.accept
    if confirmed and _caller_id(call):
        step.keys.append(digits or "#")
        number, caller_id = call.started.caller.number, True
    elif confirmed:
        number, caller_id = "", False  # nothing to confirm: a withheld caller ID
    else:
        number, caller_id = digits, False
        if digits:
            step.keys.append(mask(digits))  # a phone number: the journey keeps no copy
    if not number:
        return _number_failed(call, node, "timeout" if not digits else "invalid")
    waited_s = max(0, call.now_ms - call.started.at_ms) / 1000
    request = CallbackRequest(
        node.queue, number, caller_id, call.started.caller.name, round(waited_s, 3)
    )
    call.emit_wait(request, Wait("callback"))
    return None


def _number_failed(call: Call, node: CallbackNode, what: str) -> Next:
    step = call.here.step
    if what == "timeout":
        step.timeouts += 1
    else:
        step.invalid += 1
    if step.invalid + step.timeouts >= node.max_attempts:
        call.leave("no-valid-number")
        return (call.here.flow, node.declined)
    lead = call.prompts(node.invalid_number_prompts) if what == "invalid" else ()
    _ask_number(call, node, lead)
    return None


def callback_stored(call: Call, event: CallbackRequested) -> Next:
    node = call.here.node
    assert isinstance(node, CallbackNode)
    if event.status is CallbackStatus.INVALID_NUMBER:
        return _number_failed(call, node, "invalid")
    if event.status is CallbackStatus.UNAVAILABLE or event.position is None:
        call.leave("unavailable")
        return (call.here.flow, node.declined)
    call.leave("requested")
    call.reason = "callback-requested"
    prompts = (*call.prompts(node.done_prompts), SayNumber(event.position))
    if node.then is None:
        return call.hangup(prompts + call.prompts(GOODBYE))
    call.emit_wait(Play(prompts, interruptible=False), Wait("callback-done"))
    return None


def callback_done(call: Call) -> Next:
    node = call.here.node
    assert isinstance(node, CallbackNode) and node.then is not None
    return (call.here.flow, node.then)


# --- flood ------------------------------------------------------------------------------


def _enter_flood(call: Call, node: FloodNode) -> Next:
    call.emit_wait(FloodLookup(), Wait("flood"))
    return None


def flood_looked(call: Call, event: FloodLooked) -> Next:
    node = call.here.node
    assert isinstance(node, FloodNode)
    flow = call.here.flow
    if not event.active:
        call.leave("off")
        return (flow, node.normal)
    prompts = node.messages.get(event.message)
    if prompts is None:
        # On with a message this node cannot say: a silent "flood" branch would confuse
        # more than the usual path (lint and `callpop flood on` warn about it).
        call.leave("unknown-message")
        return (flow, node.normal)
    played = Play(call.prompts(prompts), node.interruptible)
    call.emit_wait(played, Wait("flood-message", entry=event.message))
    return None


def flood_played(call: Call, message: str) -> Next:
    node = call.here.node
    assert isinstance(node, FloodNode)
    call.leave(f"on:{message}")
    return (call.here.flow, node.next)


# --- dispatch ---------------------------------------------------------------------------


def queue_looked(call: Call) -> Next:
    """A queue node's state is in (`call.context` has it): decide."""
    node = call.here.node
    if isinstance(node, WaitNode):
        return _wait_looked(call, node)
    if isinstance(node, OverflowNode):
        return _overflow_looked(call, node)
    assert isinstance(node, CallbackNode)
    return _callback_looked(call, node)


ENTER_QUEUE_STEPS: Final[dict[str, Callable[[Call, Any], Next]]] = {
    "wait": _enter_wait,
    "callback": _enter_callback,
    "overflow": _enter_overflow,
    "flood": _enter_flood,
}
