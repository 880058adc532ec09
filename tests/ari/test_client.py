"""The ARI REST client against the recorded answers of a real Asterisk, over a real
socket: each recorded exchange the client can make is replayed byte for byte, and the
client must send that very request and read that very answer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.ari.client import AriClient, ClientSettings, events_url, media_list, request_url
from ivr.ari.errors import (
    AriBadRequest,
    AriConflict,
    AriHttpError,
    AriNotFound,
    AriServerError,
    AriTimeout,
    AriUnauthorized,
    AriUnavailable,
    error_for_status,
    error_message,
)
from ivr.ari.events import AriProtocolError

from .swagger import problems
from .transcripts import all_rows

Key = tuple[str, str, tuple[tuple[str, str], ...]]
ClientCall = Callable[[AriClient], Awaitable[Any]]


def recorded_key(row: dict[str, Any]) -> Key:
    parts = urlsplit(row["url"])
    return (row["method"], unquote(parts.path), tuple(sorted(parse_qsl(parts.query, True))))


def client_call(row: dict[str, Any]) -> ClientCall | None:
    """The client method that makes the recorded request, if the client has one."""
    q = dict(parse_qsl(urlsplit(row["url"]).query, keep_blank_values=True))
    match (row["method"], row["path"].strip("/").split("/")):
        case ("GET", ["channels"]):
            return lambda c: c.list_channels()
        case ("GET", ["channels", cid]):
            return lambda c: c.get_channel(cid)
        case ("POST", ["channels", cid, "answer"]):
            return lambda c: c.answer(cid)
        case ("DELETE", ["channels", cid]) if q == {"reason_code": "16"}:
            return lambda c: c.hangup(cid)
        case ("POST", ["channels", cid, "play"]) if "media" in q and set(q) <= {"media", "lang"}:
            return lambda c: c.play(cid, q["media"].split(","), lang=q.get("lang"))
        case ("GET", ["playbacks", pid]):
            return lambda c: c.get_playback(pid)
        case ("DELETE", ["playbacks", pid]):
            return lambda c: c.stop_playback(pid)
        case ("GET", ["channels", cid, "variable"]) if set(q) == {"variable"}:
            return lambda c: c.get_variable(cid, q["variable"])
        case ("POST", ["channels", cid, "variable"]) if set(q) == {"variable", "value"}:
            return lambda c: c.set_variable(cid, q["variable"], q["value"])
        case ("POST", ["channels", cid, "continue"]) if set(q) == {
            "context",
            "extension",
            "priority",
        }:
            return lambda c: c.continue_in_dialplan(
                cid, q["context"], q["extension"], int(q["priority"])
            )
        case ("GET", ["asterisk", "info"]):
            return lambda c: c.asterisk_info()
    return None


REPLAYABLE = [
    (name, row, call)
    for name, row in all_rows("rest")
    # The authentication rows of 04 record no `url`; test_simulator covers them.
    if "url" in row and (call := client_call(row)) is not None
]


@asynccontextmanager
async def replaying(row: dict[str, Any]) -> AsyncIterator[tuple[str, list[Key]]]:
    """A server that answers the recorded request with the recorded answer, and any
    other request with 599; yields its ARI URL and the requests it got."""
    seen: list[Key] = []

    async def answer(request: web.Request) -> web.Response:
        key = (request.method, request.path, tuple(sorted(request.query.items())))
        seen.append(key)
        if key != recorded_key(row):
            return web.Response(status=599, text=f"not the recorded request: {key}")
        text = row["response_text"]
        return web.Response(
            status=row["status"],
            reason=row["reason"],
            body=text.encode() if text else None,
            content_type=row["content_type"] if text else None,
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield str(server.make_url("/ari")), seen


def test_most_recorded_exchanges_are_replayable() -> None:
    assert len(REPLAYABLE) >= 40


@pytest.mark.parametrize(
    ("name", "row", "call"), REPLAYABLE, ids=[f"{n}:{r['t']}" for n, r, _ in REPLAYABLE]
)
async def test_the_client_makes_the_recorded_request_and_reads_the_answer(
    name: str, row: dict[str, Any], call: ClientCall
) -> None:
    async with replaying(row) as (url, seen), AriClient(url, "ari", "ari") as client:
        if row["status"] >= 400:
            with pytest.raises(AriHttpError) as raised:
                await call(client)
            error = raised.value
            assert error.status == row["status"], seen
            assert error.message == (
                row["response_body"].get("message") or row["response_body"].get("error")
            )
            assert type(error) is type(
                error_for_status("X", "/", row["status"], row["reason"], row["response_text"])
            )
        else:
            result = await call(client)
            body = row["response_body"]
            if isinstance(body, dict) and "id" in body:
                assert result.id == body["id"]
            elif isinstance(body, dict) and "value" in body:
                assert result == body["value"]
            elif isinstance(body, list):
                assert [c.id for c in result] == [c["id"] for c in body]
    assert seen == [recorded_key(row)]


@pytest.mark.parametrize(
    ("name", "row", "call"), REPLAYABLE, ids=[f"{n}:{r['t']}" for n, r, _ in REPLAYABLE]
)
def test_every_replayed_request_is_in_the_api_description(
    name: str, row: dict[str, Any], call: ClientCall
) -> None:
    method, path, query = recorded_key(row)
    assert problems(method, path, query) == []


ERROR_ROWS = [(n, r) for n, r in all_rows("rest") if r["status"] >= 400]


@pytest.mark.parametrize(("name", "row"), ERROR_ROWS, ids=[f"{n}:{r['t']}" for n, r in ERROR_ROWS])
def test_every_recorded_error_body_gives_its_message(name: str, row: dict[str, Any]) -> None:
    body = json.loads(row["response_text"])
    expected = body.get("message", body.get("error"))
    assert error_message(row["response_text"]) == expected


def test_both_error_body_shapes_are_read() -> None:
    assert error_message('{"message":"Channel not found"}') == "Channel not found"
    assert error_message('{"error":"Allocation failed"}') == "Allocation failed"
    assert error_message("<html>oops</html>") == "<html>oops</html>"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, AriBadRequest),
        (401, AriUnauthorized),
        (404, AriNotFound),
        (409, AriConflict),
        (500, AriServerError),
    ],
)
def test_statuses_map_to_typed_errors(status: int, kind: type[AriHttpError]) -> None:
    assert type(error_for_status("GET", "/x", status, "", "{}")) is kind


def test_allocation_failure_is_a_server_error_with_its_error_text() -> None:
    row = next(r for _, r in ERROR_ROWS if r["status"] == 500)
    error = error_for_status(
        row["method"], row["path"], row["status"], row["reason"], row["response_text"]
    )
    assert isinstance(error, AriServerError)
    assert error.message == "Allocation failed"


def test_values_in_urls_are_percent_encoded_and_cannot_add_parameters() -> None:
    url = request_url(
        "http://127.0.0.1:8088/ari",
        ("channels", "a/b?c", "variable"),
        [("variable", "CALLPOP_NOTE"), ("value", "x&variable=Y #frag\n/../é")],
    )
    assert url.raw_path == "/ari/channels/a%2Fb%3Fc/variable"
    assert dict(url.query) == {"variable": "CALLPOP_NOTE", "value": "x&variable=Y #frag\n/../é"}
    assert "#" not in str(url)


@pytest.mark.parametrize("segment", ["", ".", ".."])
def test_dot_segments_are_refused(segment: str) -> None:
    with pytest.raises(ValueError):
        request_url("http://127.0.0.1:8088/ari", ("channels", segment))


def test_a_playlist_is_one_comma_separated_media_value() -> None:
    assert media_list(["sound:beep", "digits:42", "number:7"]) == "sound:beep,digits:42,number:7"


@pytest.mark.parametrize("uri", ["sound:a,b", "sound:", "beep", "sound:x&y=1", "sound:a b"])
def test_a_media_uri_ari_cannot_carry_is_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        media_list([uri])


def test_the_events_url_is_the_websocket_beside_the_rest_base() -> None:
    assert (
        str(events_url("http://127.0.0.1:8088/ari/", "callpop"))
        == "ws://127.0.0.1:8088/ari/events?app=callpop"
    )
    assert str(events_url("https://pbx:8089/ari", "a b")) == "wss://pbx:8089/ari/events?app=a%20b"


async def test_a_server_that_does_not_answer_is_a_timeout() -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/ari/channels", hang)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        settings = ClientSettings(total_timeout_s=0.2, connect_timeout_s=0.2)
        async with AriClient(str(server.make_url("/ari")), "u", "p", settings=settings) as client:
            with pytest.raises(AriTimeout):
                await client.list_channels()
        never.set()


async def test_a_closed_port_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}/ari", "u", "p") as client:
        with pytest.raises(AriUnavailable):
            await client.asterisk_info()


async def test_an_answer_that_is_not_json_is_a_protocol_error() -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>")

    app = web.Application()
    app.router.add_get("/ari/channels", html)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        async with AriClient(str(server.make_url("/ari")), "u", "p") as client:
            with pytest.raises(AriProtocolError):
                await client.list_channels()


def test_the_ari_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        AriClient("ws://127.0.0.1:8088/ari", "u", "p")
