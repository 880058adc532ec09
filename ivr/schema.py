"""JSON Schemas of the dialplan files, generated from the models, for editors.

`dialplan/schema/flow.json`, `queues.json`, `dispositions.json`, `scripts.json`,
`schedules.json` let an
editor (VS Code's YAML extension, JetBrains, vim with yaml-language-server) complete
fields and flag typos as the admin types: put
`# yaml-language-server: $schema=../schema/flow.json` at the top of a flow file.

The models accept shorthands that plain pydantic schemas do not show (a prompt or an
option written as one string, a duration as `5s`, an unquoted key `1`); the generator
below writes them into the schema so that what lint accepts, the editor accepts.

Regenerate after a model change: `python -m ivr.schema dialplan/schema` (or
`callpop lint --schema dialplan/schema`); a test fails while the committed files are
out of date.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from ivr.catalog import (
    DispositionCatalog,
    PauseReasonCatalog,
    QueueCatalog,
    ScheduleCatalog,
    ScriptCatalog,
)
from ivr.flow import Flow, parse_duration

__all__ = ["SCHEMA_FILES", "render", "schemas", "write_schemas"]

SCHEMA_FILES: Mapping[str, tuple[type[BaseModel], str]] = MappingProxyType(
    {
        "flow.json": (Flow, "callpop IVR flow (dialplan/flows/NAME.yaml; the flow id is NAME)"),
        "queues.json": (QueueCatalog, "callpop queues (dialplan/queues.yaml)"),
        "dispositions.json": (
            DispositionCatalog,
            "callpop disposition codes (dialplan/dispositions.yaml)",
        ),
        "scripts.json": (ScriptCatalog, "callpop agent scripts per topic (dialplan/scripts.yaml)"),
        "pause_reasons.json": (
            PauseReasonCatalog,
            "callpop agents' break reasons (dialplan/pause_reasons.yaml)",
        ),
        "schedules.json": (
            ScheduleCatalog,
            "callpop named opening hours (dialplan/schedules.yaml)",
        ),
    }
)

_DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*$"
_DURATION: JsonSchemaValue = {
    "anyOf": [
        {"type": "number", "minimum": 0, "description": "seconds"},
        {"type": "string", "pattern": _DURATION_PATTERN, "description": "5s, 1500ms or 2m"},
    ]
}


class _DialplanSchema(GenerateJsonSchema):
    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        function = schema["function"]["function"]
        name = getattr(function, "__qualname__", "")
        inner = super().function_before_schema(schema)
        if function is parse_duration:
            return dict(_DURATION)
        if name == "_key_to_str":
            return {"anyOf": [inner, {"type": "integer", "minimum": 0, "maximum": 9}]}
        if name in ("Prompt._shorthand", "Option._shorthand"):
            short = "a sound name" if name.startswith("Prompt") else "the target node id"
            return {"anyOf": [{"type": "string", "description": short}, inner]}
        return inner


def _tidy(value: Any) -> Any:
    """Defaults of durations as the admin would write them (5000 ms is `5s`), and
    `additionalProperties` of a shorthand model moved into its object branch (at the
    top it would refuse every property, since `properties` sits in the branch)."""
    if isinstance(value, dict):
        out = {key: _tidy(item) for key, item in value.items()}
        any_of = out.get("anyOf")
        if isinstance(any_of, list) and "additionalProperties" in out:
            for branch in any_of:
                if isinstance(branch, dict) and "properties" in branch:
                    branch["additionalProperties"] = out.pop("additionalProperties")
                    break
        if (
            isinstance(any_of, list)
            and _is_duration(any_of)
            and isinstance(out.get("default"), int)
        ):
            out["default"] = f"{out['default'] / 1000:g}s"
        return out
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return value


def _is_duration(any_of: list[Any]) -> bool:
    return any(
        isinstance(item, dict) and item.get("pattern") == _DURATION_PATTERN for item in any_of
    )


def _schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    generated = model.model_json_schema(schema_generator=_DialplanSchema, mode="validation")
    if model is Flow:
        generated["properties"].pop("id", None)  # the flow id is the file name
    body = _tidy(generated)
    body.pop("title", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **body}


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema of every dialplan file kind."""
    return {file: _schema(model, title) for file, (model, title) in SCHEMA_FILES.items()}


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, schema in schemas().items():
        path = folder / file
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    folder = Path(argv[0]) if argv else Path("dialplan/schema")
    for path in write_schemas(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
