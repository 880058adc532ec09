"""The sign-off pack: everything a client reads before signing a dialplan version.

One HTML page (print-ready, and turned into PDF by `callpop.signoff.pdf`): the
version's hash, each flow drawn (`ivr.graph`'s SVG), every node with its prompts'
text and sound names and its options, the hours and holidays, the queues and the
priorities transfers give, the 4x4 limits and the reasons for any raised one, the
keys and seconds to reach each destination (`ivr.reach`, i.e. the simulator), the
changes since the last signed version when there is one, and a signature block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from callpop.signoff.pages import diff_groups, render_page
from ivr.catalog import QueueCatalog
from ivr.diff import Change, option_text, summary_line
from ivr.flow import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_OPTIONS,
    ENTRY_FLOW,
    Flow,
    HoursNode,
    MenuNode,
    Prompt,
    TransferNode,
)
from ivr.graph.model import describe_duration
from ivr.graph.svg import render_svg
from ivr.reach import Route, routes

__all__ = ["PackInput", "render_pack"]


@dataclass(frozen=True, slots=True)
class PackInput:
    title: str
    client: str | None
    source: str  # the dialplan as the admin named it
    version: str  # the content hash
    generated: datetime
    flows: Mapping[str, Flow]
    queues: QueueCatalog | None
    changes: list[Change] | None = None  # None: no --against
    against: str | None = None


def _prompt(prompt: Prompt) -> dict[str, str]:
    if prompt.sound is not None:
        return {
            "sound": prompt.sound,
            "text": prompt.text or "(no text: the recording's script is missing)",
        }
    if prompt.digits is not None:
        return {"sound": "(digits said by Asterisk)", "text": prompt.digits}
    return {"sound": "(number said by Asterisk)", "text": prompt.number or ""}


def _targets(node: Any) -> list[str]:
    """Where a non-menu node leads, as people read it."""
    names = (
        "next",
        "open",
        "closed",
        "holiday",
        "found",
        "not_found",
        "unavailable",
        "default",
        "on_failure",
    )
    out = [
        f"{name.replace('_', ' ')} → {getattr(node, name)}"
        for name in names
        if getattr(node, name, None)
    ]
    if node.type == "branch":
        out = [f"if {case.when} → {case.goto}" for case in node.cases] + out
    if node.type == "goto":
        out.append(
            "continues in "
            + (f"flow {node.flow}" if node.flow else "")
            + (f" at {node.node}" if node.node else "")
        )
    if isinstance(node, TransferNode):
        out.insert(
            0,
            f"{node.kind} {node.target}" + (f", priority {node.priority}" if node.priority else ""),
        )
        if node.survey:
            out.insert(1, f"then survey {node.survey}, once the agent hangs up")
    if node.type == "voicemail":
        out.insert(0, f"voicemail box {node.mailbox}")
    return out


def _nodes(flow: Flow) -> list[dict[str, Any]]:
    rows = []
    for node_id, node in flow.nodes.items():
        prompts = [_prompt(p) for p in getattr(node, "prompts", ())]
        confirm = getattr(node, "confirm", None)
        if confirm is not None:
            prompts += [_prompt(p) for p in confirm.prompts]
        options = (
            [
                {
                    "key": k,
                    "label": o.label or "",
                    "goto": o.goto,
                    "topic": o.topic or "",
                    "when": o.when or "",
                    "prompts": [_prompt(p) for p in o.prompts],
                }
                for k, o in node.options.items()
            ]
            if isinstance(node, MenuNode)
            else []
        )
        rows.append(
            {
                "id": node_id,
                "label": node.label or "",
                "kind": node.type,
                "description": node.description or "",
                "prompts": prompts,
                "options": options,
                "targets": [] if isinstance(node, MenuNode) else _targets(node),
            }
        )
    return rows


def _surveys(flow: Flow) -> list[dict[str, Any]]:
    """Each post-call survey as the caller hears it: the introduction, every question
    (answered with a key from 1 to 5), what a wrong key and a silence get, the close."""
    settings = flow.settings
    out = []
    for name, survey in flow.surveys.items():
        invalid = survey.invalid_prompts
        timeout = survey.timeout_prompts
        steps = [("Introduction", list(survey.intro_prompts))]
        steps += [
            (f"Question {n}: {q.label or q.id}", list(q.prompts))
            for n, q in enumerate(survey.questions, start=1)
        ]
        steps += [
            (
                "A key other than 1 to 5",
                list(settings.invalid_prompts if invalid is None else invalid),
            ),
            ("Silence", list(settings.timeout_prompts if timeout is None else timeout)),
            ("The end", list(survey.thanks_prompts)),
        ]
        out.append(
            {
                "name": name,
                "label": survey.label or "",
                "timeout": describe_duration(survey.timeout or settings.timeout),
                "max_invalid": survey.max_invalid or settings.max_invalid,
                "max_timeouts": survey.max_timeouts or settings.max_timeouts,
                "steps": [
                    {"what": what, "prompts": [_prompt(p) for p in prompts]}
                    for what, prompts in steps
                    if prompts
                ],
            }
        )
    return out


def _hours(flows: Mapping[str, Flow]) -> list[dict[str, Any]]:
    """One entry per inline hours node, and one per named schedule with every node that
    uses it: a schedule shared by five nodes is read (and signed) once."""
    out: list[dict[str, Any]] = []
    named: dict[str, dict[str, Any]] = {}
    for flow in flows.values():
        for node_id, node in flow.nodes.items():
            if not isinstance(node, HoursNode):
                continue
            routes = [
                f"open → {node.open}",
                f"closed → {node.closed}",
                f"holiday → {node.holiday or node.closed}",
            ]
            use = {
                "flow": flow.id,
                "node": node_id,
                "label": node.label or node_id,
                "routes": routes,
            }
            if node.schedule is not None and node.schedule in named:
                named[node.schedule]["used_by"].append(use)
                continue
            weekly = node.weekly or {}
            entry = {
                **use,
                "schedule": node.schedule,
                "timezone": node.timezone or "(not defined in schedules.yaml)",
                "weekly": [
                    (day, spans if isinstance(spans, str) else ", ".join(spans))
                    for day, spans in weekly.items()
                ],
                "holidays": [str(h) for h in node.holidays],
                "used_by": [use],
            }
            if node.schedule is not None:
                named[node.schedule] = entry
            out.append(entry)
    return out


def _queues(flows: Mapping[str, Flow], catalog: QueueCatalog | None) -> list[dict[str, Any]]:
    used: dict[str, list[str]] = {}
    for flow in flows.values():
        for node_id, node in flow.nodes.items():
            if isinstance(node, TransferNode) and node.queue is not None:
                used.setdefault(node.queue, []).append(
                    f"{node.label or node_id} (priority {node.priority})"
                )
    names = list(catalog.queues) if catalog is not None else []
    names += [name for name in used if name not in names]
    rows = []
    for name in names:
        queue = catalog.queues.get(name) if catalog is not None else None
        rows.append(
            {
                "name": name,
                "description": queue.description if queue and queue.description else "",
                "strategy": queue.strategy if queue else "(not in queues.yaml)",
                "members": len(queue.members) if queue else 0,
                "service_level": describe_duration(queue.service_level) if queue else "",
                "max_wait": describe_duration(queue.max_wait)
                if queue and queue.max_wait
                else "no limit",
                "weight": queue.weight if queue else "",
                "used_by": used.get(name, []),
                "operator": catalog is not None and catalog.operator == name,
            }
        )
    return rows


def _limits(flow: Flow) -> list[dict[str, str]]:
    rows = []
    for limit, default, what in (
        (flow.limits.max_depth, DEFAULT_MAX_DEPTH, "menu levels"),
        (flow.limits.max_options, DEFAULT_MAX_OPTIONS, "options per menu"),
    ):
        rows.append(
            {
                "what": what,
                "value": str(limit.value if limit else default),
                "reason": limit.reason if limit else "the 4x4 rule's default",
                "raised": "yes" if limit and limit.value > default else "",
            }
        )
    for node_id, node in flow.nodes.items():
        if isinstance(node, MenuNode) and node.limits is not None:
            limit = node.limits.max_options
            rows.append(
                {
                    "what": f"options in {node.label or node_id} (this menu only)",
                    "value": str(limit.value),
                    "reason": limit.reason,
                    "raised": "yes" if limit.value > flow.limits.options else "",
                }
            )
    return rows


def _route(route: Route) -> dict[str, Any]:
    return {
        "destination": route.label
        or f"{route.target or 'hang-up'}, from {route.menus[-1] if route.menus else route.node}",
        "where": f"{route.flow}:{route.node}",
        "target": route.target or "the call ends",
        "priority": route.priority if route.priority else "",
        "topic": route.topic or "",
        "press": list(route.keys),
        "menus": " › ".join(route.menus),
        "seconds": f"{route.seconds:.1f}",
        "when": route.when or "any time",
    }


def render_pack(data: PackInput) -> str:
    """The pack as one HTML document (diagrams inline, no external file)."""
    flows = [data.flows[ENTRY_FLOW]] if ENTRY_FLOW in data.flows else []
    flows += [flow for flow_id, flow in sorted(data.flows.items()) if flow_id != ENTRY_FLOW]
    entry = "main" if "main" in data.flows else (flows[0].id if flows else None)
    reach = [_route(r) for r in routes(data.flows, entry, data.generated)] if entry else []
    context = {
        "title": data.title,
        "client": data.client,
        "source": data.source,
        "version": data.version,
        "generated": data.generated.strftime("%Y-%m-%d %H:%M %Z").strip(),
        "flows": [
            {
                "id": flow.id,
                "description": flow.description or "",
                # Our own SVG, every text in it escaped by ivr.graph.svg: safe to inline.
                "svg": Markup(render_svg(flow).split("?>", 1)[-1]),
                "nodes": _nodes(flow),
                "surveys": _surveys(flow),
                "limits": _limits(flow),
                "settings": flow.settings,
                "timeout": describe_duration(flow.settings.timeout),
            }
            for flow in flows
        ],
        "hours": _hours(data.flows),
        "queues": _queues(data.flows, data.queues),
        "reach": reach,
        "changes": None if data.changes is None else diff_groups(data.changes),
        "change_summary": None if data.changes is None else summary_line(data.changes),
        "against": data.against,
        "option_text": option_text,
    }
    return render_page("pack.html", context)
