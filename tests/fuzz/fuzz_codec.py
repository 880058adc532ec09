"""The AGI codec under atheris (coverage-guided fuzzing), with its corpus kept here.

The invariant: whatever bytes a peer sends, in whatever pieces, the codec returns
events or raises its `RemoteProtocolError` (and stays in ERROR); nothing else, and no
answer is ever made of bytes received before its command was sent.

Run it for a while (new inputs it finds go into the corpus folder given):

    .venv/bin/python tests/fuzz/fuzz_codec.py -max_len=2048 -runs=200000 tests/fuzz/corpus/codec

tests/fuzz/test_fuzz_codec.py replays the corpus on every test run and fuzzes a few
thousand inputs more, in a copy of it.

An input is a flags byte, then pieces separated by `\\xfe`, each fed to the codec as
one read. Flag 1: the codec first gets a recorded environment block (so the fuzzer
works on command/response); flag 2: EOF after the last piece. Each time the codec is
idle after an answer, a command is sent, and the next piece is its answer.
"""

from __future__ import annotations

import sys

from agi_scripts import commands as c
from agi_scripts.codec import NEED_DATA, AgiConnection, ConnectionClosed, Response, State
from agi_scripts.errors import RemoteProtocolError

ENVIRONMENT = (
    b"agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1:4573/ivr\n"
    b"agi_channel: PJSIP/alice-00000001\nagi_language: en\nagi_type: PJSIP\n"
    b"agi_uniqueid: 1795389902.7\nagi_version: 22.10.1\nagi_callerid: +15551234567\n"
    b"agi_calleridname: Alice Smith\nagi_callingpres: 0\nagi_callingani2: 0\n"
    b"agi_callington: 0\nagi_callingtns: 0\nagi_dnid: 7000\nagi_rdnis: unknown\n"
    b"agi_context: callpop-in\nagi_extension: 7000\nagi_priority: 2\nagi_enhanced: 0.0\n"
    b"agi_accountcode: \nagi_threadid: 140062603159232\n\n"
)
SEPARATOR = b"\xfe"


def one_input(data: bytes) -> None:
    """Drive one codec with `data`; raises only on a broken invariant."""
    if not data:
        return
    flags, pieces = data[0], data[1:].split(SEPARATOR)
    driver = _Driver()
    try:
        if flags & 1:
            driver.feed(ENVIRONMENT)
        for piece in pieces:
            if piece:  # b"" is EOF: only by flag 2
                driver.feed(piece)
        if flags & 2:
            driver.conn.receive_data(b"")
            while not isinstance(event := driver.conn.next_event(), ConnectionClosed):
                if event is NEED_DATA:
                    raise AssertionError("NEED_DATA after EOF")
    except RemoteProtocolError:
        if driver.conn.state is not State.ERROR:
            raise AssertionError("a protocol error left the codec out of ERROR") from None


class _Driver:
    """The server's side: reads every event, sends a command whenever it may."""

    def __init__(self) -> None:
        self.conn = AgiConnection(max_line=1024, max_env_bytes=4096)
        # Bytes fed since the command in flight was sent: only they may make its answer.
        self.since_send: bytes | None = None

    def feed(self, piece: bytes) -> None:
        conn = self.conn
        conn.receive_data(piece)
        if self.since_send is not None:
            self.since_send += piece
        while True:
            event = conn.next_event()
            if event is NEED_DATA or isinstance(event, ConnectionClosed):
                return
            if isinstance(event, Response) and (
                self.since_send is None or b"\n" not in self.since_send
            ):
                raise AssertionError(f"an answer made of bytes sent before its command: {event!r}")
            if conn.state is State.IDLE and not conn.channel_dead:
                conn.send(c.noop())
                self.since_send = b""


def main() -> None:
    import atheris  # the fuzzer only: the tests replay the corpus without it

    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
