"""An `Operation` plus values -> the HTTP request to send. Pure: no I/O.

Each value is escaped for where it lands (design.md): percent-encoded as one path
segment (a `/` in a value cannot climb to another resource) or as one query value
(an `&` cannot add a parameter), and encoded as a JSON string in a body (a `"` cannot
close it). A body string that is exactly one placeholder takes the value's own JSON
type, so an absent disposition is `null`, not `""`.

A `json` member or `query` parameter whose name ends in `?` is optional: when any
placeholder inside it has no value (absent or null) it is left out whole, so an
unknown caller's `"to?": {"id": "{customer_id}"}` sends no `to` rather than
`"to": {"id": null}`. The `?` is not sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from yarl import URL

from crm_adapter.rest.template import MISSING, Template, lookup_path
from crm_adapter.settings import Operation

__all__ = ["PreparedRequest", "prepare"]


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    url: URL
    body: bytes | None


def _segment(value: str) -> str:
    return quote(value, safe="")


def prepare(operation: Operation, base_url: str, values: Mapping[str, Any]) -> PreparedRequest:
    path = Template.parse(operation.path).render(values, _segment)
    query = "&".join(
        f"{quote(name.removesuffix('?'), safe='')}="
        f"{quote(Template.parse(template).render(values), safe='')}"
        for name, template in operation.query.items()
        if not (name.endswith("?") and _lacks_value(template, values))
    )
    url = URL(base_url + path + (f"?{query}" if query else ""), encoded=True)
    body = None
    if operation.json_body is not None:
        body = json.dumps(_fill(operation.json_body, values), ensure_ascii=False).encode()
    return PreparedRequest(operation.method, url, body)


def _lacks_value(node: Any, values: Mapping[str, Any]) -> bool:
    """Whether a placeholder anywhere in `node` (a template or a body part) has no value."""
    if isinstance(node, str):
        found = (lookup_path(values, name) for name in Template.parse(node).names)
        return any(value is MISSING or value is None for value in found)
    if isinstance(node, Mapping):
        return any(_lacks_value(v, values) for v in node.values())
    if isinstance(node, list):
        return any(_lacks_value(v, values) for v in node)
    return False


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        template = Template.parse(node)
        sole = template.sole
        if sole is not None:
            value = lookup_path(values, sole)
            return None if value is MISSING else value
        return template.render(values)
    if isinstance(node, Mapping):
        return {
            key.removesuffix("?"): _fill(value, values)
            for key, value in node.items()
            if not (key.endswith("?") and _lacks_value(value, values))
        }
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    return node
