"""`/demo/phone`: the test phone, a caller's handset in a web page.

The page dials extension 7000 of the virtual PBX as any caller ID (a demo customer's
number from the list, or any number typed in), shows the text of each prompt as it
plays, sends keys from its dial pad, and hangs up. `/demo/phone/ws` carries it:

    page -> server   {"type": "dial", "number": "+15551234567", "name": "Ann"}
                     {"type": "key", "key": "1"}      {"type": "hangup"}
                     {"type": "line", "number": "+15551234567"}   (the caller chosen:
                                          the number this phone answers as)
                     {"type": "answer"}   (a callback or an agent's call ringing this phone)
                     {"type": "flood", "queue": "billing", "callers": 8}   {"type": "unflood"}
    server -> page   {"type": "state", "state": "ivr|queue|ringing|voicemail|ended", ...}
                     {"type": "incoming", "number", "call_id", "kind": "callback|outbound"}
                                          (a callback or an agent's click-to-dial rings)
                     {"type": "flood", "active", "queue", "waiting", "holding"}
                     {"type": "queue_state", "queue", "callers", "available", "logged_in",
                      "ewt_s"}   (what callpop folded from AMI: what the IVR reads)
                     {"type": "heard", "kind": "prompt|digits|number|listen", "text", "ms", "keys",
                      "audio": "/demo/sounds/NAME.wav" or null}
                     {"type": "key"}, {"type": "queue"}, {"type": "connected"},
                     {"type": "outcome"}, {"type": "wire"}, {"type": "notice"}, {"type": "error"}

A prompt with a recording in the demo's sounds folder (`callpop demo --sounds DIR`) is
played by the page from `/demo/sounds/NAME.wav`, which serves only the recordings the
prompt book found (a name is never a path). One call per page: closing the page puts
the phone down (the call hangs up). The page is also the phone of the number of the
caller it has chosen (or last called as): a callback or an agent's click-to-dial to that
number rings it (`originated.py`). The flood button fills a
queue with virtual callers (`flood.py`), and the page shows the queue's state as callpop
sees it, read from the database the IVR reads. The page
needs no login (it is the caller's phone, not an agent's desk); the demo serves on
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callpop.demo.context import DEMO, UNKNOWN_NUMBER
from callpop.demo.flood import MAX_CALLERS
from callpop.demo.live_agi import DTMF
from callpop.demo.originated import OriginatedCall
from callpop.demo.pbx import DemoCall, Tell
from callpop.demo.sockets import PageSocket, check_origin

__all__ = ["routes"]

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
QUEUE_STATE_EVERY_S = 1.0

MAX_NUMBER = 64
MAX_NAME = 128


@routes.get("/demo/sounds/{sound:.+}.wav")
async def sound_file(request: web.Request) -> web.StreamResponse:
    pbx = request.app[DEMO].pbx
    recording = None if pbx is None else pbx.book.recording(request.match_info["sound"])
    if recording is None:
        raise web.HTTPNotFound(text="no recording of that prompt")
    return web.FileResponse(recording.path, headers={"Content-Type": "audio/wav"})


@routes.get("/demo/phone")
async def phone_page(request: web.Request) -> web.StreamResponse:
    demo = request.app[DEMO]
    boot = {
        "extension": demo.extension,
        "callers": [c.public() for c in demo.callers],
        "unknown_number": UNKNOWN_NUMBER,
        "ivr_clock": demo.clock_reason,
        "flood": {
            "queues": list(demo.queues),
            "queue": demo.callback_offer.queue if demo.callback_offer else None,
            "offer_above_s": demo.callback_offer.offer_above_s if demo.callback_offer else None,
            "node": demo.callback_offer.where if demo.callback_offer else None,
            "callers": demo.flood_callers,
            "max": MAX_CALLERS,
        },
    }
    return aiohttp_jinja2.render_template(
        "demo_phone.html", request, {"boot": boot, "logins": demo.logins}
    )


def _text(frame: dict[str, Any], key: str, limit: int) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{key} is text of at most {limit} characters")
    return value


class TestLine:
    """The page as a phone line: the number of the caller chosen (or last called as),
    rung by callbacks and click-to-dial."""

    def __init__(self, send: Tell) -> None:
        self._send = send
        self.number: str | None = None
        self.call: DemoCall | None = None
        self.leg: OriginatedCall | None = None

    def busy_calling(self) -> bool:
        return self.call is not None and self.call.state != "ended"

    def free(self) -> bool:
        return not self.busy_calling() and self.leg is None

    def ring(self, leg: OriginatedCall) -> None:
        self.leg = leg
        self._send(
            {
                "type": "incoming",
                "number": leg.number,
                "call_id": leg.channel_id,
                "kind": leg.kind,
            }
        )

    def tell(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "state" and frame.get("state") == "ended":
            self.leg = None
        self._send(frame)


async def _watch_queue_states(
    read: Callable[[], Awaitable[Mapping[str, Mapping[str, Any]]]], send: Tell
) -> None:
    """Every queue's state as callpop folded it, sent when it changes."""
    last: dict[str, dict[str, Any]] = {}
    failing = False
    while True:
        try:
            states = await read()
        except Exception as exc:  # the database the IVR reads: a hiccup is not the page's end
            if not failing:
                log.warning("test phone: queue state not read: %s", exc)
            failing = True
        else:
            failing = False
            for queue, fields in states.items():
                view = {
                    "type": "queue_state",
                    "queue": queue,
                    **{k: fields.get(k) for k in ("callers", "available", "logged_in", "ewt_s")},
                }
                if last.get(queue) != view:
                    send(view)
                    last[queue] = view
        await asyncio.sleep(QUEUE_STATE_EVERY_S)


