"""The REST adapter against a fake CRM on a real socket: mapping, escaping, and an IVR
lookup that answers within its budget whatever the CRM does."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crm_adapter.breaker import BreakerState, CircuitBreaker
from crm_adapter.lookup import lookup_within_budget
from crm_adapter.lookup_watch import LookupWatch, log_breaker_change
from crm_adapter.outbox import OutboxEntry
from crm_adapter.port import CrmUnavailable, NotFound
from crm_adapter.resilient import ResilientCrm
from crm_adapter.rest.adapter import HttpRejected, RestCrm
from crm_adapter.settings import RestSettings
from ivr.events import LookupStatus
from ivr.loop_concurrency import LOOP

from .crm_fake_server import FAILURE_MODES, FakeCrm, contact, hubspot_settings

FIVE_SPELLINGS = ["+15551234567", "15551234567", "5551234567", "0015551234567", "(555) 123-4567"]
BUDGET_S = 0.3


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeCrm:
    return FakeCrm(
        contacts=[
            contact("101", "Ada", "Lovelace", "+15551234567", tier="gold", account="A-1"),
            contact("102", "Alan", "Turing", "+442079460958", account="A&phone=1 2"),
        ],
        cases={
            "101": [
                {
                    "id": "c1",
                    "subject": "Router",
                    "status": "New",
                    "opened": "2026-03-01T10:00:00Z",
                },
                {"id": "c2", "subject": "Bill", "status": "Closed", "opened": 1772000000000},
                {
                    "id": "c3",
                    "subject": "Refund",
                    "status": "pending",
                    "opened": "2026-03-02T10:00:00+01:00",
                },
            ]
        },
    )


async def _serve(app: web.Application, **kwargs: Any) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0, **kwargs)
    await server.start_server()
    return server


@pytest.fixture
async def base_url(fake: FakeCrm) -> AsyncIterator[str]:
    server = await _serve(fake.app())
    yield str(server.make_url("")).rstrip("/")
    fake.release_slow()
    await server.close()


async def _rest(base_url: str, **overrides: Any) -> RestCrm:
    settings = RestSettings.model_validate(hubspot_settings(base_url, **overrides))
    return await RestCrm.open(settings)


@pytest.fixture
async def rest(base_url: str) -> AsyncIterator[RestCrm]:
    adapter = await _rest(base_url)
    yield adapter
    await adapter.aclose()


def _resilient(
    rest: RestCrm, clock: ManualClock | None = None, *, ttl: float = 0, failures: int = 3
) -> ResilientCrm:
    clock = clock or ManualClock()
    return ResilientCrm(
        rest,
        breaker=CircuitBreaker(failures=failures, reset_s=10, clock=clock),
        cache_ttl_s=ttl,
        clock=clock,
    )


# --- mapping and escaping ---------------------------------------------------------------


async def test_a_hubspot_style_search_finds_the_customer(rest: RestCrm, fake: FakeCrm) -> None:
    found = await rest.find_by_phone("(555) 123-4567")

    assert [(c.id, c.name, c.tier, c.phones) for c in found] == [
        ("101", "Ada Lovelace", "gold", ("+15551234567",))
    ]
    search = fake.seen[-1]
    assert search.body["filterGroups"][0]["filters"][0]["value"] == "+15551234567"
    assert search.headers["Authorization"] == "Bearer s3cret-token"


@pytest.mark.parametrize("spelling", FIVE_SPELLINGS)
async def test_every_caller_id_spelling_finds_the_same_crm_record(
    rest: RestCrm, spelling: str
) -> None:
    assert [c.id for c in await rest.find_by_phone(spelling)] == ["101"]


async def test_a_path_value_stays_one_segment(rest: RestCrm, fake: FakeCrm) -> None:
    with pytest.raises(NotFound):
        await rest.get_customer("../admin?x=1#y")
    assert fake.seen[-1].raw_path == "/customers/..%2Fadmin%3Fx%3D1%23y"


async def test_a_query_value_stays_one_parameter(rest: RestCrm, fake: FakeCrm) -> None:
    found = await rest.find_by_account("A&phone=1 2")
    assert fake.seen[-1].query == {"account": "A&phone=1 2"}
    assert [c.id for c in found] == ["102"]


async def test_a_body_value_stays_one_json_string(rest: RestCrm, fake: FakeCrm) -> None:
    hostile = 'x"}, "admin": true, "y": "\n\u2028{phone}'
    entry = OutboxEntry(
        id=1,
        call_id="1700.1",
        seq=1,
        operation="log_interaction",
        payload={
            "call_id": "1700.1",
            "notes": hostile,
            "journey": "Billing > Pay",
            "customer_id": "101",
            "agent": None,
            "disposition": None,
            "started": "2026-03-02T09:30:00.000Z",
            "ended": None,
        },
        attempts=0,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )

    crm_id = await rest.deliver(entry)

    sent = fake.applied["1700.1:1"]["body"]["properties"]
    assert sent["notes"] == hostile
    assert sent["disposition"] is None
    assert "admin" not in fake.applied["1700.1:1"]["body"]
    assert crm_id == "call-1"


def _entry(call_id: str, **payload: Any) -> OutboxEntry:
    values = {
        "call_id": call_id,
        "notes": "",
        "journey": "Billing",
        "customer_id": None,
        "agent": None,
        "disposition": None,
        "started": "2026-03-02T09:30:00.000Z",
        "ended": None,
    }
    values.update(payload)
    return OutboxEntry(
        id=1,
        call_id=call_id,
        seq=1,
        operation="log_interaction",
        payload=values,
        attempts=0,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


async def test_a_write_by_post_is_not_repeated_within_an_attempt(
    rest: RestCrm, fake: FakeCrm
) -> None:
    fake.calls_unavailable = 1
    with pytest.raises(CrmUnavailable):
        await rest.deliver(_entry("1700.1"))
    assert [s.raw_path for s in fake.seen] == ["/calls"]  # the outbox retries it later


def _optional_to(base_url: str) -> RestSettings:
    settings = hubspot_settings(base_url)
    settings["operations"]["log_interaction"]["json"] = {
        "properties": {"call_id": "{call_id}", "summary": "{journey}"},
        "to?": {"id": "{customer_id}", "type": "contact"},
        "agent?": "{agent}",
    }
    settings["operations"]["log_interaction"]["query"] = {"contact?": "{customer_external_id}"}
    return RestSettings.model_validate(settings)


async def test_an_optional_body_part_is_left_out_for_an_unknown_caller(
    base_url: str, fake: FakeCrm
) -> None:
    rest = RestCrm(_optional_to(base_url), aiohttp.ClientSession())
    try:
        await rest.deliver(_entry("1700.1", customer_id=None, agent=None))
        await rest.deliver(
            _entry("1700.2", customer_id="101", agent="alice", customer_external_id="hs-101")
        )
    finally:
        await rest._session.close()
    unknown, known = fake.seen
    assert unknown.body == {"properties": {"call_id": "1700.1", "summary": "Billing"}}
    assert (unknown.raw_path, unknown.query) == ("/calls", {})
    assert known.body == {
        "properties": {"call_id": "1700.2", "summary": "Billing"},
        "to": {"id": "101", "type": "contact"},
        "agent": "alice",
    }
    assert known.query == {"contact": "hs-101"}


async def test_a_refusal_keeps_the_crms_answer_printable(rest: RestCrm, fake: FakeCrm) -> None:
    fake.calls_unauthorized = True
    with pytest.raises(HttpRejected) as refused:
        await rest.deliver(_entry("1700.1"))
    assert refused.value.status == 401
    assert str(refused.value) == (
        'log_interaction: CRM refused with HTTP 401: {"message": "token expired\\u001b[2J"}'
    )


async def test_open_cases_map_the_crms_states_and_times(rest: RestCrm) -> None:
    found = await rest.open_cases("101")
    assert [(c.id, c.status) for c in found] == [("c3", "pending"), ("c1", "open")]
    assert found[0].opened == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_found_lookup_carries_the_open_case_count(rest: RestCrm) -> None:
    outcome = await lookup_within_budget(
        _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
    )
    assert outcome.status is LookupStatus.FOUND
    view = outcome.view()
    assert view is not None and (view["name"], view["open_cases"]) == ("Ada Lovelace", 2)


async def test_a_404_lookup_means_nobody(base_url: str) -> None:
    rest = await _rest(base_url, operations={"find_by_phone": "GET /by-phone/{phone}"})
    try:
        outcome = await lookup_within_budget(
            _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
        )
    finally:
        await rest.aclose()
    assert outcome.status is LookupStatus.NOT_FOUND


async def test_an_unknown_number_is_not_found(rest: RestCrm) -> None:
    outcome = await lookup_within_budget(
        _resilient(rest), "phone", "5550000000", BUDGET_S, concurrency=LOOP
    )
    assert outcome.status is LookupStatus.NOT_FOUND


# --- a CRM that misbehaves ---------------------------------------------------------------


@pytest.mark.parametrize("mode", FAILURE_MODES)
async def test_the_ivr_lookup_is_unavailable_when_the_crm_misbehaves(
    rest: RestCrm, fake: FakeCrm, mode: str
) -> None:
    fake.mode = mode
    outcome = await lookup_within_budget(
        _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
    )
    assert outcome.status is LookupStatus.UNAVAILABLE


async def test_the_ivr_lookup_is_unavailable_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rest = await _rest(f"http://127.0.0.1:{port}")
    try:
        outcome = await lookup_within_budget(
            _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
        )
    finally:
        await rest.aclose()
    assert outcome.status is LookupStatus.UNAVAILABLE


async def test_a_slow_crm_is_cut_off_by_the_budget_even_without_a_client_timeout(
    base_url: str, fake: FakeCrm
) -> None:
    fake.mode = "slow"
    settings = RestSettings.model_validate(hubspot_settings(base_url, timeout_s=120))
    crm = _resilient(await RestCrm.open(settings))
    try:
        outcome = await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)
    finally:
        await crm.aclose()
    assert outcome.status is LookupStatus.UNAVAILABLE


async def test_a_search_by_post_is_tried_again_after_a_gateway_error(
    rest: RestCrm, fake: FakeCrm
) -> None:
    fake.lookups_unavailable = 1
    outcome = await lookup_within_budget(
        _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
    )
    assert outcome.status is LookupStatus.FOUND
    assert [s.raw_path for s in fake.seen].count("/crm/v3/objects/contacts/search") == 2


async def test_a_search_marked_not_idempotent_is_never_repeated(
    base_url: str, fake: FakeCrm
) -> None:
    settings = hubspot_settings(base_url)
    settings["operations"]["find_by_phone"]["idempotent"] = False
    rest = await RestCrm.open(RestSettings.model_validate(settings))
    fake.lookups_unavailable = 1
    try:
        outcome = await lookup_within_budget(
            _resilient(rest), "phone", "5551234567", BUDGET_S, concurrency=LOOP
        )
    finally:
        await rest.aclose()
    assert outcome.status is LookupStatus.UNAVAILABLE
    assert len(fake.seen) == 1


# --- breaker and cache -------------------------------------------------------------------


async def test_the_breaker_opens_and_stops_asking_a_failing_crm(
    rest: RestCrm, fake: FakeCrm
) -> None:
    crm = _resilient(rest, failures=3)
    fake.mode = "error500"
    for _ in range(3):
        await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)
    asked = len(fake.seen)

    outcome = await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)

    assert outcome.status is LookupStatus.UNAVAILABLE
    assert crm.breaker.state is BreakerState.OPEN
    assert len(fake.seen) == asked


async def test_the_breaker_closes_when_the_trial_call_succeeds(
    rest: RestCrm, fake: FakeCrm
) -> None:
    clock = ManualClock()
    crm = _resilient(rest, clock, failures=3)
    fake.mode = "error500"
    for _ in range(3):
        await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)
    fake.mode = "ok"
    clock.now += 10

    outcome = await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)

    assert outcome.status is LookupStatus.FOUND
    assert crm.breaker.state is BreakerState.CLOSED


async def test_a_failed_trial_call_opens_the_breaker_again(rest: RestCrm, fake: FakeCrm) -> None:
    clock = ManualClock()
    crm = _resilient(rest, clock, failures=3)
    fake.mode = "error500"
    for _ in range(3):
        await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)
    clock.now += 10

    await lookup_within_budget(crm, "phone", "5551234567", BUDGET_S, concurrency=LOOP)

    assert crm.breaker.state is BreakerState.OPEN
    clock.now += 9.9
    assert crm.breaker.state is BreakerState.OPEN


async def test_a_repeat_caller_within_the_ttl_costs_the_crm_nothing(
    rest: RestCrm, fake: FakeCrm
) -> None:
    clock = ManualClock()
    crm = _resilient(rest, clock, ttl=60)
    await crm.find_by_phone("5551234567")
    await crm.find_by_phone("+1 555 123 4567")
    searches = [s for s in fake.seen if s.raw_path.endswith("/search")]
    assert len(searches) == 1

    clock.now += 60
    await crm.find_by_phone("5551234567")
    assert len([s for s in fake.seen if s.raw_path.endswith("/search")]) == 2


async def test_a_customer_seen_in_a_lookup_is_known_by_id_without_asking(
    base_url: str, fake: FakeCrm
) -> None:
    settings = hubspot_settings(base_url)
    del settings["operations"]["get_customer"]
    rest = await RestCrm.open(RestSettings.model_validate(settings))
    try:
        crm = _resilient(rest, ttl=60)
        await crm.find_by_phone("5551234567")
        assert (await crm.get_customer("101")).name == "Ada Lovelace"
    finally:
        await rest.aclose()


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    # `make test` installs openssl when missing: a TLS test that cannot run must fail.
    assert shutil.which("openssl"), "openssl is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_is_verified_by_default_and_trusts_a_given_ca(
    fake: FakeCrm, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server(ssl=context)
    url = f"https://127.0.0.1:{server.port}"
    try:
        untrusted = await _rest(url)
        trusted = await _rest(url, ca_file=str(cert))
        try:
            refused = await lookup_within_budget(
                _resilient(untrusted), "phone", "5551234567", 2, concurrency=LOOP
            )
            accepted = await lookup_within_budget(
                _resilient(trusted), "phone", "5551234567", 2, concurrency=LOOP
            )
        finally:
            await untrusted.aclose()
            await trusted.aclose()
    finally:
        await server.close()
    assert refused.status is LookupStatus.UNAVAILABLE
    assert accepted.status is LookupStatus.FOUND


# --- what the log says about lookups and the breaker -------------------------------------


def _watched(rest: RestCrm, clock: ManualClock, failures: int = 3) -> ResilientCrm:
    breaker = CircuitBreaker(failures, 10.0, clock, name="crm-rest", on_change=log_breaker_change)
    return ResilientCrm(rest, breaker=breaker, cache_ttl_s=0, clock=clock)


# What the tests below log is the fake CRM's answer: a budget its local round trip never
# reaches, even on a loaded machine, so a stall cannot add a timeout line of its own.
ANSWER_BUDGET_S = 10.0


async def _look(crm: ResilientCrm, watch: LookupWatch, times: int) -> None:
    for _ in range(times):
        watch.record(
            await lookup_within_budget(
                crm, "phone", "5551234567", ANSWER_BUDGET_S, concurrency=LOOP
            )
        )


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "callpop.crm"]


async def test_a_refused_token_is_logged_once_with_the_status_then_the_recovery(
    rest: RestCrm, fake: FakeCrm, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    crm, watch = _watched(rest, clock), LookupWatch(clock)
    caplog.set_level(logging.INFO, logger="callpop.crm")
    fake.mode = "unauthorized"
    await _look(crm, watch, 5)
    clock.now += 42
    fake.mode = "ok"
    await _look(crm, watch, 2)

    assert _logged(caplog) == [
        "CRM lookups failing (HTTP 401): find_by_phone: CRM refused with HTTP 401: "
        '{"message": "invalid token"}; callers take the unavailable branch',
        "CRM lookups answering again after 42 s (5 lookups unavailable meanwhile)",
    ]


async def test_an_outage_logs_its_cause_the_breaker_opening_and_closing_once_each(
    rest: RestCrm, fake: FakeCrm, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    crm, watch = _watched(rest, clock), LookupWatch(clock)
    caplog.set_level(logging.INFO, logger="callpop.crm")
    fake.mode = "error500"
    await _look(crm, watch, 10)  # 3 reach the CRM, then the breaker answers
    clock.now += 10
    await _look(crm, watch, 1)  # the trial fails: open again, nothing new to say
    fake.mode = "garbage"
    clock.now += 10
    await _look(crm, watch, 1)  # the trial gets an unreadable answer: a new kind
    fake.mode = "ok"
    clock.now += 10
    await _look(crm, watch, 3)

    assert _logged(caplog) == [
        "CRM lookups failing (unavailable): find_by_phone: CRM answered HTTP 500; "
        "callers take the unavailable branch",
        "CRM circuit breaker crm-rest open after 3 failures in a row: lookups answer "
        "unavailable at once, one trial every 10 s",
        "CRM lookups now failing (bad answer): find_by_phone: the answer is not JSON",
        "CRM circuit breaker crm-rest closed: a trial call succeeded",
        "CRM lookups answering again after 30 s (12 lookups unavailable meanwhile)",
    ]
    assert len([s for s in fake.seen if s.method == "POST"]) == 3 + 1 + 1 + 3


async def test_a_number_shared_by_two_crm_records_finds_both_and_the_ivr_routes_on_neither(
    rest: RestCrm, fake: FakeCrm
) -> None:
    from crm_adapter.lookup import lookup_within_budget
    from ivr.events import LookupStatus

    fake.contacts.append(contact("103", "Ada", "Junior", "+15551234567"))
    found = await rest.find_by_phone("5551234567")
    assert [c.id for c in found] == ["101", "103"]
    outcome = await lookup_within_budget(rest, "phone", "5551234567", 5.0, concurrency=LOOP)
    assert (outcome.status, outcome.customer, outcome.candidates) == (
        LookupStatus.FOUND,
        None,
        ("101", "103"),
    )
