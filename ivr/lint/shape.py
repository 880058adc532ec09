"""The 4x4 rule: at most 4 menu levels from the entry, at most 4 choices per menu.

Depth is the number of menus a caller passes through, the entry's menu being level 1,
along the longest path that does not go round a loop (a "back to the main menu" option
is a way back, not a level deeper). Announcements, lookups, branches and hours do not
count; a `goto` into another flow carries on counting there, so a sub-flow's menus
are as deep as the caller finds them. Global keys do not count as choices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ivr.conditions import ConditionError, parse
from ivr.flow import DEFAULT_MAX_DEPTH, DEFAULT_MAX_OPTIONS, ENTRY_FLOW, MenuNode
from ivr.lint.callgraph import CallGraph, Edge, NodeRef
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_menu_depth", "check_menu_options", "menu_levels"]


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    path: tuple[NodeRef, ...]
    """The menus passed through to get here, this one last."""


def _counted(edge: Edge) -> bool:
    # The operator key and the implicit way to the operator leave the tree; they are
    # not a level a caller navigates.
    return edge.target is not None and not edge.implicit and edge.kind != "operator"


def menu_levels(graph: CallGraph, root: NodeRef) -> dict[NodeRef, Level]:
    """The level of every menu reachable from `root` (longest loop-free menu path)."""
    # Depth-first search classifies the edges that close a loop (to a node still on the
    # stack); without them the graph is acyclic and reverse post-order is a
    # topological order, in which the longest path is one pass.
    order: list[NodeRef] = []
    back: set[tuple[NodeRef, NodeRef]] = set()
    state: dict[NodeRef, int] = {root: 1}  # 1 on the stack, 2 done
    stack: list[tuple[NodeRef, Iterator[Edge]]] = [(root, iter(graph.edges(root)))]
    while stack:
        ref, edges = stack[-1]
        for edge in edges:
            if not _counted(edge):
                continue
            target = edge.target
            assert target is not None
            seen = state.get(target)
            if seen == 1:
                back.add((ref, target))
            elif seen is None:
                state[target] = 1
                stack.append((target, iter(graph.edges(target))))
                break
        else:
            state[ref] = 2
            order.append(ref)
            stack.pop()

    def weight(ref: NodeRef) -> int:
        return 1 if isinstance(graph.node(ref), MenuNode) else 0

    best: dict[NodeRef, int] = {root: weight(root)}
    previous: dict[NodeRef, NodeRef] = {}
    for ref in reversed(order):
        for edge in graph.edges(ref):
            if not _counted(edge) or (ref, edge.target) in back:
                continue
            target = edge.target
            assert target is not None
            length = best[ref] + weight(target)
            if length > best.get(target, -1):
                best[target] = length
                previous[target] = ref
    levels: dict[NodeRef, Level] = {}
    for ref, length in best.items():
        if weight(ref):
            path = [ref]
            while path[-1] in previous:
                path.append(previous[path[-1]])
            menus = tuple(r for r in reversed(path) if weight(r))
            levels[ref] = Level(length, menus)
    return levels


def _roots(ctx: LintContext) -> list[NodeRef]:
    """`main` (where calls start), then each checked flow that main does not reach (a
    flow an Asterisk extension names directly is its own start)."""
    graph = ctx.graph
    roots: list[NodeRef] = []
    main = graph.entry(ENTRY_FLOW)
    reached: set[NodeRef] = set()
    if main is not None:
        roots.append(main)
        reached = set(graph.reachable([main]))
    for flow_id in sorted(ctx.checked):
        entry = graph.entry(flow_id)
        if entry is not None and entry not in reached:
            roots.append(entry)
    return roots


def check_menu_depth(ctx: LintContext) -> Iterator[Finding]:
    """menu-depth: every menu at most `limits.max_depth` (default 4) levels deep."""
    graph = ctx.graph
    worst: dict[NodeRef, tuple[Level, int, str]] = {}
    for root in _roots(ctx):
        for ref, level in menu_levels(graph, root).items():
            # A limit raised in either the flow the call started in or the menu's own
            # flow applies: each is argued in its file.
            limit = max(graph.flows[root[0]].limits.depth, graph.flows[ref[0]].limits.depth)
            if level.level <= limit:
                continue
            current = worst.get(ref)
            if current is None or level.level > current[0].level:
                worst[ref] = (level, limit, root[0])
    for ref, (level, limit, root_flow) in sorted(worst.items()):
        if ref[0] not in ctx.checked and root_flow not in ctx.checked:
            continue
        chain = " > ".join(_name(r, ref[0]) for r in level.path)
        if limit == DEFAULT_MAX_DEPTH:
            why = (
                f"callers accept at most {limit} menu levels: fold two levels into one menu, "
                "or raise limits.max_depth with a reason"
            )
        else:
            why = (
                f"the flow's limits.max_depth is {limit} (raised from {DEFAULT_MAX_DEPTH}): "
                "fold two levels into one menu"
            )
        message = f"menu {quote(ref[1])} is level {level.level} ({chain}); {why}"

        yield ctx.at_node("menu-depth", ref, message)


def _name(ref: NodeRef, here: str) -> str:
    return ref[1] if ref[0] == here else f"{ref[0]}:{ref[1]}"


def most_offered(node: MenuNode, global_keys: frozenset[str]) -> list[str]:
    """The business options one caller can be offered at most (the 4x4 count).

    Options without `when:` are offered to everyone. Options with `when:` count as if
    their conditions held together, except conditions of the form `name == literal`
    on one name with different literals, which never hold together: of those, only the
    largest group with one literal counts (`customer.tier == "vip"` and
    `customer.tier == "gold"` options are never offered to the same caller).
    """
    keys = [key for key in node.options if key not in global_keys]
    exclusive: dict[str, dict[object, list[str]]] = {}
    counted: list[str] = []
    for key in keys:
        when = node.options[key].when
        equality = None
        if when is not None:
            try:
                equality = parse(when).equality()
            except ConditionError:
                equality = None  # bad-condition reports it; count the option
        if equality is None:
            counted.append(key)
        else:
            name, literal = equality
            exclusive.setdefault(name, {}).setdefault(literal, []).append(key)
    for groups in exclusive.values():
        counted.extend(sorted(groups.values(), key=len)[-1])
    return [key for key in keys if key in counted]


def check_menu_options(ctx: LintContext) -> Iterator[Finding]:
    """menu-options: every menu at most its limit of business choices: the menu's own
    `limits.max_options`, else the file's, else 4 (global keys not counted; conditional
    options counted as `most_offered` says)."""
    for loaded in ctx.flows():
        flow = loaded.model
        global_keys = flow.global_keys()
        for node_id, node in flow.nodes.items():
            if not isinstance(node, MenuNode):
                continue
            offered = most_offered(node, global_keys)
            raised = node.limits.max_options if node.limits is not None else flow.limits.max_options
            limit = raised.value if raised is not None else DEFAULT_MAX_OPTIONS
            if len(offered) <= limit:
                continue
            conditional = [k for k in offered if node.options[k].when is not None]
            some = f", {len(conditional)} of them on a condition" if conditional else ""
            if raised is None:
                why = (
                    f"callers keep at most {limit} in mind: group the rarest under one key or a "
                    "sub-menu, or raise this menu's limits.max_options with a reason"
                )
            else:
                whose = "this menu's" if node.limits is not None else "the flow's"
                why = (
                    f"{whose} limits.max_options is {limit} (raised from {DEFAULT_MAX_OPTIONS}: "
                    f"{quote(raised.reason, 60)}): group the rarest under one key or a sub-menu"
                )
            up_to = "a caller up to " if conditional else ""
            message = (
                f"menu {quote(node_id)} offers {up_to}{len(offered)} choices "
                f"({', '.join(offered)}{some}); {why}"
            )
            yield ctx.at("menu-options", flow.id, ("nodes", node_id), message)
