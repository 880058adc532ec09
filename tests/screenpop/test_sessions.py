"""Logout ends a session everywhere: its cookie, its widget tokens and its sockets, on
this instance and on every other one sharing the database and the key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from callpop.config import Config
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore
from screenpop.app import create_app
from screenpop.auth import Passwords
from screenpop.bus import InProcessBus
from screenpop.panel import LOGGED_OUT
from screenpop.sqlstore import SqlScreenpopStore
from tests.screenpop.conftest import CHEAP_HASHER, CRM_ORIGIN, Desk, now, write_dialplan
from tests.screenpop.test_widget import embed_token
from tests.screenpop.wsclient import Tab, open_tab


@asynccontextmanager
async def second_instance(desk: Desk, tmp_path: Path) -> AsyncIterator[str]:
    """Another callpop on the same database with the same session key (as behind a
    load balancer); its URL."""
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    config = Config(dialplan=write_dialplan(tmp_path / "other-dialplan"), web_origins=(CRM_ORIGIN,))
    bus = InProcessBus()
    app = create_app(
        config.screenpop_settings(),
        store=SqlScreenpopStore(engine),
        bus=bus,
        clock=now,
        crm=SqlStore(engine, config.phone.normaliser()),
        session_key=b"k" * 32,
        passwords=Passwords(CHEAP_HASHER),
        revocation_poll_s=0.1,
    )
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()
        bus.close()
        await engine.dispose()


async def logout(desk: Desk, session: aiohttp.ClientSession) -> None:
    token = await desk.csrf(session)
    async with session.post(
        f"{desk.url}/logout", data={"_csrf": token}, allow_redirects=False
    ) as response:
        assert response.status == 302


def cookie_of(desk: Desk, session: aiohttp.ClientSession) -> str:
    return session.cookie_jar.filter_cookies(URL(desk.url))["callpop_session"].value


@asynccontextmanager
async def widget_socket(url: str, token: str) -> AsyncIterator[Tab]:
    """The widget on the CRM page: a socket opened with the embed token."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            url.replace("http", "ws", 1) + "/ws",
            params={"embed": token},
            headers={"Origin": CRM_ORIGIN},
        )
        tab = Tab(ws)
        await tab.send(type="hello", since=0)
        yield tab


async def refused(url: str, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as error:
            await http.ws_connect(
                url.replace("http", "ws", 1) + "/ws",
                params={"embed": token},
                headers={"Origin": CRM_ORIGIN},
            )
    return error.value.status


async def test_a_logged_out_cookie_is_refused_by_every_instance_sharing_the_database(
    desk: Desk, tmp_path: Path
) -> None:
    async with second_instance(desk, tmp_path) as other:
        async with await desk.logged_in("alice") as alice:
            cookie = cookie_of(desk, alice)
            async with alice.get(f"{other}/agent", allow_redirects=False) as response:
                assert response.status == 200  # one key, one database: valid there too
            await logout(desk, alice)
        async with desk.session() as thief:
            thief.cookie_jar.update_cookies({"callpop_session": cookie}, URL(other))
            async with thief.get(f"{other}/agent", allow_redirects=False) as response:
                assert response.status == 302
                assert response.headers["Location"].startswith("/login")


async def test_logout_ends_the_widgets_stream_and_its_tokens(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        token = await embed_token(desk, alice, CRM_ORIGIN)
        async with widget_socket(desk.url, token) as widget:
            renewed = await widget.until_type("token")
            await logout(desk, alice)
            assert await widget.closed() == LOGGED_OUT
    # neither the token it was opened with nor the one it was sent opens it again
    assert await refused(desk.url, token) == 401
    assert await refused(desk.url, renewed["token"]) == 401


async def test_a_logout_on_another_instance_closes_the_widget_here(
    desk: Desk, tmp_path: Path
) -> None:
    async with second_instance(desk, tmp_path) as other, await desk.logged_in("alice") as alice:
        token = await embed_token(desk, alice, CRM_ORIGIN)
        async with widget_socket(other, token) as widget:  # the balancer sent it there
            await widget.until_type("welcome")
            await logout(desk, alice)
            assert await widget.closed() == LOGGED_OUT


async def test_a_stolen_widget_token_cannot_mint_another_once_the_agent_logged_out(
    desk: Desk,
) -> None:
    async with await desk.logged_in("alice") as alice:
        stolen = await embed_token(desk, alice, CRM_ORIGIN)
        await logout(desk, alice)
    # the thief's socket is refused at the handshake: no welcome, no fresh token
    assert await refused(desk.url, stolen) == 401


async def test_the_agents_tabs_close_at_logout(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice, await desk.logged_in("alice") as other_desk:
        tab = await open_tab(alice, desk.url)
        elsewhere = await open_tab(other_desk, desk.url)  # another session of alice
        await tab.until_type("welcome")
        await elsewhere.until_type("welcome")
        await logout(desk, alice)
        assert await tab.closed() == LOGGED_OUT
        await elsewhere.send(type="ping")
        assert (await elsewhere.until_type("pong"))["type"] == "pong"


async def test_an_embed_token_opens_one_socket_on_any_instance(desk: Desk, tmp_path: Path) -> None:
    # the token travels in the socket's URL: one read from a proxy's log is already spent
    async with second_instance(desk, tmp_path) as other, await desk.logged_in("alice") as alice:
        token = await embed_token(desk, alice, CRM_ORIGIN)
        async with widget_socket(desk.url, token) as widget:
            renewed = (await widget.until_type("token"))["token"]
        assert await refused(desk.url, token) == 401
        assert await refused(other, token) == 401
        # the widget reconnects with the newest token it was sent, on whichever instance
        async with widget_socket(other, renewed) as widget:
            assert (await widget.until_type("welcome"))["agent"]["name"] == "alice"
        assert await refused(desk.url, renewed) == 401