def _callers(frame: dict[str, Any]) -> int:
    value = frame.get("callers")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CALLERS:
        raise ValueError(f"callers is a whole number from 1 to {MAX_CALLERS}")
    return value


@routes.get("/demo/phone/ws")
async def phone_socket(request: web.Request) -> web.StreamResponse:
    check_origin(request)
    demo = request.app[DEMO]
    pbx = demo.pbx
    if pbx is None:
        raise web.HTTPServiceUnavailable(text="the virtual PBX is starting")
    async with PageSocket(request) as page:
        line = TestLine(page.send)
        pbx.lines.append(line)
        pbx.flood_watchers.add(page.send)
        page.send(pbx.flood.view().public())
        watching = (
            None
            if demo.queue_states is None
            else asyncio.create_task(_watch_queue_states(demo.queue_states, page.send))
        )
        try:
            async for frame in page.frames():
                kind = frame["type"]
                if kind == "dial":
                    if not line.free():
                        page.send({"type": "error", "text": "Hang up before dialling again."})
                        continue
                    try:
                        number = _text(frame, "number", MAX_NUMBER)
                        name = _text(frame, "name", MAX_NAME)
                    except ValueError as exc:
                        page.send({"type": "error", "text": str(exc)})
                        continue
                    line.number = number
                    line.call = pbx.place_call(number, name, page.send)
                elif kind == "line":
                    try:
                        chosen = _text(frame, "number", MAX_NUMBER)
                    except ValueError as exc:
                        page.send({"type": "error", "text": str(exc)})
                        continue
                    if not line.busy_calling():  # a call keeps the number it called as
                        line.number = chosen or None
                elif kind == "key":
                    key = frame.get("key")
                    if isinstance(key, str) and key in DTMF and line.call is not None:
                        line.call.press(key)
                elif kind == "answer":
                    if line.leg is not None:
                        line.leg.customer_answers()
                elif kind == "hangup":
                    if line.busy_calling():
                        assert line.call is not None
                        line.call.hang_up()
                    elif line.leg is not None:
                        line.leg.customer_hangs_up()
                elif kind == "flood":
                    queue = frame.get("queue")
                    if not isinstance(queue, str) or queue not in demo.queues:
                        page.send({"type": "error", "text": "flood: no such queue"})
                        continue
                    try:
                        pbx.flood.start(queue, _callers(frame))
                    except ValueError as exc:
                        page.send({"type": "error", "text": f"flood: {exc}"})
                elif kind == "unflood":
                    pbx.flood.stop()
                else:
                    page.send({"type": "error", "text": f"unknown frame type {kind[:40]!r}"})
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            pbx.flood_watchers.discard(page.send)
            pbx.lines.remove(line)
            if line.call is not None:
                line.call.hang_up()  # the page went: the phone is put down
            if line.leg is not None:
                line.leg.customer_hangs_up()
    return page.ws
