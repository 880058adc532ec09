"""Every event frame a real Asterisk sent parses into its typed event; nothing else than
ARI raises anything but AriProtocolError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.ari.events import (
    KNOWN_EVENT_TYPES,
    AriProtocolError,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelSnapshot,
    ChannelVarset,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackSnapshot,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)

from .transcripts import FIXTURES, all_rows, event_frames, rows

FRAMES = event_frames()


def first(kind: str, file: str | None = None, **match: Any) -> Any:
    for name, frame in FRAMES:
        body = json.loads(frame)
        if body["type"] == kind and (file is None or name == file):
            if all(body.get(k) == v for k, v in match.items()):
                return parse_event(frame)
    raise LookupError(kind)


def test_the_transcripts_hold_events_to_parse() -> None:
    assert len(FRAMES) > 300


@pytest.mark.parametrize(
    ("name", "frame"), FRAMES, ids=[f"{n}:{i}" for i, (n, _) in enumerate(FRAMES)]
)
def test_every_recorded_event_parses_into_its_own_type(name: str, frame: str) -> None:
    event = parse_event(frame)
    assert not isinstance(event, UnknownEvent), f"{name}: {event.type} has no typed event"
    assert type(event).__name__ == json.loads(frame)["type"]


def test_every_recorded_event_type_is_modelled() -> None:
    recorded = {json.loads(frame)["type"] for _, frame in FRAMES}
    assert recorded <= KNOWN_EVENT_TYPES


def test_stasis_start_carries_the_dialplan_arguments() -> None:
    event = first("StasisStart", "08-stasis-args-and-no-app.jsonl", application="callpop")
    assert isinstance(event, StasisStart)
    assert event.args == ("flow=main", "lang=en")
    assert event.channel.state == "Ring"
    assert event.channel.caller.name == "Alice Smith"
    assert event.channel.dialplan.app_data == "callpop,flow=main,lang=en"


def test_dtmf_is_one_event_per_key_at_its_end() -> None:
    event = first("ChannelDtmfReceived", "01-ivr-call.jsonl", digit="#")
    assert isinstance(event, ChannelDtmfReceived)
    assert (event.digit, event.duration_ms) == ("#", 120)


def test_a_missing_sound_finishes_failed() -> None:
    finished = [
        parse_event(frame)
        for name, frame in FRAMES
        if name == "01-ivr-call.jsonl" and '"type":"PlaybackFinished"' in frame
    ]
    states = {
        e.playback.media_uri: e.playback.state for e in finished if isinstance(e, PlaybackFinished)
    }
    assert states["sound:no-such-prompt"] == "failed"
    assert states["sound:hello-world"] == "done"


def test_a_playlist_reports_the_next_media() -> None:
    event = first("PlaybackContinuing", "01-ivr-call.jsonl", application="callpop")
    assert isinstance(event, PlaybackContinuing)
    assert event.playback.next_media_uri == "digits:42"
    assert event.playback.channel_id == "1795389419.103"


def test_hangup_request_from_the_app_is_soft_cause_32() -> None:
    event = first("ChannelHangupRequest", "03-app-hangs-up.jsonl", application="callpop")
    assert isinstance(event, ChannelHangupRequest)
    assert (event.cause, event.soft) == (32, True)


def test_hangup_request_from_the_caller_is_cause_16() -> None:
    event = first("ChannelHangupRequest", "02-caller-hangs-up.jsonl", application="callpop")
    assert isinstance(event, ChannelHangupRequest)
    assert (event.cause, event.soft) == (16, False)


def test_channel_destroyed_carries_cause_text() -> None:
    event = first("ChannelDestroyed", "03-app-hangs-up.jsonl", cause=17)
    assert isinstance(event, ChannelDestroyed)
    assert event.cause_txt == "User busy"


def test_varset_keeps_caller_text_as_data() -> None:
    event = first("ChannelVarset", "01-ivr-call.jsonl", variable="CALLPOP_NOTE")
    assert isinstance(event, ChannelVarset)
    assert event.value == 'Zoë "VIP", two words'


def test_stasis_end_names_its_channel() -> None:
    event = first("StasisEnd", "02-caller-hangs-up.jsonl", application="callpop")
    assert isinstance(event, StasisEnd)
    assert event.channel.id == "1795389430.107"


def recorded_channel_lists() -> list[list[dict[str, Any]]]:
    return [
        row["response_body"]
        for _, row in all_rows("rest")
        if row["method"] == "GET" and row["path"] == "/channels" and row["status"] == 200
    ]


def test_every_recorded_channel_list_parses() -> None:
    lists = recorded_channel_lists()
    assert lists
    for listed in lists:
        for item in listed:
            assert ChannelSnapshot.from_json(item).id == item["id"]


def test_only_stasis_of_the_app_itself_counts_as_in_the_app() -> None:
    listed = rows(FIXTURES / "09-app-websocket-reconnect.jsonl")
    channels = next(
        [ChannelSnapshot.from_json(c) for c in row["response_body"]]
        for row in listed
        if row["type"] == "rest"
        and row["method"] == "GET"
        and row["path"] == "/channels"
        and row["response_body"]
    )
    mine = {c.name for c in channels if c.in_stasis("callpop")}
    theirs = {c.name for c in channels if c.in_stasis("callpop-caller")}
    assert mine == {"Local/7100@callpop-test-00000005;2"}
    assert theirs == {"Local/7100@callpop-test-00000005;1"}


def test_stasis_with_arguments_is_in_the_app() -> None:
    event = first("StasisStart", "01-ivr-call.jsonl", args=["agent"])
    assert event.channel.dialplan.app_data == "callpop,agent"
    assert event.channel.in_stasis("callpop")
    assert not event.channel.in_stasis("callpop-caller")


def test_recorded_playbacks_parse() -> None:
    bodies = [
        row["response_body"]
        for _, row in all_rows("rest")
        if row["status"] in (200, 201) and "/play" in row["path"]
    ]
    assert bodies
    for body in bodies:
        assert PlaybackSnapshot.from_json(body).id == body["id"]


def test_an_unknown_event_type_is_kept_not_refused() -> None:
    frame = json.dumps(
        {"type": "ChannelTalkingStarted", "timestamp": "t", "application": "callpop", "x": 1}
    )
    event = parse_event(frame)
    assert isinstance(event, UnknownEvent)
    assert event.body["x"] == 1


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json",
        "[]",
        '{"type": 5}',
        '{"application": "callpop", "timestamp": "t"}',
        '{"type": "StasisStart", "application": "callpop", "timestamp": "t", "args": []}',
        '{"type": "ChannelDtmfReceived", "application": "a", "timestamp": "t", "digit": 1}',
    ],
)
def test_what_is_not_ari_raises_a_protocol_error(frame: str) -> None:
    with pytest.raises(AriProtocolError):
        parse_event(frame)


@given(st.text())
def test_any_text_parses_or_raises_a_protocol_error(text: str) -> None:
    try:
        parse_event(text)
    except AriProtocolError:
        pass


def _mutations(frame: str) -> st.SearchStrategy[str]:
    body = json.loads(frame)
    values: st.SearchStrategy[Any] = st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        mutated: dict[str, Any] = json.loads(json.dumps(body))
        target = mutated
        nested = [k for k, v in mutated.items() if isinstance(v, dict)]
        descend = bool(nested) and draw(st.booleans())
        if descend:
            target = mutated[draw(st.sampled_from(nested))]
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(values)
        return json.dumps(mutated)

    return mutate()


@given(st.sampled_from([f for _, f in FRAMES]).flatmap(_mutations))
def test_recorded_events_with_a_field_broken_parse_or_raise_a_protocol_error(frame: str) -> None:
    try:
        parse_event(frame)
    except AriProtocolError:
        pass
