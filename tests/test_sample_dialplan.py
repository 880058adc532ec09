"""The sample `dialplan/`: Acme Telecom's hotline is what newcomers copy, so it must be
clean, complete, and every part of it must be somewhere a caller can actually get to."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from callpop.cli import cli
from ivr.flow import Flow, HangupNode, InputNode, MenuNode, TransferNode, VoicemailNode
from ivr.loader import load_dialplan
from ivr.simulator import Crm, FakeCrm, ListeningPoint, NoCrm, simulate

ROOT = Path(__file__).resolve().parents[1]
DIALPLAN = ROOT / "dialplan"

# Asterisk core prompts the sample uses; every other sound is a site recording, `acme-*`.
CORE_PROMPTS = {
    "hello",
    "pm-invalid-option",
    "please-try-again",
    "you-entered",
    "pls-hold-while-try",
    "vm-intro",
    "goodbye",
    "queue-holdtime",  # the wait node's lead, as app_queue says it
}
VALID_ACCOUNT = "4000000002"

WHEN = {
    "open": datetime.fromisoformat("2026-11-23T10:00:00-05:00"),
    "closed": datetime.fromisoformat("2026-11-22T10:00:00-05:00"),
    "holiday": datetime.fromisoformat("2026-12-25T10:00:00-05:00"),
}
CRMS: dict[str, Crm] = {"vip": FakeCrm(tier="vip"), "standard": FakeCrm(), "unknown": NoCrm()}


def flows() -> dict[str, Flow]:
    return dict(load_dialplan(DIALPLAN).flows)


def test_the_sample_lints_clean_without_a_single_warning() -> None:
    result = CliRunner().invoke(cli, ["lint", str(DIALPLAN)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_the_sample_has_a_main_flow_and_a_tech_sub_flow() -> None:
    assert sorted(flows()) == ["main", "tech"]


def test_every_prompt_says_what_it_says() -> None:
    # The simulator prints it, the diagram shows it, the voice talent reads it.
    for flow in flows().values():
        for node_id, node in flow.nodes.items():
            prompts = list(getattr(node, "prompts", ()))
            if isinstance(node, InputNode) and node.confirm is not None:
                prompts += node.confirm.prompts
            for prompt in prompts:
                if prompt.sound is not None:
                    assert prompt.text, f"{flow.id}:{node_id}: {prompt.sound} has no text"


def test_site_recordings_are_named_acme_and_the_rest_are_asterisk_core_prompts() -> None:
    for flow in flows().values():
        sounds = {p.sound for p in flow.settings.invalid_prompts + flow.settings.timeout_prompts}
        for node in flow.nodes.values():
            sounds |= {p.sound for p in getattr(node, "prompts", ())}
            if isinstance(node, InputNode) and node.confirm is not None:
                sounds |= {p.sound for p in node.confirm.prompts}
        sounds.discard(None)
        assert {s for s in sounds if s and not s.startswith("acme-")} <= CORE_PROMPTS


def test_every_way_out_of_the_sample_is_reachable_by_some_caller() -> None:
    """Walk every menu option, every entry and read-back, at every time of day and
    for every kind of caller: each transfer, voicemail and hang-up must be met."""
    all_flows = flows()
    exits = {
        (flow.id, node_id)
        for flow in all_flows.values()
        for node_id, node in flow.nodes.items()
        if isinstance(node, TransferNode | VoicemailNode | HangupNode)
    }
    reached: set[tuple[str, str]] = set()
    for now in WHEN.values():
        for crm in CRMS.values():
            _explore(all_flows, now, crm, (), reached, set())
    assert exits - reached == set()


class _Prefix:
    """Plays a script prefix, notes the listening point after it, then stays silent."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self.tokens = tokens
        self.next_point: ListeningPoint | None = None

    def next_token(self, point: ListeningPoint) -> str | None:
        if point.number <= len(self.tokens):
            return self.tokens[point.number - 1]
        if self.next_point is None:
            self.next_point = point
        return None


def _answers(flows: dict[str, Flow], point: ListeningPoint) -> list[str]:
    node = flows[point.flow].nodes[point.node]
    if isinstance(node, MenuNode):
        return sorted(node.options)
    assert isinstance(node, InputNode)
    return ["1"] if point.collect.max_digits == 1 else [VALID_ACCOUNT + "#"]


def _explore(
    flows: dict[str, Flow],
    now: datetime,
    crm: Crm,
    prefix: tuple[str, ...],
    reached: set[tuple[str, str]],
    seen: set[tuple[str, str, int]],
) -> None:
    keys = _Prefix(prefix)
    sim = simulate(flows, caller="+15551234567", keys=keys, crm=crm, now=now)
    final = sim.steps[-1]
    if final.action in ("transfer", "hangup"):
        reached.add((final.flow, final.node))
    point = keys.next_point
    if point is None:
        return
    where = (point.flow, point.node, point.collect.max_digits)
    if where in seen:
        return
    seen.add(where)
    for answer in _answers(flows, point):
        _explore(flows, now, crm, (*prefix, answer), reached, seen)
