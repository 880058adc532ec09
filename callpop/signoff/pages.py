"""HTML pages of the sign-off tools, from jinja2 templates with autoescape on.

Every text shown comes from a flow file or a queue file an admin wrote and a client
reads: it is escaped like any other input, so a prompt text can never become markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from ivr.diff import Change

__all__ = ["diff_groups", "render_page"]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("callpop.signoff", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, context: Mapping[str, Any]) -> str:
    """A template of `callpop/signoff/templates` filled with `context`."""
    return _environment().get_template(template).render(**context)


def diff_groups(changes: list[Change]) -> list[dict[str, Any]]:
    """Changes grouped for a page: per flow (or `queues`), then per node, in order."""
    groups: list[dict[str, Any]] = []
    for change in changes:
        if not groups or groups[-1]["where"] != change.where:
            groups.append({"where": change.where, "nodes": []})
        nodes = groups[-1]["nodes"]
        if not nodes or nodes[-1]["node"] != change.node:
            nodes.append({"node": change.node, "title": change.title, "changes": []})
        nodes[-1]["changes"].append(change)
    return groups
