"""The ARI events websocket, kept up: connect, read, lose it, back off, reconnect.

Reconnecting is the normal life of this socket, not an exception: Asterisk restarts,
`core stop now` drops the TCP connection with no close frame at all (05, 07: aiohttp
reports 1006), `core stop gracefully` closes with 1000 (06), a network blip resets it.
So, as wsproto turns a dead transport into a `CloseConnection(1006)` event, the stream
turns every way of losing the socket into one `ConnectionLost` item, and its states
(`LinkState`) are data: CONNECTING -> CONNECTED -> BACKOFF -> CONNECTING ... -> CLOSED.

While the socket is away Asterisk drops the app's events and replays nothing (09); the
consumer resynchronises on every `Connected`, which is why the stream reports it.

The stream pushes items into a synchronous `sink` rather than being an async iterator,
so closing it never depends on a consumer finishing an `async for`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import aiohttp

from ivr.ari.client import AriClient, events_url
from ivr.ari.events import AriEvent, AriProtocolError, parse_event

__all__ = [
    "ABNORMAL_CLOSURE",
    "Backoff",
    "ConnectFailed",
    "Connected",
    "ConnectionLost",
    "EventStream",
    "LinkState",
    "StreamItem",
    "connection_lost",
]

log = logging.getLogger(__name__)

# RFC 6455 7.4.1: "closed abnormally, e.g. without sending or receiving a Close frame".
ABNORMAL_CLOSURE = 1006


class LinkState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Connected:
    """The websocket is up; `connection` counts them from 1. Resynchronise now."""

    connection: int


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The websocket ended; `code` 1006 means no close frame came (a dead transport)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed (refused, 401, timeout); the next one in `retry_in_s`."""

    error: str
    retry_in_s: float


StreamItem = Connected | ConnectionLost | ConnectFailed | AriEvent


class Backoff:
    """Exponential backoff with jitter: attempt n waits between d/2 and d, where
    d = min(cap, base * 2**n). The random half spreads the reconnects of many callpop
    instances after an Asterisk restart; the fixed half keeps the growth honest."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None):
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        # min() before the power would overflow: 2**1100 is no float.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def connection_lost(message: aiohttp.WSMessage, close_code: int | None) -> ConnectionLost | None:
    """The `ConnectionLost` a received websocket message means, or None if it is data.

    A close frame carries its code (`CLOSE`, 1000 on `core stop gracefully`); anything
    else that ends the socket (`CLOSED`, `ERROR`, a heartbeat with no pong) had no close
    frame, which is 1006 whatever aiohttp stored.
    """
    if message.type is aiohttp.WSMsgType.CLOSE:
        code = message.data if isinstance(message.data, int) else ABNORMAL_CLOSURE
        return ConnectionLost(code, str(message.extra or ""))
    if message.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        return ConnectionLost(close_code or ABNORMAL_CLOSURE, "")
    if message.type is aiohttp.WSMsgType.ERROR:
        return ConnectionLost(ABNORMAL_CLOSURE, str(message.data))
    return None


class EventStream:
    """`run(sink)` keeps the events websocket of one app up until `close()`."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        *,
        backoff: Backoff | None = None,
        heartbeat_s: float | None = 20.0,
    ) -> None:
        self.client = client
        self.app = app
        self.backoff = backoff or Backoff()
        self.heartbeat_s = heartbeat_s
        self.state = LinkState.CLOSED
        self.connections = 0
        self.failed_attempts = 0
        self._closing = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def close(self) -> None:
        """Stop reconnecting and close the socket with a close frame (1000)."""
        self._closing.set()
        if self._ws is not None:
            await self._ws.close()

    async def run(self, sink: Callable[[StreamItem], None]) -> None:
        attempt = 0
        while not self._closing.is_set():
            self.state = LinkState.CONNECTING
            failure = await self._connect()
            if failure is None and self._closing.is_set():
                await self._drop_socket()
                break
            if failure is None:
                attempt = 0
                self.connections += 1
                self.state = LinkState.CONNECTED
                sink(Connected(self.connections))
                lost = await self._read(sink)
                if self._closing.is_set():
                    break
                sink(lost)
            if self._closing.is_set():
                break
            self.state = LinkState.BACKOFF
            delay = self.backoff.delay(attempt)
            attempt += 1
            if failure is not None:
                self.failed_attempts += 1
                sink(ConnectFailed(failure, delay))
            try:
                await asyncio.wait_for(self._closing.wait(), delay)
            except TimeoutError:
                pass
        self.state = LinkState.CLOSED

    async def _connect(self) -> str | None:
        """Open the socket; None on success, else why not."""
        url = events_url(self.client.base_url, self.app)
        try:
            self._ws = await self.client.http.ws_connect(
                url,
                heartbeat=self.heartbeat_s,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                return "Asterisk refused the ARI credentials (401): check ari.username and the password"
            return f"websocket upgrade refused: HTTP {exc.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"cannot reach {url.with_query(None)}: {exc or type(exc).__name__}"
        return None

    async def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _read(self, sink: Callable[[StreamItem], None]) -> ConnectionLost:
        ws = self._ws
        assert ws is not None
        try:
            while True:
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    try:
                        event = parse_event(message.data)
                    except AriProtocolError as exc:
                        # One bad frame is not worth the connection: log it and go on.
                        log.warning("ARI sent a frame that is not an event: %s", exc)
                        continue
                    sink(event)
                    continue
                lost = connection_lost(message, ws.close_code)
                if lost is not None:
                    return lost
        finally:
            self._ws = None
            await ws.close()
