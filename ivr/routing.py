"""Nodes that do not listen: announcements, CRM lookups, branches, hours, jumps, and
the nodes that leave the IVR. One `enter_*` function per node kind (`ENTER` maps kinds
to them, with `ivr.listening` for menus and inputs), plus the answers to what they
wait for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, Literal

from ivr.actions import Lookup, Play, QueueLookup
from ivr.call import Call, Next, Relisten, Wait
from ivr.callflow import (
    BranchNode,
    GotoNode,
    HangupNode,
    HoursNode,
    InputNode,
    LookupNode,
    MenuNode,
    PlayNode,
    TransferNode,
    VoicemailNode,
)
from ivr.events import LookupFinished, LookupStatus
from ivr.journey import ACCOUNT_NOT_CALLER
from ivr.pin_steps import ENTER_PIN_STEPS
from ivr.queue_steps import ENTER_QUEUE_STEPS
from ivr.schedule import status
from ivr.survey import survey_ref

__all__ = ["ENTER", "branch_on", "looked_up", "lookup_now", "played"]


def _enter_menu(call: Call, node: MenuNode) -> Next:
    here = (call.here.flow, call.here.node_id)
    # The menu stack for `back`: re-entering the menu on top (a repeat by another
    # route, a `back` to it) does not stack it twice.
    if not call.history or call.history[-1] != here:
        call.history.append(here)
    return Relisten()


def _enter_input(call: Call, node: InputNode) -> Next:
    return Relisten()


def _enter_play(call: Call, node: PlayNode) -> Next:
    if node.interruptible and call.buffer:
        # The caller is already typing ahead: they would have interrupted it anyway.
        call.leave("skipped")
        return (call.here.flow, node.next)
    call.emit_wait(Play(call.prompts(node.prompts), node.interruptible), Wait("play"))
    return None


def played(call: Call) -> Next:
    node = call.here.node
    assert isinstance(node, PlayNode)
    call.leave("played")
    return (call.here.flow, node.next)


def _lookup_value(call: Call, node: LookupNode) -> str:
    if node.by == "caller":
        return call.started.caller.number
    value = call.context.vars.get(node.variable or "")
    return "" if value is None else str(value)


def _enter_lookup(call: Call, node: LookupNode) -> Next:
    if not _lookup_value(call, node):
        # Nothing to look up (a withheld number, an unset variable): no CRM knows it.
        call.leave("not_found")
        return (call.here.flow, node.not_found)
    if node.prompts and not call.buffer:
        call.emit_wait(Play(call.prompts(node.prompts)), Wait("lookup-prompts"))
        return None
    return lookup_now(call)


def lookup_now(call: Call) -> Next:
    node = call.here.node
    assert isinstance(node, LookupNode)
    by: Literal["phone", "account"] = "phone" if node.by == "caller" else "account"
    sensitive = by == "account" and f"vars.{node.variable}" in call.secret
    call.emit_wait(Lookup(by, _lookup_value(call, node), sensitive), Wait("lookup"))
    return None


def looked_up(call: Call, event: LookupFinished) -> Next:
    node = call.here.node
    assert isinstance(node, LookupNode)
    flow = call.here.flow
    by_caller = node.by == "caller"
    if event.status is LookupStatus.FOUND and event.customer is not None:
        call.context.customer_found(event.customer, event.matches)
        raw_id, tier = event.customer.get("id"), event.customer.get("tier")
        customer_id = "" if raw_id is None else str(raw_id)
        call.tier = "" if tier is None else str(tier).lower()
        if by_caller:
            call.ani = (customer_id,)
            if call.journey.identity in ("none", "ani"):
                call.identified("ani", customer_id)
            else:  # already proved by an account or a secret: keep that proof
                call.customer_id = call.journey.customer_id = customer_id
        elif customer_id in call.ani:
            # The account typed is the caller ID's customer's (or one of the customers
            # sharing the number): two independent facts agree.
            call.identified("account+ani", customer_id)
        else:
            # A valid account number alone is not proof: anyone may have read it off a
            # bill. From another customer's phone it is worth a warning to the agent.
            call.identified("account", customer_id, ACCOUNT_NOT_CALLER if call.ani else None)
        call.leave("found")
        return (flow, node.found)
    if event.status is LookupStatus.FOUND:
        # Several customers share the number (or the account): routing on one of them
        # would give a stranger that customer's tier and record. Nobody is identified.
        call.context.customer_candidates(event.matches)
        if by_caller:
            call.ani = event.candidates
        call.tier = ""
        call.identified("none", "")
        call.leave("several")
        return (flow, node.several or node.not_found)
    if event.status is LookupStatus.UNAVAILABLE:
        call.leave("unavailable")
        return (flow, node.unavailable or node.not_found)
    call.leave("not_found")
    return (flow, node.not_found)


def _enter_branch(call: Call, node: BranchNode) -> Next:
    conditions = call.flows.conditions(call.here.flow, call.here.node_id, node)
    queues = sorted({q for condition in conditions for q in condition.queues})
    if queues:
        # Queue state moves: read it afresh each time the branch is entered.
        call.emit_wait(QueueLookup(tuple(queues)), Wait("queue-lookup"))
        return None
    return branch_on(call)


def branch_on(call: Call) -> Next:
    """Take the first case whose condition holds (queue state, if read, is in)."""
    node = call.here.node
    assert isinstance(node, BranchNode)
    flow = call.here.flow
    conditions = call.flows.conditions(flow, call.here.node_id, node)
    context = call.context.conditions
    for number, (case, condition) in enumerate(zip(node.cases, conditions, strict=True), 1):
        if condition.evaluate(context):
            call.leave(f"case-{number}")
            return (flow, case.goto)
    call.leave("default")
    return (flow, node.default)


def _enter_hours(call: Call, node: HoursNode) -> Next:
    flow = call.here.flow
    tz, weekly = call.flows.hours(flow, call.here.node_id, node)
    # The call's instant: its start as the driver saw it, plus the engine's time since.
    now = call.started.now + timedelta(milliseconds=call.now_ms - call.started.at_ms)
    result = status(now, tz, weekly, node.holidays)
    call.leave(result)
    if result == "open":
        return (flow, node.open)
    if result == "holiday":
        return (flow, node.holiday or node.closed)
    return (flow, node.closed)


def _enter_goto(call: Call, node: GotoNode) -> Next:
    here = call.here.flow
    call.leave("goto")
    flow = node.flow or here
    return (flow, node.node or call.flows.flow(flow, from_flow=here).entry)


def _enter_transfer(call: Call, node: TransferNode) -> Next:
    if node.topic is not None:
        call.topic = node.topic
    flow_id = call.here.flow
    survey = ""
    if node.survey is not None and node.kind == "queue":
        # Only a survey the flow defines: a dangling name (lint: unknown-survey) would send
        # the caller after their call into a survey that cannot run.
        if node.survey in call.flows.flow(flow_id).surveys:
            survey = survey_ref(flow_id, node.survey)
    return call.transfer(node.kind, node.target, node.priority, call.prompts(node.prompts), survey)


def _enter_voicemail(call: Call, node: VoicemailNode) -> Next:
    return call.transfer("voicemail", node.mailbox, 0, call.prompts(node.prompts))


def _enter_hangup(call: Call, node: HangupNode) -> Next:
    return call.hangup(call.prompts(node.prompts))


# Each node kind's entry, by its `type:` (the node classes are the flow model's).
ENTER: Final[dict[str, Callable[[Call, Any], Next]]] = {
    "menu": _enter_menu,
    "input": _enter_input,
    "play": _enter_play,
    "lookup": _enter_lookup,
    "branch": _enter_branch,
    "hours": _enter_hours,
    "goto": _enter_goto,
    "transfer": _enter_transfer,
    "voicemail": _enter_voicemail,
    "hangup": _enter_hangup,
    **ENTER_QUEUE_STEPS,
    **ENTER_PIN_STEPS,
}
