"""The AGI codec against what a real Asterisk 22 sent (tests/fixtures/asterisk/agi/)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agi_scripts import commands as c
from agi_scripts.codec import (
    NEED_DATA,
    AgiConnection,
    CommandFailed,
    ConnectionClosed,
    Environment,
    HangupNotice,
    Response,
    State,
)
from agi_scripts.errors import LocalProtocolError, RemoteProtocolError

from .replay import bytewise, drain, replay, whole
from .transcripts import all_names, load

REPLAYABLE = [n for n in all_names() if n != "pipelined.txt"]


def connected(env: bytes | None = None) -> AgiConnection:
    conn = AgiConnection()
    conn.receive_data(env if env is not None else load("env-callerid.txt").environment)
    assert isinstance(conn.next_event(), Environment)
    return conn


def responses(events: list[object]) -> list[Response]:
    return [e for e in events if isinstance(e, Response)]


# -- every transcript, whole, byte by byte, and in random splits ----------------------


@pytest.mark.parametrize("name", REPLAYABLE)
def test_every_transcript_parses_the_same_whole_and_byte_by_byte(name: str) -> None:
    conn_whole, events_whole = replay(load(name), whole)
    conn_bytes, events_bytes = replay(load(name), bytewise)
    assert events_whole == events_bytes
    assert isinstance(events_whole[0], Environment)
    assert conn_whole.state is conn_bytes.state is State.IDLE


@pytest.mark.parametrize("name", REPLAYABLE)
@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 80), min_size=1, max_size=40))
def test_every_transcript_parses_the_same_in_any_split(name: str, sizes: list[int]) -> None:
    cut = itertools.cycle(sizes)

    def random_split(payload: bytes) -> Iterator[bytes]:
        while payload:
            n = next(cut)
            yield payload[:n]
            payload = payload[n:]

    _, expected = replay(load(name), whole)
    _, events = replay(load(name), random_split)
    assert events == expected


@pytest.mark.parametrize("name", REPLAYABLE)
def test_every_command_of_every_transcript_gets_exactly_one_answer(name: str) -> None:
    transcript = load(name)
    _, events = replay(transcript, whole)
    answered = [e for e in events if isinstance(e, Response | CommandFailed)]
    refused = [e for e in events if isinstance(e, tuple)]
    commands = [line for line, _ in transcript.exchanges() if line is not None]
    assert len(answered) + len(refused) == len(commands)


# -- the environment block -----------------------------------------------------------


def test_environment_gives_the_path_with_its_query_and_the_agi_arguments() -> None:
    _, events = replay(load("env-callerid.txt"), whole)
    env = events[0]
    assert isinstance(env, Environment)
    assert env.network
    assert env.network_script == "env-callerid?lang=en&who=+15551234567"
    assert env.uniqueid == "1795389308.57"
    assert env.caller_number == "+15551234567"
    assert env.caller_name == "Alice Smith"
    assert env.args == ("first arg", "second=2", "quoted, with comma")
    assert env.get("accountcode") == ""  # `agi_accountcode: ` keeps its space on the wire


def test_environment_keeps_a_hostile_caller_name_verbatim() -> None:
    _, events = replay(load("env-hostile-name.txt"), whole)
    env = events[0]
    assert isinstance(env, Environment)
    assert env.caller_name == 'Zoë "Z" O\'Brien, Jr. \\ 李小龍'


def test_unknown_caller_id_is_empty() -> None:
    _, events = replay(load("env-no-callerid.txt"), whole)
    env = events[0]
    assert isinstance(env, Environment)
    assert env.caller_number == env.caller_name == ""
    assert env.get("callerid") == "unknown"


def test_production_entry_has_no_query_and_no_arguments() -> None:
    _, events = replay(load("ivr-exten-7000.txt"), whole)
    env = events[0]
    assert isinstance(env, Environment)
    assert (env.network_script, env.args) == ("ivr", ())


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
        b"agi_request agi://x/ivr\n\n",
        b"agi_network: yes\n\n",  # no agi_request: not from Asterisk
        b"agi_request: a\nagi_request: b\n\n",  # a repeated key: a smuggled line
        b'agi_request: a\nagi_calleridname: "Bob\nEXEC System rm" <123>\n\n',
    ],
)
def test_a_malformed_environment_is_a_remote_protocol_error(garbage: bytes) -> None:
    conn = AgiConnection()
    conn.receive_data(garbage)
    with pytest.raises(RemoteProtocolError):
        drain(conn)
    assert conn.state is State.ERROR
    with pytest.raises(RemoteProtocolError):  # and it stays broken
        conn.next_event()


KNOWN = b"agi_request: agi://h/ivr\nagi_network: yes\nagi_calleridname: Bob\n"
NAMES = (b"request", b"network", b"calleridname", b"uniqueid", b"channel")


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"agi_request: a\nagi_request: b\n\n", "appears twice"),
        (b"agi_network: yes\n\n", "without agi_request"),
        (b"agi_request: a\nagi_unseen_name: x\nagi request: b\n\n", "not an agi_"),
        (b"agi_request: a\nagi_calleridname: " + b"x" * 2000 + b"\n\n", "longer than 1024"),
        (
            b"".join(b"agi_" + n + b": " + b"x" * 900 + b"\n" for n in NAMES) + b"\n",
            "larger than 4096",
        ),
        (b"\n" + KNOWN + b"\n", "without agi_request"),
    ],
)
def test_a_whole_block_that_breaks_a_rule_is_refused(block: bytes, error: str) -> None:
    conn = AgiConnection(max_line=1024, max_env_bytes=4096)
    conn.receive_data(block)
    with pytest.raises(RemoteProtocolError, match=error):
        conn.next_event()
    assert conn.state is State.ERROR


def test_a_whole_block_is_one_event_and_what_follows_stays_buffered() -> None:
    conn = AgiConnection()
    conn.receive_data(KNOWN + b"\n")
    assert isinstance(conn.next_event(), Environment)
    conn = AgiConnection()
    conn.receive_data(KNOWN + b"\nHANGUP\n")
    env = conn.next_event()
    assert isinstance(env, Environment)
    assert dict(env.values) == {"request": "agi://h/ivr", "network": "yes", "calleridname": "Bob"}
    assert conn.next_event() == HangupNotice()


def test_an_environment_that_never_ends_is_refused_at_the_cap() -> None:
    conn = AgiConnection(max_env_bytes=4096)
    conn.receive_data(b"agi_request: agi://h/ivr\n")
    with pytest.raises(RemoteProtocolError, match="larger than 4096"):
        for i in range(1000):
            conn.receive_data(f"agi_x{i}: {'y' * 40}\n".encode())
            drain(conn)


def test_a_line_without_end_is_refused_at_the_cap() -> None:
    conn = AgiConnection(max_line=1024)
    conn.receive_data(b"agi_request: " + b"x" * 2000)
    with pytest.raises(RemoteProtocolError, match="longer than 1024"):
        conn.next_event()


def test_eof_inside_the_environment_is_a_remote_protocol_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_network: yes\nagi_request: agi://h/ivr\n")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="before the end of the environment"):
        drain(conn)


# -- responses ------------------------------------------------------------------------


def test_get_data_tells_timeout_from_hash_and_keeps_star_as_a_digit() -> None:
    _, events = replay(load("get-data.txt"), whole)
    got = [(r.result, r.data) for r in responses(events) if r.command.name == "GET DATA"]
    assert got == [
        ("1234", None),
        ("", "timeout"),
        ("56", None),  # 56#: the # ends input and is dropped
        ("7", "timeout"),
        ("", None),  # # alone: not silence
        ("98", None),
        ("*1", None),
    ]


def test_response_data_is_taken_raw_up_to_the_last_parenthesis() -> None:
    _, events = replay(load("variables.txt"), whole)
    values = {
        r.command.args[0]: r.data for r in responses(events) if r.command.name == "GET VARIABLE"
    }
    assert values["CALLPOP_PARENS"] == "a (b) c)"
    assert values["CALLPOP_QUOTE"] == 'say "hi" \\ back'
    assert values["CALLPOP_UTF8"] == "Zoë 李"
    assert values["CALLPOP_EMPTY"] == ""  # set to empty: `200 result=1 ()`
    assert values["NO_SUCH_VARIABLE"] is None  # unset: `200 result=0`


def test_stream_file_results_are_ascii_codes_with_endpos() -> None:
    _, events = replay(load("stream-file.txt"), whole)
    streams = [r for r in responses(events) if r.command.name == "STREAM FILE"]
    assert [(r.result_int(), r.endpos) for r in streams] == [
        (49, 7520),
        (0, 11234),
        (0, 11234),
        (0, 3404),
        (-1, 0),  # a missing file
        (0, 11234),
    ]
    assert c.digit_from_code(streams[0].result_int()) == "1"


def test_record_file_has_data_and_endpos() -> None:
    _, events = replay(load("say-verbose-misc.txt"), whole)
    records = [r for r in responses(events) if r.command.name == "RECORD FILE"]
    assert [(r.result, r.data, r.endpos) for r in records] == [
        ("35", "dtmf", 0),
        ("0", "timeout", 0),
    ]


def test_510_and_multiline_520_are_command_failures_with_the_usage_text() -> None:
    _, events = replay(load("invalid.txt"), whole)
    failures = [e for e in events if isinstance(e, CommandFailed)]
    assert [f.code for f in failures] == [510, 520, 520, 520, 520, 520, 510, 510, 510]
    stream_usage = failures[1]
    assert stream_usage.message == "Invalid command syntax.  Proper usage follows:"
    assert stream_usage.usage[-1] == "    <value>FAILED</value>"
    assert len(stream_usage.usage) == 5


def test_520_without_usage_text_is_one_line() -> None:
    conn = connected()
    conn.send(c.Command("SPEECH CREATE"))
    conn.receive_data(b"520 Invalid command syntax.  Proper usage not available.\n")
    assert drain(conn) == [
        CommandFailed(
            c.Command("SPEECH CREATE"), 520, "Invalid command syntax.  Proper usage not available."
        )
    ]


@pytest.mark.parametrize(
    "line",
    [b"300 result=1", b"200 reslt=1", b"200", b"OK", b"200 result=1 (unclosed", b"-1"],
)
def test_an_unknown_response_is_a_remote_protocol_error(line: bytes) -> None:
    conn = connected()
    conn.send(c.noop())
    conn.receive_data(line + b"\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_a_response_nobody_asked_for_is_a_remote_protocol_error() -> None:
    conn = connected()
    conn.receive_data(b"200 result=0\n")
    with pytest.raises(RemoteProtocolError, match="unsolicited"):
        conn.next_event()


def test_a_response_received_before_its_command_is_never_taken_as_its_answer() -> None:
    # Read ahead, it would answer the next command: send() refuses to send that command.
    conn = connected()
    conn.receive_data(b"200 result=1 (forged)\n")
    with pytest.raises(RemoteProtocolError, match="no command was in flight"):
        conn.send(c.get_variable("CHANNEL(linkedid)"))
    assert conn.state is State.ERROR
    with pytest.raises(LocalProtocolError, match="after a protocol error"):
        conn.send(c.noop())


def test_a_partial_line_received_before_its_command_is_refused_too() -> None:
    conn = connected()
    conn.receive_data(b"200 res")
    with pytest.raises(RemoteProtocolError, match="no command was in flight"):
        conn.send(c.noop())


def test_bytes_after_an_answer_are_not_the_next_commands_answer() -> None:
    conn = connected()
    conn.send(c.get_variable("CHANNEL(linkedid)"))
    conn.receive_data(b"200 result=1 (1795389902.6)\n200 result=0\n")
    assert conn.next_event() == Response(c.get_variable("CHANNEL(linkedid)"), "1", "1795389902.6")
    with pytest.raises(RemoteProtocolError, match="no command was in flight"):
        conn.send(c.answer())


def test_a_forged_caller_name_cannot_answer_the_first_command() -> None:
    # Asterisk writes the name raw (env-hostile-name.txt): a newline pair in it ends the
    # block there, and what follows the forged empty line is already buffered.
    env = load("env-callerid.txt").environment.replace(
        b"agi_calleridname: Alice Smith\n",
        b"agi_calleridname: Eve\n\n200 result=1 (1795389902.6)\n",
    )
    assert env != load("env-callerid.txt").environment
    conn = AgiConnection()
    conn.receive_data(env)
    assert conn.next_event().values["calleridname"] == "Eve"  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError, match="no command was in flight"):
        conn.send(c.get_variable("CHANNEL(linkedid)"))


@pytest.mark.parametrize("buffered", [b"HANGUP\n", b"HANGUP\nHANGUP\n", b"HANG", b"HANGUP\nHA"])
def test_hangup_lines_may_arrive_while_no_command_is_in_flight(buffered: bytes) -> None:
    # res_agi writes HANGUP at the top of its command loop (hangup-idle.txt), unasked.
    conn = connected()
    conn.receive_data(buffered)
    conn.send(c.get_variable("CHANNEL(state)"))
    partial = buffered.rsplit(b"\n", 1)[-1]
    if partial:
        conn.receive_data(b"HANGUP\n"[len(partial) :])
    conn.receive_data(b"200 result=1 (Up)\n")
    events = drain(conn)
    assert HangupNotice() in events and events[-1] == Response(
        c.get_variable("CHANNEL(state)"), "1", "Up"
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Eve\r", "Eve\ufffd"),
        (b"\x1b[2JEve\x07", "\ufffd[2JEve\ufffd"),
        (b"Z\xc2\x9b31m", "Z\ufffd31m"),  # U+009B, the C1 control sequence introducer
        (b'Zo\xc3\xab "Z" O\'Brien, Jr. \\ \xe6\x9d\x8e', 'Zo\u00eb "Z" O\'Brien, Jr. \\ \u674e'),
        (b"A\xc2\xa0B", "A\u00a0B"),  # a no-break space is text, not a control
    ],
)
def test_control_characters_in_environment_values_become_replacement_characters(
    raw: bytes, text: str
) -> None:
    env = load("env-callerid.txt").environment.replace(b"Alice Smith", raw)
    conn = AgiConnection()
    conn.receive_data(env)
    event = conn.next_event()
    assert isinstance(event, Environment) and event.caller_name == text


def test_a_response_cut_by_eof_is_a_remote_protocol_error() -> None:
    conn = connected()
    conn.send(c.get_variable("CALLPOP_CALL_ID"))
    conn.receive_data(b"200 result=1 (abc")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="middle of a line"):
        conn.next_event()


# -- one command in flight ---------------------------------------------------------------


def test_a_second_command_before_the_first_is_answered_is_refused() -> None:
    # pipelined.txt: Asterisk answers only the first of commands written together.
    conn = connected(load("pipelined.txt").environment)
    conn.send(c.answer())
    with pytest.raises(LocalProtocolError, match="pipelined"):
        conn.send(c.noop())
    conn.receive_data(b"200 result=0\n")
    assert drain(conn) == [Response(c.answer(), "0")]
    assert conn.send(c.noop()) == b"NOOP\n"


def test_a_command_inside_a_usage_text_is_refused_until_its_end() -> None:
    conn = connected()
    conn.send(c.Command("GET VARIABLE"))
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\nline one\n")
    assert drain(conn) == []
    assert conn.state is State.USAGE
    with pytest.raises(LocalProtocolError):
        conn.send(c.noop())


def test_no_command_before_the_environment() -> None:
    with pytest.raises(LocalProtocolError, match="environment"):
        AgiConnection().send(c.answer())


# -- hang-ups and the dead channel -------------------------------------------------------


def test_hangup_mid_playback_is_the_aborted_result_then_the_hangup_line() -> None:
    _, events = replay(load("hangup-mid-playback.txt"), whole)
    assert events[1:4] == [
        Response(c.answer(), "0"),
        Response(c.stream_file("demo-congrats", ""), "-1", endpos=12160),
        HangupNotice(),
    ]
    # then the codec refuses STREAM FILE exactly where Asterisk answered 511
    assert events[4] == ("refused", "STREAM FILE")
    assert events[5] == Response(c.get_variable("HANGUPCAUSE"), "1", "16")


def test_the_codec_refuses_on_a_dead_channel_exactly_what_asterisk_refused() -> None:
    conn, events = replay(load("hangup-idle.txt"), whole)
    assert conn.channel_dead
    refused = [e[1] for e in events if isinstance(e, tuple)]
    assert refused == [
        "STREAM FILE",
        "ANSWER",
        "WAIT FOR DIGIT",
        "GET DATA",
        "CHANNEL STATUS",
        "HANGUP",
    ]
    allowed = [e.command.name for e in responses(events)][1:]
    assert allowed == [
        "GET VARIABLE",
        "GET VARIABLE",
        "VERBOSE",
        "SET VARIABLE",
        "GET VARIABLE",
        "DATABASE PUT",
        "EXEC",
    ]


def test_without_agisighup_the_first_511_marks_the_channel_dead() -> None:
    conn, events = replay(load("hangup-nosighup.txt"), whole)
    assert HangupNotice() not in events
    assert (
        CommandFailed(
            c.stream_file("beep", ""),
            511,
            "Command Not Permitted on a dead channel or intercept routine",
        )
        in events
    )
    assert conn.channel_dead


def test_exit_on_hangup_sends_two_hangup_lines_then_eof_closes_cleanly() -> None:
    conn, events = replay(load("hangup-exit-on-hangup.txt"), whole)
    assert events[-2:] == [HangupNotice(), HangupNotice()]
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is State.CLOSED


def test_eof_while_a_command_waits_is_a_closed_connection_not_an_error() -> None:
    conn = connected()
    conn.send(c.wait_for_digit(5000))
    conn.receive_data(b"HANGUP\n")
    conn.receive_data(b"")
    assert drain_all(conn) == [HangupNotice(), ConnectionClosed()]


def test_the_application_hanging_up_gets_result_1_then_the_hangup_line() -> None:
    _, events = replay(load("agi-hangup-command.txt"), whole)
    assert events[2:4] == [Response(c.hangup(), "1"), HangupNotice()]


def drain_all(conn: AgiConnection) -> list[object]:
    out: list[object] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, ConnectionClosed):
            return out


# -- fuzz: input parses or raises RemoteProtocolError ----------------------------------

_TOKENS = st.sampled_from(
    [
        b"200 result=",
        b"1",
        b"-1",
        b" (",
        b")",
        b" endpos=",
        b"12",
        b"HANGUP",
        b"\n",
        b"\r",
        b"510 Invalid",
        b"511 x",
        b"520-usage",
        b"520 End",
        b"agi_request: x",
        b": ",
        b"\x00",
        b"\xff",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=40), _TOKENS), max_size=30), st.booleans(), st.booleans()
)
def test_fuzz_any_input_parses_or_raises_remote_protocol_error(
    pieces: list[bytes], in_command: bool, eof: bool
) -> None:
    conn = connected() if in_command else AgiConnection()
    if in_command:
        conn.send(c.get_data("beep", 3000, 4))
    try:
        for piece in pieces:
            if not piece:
                continue  # b"" is EOF, fed below when `eof`
            conn.receive_data(piece)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, Response | CommandFailed) and conn.state is State.IDLE:
                    conn.send(c.noop())
        if eof:
            conn.receive_data(b"")
            drain_all(conn)
    except RemoteProtocolError:
        assert conn.state is State.ERROR


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), _TOKENS), min_size=1, max_size=10))
def test_fuzz_bytes_sent_before_a_command_are_never_its_answer(pieces: list[bytes]) -> None:
    # Whatever a peer sends while no command is in flight, the command's answer is what
    # came after it, or the session ends with a protocol error.
    conn = connected()
    command = c.get_variable("CHANNEL(linkedid)")
    try:
        for piece in pieces:
            if piece:
                conn.receive_data(piece)
        conn.send(command)
        conn.receive_data(b"200 result=1 (the real answer)\n")
        events = drain(conn)
    except RemoteProtocolError:
        assert conn.state is State.ERROR
        return
    assert events[-1] == Response(command, "1", "the real answer")
    assert all(event == HangupNotice() for event in events[:-1])


def test_the_live_channel_commands_are_res_agis_commands_without_dead_support() -> None:
    from agi_scripts.codec import LIVE_CHANNEL_COMMANDS
    from callpop.pbx_sim.agi_parse import COMMANDS

    assert {spec.name for spec in COMMANDS if not spec.dead} == LIVE_CHANNEL_COMMANDS


def test_an_environment_is_a_read_only_value_over_its_block() -> None:
    block = {"request": "agi://h/ivr", "uniqueid": "1.2", "callerid": "unknown", "arg_1": "a"}
    env = Environment(block)
    same_names_other_call = Environment({**block, "uniqueid": "1.3"})
    assert env == Environment(dict(block)) != same_names_other_call
    assert dict(env.values) == block
    assert env.uniqueid == "1.2" and same_names_other_call.uniqueid == "1.3"
    assert env.caller_number == "" and env.args == ("a",)
    assert env.get("nothing") == "" and env.get("nothing", "x") == "x"
    with pytest.raises(AttributeError):
        env.request = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.values["request"] = "changed"  # type: ignore[index]
