"""PIN checks against an external CRM over HTTP: a fake CRM on a real socket that keeps
its own PINs and lock. The PIN travels in the request body only, is never repeated,
cached or shared, and nothing of it comes back in an error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from crm_adapter.lookup import pin_within_budget
from crm_adapter.port import CrmBadResponse, CrmRejected, CrmUnavailable, NotFound, PinCheck
from crm_adapter.resilient import ResilientCrm
from crm_adapter.rest.adapter import RestCrm
from crm_adapter.settings import RestSettings
from ivr.events import PinStatus
from ivr.loop_concurrency import LOOP

PIN = "731946"
VERIFY = {"method": "POST", "path": "/contacts/{customer_id}/pin-checks", "json": {"pin": "{pin}"}}


@dataclass
class PinCrm:
    """The CRM's side: each contact's PIN and its own count of wrong ones (locked at 3)."""

    pins: dict[str, str] = field(default_factory=lambda: {"c1": PIN})
    failures: dict[str, int] = field(default_factory=dict)
    answer: str = "result"  # result | boolean | nothing | unavailable | echo
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/contacts/{id}/pin-checks", self._check)
        app.router.add_get("/contacts", self._search)
        return app

    async def _search(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def _check(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.method, request.raw_path, body))
        if self.gate is not None:
            await self.gate.wait()
        contact = request.match_info["id"]
        if self.answer == "unavailable":
            return web.json_response({"message": "maintenance"}, status=503)
        if self.answer == "echo":
            return web.json_response({"message": f"bad pin {body['pin']}"}, status=400)
        if self.answer == "nothing":
            return web.json_response({"ok": True})
        if contact not in self.pins:
            return web.json_response({"message": "no such contact"}, status=404)
        if self.failures.get(contact, 0) >= 3:
            result = "locked"
        elif body["pin"] == self.pins[contact]:
            self.failures[contact], result = 0, "verified"
        else:
            self.failures[contact] = self.failures.get(contact, 0) + 1
            result = "wrong"
        if self.answer == "boolean":
            return web.json_response({"verified": result == "verified"})
        return web.json_response({"result": result.upper()})


def settings(base_url: str, **verify: Any) -> RestSettings:
    return RestSettings.model_validate(
        {
            "base_url": base_url,
            "operations": {
                "find_by_phone": "GET /contacts?phone={phone}",
                "verify_pin": {**VERIFY, **verify},
            },
        }
    )


@pytest.fixture
def crm() -> PinCrm:
    return PinCrm()


@pytest.fixture
async def rest(crm: PinCrm) -> AsyncIterator[RestCrm]:
    server = TestServer(crm.app(), host="127.0.0.1", port=0)
    await server.start_server()
    adapter = await RestCrm.open(settings(str(server.make_url("")).rstrip("/")))
    yield adapter
    if crm.gate is not None:
        crm.gate.set()
    await adapter.aclose()
    await server.close()


async def test_the_right_pin_is_verified_and_travels_in_the_body_only(
    rest: RestCrm, crm: PinCrm
) -> None:
    assert await rest.verify_pin("c1", PIN) is PinCheck.VERIFIED
    ((method, path, body),) = crm.requests
    assert (method, path, body) == ("POST", "/contacts/c1/pin-checks", {"pin": PIN})


async def test_the_crms_own_lock_is_reported(rest: RestCrm) -> None:
    for _ in range(3):
        assert await rest.verify_pin("c1", "000000") is PinCheck.WRONG
    assert await rest.verify_pin("c1", PIN) is PinCheck.LOCKED


async def test_a_boolean_answer_is_read_too(rest: RestCrm, crm: PinCrm) -> None:
    crm.answer = "boolean"
    assert await rest.verify_pin("c1", PIN) is PinCheck.VERIFIED
    assert await rest.verify_pin("c1", "000000") is PinCheck.WRONG


async def test_an_answer_without_a_result_is_a_bad_answer(rest: RestCrm, crm: PinCrm) -> None:
    crm.answer = "nothing"
    with pytest.raises(CrmBadResponse):
        await rest.verify_pin("c1", PIN)


async def test_an_unknown_contact_has_no_pin_for_the_ivr(rest: RestCrm) -> None:
    with pytest.raises(NotFound):
        await rest.verify_pin("c9", PIN)
    assert await pin_within_budget(rest, "c9", PIN, 2.0, concurrency=LOOP) == (PinStatus.NO_PIN, "")


async def test_a_refusal_that_echoes_the_pin_keeps_nothing_of_it(
    rest: RestCrm, crm: PinCrm
) -> None:
    crm.answer = "echo"
    with pytest.raises(CrmRejected) as refused:
        await rest.verify_pin("c1", PIN)
    assert PIN not in str(refused.value)
    assert str(refused.value) == "verify_pin: CRM refused with HTTP 400"


async def test_an_unavailable_crm_is_asked_once_not_twice(rest: RestCrm, crm: PinCrm) -> None:
    crm.answer = "unavailable"
    with pytest.raises(CrmUnavailable):
        await rest.verify_pin("c1", PIN)
    assert len(crm.requests) == 1  # a second attempt could count twice against the customer
    assert await pin_within_budget(rest, "c1", PIN, 2.0, concurrency=LOOP) == (
        PinStatus.UNAVAILABLE,
        "unavailable",
    )


async def test_a_slow_crm_is_unavailable_at_the_budget(rest: RestCrm, crm: PinCrm) -> None:
    crm.gate = asyncio.Event()
    assert await pin_within_budget(rest, "c1", PIN, 0.2, concurrency=LOOP) == (
        PinStatus.UNAVAILABLE,
        "timeout",
    )


async def test_behind_the_cache_every_check_is_its_own_request(rest: RestCrm, crm: PinCrm) -> None:
    resilient = ResilientCrm(rest, cache_ttl_s=60)
    answers = await asyncio.gather(
        resilient.verify_pin("c1", PIN), resilient.verify_pin("c1", "000000")
    )
    assert sorted(a.value for a in answers) == ["verified", "wrong"]
    assert await resilient.verify_pin("c1", PIN) is PinCheck.VERIFIED
    assert len(crm.requests) == 3


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"path": "/contacts/{customer_id}/pin/{pin}"}, "access logs"),
        ({"query": {"pin": "{pin}"}}, "access logs"),
        ({"method": "GET", "json": None}, "use POST"),
        ({"json": {"customer": "{customer_id}"}}, "must send {pin}"),
    ],
)
def test_a_pin_anywhere_but_the_body_is_refused_when_the_file_is_read(
    override: dict[str, Any], why: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings("http://crm.example.test", **override)
    assert why in str(refused.value)
