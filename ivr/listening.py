"""Nodes that listen for keys: menus and inputs (with their confirmation).

Each function takes the `Call` and returns what comes next (`ivr.call.Next`). A
listening node first serves itself from type-ahead: a caller who already typed the
answer is not made to hear the prompts.
"""

from __future__ import annotations

from ivr.actions import Collect, Spoken
from ivr.call import Call, Next, Relisten, Wait
from ivr.callflow import InputNode, MenuNode
from ivr.entries import check_entry, menu_choice, split_menu_buffer, take_entry
from ivr.events import DigitsEntered
from ivr.journey import mask

__all__ = ["confirm_digits", "input_digits", "listen", "menu_digits"]

_MENU = Wait("menu")


def listen(call: Call, again: Relisten) -> Next:
    """Listen in the current menu or input: from type-ahead, else with a Collect."""
    node = call.here.node
    if isinstance(node, MenuNode):
        if call.buffer:
            entry, call.buffer = split_menu_buffer(call.buffer, node)
            return _menu_entry(call, node, entry)
        _collect_menu(call, node, again.lead)
        return None
    assert isinstance(node, InputNode)
    if call.buffer:
        entry, call.buffer, complete = take_entry(call.buffer, node.terminator, node.max_digits)
        if complete:
            return _input_entry(call, node, entry)
        _collect_rest(call, node, entry)
        return None
    settings = call.settings()
    lead = again.lead if again.replay else ()
    call.emit_wait(
        Collect(
            prompts=lead + call.prompts(node.prompts),
            max_digits=node.max_digits,
            min_digits=node.min_digits,
            timeout_ms=node.timeout or settings.timeout,
            interdigit_ms=node.interdigit_timeout or settings.interdigit_timeout,
            terminator=node.terminator,
            sensitive=node.sensitive,
        ),
        Wait("input"),
    )
    return None


# --- menus ------------------------------------------------------------------------------


def _withheld(call: Call, node: MenuNode) -> frozenset[str]:
    """The keys of the menu's conditional options whose `when:` does not hold now."""
    here = call.here
    offers = call.flows.offers(here.flow, here.node_id, node)
    if not offers:
        return frozenset()
    context = call.context.conditions
    return frozenset(key for key, condition in offers.items() if not condition.evaluate(context))


def _offered_prompts(call: Call, node: MenuNode) -> tuple[Spoken, ...]:
    """What the conditional options offered to this caller add after the menu's prompts."""
    withheld = _withheld(call, node)
    extra: tuple[Spoken, ...] = ()
    here = call.here
    for key in call.flows.offers(here.flow, here.node_id, node):
        if key not in withheld:
            extra += call.prompts(node.options[key].prompts)
    return extra


def _collect_menu(call: Call, node: MenuNode, lead: tuple[Spoken, ...]) -> None:
    here = call.here
    # Parsed once per flow set and cached: most menus have none, at a dict lookup's cost.
    conditional = bool(call.flows.offers(here.flow, here.node_id, node))

    def collect() -> Collect:
        settings = call.settings()
        dial = node.direct_dial
        offered = _offered_prompts(call, node) if conditional else ()
        return Collect(
            prompts=lead + call.prompts(node.prompts) + offered,
            max_digits=1 if dial is None else dial.max_digits,
            timeout_ms=node.timeout or settings.timeout,
            interdigit_ms=settings.interdigit_timeout if dial is None else dial.interdigit_timeout,
            # One key answers a plain menu, `#` included; with direct dial `#` ends the number.
            terminator=None if dial is None else "#",
        )

    if lead or conditional or call.flows.sounds(node.prompts) is None:
        call.emit_wait(collect(), _MENU)
    else:
        # What most callers hear: the same for every call, so built once per flow set.
        call.emit_wait(call.flows.action(("menu", here.flow, here.node_id), collect), _MENU)


def menu_digits(call: Call, event: DigitsEntered) -> Next:
    """The answer to a menu's Collect."""
    if event.timed_out and not event.digits:
        return call.failed("timeout")
    node = call.here.node
    assert isinstance(node, MenuNode)
    return _menu_entry(call, node, event.digits)


