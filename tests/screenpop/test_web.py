"""The web side over HTTP: login, sessions, CSRF, roles, the disposition write-back,
click-to-dial, health. Requests go to the real app on a real socket."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from crm_adapter.port import CustomerDraft
from tests.screenpop.conftest import PASSWORD, Desk
from tests.screenpop.wsclient import open_tab


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    token: str | None,
    **headers: str,
) -> tuple[int, dict[str, Any]]:
    if token is not None:
        headers["X-CSRF-Token"] = token
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def live_call(desk: Desk, agent: str = "alice", **ivr: Any) -> str:
    call = desk.next_call_id()
    await desk.ivr(call, number=ivr.pop("number", "+15551239999"), **ivr)
    await desk.ring(call, agent)
    await desk.answer(call, agent)
    return call


async def test_pages_send_strangers_to_the_login_form(desk: Desk) -> None:
    async with desk.session() as browser:
        async with browser.get(f"{desk.url}/agent", allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/login?next=/agent"
        async with browser.get(f"{desk.url}/", allow_redirects=False) as response:
            assert response.headers["Location"] == "/login"


async def test_login_opens_the_page_of_the_role(desk: Desk) -> None:
    async with desk.session() as agent, desk.session() as supervisor:
        assert (await desk.login(agent, "alice")).headers["Location"] == "/agent"
        assert (await desk.login(supervisor, "sue")).headers["Location"] == "/supervisor"


async def test_the_session_cookie_is_httponly_and_lax(desk: Desk) -> None:
    async with desk.session() as browser:
        response = await desk.login(browser, "alice")
        cookie = response.cookies["callpop_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        assert not cookie["secure"]  # plain HTTP here; `secure` follows TLS


async def test_a_wrong_password_is_refused_without_saying_which_part(desk: Desk) -> None:
    async with desk.session() as browser:
        wrong = await desk.login(browser, "alice", "nope")
        nobody = await desk.login(browser, "mallory", "nope")
        assert wrong.status == nobody.status == 401
        assert "Wrong name or password." in await wrong.text()
        assert "Wrong name or password." in await nobody.text()


async def test_logins_are_throttled_per_address_and_user(desk: Desk) -> None:
    async with desk.session() as browser:
        for _ in range(5):
            assert (await desk.login(browser, "alice", "guess")).status == 401
        blocked = await desk.login(browser, "alice", PASSWORD)
        assert blocked.status == 429
        assert "Too many failed attempts" in await blocked.text()
        assert (await desk.login(browser, "bob")).status == 302  # another user is not blocked


async def test_a_login_without_the_form_token_is_refused(desk: Desk) -> None:
    async with desk.session() as browser:
        async with browser.post(
            f"{desk.url}/login", allow_redirects=False, data={"name": "alice", "password": PASSWORD}
        ) as response:
            assert response.status == 403
            assert "callpop_session" not in response.cookies


async def test_login_never_redirects_to_another_site(desk: Desk) -> None:
    async with desk.session() as browser:
        async with browser.get(f"{desk.url}/login") as page:
            token = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        async with browser.post(
            f"{desk.url}/login",
            allow_redirects=False,
            data={
                "_csrf": token,
                "name": "alice",
                "password": PASSWORD,
                "next": "//evil.example/phish",
            },
        ) as response:
            assert response.headers["Location"] == "/agent"


async def test_an_agent_cannot_open_the_wallboard_page(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        async with alice.get(f"{desk.url}/supervisor", allow_redirects=False) as response:
            assert response.status == 403


async def test_a_forged_disposition_without_csrf_token_is_refused(desk: Desk) -> None:
    call = await live_call(desk)
    async with await desk.logged_in("alice") as alice:
        url = f"{desk.url}/api/v1/calls/{call}/disposition"
        status, body = await post_json(alice, url, {"disposition": "resolved"}, None)
        assert status == 403 and "CSRF" in body["error"]
        status, _ = await post_json(alice, url, {"disposition": "resolved"}, "forged-token")
        assert status == 403
    with pytest.raises(Exception):  # noqa: B017 - nothing was written
        await desk.crm.get_interaction(call)


async def test_a_post_from_another_site_is_refused_even_with_a_token(desk: Desk) -> None:
    call = await live_call(desk)
    async with await desk.logged_in("alice") as alice:
        token = await desk.csrf(alice)
        status, body = await post_json(
            alice,
            f"{desk.url}/api/v1/calls/{call}/disposition",
            {"disposition": "resolved"},
            token,
            Origin="http://evil.example",
        )
        assert status == 403 and "cross-site" in body["error"]


async def test_logout_needs_the_token_and_ends_the_session(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        async with alice.post(f"{desk.url}/logout", allow_redirects=False) as forged:
            assert forged.status == 403
        token = await desk.csrf(alice)
        cookie = alice.cookie_jar.filter_cookies(URL(desk.url))["callpop_session"].value
        async with alice.post(
            f"{desk.url}/logout", data={"_csrf": token}, allow_redirects=False
        ) as response:
            assert response.status == 302
    async with desk.session() as replay:  # the old cookie, stolen before logout
        replay.cookie_jar.update_cookies({"callpop_session": cookie})
        async with replay.get(f"{desk.url}/agent", allow_redirects=False) as response:
            assert response.status == 302


async def test_the_disposition_lands_in_the_crm_and_closes_the_pop(desk: Desk) -> None:
    customer = await desk.crm.create_customer(
        CustomerDraft(name="Ann Example", phones=("+15551230100",))
    )
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        call = await live_call(
            desk, number="+15551230100", steps=[("menu", "menu", "Main menu", ["1"])]
        )
        await tab.until_type("pop.accepted", call)
        await desk.complete(call, "alice")
        await tab.until_type("pop.wrapup", call)
        token = await desk.csrf(alice)
        status, body = await post_json(
            alice,
            f"{desk.url}/api/v1/calls/{call}/disposition",
            {"disposition": "callback", "notes": "call back at 5"},
            token,
        )
        assert (status, body["ok"]) == (200, True)
        await tab.until_type("pop.done", call)
    stored = await desk.crm.get_interaction(call)
    assert (stored.disposition, stored.notes, stored.agent) == (
        "callback",
        "call back at 5",
        "alice",
    )
    assert stored.customer_id == customer.id
    assert stored.journey == "Main menu"


async def test_dispositions_come_from_the_dialplan(desk: Desk) -> None:
    call = await live_call(desk)
    async with await desk.logged_in("alice") as alice:
        token = await desk.csrf(alice)
        url = f"{desk.url}/api/v1/calls/{call}/disposition"
        status, body = await post_json(alice, url, {"disposition": "made_up"}, token)
        assert status == 400 and body["field"] == "disposition"
        status, body = await post_json(alice, url, {"disposition": "callback", "notes": " "}, token)
        assert status == 400 and body["field"] == "notes"


async def test_an_agent_cannot_dispose_of_another_agents_call(desk: Desk) -> None:
    call = await live_call(desk, agent="alice")
    async with await desk.logged_in("bob") as bob:
        status, _ = await post_json(
            bob,
            f"{desk.url}/api/v1/calls/{call}/disposition",
            {"disposition": "resolved"},
            await desk.csrf(bob),
        )
        assert status == 404


async def test_click_to_dial_rings_the_agents_phone_first(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        status, body = await post_json(
            alice, f"{desk.url}/api/v1/dial", {"number": "(555) 123-4567"}, await desk.csrf(alice)
        )
        assert (status, body["number"]) == (200, "+15551234567")
        status, body = await post_json(
            alice, f"{desk.url}/api/v1/dial", {"number": "not a number"}, await desk.csrf(alice)
        )
        assert status == 400
    assert desk.originated.calls == [("alice", "+15551234567")]


async def test_an_unknown_caller_becomes_a_customer_from_the_pop(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = await live_call(desk, number="+15551230200")
        accepted = await tab.until_type("pop.accepted", call)
        if accepted["pop"]["payload"]["match"] != "none":
            accepted = await tab.until(
                lambda f: f.get("pop", {}).get("payload", {}).get("match") == "none"
            )
        assert accepted["pop"]["payload"]["new_customer"]["phone"] == "+15551230200"
        status, body = await post_json(
            alice,
            f"{desk.url}/api/v1/customers",
            {"call_id": call, "name": "New Person", "phone": "+15551230200"},
            await desk.csrf(alice),
        )
        assert status == 201
        updated = await tab.until(
            lambda f: f.get("pop", {}).get("payload", {}).get("match") == "one"
        )
        assert updated["pop"]["payload"]["customer"]["name"] == "New Person"
        assert updated["pop"]["payload"]["customer"]["record_url"] == (
            f"https://crm.example.test/customers/{body['customer_id']}"
        )


async def test_health_and_readiness_need_no_login(desk: Desk) -> None:
    async with desk.session() as probe:
        async with probe.get(f"{desk.url}/healthz") as response:
            assert (response.status, await response.text()) == (200, "ok\n")
        async with probe.get(f"{desk.url}/readyz") as response:
            assert response.status == 200


async def test_pages_forbid_inline_scripts_and_framing(desk: Desk) -> None:
    async with desk.session() as browser:
        async with browser.get(f"{desk.url}/login") as response:
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_an_agent_attaches_only_customers_the_pop_offered(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = [
        await desk.crm.create_customer(CustomerDraft(name=name, phones=("+15551230300",)))
        for name in ("Pat One", "Pat Two")
    ]
    elsewhere = await desk.crm.create_customer(
        CustomerDraft(name="Someone Else", phones=("+15551230399",))
    )
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = await live_call(desk, number="+15551230300")
        await tab.until(lambda f: f.get("pop", {}).get("payload", {}).get("match") == "several")
        url = f"{desk.url}/api/v1/calls/{call}/customer"
        token = await desk.csrf(alice)
        status, body = await post_json(alice, url, {"customer_id": elsewhere.id}, token)
        assert status == 403 and body["field"] == "customer_id"
        assert (
            f"agent alice tried to attach customer '{elsewhere.id}', not offered for call "
            f"'{call}'" in caplog.text
        )
        status, _ = await post_json(alice, url, {"customer_id": second.id}, token)
        assert status == 200
        assert first.id != second.id


async def test_a_disposition_cannot_attach_a_customer_the_pop_never_offered(desk: Desk) -> None:
    await desk.crm.create_customer(CustomerDraft(name="Caller", phones=("+15551230400",)))
    elsewhere = await desk.crm.create_customer(
        CustomerDraft(name="Someone Else", phones=("+15551230499",))
    )
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = await live_call(desk, number="+15551230400")
        await tab.until(lambda f: f.get("pop", {}).get("payload", {}).get("match") == "one")
        status, body = await post_json(
            alice,
            f"{desk.url}/api/v1/calls/{call}/disposition",
            {"disposition": "resolved", "customer_id": elsewhere.id},
            await desk.csrf(alice),
        )
        assert status == 403 and body["field"] == "customer_id"
    with pytest.raises(Exception):  # noqa: B017 - nothing was written
        await desk.crm.get_interaction(call)
