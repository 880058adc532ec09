"""FastAGI's listening sockets: every call queued in the kernel is taken at once.

uvloop's libuv accepts one connection per listening socket per loop iteration (libuv
pull request 3696, "unix: don't accept() connections in a loop"). A loop holding 20,000
calls turns some 150 times a second, fewer than the 300 new calls a second ten Asterisk
servers send: new calls waited in the kernel's accept queue for up to seconds before
their first command (`bench.hold`, the first command's p99; strace showed one
`accept4` per `epoll_pwait`). asyncio's own loop accepts up to `backlog` calls each time
its socket is readable; `Listener` does the same on any loop: it watches its sockets
(`add_reader`), accepts what is queued, and has the loop wrap each accepted socket in
its own transport (`connect_accepted_socket`, the API for sockets accepted elsewhere).

Out of descriptors (EMFILE and its kin), accepting stops for a second, said once per
episode: the calls wait in the kernel's queue meanwhile (FastAgiServer's `max_calls`
keeps a process short of that limit; this is for the rest of the process's files).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Final

__all__ = ["RETRY_AFTER_S", "Listener"]

log = logging.getLogger("agi_scripts.server")

# Out of descriptors or memory: how long accepting pauses (asyncio's own choice).
RETRY_AFTER_S: Final = 1.0
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Listener:
    """Listens on `host:port` (port 0: a free one) and hands every accepted connection
    to the loop with `protocol_factory`, as `loop.create_server` would."""

    def __init__(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        *,
        host: str,
        port: int,
        backlog: int,
    ) -> None:
        self.protocol_factory = protocol_factory
        self.host = host
        self.port = port
        self.backlog = backlog
        self.sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Accepted sockets the loop is still wrapping in transports (a few at a time).
        self._wrapping: set[asyncio.Task[object]] = set()
        self._short = False  # accepting paused for want of descriptors

    async def start(self) -> None:
        """Bind and listen. Raises OSError when the address is taken."""
        loop = self._loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        try:
            for family, kind, proto, _name, address in infos:
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(self.backlog)
                sock.setblocking(False)
        except BaseException:
            self.close()
            raise
        self.port = int(self.sockets[0].getsockname()[1])
        for sock in self.sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    @property
    def listening(self) -> bool:
        return bool(self.sockets)

    def _accept(self, server: socket.socket) -> None:
        assert self._loop is not None
        for _ in range(self.backlog):
            try:
                conn, _address = server.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._pause(server, exc)
                return
            if self._short:
                self._short = False
                log.info("FastAGI: accepting calls again")
            conn.setblocking(False)
            task = self._loop.create_task(
                self._loop.connect_accepted_socket(self.protocol_factory, conn),
                name="fastagi-accept",
            )
            self._wrapping.add(task)
            task.add_done_callback(self._wrapped)

    def _wrapped(self, task: asyncio.Task[object]) -> None:
        self._wrapping.discard(task)
        # A caller gone before its transport was made: nothing to serve, nothing to say.
        if not task.cancelled():
            task.exception()

    def _pause(self, server: socket.socket, exc: OSError) -> None:
        assert self._loop is not None
        if not self._short:
            self._short = True
            log.error(
                "FastAGI: cannot accept calls (%s): new calls wait in the kernel's queue; "
                "trying again every %g s",
                exc.strerror or exc,
                RETRY_AFTER_S,
            )
        self._loop.remove_reader(server.fileno())
        self._loop.call_later(RETRY_AFTER_S, self._resume, server)

    def _resume(self, server: socket.socket) -> None:
        if server.fileno() < 0 or self._loop is None:
            return  # closed meanwhile
        self._loop.add_reader(server.fileno(), self._accept, server)
        self._accept(server)

    def close(self) -> None:
        """Stop listening (calls already accepted are not touched)."""
        for sock in self.sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets = []

    async def wait_closed(self) -> None:
        """Until the connections accepted before `close` have their transports."""
        if self._wrapping:
            await asyncio.wait(set(self._wrapping))
