"""The `crm:` and `phone:` sections of callpop.yaml (design.md, "Config").

Pydantic models only: `callpop/config.py` reads the file and the environment and
validates these as parts of its `Config`. Nothing here does I/O at validation time;
secrets named by `*_file` keys are read when the adapter is built (`read_secret`),
so a missing secret file is reported by `serve`, with its path, not by `lint`.

Fields holding a secret carry `json_schema_extra={"secret": True}`: the config
loader uses that mark to refuse them in the file (secrets come only from the
environment or `*_file`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CaseStatus
from crm_adapter.rest.template import Template, TemplateError

__all__ = [
    "OPERATION_PLACEHOLDERS",
    "READ_OPERATIONS",
    "BasicAuth",
    "BearerAuth",
    "BreakerSettings",
    "CrmSettings",
    "HeaderAuth",
    "Operation",
    "OutboxSettings",
    "PhoneSettings",
    "RestSettings",
    "SecretError",
    "read_secret",
]

_SECRET: JsonDict = {"secret": True}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhoneSettings(_Model):
    """`phone: {default_region: US, international_prefixes: ["011", "00"]}`"""

    default_region: str = "US"
    international_prefixes: tuple[str, ...] = ("011", "00")

    @model_validator(mode="after")
    def _check(self) -> PhoneSettings:
        self.normaliser()  # raises ValueError with the reason
        return self

    def normaliser(self) -> PhoneNormaliser:
        return PhoneNormaliser(self.default_region, self.international_prefixes)


# --- auth ---------------------------------------------------------------------------


def _one_of(value: object, file: object, what: str) -> None:
    if (value is None) == (file is None):
        raise ValueError(f"give exactly one of {what} (from the environment) or {what}_file")


class BearerAuth(_Model):
    type: Literal["bearer"]
    token: SecretStr | None = Field(None, json_schema_extra=_SECRET)
    token_file: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> BearerAuth:
        _one_of(self.token, self.token_file, "token")
        return self


class BasicAuth(_Model):
    type: Literal["basic"]
    username: str
    password: SecretStr | None = Field(None, json_schema_extra=_SECRET)
    password_file: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> BasicAuth:
        if ":" in self.username:
            raise ValueError("a basic-auth username cannot contain ':'")
        _one_of(self.password, self.password_file, "password")
        return self


class HeaderAuth(_Model):
    """An API key in a header of the integrator's choosing (`X-API-Key: ...`)."""

    type: Literal["header"]
    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    token: SecretStr | None = Field(None, json_schema_extra=_SECRET)
    token_file: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> HeaderAuth:
        _one_of(self.token, self.token_file, "token")
        return self


Auth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]


class SecretError(ValueError):
    """A secret that cannot be used (its file missing, unreadable or empty); the message
    names the file, never the secret. The composition root reports it as a config error."""


def read_secret(value: SecretStr | None, file: Path | None) -> str:
    """The secret itself: the env-given value, or the file's content without its final
    newline. Raises `SecretError` naming the file when it cannot be read."""
    if value is not None:
        return value.get_secret_value()
    assert file is not None  # the models guarantee one of the two
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"{file}: cannot read the secret: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise SecretError(f"{file}: cannot read the secret: not UTF-8 text") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise SecretError(f"{file}: the secret file is empty")
    return secret


# --- operations ---------------------------------------------------------------------

_INTERACTION = frozenset(
    {
        "call_id",
        "seq",
        "idempotency_key",
        "customer_id",
        "customer_external_id",
        "agent",
        "journey",
        "disposition",
        "notes",
        "started",
        "ended",
        "external_id",
    }
)

