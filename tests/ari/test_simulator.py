"""The ARI simulator answers as the recorded Asterisk did: status, reason phrase and body
of each error, the events of each situation in their order and shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from callpop.pbx_sim.ari import AriSimulator
from callpop.pbx_sim.script import CallerScript
from ivr.ari.client import basic_auth

from .transcripts import FIXTURES, all_rows, rows

USER, PASSWORD = "ari", "ari"


@dataclass
class Peer:
    sim: AriSimulator
    url: str  # http://127.0.0.1:PORT
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse

    async def event(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.ws.receive_json(), 10)

    async def events(self, count: int) -> list[dict[str, Any]]:
        return [await self.event() for _ in range(count)]

    async def rest(self, method: str, target: str) -> tuple[int, str, str]:
        async with self.http.request(method, self.url + target) as response:
            return response.status, response.reason or "", await response.text()


@asynccontextmanager
async def peer(**options: Any) -> AsyncIterator[Peer]:
    sim = AriSimulator(username=USER, password=PASSWORD, **options)
    async with (
        sim.serve() as ari,
        aiohttp.ClientSession(headers={"Authorization": basic_auth(USER, PASSWORD)}) as http,
    ):
        url = ari.removesuffix("/ari")
        ws = await http.ws_connect(url.replace("http", "ws") + "/ari/events?app=callpop")
        await sim.wait_for_app()
        yield Peer(sim, url, http, ws)
        await ws.close()


def recorded_shapes() -> dict[str, set[str]]:
    """The keys of each event type the `callpop` socket got, over all recordings."""
    shapes: dict[str, set[str]] = {}
    for _, row in all_rows("event"):
        if row["ws"] == "callpop":
            shapes.setdefault(row["event"]["type"], set()).update(row["event"])
    return shapes


RECORDED_CHANNEL_KEYS = set(
    next(r["event"]["channel"] for _, r in all_rows("event") if r["event"]["type"] == "StasisStart")
)


async def test_a_call_in_stasis_looks_like_the_recorded_one() -> None:
    async with peer() as p:
        call = p.sim.call(CallerScript(), args=("flow=main", "lang=en"))
        start = await p.event()
    assert start["type"] == "StasisStart"
    assert start["args"] == ["flow=main", "lang=en"]
    assert set(start) == recorded_shapes()["StasisStart"]
    assert set(start["channel"]) == RECORDED_CHANNEL_KEYS
    assert start["channel"]["state"] == "Ring"
    assert start["channel"]["dialplan"]["app_data"] == "callpop,flow=main,lang=en"
    assert call.channel_id == start["channel"]["id"]


async def test_events_have_the_recorded_shapes() -> None:
    shapes = recorded_shapes()
    async with peer(time_scale=0.01) as p:
        call = p.sim.call(CallerScript.parse("1"))
        cid = call.channel_id
        seen = [await p.event()]
        await p.rest("POST", f"/ari/channels/{cid}/answer")
        await p.rest("POST", f"/ari/channels/{cid}/variable?variable=CALLPOP_QUEUE&value=support")
        await p.rest(
            "POST", f"/ari/channels/{cid}/play?media=sound:beep,digits:42&playbackId=callpop-play-1"
        )
        seen += await p.events(7)  # state, varset, started, key, continuing, started, finished
        await p.rest("DELETE", f"/ari/channels/{cid}")
        seen += await p.events(2)
    kinds = {e["type"] for e in seen}
    assert kinds >= {
        "StasisStart",
        "ChannelStateChange",
        "ChannelVarset",
        "PlaybackStarted",
        "ChannelDtmfReceived",
        "PlaybackContinuing",
        "PlaybackFinished",
        "ChannelHangupRequest",
        "StasisEnd",
    }
    for event in seen:
        assert set(event) == shapes[event["type"]], event["type"]


async def test_a_playlist_reports_each_item_and_finishes_once() -> None:
    async with peer(time_scale=0.01) as p:
        cid = p.sim.call(CallerScript()).channel_id
        await p.event()
        status, reason, body = await p.rest(
            "POST", f"/ari/channels/{cid}/play?media=sound:beep,digits:42,number:7"
        )
        events = await p.events(6)
    assert (status, reason) == (201, "Created")
    assert json.loads(body)["state"] == "queued"
    assert json.loads(body)["next_media_uri"] == "digits:42"
    assert [(e["type"], e["playback"]["media_uri"], e["playback"]["state"]) for e in events] == [
        ("PlaybackStarted", "sound:beep", "playing"),
        ("PlaybackContinuing", "sound:beep", "continuing"),
        ("PlaybackStarted", "digits:42", "playing"),
        ("PlaybackContinuing", "digits:42", "continuing"),
        ("PlaybackStarted", "number:7", "playing"),
        ("PlaybackFinished", "number:7", "done"),
    ]


async def test_a_missing_sound_fails_at_once_and_is_forgotten() -> None:
    async with peer(missing_sounds=frozenset({"no-such-prompt"})) as p:
        cid = p.sim.call(CallerScript()).channel_id
        await p.event()
        _, _, body = await p.rest("POST", f"/ari/channels/{cid}/play?media=sound:no-such-prompt")
        started, finished = await p.events(2)
        gone = await p.rest("GET", f"/ari/playbacks/{json.loads(body)['id']}")
    assert (started["type"], finished["type"], finished["playback"]["state"]) == (
        "PlaybackStarted",
        "PlaybackFinished",
        "failed",
    )
    assert gone == (404, "Not Found", '{"message":"Playback not found"}')


async def test_dtmf_does_not_stop_a_playback() -> None:
    async with peer(time_scale=0.01) as p:
        call = p.sim.call(CallerScript.parse("5"))
        await p.event()
        await p.rest(
            "POST",
            f"/ari/channels/{call.channel_id}/play?media=sound:demo-congrats&playbackId=callpop-play-x",
        )
        started, key, finished = await p.events(3)
    assert (started["type"], key["type"], finished["type"]) == (
        "PlaybackStarted",
        "ChannelDtmfReceived",
        "PlaybackFinished",
    )
    assert (key["digit"], key["duration_ms"]) == ("5", 120)
    assert finished["playback"]["state"] == "done"


async def test_a_caller_hang_up_gives_the_recorded_events_in_order() -> None:
    # 02-caller-hangs-up: ChannelHangupRequest (16), PlaybackFinished failed, StasisEnd;
    # the app never gets ChannelDestroyed for it.
    async with peer(time_scale=0.01) as p:
        call = p.sim.call(CallerScript.parse("h@100"))
        await p.event()
        await p.rest(
            "POST",
            f"/ari/channels/{call.channel_id}/play?media=sound:demo-congrats&playbackId=callpop-play-y",
        )
        events = await p.events(4)
        after = await p.rest("POST", f"/ari/channels/{call.channel_id}/play?media=sound:beep")
    assert [e["type"] for e in events] == [
        "PlaybackStarted",
        "ChannelHangupRequest",
        "PlaybackFinished",
        "StasisEnd",
    ]
    assert events[1]["cause"] == 16 and "soft" not in events[1]
    assert events[2]["playback"]["state"] == "failed"
    assert after == (404, "Not Found", '{"message":"Channel not found"}')
    assert await call.ended == "hangup-caller"


async def test_an_app_hang_up_gives_the_recorded_events() -> None:
    async with peer() as p:
        call = p.sim.call(CallerScript())
        await p.event()
        status = await p.rest("DELETE", f"/ari/channels/{call.channel_id}?reason=busy")
        request, end = await p.events(2)
    assert status == (204, "No Content", "")
    assert (request["type"], request["cause"], request["soft"], end["type"]) == (
        "ChannelHangupRequest",
        32,
        True,
        "StasisEnd",
    )
    assert call.hangup_cause == 17  # 03: reason=busy becomes cause 17 User busy


async def test_continue_leaves_stasis_and_later_requests_conflict() -> None:
    async with peer() as p:
        call = p.sim.call(CallerScript())
        await p.event()
        status = await p.rest(
            "POST",
            f"/ari/channels/{call.channel_id}/continue?context=callpop-route&extension=queue&priority=1",
        )
        end = await p.event()
        conflict = await p.rest("POST", f"/ari/channels/{call.channel_id}/answer")
        readable = await p.rest(
            "GET", f"/ari/channels/{call.channel_id}/variable?variable=CHANNEL(state)"
        )
    assert status[0] == 204 and end["type"] == "StasisEnd"
    assert call.continued_to == ("callpop-route", "queue", 1)
    assert conflict == (409, "Conflict", '{"message":"Channel not in Stasis application"}')
    assert readable[0] == 200  # 04: GET variable works on a channel outside Stasis


NOT_FOUND_ROWS = [
    row
    for row in rows(FIXTURES / "04-errors.jsonl")
    if row["type"] == "rest"
    and row["status"] == 404
    and row["path"].split("/")[1] in ("channels", "playbacks", "applications")
    and "url" in row
]


@pytest.mark.parametrize("row", NOT_FOUND_ROWS, ids=[r["url"] for r in NOT_FOUND_ROWS])
async def test_missing_resources_answer_as_recorded(row: dict[str, Any]) -> None:
    async with peer() as p:
        answer = await p.rest(row["method"], row["url"])
    assert answer == (row["status"], row["reason"], row["response_text"])


async def test_variables_answer_as_recorded() -> None:
    async with peer() as p:
        cid = p.sim.call(CallerScript(linkedid="1795389902.1")).channel_id
        await p.event()
        linked = await p.rest("GET", f"/ari/channels/{cid}/variable?variable=CHANNEL(linkedid)")
        unset = await p.rest("GET", f"/ari/channels/{cid}/variable?variable=NO_SUCH_VARIABLE")
        nameless = await p.rest("GET", f"/ari/channels/{cid}/variable")
        missing = await p.rest("GET", "/ari/channels/1795000000.999/variable?variable=X")
    assert linked == (200, "OK", '{"value":"1795389902.1"}')
    assert unset == (404, "Variable Not Found", '{"message":"Provided variable was not found"}')
    assert nameless == (400, "Bad Request", '{"message":"Variable name is required"}')
    assert missing == (404, "Channel Not Found", '{"message":"Provided channel was not found"}')


async def test_an_unknown_path_is_resource_not_found() -> None:
    async with peer() as p:
        assert await p.rest("GET", "/ari/no-such-resource") == (
            404,
            "Not Found",
            '{"message":"Resource not found"}',
        )


async def test_without_credentials_rest_and_websocket_are_refused_as_recorded() -> None:
    sim = AriSimulator(username=USER, password=PASSWORD)
    async with sim.serve() as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/channels") as response:
            assert (response.status, await response.text()) == (
                401,
                '{"message":"Authentication required"}',
            )
            assert response.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url.replace("http", "ws") + "/events?app=callpop")
        assert refused.value.status == 401
        async with http.get(url + "/asterisk/ping?api_key=ari:ari") as response:
            assert response.status == 200


async def test_with_no_app_connected_stasis_fails_and_the_dialplan_goes_on() -> None:
    # 08-stasis-args-and-no-app: STASISSTATUS=FAILED, no StasisStart anywhere.
    sim = AriSimulator()
    async with sim.serve():
        call = sim.call(CallerScript())
        assert await call.ended == "stasis-failed"
    assert call.variables["STASISSTATUS"] == "FAILED"


async def test_while_the_app_is_away_its_events_are_dropped_not_replayed() -> None:
    async with peer(time_scale=0.01) as p:
        call = p.sim.call(CallerScript())
        await p.event()
        await p.ws.close()
        await p.sim.until(lambda: "callpop" not in p.sim.state.connected_apps)
        await p.rest("POST", f"/ari/channels/{call.channel_id}/answer")  # REST still works
        assert p.sim.state.missed_events == 1
        application = await p.rest("GET", "/ari/applications/callpop")
        p.ws = await p.http.ws_connect(p.url.replace("http", "ws") + "/ari/events?app=callpop")
        await p.sim.wait_for_app()
        await p.rest("POST", f"/ari/channels/{call.channel_id}/variable?variable=X&value=1")
        first = await p.event()
    assert json.loads(application[2])["channel_ids"] == [call.channel_id]
    assert first["type"] == "ChannelVarset"  # nothing missed came back first


async def test_an_app_with_no_socket_and_no_channel_is_destroyed() -> None:
    async with peer() as p:
        call = p.sim.call(CallerScript())
        await p.event()
        await p.ws.close()
        await p.sim.until(lambda: "callpop" not in p.sim.state.connected_apps)
        p.sim.state.caller_hangs_up(p.sim.state.channels[call.channel_id])
        assert await p.rest("GET", "/ari/applications/callpop") == (
            404,
            "Not Found",
            '{"message":"Application not found"}',
        )
        assert await p.rest("GET", f"/ari/channels/{call.channel_id}") == (
            404,
            "Not Found",
            '{"message":"Channel not found"}',
        )
