"""`/demo/phone`: the test phone, a caller's handset in a web page.

The page dials extension 7000 of the virtual PBX as any caller ID (a demo customer's
number from the list, or any number typed in), shows the text of each prompt as it
plays, sends keys from its dial pad, and hangs up. `/demo/phone/ws` carries it:

    page -> server   {"type": "dial", "number": "+15551234567", "name": "Ann"}
                     {"type": "key", "key": "1"}      {"type": "hangup"}
    server -> page   {"type": "state", "state": "ivr|queue|ringing|voicemail|ended", ...}
                     {"type": "heard", "kind": "prompt|digits|number|listen", "text", "ms", "keys",
                      "audio": "/demo/sounds/NAME.wav" or null}
                     {"type": "key"}, {"type": "queue"}, {"type": "connected"},
                     {"type": "outcome"}, {"type": "wire"}, {"type": "notice"}, {"type": "error"}

A prompt with a recording in the demo's sounds folder (`callpop demo --sounds DIR`) is
played by the page from `/demo/sounds/NAME.wav`, which serves only the recordings the
prompt book found (a name is never a path). One call per page: closing the page puts
the phone down (the call hangs up). The page
needs no login (it is the caller's phone, not an agent's desk); the demo serves on
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callpop.demo.context import DEMO, UNKNOWN_NUMBER
from callpop.demo.live_agi import DTMF
from callpop.demo.pbx import DemoCall
from callpop.demo.sockets import PageSocket, check_origin

__all__ = ["routes"]

routes = web.RouteTableDef()

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


@routes.get("/demo/phone/ws")
async def phone_socket(request: web.Request) -> web.StreamResponse:
    check_origin(request)
    pbx = request.app[DEMO].pbx
    if pbx is None:
        raise web.HTTPServiceUnavailable(text="the virtual PBX is starting")
    call: DemoCall | None = None
    async with PageSocket(request) as page:
        try:
            async for frame in page.frames():
                kind = frame["type"]
                if kind == "dial":
                    if call is not None and call.state != "ended":
                        page.send({"type": "error", "text": "Hang up before dialling again."})
                        continue
                    try:
                        number = _text(frame, "number", MAX_NUMBER)
                        name = _text(frame, "name", MAX_NAME)
                    except ValueError as exc:
                        page.send({"type": "error", "text": str(exc)})
                        continue
                    call = pbx.place_call(number, name, page.send)
                elif kind == "key":
                    key = frame.get("key")
                    if isinstance(key, str) and key in DTMF and call is not None:
                        call.press(key)
                elif kind == "hangup":
                    if call is not None:
                        call.hang_up()
                else:
                    page.send({"type": "error", "text": f"unknown frame type {kind[:40]!r}"})
        finally:
            if call is not None:
                call.hang_up()  # the page went: the phone is put down
    return page.ws
