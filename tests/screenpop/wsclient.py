"""A panel socket for tests: the same frames a browser tab sends and receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

DEADLINE_S = 5.0


class Tab:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = await self.ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    frame: dict[str, Any] = json.loads(message.data)
                    self.seen.append(frame)
                    return frame
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                ):
                    raise ConnectionError(f"socket closed: {self.ws.close_code}")

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame matching `predicate` (frames before it are kept in `seen`)."""
        while True:
            frame = await self.next()
            if predicate(frame):
                return frame

    async def until_type(self, type_: str, call_id: str | None = None) -> dict[str, Any]:
        return await self.until(
            lambda f: (
                f["type"] == type_
                and (call_id is None or f.get("pop", {}).get("call_id") == call_id)
            )
        )

    async def closed(self) -> int | None:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = await self.ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return self.ws.close_code
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.seen.append(json.loads(message.data))


async def open_tab(
    session: aiohttp.ClientSession,
    url: str,
    *,
    since: int = 0,
    epoch: str | None = None,
    view: str = "panel",
    origin: str | None = None,
    **hello: Any,
) -> Tab:
    headers = {"Origin": origin} if origin else {}
    ws = await session.ws_connect(url.replace("http", "ws", 1) + "/ws", headers=headers)
    tab = Tab(ws)
    message: dict[str, Any] = {"type": "hello", "since": since, "view": view, **hello}
    if epoch is not None:
        message["epoch"] = epoch
    await tab.send(**message)
    return tab
