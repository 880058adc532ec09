"""The pop bus on a Redis stream: one sequence of call events for several callpop instances.

`RedisBus` implements `screenpop.bus.PopBus` (same envelope, same errors) on one Redis
stream that every instance appends to and reads from, so a call whose IVR runs on
instance A pops to an agent whose websocket is on instance B (docs/scale.md).

Seq <-> stream entry id. A seq is one integer; its entry id is `<seq // 1000>-<seq % 1000>`,
and a new event gets `seq = max(previous seq + 1, Redis TIME in microseconds)`, chosen by a
Lua script that appends atomically. So the id reads as Redis's `<milliseconds>-<n>`, seqs
only grow (across instances, and across a Redis restart that lost the stream: its clock
moved on), stay below 2**53 (a JavaScript number) until the year 2255, and are
*not* contiguous. Each entry therefore stores the seq before it (`p`): a reader whose
first entry after `since` does not point back at `since` missed events, which is the
`ReplayGap` of the in-process bus (trimmed past `MAXLEN ~`, or the stream was lost).

Publishing never waits and never raises into the caller (an IVR runner): `publish` puts the
event in a bounded local buffer and wakes one writer task that appends buffered events in
batches, oldest first. While Redis is down the events wait there and go out when it
returns; past the bound the oldest are dropped and counted (`on_dropped`). Each event has a
local number, and the script records the last number it appended for this bus (a key per
publisher, expiring a day later), so a batch re-sent after a lost reply is not appended twice.

Subscribing starts one reader task per subscription (XREAD BLOCK) that fills a bounded
queue: a subscriber that falls `queue_size` events behind is cut off with
`SubscriberOverflow`, as on the in-process bus. A reader that loses Redis retries every
`retry_s`, says so once through `on_state(False)` and once `on_state(True)` when it reads
again, and continues after the last entry it delivered: the stream replays what it missed.
State changes are logged once each, never per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ivr.ports import CallEvent
from screenpop.bus import (
    BusClosed,
    BusError,
    BusEvent,
    PopBus,
    ReplayGap,
    SubscriberOverflow,
)

__all__ = ["RedisBus", "RedisSubscription", "entry_id", "seq_of"]

log = logging.getLogger("screenpop.redis_bus")

StateObserver = Callable[[bool], None]

# KEYS[1] the stream, KEYS[2] this publisher's last appended local number.
# ARGV[1] MAXLEN (approximate), ARGV[2] the local number of the first payload, ARGV[3..] the
# events as JSON. Returns the stream's newest seq. Lua numbers are doubles: exact below 2**53.
_APPEND = """
local prev = 0
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 then
  local ms, n = string.match(top[1][1], '^(%d+)-(%d+)$')
  prev = tonumber(ms) * 1000 + tonumber(n)
end
local done = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = first - 1
for i = 3, #ARGV do
  last = first + i - 3
  if last > done then
    local seq = math.max(prev + 1, now)
    local ms = math.floor(seq / 1000)
    local id = string.format('%d-%d', ms, seq - ms * 1000)
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, 'p', string.format('%d', prev),
               'e', ARGV[i])
    prev = seq
  end
end
if last > done then
  redis.call('SET', KEYS[2], string.format('%d', last), 'EX', 86400)
end
return prev
"""


def entry_id(seq: int) -> str:
    """The stream entry id of `seq` (module docstring)."""
    return f"{seq // 1000}-{seq % 1000}"


def seq_of(entry: bytes | str) -> int:
    """The seq of a stream entry id `<ms>-<n>`."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    ms, _, n = text.partition("-")
    return int(ms) * 1000 + int(n)


# A stream entry as redis-py returns it (bytes, the client does not decode responses).
Entry = tuple[bytes, dict[bytes, bytes]]


def _decode(entry: bytes | str, fields: dict[bytes, bytes]) -> tuple[int, BusEvent]:
    """(prev seq, event) of one stream entry."""
    body = json.loads(fields[b"e"])
    event = BusEvent(seq_of(entry), body["type"], body["call_id"], body["at"], body["data"])
    return int(fields[b"p"]), event


def _encode(event: CallEvent) -> str:
    return json.dumps(
        {"type": event.type, "call_id": event.call_id, "at": event.at, "data": dict(event.data)},
        separators=(",", ":"),
    )


