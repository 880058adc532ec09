"""The sans-I/O AMI codec against the real Asterisk 22 transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callpop.ami.codec import (
    Banner,
    Decoder,
    InvalidAction,
    MalformedMessage,
    Message,
    ProtocolError,
    Signal,
    encode_action,
    encode_message,
)
from callpop.pbx_sim.ami import read_transcript as wire_bytes

AMI_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"
SESSIONS = sorted(AMI_DIR.glob("*.txt"))  # banner, login, events
ALL = SESSIONS + sorted((AMI_DIR / "agi-scenarios").glob("*.txt"))  # + events only


def transcript(name: str) -> Path:
    return AMI_DIR / name


def has_banner(path: Path) -> bool:
    return path in SESSIONS


def decode_all(data: bytes, *, banner: bool = True) -> list[Banner | Message]:
    decoder = Decoder(expect_banner=banner)
    decoder.receive_data(data)
    decoder.receive_data(b"")
    return list(decoder)


def messages(path: Path) -> list[Message]:
    items = decode_all(wire_bytes(path), banner=has_banner(path))
    return [m for m in items if isinstance(m, Message)]


def rebuild(items: list[Banner | Message]) -> bytes:
    """The wire bytes back from what the decoder produced (without validation, since
    Asterisk itself sends values with a bare CR)."""
    out = []
    for item in items:
        if isinstance(item, Banner):
            out.append(f"Asterisk Call Manager/{item.version}\r\n")
        else:
            out.append("".join(f"{k}: {v}\r\n" for k, v in item.headers) + "\r\n")
    return "".join(out).encode("utf-8")


def decode_in_pieces(data: bytes, cuts: list[int], *, banner: bool) -> list[Banner | Message]:
    decoder = Decoder(expect_banner=banner)
    out: list[Banner | Message] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        if cut > start:  # b"" would mean EOF, and a socket read never returns it otherwise
            decoder.receive_data(data[start:cut])
            out.extend(decoder)
        start = cut
    decoder.receive_data(b"")
    out.extend(decoder)
    assert decoder.next_event() is Signal.CLOSED
    return out


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name if p in SESSIONS else f"agi/{p.name}")
def test_every_transcript_decodes_whole_into_exactly_its_bytes(path: Path) -> None:
    data = wire_bytes(path)
    items = decode_all(data, banner=has_banner(path))
    assert rebuild(items) == data
    assert sum(isinstance(i, Message) for i in items) == data.count(b"\r\n\r\n")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name if p in SESSIONS else f"agi/{p.name}")
def test_every_transcript_decodes_the_same_byte_by_byte(path: Path) -> None:
    data = wire_bytes(path)
    whole = decode_all(data, banner=has_banner(path))
    assert decode_in_pieces(data, list(range(1, len(data))), banner=has_banner(path)) == whole


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(ALL), data=st.data())
def test_every_transcript_decodes_the_same_whatever_the_reads(
    path: Path, data: st.DataObject
) -> None:
    wire = wire_bytes(path)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=200))
    assert decode_in_pieces(wire, cuts, banner=has_banner(path)) == decode_all(
        wire, banner=has_banner(path)
    )


def test_the_banner_comes_first_with_its_version() -> None:
    items = decode_all(wire_bytes(transcript("queue-call.txt")))
    assert items[0] == Banner("11.0.0")
    assert isinstance(items[1], Message)
    assert items[1].headers == (
        ("Response", "Success"),
        ("ActionID", "ami-1"),
        ("Message", "Authentication accepted"),
    )


def test_repeated_chanvariable_lines_are_all_kept_in_order() -> None:
    join = next(
        m for m in messages(transcript("queue-call-channelvars.txt")) if m.event == "AgentCalled"
    )
    assert join.getall("ChanVariable") == [
        "CALLPOP_CALL_ID=1795408263.24",
        "CALLPOP_QUEUE=callpop-test-queue",
    ]
    assert join.getall("DestChanVariable") == ["CALLPOP_CALL_ID=", "CALLPOP_QUEUE="]
    assert join.variables() == {
        "CALLPOP_CALL_ID": "1795408263.24",
        "CALLPOP_QUEUE": "callpop-test-queue",
    }
    keys = [k for k, _ in join.headers]
    assert keys.index("ChanVariable") < keys.index("DestChannel") < keys.index("DestChanVariable")


def test_a_bare_cr_inside_a_value_is_kept() -> None:
    starts = [
        m for m in messages(transcript("agi-scenarios/invalid.txt")) if m.event == "AGIExecStart"
    ]
    assert "NOOP\r" in [m["Command"] for m in starts]


def test_a_utf8_character_split_across_reads_is_not_lost() -> None:
    wire = wire_bytes(transcript("agi-scenarios/variables.txt"))
    inside = wire.index("Zoë".encode()) + 3  # between the two bytes of ë
    items = decode_in_pieces(wire, [inside], banner=False)
    commands = [m.get("Command") for m in items if isinstance(m, Message)]
    assert 'SET VARIABLE CALLPOP_UTF8 "Zoë 李"' in commands


def test_bytes_that_are_not_utf8_become_replacement_characters_not_a_lost_event() -> None:
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(
        b"Event: Newchannel\r\nCallerIDName: Bob \xff\xfe\r\nUniqueid: 1.1\r\n\r\n"
    )
    event = decoder.next_event()
    assert isinstance(event, Message)
    assert event["CallerIDName"] == "Bob \ufffd\ufffd"
    assert event["Uniqueid"] == "1.1"


def test_lookups_are_case_insensitive_and_give_the_first_value() -> None:
    msg = Message([("Event", "X"), ("ChanVariable", "A=1"), ("ChanVariable", "B=2")])
    assert msg.get("chanvariable") == "A=1"
    assert msg.get("Missing") is None
    assert "EVENT" in msg
    assert msg.event == "X"


def test_eof_after_the_shutdown_event_is_a_clean_close() -> None:
    wire = wire_bytes(transcript("asterisk-stop-now-during-call.txt"))
    items = decode_all(wire)
    last = items[-1]
    assert isinstance(last, Message)
    assert last.headers[0] == ("Event", "Shutdown")
    assert last["Shutdown"] == "Cleanly"


def test_eof_in_the_middle_of_a_message_is_a_protocol_error() -> None:
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(b"Event: Hangup\r\nUniqueid: 1.1\r\n")
    assert decoder.next_event() is Signal.NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(ProtocolError, match="middle of a message"):
        decoder.next_event()


def test_a_peer_that_is_not_asterisk_is_refused_at_the_banner() -> None:
    decoder = Decoder()
    decoder.receive_data(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(ProtocolError, match="not an AMI banner"):
        decoder.next_event()
    with pytest.raises(ProtocolError):  # the decoder stays failed
        decoder.next_event()


def test_a_malformed_message_is_reported_and_the_next_one_still_decodes() -> None:
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(b"Event: A\r\nno colon here\r\n\r\nEvent: B\r\n\r\n")
    with pytest.raises(MalformedMessage, match="no colon here"):
        decoder.next_event()
    assert decoder.next_event() == Message([("Event", "B")])


def test_an_endless_message_is_refused_rather_than_buffered() -> None:
    decoder = Decoder(expect_banner=False, max_message=1000)
    decoder.receive_data(b"Event: X\r\nData: " + b"a" * 2000)
    with pytest.raises(ProtocolError, match="larger than 1000 bytes"):
        decoder.next_event()


@settings(max_examples=300)
@given(st.binary(max_size=400), st.booleans())
def test_any_bytes_either_decode_or_raise_a_protocol_error(data: bytes, banner: bool) -> None:
    decoder = Decoder(expect_banner=banner, max_message=200)
    decoder.receive_data(data)
    decoder.receive_data(b"")
    for _ in range(len(data) + 2):
        try:
            item = decoder.next_event()
        except MalformedMessage:
            continue
        except ProtocolError:
            return
        if item is Signal.CLOSED:
            return
        assert isinstance(item, Banner | Message)
    pytest.fail("the decoder neither finished nor failed")


def test_an_action_is_encoded_with_its_action_id_first() -> None:
    wire = encode_action(
        "Login", "ami-1", [("Username", "ami"), ("Secret", "s3cret"), ("Events", "on")]
    )
    assert wire == (
        b"Action: Login\r\nActionID: ami-1\r\nUsername: ami\r\nSecret: s3cret\r\nEvents: on\r\n\r\n"
    )


@pytest.mark.parametrize(
    "value", ["x\r\nAction: Originate", "x\nAction: Originate", "x\r", "x\x00"]
)
def test_a_value_cannot_inject_a_line_or_a_second_action(value: str) -> None:
    with pytest.raises(InvalidAction, match="CR, LF or NUL"):
        encode_action("Login", "ami-1", [("Secret", value)])


@pytest.mark.parametrize("key", ["Secret\r\nAction", "Sec ret", "", "Secret:"])
def test_a_key_must_be_a_plain_token(key: str) -> None:
    with pytest.raises(InvalidAction, match="invalid AMI key"):
        encode_message([(key, "v")])


def test_an_encoded_message_decodes_to_itself_with_unicode_intact() -> None:
    headers = [
        ("Event", "AgentCalled"),
        ("CallerIDName", 'Zoë "Z" O\'Brien 李'),
        ("ChanVariable", "A=1"),
        ("ChanVariable", "B="),
    ]
    decoder = Decoder(expect_banner=False)
    decoder.receive_data(encode_message(headers))
    assert decoder.next_event() == Message(headers)
