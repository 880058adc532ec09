"""The demo pages' websockets: origin check, one writer task per socket, JSON frames in.

The PBX tells pages what happens from plain callbacks (it never waits on a browser):
each socket has a bounded outbox drained by its own task, and a page that cannot keep
up is closed (it reconnects). Frames from a page are small JSON objects with a `type`;
anything else closes the socket with a policy-violation code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from screenpop.guards import is_own_origin
from screenpop.keys import WEBSOCKETS

__all__ = ["MAX_FRAME", "PageSocket", "check_origin"]

log = logging.getLogger(__name__)

MAX_FRAME = 4096
OUTBOX = 2000


def check_origin(request: web.Request) -> None:
    """Only this site's pages (a browser always sends Origin on a websocket; a client
    without one is not a browser, so no other site rides on the page's cookie)."""
    origin = request.headers.get("Origin")
    if origin is not None and not is_own_origin(request, origin):
        log.warning("demo websocket from origin %r refused", origin)
        raise web.HTTPForbidden(text="origin not allowed")


class PageSocket:
    """One page's websocket: `send()` from anywhere on the loop, `frames()` to read."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
        self._outbox: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._overflow = False
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PageSocket:
        await self.ws.prepare(self.request)
        self.request.app[WEBSOCKETS].add(self.ws)
        self._writer = asyncio.create_task(self._write(), name="demo-page-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.request.app[WEBSOCKETS].discard(self.ws)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.ws.close()

    def send(self, frame: dict[str, Any]) -> None:
        if len(self._outbox) >= OUTBOX:
            self._overflow = True
        else:
            self._outbox.append(frame)
        self._wake.set()

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._overflow:
                log.warning("a demo page cannot keep up: closing its socket")
                await self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                return
            while self._outbox:
                try:
                    await self.ws.send_str(json.dumps(self._outbox.popleft()))
                except (ConnectionError, RuntimeError):
                    return

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        """The page's frames until it goes; a malformed one closes the socket."""
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                break
            try:
                frame = json.loads(message.data)
            except ValueError:
                frame = None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"bad frame")
                break
            yield frame
