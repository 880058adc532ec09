"""Model validation with every pydantic error turned into a positioned `Finding`.

pydantic reports an error's place as a `loc` path (`("nodes", "main_menu", "menu",
"timeout")`); the `SourceMap` turns it into the line and column of the offending key
or value. Messages are rewritten for telephony admins: the field's path as written in
the file, what was expected, and a "did you mean" for a misspelt field name.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ivr import flow as flow_model
from ivr.source import Finding, Position, SourceMap, quote

__all__ = ["validate_model"]

M = TypeVar("M", bound=BaseModel)

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "tuple_type": "a list",
    "list_type": "a list",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date (YYYY-MM-DD)",
}


def _pattern_of(annotated: Any) -> str | None:
    for meta in typing.get_args(annotated)[1:]:
        pattern = getattr(meta, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


# What each identifier pattern of the flow model means, in words.
_PATTERNS: Mapping[str | None, str] = {
    _pattern_of(
        flow_model.NodeId
    ): "a node or flow id: a letter, then letters, digits, _ or - (64 at most)",
    _pattern_of(
        flow_model.VariableName
    ): "a variable name: a lowercase letter, then lowercase letters, digits or _ (32 at most)",
    _pattern_of(
        flow_model.SoundName
    ): "an Asterisk sound name: letters, digits, _ . / - without the file extension",
    _pattern_of(
        flow_model.Topic
    ): "a topic: a lowercase letter, then lowercase letters, digits, _ or - (32 at most)",
}


def validate_model(
    model: type[M], data: Any, source: SourceMap, file: str
) -> tuple[M | None, list[Finding]]:
    """Validate `data` as `model`; on failure, the findings point into `file`."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = _root_causes(exc.errors(include_url=False))
        findings = [_finding(model, error, source, file) for error in errors]
        return None, _unique(findings)


def _root_causes(errors: list[Any]) -> list[Any]:
    # A list whose only item is invalid is also "too short after validation": the item's
    # error is the cause, the length error an echo of it.
    locs = [tuple(e["loc"]) for e in errors]
    return [
        error
        for error, loc in zip(errors, locs, strict=True)
        if error["type"] != "too_short"
        or not any(other[: len(loc)] == loc and len(other) > len(loc) for other in locs)
    ]


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    # A value that fails every member of a plain union (`str | tuple[str, ...]`) gives one
    # error per member at the same place; the admin needs one line.
    seen: set[tuple[Position, str]] = set()
    out = []
    for finding in findings:
        key = (finding.position, finding.rule)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def _finding(model: type[BaseModel], error: Any, source: SourceMap, file: str) -> Finding:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind: str = error["type"]
    entry, matched = source.resolve(*loc)
    where = ".".join(str(p) for p in matched) or "the file"
    value = error.get("input")

    if kind == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        owner = _model_at(model, loc[:-1])
        message = f"{where}: unknown field {quote(field)}"
        if owner is not None:
            names = _field_names(owner)
            close = difflib.get_close_matches(field, names, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {quote(close[0])}?"
            else:
                message += f" ({_describe(owner)} takes {', '.join(names)})"
        return Finding(file, entry.key, "error", "unknown-field", message)

    if kind == "missing":
        field = str(loc[-1]) if loc else "?"
        parent, parent_matched = source.resolve(*loc[:-1])
        owner = _model_at(model, loc[:-1])
        what = _describe(owner) if owner is not None else "this entry"
        place = ".".join(str(p) for p in parent_matched) or "the file"
        message = f"{place}: {what} needs {quote(field)}"
        if owner is flow_model.Limit and field == "reason":
            message += (
                ": a 4x4 limit is raised only with a written reason (who asked, why callers gain)"
            )
        return Finding(file, parent.key, "error", "missing-field", message)

    if kind == "union_tag_invalid":
        type_pos = source.value_of(*loc, "type")
        kinds = ", ".join(flow_model.NODE_KINDS)
        message = f"{where}: unknown node type {quote(error['ctx']['tag'])}; the types are {kinds}"
        return Finding(file, type_pos, "error", "unknown-node-type", message)

    if kind == "union_tag_not_found":
        kinds = ", ".join(flow_model.NODE_KINDS)
        return Finding(
            file, entry.key, "error", "missing-field", f"{where}: a node needs a type ({kinds})"
        )

    if kind in _EXPECTED:
        message = f"{where}: expected {_EXPECTED[kind]}, found {_found(value)}"
        if kind.startswith("date_") and isinstance(value, str):
            message = f"{where}: {quote(value)} is not a date (write YYYY-MM-DD)"
        return Finding(file, entry.value, "error", "bad-type", message)

    if kind == "string_pattern_mismatch":
        meaning = _PATTERNS.get(error.get("ctx", {}).get("pattern"))
        if meaning is None:
            meaning = f"in the expected form ({error['msg'].removeprefix('String should match ').lower()})"
        return Finding(
            file,
            entry.value,
            "error",
            "invalid-value",
            f"{where}: {_found(value)} is not {meaning}",
        )

    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "value_error" and "duration" in message:
        return Finding(file, entry.value, "error", "bad-duration", f"{where}: {message}")
    if kind in (
        "literal_error",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
    ):
        message = f"{message}, not {_found(value)}"
    position = entry.value if matched == loc else entry.key
    return Finding(file, position, "error", "invalid-value", f"{where}: {message}")


def _found(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return quote(value)


def _describe(model: type[BaseModel]) -> str:
    kind = model.model_fields.get("type")
    if kind is not None:
        args = typing.get_args(kind.annotation)
        if args:
            return f"a {args[0]} node"
    name = model.__name__.removesuffix("Node")
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name.lower()}"


def _field_names(model: type[BaseModel]) -> list[str]:
    names = [info.alias or name for name, info in model.model_fields.items()]
    if model is flow_model.Flow:
        names.remove("id")  # the flow id is the file name, never written in the file
    return names


def _strip(tp: Any) -> Any:
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(tp) if m is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _step(tp: Any, part: str | int) -> Any:
    """The type one path part further in (None if unknown)."""
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(tp)
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin in (tuple, list):
        return typing.get_args(tp)[0]
    if origin in (typing.Union, types.UnionType):
        # A discriminated union: pydantic's loc names the member by its tag.
        for member in typing.get_args(tp):
            member = _strip(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                tag = member.model_fields.get("type")
                if tag is not None and part in typing.get_args(tag.annotation):
                    return member
        return None
    return None


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    tp: Any = root
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return None
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    # `nodes.x` before its tag: a node whose kind pydantic could not tell.
    return None
