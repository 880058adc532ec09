"""Checks a request against Asterisk 22's ARI Swagger 1.1 description (api-docs/)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .transcripts import api_docs

RESOURCES = ("channels", "playbacks", "applications", "asterisk", "events")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    params: dict[str, dict[str, Any]]


def _operations() -> list[Operation]:
    found = []
    for resource in RESOURCES:
        for api in api_docs(resource)["apis"]:
            template = api["path"]
            pattern = re.compile(
                "^/ari" + re.sub(r"\{[^}]+\}", "[^/]+", template.replace(".", r"\.")) + "$"
            )
            for op in api["operations"]:
                params = {p["name"]: p for p in op.get("parameters", [])}
                found.append(Operation(op["httpMethod"], template, pattern, params))
    return found


OPERATIONS = _operations()


def problems(method: str, path: str, query: Sequence[tuple[str, str]]) -> list[str]:
    """What is wrong with a request as the API description sees it; [] if nothing."""
    matches = [op for op in OPERATIONS if op.method == method and op.pattern.match(path)]
    # A literal path (/channels/create) beats a template (/channels/{channelId}).
    matches.sort(key=lambda op: op.template.count("{"))
    if not matches:
        return [f"{method} {path}: no such operation in the ARI description"]
    op = matches[0]
    found = []
    names = [name for name, _ in query]
    for name in names:
        spec = op.params.get(name)
        if spec is None or spec["paramType"] != "query":
            found.append(f"{method} {op.template}: unknown query parameter {name!r}")
        elif names.count(name) > 1 and not spec.get("allowMultiple"):
            found.append(f"{method} {op.template}: {name!r} given twice")
    for name, spec in op.params.items():
        if spec["paramType"] == "query" and spec.get("required") and name not in names:
            found.append(f"{method} {op.template}: required parameter {name!r} missing")
        allowed = spec.get("allowableValues")
        if allowed and allowed.get("valueType") == "LIST":
            for given_name, value in query:
                if given_name == name and value not in allowed["values"]:
                    found.append(f"{method} {op.template}: {name}={value!r} not allowed")
    for name, value in query:
        spec = op.params.get(name)
        if spec and spec["dataType"] in ("int", "long") and not re.fullmatch(r"-?\d+", value):
            found.append(f"{method} {op.template}: {name}={value!r} is not an integer")
    return found
