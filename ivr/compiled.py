"""The flows a call may walk, with what the engine derives from them parsed once.

Conditions and schedules are text in the flow file; parsing them for every call
would cost each call for nothing. A `CompiledFlows` parses each one the first time
a call needs it and keeps it; the composition root builds one per loaded set of
flows and hands it to every `Session` (a `Session` given plain flows builds its own).
Nothing is parsed before it is needed, so a defect in a node no call reaches never
touches a call: `callpop lint` is what finds those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ivr.actions import Action, EnterNode, Sound, Spoken
from ivr.callflow import BranchNode, Flow, HoursNode, MenuNode, Node, Prompt
from ivr.conditions import Condition, ConditionError, parse
from ivr.errors import FlowError
from ivr.schedule import WeeklyHours, parse_weekly, zone
from ivr.version import DialplanVersion

if TYPE_CHECKING:
    from ivr import flow as model

__all__ = ["CompiledFlows", "LiveFlows", "compiled"]


class CompiledFlows(Mapping[str, Flow]):
    """A read-only mapping flow id -> `Flow` (`ivr.callflow`: the form calls walk), plus
    their parsed conditions and schedules. `ivr.compile_flow.compile_flows` builds one
    from the checked model; the classic AGI script reads the flows from its cache.

    `version` is the dialplan version the flows were loaded as (None for flows built in
    memory): every call started on them records it in its journey."""

    def __init__(self, flows: Mapping[str, Flow], version: DialplanVersion | None = None) -> None:
        self._flows = dict(flows)
        self.version = version
        self._conditions: dict[tuple[str, str], tuple[Condition, ...]] = {}
        self._offers: dict[tuple[str, str], dict[str, Condition]] = {}
        self._hours: dict[tuple[str, str], tuple[ZoneInfo, WeeklyHours]] = {}
        # id(prompts) -> (the prompts, kept so the id stays theirs; the resolved sounds, or
        # None when a prompt is a template that must be filled per call).
        self._sounds: dict[int, tuple[tuple[Prompt, ...], tuple[Spoken, ...] | None]] = {}
        self._actions: dict[tuple[str, str, str], Action] = {}
        self._entries: dict[tuple[str, str], tuple[Node, EnterNode]] = {}

    def __getitem__(self, flow_id: str) -> Flow:
        return self._flows[flow_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    def flow(self, flow_id: str, *, from_flow: str | None = None) -> Flow:
        try:
            return self._flows[flow_id]
        except KeyError:
            raise FlowError(f"no flow {flow_id!r}", flow=from_flow or flow_id) from None

    def node(self, flow_id: str, node_id: str) -> Node:
        try:
            return self.flow(flow_id).nodes[node_id]
        except KeyError:
            raise FlowError(f"no node {node_id!r}", flow=flow_id, node=node_id) from None

    def entry(self, target: tuple[str, str]) -> tuple[Node, EnterNode]:
        """The node at `target` (flow id, node id) and the `EnterNode` that announces it:
        both the same for every call, so looked up and built once, not per entry."""
        found = self._entries.get(target)
        if found is None:
            flow_id, node_id = target
            node = self.node(flow_id, node_id)
            found = self._entries[target] = (node, EnterNode(flow_id, node_id, node.type))
        return found

    def conditions(self, flow_id: str, node_id: str, node: BranchNode) -> tuple[Condition, ...]:
        key = (flow_id, node_id)
        found = self._conditions.get(key)
        if found is None:
            parsed: list[Condition] = []
            for number, case in enumerate(node.cases, start=1):
                try:
                    parsed.append(parse(case.when))
                except ConditionError as exc:
                    raise FlowError(
                        f"case {number}: {exc.message} (at character {exc.offset + 1})",
                        flow=flow_id,
                        node=node_id,
                    ) from None
            found = self._conditions[key] = tuple(parsed)
        return found

    def offers(self, flow_id: str, node_id: str, node: MenuNode) -> dict[str, Condition]:
        """A menu's conditional options: key -> the parsed `when:` that offers it."""
        key = (flow_id, node_id)
        found = self._offers.get(key)
        if found is None:
            found = {}
            for option_key, option in node.conditional().items():
                assert option.when is not None
                try:
                    found[option_key] = parse(option.when)
                except ConditionError as exc:
                    raise FlowError(
                        f"option {option_key}: {exc.message} (at character {exc.offset + 1})",
                        flow=flow_id,
                        node=node_id,
                    ) from None
            self._offers[key] = found
        return found

    def hours(self, flow_id: str, node_id: str, node: HoursNode) -> tuple[ZoneInfo, WeeklyHours]:
        key = (flow_id, node_id)
        found = self._hours.get(key)
        if found is None:
            try:
                timezone, weekly = node.hours()
                found = (zone(timezone), parse_weekly(weekly))
            except ValueError as exc:
                raise FlowError(str(exc), flow=flow_id, node=node_id) from None
            self._hours[key] = found
        return found

    def sounds(self, prompts: tuple[Prompt, ...]) -> tuple[Spoken, ...] | None:
        """The prompts as actions if they are all plain sounds (the same for every call),
        else None: templates (`digits:`, `number:`) are filled per call."""
        found = self._sounds.get(id(prompts))
        if found is None or found[0] is not prompts:
            resolved: tuple[Spoken, ...] | None = None
            if all(prompt.sound is not None for prompt in prompts):
                resolved = tuple(Sound(p.sound, p.text) for p in prompts if p.sound is not None)
            found = self._sounds[id(prompts)] = (prompts, resolved)
        return found[1]

    def action(self, key: tuple[str, str, str], make: Callable[[], Action]) -> Action:
        """An action that is the same for every call at this point of a flow (e.g. a menu's
        first Collect), built once. `key` is (what, flow id, node id)."""
        found = self._actions.get(key)
        if found is None:
            found = self._actions[key] = make()
        return found


class LiveFlows:
    """The flows new calls start on. A reload swaps `current` whole; a call keeps the
    `CompiledFlows` it started on (its `Session` holds them) until it ends."""

    __slots__ = ("current",)

    def __init__(self, current: CompiledFlows) -> None:
        self.current = current

    @classmethod
    def of(cls, flows: Mapping[str, model.Flow] | CompiledFlows | LiveFlows) -> LiveFlows:
        """`flows` as live flows: fixed ones (a test, the classic AGI script) never change."""
        if isinstance(flows, LiveFlows):
            return flows
        return cls(compiled(flows))


def compiled(flows: Mapping[str, model.Flow] | CompiledFlows) -> CompiledFlows:
    """`flows` as a `CompiledFlows`: compiled from the model if they are not already (the
    model, and so pydantic, is imported only then: whoever holds models has it loaded)."""
    if isinstance(flows, CompiledFlows):
        return flows
    from ivr.compile_flow import compile_flows

    return compile_flows(flows)