# What each operation may name in its templates; a phone is the E.164 form.
OPERATION_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "find_by_phone": frozenset({"phone"}),
    "find_by_account": frozenset({"account"}),
    "get_customer": frozenset({"customer_id"}),
    "open_cases": frozenset({"customer_id"}),
    "create_customer": frozenset(
        {"name", "phone", "account", "tier", "language", "email", "external_id", "notes"}
    ),
    "log_interaction": _INTERACTION,
    "update_interaction": _INTERACTION,
    "verify_pin": frozenset({"customer_id", "pin"}),
}

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# Operations that only read: repeating one changes nothing at the CRM, whatever its
# method (a search is often a POST with the filter in the body, as HubSpot's).
READ_OPERATIONS = frozenset(
    {"find_by_phone", "find_by_account", "get_customer", "open_cases", "recent_interactions"}
)
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _json_templates(value: Any, where: str) -> list[Template]:
    """Every string in a JSON body template, parsed (keys are literal)."""
    if isinstance(value, str):
        try:
            return [Template.parse(value)]
        except TemplateError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if isinstance(value, Mapping):
        return [t for k, v in value.items() for t in _json_templates(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _json_templates(v, f"{where}[{i}]")]
    return []


class Operation(_Model):
    """One CRM call: `"GET /customers?phone={phone}"` or the mapping form.

    `results` is the dotted path of the record list in the response (absent: the body
    is the list, or the one record); `id` the path of the new record's id in the
    answer to a create or log (kept, then offered to later updates as
    `{external_id}`); `idempotent` says whether a failed attempt may be repeated
    (default: yes for the reads, `READ_OPERATIONS`, whatever their method, since a
    search by POST changes nothing; for the others, by method).

    A `json` member or `query` parameter whose name ends in `?` is optional: it is left
    out (and named without the `?`) when a placeholder inside it has no value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: Method = "GET"
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    results: str | None = None
    id: str = "id"
    idempotent: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        method, _, target = data.strip().partition(" ")
        target = target.strip()
        if not method or not target or " " in target:
            raise ValueError(f"expected 'METHOD /path?query', got {data!r}")
        split = urlsplit(target)
        return {
            "method": method.upper(),
            "path": split.path,
            "query": dict(parse_qsl(split.query, keep_blank_values=True)),
        }

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"a path starts with '/', got {path!r}")
        if "?" in path or "#" in path:
            raise ValueError("put query parameters under 'query', not in the path")
        if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in path):
            raise ValueError(f"write the path percent-encoded, got {path!r}")
        Template.parse(path)
        return path

    @property
    def is_idempotent(self) -> bool:
        """By method alone; `may_repeat` is what the adapter asks."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in _IDEMPOTENT_METHODS

    def may_repeat(self, name: str) -> bool:
        """Whether the operation called `name` may be tried again after an attempt that
        failed before the CRM could act: `idempotent` when given, else yes for a read."""
        if self.idempotent is not None:
            return self.idempotent
        return name in READ_OPERATIONS or self.method in _IDEMPOTENT_METHODS

    def templates(self) -> list[Template]:
        found = [Template.parse(self.path)]
        for key, value in self.query.items():
            found.append(Template.parse(value))
            if "{" in key:
                raise ValueError(f"query parameter names are literal, got {key!r}")
        found.extend(_json_templates(self.json_body, "json"))
        return found


# Customer fields a REST record may be mapped to (`phone` one number, `phones` a list).
CUSTOMER_FIELDS = frozenset(
    {
        "id",
        "name",
        "phone",
        "phones",
        "external_id",
        "account",
        "tier",
        "language",
        "email",
        "notes",
    }
)
CASE_FIELDS = frozenset({"id", "subject", "status", "opened"})


def _check_field_map(mapping: dict[str, str], allowed: frozenset[str], what: str) -> None:
    for key, value in mapping.items():
        if key not in allowed:
            raise ValueError(f"{what}: unknown field {key!r} (known: {', '.join(sorted(allowed))})")
        if "{" in value or "}" in value:
            try:
                Template.parse(value)
            except TemplateError as exc:
                raise ValueError(f"{what}.{key}: {exc}") from None


def _default_case_status() -> dict[str, CaseStatus]:
    return {"closed": "closed", "resolved": "closed", "pending": "pending", "waiting": "pending"}


def _check_pin_operation(op: Operation) -> None:
    """A PIN travels in a request body only: URLs end up in access logs, proxies'
    logs and traces, bodies do not."""
    in_url = [Template.parse(op.path)] + [Template.parse(v) for v in op.query.values()]
    if any("pin" in template.names for template in in_url):
        raise ValueError(
            "operations.verify_pin: {pin} in the path or query would put PINs in the "
            "CRM's access logs; send it in the json body"
        )
    if op.method not in ("POST", "PUT", "PATCH"):
        raise ValueError("operations.verify_pin: the PIN goes in a body: use POST")
    if not any("pin" in t.names for t in _json_templates(op.json_body, "json")):
        raise ValueError("operations.verify_pin: the json body must send {pin}")


class RestSettings(_Model):
    """`crm.rest`: how to reach the integrator's CRM. `case_status` maps the CRM's case
    states (compared case-insensitively) onto callpop's; unmapped ones count as open."""

    base_url: str
    auth: Auth | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(5.0, gt=0, le=120)
    max_response_bytes: int = Field(1_048_576, ge=1024)
    operations: dict[str, Operation]
    fields: dict[str, str] = Field(default_factory=dict)
    case_fields: dict[str, str] = Field(default_factory=dict)
    case_status: dict[str, CaseStatus] = Field(default_factory=_default_case_status)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, url: str) -> str:
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        if split.query or split.fragment:
            raise ValueError("base_url cannot carry a query or fragment")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check(self) -> RestSettings:
        if "find_by_phone" not in self.operations:
            raise ValueError("operations.find_by_phone is required: it is the IVR's lookup")
        for name, op in self.operations.items():
            allowed = OPERATION_PLACEHOLDERS.get(name)
            if allowed is None:
                known = ", ".join(OPERATION_PLACEHOLDERS)
                raise ValueError(f"operations: unknown operation {name!r} (known: {known})")
            try:
                templates = op.templates()
            except (TemplateError, ValueError) as exc:
                raise ValueError(f"operations.{name}: {exc}") from None
            if name == "verify_pin":
                _check_pin_operation(op)
            for template in templates:
                unknown = template.names - allowed
                if unknown:
                    raise ValueError(
                        f"operations.{name}: unknown placeholder {{{sorted(unknown)[0]}}} "
                        f"(this operation knows: {', '.join(sorted(allowed))})"
                    )
        _check_field_map(self.fields, CUSTOMER_FIELDS, "fields")
        _check_field_map(self.case_fields, CASE_FIELDS, "case_fields")
        return self

    def customer_fields(self) -> dict[str, str]:
        """The field map with callpop's own names as the default path of every field."""
        merged = {name: name for name in CUSTOMER_FIELDS if name != "phones"}
        merged.update(self.fields)
        return merged

    def case_field_map(self) -> dict[str, str]:
        merged = {name: name for name in CASE_FIELDS}
        merged.update(self.case_fields)
        return merged


