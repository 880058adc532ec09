"""`RestCrm`: the integrator's CRM over HTTP, as a `CustomerDirectory`, plus the
outbox's `deliver`.

One `ClientSession` for the adapter's life (aiohttp's advice), with an explicit
time limit on every request: `timeout_s`, the CRM's own deadline (aiohttp's default
of 300 s is how a slow CRM stalls a call center). The IVR's lookup budget is not a
limit of the request: the IVR stops waiting at its budget (`lookup_within_budget`),
while the request goes on for the pop, which waits longer (`ResilientCrm`). Failures are mapped to the
port's error tree here, at the edge. An attempt that failed before the CRM could
act is repeated once, within the same time limit, for reads (a search by POST
included) and operations marked `idempotent`; the outbox (its own retries, with
backoff) covers writes. A refusal keeps the start of the CRM's answer (`HttpRejected`),
so the outbox's failed entry and the log say what the CRM objected to.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from crm_adapter.outbox import OutboxEntry
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import (
    Case,
    CrmBadResponse,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
    Customer,
    CustomerDraft,
    NotFound,
    PinCheck,
)
from crm_adapter.rest.mapping import RecordMapper, records
from crm_adapter.rest.request import PreparedRequest, prepare
from crm_adapter.rest.template import MISSING, lookup_path
from crm_adapter.settings import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    RestSettings,
    SecretError,
    read_secret,
)

__all__ = ["HttpRejected", "RestCrm", "auth_headers"]

MAX_MATCHES = 20
_MAX_ATTEMPTS = 2
_MIN_RETRY_S = 0.02  # not worth a second attempt with less time than this left
_UNAVAILABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_RETRY_STATUS = frozenset({502, 503, 504})  # the request did not reach the application
_ANSWER_KEPT = 300  # bytes of a refusal's body kept with the refused entry


def _shown(body: bytes) -> str:
    """The start of a CRM's answer, as one printable line (it goes to logs and to an
    operator's terminal: no control characters, no terminal escapes)."""
    text = body[:_ANSWER_KEPT].decode("utf-8", "replace")
    text = "".join(
        ch if ch.isprintable() else " " if ch in "\r\n\t" else f"\\x{ord(ch):02x}" for ch in text
    )
    return " ".join(text.split())


class HttpRejected(CrmRejected):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def auth_headers(settings: RestSettings) -> dict[str, str]:
    """The auth header, with its secret read now (from the env value or the file)."""
    auth = settings.auth
    if auth is None:
        return {}
    if isinstance(auth, BearerAuth):
        name, value = "Authorization", "Bearer " + read_secret(auth.token, auth.token_file)
    elif isinstance(auth, BasicAuth):
        password = read_secret(auth.password, auth.password_file)
        name, value = "Authorization", aiohttp.BasicAuth(auth.username, password).encode()
    else:
        assert isinstance(auth, HeaderAuth)
        name, value = auth.name, read_secret(auth.token, auth.token_file)
    if any(ch in value for ch in "\r\n\0"):
        raise SecretError("the CRM credential contains a line break")
    return {name: value}


def _ssl(settings: RestSettings) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        return False
    if settings.ca_file is not None:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    return True


