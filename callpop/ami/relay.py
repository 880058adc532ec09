"""Call controls across instances: an AMI action asked on an instance that does not hold
that Asterisk's AMI lease is relayed, over the Redis server of the pop bus, to the
instance that does; it sends the action on its connection and returns Asterisk's answer.

On the wire (Redis publish/subscribe, channels under the bus key):

    {key}:ami:{label}:actions     request {"id", "reply", "name", "fields", "deadline"}
    {key}:ami:reply:{instance}    answer  {"id", "ok": true, "headers": [[k, v], ...]}
                                       or {"id", "ok": false, "kind", "message", "headers"?}

Only the lease holder subscribes to the actions channel, and only while it holds the
lease: `PUBLISH` answers how many subscribers got the request, so 0 means no instance
holds the Asterisk connection now, and the agent is told at once. Every instance
subscribes to its own reply channel.

At most once: a request is never sent twice. The holder answers with what its AMI client
said: Asterisk's `Response: Error` (`kind` "failed", with the response), the connection
lost before the answer ("unknown": it may have run), no answer in time ("timeout"), no
connection ("not_connected"). An asker that gets no answer within its wait says the
outcome is unknown (the holder may have sent it); a request the holder reads after its
`deadline` (the asker gave up) is not sent. The asker gets the same exceptions as from its
own AMI client, so the agent reads the same words whichever instance sent the action.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from callpop.ami.client import (
    ActionFailed,
    ActionOutcomeUnknown,
    ActionTimeout,
    AMIClient,
    AMIError,
    NotConnected,
)
from callpop.ami.codec import Message

__all__ = ["ControlRelay", "NoHolder", "RelayDown", "RelayTimeout", "actions_channel"]

log = logging.getLogger(__name__)

WAIT_S = 15.0  # how long an asker waits for the holder's answer (AMI's own deadline is 10 s)
HOLDING_CHECK_S = 0.2  # how often the lease's holding is looked at (the lease moves in ~1 s)


class NoHolder(NotConnected):
    """No instance holds this Asterisk's AMI lease now."""


class RelayTimeout(ActionOutcomeUnknown):
    """The holder did not answer in time: the action may have been sent."""


class RelayDown(AMIError):
    """Redis, through which the other instances are reached, did not answer."""


def actions_channel(key: str, label: str) -> str:
    """The channel on which the holder of Asterisk `label`'s AMI lease takes the others'
    controls (subscribed to it only while it holds the lease)."""
    return f"{key}:ami:{label}:actions"


