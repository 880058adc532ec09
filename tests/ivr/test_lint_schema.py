"""The JSON Schemas in dialplan/schema/ are generated from the models, and current."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.schema import SCHEMA_FILES, render, schemas, write_schemas

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_the_committed_schema_is_up_to_date(name: str) -> None:
    committed = (ROOT / "dialplan" / "schema" / name).read_text(encoding="utf-8")
    assert committed == render(schemas()[name]), (
        f"dialplan/schema/{name} is stale: run `python -m ivr.schema dialplan/schema`"
    )


def test_the_flow_schema_has_no_id_field_since_the_id_is_the_file_name() -> None:
    flow = schemas()["flow.json"]
    assert "id" not in flow["properties"]
    assert flow["required"] == ["entry", "nodes"]


def test_the_flow_schema_accepts_the_shorthands_the_loader_accepts() -> None:
    definitions = schemas()["flow.json"]["$defs"]
    assert {"type": "string", "description": "a sound name"} in definitions["Prompt"]["anyOf"]
    assert {"type": "string", "description": "the target node id"} in definitions["Option"]["anyOf"]
    timeout = definitions["Settings"]["properties"]["timeout"]
    assert timeout["default"] == "5s"
    assert {branch["type"] for branch in timeout["anyOf"]} == {"number", "string"}


def test_a_shorthand_model_still_refuses_unknown_fields() -> None:
    prompt = schemas()["flow.json"]["$defs"]["Prompt"]
    [object_branch] = [b for b in prompt["anyOf"] if b.get("type") == "object"]
    assert object_branch["additionalProperties"] is False
    assert "additionalProperties" not in prompt


def test_schemas_can_be_written_to_a_folder(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "schema")
    assert sorted(p.name for p in written) == sorted(SCHEMA_FILES)
