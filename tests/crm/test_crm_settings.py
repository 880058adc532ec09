"""The `crm:` and `phone:` sections: what they accept, and the errors they give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crm_adapter.settings import CrmSettings, PhoneSettings, RestSettings, read_secret


def rest(**overrides: Any) -> dict[str, Any]:
    return {
        "base_url": "https://crm.example.com/api/",
        "operations": {"find_by_phone": "GET /customers?phone={phone}&limit=5"},
        **overrides,
    }


def test_defaults_are_the_documented_ones() -> None:
    settings = CrmSettings()
    assert (settings.adapter, settings.lookup_budget_ms, settings.cache_ttl_s) == ("sql", 300, 60)
    assert settings.pop_window_s == 5
    assert PhoneSettings().normaliser().normalise("5551234567") == "+15551234567"


def test_the_short_form_is_method_path_and_query() -> None:
    op = RestSettings.model_validate(rest()).operations["find_by_phone"]
    assert (op.method, op.path, op.query) == (
        "GET",
        "/customers",
        {"phone": "{phone}", "limit": "5"},
    )
    assert op.is_idempotent


def test_a_search_by_post_may_be_repeated_as_a_read() -> None:
    ops = {
        "find_by_phone": {"method": "POST", "path": "/search", "json": {"q": "{phone}"}},
        "find_by_account": {"method": "POST", "path": "/search", "idempotent": False},
    }
    parsed = RestSettings.model_validate(rest(operations=ops)).operations
    assert parsed["find_by_phone"].may_repeat("find_by_phone")
    assert not parsed["find_by_account"].may_repeat("find_by_account")  # the admin said no


def test_a_write_by_post_is_not_repeated_unless_marked() -> None:
    ops = {
        "find_by_phone": "GET /c?phone={phone}",
        "log_interaction": {"method": "POST", "path": "/calls"},
        "update_interaction": {
            "method": "POST",
            "path": "/calls/{external_id}",
            "idempotent": True,
        },
    }
    parsed = RestSettings.model_validate(rest(operations=ops)).operations
    assert not parsed["log_interaction"].may_repeat("log_interaction")
    assert parsed["update_interaction"].may_repeat("update_interaction")


def test_the_base_url_loses_its_trailing_slash() -> None:
    assert RestSettings.model_validate(rest()).base_url == "https://crm.example.com/api"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"operations": {"find_by_phone": "GET /c?phone={phon}"}},
            "operations.find_by_phone: unknown placeholder {phon} (this operation knows: phone)",
        ),
        (
            {"operations": {"find_by_account": "GET /c?a={account}"}},
            "operations.find_by_phone is required",
        ),
        (
            {"operations": {"find_by_phone": "GET /c", "delete_everything": "DELETE /"}},
            "unknown operation 'delete_everything'",
        ),
        ({"operations": {"find_by_phone": "GET c"}}, "a path starts with '/'"),
        (
            {"operations": {"find_by_phone": {"path": "/a b/{phone}"}}},
            "write the path percent-encoded",
        ),
        ({"operations": {"find_by_phone": "GET /c/{phone"}}, "'{' is never closed"),
        ({"base_url": "ftp://crm"}, "base_url must be an http(s) URL"),
        ({"fields": {"nmae": "x"}}, "fields: unknown field 'nmae'"),
        ({"auth": {"type": "bearer"}}, "give exactly one of token"),
        ({"auth": {"type": "oauth"}}, "does not match any of the expected tags"),
    ],
)
def test_mistakes_are_explained(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValidationError, match=message.replace("{", r"\{").replace("(", r"\(").replace(")", r"\)")
    ):
        RestSettings.model_validate(rest(**overrides))


def test_the_rest_adapter_needs_its_section() -> None:
    with pytest.raises(ValidationError, match="adapter 'rest' needs a 'rest:' section"):
        CrmSettings.model_validate({"adapter": "rest"})


def test_a_pop_window_shorter_than_the_ivr_budget_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"pop_window_s \(0.2 s\) is shorter than"):
        CrmSettings.model_validate({"lookup_budget_ms": 300, "pop_window_s": 0.2})
    assert CrmSettings.model_validate({"pop_window_s": 0.3}).pop_window_s == 0.3


def test_the_record_url_escapes_the_id() -> None:
    settings = CrmSettings(record_url="https://crm.example.com/c/{customer_id}")
    assert settings.record_link("a/b?c") == "https://crm.example.com/c/a%2Fb%3Fc"
    assert CrmSettings().record_link("1") is None


def test_secret_files_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = CrmSettings.model_validate(
        {
            "adapter": "rest",
            "rest": rest(auth={"type": "basic", "username": "u", "password_file": "secrets/crm"}),
        }
    )
    resolved = settings.resolve_paths(tmp_path)
    assert resolved.rest is not None and resolved.rest.auth is not None
    assert resolved.rest.auth.password_file == tmp_path / "secrets/crm"  # type: ignore[union-attr]


def test_a_secret_file_loses_its_final_newline_and_must_exist(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("abc\n")
    assert read_secret(None, secret) == "abc"
    with pytest.raises(ValueError, match="cannot read the secret"):
        read_secret(None, tmp_path / "missing")