class BreakerSettings(_Model):
    """Open after `failures` failures in a row; after `reset_s`, let one call try."""

    failures: int = Field(5, ge=1)
    reset_s: float = Field(10.0, gt=0)


class OutboxSettings(_Model):
    """Delivery of write-backs to an external CRM: retries back off exponentially from
    `backoff_s` up to `backoff_max_s`; a claimed entry is left alone for `lease_s` (so
    two callpop instances never send it twice at once); `poll_s` picks up entries
    written by other processes (the classic AGI script)."""

    backoff_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    lease_s: float = Field(30.0, gt=0)
    poll_s: float = Field(5.0, gt=0)
    batch: int = Field(50, ge=1, le=1000)


class CrmSettings(_Model):
    """`crm: {adapter: sql | rest, lookup_budget_ms: 300, pop_window_s: 5, cache_ttl_s: 60,
    record_url: ...}`. Two waits, apart: the IVR's `lookup_budget_ms` (a caller listens
    to silence meanwhile) and the pop's `pop_window_s` (the agent already sees the pop
    with what is known; the CRM's data follows as `pop.updated` within it)."""

    adapter: Literal["sql", "rest"] = "sql"
    lookup_budget_ms: int = Field(300, gt=0, le=60_000)
    # A PIN check hashes on purpose (argon2id, about 0.1 s) and counts an attempt: the
    # caller is told to wait, so it gets its own, longer budget.
    pin_budget_ms: int = Field(1500, gt=0, le=60_000)
    pop_window_s: float = Field(5.0, gt=0, le=120)
    cache_ttl_s: float = Field(60.0, ge=0)
    cache_size: int = Field(10_000, ge=0)
    record_url: str | None = None
    rest: RestSettings | None = None
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)

    @field_validator("pop_window_s")
    @classmethod
    def _check_pop_window(cls, window_s: float, info: ValidationInfo) -> float:
        budget_ms = info.data.get("lookup_budget_ms")  # absent when it was itself invalid
        if isinstance(budget_ms, int) and window_s * 1000 < budget_ms:
            raise ValueError(
                f"pop_window_s ({window_s:g} s) is shorter than lookup_budget_ms "
                f"({budget_ms} ms): the pop would give up on the CRM before the IVR"
            )
        return window_s

    @field_validator("record_url")
    @classmethod
    def _check_record_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        unknown = Template.parse(url).names - {"customer_id", "external_id", "account"}
        if unknown:
            raise ValueError(
                f"record_url: unknown placeholder {{{sorted(unknown)[0]}}} "
                "(known: customer_id, external_id, account)"
            )
        return url

    @model_validator(mode="after")
    def _check(self) -> CrmSettings:
        if self.adapter == "rest" and self.rest is None:
            raise ValueError("adapter 'rest' needs a 'rest:' section (base_url, operations, ...)")
        return self

    def resolve_paths(self, base: Path) -> CrmSettings:
        """The same settings with relative `*_file` and `ca_file` paths made relative to
        `base` (the config file's folder), as everywhere in callpop.yaml."""
        if self.rest is None:
            return self

        def rebase(path: Path | None) -> Path | None:
            return None if path is None or path.is_absolute() else base / path

        rest_update: dict[str, Any] = {}
        if self.rest.ca_file is not None and not self.rest.ca_file.is_absolute():
            rest_update["ca_file"] = rebase(self.rest.ca_file)
        auth = self.rest.auth
        if auth is not None:
            name = "password_file" if isinstance(auth, BasicAuth) else "token_file"
            current = getattr(auth, name)
            if current is not None and not current.is_absolute():
                rest_update["auth"] = auth.model_copy(update={name: rebase(current)})
        if not rest_update:
            return self
        return self.model_copy(update={"rest": self.rest.model_copy(update=rest_update)})

    def record_link(
        self, customer_id: str, external_id: str | None = None, account: str | None = None
    ) -> str | None:
        """The customer's page in the CRM, values percent-encoded, or None if unset."""
        if self.record_url is None:
            return None
        values = {"customer_id": customer_id, "external_id": external_id, "account": account}
        return Template.parse(self.record_url).render(values, lambda v: quote(v, safe=""))
