"""The classic AGI script's session on its two pipes, with blocking reads and writes and
no event loop: the `Wire` its `AgiChannel` drives (channel.py).

A process per call serves one caller: while it waits for Asterisk's answer there is
nothing else to run, so it waits in `select` on its stdin pipe, bounded by the wait's
deadline, and the runner's coroutine runs to its end without a loop
(`ivr.sequential.run_to_end`). That spares each call the import of asyncio (with ssl,
socket and concurrent.futures: ~25 ms of CPU and ~4 MB, measured by bench.classic).

Deadlines: the channel arms one around each wait (`call_later`); when it passes during a
read, its callback (`AgiChannel.expire`) marks the session timed out and `abort()`s, and
the read raises `ConnectionAbortedError`, as an aborted transport ends a wait on the loop.
A SIGHUP (the caller hung up) interrupts `select`; Python runs the script's handler and
`select` goes on waiting (PEP 475): Asterisk still answers the command in flight.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

from agi_scripts.codec import NEED_DATA, AgiConnection, Event
from ivr.ports import Concurrency

__all__ = ["PipeWire"]

_CHUNK = 65536


class _Deadline:
    __slots__ = ("at", "callback", "wire")

    def __init__(self, wire: PipeWire, at: float, callback: Callable[[], object]) -> None:
        self.wire = wire
        self.at = at
        self.callback = callback

    def cancel(self) -> None:
        if self.wire._deadline is self:
            self.wire._deadline = None


class PipeWire:
    """Asterisk's answers on `fd_in`, our commands on `fd_out` (both pipes; the script
    moved them off stdin and stdout). Owns both descriptors. `concurrency` is how the
    runner waits: `ivr.sequential.SEQUENTIAL` without an event loop, or the loop's when
    the script's services need one."""

    __slots__ = ("_deadline", "_in", "_out", "concurrency", "conn")

    def __init__(
        self, conn: AgiConnection, fd_in: int, fd_out: int, concurrency: Concurrency
    ) -> None:
        self.conn = conn
        self.concurrency = concurrency
        self._in: int | None = fd_in
        self._out: int | None = fd_out
        self._deadline: _Deadline | None = None

    def time(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Deadline:
        """The deadline of the one wait in progress (a call waits for one thing at a time)."""
        self._deadline = _Deadline(self, self.time() + delay, callback)
        return self._deadline

    def send(self, data: bytes) -> bool:
        """Write all of `data` (a command is a few dozen bytes; a pipe takes 64 KiB)."""
        if self._out is None:
            raise ConnectionAbortedError("the AGI session was cut off")
        view = memoryview(data)
        while view:
            view = view[os.write(self._out, view) :]
        return False  # nothing is left to drain

    async def drain(self) -> None:
        return None

    async def wait_event(self) -> Event:
        """The codec's next event, reading the pipe as long as it needs bytes; EOF is
        the codec's event. Raises `RemoteProtocolError` for bytes no Asterisk sends."""
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is not NEED_DATA:
                return event
            if conn.eof_received:
                raise ConnectionResetError("the AGI pipe is closed")
            conn.receive_data(self._read())

    def write_eof(self) -> None:
        """Close our stdout: the AGI is over. Asterisk reads its end and waits for this
        process to exit (res_agi's `run_agi`: `waitpid`), sending no SIGHUP and closing
        our stdin only then: the caller waits in between, so the script must exit now."""
        out, self._out = self._out, None
        if out is not None:
            os.close(out)

    async def wait_eof(self) -> None:
        """Nothing to wait for: Asterisk closes our stdin once this process has exited,
        not before (a wait for it held every caller for the close deadline, 2 s, before
        the dialplan went on: seen on Asterisk 22.10.1). It sends nothing meanwhile."""

    def abort(self) -> None:
        """Cut the session now (a deadline passed): no more reads or writes."""
        self._close_fds()

    async def close(self) -> None:
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self._in, self._out):
            if fd is not None:
                os.close(fd)
        self._in = self._out = None

    def _read(self) -> bytes:
        """The next bytes on the pipe (b"" at EOF), waiting no later than the deadline."""
        while True:
            if self._in is None:
                raise ConnectionAbortedError("the AGI session was cut off")
            deadline = self._deadline
            if deadline is None:
                return os.read(self._in, _CHUNK)
            left = deadline.at - self.time()
            if left > 0 and select.select([self._in], [], [], left)[0]:
                return os.read(self._in, _CHUNK)
            if self._deadline is deadline and deadline.at <= self.time():
                self._deadline = None
                deadline.callback()  # the channel's expire(): marks the timeout, aborts
