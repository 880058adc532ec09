"""The simulator: a scripted caller and CRM driving the real Session, with no PBX."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.actions import SayDigits, Sound
from ivr.events import LookupStatus
from ivr.flow import Flow
from ivr.simulator import (
    DownCrm,
    FakeCrm,
    KeyScriptError,
    NoCrm,
    ScriptedKeys,
    SimStep,
    Simulation,
    parse_keys,
    simulate,
    spoken_ms,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def flow(nodes: dict[str, Any], entry: str, **settings: Any) -> dict[str, Flow]:
    return {
        "main": Flow.model_validate(
            {"id": "main", "entry": entry, "settings": settings, "nodes": nodes}
        )
    }


def prompt(text: str) -> dict[str, str]:
    return {"sound": "recording", "text": text}


def queue(name: str) -> dict[str, Any]:
    return {"type": "transfer", "queue": name}


PIN = flow(
    {
        "pin": {
            "type": "input",
            "variable": "pin",
            "min_digits": 4,
            "max_digits": 8,
            "terminator": "#",
            "prompts": [prompt("Enter your PIN, then pound.")],
            "next": "done",
            "on_failure": "help",
        },
        "done": queue("done"),
        "help": queue("help"),
    },
    "pin",
)

MENU = flow(
    {
        "menu": {
            "type": "menu",
            "prompts": [prompt("For sales press 1, for support press 2.")],
            "options": {"1": "sales", "2": "support"},
        },
        "sales": queue("sales"),
        "support": queue("support"),
    },
    "menu",
    timeout="4s",
)

LOOKUP = flow(
    {
        "who": {"type": "lookup", "found": "known", "not_found": "unknown", "unavailable": "down"},
        "known": queue("known"),
        "unknown": queue("unknown"),
        "down": queue("down"),
    },
    "who",
)


def run(
    flows: dict[str, Flow], keys: str, crm: Any = None, now: datetime = NOW, **kw: Any
) -> Simulation:
    return simulate(
        flows,
        caller="+15551234567",
        keys=ScriptedKeys(parse_keys(keys)),
        crm=crm or NoCrm(),
        now=now,
        **kw,
    )


def collects(sim: Simulation) -> list[tuple[str, str]]:
    return [(s.keys, s.event or "") for s in sim.steps if s.action == "collect"]


# --- the key script ----------------------------------------------------------------


def test_key_tokens_split_on_spaces_and_commas() -> None:
    assert parse_keys("1, 2 ,#  w,12345678#") == ("1", "2", "#", "w", "12345678#")
    assert parse_keys("   ") == ()


def test_a_bad_token_is_refused_with_its_column() -> None:
    with pytest.raises(KeyScriptError, match=r"token 2 '1a' at column 3") as caught:
        parse_keys("1 1a")
    assert caught.value.column == 3


# --- GET DATA, as Asterisk answers it ---------------------------------------------------


def test_the_terminator_ends_an_entry_and_is_dropped() -> None:
    sim = run(PIN, "1234#")
    assert collects(sim) == [("1234#", "digits")]
    assert sim.journey.steps[0].keys == ["1234"]
    assert sim.outcome.target == "done"


def test_an_entry_that_stops_short_times_out_with_its_digits() -> None:
    sim = run(PIN, "12 w w")
    assert collects(sim)[0] == ("12", "timeout")
    assert sim.journey.steps[0].keys[0] == "12"


def test_an_entry_ends_at_max_digits_and_a_terminator_after_it_is_forgiven() -> None:
    assert run(PIN, "12345678").outcome.target == "done"
    assert run(PIN, "12345678#").outcome.target == "done"


def test_keys_left_after_an_entry_ended_are_a_script_mistake() -> None:
    with pytest.raises(KeyScriptError, match=r"menu took '1'.*'2' is left over"):
        run(MENU, "12")


def test_a_menu_key_is_an_answer_on_its_own() -> None:
    assert run(MENU, "2").outcome.target == "support"


# --- silence, hang-up, the end of the script ------------------------------------------------


def test_w_lets_the_node_time_out_and_takes_the_timeout() -> None:
    sim = run(MENU, "w 1")
    first, second = [s for s in sim.steps if s.action == "collect"]
    assert first.event == "timeout"
    heard = spoken_ms((Sound("x", "For sales press 1, for support press 2."),))
    assert second.t_ms == first.t_ms + heard + 4000
    assert sim.outcome.target == "sales"


def test_after_the_script_the_caller_is_silent_until_the_call_ends() -> None:
    sim = run(MENU, "")
    assert collects(sim) == [("", "timeout")] * 3  # settings.max_timeouts defaults to 3
    assert sim.outcome.type == "transfer"
    assert sim.outcome.target == "operator"


def test_keys_the_call_never_reached_are_reported() -> None:
    assert run(MENU, "1 2 2").unused_keys == ("2", "2")


def test_h_hangs_up_and_the_outcome_is_a_hang_up() -> None:
    sim = run(MENU, "h")
    assert collects(sim) == [("", "hangup")]
    assert sim.outcome.type == "hangup"
    assert sim.outcome.kind is None
    assert sim.journey.outcome is not None and sim.journey.outcome.reason == "caller-hangup"
    assert sim.outcome.variables["CALLPOP_OUTCOME"] == "hangup"


# --- the CRM -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crm", "queue_name", "event"),
    [
        (FakeCrm(), "known", "found"),
        (NoCrm(), "unknown", "not_found"),
        (DownCrm(), "down", "unavailable"),
    ],
)
def test_each_crm_answer_takes_its_branch(crm: Any, queue_name: str, event: str) -> None:
    sim = run(LOOKUP, "", crm=crm)
    assert [s.event for s in sim.steps if s.action == "lookup"] == [event]
    assert sim.outcome.target == queue_name


def test_an_unavailable_crm_costs_the_whole_budget() -> None:
    sim = run(LOOKUP, "", crm=DownCrm(budget_ms=300))
    lookup, transfer = sim.steps
    assert transfer.t_ms - lookup.t_ms == 300


def test_the_fake_customer_is_the_same_every_time_with_a_valid_account() -> None:
    first = FakeCrm(tier="gold").lookup("phone", "+1 (555) 123-4567")
    again = FakeCrm(tier="gold").lookup("phone", "+1 (555) 123-4567")
    assert first == again
    assert first.status is LookupStatus.FOUND and first.customer is not None
    assert first.customer["tier"] == "gold"
    account = str(first.customer["account"])
    digits = [int(d) for d in reversed(account)]
    assert (
        sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)) % 10
        == 0
    )


def test_a_found_customer_sets_the_outcome_variables() -> None:
    sim = run(LOOKUP, "", crm=FakeCrm(tier="vip"))
    assert sim.outcome.variables["CALLPOP_TIER"] == "vip"
    assert sim.outcome.variables["CALLPOP_CUSTOMER_ID"].startswith("SIM-")


# --- time and hours ----------------------------------------------------------------------


def test_hours_follow_the_time_given_not_the_clock() -> None:
    hours = flow(
        {
            "h": {
                "type": "hours",
                "timezone": "America/New_York",
                "weekly": {"mon-fri": "08:00-20:00"},
                "open": "open",
                "closed": "closed",
            },
            "open": queue("open"),
            "closed": queue("closed"),
        },
        "h",
    )
    assert run(hours, "", now=datetime(2026, 11, 23, 15, 0, tzinfo=UTC)).outcome.target == "open"
    assert run(hours, "", now=datetime(2026, 11, 24, 3, 0, tzinfo=UTC)).outcome.target == "closed"


def test_prompts_take_longer_the_more_they_say() -> None:
    short = spoken_ms((Sound("a", "Hello."),))
    long = spoken_ms((Sound("a", "Thank you for calling Acme Telecom, your call matters to us."),))
    assert long > short > 0
    assert spoken_ms((SayDigits("1234"),)) > spoken_ms((SayDigits("12"),))


def test_the_observer_sees_every_step_as_it_happens() -> None:
    seen: list[SimStep] = []
    sim = run(MENU, "w 2", observer=seen.append)
    assert tuple(seen) == sim.steps
    assert [s.action for s in seen] == ["collect", "collect", "transfer"]


def test_the_json_document_is_the_cli_contract() -> None:
    document = run(MENU, "1").to_dict()
    assert set(document) == {"flow", "caller", "steps", "outcome", "journey"}
    assert document["outcome"]["target"] == {"kind": "queue", "name": "sales", "priority": 0}
    assert document["steps"][0]["prompts"] == [
        {"sound": "recording", "text": "For sales press 1, for support press 2."}
    ]
