"""One logged-in AMI connection, kept alive: the asyncio shell around `codec`.

`run()` connects, reads the banner, logs in, then hands every event to `on_event`
(awaited in order: no fire-and-forget, so an event is handled before the next is read
and an error is logged, never lost in an orphan task) until `close()`. A lost connection
(EOF, reset, `Event: Shutdown`, a peer silent past the ping deadline) is reconnected with
exponential backoff and full jitter, so a restarted Asterisk is not hit by every client
in the same millisecond.

Actions never outlive their connection: when it drops, a pending action fails. An
idempotent one (`Ping`, `QueueStatus`, ...) is sent again on the next connection within
its own deadline; a non-idempotent one (`Originate`, `Redirect`, ...) fails with
`ActionOutcomeUnknown` and is never resent, since Asterisk may have run it already
(panoramisk resends them, and an Originate then rings twice).

Every await has a deadline: connect, banner, login, each action, each drain, and reads
(the pinger keeps an idle link talking, so silence past the deadline is a dead peer).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from callpop.ami.codec import (
    Banner,
    Decoder,
    MalformedMessage,
    Message,
    ProtocolError,
    Signal,
    encode_action,
)

__all__ = [
    "AMIClient",
    "AMIError",
    "ActionFailed",
    "ActionOutcomeUnknown",
    "ActionTimeout",
    "AuthenticationFailed",
    "ConnectionLost",
    "NotConnected",
    "backoff_delay",
]

log = logging.getLogger("callpop.ami")

EventHandler = Callable[[Message], Awaitable[None]]


class AMIError(Exception):
    """Base of the AMI client's errors."""


class NotConnected(AMIError):
    """No logged-in connection to send the action on."""


class ConnectionLost(AMIError):
    """The connection ended (EOF, reset, protocol error, dead peer)."""


class ActionOutcomeUnknown(ConnectionLost):
    """The connection ended before a non-idempotent action was answered: it may have run."""


class ActionTimeout(AMIError):
    """No response within the action's deadline."""


class AuthenticationFailed(AMIError):
    """Asterisk refused the username or secret."""


class ActionFailed(AMIError):
    """`Response: Error`; `response` holds the whole message."""

    def __init__(self, response: Message) -> None:
        super().__init__(response.get("Message") or "action failed")
        self.response = response


@dataclass
class _Pending:
    name: str
    future: asyncio.Future[list[Message]]
    idempotent: bool
    listing: bool  # a list action: collect events until `EventList: Complete`
    # told each message of the answer as it is read, in the stream's order
    observe: Callable[[Message], None] | None = None
    items: list[Message] = field(default_factory=list)

    def take(self, msg: Message) -> None:
        self.items.append(msg)
        if self.observe is not None:
            self.observe(msg)