class ControlRelay:
    """One Asterisk's relay on one instance. `client()` is this instance's logged-in AMI
    client while it holds the lease, else None. `run()` until cancelled."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        label: str,
        instance: str,
        client: Callable[[], AMIClient | None],
        wait_s: float = WAIT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._actions = actions_channel(key, label)
        self._reply = f"{key}:ami:reply:{instance}"
        self._client = client
        self._wait_s = wait_s
        self._clock = clock
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening = asyncio.Event()
        self._down = False  # Redis failed and has not answered since
        # set while subscribed to the actions channel: this instance sends the others'
        self.sending = asyncio.Event()
        self.label = label

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ControlRelay:
        return cls(Redis.from_url(url), **options)

    async def listening(self) -> None:
        """Until this relay takes answers (subscribed)."""
        await self._listening.wait()

    async def aclose(self) -> None:
        await self._redis.aclose()

    # --- the asking side --------------------------------------------------------------------

    async def action(self, name: str, fields: Iterable[tuple[str, str]]) -> Message:
        """Send `name` through the lease holder; its response, or the exception its AMI
        client raised (`ActionFailed`, `ActionOutcomeUnknown`, ...), `NoHolder` when no
        instance holds the lease, `RelayDown` when Redis does not answer."""
        if not self._listening.is_set():
            raise RelayDown("the relay to the other instances is not running yet")
        request_id = secrets.token_hex(8)
        request = {
            "id": request_id,
            "reply": self._reply,
            "name": name,
            "fields": [list(pair) for pair in fields],
            "deadline": self._clock() + self._wait_s,
        }
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        try:
            try:
                got = await self._redis.publish(self._actions, json.dumps(request))
            except (RedisError, OSError) as exc:
                raise RelayDown(f"the other instances cannot be reached ({exc})") from None
            if not got:
                raise NoHolder("no callpop instance holds the Asterisk connection now")
            try:
                async with asyncio.timeout(self._wait_s):
                    reply = await answer
            except TimeoutError:
                raise RelayTimeout(
                    "the instance holding the Asterisk connection did not answer in time"
                ) from None
        finally:
            self._waiting.pop(request_id, None)
        return _decode(reply)

    # --- both sides: one subscription -------------------------------------------------------

    async def run(self) -> None:
        """Take answers for this instance, and requests while holding the lease."""
        while True:
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._listening.clear()
                if not self._down:  # logged once per outage, not at every retry
                    log.warning("control relay %s: Redis failed (%s); retrying", self.label, exc)
                self._down = True
                await asyncio.sleep(1.0)

    async def _serve(self) -> None:
        pubsub = self._redis.pubsub()
        holding = False
        try:
            await pubsub.subscribe(self._reply)
            self._listening.set()
            if self._down:
                log.info("control relay %s: Redis answers again", self.label)
                self._down = False
            while True:
                now_holding = self._client() is not None
                if now_holding != holding:
                    if now_holding:
                        await pubsub.subscribe(self._actions)
                        self.sending.set()
                    else:
                        await pubsub.unsubscribe(self._actions)
                        self.sending.clear()
                    holding = now_holding
                    log.info(
                        "control relay %s: %s",
                        self.label,
                        "this instance sends the others' controls"
                        if holding
                        else "controls go to the lease holder",
                    )
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=HOLDING_CHECK_S
                )
                if message is None or message.get("type") != "message":
                    continue
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                try:
                    body = json.loads(message["data"])
                except ValueError:
                    log.warning("control relay %s: a message that is not JSON", self.label)
                    continue
                if channel == self._reply:
                    waiting = self._waiting.get(str(body.get("id")))
                    if waiting is not None and not waiting.done():
                        waiting.set_result(body)
                elif channel == self._actions and holding:
                    task = asyncio.create_task(self._send(body), name="control-relay-send")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            self._listening.clear()
            self.sending.clear()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    # --- the holding side -------------------------------------------------------------------

    async def _send(self, request: dict[str, Any]) -> None:
        reply_to, request_id = str(request.get("reply") or ""), request.get("id")
        name = str(request.get("name") or "")
        deadline = request.get("deadline")
        if not reply_to or not name:
            return
        if isinstance(deadline, int | float) and self._clock() > deadline:
            log.warning(
                "control relay %s: %s came after its asker gave up; not sent", self.label, name
            )
            return
        fields = [(str(k), str(v)) for k, v in request.get("fields") or []]
        answer: dict[str, Any]
        client = self._client()
        try:
            if client is None:
                raise NoHolder("this instance no longer holds the Asterisk connection")
            response = (await client.action(name, fields))[0]
            answer = {"ok": True, "headers": [list(h) for h in response.headers]}
        except ActionFailed as exc:
            answer = {
                "ok": False,
                "kind": "failed",
                "headers": [list(h) for h in exc.response.headers],
            }
        except ActionOutcomeUnknown as exc:
            answer = {"ok": False, "kind": "unknown", "message": str(exc)}
        except ActionTimeout as exc:
            answer = {"ok": False, "kind": "timeout", "message": str(exc)}
        except NotConnected as exc:
            answer = {"ok": False, "kind": "not_connected", "message": str(exc)}
        except AMIError as exc:
            answer = {"ok": False, "kind": "error", "message": str(exc)}
        log.info("control relay %s: %s sent for another instance", self.label, name)
        try:
            await self._redis.publish(reply_to, json.dumps({"id": request_id, **answer}))
        except (RedisError, OSError) as exc:
            log.warning("control relay %s: the answer to %s was lost (%s)", self.label, name, exc)


def _decode(reply: dict[str, Any]) -> Message:
    """The holder's answer as its AMI client gave it: the response, or the exception."""
    if reply.get("ok"):
        return Message((str(k), str(v)) for k, v in reply.get("headers") or [])
    kind, message = reply.get("kind"), str(reply.get("message") or "")
    if kind == "failed":
        raise ActionFailed(Message((str(k), str(v)) for k, v in reply.get("headers") or []))
    if kind == "unknown":
        raise ActionOutcomeUnknown(message)
    if kind == "timeout":
        raise ActionTimeout(message)
    if kind == "not_connected":
        raise NotConnected(message)
    raise AMIError(message or "the relayed action failed")
