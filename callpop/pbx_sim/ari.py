"""An ARI simulator: Asterisk's REST interface and events websocket as an aiohttp app,
playing the recorded exchanges of tests/fixtures/asterisk/ari/ (status codes, reason
phrases, both error-body shapes, event shapes), with scripted callers
(`callpop.pbx_sim.script`) in `Stasis(callpop,...)`. The state lives in
`callpop.pbx_sim.ari_state`; this module is HTTP and websockets.

Faults a test can inject, as Asterisk shows them:
- `drop_websockets()`: the app's socket dies with no close frame (aiohttp: 1006), as on
  `core stop now` (05, 07) or a reset (09);
- `refuse_websockets = True`: upgrades are refused (HTTP 503) while REST keeps working,
  so a client's reconnects and backoff can be watched;
- `stop_now()`: every channel hung up (cause 4), then the sockets dropped (05);
  `stop_gracefully()`: close frames 1000 with an empty reason (06).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from callpop.pbx_sim.ari_model import SimCall, SimError, ari_time
from callpop.pbx_sim.ari_state import AriState
from callpop.pbx_sim.script import CallerScript

__all__ = ["AriSimulator"]

_REALM = 'Basic realm="Asterisk REST Interface"'


def _json(body: Any, status: int = 200, reason: str | None = None) -> web.Response:
    # pretty = no in the recorded ari.conf: compact JSON.
    return web.json_response(
        body, status=status, reason=reason, dumps=lambda o: json.dumps(o, separators=(",", ":"))
    )


def _error(exc: SimError) -> web.Response:
    return _json(exc.body, exc.status, exc.reason)


def _no_content() -> web.Response:
    return web.Response(status=204)


@dataclass(eq=False)
class _Socket:
    """One app's events websocket and the writer that keeps its frames in order."""

    app: str
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    async def write(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                return
            finally:
                self.queue.task_done()

    def abort(self) -> None:
        """Kill the TCP connection: the client gets no close frame (1006)."""
        if self.transport is not None:
            self.transport.abort()


class AriSimulator:
    """`create_app()` gives the aiohttp app; `serve()` runs it on 127.0.0.1, port 0."""

    def __init__(
        self,
        *,
        username: str = "callpop",
        password: str = "callpop",
        time_scale: float = 1.0,
        sounds_ms: dict[str, int] | None = None,
        missing_sounds: frozenset[str] = frozenset(),
    ) -> None:
        self.username = username
        self.password = password
        self.time_scale = time_scale
        self.sounds_ms = sounds_ms
        self.missing_sounds = missing_sounds
        self.refuse_websockets = False
        # Every request as (method, path, query pairs), for tests that check them
        # against the Swagger description.
        self.requests: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        # Requests for which this says True get no answer until `release()`: an
        # Asterisk too busy to answer, as a client's timeouts must expect.
        self.stall: Callable[[str, str], bool] | None = None
        self._released = asyncio.Event()
        self.upgrades = 0
        self.refused_upgrades = 0
        self._state: AriState | None = None
        self._sockets: dict[str, _Socket] = {}
        self._tick = asyncio.Event()

    @property
    def state(self) -> AriState:
        if self._state is None:
            raise RuntimeError("the simulator is not running: start its app first")
        return self._state

    # --- running it ---------------------------------------------------------------------

    def create_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        r = app.router
        r.add_get("/ari/events", self._events)
        r.add_get("/ari/asterisk/info", self._info)
        r.add_get("/ari/asterisk/ping", self._ping)
        r.add_get("/ari/applications", self._applications)
        r.add_get("/ari/applications/{name}", self._application)
        r.add_get("/ari/channels", self._channels)
        r.add_get("/ari/channels/{id}", self._channel)
        r.add_delete("/ari/channels/{id}", self._hangup)
        r.add_post("/ari/channels/{id}/answer", self._answer)
        r.add_post("/ari/channels/{id}/play", self._play)
        r.add_post("/ari/channels/{id}/continue", self._continue)
        r.add_get("/ari/channels/{id}/variable", self._get_variable)
        r.add_post("/ari/channels/{id}/variable", self._set_variable)
        r.add_post("/ari/channels/{id}/dtmf", self._dtmf)
        r.add_get("/ari/playbacks/{id}", self._get_playback)
        r.add_delete("/ari/playbacks/{id}", self._stop_playback)
        r.add_route("*", "/ari/{tail:.*}", self._not_found)
        return app

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Run on 127.0.0.1 on a free port; yields the ARI base URL (`http://.../ari`)."""
        runner = web.AppRunner(self.create_app(), shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            server = site._server  # aiohttp exposes the bound port only through it
            assert isinstance(server, asyncio.Server)
            port = server.sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}/ari"
        finally:
            await runner.cleanup()

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path, tuple(request.query.items())))
        if self.stall is not None and self.stall(request.method, request.path):
            self._changed()
            await self._released.wait()
        return await handler(request)

    def release(self) -> None:
        """Answer the stalled requests and stall no more."""
        self.stall = None
        self._released.set()

    async def _startup(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        self._state = AriState(
            scheduler=loop,
            emit=self._emit,
            time_scale=self.time_scale,
            sounds_ms=self.sounds_ms,
            missing_sounds=self.missing_sounds,
            on_change=self._changed,
        )

    async def _shutdown(self, app: web.Application) -> None:
        await self.stop_now()

    # --- the test's controls --------------------------------------------------------------

    def call(
        self, script: CallerScript, *, app: str = "callpop", args: tuple[str, ...] = ()
    ) -> SimCall:
        """A scripted caller dials in and reaches `Stasis(app,args...)`."""
        return self.state.originate(script, app, args)

    def _changed(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until `predicate()` holds, checked after every change of the simulated
        Asterisk (an event sent or missed, a socket come or gone): no polling, no sleeps.
        `timeout_s` only bounds a test that would otherwise hang."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await self._tick.wait()

    async def wait_for_app(self, app: str = "callpop") -> None:
        """Until `app` has its events websocket."""
        await self.until(lambda: app in self.state.connected_apps)

    async def drop_websockets(self) -> int:
        """Kill every events websocket with no close frame; returns how many."""
        sockets = list(self._sockets.values())
        for socket in sockets:
            self._unregister(socket)
            socket.abort()
        return len(sockets)

    async def stop_now(self) -> None:
        if self._state is not None:
            self._state.stop_now()
        await self._flush()
        await self.drop_websockets()

    async def stop_gracefully(self) -> None:
        await self._flush()
        for socket in list(self._sockets.values()):
            self._unregister(socket)
            await socket.ws.close(code=1000, message=b"")

    async def _flush(self) -> None:
        for socket in list(self._sockets.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(socket.queue.join(), 1.0)

    # --- websockets -----------------------------------------------------------------------

    def _emit(self, app: str, body: dict[str, Any]) -> None:
        socket = self._sockets.get(app)
        if socket is not None:
            socket.queue.put_nowait(json.dumps(body, separators=(",", ":"), ensure_ascii=False))

    def _unregister(self, socket: _Socket) -> None:
        if self._sockets.get(socket.app) is socket:
            del self._sockets[socket.app]
            self.state.connected_apps.discard(socket.app)
            self._changed()
        if socket.writer is not None:
            socket.writer.cancel()

    async def _events(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        app = request.query.get("app", "")
        if not app:
            return _json({"message": "Missing required param app"}, 400, "Bad Request")
        if self.refuse_websockets:
            self.refused_upgrades += 1
            self._changed()
            return _json({"message": "Service Unavailable"}, 503, "Service Unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.upgrades += 1
        socket = _Socket(app, ws, request.transport)
        old = self._sockets.get(app)
        if old is not None:
            # Not recorded; modelled on events.json: the old socket is told it was replaced.
            old.queue.put_nowait(
                json.dumps(
                    {
                        "type": "ApplicationReplaced",
                        "timestamp": ari_time(self._now()),
                        "asterisk_id": self.state.asterisk_id,
                        "application": app,
                    }
                )
            )
            self._unregister(old)
            await old.ws.close()
        socket.writer = asyncio.create_task(socket.write())
        self._sockets[app] = socket
        self.state.connected_apps.add(app)
        self._changed()
        try:
            async for _ in ws:
                pass  # ARI takes nothing on this socket
        finally:
            self._unregister(socket)
        return ws

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        """Basic auth or `?api_key=user:password` (04-errors), else 401 as recorded."""
        given: str | None = request.query.get("api_key")
        header = request.headers.get("Authorization", "")
        if given is None and header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                given = None
        if given == f"{self.username}:{self.password}":
            return None
        response = _json({"message": "Authentication required"}, 401, "Unauthorized")
        response.headers["WWW-Authenticate"] = _REALM
        return response

    # --- REST -----------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return _json(
            {
                "build": {"os": "Linux", "machine": "x86_64", "options": "OPTIONAL_API"},
                "system": {"version": "22.10.1", "entity_id": self.state.asterisk_id},
                "config": {"name": "", "default_language": "en"},
                "status": {"startup_time": ari_time(self._now())},
            }
        )

    async def _ping(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return _json(
            {
                "ping": "pong",
                "timestamp": ari_time(self._now()),
                "asterisk_id": self.state.asterisk_id,
            }
        )

    async def _applications(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        names = sorted(
            self.state.connected_apps
            | {c.stasis_app for c in self.state.channels.values() if c.stasis_app}
        )
        return _json([self.state.application_json(name) for name in names])

    async def _application(self, request: web.Request) -> web.Response:
        return await self._rest(
            request, lambda: _json(self.state.application_json(request.match_info["name"]))
        )

    async def _channels(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return _json([c.to_json() for c in self.state.channels.values()])

    async def _channel(self, request: web.Request) -> web.Response:
        return await self._rest(
            request, lambda: _json(self.state.request(request.match_info["id"]).to_json())
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        q = request.query
        return await self._rest(
            request,
            lambda: self.state.hangup(
                request.match_info["id"], q.get("reason_code"), q.get("reason")
            ),
        )

    async def _answer(self, request: web.Request) -> web.Response:
        return await self._rest(request, lambda: self.state.answer(request.match_info["id"]))

    async def _play(self, request: web.Request) -> web.Response:
        q = request.query
        # `media` allows several values (Swagger allowMultiple): comma-separated.
        media = [m for value in q.getall("media", []) for m in value.split(",")]
        return await self._rest(
            request,
            lambda: _json(
                self.state.play(
                    request.match_info["id"], media, q.get("playbackId"), q.get("lang")
                ),
                201,
                "Created",
            ),
        )

    async def _continue(self, request: web.Request) -> web.Response:
        q = request.query
        return await self._rest(
            request,
            lambda: self.state.continue_in_dialplan(
                request.match_info["id"], q.get("context"), q.get("extension"), q.get("priority")
            ),
        )

    async def _get_variable(self, request: web.Request) -> web.Response:
        return await self._rest(
            request,
            lambda: _json(
                {
                    "value": self.state.get_variable(
                        request.match_info["id"], request.query.get("variable")
                    )
                }
            ),
        )

    async def _set_variable(self, request: web.Request) -> web.Response:
        q = request.query
        return await self._rest(
            request,
            lambda: self.state.set_variable(
                request.match_info["id"], q.get("variable"), q.get("value", "")
            ),
        )

    async def _dtmf(self, request: web.Request) -> web.Response:
        def send() -> None:
            if not request.query.get("dtmf"):
                raise SimError(400, "Bad Request", "DTMF is required")
            self.state.stasis_channel(request.match_info["id"])

        return await self._rest(request, send)

    async def _get_playback(self, request: web.Request) -> web.Response:
        return await self._rest(
            request, lambda: _json(self.state.playback(request.match_info["id"]).to_json())
        )

    async def _stop_playback(self, request: web.Request) -> web.Response:
        return await self._rest(request, lambda: self.state.stop_playback(request.match_info["id"]))

    async def _not_found(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return _json({"message": "Resource not found"}, 404, "Not Found")

    async def _rest(
        self, request: web.Request, operation: Callable[[], web.Response | None]
    ) -> web.Response:
        """Auth, run the state operation, map `SimError` to Asterisk's error answer."""
        if (denied := self._check_auth(request)) is not None:
            return denied
        try:
            result = operation()
        except SimError as exc:
            return _error(exc)
        return result if isinstance(result, web.Response) else _no_content()
