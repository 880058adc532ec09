"""Properties of the engine over random flows and random callers (hypothesis).

For any flow whose targets all exist and any sequence of caller behaviour (keys,
silences, terminators, hang-ups, CRM answers), the session never raises, answers
every event with a list that ends in exactly one waiting or final action, and ends
in a transfer or a hang-up within a bound set by `max_steps`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ivr.actions import Action, Collect, EnterNode, Hangup, Lookup, Play, Transfer
from ivr.call import OVERTIME_STEPS
from ivr.events import (
    Caller,
    CallStarted,
    DigitsEntered,
    Event,
    HungUp,
    LookupFinished,
    LookupStatus,
    PlayFinished,
)
from ivr.flow import Flow
from ivr.session import Session

WAITING = (Play, Collect, Lookup)
FINAL = (Transfer, Hangup)
KEYS = "0123456789*#"
CONDITIONS = [
    'customer.tier == "vip"',
    "customer.found and customer.open_cases > 0",
    'caller.number startswith "+1"',
    "vars.account >= 1000 or vars.pin != null",
    'call.dnis in ["7000", "7001"]',
    'not (vars.account matches "9.*")',
]
KINDS = [
    "menu",
    "menu",
    "input",
    "play",
    "lookup",
    "branch",
    "hours",
    "goto",
    "transfer",
    "voicemail",
    "hangup",
]
MAX_COUNT = 9  # the flow model's ceiling for max_invalid and max_timeouts
MAX_REPEATS = 20


def _prompts(draw: st.DrawFn) -> list[Any]:
    choices = [
        "hello",
        {"sound": "menu", "text": "Press 1"},
        {"digits": "{vars.account}"},
        {"number": "{customer.open_cases}"},
        {"digits": "{caller.number}"},
    ]
    return draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2))


def _listening(draw: st.DrawFn, target: st.SearchStrategy[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {"prompts": _prompts(draw)}
    if draw(st.booleans()):
        fields["max_invalid"] = draw(st.integers(1, MAX_COUNT))
    if draw(st.booleans()):
        fields["max_timeouts"] = draw(st.integers(1, MAX_COUNT))
    if draw(st.booleans()):
        fields["on_failure"] = draw(target)
    if draw(st.booleans()):
        fields["invalid_prompts"] = draw(st.lists(st.just("sorry"), max_size=1))
    return fields


@st.composite
def _node(
    draw: st.DrawFn, ids: list[str], other_flows: list[str], kinds: list[str]
) -> dict[str, Any]:
    target = st.sampled_from(ids)
    kind = draw(st.sampled_from(kinds))
    if kind == "menu":
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
        options = {
            k: {"goto": draw(target), "topic": draw(st.sampled_from([None, "billing", "tech"]))}
            for k in keys
        }
        node = {"type": "menu", "options": options, **_listening(draw, target)}
        if draw(st.booleans()):
            low = draw(st.integers(2, 4))
            node["direct_dial"] = {
                "pattern": "[1-8][0-9]*",
                "min_digits": low,
                "max_digits": draw(st.integers(low, 5)),
            }
        return node
    if kind == "input":
        low = draw(st.integers(1, 4))
        node = {
            "type": "input",
            "variable": draw(st.sampled_from(["account", "pin"])),
            "min_digits": low,
            "max_digits": draw(st.integers(low, 8)),
            "terminator": draw(st.sampled_from(["#", "*", None])),
            "sensitive": draw(st.booleans()),
            "next": draw(target),
            **_listening(draw, target),
        }
        validation = draw(
            st.sampled_from(
                [None, {"luhn": True}, {"pattern": "[0-9*]+"}, {"min_value": 10, "max_value": 5000}]
            )
        )
        if validation is not None:
            node["validate"] = validation
        if draw(st.booleans()):
            node["confirm"] = {"prompts": [{"digits": "{digits}"}, "press-1"]}
        return node
    if kind == "play":
        return {
            "type": "play",
            "prompts": _prompts(draw),
            "next": draw(target),
            "interruptible": draw(st.booleans()),
        }
    if kind == "lookup":
        by = draw(st.sampled_from(["caller", "account"]))
        node = {
            "type": "lookup",
            "by": by,
            "found": draw(target),
            "not_found": draw(target),
            "prompts": draw(st.lists(st.just("one-moment"), max_size=1)),
        }
        if by == "account":
            node["variable"] = "account"
        if draw(st.booleans()):
            node["unavailable"] = draw(target)
        return node
    if kind == "branch":
        cases = draw(st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=3))
        return {
            "type": "branch",
            "cases": [{"when": c, "goto": draw(target)} for c in cases],
            "default": draw(target),
        }
    if kind == "hours":
        return {
            "type": "hours",
            "timezone": "America/New_York",
            "weekly": {"mon-fri": "09:00-17:00", "sat": ["10:00-12:00", "13:00-14:00"]},
            "holidays": ["2024-12-25"],
            "open": draw(target),
            "closed": draw(target),
        }
    if kind == "goto":
        if len(other_flows) > 0 and draw(st.booleans()):
            return {"type": "goto", "flow": draw(st.sampled_from(other_flows))}
        return {"type": "goto", "node": draw(target)}
    if kind == "transfer":
        return {
            "type": "transfer",
            "queue": "q",
            "priority": draw(st.integers(0, 10)),
            "topic": draw(st.sampled_from([None, "sales"])),
        }
    if kind == "voicemail":
        return {"type": "voicemail", "mailbox": "100"}
    return {"type": "hangup"}


@st.composite
def _flow(draw: st.DrawFn, flow_id: str, other_flows: list[str]) -> Flow:
    ids = [f"n{i}" for i in range(draw(st.integers(1, 10)))]
    # Callers meet a menu first in most flows: start there more often than not.
    nodes = {"n0": draw(_node(ids, other_flows, ["menu", "menu", "input", "play"]))}
    nodes.update({node_id: draw(_node(ids, other_flows, KINDS)) for node_id in ids[1:]})
    keys = draw(
        st.sampled_from(
            [
                {},
                {"operator": None},
                {"back": None, "repeat": "*"},
                {"operator": "9", "back": "#", "repeat": None},
            ]
        )
    )
    settings_: dict[str, Any] = {
        "max_invalid": draw(st.integers(1, MAX_COUNT)),
        "max_timeouts": draw(st.integers(1, MAX_COUNT)),
        "max_repeats": draw(st.integers(1, MAX_REPEATS)),
        "max_steps": draw(st.integers(5, 40)),
        "keys": keys,
    }
    if draw(st.booleans()):
        settings_["agent_after_failures"] = draw(st.integers(1, 20))
    if draw(st.booleans()):
        settings_["operator"] = draw(st.sampled_from(ids))
    return Flow.model_validate(
        {"id": flow_id, "entry": ids[0], "nodes": nodes, "settings": settings_}
    )


@st.composite
def flows(draw: st.DrawFn) -> dict[str, Flow]:
    with_sub = draw(st.booleans())
    out = {"main": draw(_flow("main", ["sub"] if with_sub else []))}
    if with_sub:
        out["sub"] = draw(_flow("sub", ["main"]))
    return out


def _answer(data: st.DataObject, action: Action, at_ms: int) -> Event:
    draw = data.draw
    if draw(st.integers(0, 60)) == 0:  # now and then, the caller hangs up
        return HungUp(at_ms)
    if isinstance(action, Play):
        return PlayFinished(at_ms, draw(st.text(KEYS, max_size=3)))
    if isinstance(action, Lookup):
        status = draw(st.sampled_from(list(LookupStatus)))
        customer = None
        if status is LookupStatus.FOUND:
            customer = {
                "id": "C1",
                "tier": draw(st.sampled_from(["vip", "gold", None])),
                "open_cases": draw(st.integers(0, 3)),
            }
        return LookupFinished(status, at_ms, customer, matches=1 if customer else 0)
    assert isinstance(action, Collect)
    shape = draw(st.sampled_from(["keys", "keys", "keys", "silence", "partial", "terminator"]))
    if shape == "silence":
        return DigitsEntered("", at_ms, timed_out=True)
    if shape == "terminator":
        return DigitsEntered("", at_ms)
    digits = draw(st.text(KEYS, min_size=1, max_size=action.max_digits))
    return DigitsEntered(digits, at_ms, timed_out=shape == "partial")


def _check_answer(actions: list[Action]) -> Action:
    assert actions, "an answer to a running session is never empty"
    last = actions[-1]
    assert isinstance(last, WAITING + FINAL), actions
    assert all(isinstance(a, EnterNode) for a in actions[:-1]), actions
    return last


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flows(),
    st.data(),
    st.datetimes(datetime(1970, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["", "+15551234567"]),
)
def test_any_caller_ends_in_a_transfer_or_hang_up(
    all_flows: dict[str, Flow], data: st.DataObject, now: datetime, number: str
) -> None:
    session = Session(all_flows)
    start = all_flows["main"].settings.max_steps
    max_entries = start + OVERTIME_STEPS + 1
    # Each node entered takes at most this many answers before the caller leaves it.
    per_node = 2 * MAX_COUNT + MAX_REPEATS + 2
    bound = max_entries * per_node

    at_ms = 0
    actions = session.handle(CallStarted("c", Caller(number, "X"), now, dnis="7000"))
    entries = sum(isinstance(a, EnterNode) for a in actions)
    last = _check_answer(actions)
    answers = 0
    while not isinstance(last, FINAL):
        answers += 1
        assert answers <= bound, "the call did not end within its bound"
        at_ms += data.draw(st.integers(0, 120_000))
        answer = _answer(data, last, at_ms)
        actions = session.handle(answer)
        if isinstance(answer, HungUp):
            assert actions == []
            break
        entries += sum(isinstance(a, EnterNode) for a in actions)
        last = _check_answer(actions)
    assert session.ended
    assert entries <= max_entries
    outcome = session.journey.outcome
    assert outcome is not None and outcome.type in (
        "queue",
        "extension",
        "agent",
        "voicemail",
        "hangup",
    )
    assert session.journey.steps and all(s.left_ms is not None for s in session.journey.steps)
    event(f"outcome: {outcome.type} ({outcome.reason})")
    event(
        f"answers: {'0' if answers == 0 else '1-5' if answers <= 5 else '6-20' if answers <= 20 else '>20'}"
    )


@settings(max_examples=150, deadline=None)
@given(flows(), st.lists(st.text(KEYS, max_size=4), max_size=60))
def test_a_caller_who_only_types_keys_is_never_stuck(
    all_flows: dict[str, Flow], presses: list[str]
) -> None:
    """The same with a caller who never falls silent and a CRM that always finds them."""
    session = Session(all_flows)
    last = _check_answer(
        session.handle(CallStarted("c", Caller("+15551234567"), datetime(2024, 6, 3, tzinfo=UTC)))
    )
    at = 0
    for keys in [*presses, *[""] * 2000]:
        if isinstance(last, FINAL):
            break
        at += 500
        if isinstance(last, Play):
            event: Event = PlayFinished(at, keys)
        elif isinstance(last, Lookup):
            event = LookupFinished(LookupStatus.FOUND, at, {"id": "1", "tier": "vip"}, 1)
        else:
            assert isinstance(last, Collect)
            event = DigitsEntered(keys[: last.max_digits], at, timed_out=not keys)
        last = _check_answer(session.handle(event))
    assert isinstance(last, FINAL)