class _Connection:
    """One TCP session: writes actions, routes responses to their pending action."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = Decoder()
        self.pending: dict[str, _Pending] = {}
        self.closed = asyncio.Event()
        # Asterisk closes right after refusing a login: the EOF can beat the refusal to
        # the login coroutine, so the refusal is also noted here for `_session`
        self.refused: Message | None = None

    def fail_pending(self) -> None:
        self.closed.set()
        for action_id, pending in self.pending.items():
            if not pending.future.done():
                error = (ConnectionLost if pending.idempotent else ActionOutcomeUnknown)(
                    f"connection lost before the answer to action {action_id}"
                )
                pending.future.set_exception(error)
                pending.future.exception()  # retrieved: a caller that gave up is no error
        self.pending.clear()


_EXPECTED = (OSError, TimeoutError, ProtocolError, AMIError)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def backoff_delay(failures: int, initial: float, ceiling: float, rng: random.Random) -> float:
    """Seconds before reconnect attempt `failures + 1`: full jitter under a ceiling that
    doubles per failure (`initial`, `2 * initial`, ... up to `ceiling`), never below
    `initial / 2`, so clients that lost Asterisk together do not return together."""
    top = min(ceiling, initial * (2 ** min(failures, 30)))
    return rng.uniform(initial / 2, max(top, initial / 2))


class AMIClient:
    """An AMI client for `host:port`; give `on_event` the events you want handled."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: EventHandler,
        events: str = "on",
        on_connected: Callable[[], Awaitable[None]] | None = None,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.host, self.port = host, port
        # a CR/LF in the credentials is a configuration error: say so now, not at login
        encode_action(
            "Login", "check", [("Username", username), ("Secret", secret), ("Events", events)]
        )
        self._username, self._secret, self._events = username, secret, events
        self._on_event = on_event
        self._on_connected = on_connected
        self._connect_timeout = connect_timeout
        self._action_timeout = action_timeout
        self._ping_interval = ping_interval
        self._backoff = (backoff_initial, backoff_max)
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._conn: _Connection | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self.connects = 0  # successful logins, for metrics and tests
        self.last_error: BaseException | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._ready.is_set()

    async def wait_connected(self) -> None:
        """Until logged in (put it under the caller's own `asyncio.timeout`)."""
        await self._ready.wait()

    # -- the session loop ------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until `close()`."""
        failures = 0
        while not self._closing.is_set():
            logins = self.connects
            try:
                await self._session()
            except _EXPECTED as exc:
                if self._closing.is_set():
                    break
                # once per change of state: the loss, not every retry while it is down
                repeated = (
                    self.connects == logins
                    and self.last_error is not None
                    and type(self.last_error) is type(exc)
                )
                self.last_error = exc
                level = logging.ERROR if isinstance(exc, AuthenticationFailed) else logging.WARNING
                log.log(
                    logging.DEBUG if repeated else level,
                    "AMI connection lost or refused",
                    extra={"fields": {"host": self.host, "port": self.port, "error": repr(exc)}},
                )
            if self._closing.is_set():
                break
            # a session that got logged in resets the backoff: reconnect soon
            failures = 0 if self.connects > logins else failures + 1
            delay = backoff_delay(failures, *self._backoff, self._rng)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)

    async def _session(self) -> None:
        async with asyncio.timeout(self._connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        conn = _Connection(reader, writer)
        try:
            async with asyncio.timeout(self._connect_timeout):
                banner = await self._read_until_banner(conn)
            log.info(
                "AMI connected",
                extra={"fields": {"host": self.host, "port": self.port, "version": banner.version}},
            )
            async with asyncio.TaskGroup() as tasks:
                reader_task = tasks.create_task(self._read_loop(conn))
                await self._login(conn)
                self._conn = conn
                self._ready.set()
                self.connects += 1
                self.last_error = None
                if self._on_connected is not None:
                    try:
                        await self._on_connected()
                    except Exception:
                        log.exception("AMI on_connected hook failed")
                pinger = tasks.create_task(self._ping_loop())
                closing = tasks.create_task(self._closing.wait())
                done, _ = await asyncio.wait(
                    {reader_task, closing}, return_when=asyncio.FIRST_COMPLETED
                )
                pinger.cancel()
                closing.cancel()
                if closing in done:
                    await self._logoff(conn)
                    reader_task.cancel()
        except BaseExceptionGroup as group:
            # TaskGroup wraps what its tasks raised; an expected failure of the link is
            # re-raised alone, anything else (a bug) stays loud as the group
            leaves = _leaves(group)
            if conn.refused is not None:
                raise self._refusal(conn.refused) from None
            if leaves and all(isinstance(e, _EXPECTED) for e in leaves):
                raise leaves[0] from None
            raise
        finally:
            self._ready.clear()
            self._conn = None
            conn.fail_pending()
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _read_until_banner(self, conn: _Connection) -> Banner:
        while True:
            item = conn.decoder.next_event()
            if isinstance(item, Banner):
                return item
            if item is Signal.CLOSED:
                raise ConnectionLost("connection closed before the AMI banner")
            data = await conn.reader.read(65536)
            conn.decoder.receive_data(data)

    async def _login(self, conn: _Connection) -> None:
        try:
            await self._send(
                conn,
                "Login",
                [("Username", self._username), ("Secret", self._secret), ("Events", self._events)],
                idempotent=True,
                listing=False,
                deadline_s=self._action_timeout,
            )
        except ActionFailed as exc:
            raise self._refusal(exc.response) from None

    def _refusal(self, response: Message) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"AMI login as {self._username!r} refused: "
            f"{response.get('Message') or 'no reason given'}"
        )

    async def _logoff(self, conn: _Connection) -> None:
        with contextlib.suppress(AMIError, OSError, TimeoutError):
            await self._send(conn, "Logoff", [], idempotent=True, listing=False, deadline_s=1.0)

    async def _read_loop(self, conn: _Connection) -> None:
        idle = self._ping_interval + self._action_timeout
        while True:
            try:
                async with asyncio.timeout(idle):
                    data = await conn.reader.read(65536)
            except TimeoutError:
                raise ConnectionLost(f"AMI peer silent for {idle:.0f} s") from None
            except OSError as exc:
                raise ConnectionLost(f"AMI connection broken: {exc!r}") from None
            conn.decoder.receive_data(data)
            while True:
                try:
                    item = conn.decoder.next_event()
                except MalformedMessage as exc:  # framing is intact: skip just that one
                    log.warning("AMI message skipped", extra={"fields": {"error": str(exc)}})
                    continue
                except ProtocolError as exc:
                    raise ConnectionLost(f"AMI protocol error: {exc}") from None
                if item is Signal.NEED_DATA:
                    break
                if item is Signal.CLOSED:
                    raise ConnectionLost("AMI connection closed by Asterisk")
                if isinstance(item, Message):
                    await self._dispatch(conn, item)

    async def _dispatch(self, conn: _Connection, msg: Message) -> None:
        action_id = msg.action_id
        pending = conn.pending.get(action_id) if action_id is not None else None
        if pending is not None:
            if msg.response is not None:
                if msg.response.lower() == "error":
                    conn.pending.pop(action_id or "")
                    if pending.name == "Login":
                        conn.refused = msg
                    pending.future.set_exception(ActionFailed(msg))
                    return
                pending.take(msg)
                if not pending.listing or (msg.get("EventList") or "").lower() != "start":
                    conn.pending.pop(action_id or "")
                    pending.future.set_result(pending.items)
                return
            if pending.listing:
                pending.take(msg)
                if (msg.get("EventList") or "").lower() == "complete":
                    conn.pending.pop(action_id or "")
                    pending.future.set_result(pending.items)
                return
        if msg.event is None:
            return  # a late answer to an action whose caller gave up
        if msg.event == "Shutdown":
            log.warning(
                "Asterisk is shutting down",
                extra={"fields": {"shutdown": msg.get("Shutdown"), "restart": msg.get("Restart")}},
            )
        try:
            await self._on_event(msg)
        except Exception:
            log.exception("AMI event handler failed", extra={"fields": {"event": msg.event}})

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            conn = self._conn
            if conn is None:
                return
            await self._send(
                conn, "Ping", [], idempotent=True, listing=False, deadline_s=self._action_timeout
            )

    # -- actions -----------------------------------------------------------------------

    async def action(
        self,
        name: str,
        fields: Iterable[tuple[str, str]] = (),
        *,
        idempotent: bool = False,
        listing: bool = False,
        deadline_s: float | None = None,
        observe: Callable[[Message], None] | None = None,
    ) -> list[Message]:
        """Send an action and return its response (with `listing`, the response then
        every list event up to the `...Complete` one). `observe` is told each message of
        the answer as it is read, in order with the events around it: by the time this
        returns, events read after the answer may already have been handled, so a
        snapshot applied from the returned list would be older than them. Raises `ActionFailed` on
        `Response: Error`, `ActionTimeout`, `NotConnected`, `ConnectionLost`, or for a
        non-idempotent action cut off by a lost connection `ActionOutcomeUnknown`."""
        fields = tuple(fields)
        deadline = deadline_s if deadline_s is not None else self._action_timeout
        try:
            async with asyncio.timeout(deadline):
                while True:
                    conn = self._conn
                    if conn is None or not self._ready.is_set():
                        if not idempotent:
                            raise NotConnected(f"AMI not connected; {name} not sent")
                        await self._ready.wait()
                        continue
                    try:
                        return await self._send(
                            conn,
                            name,
                            fields,
                            idempotent=idempotent,
                            listing=listing,
                            deadline_s=None,
                            observe=observe,
                        )
                    except ConnectionLost:
                        if not idempotent:
                            raise
                        # safe to send again: on the next connection, same deadline
                        await conn.closed.wait()
        except TimeoutError:
            raise ActionTimeout(f"no answer to {name} within {deadline} s") from None

    async def _send(
        self,
        conn: _Connection,
        name: str,
        fields: Iterable[tuple[str, str]],
        *,
        idempotent: bool,
        listing: bool,
        deadline_s: float | None,
        observe: Callable[[Message], None] | None = None,
    ) -> list[Message]:
        action_id = f"callpop-{next(self._ids)}"
        data = encode_action(name, action_id, fields)  # InvalidAction before anything is sent
        future: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        conn.pending[action_id] = _Pending(name, future, idempotent, listing, observe)
        try:
            async with asyncio.timeout(deadline_s):
                conn.writer.write(data)
                await conn.writer.drain()
                return await future
        except OSError as exc:
            raise (ConnectionLost if idempotent else ActionOutcomeUnknown)(
                f"AMI connection broken while sending {name}: {exc!r}"
            ) from None
        finally:
            conn.pending.pop(action_id, None)

    async def close(self) -> None:
        """Ask `run()` to log off and return (await the task running it to know it
        has); pending actions fail."""
        self._closing.set()
