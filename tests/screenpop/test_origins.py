"""Whose page may open a socket or post: the origin agents reach callpop at
(`web_public_url`, or the address connected to), never what the Host header claims.
A page on a rebound DNS name reaches 127.0.0.1 with its own name in both Origin and
Host: it must be a stranger."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.screenpop.conftest import Desk, make_desk
from tests.screenpop.wsclient import open_tab


def rebound(desk: Desk) -> str:
    """The attacker's name for the desk's address, port kept (DNS rebinding)."""
    return f"evil.test:{urlsplit(desk.url).port}"


async def test_a_socket_from_a_rebound_name_is_refused_though_host_agrees(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await alice.ws_connect(
                desk.url.replace("http", "ws") + "/ws",
                headers={"Origin": f"http://{rebound(desk)}", "Host": rebound(desk)},
            )
    assert refused.value.status == 403


async def test_a_post_from_a_rebound_name_is_refused_though_host_agrees(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        token = await desk.csrf(alice)
        async with alice.post(
            f"{desk.url}/api/v1/dial",
            json={"number": "5551234567"},
            headers={
                "X-CSRF-Token": token,
                "Host": rebound(desk),
                "Origin": f"http://{rebound(desk)}",
            },
        ) as response:
            assert response.status == 403
            assert "cross-site" in (await response.json())["error"]


async def test_localhost_and_the_bound_address_are_this_site(desk: Desk) -> None:
    port = urlsplit(desk.url).port
    async with await desk.logged_in("alice") as alice:
        for origin in (desk.url, f"http://localhost:{port}"):
            tab = await open_tab(alice, desk.url, origin=origin)
            assert (await tab.until_type("welcome"))["agent"]["name"] == "alice"
            await tab.ws.close()


async def test_behind_a_proxy_the_public_url_is_this_site(tmp_path: Path) -> None:
    async for desk in make_desk(
        tmp_path,
        settings={
            "web_public_url": "https://pop.example.test",
            "web_trusted_proxies": ["127.0.0.1"],
        },
    ):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url, origin="https://pop.example.test")
            assert (await tab.until_type("welcome"))["agent"]["name"] == "alice"
            await tab.ws.close()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await alice.ws_connect(
                    desk.url.replace("http", "ws") + "/ws",
                    headers={"Origin": "https://evil.test", "Host": "evil.test"},
                )
            assert refused.value.status == 403
