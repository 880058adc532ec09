"""Timeouts and retry counts within what callers tolerate.

The model accepts any sane-looking number; these rules say where call-center
practice puts the bounds. A menu that waits 1 s cuts off a caller still reaching for
the keypad; one that waits 30 s leaves them in dead air wondering whether the line
dropped. Between the digits of an account number, 1 s is too quick for a caller
reading from a bill. More than 5 attempts before the failure path only lengthens a
call that is already going wrong.
"""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flow import InputNode, MenuNode
from ivr.lint.context import LintContext
from ivr.source import Finding, PathPart

__all__ = [
    "INTERDIGIT_MS",
    "MAX_RETRIES",
    "TIMEOUT_MS",
    "check_retries_range",
    "check_timeout_range",
]

TIMEOUT_MS = (2_000, 15_000)
INTERDIGIT_MS = (1_000, 10_000)
MAX_RETRIES = 5


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def check_timeout_range(ctx: LintContext) -> Iterator[Finding]:
    """timeout-range: timeouts 2-15 s, inter-digit timeouts 1-10 s."""
    for loaded in ctx.flows():
        flow = loaded.model
        fields: list[tuple[tuple[PathPart, ...], int | None, tuple[int, int], str]] = [
            (("settings", "timeout"), flow.settings.timeout, TIMEOUT_MS, "timeout"),
            (
                ("settings", "interdigit_timeout"),
                flow.settings.interdigit_timeout,
                INTERDIGIT_MS,
                "inter-digit timeout",
            ),
        ]
        for node_id, node in flow.nodes.items():
            if isinstance(node, MenuNode | InputNode):
                fields.append((("nodes", node_id, "timeout"), node.timeout, TIMEOUT_MS, "timeout"))
            if isinstance(node, InputNode):
                fields.append(
                    (
                        ("nodes", node_id, "interdigit_timeout"),
                        node.interdigit_timeout,
                        INTERDIGIT_MS,
                        "inter-digit timeout",
                    )
                )
            if isinstance(node, MenuNode) and node.direct_dial is not None:
                fields.append(
                    (
                        ("nodes", node_id, "direct_dial", "interdigit_timeout"),
                        node.direct_dial.interdigit_timeout,
                        INTERDIGIT_MS,
                        "inter-digit timeout",
                    )
                )
        for path, value, (low, high), what in fields:
            if value is None or low <= value <= high:
                continue
            side = (
                "too short for a caller to answer"
                if value < low
                else "dead air: the caller wonders if the line dropped"
            )
            message = f"{'.'.join(map(str, path))}: a {what} of {_seconds(value)} is {side}; keep it within {_seconds(low)} to {_seconds(high)}"
            yield ctx.at("timeout-range", flow.id, path, message, value=True)


def check_retries_range(ctx: LintContext) -> Iterator[Finding]:
    """retries-range: at most 5 invalid entries or timeouts before the failure path."""
    for loaded in ctx.flows():
        flow = loaded.model
        fields: list[tuple[tuple[PathPart, ...], int | None]] = [
            (("settings", "max_invalid"), flow.settings.max_invalid),
            (("settings", "max_timeouts"), flow.settings.max_timeouts),
        ]
        for node_id, node in flow.nodes.items():
            if isinstance(node, MenuNode | InputNode):
                fields.append((("nodes", node_id, "max_invalid"), node.max_invalid))
                fields.append((("nodes", node_id, "max_timeouts"), node.max_timeouts))
        for path, value in fields:
            if value is not None and value > MAX_RETRIES:
                message = (
                    f"{'.'.join(map(str, path))}: {value} attempts before the failure path; callers "
                    f"give up long before, so keep it at {MAX_RETRIES} or fewer (3 is usual)"
                )
                yield ctx.at("retries-range", flow.id, path, message, value=True)