class RedisBus:
    """The pop bus on the Redis stream `key` (`key:pub:*` hold the publishers' marks).

    `maxlen` entries (about: `MAXLEN ~`) are retained; `buffer` events at most wait locally
    while Redis is unreachable; each subscriber may lag `queue_size` events. `on_dropped(n)`
    is told of events dropped from a full buffer (serve counts them in `/metrics`).
    """

    def __init__(
        self,
        client: Redis,
        *,
        key: str = "callpop:bus",
        maxlen: int = 100_000,
        buffer: int = 10_000,
        queue_size: int = 1_000,
        batch: int = 500,
        block_ms: int = 1_000,
        retry_s: float = 0.5,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        if min(maxlen, buffer, queue_size, batch, block_ms) < 1 or retry_s <= 0:
            raise ValueError(
                "maxlen, buffer, queue_size, batch, block_ms and retry_s must be positive"
            )
        self._client = client
        self._key = key
        self._pub_key = f"{key}:pub:{secrets.token_hex(8)}"
        self._maxlen = maxlen
        self._buffer = buffer
        self._queue_size = queue_size
        self._batch = batch
        self._block_ms = block_ms
        self._retry_s = retry_s
        self._on_dropped = on_dropped
        self._append = client.register_script(_APPEND)
        self._outbox: deque[tuple[int, CallEvent]] = deque()
        self._numbered = 0  # local number of the last event published
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while nothing waits to be appended
        self._drained.set()
        self._writer: asyncio.Task[None] | None = None
        self._writer_up = True
        self._reader_up = True
        self._dropped_while_down = 0
        self._seq = 0
        self._subscribers: dict[RedisSubscription, None] = {}
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisBus:
        """`options` go to `RedisBus`; the client times out rather than hang on a dead peer."""
        client = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=15)
        return cls(client, **options)

    @property
    def key(self) -> str:
        return self._key

    @property
    def last_seq(self) -> int:
        """The newest seq this bus appended or read (0 before either)."""
        return self._seq

    @property
    def buffered(self) -> int:
        """Events published and not yet appended to the stream."""
        return len(self._outbox)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _saw(self, seq: int) -> None:
        if seq > self._seq:
            self._seq = seq

    # --- publishing -------------------------------------------------------------------

    def publish(self, event: CallEvent) -> None:
        if self._closed:
            raise BusClosed("publish on a closed bus")
        self._numbered += 1
        self._outbox.append((self._numbered, event))
        self._drained.clear()
        if len(self._outbox) > self._buffer:
            self._outbox.popleft()
            if self._on_dropped is not None:
                self._on_dropped(1)
            if self._dropped_while_down == 0:
                log.error(
                    "pop bus: %d events wait for Redis; dropping the oldest from now on",
                    self._buffer,
                )
            self._dropped_while_down += 1
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="redis-bus-writer"
            )
        self._wake.set()

    async def _write(self) -> None:
        while True:
            if not self._outbox:
                self._drained.set()
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._outbox[i] for i in range(min(self._batch, len(self._outbox)))]
            try:
                head = await self._append(
                    keys=[self._key, self._pub_key],
                    args=[self._maxlen, batch[0][0], *(_encode(e) for _, e in batch)],
                )
            except (RedisError, OSError) as exc:
                self._writer_state(False, exc)
                await asyncio.sleep(self._retry_s)
                continue
            except (TypeError, ValueError):
                # An event that is not JSON (a bug upstream): drop it, keep the others.
                _, bad = self._outbox.popleft()
                log.exception(
                    "pop bus: %s for call %r cannot be encoded; dropped", bad.type, bad.call_id
                )
                continue
            appended = batch[-1][0]
            # The buffer may have dropped some of this batch meanwhile: pop by number.
            while self._outbox and self._outbox[0][0] <= appended:
                self._outbox.popleft()
            self._saw(int(head))
            self._writer_state(True, None)

    def _reader_state(self, up: bool, exc: BaseException | None) -> None:
        """Logged once per change for all of this bus's subscriptions."""
        if up == self._reader_up:
            return
        self._reader_up = up
        if up:
            log.warning("pop bus: reading Redis again; replaying what was missed")
        else:
            log.error(
                "pop bus: reading Redis failed (%s); retrying every %.1f s", exc, self._retry_s
            )

    def _writer_state(self, up: bool, exc: BaseException | None) -> None:
        if up == self._writer_up:
            return
        self._writer_up = up
        if not up:
            log.error(
                "pop bus: Redis unreachable (%s); events wait in a local buffer of %d",
                exc,
                self._buffer,
            )
        else:
            log.warning(
                "pop bus: Redis is back; buffered events published (%d dropped)",
                self._dropped_while_down,
            )
            self._dropped_while_down = 0

    # --- reading ----------------------------------------------------------------------

    def subscribe(
        self, since_seq: int | None = None, *, on_state: StateObserver | None = None
    ) -> RedisSubscription:
        if self._closed:
            raise BusClosed("subscribe on a closed bus")
        if since_seq is not None and since_seq < 0:
            raise ValueError(f"since_seq must be >= 0, got {since_seq}")
        sub = RedisSubscription(self, since_seq, self._queue_size, on_state)
        self._subscribers[sub] = None
        return sub

    async def settle(self, within_s: float = 1.0) -> None:
        """Wait (at most `within_s`, and not while Redis is unreachable) until what this bus
        published is in the stream: "live from now" and `replay` then include it, as on
        the in-process bus."""
        if self._drained.is_set() or not self._writer_up:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._drained.wait()

    async def head(self) -> int:
        """The newest seq in the stream (0 when it is empty or absent)."""
        top = cast(list[Entry], await self._client.xrevrange(self._key, count=1))
        return seq_of(top[0][0]) if top else 0

    async def _oldest_prev(self) -> int:
        """The seq the oldest retained entry points back at: where a reader can resume."""
        first = await self._range("-", "+", 1)
        return int(first[0][1][b"p"]) if first else 0

    async def _range(self, low: str, high: str, count: int) -> list[Entry]:
        return cast(
            list[Entry], await self._client.xrange(self._key, min=low, max=high, count=count)
        )

    async def _read_after(self, seq: int) -> list[Entry]:
        """XREAD BLOCK: up to `batch` entries after `seq`, or none once `block_ms` passed."""
        reply = cast(
            list[tuple[bytes, list[Entry]]] | None,
            await self._client.xread(
                {self._key: entry_id(seq)}, count=self._batch, block=self._block_ms
            ),
        )
        return [entry for _, entries in reply or () for entry in entries]

    async def replay(self, since_seq: int) -> Sequence[BusEvent]:
        if since_seq < 0:
            raise ValueError(f"since_seq must be >= 0, got {since_seq}")
        await self.settle()
        head = await self.head()
        self._saw(head)
        if since_seq > head:
            raise ReplayGap(
                f"seq {since_seq} is ahead of this bus (head {head}): the stream was lost",
                last_seq=since_seq,
                head_seq=head,
                resume_seq=await self._oldest_prev(),
            )
        out: list[BusEvent] = []
        after = since_seq
        while after < head:
            entries = await self._range(entry_id(after + 1), entry_id(head), 1_000)
            if not entries:
                break
            for entry, fields in entries:
                prev, event = _decode(entry, fields)
                if prev != after:
                    raise ReplayGap(
                        f"events after {after} up to {prev} are no longer retained",
                        last_seq=since_seq,
                        head_seq=head,
                        resume_seq=prev,
                    )
                out.append(event)
                after = event.seq
        return tuple(out)

    def close(self) -> None:
        """End every subscription and refuse new events; the writer still appends what is
        buffered (await `aclose` to wait for that)."""
        self._closed = True
        self._wake.set()
        subs = list(self._subscribers)
        self._subscribers.clear()
        for sub in subs:
            sub._end()

    async def aclose(self, deadline_s: float = 5.0) -> None:
        """`close`, then append what is buffered within `deadline_s`, then disconnect."""
        self.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                async with asyncio.timeout(deadline_s):
                    await asyncio.shield(writer)
            except TimeoutError:
                log.error("pop bus: %d events not appended to Redis by shutdown", len(self._outbox))
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        await self._client.aclose()

    def _unsubscribe(self, sub: RedisSubscription) -> None:
        self._subscribers.pop(sub, None)