def _menu_entry(call: Call, node: MenuNode, entry: str) -> Next:
    visit = call.here
    choice = menu_choice(entry, node, call.settings().keys)
    visit.step.keys.append(choice.key)
    if choice.kind == "invalid" or (
        choice.kind == "option" and choice.key in _withheld(call, node)
    ):
        # A conditional option not offered to this caller is no option for them.
        return call.failed("invalid")
    call.buffer = choice.rest + call.buffer
    if choice.kind == "option":
        option = node.options[choice.key]
        topic = option.topic or node.topic
        if topic is not None:
            call.topic = topic
        call.reason = "option"
        call.leave(choice.key)
        return (visit.flow, option.goto)
    if choice.kind == "extension":
        call.reason = "direct-dial"
        call.leave("extension")
        return call.transfer("extension", choice.key, 0, ())
    if choice.kind == "operator":
        call.leave("operator")
        return call.to_operator("operator-key")
    if choice.kind == "back" and len(call.history) >= 2:
        # The current menu is on top of the stack; the one under it is where the caller
        # came from, whatever the tree's shape (gotos, sub-flows, loops).
        call.history.pop()
        call.leave("back")
        return call.history[-1]
    # `repeat`, or `back` at the first menu, where there is nowhere to go back to.
    visit.repeats += 1
    if visit.repeats > call.settings().max_repeats:
        call.leave("max-repeats")
        return call.to_operator("max-repeats")
    return Relisten()


# --- inputs -----------------------------------------------------------------------------


def _collect_rest(call: Call, node: InputNode, prefix: str) -> None:
    """The caller typed the start of the entry ahead and is still typing: collect the
    rest without prompts, the pause allowed being the interdigit timeout."""
    interdigit = node.interdigit_timeout or call.settings().interdigit_timeout
    call.emit_wait(
        Collect(
            prompts=(),
            max_digits=node.max_digits - len(prefix),
            min_digits=max(1, node.min_digits - len(prefix)),
            timeout_ms=interdigit,
            interdigit_ms=interdigit,
            terminator=node.terminator,
            sensitive=node.sensitive,
        ),
        Wait("input", prefix=prefix),
    )


def input_digits(call: Call, event: DigitsEntered, prefix: str) -> Next:
    """The answer to an input's Collect (`prefix`: digits already typed ahead)."""
    if event.timed_out and not event.digits and not prefix:
        return call.failed("timeout")
    node = call.here.node
    assert isinstance(node, InputNode)
    entry = prefix + event.digits
    call.buffer = entry[node.max_digits :] + call.buffer
    return _input_entry(call, node, entry[: node.max_digits])


def _input_entry(call: Call, node: InputNode, entry: str) -> Next:
    shown = mask(entry) if node.sensitive else entry
    call.here.step.keys.append(shown or (node.terminator or ""))
    if check_entry(entry, node) is not None:
        return call.failed("invalid")
    if node.confirm is None:
        return _store(call, node, entry)
    # A read-back must be heard: keys typed before it are not an answer to it.
    call.buffer = ""
    _ask_confirm(call, node, entry, ())
    return None


def _ask_confirm(call: Call, node: InputNode, entry: str, lead: tuple[Spoken, ...]) -> None:
    assert node.confirm is not None
    settings = call.settings()
    call.emit_wait(
        Collect(
            prompts=lead + call.prompts(node.confirm.prompts, digits=entry, secret=node.sensitive),
            max_digits=1,
            timeout_ms=node.timeout or settings.timeout,
            interdigit_ms=settings.interdigit_timeout,
        ),
        Wait("confirm", entry=entry),
    )


def confirm_digits(call: Call, event: DigitsEntered, entry: str) -> Next:
    """The answer to "you entered 1 2 3 4; press 1 if correct, 2 to try again"."""
    node = call.here.node
    assert isinstance(node, InputNode) and node.confirm is not None
    if event.timed_out and not event.digits:
        nxt = call.failed("timeout")
    else:
        key = event.digits[:1] or "#"
        call.here.step.keys.append(key)
        if key == node.confirm.yes:
            call.buffer = event.digits[1:]
            return _store(call, node, entry)
        if key == node.confirm.no:
            # We got it wrong, says the caller: ask for the entry again, from the top.
            # It counts as an invalid entry, so a caller cannot loop here forever.
            return call.failed("invalid", replay_lead=False)
        nxt = call.failed("invalid")
    if isinstance(nxt, Relisten):
        _ask_confirm(call, node, entry, nxt.lead)
        return None
    return nxt


def _store(call: Call, node: InputNode, entry: str) -> Next:
    call.context.vars[node.variable] = entry
    if node.sensitive:
        call.secret |= {f"vars.{node.variable}"}
    call.leave("entered")
    return (call.here.flow, node.next)