class RestCrm:
    def __init__(
        self,
        settings: RestSettings,
        session: aiohttp.ClientSession,
        *,
        phone: PhoneNormaliser | None = None,
        own_session: bool = False,
    ) -> None:
        self.settings = settings
        self.phone = phone or PhoneNormaliser()
        self.mapper = RecordMapper(settings, self.phone)
        self._session = session
        self._own_session = own_session

    @classmethod
    async def open(
        cls,
        settings: RestSettings,
        *,
        phone: PhoneNormaliser | None = None,
    ) -> RestCrm:
        """An adapter with its own session (call from the running loop)."""
        headers = {"Accept": "application/json", "User-Agent": "callpop"}
        headers.update(settings.headers)
        headers.update(auth_headers(settings))
        session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
            connector=aiohttp.TCPConnector(ssl=_ssl(settings), limit=100, ttl_dns_cache=300),
            raise_for_status=False,
        )
        return cls(settings, session, phone=phone, own_session=True)

    async def aclose(self) -> None:
        if self._own_session:
            await self._session.close()

    def has(self, operation: str) -> bool:
        return operation in self.settings.operations

    # --- HTTP -----------------------------------------------------------------------

    async def call(
        self,
        operation: str,
        values: Mapping[str, Any],
        *,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Run one configured operation; the parsed JSON answer (None when empty)."""
        op = self.settings.operations[operation]
        request = prepare(op, self.settings.base_url, values)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        attempt = 1
        while True:
            try:
                return await self._attempt(request, deadline, headers, operation)
            except _Retryable as exc:
                left = deadline - loop.time()
                if not op.may_repeat(operation) or attempt >= _MAX_ATTEMPTS or left < _MIN_RETRY_S:
                    raise CrmUnavailable(str(exc)) from exc.__cause__
                attempt += 1

    async def _attempt(
        self,
        request: PreparedRequest,
        deadline: float,
        headers: Mapping[str, str] | None,
        operation: str,
    ) -> Any:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise CrmTimeout(f"{operation}: out of time")
        send_headers = dict(headers or {})
        if request.body is not None:
            send_headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=send_headers,
                timeout=aiohttp.ClientTimeout(total=left),
                allow_redirects=False,
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    body = await self._read(response, operation)
                elif 400 <= status < 500 and status != 404:
                    body = await response.content.read(_ANSWER_KEPT)  # why it refused
                else:
                    body = b""
        except TimeoutError:
            raise CrmTimeout(f"{operation}: no answer within the time limit") from None
        except aiohttp.ClientSSLError as exc:
            raise CrmUnavailable(f"{operation}: TLS failure: {exc}") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise _Retryable(f"{operation}: cannot reach the CRM: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise CrmUnavailable(f"{operation}: broken answer: {exc}") from exc
        return self._interpret(status, body, operation)

    async def _read(self, response: aiohttp.ClientResponse, operation: str) -> bytes:
        cap = self.settings.max_response_bytes
        if response.content_length is not None and response.content_length > cap:
            raise CrmBadResponse(
                f"{operation}: answer of {response.content_length} bytes "
                f"is over the {cap}-byte limit"
            )
        data = bytearray()
        async for chunk in response.content.iter_chunked(65_536):
            data += chunk
            if len(data) > cap:
                raise CrmBadResponse(f"{operation}: answer over the {cap}-byte limit")
        return bytes(data)

    def _interpret(self, status: int, body: bytes, operation: str) -> Any:
        if status in _RETRY_STATUS:
            raise _Retryable(f"{operation}: CRM answered HTTP {status}")
        if status in _UNAVAILABLE_STATUS:
            raise CrmUnavailable(f"{operation}: CRM answered HTTP {status}")
        if status == 404:
            raise NotFound(f"{operation}: HTTP 404")
        if 300 <= status < 400:
            raise HttpRejected(status, f"{operation}: HTTP {status} redirect (check base_url)")
        if not 200 <= status < 300:
            answer = _shown(body)
            raise HttpRejected(
                status,
                f"{operation}: CRM refused with HTTP {status}" + (f": {answer}" if answer else ""),
            )
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise CrmBadResponse(f"{operation}: the answer is not JSON") from None

    # --- CustomerDirectory ----------------------------------------------------------

    async def _find(self, operation: str, values: Mapping[str, Any]) -> list[Customer]:
        op = self.settings.operations[operation]
        try:
            data = await self.call(operation, values, timeout_s=self.settings.timeout_s)
        except NotFound:
            return []  # GET /customers/by-phone/{phone} style: 404 means nobody
        return [self.mapper.customer(r) for r in records(data, op.results, MAX_MATCHES)]

    async def find_by_phone(self, phone: str) -> list[Customer]:
        e164 = self.phone.normalise(phone)
        if e164 is None:
            return []
        return await self._find("find_by_phone", {"phone": e164})

    async def find_by_account(self, account: str) -> list[Customer]:
        wanted = account.strip()
        if not wanted:
            return []
        if not self.has("find_by_account"):
            raise CrmRejected("the REST CRM has no find_by_account operation configured")
        return await self._find("find_by_account", {"account": wanted})

    async def get_customer(self, customer_id: str) -> Customer:
        if not self.has("get_customer"):
            raise NotFound(f"no customer {customer_id!r} (no get_customer operation configured)")
        op = self.settings.operations["get_customer"]
        data = await self.call(
            "get_customer", {"customer_id": customer_id}, timeout_s=self.settings.timeout_s
        )
        found = records(data, op.results, 1)
        if not found:
            raise NotFound(f"no customer {customer_id!r}")
        return self.mapper.customer(found[0])

    async def create_customer(self, draft: CustomerDraft) -> Customer:
        if not self.has("create_customer"):
            raise CrmRejected("the REST CRM has no create_customer operation configured")
        phones = [p for p in (self.phone.normalise(n) for n in draft.phones) if p]
        values = {
            "name": draft.name.strip(),
            "phone": phones[0] if phones else None,
            "account": draft.account,
            "tier": draft.tier,
            "language": draft.language,
            "email": draft.email,
            "external_id": draft.external_id,
            "notes": draft.notes,
        }
        op = self.settings.operations["create_customer"]
        data = await self.call("create_customer", values, timeout_s=self.settings.timeout_s)
        new_id = lookup_path(data, op.id) if data is not None else MISSING
        if new_id is MISSING or new_id is None or isinstance(new_id, bool | dict | list):
            raise CrmBadResponse(f"create_customer: no id at {op.id!r} in the answer")
        return draft.stored(str(new_id), tuple(phones))

    async def open_cases(self, customer_id: str) -> list[Case]:
        if not self.has("open_cases"):
            return []  # a CRM without cases has no open cases
        op = self.settings.operations["open_cases"]
        try:
            data = await self.call(
                "open_cases", {"customer_id": customer_id}, timeout_s=self.settings.timeout_s
            )
        except NotFound:
            return []
        found = [self.mapper.case(r, customer_id) for r in records(data, op.results, 200)]
        still_open = [c for c in found if c.status != "closed"]
        return sorted(still_open, key=lambda c: c.opened, reverse=True)

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        """`verify_pin`: the CRM compares and keeps the count of wrong PINs (its lockout).
        Its answer's `result` (`verified`, `wrong`, `locked`, `no_pin`) or boolean
        `verified` says how it went; a 404 is no such customer. Never repeated after a
        failed attempt (each one may count against the customer), and a refusal keeps
        nothing of the CRM's answer, which might echo the PIN."""
        if not self.has("verify_pin"):
            raise CrmRejected("the REST CRM has no verify_pin operation configured")
        values = {"customer_id": customer_id, "pin": pin}
        try:
            data = await self.call("verify_pin", values, timeout_s=self.settings.timeout_s)
        except HttpRejected as exc:
            status = exc.status or 400
            raise HttpRejected(status, f"verify_pin: CRM refused with HTTP {status}") from None
        return _pin_answer(data)

    # --- the outbox's delivery ------------------------------------------------------

    async def deliver(self, entry: OutboxEntry) -> str | None:
        """Send one outbox entry; the CRM's id of a newly logged interaction, if any.

        Raises `CrmUnavailable` (retry later) or `CrmRejected` (give up). A 409 is the
        CRM saying it has this entry already (its idempotency check): delivered.
        """
        op = self.settings.operations.get(entry.operation)
        if op is None:
            return None
        values = dict(entry.payload)
        values.update(seq=entry.seq, idempotency_key=entry.key, external_id=entry.external_id)
        needs_id = any("external_id" in t.names for t in op.templates())
        if needs_id and entry.external_id is None and entry.operation == "update_interaction":
            raise CrmRejected(f"{entry.key}: the CRM gave no id for this call's log entry")
        try:
            data = await self.call(
                entry.operation,
                values,
                timeout_s=self.settings.timeout_s,
                headers={"Idempotency-Key": entry.key},
            )
        except HttpRejected as exc:
            if exc.status == 409:
                return None
            raise
        if entry.operation != "log_interaction" or not isinstance(data, dict):
            return None
        new_id = lookup_path(data, op.id)
        if new_id is MISSING or new_id is None or isinstance(new_id, bool | dict | list):
            return None
        return str(new_id)[:200]


_PIN_RESULTS = {check.value: check for check in PinCheck}


def _pin_answer(data: Any) -> PinCheck:
    if isinstance(data, dict):
        result = data.get("result")
        if isinstance(result, str) and result.strip().lower() in _PIN_RESULTS:
            return _PIN_RESULTS[result.strip().lower()]
        verified = data.get("verified")
        if isinstance(verified, bool):
            return PinCheck.VERIFIED if verified else PinCheck.WRONG
    raise CrmBadResponse(
        "verify_pin: the answer has no result (verified, wrong, locked, no_pin) "
        "nor a boolean verified"
    )


class _Retryable(Exception):
    """An attempt failed before the CRM could have acted on it."""