class RedisSubscription:
    """One subscriber: a reader task (XREAD BLOCK) filling a bounded queue.

    Use it as `async with bus.subscribe(since) as events: async for event in events:`.
    Iteration raises `ReplayGap` when the stream no longer holds every event after the last
    one delivered, `SubscriberOverflow` once the subscriber fell `queue_size` behind, and
    ends when the bus or the subscription closes.
    """

    def __init__(
        self, bus: RedisBus, since_seq: int | None, maxsize: int, on_state: StateObserver | None
    ) -> None:
        self._bus: RedisBus | None = bus
        self._since = since_seq
        self._maxsize = maxsize
        self._on_state = on_state
        self._queue: deque[BusEvent] = deque()
        # Replaying after `since`, the queue is a backlog the consumer is owed (unbounded
        # on the in-process bus too): the reader waits for room instead of cutting off.
        self._catching_up = since_seq is not None
        self._backlog = 0  # queued events that came while catching up
        self._room = asyncio.Event()
        self._error: BusError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._last_seq = since_seq or 0
        self._connected: bool | None = None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def connected(self) -> bool:
        """False while the reader cannot reach Redis."""
        return self._connected is not False

    def _start(self) -> None:
        if self._reader is None and not self._closed and self._bus is not None:
            self._reader = asyncio.get_running_loop().create_task(
                self._read(self._bus), name="redis-bus-reader"
            )

    async def _read(self, bus: RedisBus) -> None:
        # `since` None (live, and Redis was down at `__aenter__`): from the head once known.
        after = -1 if self._since is None else self._since
        check = True  # the stream's head, after (re)connecting: was it lost meanwhile?
        while not self._closed:
            try:
                if check:
                    head = await bus.head()
                    bus._saw(head)
                    if after < 0:
                        after = head
                    elif after > head:
                        self._fail(
                            ReplayGap(
                                f"seq {after} is ahead of this bus (head {head}): the stream was lost",
                                last_seq=after,
                                head_seq=head,
                                resume_seq=await bus._oldest_prev(),
                            )
                        )
                        return
                    check = False
                    self._state(True)
                if self._catching_up and len(self._queue) >= self._maxsize:
                    self._room.clear()
                    await self._room.wait()
                    continue
                entries = await bus._read_after(after)
            except (RedisError, OSError) as exc:
                bus._reader_state(False, exc)
                self._state(False)
                check = True
                await asyncio.sleep(bus._retry_s)
                continue
            bus._reader_state(True, None)
            self._state(True)
            for entry, fields in entries:
                prev, event = _decode(entry, fields)
                if prev != after:
                    self._fail(
                        ReplayGap(
                            f"events after {after} up to {prev} are no longer retained",
                            last_seq=after,
                            head_seq=event.seq,
                            resume_seq=prev,
                        )
                    )
                    return
                bus._saw(event.seq)
                after = event.seq
                if self._catching_up:
                    self._backlog += 1
                elif len(self._queue) - self._backlog >= self._maxsize:
                    self._queue.clear()  # it will resync from state: free the memory now
                    self._fail(
                        SubscriberOverflow(
                            f"subscriber fell more than {self._maxsize} events behind after "
                            f"seq {self._last_seq}",
                            last_seq=self._last_seq,
                            head_seq=event.seq,
                        )
                    )
                    return
                self._queue.append(event)
            if self._catching_up and len(entries) < bus._batch:
                self._catching_up = False  # at the head: live from here
            self._wake()

    def _state(self, up: bool) -> None:
        # None until the first read: a new subscription says it is up once it reads.
        if up is self._connected:
            return
        self._connected = up
        if self._on_state is not None:
            self._on_state(up)

    def _fail(self, error: BusError) -> None:
        """The reader stops here: the subscriber must subscribe again (it resyncs)."""
        self._error = error
        bus = self._bus
        if bus is not None:
            bus._unsubscribe(self)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        self._closed = True
        self._bus = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
        self._wake()

    def close(self) -> None:
        bus = self._bus
        if bus is not None:
            bus._unsubscribe(self)
        self._queue.clear()
        self._end()

    def __aiter__(self) -> RedisSubscription:
        return self

    async def __anext__(self) -> BusEvent:
        self._start()
        while True:
            if isinstance(self._error, SubscriberOverflow):
                raise self._error
            if self._queue:
                event = self._queue.popleft()
                if self._backlog:
                    self._backlog -= 1
                self._room.set()
                self._last_seq = event.seq
                return event
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def __aenter__(self) -> RedisSubscription:
        bus = self._bus
        if self._since is None and bus is not None:
            # "Live" starts after what this process published before subscribing.
            await bus.settle()
            with contextlib.suppress(RedisError, OSError):  # the reader retries
                self._since = self._last_seq = await bus.head()
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if TYPE_CHECKING:  # mypy proves the Redis bus is a PopBus
    _conforms: PopBus = RedisBus(Redis())
