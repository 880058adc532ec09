"""Talking to a running demo without a browser: an agent's session (logged in through
the real form, CSRF and all) and the pages' websockets, frame by frame."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp

WAIT_S = 15.0  # a bound on each wait, never a synchronisation


async def logged_in(base: str, name: str, password: str) -> aiohttp.ClientSession:
    # unsafe: the jar keeps cookies of an IP address such as 127.0.0.1
    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        form = await (await session.get("/login")).text()
        match = re.search(r'name="_csrf" value="([^"]+)"', form)
        assert match is not None, "the login form has a CSRF field"
        response = await session.post(
            "/login",
            data={"name": name, "password": password, "_csrf": match.group(1), "next": ""},
            allow_redirects=False,
        )
        assert response.status == 302, f"login as {name}: {response.status}"
    except BaseException:
        await session.close()
        raise
    return session


class Frames:
    """A page's websocket: `send` JSON, `until` a frame that matches (all kept)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def until(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(
                        f"the socket ended ({message.type}) before the frame; seen: {self.seen}"
                    )
                frame: dict[str, Any] = json.loads(message.data)
                self.seen.append(frame)
                if match(frame):
                    return frame


def kind(type_: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == type_ and all(f.get(k) == v for k, v in fields.items())


def heard(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "heard" and text in str(f.get("text"))
