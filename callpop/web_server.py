"""The agents' web server as `serve` runs it: what one client may take of the process.

aiohttp alone holds a connection that sends nothing, or half a request, for as long
as the client likes, and accepts connections until the process runs out of file
descriptors; then FastAGI's accept fails too and callers get no IVR (seen: ~1,000
idle web connections under the usual 1,024 open files failed every call, logged
nowhere). Here:

- `raise_open_file_limit`: the soft RLIMIT_NOFILE up to the hard one, at start.
- `GuardedSite`: every connection is counted; past `connections_per_address` from one
  address (a trusted proxy is exempt: it carries every agent), or past the
  descriptors left once FastAGI's reserve is set aside (`web_budget`), a new one gets
  a 503 and is closed, so web clients can never take FastAGI's descriptors. A
  connection must deliver its first request head within `header_timeout_s`; later
  ones, and idle keep-alive, are bounded by aiohttp's `keepalive_timeout`
  (`idle_timeout_s`: it also closes a connection whose next head is not complete).
- `body_deadline`: a request body must arrive within `body_timeout_s` (408).

Refusals are logged once per change of state (an address reaching its limit and
going below it again; the whole server full and accepting again), not per connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from screenpop.auth import TrustedProxies

__all__ = [
    "ConnectionLimits",
    "GuardedSite",
    "body_deadline",
    "open_descriptors",
    "raise_open_file_limit",
    "web_budget",
]

log = logging.getLogger("callpop.web")

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nRetry-After: 5\r\n\r\ntoo many connections\n"
)
_END_OF_HEAD = b"\r\n\r\n"
# Never fewer web connections than this, whatever the arithmetic says: agents must
# be able to log in even on a host with a tiny open-file limit.
MIN_WEB_CONNECTIONS = 16


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; (before, after). A hard limit
    of "unlimited" is taken as the kernel's per-process ceiling (`nr_open`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open("/proc/sys/fs/nr_open", encoding="ascii") as nr_open:
                target = int(nr_open.read())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft


def open_descriptors() -> int:
    """How many file descriptors the process holds now."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64  # not Linux: a guess at what startup opened


def web_budget(limit: int, in_use: int, reserve: int, configured: int | None) -> int:
    """How many web connections may be open at once: what the open-file limit leaves
    after the descriptors in use and FastAGI's reserve, or the configured number if
    that is lower."""
    available = max(MIN_WEB_CONNECTIONS, limit - in_use - reserve)
    return min(available, configured) if configured is not None else available


@dataclass
class ConnectionLimits:
    """The counts every guarded connection of one server shares."""

    header_timeout_s: float
    per_address: int
    total: int
    exempt: TrustedProxies = field(default_factory=TrustedProxies)
    open: int = 0
    by_address: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    timed_out: int = 0
    _full_addresses: set[str] = field(default_factory=set)
    _server_full: bool = False

    def admit(self, address: str) -> bool:
        """Count a new connection from `address`, or say no (and log a change)."""
        if self.open >= self.total:
            self.refused += 1
            if not self._server_full:
                self._server_full = True
                log.warning(
                    "web: %d connections open, the most the open-file limit allows "
                    "beside FastAGI's reserve; refusing new ones",
                    self.open,
                )
            return False
        held = self.by_address.get(address, 0)
        if held >= self.per_address and not self.exempt.trusts(address):
            self.refused += 1
            if address not in self._full_addresses:
                self._full_addresses.add(address)
                log.warning("web: %s holds %d connections; refusing more from it", address, held)
            return False
        self.open += 1
        self.by_address[address] = held + 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        held = self.by_address.get(address, 1) - 1
        if held:
            self.by_address[address] = held
        else:
            self.by_address.pop(address, None)
        if self._server_full and self.open < self.total * 0.9:
            self._server_full = False
            log.info("web: %d connections open; accepting again", self.open)
        if address in self._full_addresses and held < self.per_address:
            self._full_addresses.discard(address)
            log.info("web: %s below its connection limit again", address)


class _Guarded(asyncio.Protocol):
    """Counts one connection and holds it to its head deadline; everything else is
    aiohttp's own request handler, which this hands the transport to."""

    def __init__(self, limits: ConnectionLimits, handler: asyncio.Protocol) -> None:
        self._limits = limits
        self._handler: asyncio.Protocol | None = handler
        self._transport: asyncio.Transport | None = None
        self._address: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        if not self._limits.admit(address):
            self._handler = None
            transport.write(_BUSY)
            transport.close()
            return
        self._address = address
        self._deadline = asyncio.get_running_loop().call_later(
            self._limits.header_timeout_s, self._head_late
        )
        assert self._handler is not None
        self._handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._handler is None:
            return
        if self._deadline is not None:
            seen = self._tail + data
            if _END_OF_HEAD in seen:
                self._deadline.cancel()
                self._deadline = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._address is not None:
            self._limits.release(self._address)
            self._address = None
        if self._handler is not None:
            self._handler.connection_lost(exc)

    def _head_late(self) -> None:
        self._deadline = None
        self._limits.timed_out += 1
        if self._transport is not None:
            self._transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are counted and held to `limits`."""

    __slots__ = ("_host", "_limits", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, limits: ConnectionLimits
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._limits = limits

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def limits(self) -> ConnectionLimits:
        return self._limits

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limits = self._limits
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guarded(limits, server()), self._host, self._port, reuse_address=True
        )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_deadline(seconds: float) -> Middleware:
    """Middleware: a request's body is read whole within `seconds` (408 otherwise),
    before its handler runs; the handler then reads it from memory (aiohttp keeps
    what `read` returned for `post`, `text` and `json`)."""

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                response = web.Response(
                    status=408, text="the request body did not arrive in time\n"
                )
                response.force_close()
                await response.prepare(request)
                await response.write_eof()
                # closed once answered (asyncio sends what is buffered first): aiohttp
                # would otherwise linger to read the rest of the body
                if request.transport is not None:
                    request.transport.close()
                return response
        return await handler(request)

    return deadline
