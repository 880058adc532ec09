"""Replay a recorded transcript through the codec, playing the server's part.

The server's lines are turned back into `Command`s with Asterisk's own parser
(`callpop.pbx_sim.agi_parse`), sent through `AgiConnection.send`, and Asterisk's
lines are fed back in chunks chosen by the caller (whole, byte by byte, random).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from agi_scripts.codec import NEED_DATA, AgiConnection, ConnectionClosed, Event
from agi_scripts.commands import Command
from agi_scripts.errors import LocalProtocolError
from callpop.pbx_sim.agi_parse import find_command, parse_args

from .transcripts import Transcript

Chunker = Callable[[bytes], Iterator[bytes]]


def whole(data: bytes) -> Iterator[bytes]:
    if data:  # never b"": that would be EOF
        yield data


def bytewise(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def by_line(data: bytes) -> Iterator[bytes]:
    """One read per line: how Asterisk's answers usually arrive."""
    yield from data.splitlines(keepends=True)


def command_of(line: bytes) -> Command:
    """The command a server line is, as Asterisk reads it; lines Asterisk cannot read
    (`FOO BAR`, an empty line, `NOOP\\r`) become a stand-in: the codec only keeps the
    command to pair it with its response."""
    argv = parse_args(line)
    spec = find_command(argv)
    if spec is None:
        return Command("INVALID")
    args = tuple(a.decode("utf-8") for a in argv[len(spec.words) :])
    return Command(spec.name, args)


def drain(conn: AgiConnection) -> list[Event]:
    events: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, ConnectionClosed):
            break  # it would repeat forever
    return events


def replay(transcript: Transcript, chunker: Chunker) -> tuple[AgiConnection, list[object]]:
    """Events in order, with ("refused", command) where the codec would not send a
    command Asterisk would have answered with 511 (the transcript's 511 is then skipped)."""
    conn = AgiConnection()
    out: list[object] = []
    for chunk in chunker(transcript.environment):
        conn.receive_data(chunk)
        out += drain(conn)
    for server_line, asterisk_lines in transcript.exchanges():
        if server_line is not None:
            command = command_of(server_line)
            try:
                conn.send(command)
            except LocalProtocolError:
                assert conn.channel_dead, f"{transcript.name}: {server_line!r} refused while alive"
                assert asterisk_lines[0].startswith(b"511 "), (
                    f"{transcript.name}: codec refused {server_line!r}, Asterisk answered "
                    f"{asterisk_lines[0]!r}"
                )
                out.append(("refused", command.name))
                asterisk_lines = asterisk_lines[1:]
        data = b"".join(line + b"\n" for line in asterisk_lines)
        for chunk in chunker(data):
            conn.receive_data(chunk)
            out += drain(conn)
    return conn, out
