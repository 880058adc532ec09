"""The asyncio FastAGI server: one connection per call, routed by its request path.

    server = FastAgiServer([ivr_route(flows, services), connected_route(services)],
                           host="127.0.0.1", port=4573)
    async with server:                      # listening
        ...
        await server.shutdown(grace_s=30)   # stop accepting, let live calls finish

panoramisk's shape with its edges fixed (style.md §5): routes match the path of
`agi_network_script` with its query string parsed apart (`ivr?flow=main` is route
`ivr` with `flow=main`; panoramisk looks the whole string up and finds nothing);
every read has a deadline and handles EOF; each call is a tracked task whose failure
is logged once; cancellation is re-raised; sockets are closed and waited for. The
server reads no configuration: `callpop/` builds the routes and passes plain values.

Logs: one logger (`agi_scripts.server`); every line about a call starts with its
uniqueid and carries it in `extra` (`uniqueid`, `peer`) for structured handlers.
Malformed input from a peer ends that connection with one warning line; the server
goes on serving the others.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final
from urllib.parse import unquote

from agi_scripts.channel import DEFAULT_TIMEOUTS, AgiChannel, Timeouts
from agi_scripts.codec import AgiConnection
from agi_scripts.interning import InternTable
from agi_scripts.listener import Listener
from agi_scripts.request import AgiRequest, CallLog, Route
from agi_scripts.watchdog import Watchdog
from agi_scripts.wire import AgiWire
from ivr.ports import ChannelGone

__all__ = ["FastAgiServer", "split_script"]

log = logging.getLogger(__name__)

# A call that has spent this long in the IVR is sent on to the operator: the engine's
# max_steps already bounds every call, this only guards against a stuck peer or bug.
DEFAULT_CALL_DEADLINE_S: Final = 3600.0
# After the grace period, cancelled calls get this long to hand back and save journeys.
CANCEL_WAIT_S: Final = 10.0
# Causes of a lost channel that are the caller's doing, not a fault worth a warning.
_ROUTINE: Final = frozenset({"caller", "asterisk-closed", "cancelled"})


def split_script(network_script: str) -> tuple[str, dict[str, str]]:
    """`ivr?flow=main&lang=en` -> ("ivr", {"flow": "main", "lang": "en"}).

    The first value of a repeated name wins; names and values are percent-decoded,
    never `+`-decoded."""
    path, _, query = network_script.partition("?")
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name, errors="replace"), unquote(value, errors="replace"))
    return path.strip("/"), params


class FastAgiServer:
    """Serves FastAGI on `host:port` (port 0: any free port, see `port`)."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        call_deadline_s: float | None = DEFAULT_CALL_DEADLINE_S,
        backlog: int = 1024,
        max_calls: int | None = None,
    ) -> None:
        table: dict[str, Route] = {}
        for route in routes:
            if route.path in table:
                raise ValueError(f"two routes for agi path {route.path!r}")
            table[route.path] = route
        self.routes: Mapping[str, Route] = MappingProxyType(table)
        self.host = host
        self._port = port
        self.timeouts = timeouts
        self.call_deadline_s = call_deadline_s
        # Asterisk opens one connection per call: a burst of calls must not overflow
        # the listen queue (asyncio's default is 100).
        self.backlog = backlog
        # The calls this process can hold (its open-file limit: `serve` works it out).
        # Past it a call is closed at once, which the dialplan routes to the operator:
        # a server that ran out of descriptors would have the event loop accept and
        # close it all the same (libuv's EMFILE fallback), unlogged, and its own database
        # and sockets would fail too.
        self.max_calls = max_calls
        self._full = False
        self.refused = 0  # calls closed at once because max_calls were live
        self._refused_before_full = 0
        self._listener: Listener | None = None
        self._watchdog = Watchdog()
        # The environment names and site-wide values every call repeats, one copy each
        # for this server's calls (bounded: they come from the peer).
        self.intern_table = InternTable()
        # Each live call's task, with its connection (closed if the task never ran).
        self._calls: dict[asyncio.Task[None], AgiWire] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.served = 0  # connections handled to their end

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen. Raises OSError when the address is taken (the caller names it)."""
        on_made, table = self._on_connection, self.intern_table
        listener = Listener(
            lambda: AgiWire(AgiConnection(table=table), on_made),
            host=self.host,
            port=self._port,
            backlog=self.backlog,
        )
        await listener.start()
        self._listener = listener
        self._port = listener.port
        self._watchdog.start()

    @property
    def port(self) -> int:
        """The port bound by `start()` (the one asked for, or a free one for port 0)."""
        return self._port

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets (one per address `host` names), on `port`."""
        return [] if self._listener is None else list(self._listener.sockets)

    @property
    def accepting(self) -> bool:
        return self._listener is not None and self._listener.listening

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    @property
    def watched_calls(self) -> int:
        """Calls whose waits the shared watchdog watches (each until its channel closes)."""
        return self._watchdog.watching

    async def wait_idle(self) -> None:
        """Until no call is live (tests, and `serve` before it stops)."""
        await self._idle.wait()

    def stop_accepting(self) -> None:
        """Close the listening socket: Asterisk's next calls fail over (its dialplan goes
        on with CALLPOP_OUTCOME empty: the operator), live calls are not touched."""
        if self._listener is not None:
            self._listener.close()

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, give live calls `grace_s` to finish, then cancel the rest:
        each is handed back to the dialplan (`CALLPOP_OUTCOME=error`, the operator queue)
        by the runner, or by Asterisk itself when the connection closes (an empty
        outcome routes to the operator too)."""
        self.stop_accepting()
        if self._listener is not None:
            await self._listener.wait_closed()
        live = set(self._calls)
        if live:
            log.info("FastAGI stopping: %d live call(s), up to %gs to finish", len(live), grace_s)
            _, pending = await asyncio.wait(live, timeout=grace_s)
            if pending:
                # One line for all of them: a cancelled call is handed back to the
                # dialplan by the runner, nothing per connection is worth a line.
                log.warning(
                    "FastAGI stopping: cancelling %d call(s) after the grace period", len(pending)
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=CANCEL_WAIT_S)
        await self._watchdog.stop()

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown(grace_s=0)

    # --- one connection -------------------------------------------------------------------

    def _on_connection(self, wire: AgiWire) -> None:
        """A call connected: its task is ours from here to its end (no stream callback
        whose cancellation asyncio would report per connection)."""
        if self.max_calls is not None and len(self._calls) >= self.max_calls:
            self._refuse(wire)
            return
        # The task and its done callback share one context, and every call's task one
        # name: asyncio would make a context copy for each and a `Task-N` string per
        # call, ~300 bytes a held call between them.
        context = contextvars.copy_context()
        task = asyncio.get_running_loop().create_task(
            self._serve(wire), name="fastagi-call", context=context
        )
        self._calls[task] = wire
        self._idle.clear()
        task.add_done_callback(self._call_done, context=context)

    def _refuse(self, wire: AgiWire) -> None:
        self.refused += 1
        wire.abort()
        if not self._full:
            self._full = True
            self._refused_before_full = self.refused - 1
            log.warning(
                "FastAGI: %d calls held, the most this process's open files allow; "
                "new calls are closed at once (the dialplan sends them to the operator) "
                "until calls end: raise the hard open-file limit (docs/asterisk.md)",
                len(self._calls),
            )

    def _ended(self, task: asyncio.Task[None]) -> AgiWire | None:
        wire = self._calls.pop(task, None)
        if wire is not None:
            self.served += 1
            if not self._calls:
                self._idle.set()
            if self._full and self.max_calls is not None and len(self._calls) < self.max_calls:
                self._full = False
                log.info(
                    "FastAGI: taking calls again (%d held, %d closed while full)",
                    len(self._calls),
                    self.refused - self._refused_before_full,
                )
        return wire

    def _call_done(self, task: asyncio.Task[None]) -> None:
        # Still listed only if _serve did not reach its end: cancelled before it began
        # (shutdown), or a bug of the server's own. Never leave the socket open.
        wire = self._ended(task)
        if wire is not None:
            wire.abort_if_open()
        if not task.cancelled() and (exc := task.exception()) is not None:
            # _serve logs what a route raises; this is a bug of the server's own.
            log.error("FastAGI call failed", exc_info=exc)

    async def _serve(self, wire: AgiWire) -> None:
        channel = AgiChannel(
            wire,
            timeouts=self.timeouts,
            deadline=None
            if self.call_deadline_s is None
            else time.monotonic() + self.call_deadline_s,
            watchdog=self._watchdog,
        )
        call_log: CallLog | None = None
        try:
            try:
                env = await channel.receive_environment()
            except ChannelGone:
                log.warning(
                    "[%s] closing: no valid AGI environment (%s)",
                    wire.peername,
                    channel.broken_detail,
                    extra={"uniqueid": None, "peer": wire.peername},
                )
                return
            uniqueid = env.uniqueid or wire.peername
            channel.uniqueid = uniqueid
            call_log = CallLog(log, uniqueid, wire)
            path, params = split_script(env.network_script)
            query = MappingProxyType(params)
            route = self.routes.get(path)
            if route is None:
                # The dialplan goes on with CALLPOP_OUTCOME empty: to the operator queue.
                call_log.warning(
                    "closing: no route for agi path %r (routes: %s)",
                    path,
                    ", ".join(sorted(self.routes)),
                )
                return
            request = AgiRequest(env, path, query, channel, call_log)
            try:
                await route.handler(request)
            except ChannelGone:
                pass  # reported below from the channel's state
            if channel.gone is not None and channel.gone not in _ROUTINE:
                call_log.warning("closing: %s (%s)", channel.gone, channel.broken_detail)
        except asyncio.CancelledError:
            raise
        except Exception:
            script = channel.environment.network_script if channel.environment else ""
            if call_log is None:
                call_log = CallLog(log, None, wire)
            call_log.exception("closing: the route for %r failed", script)
        finally:
            await channel.close()
            # Counted here, not in the done callback a loop turn later: when the peer
            # sees the connection closed, `served` already says so.
            task = asyncio.current_task()
            assert task is not None
            self._ended(task)
