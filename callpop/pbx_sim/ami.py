"""An AMI server that plays Asterisk's side as the real transcripts show it.

Banner `Asterisk Call Manager/11.0.0`; `Login` answered `Response: Success` /
`Message: Authentication accepted` followed by the FullyBooted and SuccessfulAuth events,
or `Response: Error` / `Message: Authentication failed` and the connection closed, as
Asterisk's manager.c does; `Logoff` answered `Response: Goodbye` / `Message: Thanks for
all the fish.` then closed; `Ping` answered `Ping: Pong` with a timestamp; any other
action before login `Permission denied`, after it what a test registered (`answers`:
recorded or live state queries, `callpop.pbx_sim.ami_status`; `responders`), else
`Invalid/unknown command`.

Events are pushed with `emit` (bytes from `callpop.pbx_sim.ami_events`, or the event
stream of a recorded transcript through `transcript_events`) to every logged-in session
that asked for events. Tests wait on `wait_logins` / `wait_action` rather than sleeping,
and `drop()` cuts every connection as an Asterisk restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Protocol

from callpop.ami.codec import Decoder, Message, ProtocolError, Signal, encode_message

__all__ = ["AMIServer", "ActionAnswers", "Responder", "read_transcript", "transcript_events"]


class ActionAnswers(Protocol):
    """Answers whole actions as wire bytes (callpop.pbx_sim.ami_status)."""

    def answer(self, action: Message) -> bytes | None: ...


# Answers one action: its response, then for a list action the list's events, each as
# headers without ActionID (the server puts the action's ActionID second, as Asterisk).
Responder = Callable[[Message], list[list[tuple[str, str]]]]


def read_transcript(path: Path) -> bytes:
    """The wire bytes of a recorded transcript: the file minus its leading `#` comment
    lines and the empty line after them (tests/fixtures/asterisk/ami/README.md)."""
    data = path.read_bytes()
    pos = 0
    while data.startswith(b"#", pos):
        pos = data.index(b"\n", pos) + 1
    if data[pos : pos + 1] != b"\n":
        raise ValueError(f"{path}: expected an empty line after the comment block")
    return data[pos + 1 :]


def transcript_events(wire: bytes) -> list[bytes]:
    """The events of a transcript, each as its exact bytes (banner and responses left out:
    they answered the recording client's actions, not ours)."""
    if wire.startswith(b"Asterisk Call Manager/"):
        wire = wire[wire.index(b"\r\n") + 2 :]
    frames = wire.split(b"\r\n\r\n")
    return [frame + b"\r\n\r\n" for frame in frames if frame.startswith(b"Event: ")]


class _Session:
    __slots__ = ("authenticated", "events", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.authenticated = False
        self.events = False


class AMIServer:
    """The simulator; use `async with AMIServer(...) as sim:` and connect to `sim.port`."""

    def __init__(
        self,
        *,
        username: str = "callpop",
        secret: str = "callpop",
        version: str = "11.0.0",
        clock: Callable[[], float] = time.time,
        responders: dict[str, Responder] | None = None,
        answers: Iterable[ActionAnswers] = (),
    ) -> None:
        self.username = username
        self.secret = secret
        self.version = version
        self._clock = clock
        self._started = clock()
        self.responders: dict[str, Responder] = dict(responders or {})
        # whole answers as bytes (recorded, or from live scripted calls): asked first
        self.answers: list[ActionAnswers] = list(answers)
        # actions named here are read and recorded but never answered (a test can then
        # drop the connection while an action is pending)
        self.unanswered: set[str] = set()
        self.actions: list[Message] = []
        self.logins = 0
        self.connections = 0
        self._sessions: set[_Session] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AMIServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def listeners(self) -> int:
        """Sessions logged in with events on."""
        return sum(1 for s in self._sessions if s.authenticated and s.events)

    def emit(self, events: bytes | Iterable[bytes]) -> None:
        """Send events to every logged-in session that asked for them."""
        data = events if isinstance(events, bytes) else b"".join(events)
        for session in self._sessions:
            if session.authenticated and session.events:
                session.writer.write(data)

    async def drain(self) -> None:
        for session in list(self._sessions):
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()

    def end_sessions(self) -> None:
        """Close every connection cleanly after what was sent (EOF, as Asterisk does
        after `Event: Shutdown`)."""
        for session in list(self._sessions):
            session.writer.close()

    def drop(self) -> None:
        """Cut every connection at once, without a goodbye (Asterisk killed, link lost)."""
        for session in list(self._sessions):
            session.writer.transport.abort()

    async def wait_logins(self, count: int) -> None:
        """Until `count` successful logins have happened since the server started."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.logins >= count)

    async def wait_listeners(self, count: int) -> None:
        """Until exactly `count` sessions are logged in with events on."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.listeners == count)

    async def wait_action(self, name: str, count: int = 1) -> list[Message]:
        """Until `count` actions called `name` were received; returns them."""

        def matching() -> list[Message]:
            return [a for a in self.actions if (a.action or "").lower() == name.lower()]

        async with self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        self.connections += 1
        try:
            writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
            decoder = Decoder(expect_banner=False)
            while True:
                data = await reader.read(65536)
                decoder.receive_data(data)
                if not await self._serve(session, decoder):
                    break
                await writer.drain()
        except (ConnectionError, ProtocolError):
            pass  # a client that misbehaves or vanishes only loses its own session
        finally:
            self._sessions.discard(session)
            await self._notify()  # one listener fewer
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _serve(self, session: _Session, decoder: Decoder) -> bool:
        """Answer every complete action; False once the session must end."""
        while True:
            item = decoder.next_event()
            if item is Signal.NEED_DATA:
                return True
            if item is Signal.CLOSED or not isinstance(item, Message):
                return False
            self.actions.append(item)
            keep_open = self._answer(session, item)
            await self._notify()  # after the answer: waiters see the login counted
            if not keep_open:
                return False

    def _answer(self, session: _Session, action: Message) -> bool:
        name = (action.action or "").lower()
        if name in {a.lower() for a in self.unanswered}:
            return True
        reply: list[tuple[str, str]]
        keep_open = True
        responder = next((v for k, v in self.responders.items() if k.lower() == name), None)
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                self._reply(
                    session,
                    action,
                    [("Response", "Success"), ("Message", "Authentication accepted")],
                )
                session.authenticated = True
                session.events = (action.get("Events") or "on").lower() != "off"
                self._after_login(session)
                self.logins += 1
                return True
            reply, keep_open = [("Response", "Error"), ("Message", "Authentication failed")], False
        elif name == "logoff":
            reply, keep_open = (
                [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")],
                False,
            )
        elif not session.authenticated:
            reply = [("Response", "Error"), ("Message", "Permission denied")]
        elif name == "ping":
            reply = [
                ("Response", "Success"),
                ("Ping", "Pong"),
                ("Timestamp", f"{self._clock():.6f}"),
            ]
        elif (
            whole := next(
                (a for a in (x.answer(action) for x in self.answers) if a is not None), None
            )
        ) is not None:
            session.writer.write(whole)
            return True
        elif responder is not None:
            for message in responder(action):
                self._reply(session, action, message)
            return True
        else:
            reply = [("Response", "Error"), ("Message", "Invalid/unknown command")]
        self._reply(session, action, reply)
        return keep_open

    def _reply(self, session: _Session, action: Message, reply: list[tuple[str, str]]) -> None:
        headers = reply[:1]
        if action.action_id is not None:  # Asterisk echoes it right after Response
            headers.append(("ActionID", action.action_id))
        session.writer.write(encode_message([*headers, *reply[1:]]))

    def _after_login(self, session: _Session) -> None:
        if not session.events:
            return
        uptime = str(int(self._clock() - self._started))
        peer = session.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        now = self._clock()
        session.writer.write(
            encode_message(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", uptime),
                    ("LastReload", uptime),
                    ("Status", "Fully Booted"),
                ]
            )
        )
        session.writer.write(
            encode_message(
                [
                    ("Event", "SuccessfulAuth"),
                    ("Privilege", "security,all"),
                    ("Timestamp", f"{now:.6f}"),
                    (
                        "EventTV",
                        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                        + f".{int(now * 1000) % 1000:03d}+0000",
                    ),
                    ("Severity", "Informational"),
                    ("Service", "AMI"),
                    ("EventVersion", "1"),
                    ("AccountID", self.username),
                    ("SessionID", f"0x{id(session):x}"),
                    ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                    ("RemoteAddress", f"IPV4/TCP/{peer[0]}/{peer[1]}"),
                    ("UsingPassword", "0"),
                    (
                        "SessionTV",
                        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                        + f".{int(now * 1000) % 1000:03d}+0000",
                    ),
                ]
            )
        )
