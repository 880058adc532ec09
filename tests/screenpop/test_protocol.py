"""The panel protocol, sans-I/O: hello first, typed messages, hostile frames refused,
a silent peer declared dead. No socket, no clock: `now` is given."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.protocol import (
    MAX_FRAME_CHARS,
    Dead,
    Focus,
    Hello,
    LocalProtocolError,
    Notes,
    PanelProtocol,
    Prefs,
    ProtocolState,
    RemoteProtocolError,
    SendPing,
)


def opened() -> PanelProtocol:
    protocol = PanelProtocol(now=0.0, heartbeat_s=10)
    protocol.receive('{"type": "hello", "since": 7, "epoch": "e1"}', now=0.0)
    return protocol


def test_hello_opens_the_protocol_with_what_the_page_saw() -> None:
    protocol = PanelProtocol(now=0.0)
    hello = protocol.receive('{"type":"hello","since":12,"epoch":"ab","pop_on":"answer"}', now=1)
    assert hello == Hello(12, "ab", "panel", "answer")
    assert protocol.state is ProtocolState.OPEN


def test_a_hello_without_since_means_a_fresh_page() -> None:
    assert PanelProtocol(now=0).receive('{"type":"hello"}', now=0) == Hello(0, None, "panel")


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "notes", "call_id": "c1", "notes": "x"}',
        '{"type": "focus"}',
    ],
)
def test_nothing_but_hello_comes_first(frame: str) -> None:
    protocol = PanelProtocol(now=0)
    with pytest.raises(RemoteProtocolError, match="first message is hello"):
        protocol.receive(frame, now=0)
    assert protocol.state is ProtocolState.CLOSED


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"type": "hello", "since": -1}',
        '{"type": "hello", "since": true}',
        '{"type": "hello", "since": "5"}',
        '{"type": "hello", "view": "admin"}',
        '{"type": "hello", "pop_on": "never"}',
        '{"type": "subscribe", "agent": "2"}',
    ],
)
def test_malformed_frames_are_refused(frame: str) -> None:
    with pytest.raises(RemoteProtocolError):
        PanelProtocol(now=0).receive(frame, now=0)


def test_a_second_hello_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="already"):
        opened().receive('{"type": "hello"}', now=1)


def test_messages_after_hello() -> None:
    protocol = opened()
    assert protocol.receive('{"type":"notes","call_id":"c1","notes":"hi"}', now=1) == Notes(
        "c1", "hi"
    )
    assert protocol.receive('{"type":"prefs","pop_on":"ring"}', now=1) == Prefs("ring")
    assert protocol.receive('{"type":"focus"}', now=1) == Focus()


def test_oversized_frames_and_notes_are_refused() -> None:
    with pytest.raises(RemoteProtocolError) as too_big:
        opened().receive(" " * (MAX_FRAME_CHARS + 1), now=1)
    assert too_big.value.code == 1009
    with pytest.raises(RemoteProtocolError):
        opened().receive(json.dumps({"type": "notes", "call_id": "c", "notes": "x" * 9000}), now=1)


def test_the_server_pings_every_heartbeat_and_gives_up_on_a_silent_page() -> None:
    protocol = opened()
    assert protocol.tick(now=5) is None
    assert isinstance(protocol.tick(now=10), SendPing)
    assert protocol.tick(now=15) is None
    protocol.receive('{"type": "pong"}', now=16)
    assert isinstance(protocol.tick(now=20), SendPing)
    assert isinstance(protocol.tick(now=41), Dead)
    assert protocol.state is ProtocolState.CLOSED


def test_server_frames_need_an_open_protocol() -> None:
    protocol = PanelProtocol(now=0)
    with pytest.raises(LocalProtocolError):
        protocol.pop_event("pop.offered", seq=1, pop={})
    open_one = opened()
    with pytest.raises(LocalProtocolError):
        open_one.pop_event("pop.exploded", seq=1, pop={})
    assert json.loads(open_one.pop_event("pop.offered", seq=3, pop={"call_id": "c"})) == {
        "type": "pop.offered",
        "seq": 3,
        "pop": {"call_id": "c"},
    }


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_with_a_protocol_error(text: str) -> None:
    protocol = PanelProtocol(now=0)
    try:
        protocol.receive(text, now=0)
    except RemoteProtocolError:
        assert protocol.state is ProtocolState.CLOSED
