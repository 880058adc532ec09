"""Business hours that the engine can read: a real timezone, real days, real spans.

The engine parses an `hours` node only when a call first reaches it
(`ivr.compiled`), so a typo in a schedule would surface as a caller sent to the
operator at 8 in the morning. This rule runs the engine's own parser
(`ivr.schedule`) on every hours node, so lint and the engine never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flow import HoursNode
from ivr.lint.context import LintContext
from ivr.schedule import parse_weekly, zone
from ivr.source import Finding, quote

__all__ = ["check_bad_hours"]


def check_bad_hours(ctx: LintContext) -> Iterator[Finding]:
    """bad-hours: timezone, day names and spans of every hours node."""
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, HoursNode):
                continue
            base = ("nodes", node_id)
            try:
                zone(node.timezone)
            except ValueError as exc:
                yield ctx.at("bad-hours", flow.id, (*base, "timezone"), f"hours {quote(node_id)}: {exc}", value=True)
            # Each line alone first, so a finding points at the line that is wrong;
            # then line by line together, so a day named twice points at its second naming.
            broken = False
            for key, value in node.weekly.items():
                try:
                    parse_weekly({key: value})
                except ValueError as exc:
                    broken = True
                    yield ctx.at("bad-hours", flow.id, (*base, "weekly", key), f"hours {quote(node_id)}: {exc}")
            if broken:
                continue
            so_far: dict[str, str | tuple[str, ...]] = {}
            for key, value in node.weekly.items():
                so_far[key] = value
                try:
                    parse_weekly(so_far)
                except ValueError as exc:
                    yield ctx.at("bad-hours", flow.id, (*base, "weekly", key), f"hours {quote(node_id)}: {exc}")
                    break
