"""The embeddable widget: a CRM page on another origin includes one script tag, the
agent connects it once, and pops arrive there (card, callback API, record URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Route, expect

from crm_adapter.port import CustomerDraft
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, make_desk
from tests.screenpop.wsclient import open_tab

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "widget-example.html"


@asynccontextmanager
async def crm_site() -> AsyncIterator[tuple[TestServer, dict[str, str]]]:
    """An 'existing web CRM' on its own origin, serving docs/widget-example.html with the
    script tag pointed at the callpop under test."""
    where: dict[str, str] = {}
    page = EXAMPLE.read_text()

    async def index(_request: web.Request) -> web.Response:
        return web.Response(
            text=page.replace("https://callpop.example.com", where["callpop"]),
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", index)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server, where
    finally:
        await server.close()


def record_page(visits: list[str]) -> Callable[[Route], Awaitable[None]]:
    """The CRM's record pages, answered by the browser itself (no DNS, no network)."""

    async def fulfill(route: Route) -> None:
        visits.append(route.request.url)
        await route.fulfill(body="<h1>Record</h1>", content_type="text/html")

    return fulfill


def origin_of(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


@pytest.mark.browser
async def test_a_crm_page_gets_the_pops_and_opens_the_record_on_answer(tmp_path: Path) -> None:
    async with crm_site() as (crm, where):
        async for desk in make_desk(tmp_path, web_origins=(origin_of(crm),)):
            where["callpop"] = desk.url
            customer = await desk.crm.create_customer(
                CustomerDraft(name="Wendy Widget", phones=("+15551231000",))
            )
            async with chromium() as browser:
                context, callpop = await new_page(browser, "1366")
                await login(callpop, desk.url, "alice", PASSWORD)
                record_pages: list[str] = []
                await context.route("https://crm.example.test/**", record_page(record_pages))
                page = await context.new_page()
                await page.goto(origin_of(crm) + "/")
                connect = page.get_by_role("button", name="Connect callpop")
                async with context.expect_page() as popup_info:
                    await connect.click()
                popup = await popup_info.value
                await popup.wait_for_event("close")
                await page.wait_for_function("window.CallPop.status === 'connected'")

                call = desk.next_call_id()
                await desk.ivr(
                    call,
                    number="+15551231000",
                    customer_id=customer.id,
                    steps=[("main_menu", "menu", "Main menu", ["1"])],
                )
                await desk.ring(call, "alice")
                card = page.locator(f'[data-call-id="{call}"]')
                await expect(card).to_contain_text("Wendy Widget")
                await expect(card).to_contain_text("Main menu")
                # the callback API saw the offer (sent at once) and the customer data
                events = page.locator("#events")
                await expect(events).to_contain_text(f"pop.offered · +15551231000 · call {call}")
                await expect(events).to_contain_text(f"Wendy Widget · call {call}")
                await shot(page, "widget-crm-page-1366")
                await desk.answer(call, "alice")
                await page.wait_for_url(f"https://crm.example.test/customers/{customer.id}")
                assert record_pages == [f"https://crm.example.test/customers/{customer.id}"]
                await context.close()


async def test_the_connect_page_refuses_origins_not_in_web_origins(tmp_path: Path) -> None:
    async for desk in make_desk(tmp_path, web_origins=("https://crm.example.test",)):
        async with await desk.logged_in("alice") as alice:
            async with alice.get(
                f"{desk.url}/widget/connect", params={"origin": "https://evil.example"}
            ) as response:
                assert response.status == 403
                assert "not allowed to embed" in await response.text()


async def embed_token(desk: object, session: aiohttp.ClientSession, origin: str) -> str:
    async with session.get(f"{desk.url}/widget/connect", params={"origin": origin}) as page:  # type: ignore[attr-defined]
        html = await page.text()
    return html.split('"token": "', 1)[1].split('"', 1)[0]


async def test_an_embed_token_works_only_from_its_own_origin(tmp_path: Path) -> None:
    crm_a, crm_b = "https://crm-a.example.test", "https://crm-b.example.test"
    async for desk in make_desk(tmp_path, web_origins=(crm_a, crm_b)):
        async with await desk.logged_in("alice") as alice:
            token = await embed_token(desk, alice, crm_a)
        async with desk.session() as widget:
            url = desk.url.replace("http", "ws", 1) + "/ws"
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await widget.ws_connect(url, params={"embed": token}, headers={"Origin": crm_b})
            assert refused.value.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await widget.ws_connect(
                    url, params={"embed": token[:-2] + "xx"}, headers={"Origin": crm_a}
                )
            assert refused.value.status == 401
            ws = await widget.ws_connect(url, params={"embed": token}, headers={"Origin": crm_a})
            await ws.send_json({"type": "hello", "since": 0})
            welcome = await ws.receive_json()
            assert welcome["agent"]["name"] == "alice"
            fresh = await ws.receive_json()
            assert fresh["type"] == "token" and fresh["token"] != ""
            await ws.close()


async def test_a_widget_never_takes_the_ring_from_the_agents_tab(tmp_path: Path) -> None:
    crm_origin = "https://crm-a.example.test"
    async for desk in make_desk(tmp_path, web_origins=(crm_origin,)):
        async with await desk.logged_in("alice") as alice:
            token = await embed_token(desk, alice, crm_origin)
            url = desk.url.replace("http", "ws", 1) + "/ws"
            widget = await alice.ws_connect(
                url, params={"embed": token}, headers={"Origin": crm_origin}
            )
            await widget.send_json({"type": "hello", "since": 0})
            # welcome, token, controls, reset, alert
            frames = [await widget.receive_json() for _ in range(5)]
            assert {"type": "alert", "alerting": False} in frames
            await widget.send_json({"type": "focus"})
            tab = await open_tab(alice, desk.url)
            assert (await tab.until_type("alert"))["alerting"] is True
            await widget.close()
