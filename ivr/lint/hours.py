"""Business hours that the engine can read: a real timezone, real days, real spans.

The engine parses an `hours` node only when a call first reaches it
(`ivr.compiled`), so a typo in a schedule would surface as a caller sent to the
operator at 8 in the morning. This rule runs the engine's own parser
(`ivr.schedule`) on every hours node, so lint and the engine never disagree.
A named schedule is checked once, when `schedules.yaml` loads; a node naming a
schedule that file does not define is unknown-schedule.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from ivr.flow import HoursNode
from ivr.lint.context import LintContext
from ivr.schedule import parse_weekly, zone
from ivr.source import Finding, quote

__all__ = ["check_bad_hours", "check_unknown_schedules"]


def check_bad_hours(ctx: LintContext) -> Iterator[Finding]:
    """bad-hours: timezone, day names and spans of every hours node."""
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, HoursNode) or node.schedule is not None:
                continue
            timezone, weekly = node.hours()
            base = ("nodes", node_id)
            try:
                zone(timezone)
            except ValueError as exc:
                yield ctx.at(
                    "bad-hours",
                    flow.id,
                    (*base, "timezone"),
                    f"hours {quote(node_id)}: {exc}",
                    value=True,
                )
            # Each line alone first, so a finding points at the line that is wrong;
            # then line by line together, so a day named twice points at its second naming.
            broken = False
            for key, value in weekly.items():
                try:
                    parse_weekly({key: value})
                except ValueError as exc:
                    broken = True
                    yield ctx.at(
                        "bad-hours",
                        flow.id,
                        (*base, "weekly", key),
                        f"hours {quote(node_id)}: {exc}",
                    )
            if broken:
                continue
            so_far: dict[str, str | tuple[str, ...]] = {}
            for key, value in weekly.items():
                so_far[key] = value
                try:
                    parse_weekly(so_far)
                except ValueError as exc:
                    yield ctx.at(
                        "bad-hours",
                        flow.id,
                        (*base, "weekly", key),
                        f"hours {quote(node_id)}: {exc}",
                    )
                    break


def check_unknown_schedules(ctx: LintContext) -> Iterator[Finding]:
    """unknown-schedule: every `schedule:` of an hours node is defined in schedules.yaml."""
    catalog = ctx.dialplan.schedules
    if catalog is None and (ctx.dialplan.root / "schedules.yaml").exists():
        return  # it did not load: its own findings say why, once
    known = list(catalog.model.schedules) if catalog is not None else []
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, HoursNode) or node.schedule is None or node.schedule in known:
                continue
            if catalog is None:
                where = "there is no schedules.yaml beside the flows"
            else:
                close = difflib.get_close_matches(node.schedule, known, n=1, cutoff=0.6)
                hint = f" (did you mean {quote(close[0])}?)" if close else ""
                where = f"schedules.yaml does not define it{hint}"
            message = f"hours {quote(node_id)} uses schedule {quote(node.schedule)}, but {where}"
            yield ctx.at(
                "unknown-schedule", flow.id, ("nodes", node_id, "schedule"), message, value=True
            )
