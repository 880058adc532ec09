"""A fake external CRM: a real aiohttp server on 127.0.0.1, port 0, that tests can make
slow, down, failing or nonsensical.

It speaks a HubSpot-style contact search (POST with a JSON filter), a plain
`GET /customers?phone=` and `GET /customers/{id}`, cases, and call records that honour
an `Idempotency-Key` the way payment APIs do: a key seen before is not applied twice.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

FAILURE_MODES = (
    "slow",
    "error500",
    "garbage",
    "huge",
    "huge_chunked",
    "deep_json",
    "results_not_list",
    "name_is_object",
    "record_without_id",
    "phone_is_list_of_objects",
    "disconnect",
    "unauthorized",
)


@dataclass
class Seen:
    method: str
    raw_path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeCrm:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mode: str = "ok"
    # Lookups (everything but /calls) answer after this long: a CRM that is slow but works.
    delay_s: float = 0.0
    # The next N lookups answer 503 (a gateway in front of a restarting CRM).
    lookups_unavailable: int = 0
    # The next N requests to /calls answer 503 (the CRM "comes back" after them).
    calls_unavailable: int = 0
    calls_down: bool = False
    # Requests to /calls wait (forever, for a test that kills the client meanwhile),
    # before applying them, or after applying them (the answer is what gets lost).
    calls_hang: str | None = None  # None | "before" | "after"
    calls_reject: bool = False
    # Requests to /calls answer 401 (the CRM's token was changed; callpop has the old one).
    calls_unauthorized: bool = False
    seen: list[Seen] = field(default_factory=list)
    applied: dict[str, Any] = field(default_factory=dict)  # idempotency key -> body
    applied_order: list[str] = field(default_factory=list)
    answered_ok: Counter[str] = field(default_factory=Counter)  # key -> 2xx answers
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # CRM call records
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _gate: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/crm/v3/objects/contacts/search", self._search)
        app.router.add_get("/customers", self._by_query)
        app.router.add_get("/customers/{id}", self._get)
        app.router.add_get("/customers/{id}/cases", self._cases)
        app.router.add_post("/calls", self._log_call)
        app.router.add_patch("/calls/{id}", self._update_call)
        return app

    def release_slow(self) -> None:
        self._gate.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds; the time limit only bounds a broken test."""
        async with asyncio.timeout(30):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        self.seen.append(
            Seen(request.method, request.raw_path, dict(request.query), body, dict(request.headers))
        )
        await self._notify()
        if request.path.startswith("/calls"):
            return await handler(request)
        if self.lookups_unavailable > 0:
            self.lookups_unavailable -= 1
            return web.json_response({"message": "bad gateway"}, status=503)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        mode = self.mode
        if mode == "slow":
            await self._gate.wait()
        elif mode == "error500":
            return web.json_response({"message": "internal"}, status=500)
        elif mode == "garbage":
            return web.Response(body=b"<html>\x00\xff not json", content_type="application/json")
        elif mode == "huge":
            return web.Response(
                body=b"[" + b"0," * 3_000_000 + b"0]", content_type="application/json"
            )
        elif mode == "huge_chunked":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(64):
                await response.write(b" " * 65_536)
            await response.write(b"[]")
            await response.write_eof()
            return response
        elif mode == "deep_json":
            return web.Response(
                body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json"
            )
        elif mode == "results_not_list":
            return web.json_response({"results": {"id": "1"}})
        elif mode == "name_is_object":
            return web.json_response(
                {"results": [{"id": "1", "properties": {"firstname": {"x": 1}}}]}
            )
        elif mode == "record_without_id":
            return web.json_response({"results": [{"properties": {"firstname": "Ada"}}]})
        elif mode == "phone_is_list_of_objects":
            return web.json_response({"results": [{"id": "1", "properties": {"phone": [{}]}}]})
        elif mode == "unauthorized":
            return web.json_response({"message": "invalid token"}, status=401)
        elif mode == "disconnect":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return await handler(request)

    def _matching(self, phone: str | None) -> list[dict[str, Any]]:
        return [c for c in self.contacts if c["properties"].get("phone") == phone]

    async def _search(self, request: web.Request) -> web.Response:
        body = await request.json()
        phone = body["filterGroups"][0]["filters"][0]["value"]
        return web.json_response({"total": 0, "results": self._matching(phone)})

    async def _by_query(self, request: web.Request) -> web.Response:
        if "phone" in request.query:
            return web.json_response(self._matching(request.query["phone"]))
        account = request.query.get("account")
        return web.json_response(
            [c for c in self.contacts if c["properties"].get("account") == account]
        )

    async def _get(self, request: web.Request) -> web.Response:
        for contact in self.contacts:
            if contact["id"] == request.match_info["id"]:
                return web.json_response(contact)
        return web.json_response({"message": "not found"}, status=404)

    async def _cases(self, request: web.Request) -> web.Response:
        return web.json_response({"records": self.cases.get(request.match_info["id"], [])})

    def _calls_gate(self) -> web.Response | None:
        if self.calls_down:
            return web.json_response({"message": "maintenance"}, status=503)
        if self.calls_unavailable > 0:
            self.calls_unavailable -= 1
            return web.json_response({"message": "busy"}, status=503)
        if self.calls_reject:
            return web.json_response({"message": "invalid"}, status=400)
        if self.calls_unauthorized:
            return web.json_response({"message": "token expired\x1b[2J"}, status=401)
        return None

    async def _log_call(self, request: web.Request) -> web.Response:
        refused = self._calls_gate()
        if refused is not None:
            return refused
        if self.calls_hang == "before":
            await self._gate.wait()
        key = request.headers["Idempotency-Key"]
        if key not in self.applied:
            crm_id = f"call-{len(self.records) + 1}"
            body = await request.json()
            self.records[crm_id] = body
            self.applied[key] = {"id": crm_id, "body": body}
            self.applied_order.append(key)
            await self._notify()
        if self.calls_hang == "after":
            await self._gate.wait()
        self.answered_ok[key] += 1
        await self._notify()
        return web.json_response({"id": self.applied[key]["id"]}, status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        refused = self._calls_gate()
        if refused is not None:
            return refused
        crm_id = request.match_info["id"]
        if crm_id not in self.records:
            return web.json_response({"message": "no such call"}, status=404)
        key = request.headers["Idempotency-Key"]
        if key not in self.applied:
            body = await request.json()
            self.records[crm_id] = {**self.records[crm_id], **body}
            self.applied[key] = {"id": crm_id, "body": body}
            self.applied_order.append(key)
        self.answered_ok[key] += 1
        await self._notify()
        return web.json_response({"id": crm_id})


def contact(crm_id: str, first: str, last: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": crm_id,
        "properties": {"firstname": first, "lastname": last, "phone": phone, **extra},
    }


def hubspot_settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    """The REST section of callpop.yaml, as design.md's HubSpot-style example."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "auth": {"type": "bearer", "token": "s3cret-token"},
        "operations": {
            "find_by_phone": {
                "method": "POST",
                "path": "/crm/v3/objects/contacts/search",
                "json": {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": "phone", "operator": "EQ", "value": "{phone}"}
                            ]
                        }
                    ],
                    "properties": ["firstname", "lastname", "phone", "tier"],
                },
                "results": "results",
            },
            "find_by_account": "GET /customers?account={account}",
            "get_customer": "GET /customers/{customer_id}",
            "open_cases": {"path": "/customers/{customer_id}/cases", "results": "records"},
            "log_interaction": {
                "method": "POST",
                "path": "/calls",
                "json": {
                    "properties": {
                        "call_id": "{call_id}",
                        "contact": "{customer_id}",
                        "agent": "{agent}",
                        "summary": "{journey}",
                        "disposition": "{disposition}",
                        "notes": "{notes}",
                        "started": "{started}",
                    }
                },
            },
            "update_interaction": {
                "method": "PATCH",
                "path": "/calls/{external_id}",
                "json": {
                    "properties": {
                        "disposition": "{disposition}",
                        "notes": "{notes}",
                        "ended": "{ended}",
                    }
                },
            },
        },
        "fields": {
            "id": "id",
            "name": "{properties.firstname} {properties.lastname}",
            "phone": "properties.phone",
            "tier": "properties.tier",
            "account": "properties.account",
        },
    }
    settings.update(overrides)
    return settings
