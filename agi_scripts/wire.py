"""One AGI session's bytes over asyncio transports: an `asyncio.Protocol` that feeds the
sans-I/O codec directly.

Streams (`StreamReader`/`StreamWriter`) cost a buffer copy, a waiter and a `drain()` per
read, for lines the codec frames anyway; profiled under FastAGI load they were 7-12% of
the server's CPU. Here `data_received` hands the bytes to `AgiConnection.receive_data`,
and the one task waiting for an event is woken only once the codec has a whole event.

It is the protocol of the accepted TCP connection (`FastAgiServer` makes one per call,
and owns the call's task from `connection_made`). The classic AGI script, which has no
event loop, has its own wire on its pipes (pipes.py).

Deadlines are not kept here: the channel arms them around `wait_event()` (a shared
`Watchdog`, or one timer per wait) and, when one passes, `abort()`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from agi_scripts.codec import NEED_DATA, AgiConnection, Event
from ivr.loop_concurrency import LOOP, LoopConcurrency

__all__ = ["AgiWire"]

# Asterisk writes nothing unasked but a `HANGUP` line; bytes beyond this with nobody
# waiting mean a peer flooding us: stop reading until the channel asks for an event
# (the codec's own line cap then ends the session).
_MAX_UNREAD: Final = 64 * 1024


class AgiWire(asyncio.Protocol):
    """The transport side of one AGI session: codec events in, command bytes out."""

    __slots__ = (
        "_closed",
        "_discard",
        "_drain",
        "_eof",
        "_exc",
        "_lost",
        "_on_made",
        "_paused",
        "_reading_paused",
        "_waiter",
        "conn",
        "transport",
    )

    def __init__(self, conn: AgiConnection, on_made: Any = None) -> None:
        self.conn = conn
        self.transport: Any = None
        # Called with this wire once connected: the server starts the call's task there.
        self._on_made = on_made
        self._waiter: asyncio.Future[Event] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._eof: asyncio.Future[None] | None = None
        self._paused = False
        self._reading_paused = False
        self._lost = False
        self._exc: BaseException | None = None
        self._discard = False  # after the session: bytes are read and dropped

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._on_made is not None:
            on_made, self._on_made = self._on_made, None
            on_made(self)

    def data_received(self, data: bytes) -> None:
        if self._discard:
            return
        waiter = self._waiter
        conn = self.conn
        conn.receive_data(data)
        if waiter is None or waiter.done():
            if conn.buffered > _MAX_UNREAD and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
            return
        self._deliver(waiter)

    def eof_received(self) -> bool:
        self._got_eof()
        # Keep our side open: after Asterisk's EOF we may still close in order.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if exc is not None and self._exc is None:
            self._exc = exc
        self._got_eof()
        self._wake_drain()
        closed = self._closed
        if closed is not None and not closed.done():
            closed.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    # --- what the channel uses ------------------------------------------------------------

    @property
    def concurrency(self) -> LoopConcurrency:
        return LOOP

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)

    @property
    def peername(self) -> str:
        info = None if self.transport is None else self.transport.get_extra_info("peername")
        if isinstance(info, tuple) and len(info) >= 2:
            return f"{info[0]}:{info[1]}"
        return "peer"

    def send(self, data: bytes) -> bool:
        """Write `data`; True when the peer stopped reading (wait for `drain()`)."""
        self.transport.write(data)
        return self._paused

    async def drain(self) -> None:
        """Until the transport's buffer is below its low mark again (the caller bounds
        the wait); raises the connection's error if it was lost."""
        while self._paused and not self._lost:
            self._drain = asyncio.get_running_loop().create_future()
            try:
                await self._drain
            finally:
                self._drain = None
        if self._lost:
            raise (
                self._exc
                if isinstance(self._exc, OSError)
                else ConnectionResetError("connection lost")
            )

    def wait_event(self) -> asyncio.Future[Event]:
        """A future of the codec's next event, set once it has one (the caller found it
        had none yet). It raises `RemoteProtocolError` for bytes no Asterisk sends, and
        the transport's error if the connection broke. A plain future, not a coroutine:
        one wake-up per event and nothing else."""
        if self._exc is not None:
            raise self._exc
        waiter: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        return waiter

    def write_eof(self) -> None:
        """Half-close: Asterisk then writes its last `HANGUP` and closes (half-close.txt)."""
        transport = self.transport
        try:
            if transport is not None and transport.can_write_eof() and not transport.is_closing():
                transport.write_eof()
        except (ConnectionError, OSError):
            pass

    async def wait_eof(self) -> None:
        """Until Asterisk closes its side; what it still sends is dropped."""
        self._discard = True
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        if self._lost or self.conn.eof_received:
            return
        self._eof = asyncio.get_running_loop().create_future()
        try:
            await self._eof
        finally:
            self._eof = None

    def abort(self) -> None:
        """Cut the connection now (a deadline passed): the pending wait then ends."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def abort_if_open(self) -> None:
        if self.transport is not None and not self._lost:
            self.abort()

    async def close(self) -> None:
        """Close, dropping unsent bytes only for a peer that stopped reading, and wait
        until the transport is closed."""
        transport = self.transport
        if transport is None:
            return
        if not transport.is_closing():
            transport.close()
        if transport.get_write_buffer_size():
            transport.abort()
        if not self._lost:
            self._closed = asyncio.get_running_loop().create_future()
            await self._closed

    # --- internals ------------------------------------------------------------------------

    def _deliver(self, waiter: asyncio.Future[Event]) -> None:
        try:
            event = self.conn.next_event()
        except Exception as exc:  # RemoteProtocolError: raised in the waiting task
            self._waiter = None
            waiter.set_exception(exc)
            return
        if event is not NEED_DATA:
            self._waiter = None
            waiter.set_result(event)

    def _got_eof(self) -> None:
        conn = self.conn
        if not conn.eof_received:
            conn.receive_data(b"")
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._exc is not None:
                self._waiter = None
                waiter.set_exception(self._exc)
            else:
                self._deliver(waiter)
        eof = self._eof
        if eof is not None and not eof.done():
            eof.set_result(None)

    def _wake_drain(self) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)
